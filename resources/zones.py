"""The lake's zones, in one place: each zone's name and what lives there.

A zone is a prefix under the lake root (or its own bucket in production). Delta tables
live in every zone but ``landing``, which holds the providers' inbound files only.
"""

from __future__ import annotations

ZONE_CONTENTS: dict[str, str] = {
    "landing": "inbound drops, write-once",
    "identity": "identifiable registry and id mappings; only linkage code reads it",
    "curated": "pseudonymised Delta tables keyed by the internal participant id",
    "quarantine": "rejected rows/files with reasons (never raw identifiable values)",
    "releases": "immutable per-release snapshots",
    "reports": "data-quality reports (Great Expectations Data Docs)",
    "audit": "landing ledger, erasure certificates",
}
ZONES: tuple[str, ...] = tuple(ZONE_CONTENTS)
LANDING = "landing"
TABLE_ZONES: tuple[str, ...] = tuple(z for z in ZONES if z != LANDING)
