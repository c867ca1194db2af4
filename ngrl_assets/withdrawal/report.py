"""The data protection officer's erasure report of one withdrawal batch, rendered from the
audit ledger (:mod:`ngrl_assets.withdrawal.audit`; no Dagster).

:func:`report_markdown` and :func:`report_html` render one batch's record;
:func:`write_report` files both in the reports zone at
``reports/withdrawals/<batch_id>/report.md`` and ``report.html``. A report is marked
**INCOMPLETE** with the ledger's reasons (:func:`ngrl_assets.withdrawal.audit.verdict`).
Rows' detail is shown as counts only (numbers and booleans; any text in it is never
printed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from ngrl_assets.common.markdown import markdown_to_html
from ngrl_assets.withdrawal import audit
from ngrl_assets.withdrawal.audit import detail_of, plural, utc
from ngrl_assets.withdrawal.batches import BatchStatus, validate_batch_id
from resources import objects
from resources.lake import Lake

REPORT_FOLDER = "withdrawals"


# ---- formatting ----------------------------------------------------------------------------
def _when(value: dt.datetime | None) -> str:
    utc_value = utc(value)
    return "-" if utc_value is None else utc_value.strftime("%Y-%m-%d %H:%M:%S UTC")


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


def _detail_counts(value: str | None) -> str:
    """A row's ``detail`` as ``name n, ...``: numbers and booleans only, so that the report
    can never show a value even if a writer put one in the detail."""
    detail = detail_of(value) or {}
    shown = [
        f"{k.replace('_', ' ')} {_n(v) if not isinstance(v, bool) else str(v).lower()}"
        for k, v in sorted(detail.items())
        if isinstance(v, int | bool)
    ]
    return ", ".join(shown)


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


def report_markdown(lake: Lake, batch_id: str) -> str:
    """The erasure record of one batch for the data protection officer (Markdown).

    Raises ValueError for a malformed batch id and :class:`UnknownBatch` for an unknown one.
    Counts, times, tables and releases only: the ledger holds no participant-level value.
    """
    return render(lake, batch_id)[0]


def render(lake: Lake, batch_id: str) -> tuple[str, list[str]]:
    """``(markdown, reasons)``: the report and why it is INCOMPLETE (empty when complete)."""
    found = audit.verdict(lake, batch_id)
    info, ledger, scan, reasons = found.batch, found.rows, found.scan, found.reasons

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
    if landed is not None and completed is not None and info["status"] == BatchStatus.COMPLETE:
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
            f"{plural(erased.height, 'table')}, {plural(total, 'row')} removed in all.",
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
            else f"RESIDUE FOUND ({plural(scan.finding_count, 'finding')}"
            + (f" in {plural(scan.objects_with_findings, 'object')})"
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


def report_html(lake: Lake, batch_id: str) -> str:
    """:func:`report_markdown` as one self-contained HTML page."""
    md = report_markdown(lake, batch_id)
    return markdown_to_html(md, {}, f"Withdrawal erasure report {batch_id}")


def report_uri(lake: Lake, batch_id: str, suffix: str) -> str:
    validate_batch_id(batch_id)
    return lake.uri("reports", REPORT_FOLDER, batch_id, f"report.{suffix}")


def write_report(lake: Lake, batch_id: str, markdown: str | None = None) -> tuple[str, str]:
    """Write ``reports/withdrawals/<batch_id>/report.md`` and ``.html`` (from ``markdown``
    when given, else rendered now); their URIs."""
    md = report_markdown(lake, batch_id) if markdown is None else markdown
    page = markdown_to_html(md, {}, f"Withdrawal erasure report {batch_id}")
    md_uri, html_uri = report_uri(lake, batch_id, "md"), report_uri(lake, batch_id, "html")
    objects.write_bytes(md_uri, md.encode("utf-8"))
    objects.write_bytes(html_uri, page.encode("utf-8"))
    return md_uri, html_uri
