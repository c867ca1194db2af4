"""What a full withdrawal must reach, derived, never listed by hand: every asset downstream
of consent in the code location's asset graph whose table (its ``ngrl/table`` metadata,
set from the catalogue declaration) holds participants. An asset added later is covered
the day it is added, provided it is declared the usual way (``common.assets.table_spec``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ngrl_assets import catalogue
from ngrl_assets.consent.tables import CONSENT_ASSETS
from resources.tables import TableSpec


@dataclass(frozen=True)
class Target:
    asset_key: str  # the Dagster asset to re-materialise
    table: TableSpec  # the declaration its rows are erased through
    per_release: bool  # a release table: one copy per live release
    kind: str  # "rows": erase the participant's rows; "aggregate": recompute their share


def erasure_targets(graph: Any, tables: Iterable[TableSpec] | None = None) -> list[Target]:
    """Targets in topological order (upstream first), consent_status included. ``graph``:
    the code location's asset graph (read through its nodes' keys, parents and metadata,
    so this module needs no Dagster); ``tables``: the declarations (default: the catalogue
    as it stands at the call)."""
    by_key = {t.key: t for t in (catalogue.TABLES if tables is None else tables)}
    reached: set[str] = set()  # consent's assets and everything downstream of them
    out = []
    for key in graph.toposorted_asset_keys:  # parents before children
        node = graph.get(key)
        name = key.to_user_string()
        if name not in CONSENT_ASSETS and not any(
            parent.to_user_string() in reached for parent in node.parent_keys
        ):
            continue
        reached.add(name)
        table_key = node.metadata.get("ngrl/table")
        spec = by_key.get(getattr(table_key, "value", table_key) or "")
        if spec is None or spec.zone in ("identity", "quarantine", "audit"):
            continue
        kind = "rows" if spec.participant_column else "aggregate"
        out.append(Target(key.to_user_string(), spec, spec.zone == "releases", kind))
    return out
