"""The landing ledger (``audit/landing_ledger``): one row per landing file processed.

A file is ingested exactly once: intake asks for the files of its feed that the ledger
does not know yet, processes them, and records each one with its row counts (rows in =
accepted + quarantined). A file whose bytes were already ingested under another name is
recorded as ``duplicate`` and changes nothing. The ledger holds landing keys (paths
relative to the landing zone) and counts; never row contents.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from resources import objects
from resources.lake import Lake
from resources.tables import TableSpec

LEDGER_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "landing_key": pl.String,
    "feed": pl.String,
    "size_bytes": pl.Int64,
    "sha256": pl.String,
    "status": pl.String,  # a LedgerStatus
    "rows_in": pl.Int64,
    "rows_accepted": pl.Int64,
    "rows_quarantined": pl.Int64,
    "run_id": pl.String,
    "processed_at": pl.Datetime("us", "UTC"),
}


class LedgerStatus(StrEnum):
    """``landing_ledger.status``: what became of a landing object."""

    PROCESSED = "processed"
    QUARANTINED = "quarantined"  # the whole file rejected
    DUPLICATE = "duplicate"  # its bytes were already taken in under another name


STATUSES = tuple(LedgerStatus)

LEDGER = TableSpec(
    zone="audit",
    name="landing_ledger",
    description=(
        "The record of every landing object the platform has taken in: its key, hash, "
        "status and honest row counts (rows in = accepted + quarantined). Intake reads it "
        "to take each file exactly once; erasure reads it to find the landing objects that "
        "held a participant."
    ),
    schema=LEDGER_SCHEMA,
    columns={
        "landing_key": "path of the object relative to the landing zone",
        "feed": "landing feed",
        "size_bytes": "object size",
        "sha256": "SHA-256 of the object's bytes (duplicates under another name are spotted)",
        "status": "processed, quarantined (the whole file rejected) or duplicate",
        "rows_in": "data rows (lines after the header, or samples) the object held",
        "rows_accepted": "rows written to curated tables",
        "rows_quarantined": "rows (or the file) sent to quarantine",
        "run_id": "Dagster run that recorded it",
        "processed_at": "when",
    },
    written_by=(),  # every intake asset; filled in by the catalogue
    identifier_columns=("landing_key",),
    landing_columns=("landing_key",),
)
LEDGER_TABLE = LEDGER.name


@dataclass(frozen=True)
class LandingFile:
    key: str  # relative to the landing zone, e.g. consent/registrations/x.csv
    uri: str
    size: int


@dataclass(frozen=True)
class LedgerEntry:
    file: LandingFile
    feed: str
    sha256: str
    status: LedgerStatus
    rows_in: int
    rows_accepted: int
    rows_quarantined: int


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hidden(key: str) -> bool:
    return any(part.startswith(("_", ".")) for part in key.split("/"))


def list_landing(lake: Lake, prefix: str) -> list[LandingFile]:
    """Visible files under ``landing/<prefix>`` (names starting ``_`` or ``.`` are skipped)."""
    root = lake.zone("landing").rstrip("/") + "/"
    files = []
    for obj in objects.list_objects(lake.landing(prefix)):
        key = obj.uri.removeprefix(root)
        if not _hidden(key):
            files.append(LandingFile(key=key, uri=obj.uri, size=obj.size))
    return files


def read(lake: Lake) -> pl.DataFrame:
    return lake.read(LEDGER)


def pending(lake: Lake, prefix: str) -> list[LandingFile]:
    """Files under ``landing/<prefix>`` that the ledger has not recorded yet, in key order."""
    done = set(read(lake).get_column("landing_key").to_list())
    return [f for f in list_landing(lake, prefix) if f.key not in done]


def ingested_hashes(lake: Lake, feed: str) -> set[str]:
    ledger = read(lake)
    rows = ledger.filter((pl.col("feed") == feed) & (pl.col("status") == LedgerStatus.PROCESSED))
    return set(rows.get_column("sha256").to_list())


def record(lake: Lake, entries: list[LedgerEntry], run_id: str) -> None:
    if not entries:
        return
    now = dt.datetime.now(dt.UTC)
    frame = pl.DataFrame(
        {
            "landing_key": [e.file.key for e in entries],
            "feed": [e.feed for e in entries],
            "size_bytes": [e.file.size for e in entries],
            "sha256": [e.sha256 for e in entries],
            "status": [str(e.status) for e in entries],
            "rows_in": [e.rows_in for e in entries],
            "rows_accepted": [e.rows_accepted for e in entries],
            "rows_quarantined": [e.rows_quarantined for e in entries],
            "run_id": [run_id] * len(entries),
            "processed_at": [now] * len(entries),
        },
        schema=LEDGER_SCHEMA,
    )
    bad = [e for e in entries if e.status not in STATUSES]
    # A duplicate's rows are accounted for by the original object: nothing accepted or
    # quarantined again (rows_in is still what it holds).
    unbalanced = [
        e
        for e in entries
        if e.rows_in != e.rows_accepted + e.rows_quarantined
        and not (e.status == LedgerStatus.DUPLICATE and e.rows_accepted == e.rows_quarantined == 0)
    ]
    negative = [e for e in entries if min(e.rows_in, e.rows_accepted, e.rows_quarantined) < 0]
    if bad or unbalanced or negative:
        raise ValueError(
            "ledger entries must have a known status and honest counts: "
            + ", ".join(e.file.key for e in [*bad, *unbalanced, *negative])
        )
    # One row per landing key: a re-run updates its entry instead of adding a second one.
    lake.merge(LEDGER, frame.unique("landing_key", keep="last"), ["landing_key"])
