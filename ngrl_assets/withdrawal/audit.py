"""The withdrawal audit ledger (no Dagster): what propagation did to each batch, and the
verdict it supports.

Propagation records one :class:`AuditRow` per (batch, step, target) with :func:`record`;
a rerun of a step replaces its own rows (merge on ``batch_id``, ``step``, ``target``). The
ledger holds counts only, and the batch by its opaque id: never a participant id, an
identifier or any other participant-level value. The data protection officer's report is
rendered from it by :mod:`ngrl_assets.withdrawal.report`.

The ``scan`` step's ``detail`` is the residue scan's summary (:func:`scan_detail` builds
it from the scanner's findings)::

    {"clean": <bool>, "needles": <values searched for>,
     "needles_by_kind": {"<kind>": <count>, ...}, "objects_scanned": <int>,
     "findings": <count> or [{"object": <masked uri>, "decoder": <kind>,
                              "where": <masked place>, "needle": <kind>}, ...],
     "objects_with_findings": <int>}

A batch's erasure is **incomplete** (:func:`verdict`, :func:`is_complete`) when the batch
is not ``complete``, a step has not finished, no residue scan was recorded, or the scan
found residue.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import polars as pl

from ngrl_assets.withdrawal.batches import BatchStatus, validate_batch_id
from ngrl_assets.withdrawal.batches import get as get_batch
from ngrl_assets.withdrawal.tables import WITHDRAWAL_AUDIT
from resources.lake import Lake

if TYPE_CHECKING:  # annotations only
    from ngrl_assets.withdrawal.erasure import TableErasure

# The ledger's steps, in the order the report lists them. A step not listed is still
# recorded (and reported under "Other steps"): a step name is lower-case words.
STEPS: tuple[str, ...] = (
    "genomics",
    "release genomics",
    "release purge",
    "release",
    "erase",
    "landing",
    "identity",
    "scan",
    "complete",
)
STEP = re.compile(r"^[a-z][a-z_ ]*$")
KEYS = ["batch_id", "step", "target"]


def utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


@dataclass(frozen=True)
class AuditRow:
    """One row of :data:`WITHDRAWAL_AUDIT`: counts only, never a participant-level value.

    ``detail`` is further counts: a mapping (stored as sorted JSON) or JSON text. Naive
    datetimes are taken as UTC.
    """

    batch_id: str
    step: str
    target: str
    release_id: str | None = None
    rows_removed: int | None = None
    files_rewritten: int | None = None
    bytes_vacuumed: int | None = None
    objects_deleted: int | None = None
    version_before: int | None = None
    version_after: int | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    detail: Mapping[str, Any] | str | None = None

    def __post_init__(self) -> None:
        validate_batch_id(self.batch_id)
        if not STEP.fullmatch(self.step or ""):
            raise ValueError(f"an audit step is lower-case words, not {self.step!r}")
        if not self.target:
            raise ValueError("an audit row needs a target (table or area)")
        for name in ("rows_removed", "files_rewritten", "bytes_vacuumed", "objects_deleted"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) < 0):
                raise ValueError(f"{name} must be a non-negative count")
        if isinstance(self.detail, str):
            json.loads(self.detail)  # must be JSON

    @classmethod
    def from_erasure(
        cls,
        batch_id: str,
        step: str,
        erasure: TableErasure,
        started_at: dt.datetime | None = None,
        finished_at: dt.datetime | None = None,
        release_id: str | None = None,
    ) -> AuditRow:
        """The row for one :class:`~ngrl_assets.withdrawal.erasure.TableErasure`."""
        return cls(
            batch_id=batch_id,
            step=step,
            target=erasure.table,
            release_id=release_id,
            rows_removed=erasure.rows_removed,
            files_rewritten=erasure.files_rewritten,
            bytes_vacuumed=erasure.bytes_vacuumed,
            objects_deleted=erasure.objects_version_purged,
            version_before=erasure.version_before,
            version_after=erasure.version_after,
            started_at=started_at,
            finished_at=finished_at,
        )

    def as_record(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["started_at"] = utc(self.started_at)
        out["finished_at"] = utc(self.finished_at)
        if isinstance(self.detail, Mapping):
            out["detail"] = json.dumps(dict(self.detail), sort_keys=True, default=str)
        return out


def scan_detail(
    needle_kinds: Sequence[str], objects_scanned: int, findings: Iterable[Any]
) -> dict[str, Any]:
    """The ``scan`` row's detail from a residue scan: needles counted by kind (never the
    values), objects scanned, and each :class:`~ngrl_assets.withdrawal.scan.Finding` by
    its masked object, decoder, masked place and the kind of value found."""
    kinds = list(needle_kinds)

    def label(i: int) -> str:
        return kinds[i] if 0 <= i < len(kinds) else f"needle {i}"

    listed = [
        {"object": f.uri, "decoder": f.kind, "where": f.where, "needle": label(f.needle_index)}
        for f in findings
    ]
    return {
        "clean": not listed,
        "needles": len(kinds),
        "needles_by_kind": dict(sorted(Counter(kinds).items())),
        "objects_scanned": int(objects_scanned),
        "findings": listed,
        "objects_with_findings": len({f["object"] for f in listed}),
    }


# ---- the ledger ----------------------------------------------------------------------------
def record(lake: Lake, rows: Sequence[AuditRow]) -> None:
    """Upsert ``rows`` on (batch_id, step, target): a rerun replaces its own rows."""
    if not rows:
        return
    by_key = {(r.batch_id, r.step, r.target): r for r in rows}  # last one wins
    df = pl.DataFrame(
        [r.as_record() for r in by_key.values()], schema=dict(WITHDRAWAL_AUDIT.schema)
    )
    lake.merge(WITHDRAWAL_AUDIT, df, KEYS)


def _step_order() -> pl.Expr:
    return pl.col("step").replace_strict(
        {s: i for i, s in enumerate(STEPS)}, default=len(STEPS), return_dtype=pl.Int64
    )


def rows(lake: Lake, batch_id: str) -> pl.DataFrame:
    """The batch's ledger rows in step order (then release, target)."""
    validate_batch_id(batch_id)
    return (
        lake.scan(WITHDRAWAL_AUDIT)
        .filter(pl.col("batch_id") == batch_id)
        .collect()
        .sort(by=[_step_order(), pl.col("release_id"), pl.col("target")], nulls_last=False)
    )


def detail_of(value: str | None) -> dict[str, Any] | None:
    """A row's ``detail`` as a mapping ({} when empty); None when it is not a JSON object."""
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int)}


@dataclass(frozen=True)
class ScanVerdict:
    """The residue scan as the ledger recorded it (counts only)."""

    recorded: bool
    readable: bool
    needles: int
    needles_by_kind: dict[str, int]
    objects_scanned: int | None
    findings: list[dict[str, Any]]
    finding_count: int
    objects_with_findings: int
    flagged: bool  # the scan itself said "not clean"

    @property
    def clean(self) -> bool:
        return self.recorded and self.readable and not self.finding_count and not self.flagged


def scan_verdict(ledger: pl.DataFrame) -> ScanVerdict:
    """The ``scan`` rows' detail; both ``needles`` as a count with ``needles_by_kind`` and
    ``needles`` as counts by kind are read, and ``findings`` as a list or a count."""
    scan_rows = ledger.filter(pl.col("step") == "scan")
    if scan_rows.is_empty():
        return ScanVerdict(False, False, 0, {}, None, [], 0, 0, False)
    by_kind: Counter[str] = Counter()
    found: list[dict[str, Any]] = []
    needles = count = scanned = hit_objects = 0
    readable, flagged = True, False
    for row in scan_rows.iter_rows(named=True):
        detail = detail_of(row["detail"])
        if detail is None:
            readable = False
            continue
        raw = detail.get("needles")
        kinds = _counts(detail.get("needles_by_kind")) or _counts(raw)
        by_kind.update(kinds)
        needles += raw if isinstance(raw, int) else sum(kinds.values())
        scanned += int(detail.get("objects_scanned") or 0)
        items = detail.get("findings") or []
        if isinstance(items, list):
            listed = [f if isinstance(f, dict) else {} for f in items]
            found += listed
            count += len(listed)
            hit_objects += len({f.get("object") for f in listed})
        else:
            count += int(items)
        hit_objects = max(hit_objects, int(detail.get("objects_with_findings") or 0))
        flagged = flagged or detail.get("clean") is False
    return ScanVerdict(
        True, readable, needles, dict(sorted(by_kind.items())), scanned, found, count,
        hit_objects, flagged,
    )  # fmt: skip


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def incomplete_reasons(
    info: Mapping[str, Any], ledger: pl.DataFrame, scan: ScanVerdict
) -> list[str]:
    """Why the batch's erasure is not proven complete (empty when it is)."""
    reasons = []
    if info["status"] != BatchStatus.COMPLETE:
        reasons.append(f"propagation has not completed (batch status: {info['status']})")
    elif info["completed_at"] is None:
        reasons.append("the batch is marked complete but has no completion time")
    for row in ledger.filter(pl.col("finished_at").is_null()).iter_rows(named=True):
        reasons.append(f"step {row['step']} on `{row['target']}` has not finished")
    if not scan.recorded:
        reasons.append("no residue scan is recorded for this batch")
    elif not scan.readable:
        reasons.append("the residue scan's detail cannot be read")
    elif scan.finding_count or scan.flagged:
        where = f" in {plural(scan.objects_with_findings, 'object')}"
        reasons.append(
            f"the residue scan found residue: {plural(scan.finding_count, 'finding')}"
            + (where if scan.objects_with_findings else "")
        )
    return reasons


@dataclass(frozen=True)
class Verdict:
    """One batch as the ledger records it: its row, its ledger rows, the residue scan and
    why its erasure is not proven complete (``reasons``; empty when it is)."""

    batch: dict[str, Any]
    rows: pl.DataFrame
    scan: ScanVerdict
    reasons: list[str]


def verdict(lake: Lake, batch_id: str) -> Verdict:
    """The batch's :class:`Verdict`. Raises ValueError for a malformed batch id and
    ``UnknownBatch`` for an unknown one."""
    info = get_batch(lake, batch_id)
    ledger = rows(lake, batch_id)
    scan = scan_verdict(ledger)
    return Verdict(info, ledger, scan, incomplete_reasons(info, ledger, scan))


def is_complete(lake: Lake, batch_id: str) -> bool:
    """Whether the ledger proves the batch's erasure complete (no reason it is not)."""
    return not verdict(lake, batch_id).reasons
