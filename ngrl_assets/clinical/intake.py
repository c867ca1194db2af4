"""Clinical intake: one NHS England extract file (a delivery) from landing -> its curated
table, with every data line accounted for (curated or quarantined with file, line, rule).

Streamed: a byte-level line scan (``lines``), then the rows (``rows``: a lazy polars scan
of the pipe-delimited text with the checks of ``validate`` and the identity-zone join,
collected in batches) written to Delta as they come, so memory stays bounded by the batch
size and the small lookup tables (registered NHS numbers; record keys already curated), not by the
extract. Deliveries are ``incremental`` (replace this delivery's rows: re-running is
idempotent) or ``full`` (replace the whole table). A file whose bytes were already
ingested under another name is a ``duplicate`` and changes nothing.

File names: a delivery is ``<source>_<yyyymmdd>[_<n>].txt`` (a real date; ``n`` up to
three digits for a second delivery on one day). Any other visible object in the source's
landing folder is still taken in, exactly once, and quarantined whole
(``unrecognised_file_name``, ledger status ``quarantined``): its partition key is
``unrecognised-<16 hex digits of the SHA-256 of its name>``, so a hostile name never
becomes a partition key, a run key, a log line or a predicate.

Re-delivered rows of fully withdrawn participants are quarantined ``participant_withdrawn``
(``rows``): the file's distinct NHS numbers go to the door once
(``linkage.withdrawn_nhs_numbers``), and the tombstoned participants found are handed to
``linkage.request_repurge`` once per file (a ``redelivery`` withdrawal batch purges the
re-delivered object), after the quarantine records and before the ledger.
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

from ngrl_assets.clinical import lines, mortality, rows
from ngrl_assets.clinical.sources import DELIVERY_COLUMN, MODES, ClinicalSource
from ngrl_assets.clinical.tables import EXTRACTS
from ngrl_assets.common import ledger, quarantine
from ngrl_assets.common.quarantine import QUARANTINE_SCHEMA, Reject
from ngrl_assets.consent import linkage
from ngrl_assets.consent.linkage import nhs_number_linkage
from resources import objects
from resources.lake import Lake, is_s3

BATCH_ROWS = 100_000
DELIVERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DELIVERY_DATE = re.compile(r"_(\d{8})(?:_\d+)?\.[A-Za-z]+$")
UNRECOGNISED_PREFIX = "unrecognised-"
UNRECOGNISED_KEY = re.compile(r"^unrecognised-[0-9a-f]{16}$")
UNRECOGNISED_RULE = "unrecognised_file_name"


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
    status: ledger.LedgerStatus = ledger.LedgerStatus.PROCESSED
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
    recognised: bool = True  # False: an object whose name is not a delivery file name

    @property
    def label(self) -> str:
        """How logs and metadata name the file: its landing key, or for an unrecognised
        name (which could say anything) the safe partition key standing for it."""
        return self.landing_key if self.recognised else f"{self.source}/{self.delivery}"

    def metadata(self) -> dict[str, Any]:
        """Counts only: safe for the Dagster event log."""
        out: dict[str, Any] = {
            ("landing_key" if self.recognised else "unrecognised_file"): self.label,
            "mode": self.mode,
            "status": str(self.status),
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
    return source.landing_key(delivery)


def delivery_pattern(source: ClinicalSource) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(source.name)}_(\d{{8}})(?:_\d{{1,3}})?\.txt$")


def recognised(source: ClinicalSource, name: str) -> bool:
    """``name`` is a delivery file name of this source: ``<source>_<yyyymmdd>[_<n>].txt``
    with a real calendar date."""
    m = delivery_pattern(source).match(name)
    if not m or not DELIVERY_NAME.match(name):
        return False
    try:
        dt.datetime.strptime(m.group(1), "%Y%m%d")
    except ValueError:
        return False
    return True


def unrecognised_partition(name: str) -> str:
    """The partition key standing for an object with an unrecognised name."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()
    return UNRECOGNISED_PREFIX + digest[:16]


def delivery_date(delivery: str, today: dt.date) -> dt.date:
    """The date in the file name (``hes_apc_20240115.txt``), else today."""
    m = _DELIVERY_DATE.search(delivery)
    if m:
        try:
            return dt.datetime.strptime(m.group(1), "%Y%m%d").date()
        except ValueError:
            pass
    return today


def _landed(lake: Lake, source: ClinicalSource) -> list[ledger.LandingFile]:
    """Visible objects under ``landing/clinical/<source>/`` (names starting ``_`` or
    ``.`` are in-flight uploads or markers, skipped for every feed)."""
    prefix = source.feed + "/"
    return [f for f in ledger.list_landing(lake, source.feed) if f.key.startswith(prefix)]


def _name(source: ClinicalSource, file: ledger.LandingFile) -> str:
    return file.key.removeprefix(source.feed + "/")


def list_deliveries(lake: Lake, source: ClinicalSource) -> list[str]:
    """The partition key of every object under ``landing/clinical/<source>/``: delivery
    file names in order, then ``unrecognised-<hash>`` for every other name."""
    names = [_name(source, f) for f in _landed(lake, source)]
    good = sorted(n for n in names if recognised(source, n))
    bad = sorted({unrecognised_partition(n) for n in names if not recognised(source, n)})
    return [*good, *bad]


def unrecognised_count(partition_keys: list[str]) -> int:
    return sum(1 for k in partition_keys if k.startswith(UNRECOGNISED_PREFIX))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def _duplicate_of(lake: Lake, source: ClinicalSource, key: str, digest: str) -> str | None:
    done = ledger.read(lake).filter(
        (pl.col("feed") == source.feed)
        & (pl.col("sha256") == digest)
        & (pl.col("status") == ledger.LedgerStatus.PROCESSED)
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
    lake: Lake,
    source: ClinicalSource,
    delivery: str,
    mode: str,
    batches: Iterator[pl.DataFrame],
) -> None:
    where = {DELIVERY_COLUMN: delivery} if mode == "incremental" else None
    lake.write_batches(EXTRACTS[source.name], batches, where=where)


def _table_rows(lake: Lake, source: ClinicalSource) -> int:
    return int(lake.scan(EXTRACTS[source.name]).select(pl.len()).collect().item())


def ingest_extract(
    lake: Lake,
    source: ClinicalSource,
    delivery: str,
    run_id: str,
    mode: str = "incremental",
    today: dt.date | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ExtractResult:
    """Ingest ``landing/clinical/<source>/<delivery>`` into ``curated/<source.table>``;
    ``delivery`` may instead be the ``unrecognised-<hash>`` key of an object with another
    name, which is recorded as quarantined (:func:`ingest_unrecognised`)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if UNRECOGNISED_KEY.match(delivery):
        return ingest_unrecognised(lake, source, delivery, run_id, mode)
    if not recognised(source, delivery):
        raise ValueError(
            f"not a {source.name} delivery file name ({source.name}_<yyyymmdd>[_<n>].txt) "
            "nor an unrecognised-<hash> key"
        )
    today = today or dt.date.today()
    key = landing_key(source, delivery)
    if mode == "full":
        _refuse_stale(lake, source, delivery, today)
    result = ExtractResult(source.name, key, delivery, mode)
    uri = lake.landing(key)
    with tempfile.TemporaryDirectory(prefix="ngrl-clinical-") as work:
        path = objects.fetch(uri, Path(work))
        digest = _sha256(path)
        landing = ledger.LandingFile(key, uri, path.stat().st_size)
        result.duplicate_of = _duplicate_of(lake, source, key, digest)
        if result.duplicate_of:
            result.status = ledger.LedgerStatus.DUPLICATE
            ledger.record(
                lake,
                [ledger.LedgerEntry(landing, source.feed, digest, result.status, 0, 0, 0)],
                run_id,
            )
            return result
        scan = lines.scan_lines(path)
        result.rows_in = scan.data_lines
        withdrawn: dict[str, list[tuple[str, str]]] = {}
        problem = _file_problem(source, scan, mode)
        if problem:
            line, rule, reason = problem
            result.status = ledger.LedgerStatus.QUARANTINED
            result.file_problem = f"{rule}: {reason}"
            rejects = rows.reject_frame([Reject(key, line, rule, reason)])
            result.rows_quarantined = result.rows_in
        else:
            if scan.data_lines == 0:
                result.warnings.append("header-only file: no rows delivered")
            bad = rows.reject_frame([Reject(key, b.line, b.rule, b.reason) for b in scan.bad_lines])
            rejected, withdrawn = _ingest_rows(
                lake, source, delivery, mode, path, scan, today, result, batch_rows
            )
            rejects = pl.concat([bad, *rejected], how="vertical")
            result.rows_quarantined = rejects.height
        _write_quarantine(lake, source, key, key, rejects, run_id)
        if withdrawn:
            # before the ledger: a run that dies here asks again when re-run (a pending
            # batch already carrying the participants makes the request a no-op)
            linkage.request_repurge(lake, withdrawn)
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
    result.table_rows = _table_rows(lake, source)
    return result


def _fetch_safely(uri: str, workdir: Path) -> Path:
    """A local copy of an object whose key is not trusted (never a path built from it)."""
    if not is_s3(uri):
        return Path(uri)
    bucket, key = objects.split_s3(uri)
    target = workdir / "object"
    objects.s3_client().download_file(bucket, key, str(target))
    return target


def ingest_unrecognised(
    lake: Lake, source: ClinicalSource, partition: str, run_id: str, mode: str
) -> ExtractResult:
    """Record the object standing behind ``unrecognised-<hash>`` as quarantined: one
    file-level quarantine record (``unrecognised_file_name``), rows in = its data lines
    (0 if it cannot be read), nothing curated. Its batch is the safe key
    ``clinical/<source>/unrecognised-<hash>``; the real key is kept only as data (ledger
    ``landing_key``, quarantine ``source_file``), never in a predicate or a log."""
    if not UNRECOGNISED_KEY.match(partition):
        raise ValueError("not an unrecognised-<hash> partition key")
    batch = landing_key(source, partition)
    matches = [
        f
        for f in _landed(lake, source)
        if not recognised(source, _name(source, f))
        and unrecognised_partition(_name(source, f)) == partition
    ]
    if not matches:
        raise FileNotFoundError(f"{batch}: no landing object with this name hash any more")
    file = matches[0]
    key = file.key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    result = ExtractResult(source.name, key, partition, mode, recognised=False)
    result.status = ledger.LedgerStatus.QUARANTINED
    with tempfile.TemporaryDirectory(prefix="ngrl-clinical-") as work:
        try:
            path = _fetch_safely(file.uri, Path(work))
            digest = _sha256(path)
            result.rows_in = lines.scan_lines(path).data_lines
        except OSError:
            digest, result.rows_in = "", 0
    reason = (
        f"file name is not a {source.name} delivery name ({source.name}_<yyyymmdd>.txt); "
        "nothing read"
    )
    result.file_problem = f"{UNRECOGNISED_RULE}: {reason}"
    rejects = rows.reject_frame([Reject(key, 0, UNRECOGNISED_RULE, reason)])
    result.rows_quarantined = result.rows_in
    result.rejects_by_rule = {UNRECOGNISED_RULE: 1}
    _write_quarantine(lake, source, batch, key, rejects, run_id)
    landing = ledger.LandingFile(key, file.uri, file.size)
    entry = ledger.LedgerEntry(
        landing, source.feed, digest, result.status, result.rows_in, 0, result.rows_in
    )
    ledger.record(lake, [entry], run_id)
    result.table_rows = _table_rows(lake, source)
    return result


def _ingest_rows(
    lake: Lake,
    source: ClinicalSource,
    delivery: str,
    mode: str,
    path: Path,
    scan: lines.LineScan,
    today: dt.date,
    result: ExtractResult,
    batch_rows: int,
) -> tuple[list[pl.DataFrame], dict[str, list[tuple[str, str]]]]:
    """The rows, streamed to the curated table; returns the quarantine records and the
    tombstoned participants whose NHS numbers the file holds (to re-purge)."""
    delivered = delivery_date(delivery, today)
    # one question to the door per file: the distinct NHS numbers, never row by row
    stones = linkage.withdrawn_nhs_numbers(lake, rows.distinct_nhs_numbers(source, path, scan))
    frame = rows.lazy_rows(source, path, scan, delivered, nhs_number_linkage(lake), stones)
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
    found: dict[str, list[tuple[str, str]]] = {}
    for number, owner in stones.items():  # what the redelivery batch purges and scans for
        found.setdefault(owner, []).append(("NHS number", number))
    return splitter.rejected, found


def _refuse_stale(lake: Lake, source: ClinicalSource, delivery: str, today: dt.date) -> None:
    held = lake.scan(EXTRACTS[source.name]).select(pl.col(DELIVERY_COLUMN).unique()).collect()
    order = (delivery_date(delivery, today), delivery)
    newer = sorted(d for d in held.to_series().to_list() if (delivery_date(d, today), d) > order)
    if newer:
        raise StaleDeliveryError(
            f"{source.feed}/{delivery}: full refresh older than {newer[-1]}, which the table "
            "already holds; refusing to roll the table back (re-run the newer delivery)"
        )


def _rows_not_in(lake: Lake, source: ClinicalSource, delivery: str) -> int:
    return int(
        lake.scan(EXTRACTS[source.name])
        .filter(pl.col(DELIVERY_COLUMN) != delivery)
        .select(pl.len())
        .collect()
        .item()
    )


def _write_quarantine(
    lake: Lake,
    source: ClinicalSource,
    batch: str,
    key: str,
    rejects: pl.DataFrame,
    run_id: str,
) -> None:
    """Quarantine records (pointers: file, line, rule, reason) replacing the batch's (the
    landing key of a delivery file)."""
    frame = rejects.sort("line").select(
        pl.lit(source.feed).alias("feed"),
        pl.lit(batch).alias("batch"),
        pl.lit(key).alias("source_file"),
        "line",
        "rule",
        "reason",
        pl.lit(run_id).alias("run_id"),
        pl.lit(dt.datetime.now(dt.UTC)).cast(pl.Datetime("us", "UTC")).alias("quarantined_at"),
    )
    quarantine.replace_batches(lake, source.feed, [batch], frame.cast(pl.Schema(QUARANTINE_SCHEMA)))
