"""The documents of a release, written after its tables pass the gate and before its
manifest: release notes (Markdown + self-contained HTML with plots), the data dictionary
(Markdown + Delta table) and the Airlock-safe public summary (Markdown + JSON), all under
``releases/<id>/notes/``. Returns their keys relative to the releases zone."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

from ngrl_assets.consent import linkage
from ngrl_assets.releases import airlock, dictionary, notes, registry
from ngrl_assets.releases.tables import (
    PARTICIPANT,
    PROJECTED,
    RELEASE_TABLES,
    RELEASE_VARIANT_SITES,
)
from resources import objects
from resources.lake import Lake

POLICY_ENV = "NGRL_AIRLOCK_POLICY"


def write_documents(
    lake: Lake,
    release_id: str,
    freeze_date: dt.date,
    label: str | None,
    policy_name: str | None = None,
    deliveries: dict[str, list[str]] | None = None,
) -> list[str]:
    root = lake.zone("releases").rstrip("/") + "/"
    previous = registry.latest(lake, before=release_id)
    change = linkage.cohort_change(lake, previous.release_id if previous else None, release_id)
    written = notes.write_notes(
        lake,
        release_id,
        previous.release_id if previous else None,
        freeze_date,
        label or release_id,
        cohort_change=change,
        deliveries=deliveries,
        previous_deliveries=_deliveries_of(lake, previous.release_id) if previous else None,
    )
    dictionary.write_dictionary(lake, release_id, RELEASE_TABLES)
    written.append(lake.uri("releases", release_id, "notes", "data_dictionary.md"))
    policy = airlock.policy(policy_name or os.environ.get(POLICY_ENV, "gel"))
    summary = airlock.public_summary(
        lake.read(PARTICIPANT.in_folder(release_id)),
        lake.read(PROJECTED["av_tumour"].in_folder(release_id)),
        lake.read(RELEASE_VARIANT_SITES.in_folder(release_id)),
        freeze_date,
        policy,
    )
    for name, text in (
        ("public_summary.md", airlock.to_markdown(summary)),
        ("public_summary.json", airlock.to_json(summary)),
    ):
        uri = lake.uri("releases", release_id, "notes", name)
        objects.write_bytes(uri, text.encode())
        written.append(uri)
    return sorted({w.removeprefix(root) for w in written})


def _deliveries_of(lake: Lake, release_id: str) -> dict[str, list[str]]:
    """The upstream deliveries each table of a published release contains (its manifest;
    releases cut before manifests recorded them give none)."""
    tables = registry.read_manifest(lake, release_id)["tables"]
    return {name: t.get("deliveries", []) for name, t in tables.items()}


def writer(lake: Lake, freeze_date: dt.date, label: str | None) -> Callable[[object], list[str]]:
    def _write(result: object) -> list[str]:
        return write_documents(
            lake,
            result.release_id,  # type: ignore[attr-defined]
            freeze_date,
            label,
            deliveries=result.deliveries,  # type: ignore[attr-defined]
        )

    return _write
