"""Clinical intake: one NHS England extract file (a delivery) from landing -> its curated
table, with every data line accounted for (curated or quarantined with file, line, rule).

Streamed: a byte-level line scan (``lines``), then the rows (``rows``: a lazy polars scan
of the pipe-delimited text with the checks of ``validate`` and the identity-zone join,
collected in batches) written to Delta as they come, so memory stays bounded by the batch
size and the small lookup tables (registered NHS numbers; record keys already curated), not by the
extract. Deliveries are ``incremental`` (replace this delivery's rows: re-running is
idempotent) or ``full`` (replace the whole table). A file whose bytes were already
ingested under another name is a ``duplicate`` and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ngrl_assets.clinical import lines, mortality, rows, validate
from ngrl_assets.clinical.sources import DELIVERY_COLUMN, MODES, ClinicalSource
from ngrl_assets.common import ledger
from ngrl_assets.common.quarantine import (
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    Reject,
)
from ngrl_assets.consent.linkage import nhs_number_linkage
from resources import delta, objects
from resources.lake import LakeResource

BATCH_ROWS = 100_000
DELIVERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DELIVERY_DATE = re.compile(r"_(\d{8})(?:_\d+)?\.[A-Za-z]+$")


class StaleDeliveryError(RuntimeError):
    """A full-refresh delivery older than one the table already holds: running it would
    roll the table back, so it is refused (re-run the newer delivery instead)."""


class ConservationError(RuntimeError):
    """Rows in != curated + quarantined: a bug, never silently tolerated."""


@dataclass
class ExtractResult:
    source: str
    landing_key: str
    delivery: str
    mode: str
    status: str = "processed"  # processed | quarantined (whole file) | duplicate
    rows_in: int = 0
    rows_curated: int = 0
    rows_quarantined: int = 0
    rejects_by_rule: dict[str, int] = field(default_factory=dict)
    rows_replaced: int = 0  # curated rows of earlier deliveries this one replaced
    table_rows: int = 0
    participants: int = 0
    duplicate_of: str | None = None
    file_problem: str | None = None
    warnings: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        """Counts only: safe for the Dagster event log."""
        out: dict[str, Any] = {
            "landing_key": self.landing_key,
            "mode": self.mode,
            "status": self.status,
            "rows_in": self.rows_in,
            "rows_curated": self.rows_curated,
            "rows_quarantined": self.rows_quarantined,
            "conserved": self.rows_in == self.rows_curated + self.rows_quarantined,
            "rejects_by_rule": self.rejects_by_rule,
            "rows_replaced": self.rows_replaced,
            "participants_in_delivery": self.participants,
            "dagster/row_count": self.table_rows,
        }
        if self.duplicate_of:
            out["duplicate_of"] = self.duplicate_of
        if self.file_problem:
            out["file_problem"] = self.file_problem
        if self.warnings:
            out["warnings"] = self.warnings
        return out


def landing_key(source: ClinicalSource, delivery: str) -> str:
    return f"{source.feed}/{delivery}"


def delivery_date(delivery: str, today: dt.date) -> dt.date:
    """The date in the file name (``hes_apc_20240115.txt``), else today."""
    m = _DELIVERY_DATE.search(delivery)
    if m:
        try:
            return dt.datetime.strptime(m.group(1), "%Y%m%d").date()
        except ValueError:
            pass
    return today


def list_deliveries(lake: LakeResource, source: ClinicalSource) -> list[str]:
    """Delivery file names under ``landing/clinical/<source>/`` (hidden names skipped)."""
    prefix = source.feed + "/"
    names = (f.key.removeprefix(prefix) for f in ledger.list_landing(lake, source.feed))
    return sorted(n for n in names if DELIVERY_NAME.match(n))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def _duplicate_of(lake: LakeResource, source: ClinicalSource, key: str, digest: str) -> str | None:
    done = ledger.read(lake).filter(
        (pl.col("feed") == source.feed)
        & (pl.col("sha256") == digest)
        & (pl.col("status") == "processed")
        & (pl.col("landing_key") != key)
    )
    return done.get_column("landing_key").min() if done.height else None  # type: ignore[return-value]


def _file_problem(
    source: ClinicalSource, scan: lines.LineScan, mode: str
) -> tuple[int, str, str] | None:
    """(line, rule, reason) when the whole file must be refused."""
    if scan.header_problem:
        rule, reason = scan.header_problem
        return (0 if rule == "empty_file" else 1), rule, reason
    header = scan.header
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        return 1, "duplicate_columns", f"header repeats columns: {', '.join(repeated)}"
    missing = [c for c in source.required_columns if c not in header]
    if missing:
        return 1, "missing_columns", f"header lacks required columns: {', '.join(missing)}"
    extra = [c for c in header if c not in source.columns]
    if extra:
        return 1, "unexpected_columns", f"header has unexpected columns: {', '.join(extra)}"
    if scan.data_lines == 0 and mode == "full":
        return 1, "header_only", "full-refresh file has no data rows; refusing to empty the table"
    return None


def _write_stream(
    lake: LakeResource,
    source: ClinicalSource,
    delivery: str,
    mode: str,
    batches: Iterator[pl.DataFrame],
) -> None:
    uri = lake.table("curated", source.table)
    predicate = f"{DELIVERY_COLUMN} = '{delivery}'" if mode == "incremental" else None
    delta.write_batches(
        uri, batches, validate.curated_schema(source), lake.storage_options(uri), predicate
    )


def ingest_extract(
    lake: LakeResource,
    source: ClinicalSource,
    delivery: str,
    run_id: str,
    mode: str = "incremental",
    today: dt.date | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ExtractResult:
    """Ingest ``landing/clinical/<source>/<delivery>`` into ``curated/<source.table>``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if not DELIVERY_NAME.match(delivery):
        raise ValueError(f"delivery file name must match {DELIVERY_NAME.pattern}")
    today = today or dt.date.today()
    key = landing_key(source, delivery)
    if mode == "full":
        _refuse_stale(lake, source, delivery, today)
    result = ExtractResult(source.name, key, delivery, mode)
    uri = lake.uri("landing", key)
    with tempfile.TemporaryDirectory(prefix="ngrl-clinical-") as work:
        path = objects.fetch(uri, Path(work))
        digest = _sha256(path)
        landing = ledger.LandingFile(key, uri, path.stat().st_size)
        result.duplicate_of = _duplicate_of(lake, source, key, digest)
        if result.duplicate_of:
            result.status = "duplicate"
            ledger.record(
                lake,
                [ledger.LedgerEntry(landing, source.feed, digest, "duplicate", 0, 0, 0)],
                run_id,
            )
            return result
        scan = lines.scan_lines(path)
        result.rows_in = scan.data_lines
        problem = _file_problem(source, scan, mode)
        if problem:
            line, rule, reason = problem
            result.status = "quarantined"
            result.file_problem = f"{rule}: {reason}"
            rejects = rows.reject_frame([Reject(key, line, rule, reason)])
            result.rows_quarantined = result.rows_in
        else:
            if scan.data_lines == 0:
                result.warnings.append("header-only file: no rows delivered")
            bad = rows.reject_frame([Reject(key, b.line, b.rule, b.reason) for b in scan.bad_lines])
            rejects = pl.concat(
                [
                    bad,
                    *_ingest_rows(
                        lake, source, delivery, mode, path, scan, today, result, batch_rows
                    ),
                ],
                how="vertical",
            )
            result.rows_quarantined = rejects.height
        _write_quarantine(lake, source, key, rejects, run_id)
        result.rejects_by_rule = {
            rule: int(n) for rule, n in rejects.group_by("rule").len().sort("rule").iter_rows()
        }
        if result.rows_in != result.rows_curated + result.rows_quarantined:
            raise ConservationError(
                f"{key}: {result.rows_in} rows in, {result.rows_curated} curated, "
                f"{result.rows_quarantined} quarantined"
            )
        entry = ledger.LedgerEntry(
            landing,
            source.feed,
            digest,
            result.status,
            result.rows_in,
            result.rows_curated,
            result.rows_quarantined,
        )
        ledger.record(lake, [entry], run_id)
    table_uri = lake.table("curated", source.table)
    if delta.exists(table_uri, lake.storage_options(table_uri)):
        result.table_rows = (
            delta.scan(table_uri, lake.storage_options(table_uri)).select(pl.len()).collect().item()
        )
    return result


def _ingest_rows(
    lake: LakeResource,
    source: ClinicalSource,
    delivery: str,
    mode: str,
    path: Path,
    scan: lines.LineScan,
    today: dt.date,
    result: ExtractResult,
    batch_rows: int,
) -> list[pl.DataFrame]:
    delivered = delivery_date(delivery, today)
    frame = rows.lazy_rows(source, path, scan, delivered, nhs_number_linkage(lake))
    earlier = rows.earlier_keys(lake, source, delivery) if mode == "incremental" else None
    splitter = rows.Splitter(source, delivery, landing_key(source, delivery), earlier)
    batches = (splitter.split(b) for b in frame.collect_batches(chunk_size=batch_rows))
    if source.name == "ons_mortality":
        accepted = pl.concat(list(batches), how="vertical") if scan.data_lines else None
        outcome = mortality.write(lake, source, delivery, mode, accepted, splitter.landing_key)
        result.rows_replaced = outcome.replaced
        splitter.rejected.append(rows.reject_frame(outcome.superseded))
        splitter.curated -= len(outcome.superseded)
        splitter.participants = outcome.participants
    else:
        if mode == "full":
            result.rows_replaced = _rows_not_in(lake, source, delivery)
        _write_stream(lake, source, delivery, mode, batches)
    result.rows_curated = splitter.curated
    result.participants = len(splitter.participants)
    return splitter.rejected


def _refuse_stale(
    lake: LakeResource, source: ClinicalSource, delivery: str, today: dt.date
) -> None:
    uri = lake.table("curated", source.table)
    opts = lake.storage_options(uri)
    if not delta.exists(uri, opts):
        return
    held = delta.scan(uri, opts).select(pl.col(DELIVERY_COLUMN).unique()).collect()
    order = (delivery_date(delivery, today), delivery)
    newer = sorted(d for d in held.to_series().to_list() if (delivery_date(d, today), d) > order)
    if newer:
        raise StaleDeliveryError(
            f"{source.feed}/{delivery}: full refresh older than {newer[-1]}, which the table "
            "already holds; refusing to roll the table back (re-run the newer delivery)"
        )


def _rows_not_in(lake: LakeResource, source: ClinicalSource, delivery: str) -> int:
    uri = lake.table("curated", source.table)
    opts = lake.storage_options(uri)
    if not delta.exists(uri, opts):
        return 0
    return int(
        delta.scan(uri, opts)
        .filter(pl.col(DELIVERY_COLUMN) != delivery)
        .select(pl.len())
        .collect()
        .item()
    )


def _write_quarantine(
    lake: LakeResource, source: ClinicalSource, key: str, rejects: pl.DataFrame, run_id: str
) -> None:
    """Quarantine records (pointers: file, line, rule, reason) replacing this file's."""
    frame = rejects.sort("line").select(
        pl.lit(source.feed).alias("feed"),
        pl.lit(key).alias("source_file"),
        "line",
        "rule",
        "reason",
        pl.lit(run_id).alias("run_id"),
        pl.lit(dt.datetime.now(dt.UTC)).cast(pl.Datetime("us", "UTC")).alias("quarantined_at"),
    )
    uri = lake.table("quarantine", QUARANTINE_TABLE)
    delta.replace_where(
        uri,
        frame,
        QUARANTINE_SCHEMA,
        f"feed = '{source.feed}' AND source_file = '{key}'",
        lake.storage_options(uri),
    )
