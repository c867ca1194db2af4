"""The withdrawal audit ledger and the data protection officer's erasure report (no Dagster).

Propagation records one :class:`AuditRow` per (batch, step, target) with :func:`record`;
a rerun of a step replaces its own rows (merge on ``batch_id``, ``step``, ``target``). The
ledger holds counts only, and the batch by its opaque id: never a participant id, an
identifier or any other participant-level value. :func:`report_markdown` and
:func:`report_html` render one batch's record; :func:`write_report` files both in the
reports zone at ``reports/withdrawals/<batch_id>/report.md`` and ``report.html``.

The ``scan`` step's ``detail`` is the residue scan's summary (:func:`scan_detail` builds
it from the scanner's findings)::

    {"clean": <bool>, "needles": <values searched for>,
     "needles_by_kind": {"<kind>": <count>, ...}, "objects_scanned": <int>,
     "findings": <count> or [{"object": <masked uri>, "decoder": <kind>,
                              "where": <masked place>, "needle": <kind>}, ...],
     "objects_with_findings": <int>}

A batch's report is marked **INCOMPLETE** when the batch is not ``complete``, a step has
not finished, no residue scan was recorded, or the scan found residue. Other rows' detail
is shown as counts only (numbers and booleans; any text in it is never printed).
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

from ngrl_assets.common.markdown import markdown_to_html
from ngrl_assets.consent.tables import WITHDRAWAL_BATCHES
from ngrl_assets.withdrawal.tables import WITHDRAWAL_AUDIT
from resources import objects
from resources.errors import Refused

if TYPE_CHECKING:  # resources.lake and withdrawal.erasure import Dagster; this module does not
    from ngrl_assets.withdrawal.erasure import TableErasure
    from resources.lake import LakeResource

# ngrl_assets.consent.tombstones.BATCH_ID (that module reads secrets, a Dagster resource).
BATCH_ID = re.compile(r"^wd-[0-9a-f]{12}$")

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
REPORT_FOLDER = "withdrawals"


class UnknownBatch(Refused, LookupError):
    """No withdrawal batch has this id."""

    rule = "batch_unknown"


class MalformedBatchId(Refused, ValueError):
    """Not a withdrawal batch id."""

    rule = "batch_id_malformed"


def validate_batch_id(batch_id: str) -> str:
    """``batch_id`` if it is ``wd-`` and 12 lower-case hex digits, else
    :class:`MalformedBatchId` (a ValueError)."""
    if not isinstance(batch_id, str) or not BATCH_ID.fullmatch(batch_id):
        raise MalformedBatchId("a withdrawal batch id is 'wd-' and 12 hex digits")
    return batch_id


def _utc(value: dt.datetime | None) -> dt.datetime | None:
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
        out["started_at"] = _utc(self.started_at)
        out["finished_at"] = _utc(self.finished_at)
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
def record(lake: LakeResource, rows: Sequence[AuditRow]) -> None:
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


def rows(lake: LakeResource, batch_id: str) -> pl.DataFrame:
    """The batch's ledger rows in step order (then release, target)."""
    validate_batch_id(batch_id)
    return (
        lake.scan(WITHDRAWAL_AUDIT)
        .filter(pl.col("batch_id") == batch_id)
        .collect()
        .sort(by=[_step_order(), pl.col("release_id"), pl.col("target")], nulls_last=False)
    )


def batches(lake: LakeResource) -> pl.DataFrame:
    """Every withdrawal batch, most recently opened first, with ``end_to_end_seconds``
    (completed_at - notice_landed_at; null while pending)."""
    df = lake.read(WITHDRAWAL_BATCHES)
    return df.with_columns(
        end_to_end_seconds=(pl.col("completed_at") - pl.col("notice_landed_at")).dt.total_seconds()
    ).sort(["opened_at", "batch_id"], descending=True, nulls_last=True)


def batch(lake: LakeResource, batch_id: str) -> dict[str, Any]:
    """The batch's row from :data:`WITHDRAWAL_BATCHES`; :class:`UnknownBatch` if none."""
    validate_batch_id(batch_id)
    found = lake.scan(WITHDRAWAL_BATCHES).filter(pl.col("batch_id") == batch_id).collect()
    if found.is_empty():
        raise UnknownBatch(f"no withdrawal batch {batch_id}")
    return found.row(0, named=True)


# ---- formatting ----------------------------------------------------------------------------
def _when(value: dt.datetime | None) -> str:
    utc = _utc(value)
    return "-" if utc is None else utc.strftime("%Y-%m-%d %H:%M:%S UTC")


def _n(value: int | None) -> str:
    return "-" if value is None else f"{int(value):,}"


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size, unit = float(value), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            break
        size /= 1024
    return f"{int(value):,}" if unit == "B" else f"{int(value):,} ({size:.1f} {unit})"


def _versions(before: int | None, after: int | None) -> str:
    if before is None and after is None:
        return "-"
    return f"{'-' if before is None else before} -> {'-' if after is None else after}"


def duration_text(seconds: float) -> str:
    """``93784`` -> ``1 d 2 h 3 min 4 s``."""
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if rest >= size:
            parts.append(f"{rest // size} {unit}")
            rest %= size
    if rest or not parts:
        parts.append(f"{rest} s")
    return " ".join(parts)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|")


def _table(header: Sequence[str], body: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in body]
    return [*out, ""]


def _detail(value: str | None) -> dict[str, Any] | None:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _detail_counts(value: str | None) -> str:
    """A row's ``detail`` as ``name n, ...``: numbers and booleans only, so that the report
    can never show a value even if a writer put one in the detail."""
    detail = _detail(value) or {}
    shown = [
        f"{k.replace('_', ' ')} {_n(v) if not isinstance(v, bool) else str(v).lower()}"
        for k, v in sorted(detail.items())
        if isinstance(v, int | bool)
    ]
    return ", ".join(shown)


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


def _scan_verdict(ledger: pl.DataFrame) -> ScanVerdict:
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
        detail = _detail(row["detail"])
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


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _incomplete_reasons(
    info: Mapping[str, Any], ledger: pl.DataFrame, scan: ScanVerdict
) -> list[str]:
    reasons = []
    if info["status"] != "complete":
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
        where = f" in {_plural(scan.objects_with_findings, 'object')}"
        reasons.append(
            f"the residue scan found residue: {_plural(scan.finding_count, 'finding')}"
            + (where if scan.objects_with_findings else "")
        )
    return reasons


# ---- the report ----------------------------------------------------------------------------
DELTA_HEADER = ("table", "rows removed", "files rewritten", "bytes vacuumed", "version", "when")
RELEASE_STEPS = {
    "release": "rows redacted",
    "release genomics": "aggregates recomputed",
    "release purge": "history purged",
}
IDENTITY_STEPS = {"identity": "identifiers removed", "complete": "working set erased"}
REPORTED = {"genomics", "erase", "landing", "scan", *RELEASE_STEPS, *IDENTITY_STEPS}


def _delta_cells(r: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        _n(r["rows_removed"]),
        _n(r["files_rewritten"]),
        _bytes(r["bytes_vacuumed"]),
        _versions(r["version_before"], r["version_after"]),
        _when(r["finished_at"]),
    )


def _details(df: pl.DataFrame) -> list[str]:
    out = []
    for r in df.iter_rows(named=True):
        counts = _detail_counts(r["detail"])
        if counts:
            out.append(f"- `{r['target']}` ({r['step']}): {counts}")
    return [*out, ""] if out else []


def report_markdown(lake: LakeResource, batch_id: str) -> str:
    """The erasure record of one batch for the data protection officer (Markdown).

    Raises ValueError for a malformed batch id and :class:`UnknownBatch` for an unknown one.
    Counts, times, tables and releases only: the ledger holds no participant-level value.
    """
    return render(lake, batch_id)[0]


def render(lake: LakeResource, batch_id: str) -> tuple[str, list[str]]:
    """``(markdown, reasons)``: the report and why it is INCOMPLETE (empty when complete)."""
    info = batch(lake, batch_id)
    ledger = rows(lake, batch_id)
    scan = _scan_verdict(ledger)
    reasons = _incomplete_reasons(info, ledger, scan)

    def steps(*names: str) -> pl.DataFrame:
        return ledger.filter(pl.col("step").is_in(list(names)))

    lines = [f"# Withdrawal erasure report: {batch_id}", ""]
    if reasons:
        lines += ["## INCOMPLETE", "", "This erasure is not yet proven complete:", ""]
        lines += [f"- {r}" for r in reasons] + [""]
    else:
        lines += [
            "Propagation completed and the residue scan found no residue in any object of "
            "any zone.",
            "",
        ]

    landed, completed = info["notice_landed_at"], info["completed_at"]
    if landed is not None and completed is not None and info["status"] == "complete":
        seconds = (completed - landed).total_seconds()
        end_to_end = f"{duration_text(seconds)} ({seconds:,.0f} s)"
    else:
        end_to_end = "not complete"
    lines += ["## Batch", ""]
    lines += _table(
        ["item", "value"],
        [
            ("batch", f"`{batch_id}`"),
            ("reason", info["reason"] or "-"),
            ("participants", _n(info["members"])),
            ("notice landed", _when(landed)),
            ("batch opened", _when(info["opened_at"])),
            ("status", info["status"]),
            ("propagation completed", _when(completed)),
            ("end to end (notice landed to completed)", end_to_end),
        ],
    )

    erased = steps("erase")
    lines += ["## Tables redacted", ""]
    if erased.is_empty():
        lines += ["No table rows were removed.", ""]
    else:
        lines += _table(
            DELTA_HEADER,
            ((f"`{r['target']}`", *_delta_cells(r)) for r in erased.iter_rows(named=True)),
        )
        total = int(erased["rows_removed"].fill_null(0).sum())
        lines += [
            f"{_plural(erased.height, 'table')}, {_plural(total, 'row')} removed in all.",
            "",
        ]

    genomics = steps("genomics")
    if not genomics.is_empty():
        lines += ["## Aggregates recomputed", ""]
        lines += _table(
            DELTA_HEADER,
            ((f"`{r['target']}`", *_delta_cells(r)) for r in genomics.iter_rows(named=True)),
        )
        lines += _details(genomics)

    released = steps(*RELEASE_STEPS)
    lines += ["## Releases redacted", ""]
    if released.is_empty():
        lines += ["No release was redacted.", ""]
    else:
        lines += _table(
            ("release", "table", "step", *DELTA_HEADER[1:]),
            (
                (r["release_id"] or "-", f"`{r['target']}`", RELEASE_STEPS[r["step"]],
                 *_delta_cells(r))
                for r in released.iter_rows(named=True)
            ),
        )  # fmt: skip
        ids = sorted({r for r in released["release_id"].to_list() if r})
        if ids:
            lines += [f"Releases redacted: {', '.join(ids)}.", ""]
        lines += _details(released)

    landing = steps("landing")
    lines += ["## Landing objects", ""]
    if landing.is_empty():
        lines += ["No landing object was deleted or rewritten.", ""]
    else:
        lines += _table(
            ("area", "objects deleted", "files rewritten", "lines removed", "when"),
            (
                (f"`{r['target']}`", _n(r["objects_deleted"]), _n(r["files_rewritten"]),
                 _n(r["rows_removed"]), _when(r["finished_at"]))
                for r in landing.iter_rows(named=True)
            ),
        )  # fmt: skip
        lines += _details(landing)

    identity = steps(*IDENTITY_STEPS)
    lines += ["## Identity", ""]
    if identity.is_empty():
        lines += ["No identity step is recorded.", ""]
    else:
        lines += _table(
            ("table", "step", *DELTA_HEADER[1:]),
            (
                (f"`{r['target']}`", IDENTITY_STEPS[r["step"]], *_delta_cells(r))
                for r in identity.iter_rows(named=True)
            ),
        )
        lines += [
            "Identifiers were removed from the identity zone; each withdrawn participant's "
            "tombstone (internal id and keyed hashes only) is kept so that re-delivered data "
            "is recognised and refused.",
            "",
        ]

    other = ledger.filter(~pl.col("step").is_in(list(REPORTED)))
    if not other.is_empty():
        lines += ["## Other steps", ""]
        lines += _table(
            ("step", *DELTA_HEADER),
            (
                (r["step"], f"`{r['target']}`", *_delta_cells(r))
                for r in other.iter_rows(named=True)
            ),
        )

    lines += ["## Residue scan", ""]
    if not scan.recorded:
        lines += ["No residue scan is recorded: erasure is not proven.", ""]
    elif not scan.readable:
        lines += ["The residue scan's detail cannot be read: erasure is not proven.", ""]
    else:
        verdict = (
            "no residue found"
            if scan.clean
            else f"RESIDUE FOUND ({_plural(scan.finding_count, 'finding')}"
            + (f" in {_plural(scan.objects_with_findings, 'object')})"
               if scan.objects_with_findings else ")")
        )  # fmt: skip
        by_kind = ", ".join(f"{n} {k}" for k, n in scan.needles_by_kind.items())
        when = steps("scan")["finished_at"].max()
        lines += [
            f"- verdict: {verdict}",
            f"- values searched for: {scan.needles:,}" + (f" ({by_kind})" if by_kind else ""),
            f"- objects scanned: {_n(scan.objects_scanned)}",
            f"- when: {_when(when)}",  # type: ignore[arg-type]
            "",
        ]
        if scan.findings:
            lines += _table(
                ["object", "decoder", "where", "value found"],
                (
                    (f"`{f.get('object', '-')}`", f.get("decoder", "-"), f.get("where", "-"),
                     f.get("needle", "-"))
                    for f in scan.findings
                ),
            )  # fmt: skip

    versioned = ledger.filter(pl.col("version_after").is_not_null())
    lines += ["## Time travel ended", ""]
    if versioned.is_empty():
        lines += ["No Delta table was rewritten.", ""]
    else:
        lines += [
            "Each table below was vacuumed and its log truncated after the erasure: its "
            "history before the version shown is gone, so no earlier version holding the "
            "withdrawn rows can be read (time travel ended).",
            "",
        ]
        lines += [
            f"- `{t}`: time travel ended; only version {v} remains"
            for t, v in versioned.group_by("target", maintain_order=True)
            .agg(pl.col("version_after").last())
            .iter_rows()
        ] + [""]

    lines += [
        "This report names the batch by its opaque id only and holds counts, never a "
        "participant-level value.",
    ]
    return "\n".join(lines) + "\n", reasons


def report_html(lake: LakeResource, batch_id: str) -> str:
    """:func:`report_markdown` as one self-contained HTML page."""
    md = report_markdown(lake, batch_id)
    return markdown_to_html(md, {}, f"Withdrawal erasure report {batch_id}")


def report_uri(lake: LakeResource, batch_id: str, suffix: str) -> str:
    validate_batch_id(batch_id)
    return lake.uri("reports", REPORT_FOLDER, batch_id, f"report.{suffix}")


def write_report(lake: LakeResource, batch_id: str, markdown: str | None = None) -> tuple[str, str]:
    """Write ``reports/withdrawals/<batch_id>/report.md`` and ``.html`` (from ``markdown``
    when given, else rendered now); their URIs."""
    md = report_markdown(lake, batch_id) if markdown is None else markdown
    page = markdown_to_html(md, {}, f"Withdrawal erasure report {batch_id}")
    md_uri, html_uri = report_uri(lake, batch_id, "md"), report_uri(lake, batch_id, "html")
    objects.write_bytes(md_uri, md.encode("utf-8"))
    objects.write_bytes(html_uri, page.encode("utf-8"))
    return md_uri, html_uri


def is_complete(lake: LakeResource, batch_id: str) -> bool:
    """Whether the batch's report carries no INCOMPLETE banner."""
    return not render(lake, batch_id)[1]
