"""The table catalogue: every Delta table of the lake, declared once.

Each domain declares its tables (``consent/tables.py``, ``genomics/tables.py``,
``clinical/tables.py``, the shared quarantine and ledger in ``common/``) as
:class:`resources.tables.TableSpec`; this module collects them and answers the questions
releases and withdrawal ask: every table holding participants, every table of a zone,
every releasable table, and the Dagster asset that writes each. The asset specs, the
asset-spec snapshot and the data dictionary (``docs/data_dictionary.md``) are generated
from it, and the lake resource reads and writes only by these declarations.
"""

from __future__ import annotations

import dataclasses

from ngrl_assets.clinical.tables import TABLES as CLINICAL_TABLES
from ngrl_assets.common.ledger import LEDGER
from ngrl_assets.common.quarantine import QUARANTINE
from ngrl_assets.consent.tables import TABLES as CONSENT_TABLES
from ngrl_assets.genomics.tables import TABLES as GENOMICS_TABLES
from ngrl_assets.releases.tables import DATA_DICTIONARY, RELEASE_REGISTRY, RELEASE_TABLES
from ngrl_assets.withdrawal.tables import BATCH_TABLES as WITHDRAWAL_BATCH_TABLES
from ngrl_assets.withdrawal.tables import TABLES as WITHDRAWAL_TABLES
from resources.tables import TableSpec

_DOMAIN_TABLES: tuple[TableSpec, ...] = (
    *CONSENT_TABLES,
    *WITHDRAWAL_BATCH_TABLES,
    *GENOMICS_TABLES,
    *CLINICAL_TABLES,
)

# Every asset that takes in landing objects writes the shared quarantine and ledger.
INTAKE_ASSETS: tuple[str, ...] = tuple(
    sorted({a for t in _DOMAIN_TABLES if t.from_landing for a in t.written_by})
)

TABLES: tuple[TableSpec, ...] = (
    *_DOMAIN_TABLES,
    dataclasses.replace(QUARANTINE, written_by=INTAKE_ASSETS),
    dataclasses.replace(LEDGER, written_by=INTAKE_ASSETS),
    # Release tables: one copy per release under releases/<id>/ (TableSpec.in_folder).
    *RELEASE_TABLES,
    DATA_DICTIONARY,
    RELEASE_REGISTRY,
    *WITHDRAWAL_TABLES,
)

_BY_KEY = {t.key: t for t in TABLES}
if len(_BY_KEY) != len(TABLES):
    raise RuntimeError("two catalogue entries share a zone and table name")


def get(name: str) -> TableSpec:
    """A table by ``zone/name`` (a release table's asset key is ``releases/<name>``) or by
    its name alone when only one table outside the releases zone has it."""
    if name in _BY_KEY:
        return _BY_KEY[name]
    found = [t for t in TABLES if t.name == name and t.zone != "releases"]
    if len(found) != 1:
        raise KeyError(f"no table {name!r} in the catalogue")
    return found[0]


def release_tables() -> list[TableSpec]:
    """The tables every release holds (each stored under ``releases/<id>/``)."""
    return list(RELEASE_TABLES)


def holding_participants() -> list[TableSpec]:
    """Every table with a participant column (what withdrawal must reach)."""
    return [t for t in TABLES if t.participant_column]


def in_zone(zone: str) -> list[TableSpec]:
    return [t for t in TABLES if t.zone == zone]


def releasable() -> list[TableSpec]:
    return [t for t in TABLES if t.releasable]


def written_by(asset_key: str) -> list[TableSpec]:
    """The tables an asset's materialisation writes."""
    return [t for t in TABLES if asset_key in t.written_by]


def from_landing() -> list[TableSpec]:
    return [t for t in TABLES if t.from_landing]


def anchor(t: TableSpec) -> str:
    return f"{t.name}-release" if t.zone == "releases" else t.name


def _dtype(dtype: object) -> str:
    return str(dtype() if isinstance(dtype, type) else dtype)


def dictionary_markdown() -> str:
    """The data dictionary: every table, what it means, and every column (generated)."""
    lines = [
        "# Data dictionary",
        "",
        "Generated from the table catalogue (`ngrl_assets/catalogue.py`) by "
        "`ngrl dictionary`; do not edit by hand (a test keeps it equal to the catalogue).",
        "",
        "| table | zone | participant column | releasable | written by |",
        "|---|---|---|---|---|",
    ]
    for t in TABLES:
        lines.append(
            f"| [`{t.name}`](#{anchor(t)}) | {t.zone} | {t.participant_column or '—'} | "
            f"{'yes' if t.releasable else 'no'} | {', '.join(t.written_by) or '—'} |"
        )
    for t in TABLES:
        title = f"{t.name} (release)" if t.zone == "releases" else t.name
        lines += ["", f"## {title}", "", t.description, ""]
        where = f"{t.zone}/<release id>/{t.name}" if t.zone == "releases" else t.key
        if t.name == RELEASE_REGISTRY.name:
            where = t.key
        facts = [f"- location: `{where}`"]
        if t.partition_by:
            facts.append(f"- partitioned by: {', '.join(t.partition_by)}")
        if t.sort_by:
            facts.append(f"- sorted by: {', '.join(t.sort_by)}")
        if t.identifier_columns:
            facts.append(
                f"- identifier columns (no Delta statistics): {', '.join(t.identifier_columns)}"
            )
        if t.landing_columns:
            facts.append(f"- landing keys in: {', '.join(t.landing_columns)}")
        if t.traced_via:
            facts.append(f"- landing objects traced via: `{t.traced_via}`")
        lines += [*facts, "", "| column | type | description |", "|---|---|---|"]
        for name, dtype in t.schema.items():
            desc = t.columns[name].replace("|", "\\|")
            lines.append(f"| `{name}` | {_dtype(dtype)} | {desc} |")
    return "\n".join(lines) + "\n"
