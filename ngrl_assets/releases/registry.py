"""The release registry and manifests: what is published, and the record of each release.

A release becomes visible in one atomic step, the registry commit, which happens only
after every table and the manifest are written. The manifest (``releases/<id>/
manifest.json``) lists tables, Delta versions, row counts, schemas, content fingerprints,
freeze date, code version, parent release and gate results, and keeps a ``history`` of
events (published; later, withdrawal redactions) so that a release's every change is on
record."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from ngrl_assets.releases.tables import RELEASE_REGISTRY, RELEASE_TABLES
from resources import objects
from resources.lake import Lake

MANIFEST = "manifest.json"
PUBLISHED = "published"


class ReleaseExists(RuntimeError):
    """A published release is immutable (only withdrawal redaction changes it)."""


@dataclass(frozen=True)
class Published:
    release_id: str
    label: str | None
    freeze_date: dt.date
    status: str
    manifest_key: str
    participants: int
    samples: int
    parent_release: str | None
    published_at: dt.datetime


def manifest_key(release_id: str) -> str:
    return f"{release_id}/{MANIFEST}"


def list_published(lake: Lake) -> list[Published]:
    rows = lake.read(RELEASE_REGISTRY).sort("published_at")
    return [
        Published(
            r["release_id"],
            r["label"],
            r["freeze_date"],
            r["status"],
            r["manifest_key"],
            r["participants"],
            r["samples"],
            r["parent_release"],
            r["published_at"],
        )
        for r in rows.iter_rows(named=True)
    ]


def get(lake: Lake, release_id: str) -> Published | None:
    return next((p for p in list_published(lake) if p.release_id == release_id), None)


def latest(lake: Lake, before: str | None = None) -> Published | None:
    """The newest published release (other than ``before``)."""
    found = [p for p in list_published(lake) if p.release_id != before]
    return found[-1] if found else None


def fingerprint(df: pl.DataFrame) -> str:
    """An order-independent content fingerprint of a table's rows (and its columns)."""
    digest = hashlib.sha256(",".join(f"{c}:{t}" for c, t in df.schema.items()).encode())
    if df.height:
        hashes = df.hash_rows(seed=20261201).sort()
        digest.update(hashes.to_numpy().tobytes())
    return digest.hexdigest()


def table_entries(
    lake: Lake, release_id: str, deliveries: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    """The manifest's ``tables`` section as the release's tables stand now; ``deliveries``:
    the upstream deliveries each table contains, as decided at the cut."""
    tables: dict[str, Any] = {}
    for spec in RELEASE_TABLES:
        placed = spec.in_folder(release_id)
        frame = lake.read(placed)
        tables[spec.name] = {
            "path": f"{release_id}/{spec.name}",
            "delta_version": lake.version(placed),
            "rows": frame.height,
            "schema": {c: str(t) for c, t in frame.schema.items()},
            "fingerprint": fingerprint(frame),
            "deliveries": list((deliveries or {}).get(spec.name, [])),
        }
    return tables


def write_manifest(lake: Lake, release_id: str, manifest: dict[str, Any]) -> str:
    """Write the manifest (as the last object of a cut); returns its SHA-256."""
    data = (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n").encode()
    objects.write_bytes(lake.uri("releases", manifest_key(release_id)), data)
    return hashlib.sha256(data).hexdigest()


def read_manifest(lake: Lake, release_id: str) -> dict[str, Any]:
    data = objects.read_bytes(lake.uri("releases", manifest_key(release_id)))
    manifest: dict[str, Any] = json.loads(data)
    return manifest


def publish(lake: Lake, manifest: dict[str, Any], manifest_sha256: str) -> None:
    """The one atomic step that makes a release visible: its registry row."""
    row = {
        "release_id": manifest["release_id"],
        "label": manifest.get("label"),
        "freeze_date": dt.date.fromisoformat(manifest["freeze_date"]),
        "status": PUBLISHED,
        "manifest_key": manifest_key(manifest["release_id"]),
        "manifest_sha256": manifest_sha256,
        "participants": manifest["participants"],
        "samples": manifest["samples"],
        "parent_release": manifest.get("parent_release"),
        "published_at": dt.datetime.now(dt.UTC),
    }
    lake.merge(
        RELEASE_REGISTRY, pl.DataFrame([row], schema=dict(RELEASE_REGISTRY.schema)), ["release_id"]
    )


def update_after_redaction(lake: Lake, manifest: dict[str, Any], manifest_sha256: str) -> None:
    """A withdrawal redacted a published release: its registry row takes the new manifest
    digest and counts; it stays published, with its original publication time."""
    current = get(lake, manifest["release_id"])
    if current is None:
        raise KeyError("the release is not published")
    row = {
        "release_id": current.release_id,
        "label": current.label,
        "freeze_date": current.freeze_date,
        "status": current.status,
        "manifest_key": current.manifest_key,
        "manifest_sha256": manifest_sha256,
        "participants": manifest["participants"],
        "samples": manifest["samples"],
        "parent_release": current.parent_release,
        "published_at": current.published_at,
    }
    lake.merge(
        RELEASE_REGISTRY, pl.DataFrame([row], schema=dict(RELEASE_REGISTRY.schema)), ["release_id"]
    )
