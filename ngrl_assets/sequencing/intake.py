"""Sequencing delivery intake: manifest -> per-sample checks -> raw_sequences and the
per-sample variant-call and reference-block tables. Only counts leave this module.

- Delivery ids are validated at the edge (:func:`valid_delivery_id`): only a folder named
  ``[A-Za-z0-9_-]{1,64}`` is a delivery (a partition key). The manifest of a folder with
  any other name is quarantined as a whole (:func:`quarantine_invalid_deliveries`, rule
  ``invalid_delivery_id``) and its name never reaches a partition key, a run key or a
  predicate.
- One delivery at a time, streamed sample by sample: a sample's gVCF is read, its calls and
  blocks are appended (each frame sorted by the table's sort order, so every written file
  is), and it is dropped before the next sample is read; memory does not grow with the
  number of samples.
- Idempotent per delivery: the run first removes the delivery's rows (raw_sequences first,
  which is what marks a delivery as present to joint calling, then the per-sample tables),
  appends the samples, then writes raw_sequences, the quarantine records (batch = delivery
  id) and, last, the landing ledger. A run that dies half-way leaves no raw_sequences rows
  and no ledger entry; the re-run removes what it left and converges on the same tables.
- A failing sample is quarantined with file, line and rule and the rest of the delivery
  goes on; a manifest that cannot be read is quarantined at file level with honest counts.
- A withdrawal is never undone by a re-delivery: a sample of a fully withdrawn participant
  (tombstoned, found by :func:`ngrl_assets.consent.linkage.withdrawn_references` before
  the normal linking, since erasure removes the registry row; or withdrawn but not yet
  tombstoned) is quarantined ``participant_withdrawn`` and nothing of it reaches a curated
  table: no raw_sequences row, its gVCF is never parsed, its gVCF and index are ledgered
  ``quarantined`` with an object-level ``participant_withdrawn`` record. The tombstoned
  participants concerned are handed to ``linkage.request_repurge`` once per delivery run
  (a ``redelivery`` withdrawal batch, which purges the re-delivered objects).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from tqdm import tqdm

from ngrl_assets.common import ledger
from ngrl_assets.common.quarantine import (
    PARTICIPANT_WITHDRAWN,
    PARTICIPANT_WITHDRAWN_REASON,
    Reject,
    replace_batches,
    to_frame,
)
from ngrl_assets.consent import linkage
from ngrl_assets.consent.linkage import Linked, link_references
from ngrl_assets.genomics import chunks
from ngrl_assets.genomics.batches import SampleBatching
from ngrl_assets.genomics.gvcf import GvcfError, GvcfRead, read_gvcf
from ngrl_assets.genomics.tables import (
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    QcVerdict,
)
from ngrl_assets.sequencing.manifest import (
    FILE_NAME,
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestRow,
    parse_manifest,
)
from resources import objects
from resources.lake import Lake
from resources.tables import TableSpec
from resources.uris import is_s3

FEED = "sequencing_deliveries"
OBJECT_FEED = "sequencing_objects"  # gVCFs, indexes and stray objects of a delivery
PREFIX = "sequencing"

# docs/landing.md: delivery_id is [A-Za-z0-9_-]+ ; we also cap its length.
MAX_DELIVERY_ID = 64
_DELIVERY_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_DELIVERY_ID}}}")
INVALID_DELIVERY_REASON = (
    f"delivery folder name must match [A-Za-z0-9_-]+ (at most {MAX_DELIVERY_ID} characters)"
)

# Sample QC thresholds (a failing sample is kept but not joint-called).
MIN_MEAN_COVERAGE = 15.0
MIN_PCT_BASES_15X = 80.0
MAX_CONTAMINATION = 0.03

SAMPLE_TABLES: tuple[TableSpec, ...] = (SAMPLE_VARIANT_CALLS, SAMPLE_REFERENCE_BLOCKS)


@dataclass
class DeliveryResult:
    delivery: str
    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    passed_qc: int = 0
    failed_qc: int = 0
    variant_rows: int = 0
    block_rows: int = 0
    file_quarantined: bool = False
    objects_recorded: int = 0
    rejects_by_rule: dict[str, int] = field(default_factory=dict)
    chunks_with_data: list[str] = field(default_factory=list)
    withdrawn: int = 0  # samples of fully withdrawn participants refused
    repurge_requested: bool = False  # a redelivery withdrawal batch was opened


class InvalidDeliveryId(ValueError):
    """A delivery id outside ``[A-Za-z0-9_-]{1,64}`` (the value is never echoed)."""


def valid_delivery_id(value: str) -> bool:
    return _DELIVERY_ID.fullmatch(value) is not None


def require_delivery_id(value: str) -> str:
    if not valid_delivery_id(value):
        raise InvalidDeliveryId(INVALID_DELIVERY_REASON)
    return value


def manifest_key(delivery: str) -> str:
    return f"{PREFIX}/{require_delivery_id(delivery)}/{FILE_NAME}"


def _manifests(lake: Lake) -> Iterator[tuple[str, ledger.LandingFile]]:
    """(folder name, manifest) for every ``sequencing/<folder>/manifest.tsv`` that landed."""
    for f in ledger.list_landing(lake, PREFIX):
        parts = f.key.split("/")
        if len(parts) == 3 and parts[0] == PREFIX and parts[2] == FILE_NAME:
            yield parts[1], f


def scan_landing(lake: Lake) -> tuple[list[str], list[ledger.LandingFile]]:
    """Deliveries whose manifest has landed (the manifest is uploaded last), and the
    manifests of folders whose name is not a valid delivery id."""
    valid, invalid = [], []
    for folder, f in _manifests(lake):
        if valid_delivery_id(folder):
            valid.append(folder)
        else:
            invalid.append(f)
    return sorted(valid), sorted(invalid, key=lambda f: f.key)


def list_deliveries(lake: Lake) -> list[str]:
    """Valid delivery ids whose manifest has landed: the only possible partition keys."""
    return scan_landing(lake)[0]


def pending_invalid_manifests(lake: Lake) -> list[ledger.LandingFile]:
    """Manifests of invalidly named folders that the ledger does not record yet."""
    invalid = scan_landing(lake)[1]
    if not invalid:
        return []
    done = set(ledger.read(lake).get_column("landing_key").to_list())
    return [f for f in invalid if f.key not in done]


def invalid_batch(key: str) -> str:
    """The quarantine batch of an invalidly named folder's manifest: opaque, never the
    folder's name (which may hold any text)."""
    return "invalid-" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def fingerprint(files: list[ledger.LandingFile]) -> str:
    """An opaque run key part for a set of landing objects (hash of keys and sizes)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.key}\0{f.size}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:16]


# ---- reading the manifest ----------------------------------------------------------------
def _digest_and_lines(path: Path) -> tuple[str, int]:
    """SHA-256 and non-blank data lines of a file, streamed (for manifests too large to
    parse)."""
    h = hashlib.sha256()
    lines, content, first = 0, False, True
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            for piece in re.split(rb"(\n)", block):
                if piece == b"\n":
                    lines += content and not first
                    content, first = False, False
                elif piece.strip(b"\r \t"):
                    content = True
    lines += content and not first
    return h.hexdigest(), lines


def read_manifest(lake: Lake, key: str, workdir: Path) -> tuple[Manifest, ledger.LandingFile, str]:
    """The parsed manifest, its landing object and its SHA-256 (never raises on content)."""
    uri = lake.landing(key)
    path = objects.fetch(uri, workdir)
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            digest, lines = _digest_and_lines(path)
            reason = f"manifest exceeds {MAX_MANIFEST_BYTES} bytes"
            manifest = Manifest(key, data_lines=lines)
            manifest.file_reject = Reject(key, 0, "file_too_large", reason)
        else:
            data = path.read_bytes()
            digest, manifest = ledger.sha256(data), parse_manifest(data, key)
    finally:
        if is_s3(uri):
            path.unlink(missing_ok=True)
    return manifest, ledger.LandingFile(key, uri, size), digest


def quarantine_invalid_deliveries(lake: Lake, run_id: str) -> int:
    """Quarantine, as whole files, the manifests of folders whose name is not a valid
    delivery id and that the ledger does not record yet; returns how many.

    Each gets one file-level quarantine record (rule ``invalid_delivery_id``, source file =
    its landing key, batch = an opaque hash of the key) and a ledger entry ``quarantined``
    with rows in = its data lines, all quarantined. Nothing of it is read as a delivery."""
    pending = pending_invalid_manifests(lake)
    if not pending:
        return 0
    rejects: dict[str, list[Reject]] = {}
    object_rejects: dict[str, list[Reject]] = {}
    entries = []
    with tempfile.TemporaryDirectory(prefix="ngrl-invalid-delivery-") as tmp:
        for f in pending:
            path = objects.fetch(f.uri, Path(tmp))
            digest, lines = _digest_and_lines(path)
            if is_s3(f.uri):
                path.unlink(missing_ok=True)
            batch = invalid_batch(f.key)
            rejects[batch] = [Reject(f.key, 0, "invalid_delivery_id", INVALID_DELIVERY_REASON)]
            entries.append(
                ledger.LedgerEntry(
                    f, FEED, digest, ledger.LedgerStatus.QUARANTINED, lines, 0, lines
                )
            )
            # The folder's other objects (gVCFs, indexes) end in the ledger too.
            for other in ledger.list_landing(lake, f.key.rsplit("/", 1)[0]):
                if other.key == f.key:
                    continue
                rows = 1 if other.key.endswith((".vcf.gz", ".vcf", ".bcf")) else 0
                object_rejects.setdefault(batch, []).append(
                    Reject(other.key, 0, "invalid_delivery_id", INVALID_DELIVERY_REASON)
                )
                digest = _sha256_object(lake, other, Path(tmp))
                entries.append(
                    ledger.LedgerEntry(
                        other, OBJECT_FEED, digest, ledger.LedgerStatus.QUARANTINED, rows, 0, rows
                    )
                )
    frame = pl.concat([to_frame(r, FEED, run_id, batch) for batch, r in rejects.items()])
    replace_batches(lake, FEED, list(rejects), frame)
    if object_rejects:
        frames = [to_frame(r, OBJECT_FEED, run_id, b) for b, r in object_rejects.items()]
        replace_batches(lake, OBJECT_FEED, list(object_rejects), pl.concat(frames))
    ledger.record(lake, entries, run_id)
    return len(pending)


# ---- per-sample checks -------------------------------------------------------------------
def qc_reasons(row: ManifestRow) -> list[str]:
    reasons = []
    if row.mean_coverage < MIN_MEAN_COVERAGE:
        reasons.append(f"mean_coverage < {MIN_MEAN_COVERAGE:g}")
    if row.pct_bases_15x < MIN_PCT_BASES_15X:
        reasons.append(f"pct_bases_15x < {MIN_PCT_BASES_15X:g}")
    if row.contamination > MAX_CONTAMINATION:
        reasons.append(f"contamination > {MAX_CONTAMINATION:g}")
    return reasons


def _previous_samples(lake: Lake, delivery: str) -> pl.DataFrame:
    return (
        lake.scan(RAW_SEQUENCES)
        .filter((pl.col("delivery") != delivery) & (pl.col("qc_verdict") != QcVerdict.QUARANTINED))
        .select("sample_id", "participant_id")
        .collect()
    )


def _raw_row(
    delivery: str, row: ManifestRow, folder: str, now: dt.datetime, **values: Any
) -> dict[str, Any]:
    base = {
        "delivery": delivery,
        "sample_id": row.sample_id,
        "participant_id": None,
        "gvcf_key": f"{folder}/{row.gvcf_path}",
        "gvcf_bytes": None,
        "md5_verified": False,
        "tbi_key": f"{folder}/{row.tbi_path}",
        "mean_coverage": row.mean_coverage,
        "pct_bases_15x": row.pct_bases_15x,
        "contamination": row.contamination,
        "inferred_sex": row.inferred_sex,
        "sequencing_date": dt.date.fromisoformat(row.sequencing_date),
        "records": None,
        "variant_rows": None,
        "block_rows": None,
        "qc_verdict": QcVerdict.QUARANTINED,
        "qc_reasons": None,
        "ingested_at": now,
    }
    base.update(values)
    return base


class SampleRejected(Exception):
    def __init__(self, reject: Reject) -> None:
        super().__init__(reject.describe())
        self.reject = reject


def _check_participant(row: ManifestRow, linked: dict[str, Linked], manifest: str) -> Linked:
    def fail(rule: str, reason: str) -> SampleRejected:
        return SampleRejected(Reject(manifest, row.line, rule, reason))

    link = linked.get(row.participant_reference)
    if link is None:
        raise fail("unknown_participant", "participant_reference is not registered")
    return link


@dataclass
class _Withdrawn:
    """Samples of fully withdrawn participants refused by one delivery run: their landing
    objects (key -> is a gVCF) and the tombstoned participants to re-purge."""

    objects: dict[str, bool] = field(default_factory=dict)
    tombstoned: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    samples: int = 0


def _digests(path: Path) -> tuple[str, str]:
    """md5 (the manifest's check) and sha256 (the ledger's) in one pass over the file."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def _sha256_object(lake: Lake, file: ledger.LandingFile, workdir: Path) -> str:
    path = objects.fetch(file.uri, workdir)
    try:
        return _digests(path)[1]
    finally:
        if is_s3(file.uri):
            path.unlink(missing_ok=True)


def record_objects(
    lake: Lake,
    delivery: str,
    raw: pl.DataFrame,
    hashes: dict[str, str],
    manifest_quarantined: bool,
    run_id: str,
    workdir: Path,
    withdrawn: dict[str, bool] | None = None,
) -> int:
    """Ledger every object of the delivery folder besides the manifest, so that every
    landing object ends with a status: a sample's gVCF (one sample in) and its index (no
    rows) are ``processed`` when the sample was accepted and ``quarantined`` when it was
    not; an object the manifest does not name is quarantined (``unexpected_file``), and
    every object of a delivery whose manifest was quarantined as a whole follows it
    (``manifest_quarantined``). The gVCF and index of a sample refused because its
    participant fully withdrew (``withdrawn``: key -> is a gVCF) are ``quarantined`` with
    an object-level ``participant_withdrawn`` record (what the redelivery purge looks for),
    although no raw_sequences row names them. Object-level records use their own feed
    (``sequencing_objects``), so a delivery's sample counts still reconcile with its
    manifest. Returns the number of objects recorded."""
    accepted: dict[str, bool] = {}
    gvcfs: set[str] = set()
    for r in raw.select("gvcf_key", "tbi_key", "qc_verdict").iter_rows(named=True):
        ok = r["qc_verdict"] != QcVerdict.QUARANTINED
        accepted[r["gvcf_key"]] = accepted.get(r["gvcf_key"], False) or ok
        accepted[r["tbi_key"]] = accepted.get(r["tbi_key"], False) or ok
        gvcfs.add(r["gvcf_key"])
    withdrawn = withdrawn or {}
    gvcfs |= {k for k, is_gvcf in withdrawn.items() if is_gvcf}
    entries: list[ledger.LedgerEntry] = []
    rejects: list[Reject] = []
    for f in ledger.list_landing(lake, f"{PREFIX}/{delivery}"):
        if f.key == manifest_key(delivery):
            continue
        digest = hashes.get(f.key) or _sha256_object(lake, f, workdir)
        rows = 1 if f.key in gvcfs else 0
        if manifest_quarantined:
            rejects.append(Reject(f.key, 0, "manifest_quarantined", "the delivery's manifest "
                                  "was quarantined as a whole"))  # fmt: skip
            ok = False
        elif f.key in withdrawn and not accepted.get(f.key, False):
            rejects.append(Reject(f.key, 0, PARTICIPANT_WITHDRAWN, PARTICIPANT_WITHDRAWN_REASON))
            ok = False
        elif f.key not in accepted:
            rejects.append(
                Reject(f.key, 0, "unexpected_file", "no accepted manifest row names this object")
            )
            ok = False
        else:
            ok = accepted[f.key]
        status = ledger.LedgerStatus.PROCESSED if ok else ledger.LedgerStatus.QUARANTINED
        entries.append(
            ledger.LedgerEntry(
                f, OBJECT_FEED, digest, status, rows, rows if ok else 0, 0 if ok else rows
            )
        )
    frame = to_frame(rejects, OBJECT_FEED, run_id, delivery)
    replace_batches(lake, OBJECT_FEED, [delivery], frame)
    ledger.record(lake, entries, run_id)
    return len(entries)


def _read_sample(
    lake: Lake,
    row: ManifestRow,
    folder: str,
    manifest: str,
    workdir: Path,
    hashes: dict[str, str],
) -> tuple[GvcfRead, int]:
    """Fetch, verify and parse one sample's gVCF (md5, index, sample name, records)."""
    gvcf_key = f"{folder}/{row.gvcf_path}"
    gvcf_uri = lake.landing(gvcf_key)
    if not objects.exists(gvcf_uri):
        raise SampleRejected(
            Reject(manifest, row.line, "file_missing", "gVCF is not in the delivery")
        )
    if not objects.exists(lake.landing(f"{folder}/{row.tbi_path}")):
        raise SampleRejected(
            Reject(manifest, row.line, "index_missing", "tabix index is not in the delivery")
        )
    path = objects.fetch(gvcf_uri, workdir)
    try:
        size = path.stat().st_size
        md5, hashes[gvcf_key] = _digests(path)
        if md5 != row.gvcf_md5:
            raise SampleRejected(
                Reject(gvcf_key, 0, "md5_mismatch", "md5 of the gVCF does not match the manifest")
            )
        try:
            return read_gvcf(path, expected_sample=row.sample_id), size
        except GvcfError as exc:
            raise SampleRejected(Reject(gvcf_key, exc.line, exc.rule, exc.message)) from None
    finally:
        if is_s3(gvcf_uri):
            path.unlink(missing_ok=True)


# ---- writes ------------------------------------------------------------------------------
def _batches_of(lake: Lake, delivery: str) -> dict[str, int]:
    """The sample batch of each participant this delivery stored before (a re-run)."""
    if not lake.exists(RAW_SEQUENCES):
        return {}
    rows = (
        lake.scan(RAW_SEQUENCES)
        .filter((pl.col("delivery") == delivery) & pl.col("sample_batch").is_not_null())
        .select("participant_id", "sample_batch")
        .collect()
    )
    return dict(rows.iter_rows())


def _taken_batches(lake: Lake, delivery: str) -> list[int]:
    """The batches of the QC-passed samples of every other delivery (one per sample)."""
    if not lake.exists(RAW_SEQUENCES):
        return []
    rows = (
        lake.scan(RAW_SEQUENCES)
        .filter((pl.col("delivery") != delivery) & pl.col("sample_batch").is_not_null())
        .select("sample_batch")
        .collect()
    )
    return rows["sample_batch"].to_list()


def with_sample_batches(
    raw: pl.DataFrame, kept: dict[str, int], taken: list[int], batching: SampleBatching
) -> pl.DataFrame:
    """raw_sequences rows with the ``sample_batch`` of each QC-passed sample: the batch it
    had (``kept``), else the next places of the open batch, in manifest order."""
    passed = (raw["qc_verdict"] == QcVerdict.PASS).to_list()
    ids = raw["participant_id"].to_list()
    passing = [i for i, ok in zip(ids, passed, strict=True) if ok]
    again = {p: b for p, b in kept.items() if p in set(passing)}
    fresh = sum(1 for i in passing if i not in again)
    numbers = iter(batching.assign(taken + list(again.values()), fresh))
    batches = [
        (again[i] if i in again else next(numbers)) if ok else None
        for i, ok in zip(ids, passed, strict=True)
    ]
    return raw.with_columns(pl.Series("sample_batch", batches, dtype=pl.Int32))


def _has_delivery(lake: Lake, spec: TableSpec, delivery: str) -> bool:
    rows = lake.scan(spec).filter(pl.col("delivery") == delivery).select(pl.len()).collect()
    return bool(rows.item())


def clear_delivery(lake: Lake, delivery: str) -> None:
    """Remove a delivery's rows: raw_sequences first (joint calling then no longer sees the
    delivery), then the per-sample tables. Values travel as data (merge-delete)."""
    for spec in (RAW_SEQUENCES, *SAMPLE_TABLES):
        if _has_delivery(lake, spec, delivery):
            lake.delete(spec, {"delivery": delivery})


def _store_sample(
    lake: Lake, parsed: GvcfRead, participant_id: str, delivery: str
) -> tuple[int, int, set[str]]:
    """Append one sample's calls and blocks (the lake sorts each frame by the table's
    sort order); returns the row counts and the chunks written."""
    owner = [pl.lit(participant_id).alias("participant_id"), pl.lit(delivery).alias("delivery")]
    calls = chunks.assign(parsed.calls.with_columns(owner), "pos", "end", clip=False)
    calls = calls.select(list(SAMPLE_VARIANT_CALLS.schema))
    blocks = chunks.assign(parsed.blocks.with_columns(owner), "start", "end", clip=True)
    blocks = blocks.select(list(SAMPLE_REFERENCE_BLOCKS.schema))
    written = set(calls["chunk"].unique().to_list()) | set(blocks["chunk"].unique().to_list())
    for spec, frame in ((SAMPLE_VARIANT_CALLS, calls), (SAMPLE_REFERENCE_BLOCKS, blocks)):
        if frame.height:
            lake.append(spec, frame)
    return calls.height, blocks.height, written


def ingest_delivery(
    lake: Lake,
    delivery: str,
    run_id: str,
    now: dt.datetime | None = None,
    batching: SampleBatching | None = None,
) -> DeliveryResult:
    """Check and store one delivery (see the module docstring for order and idempotency)."""
    key = manifest_key(delivery)  # refuses an invalid id before any I/O
    batching = batching or SampleBatching()
    now = now or dt.datetime.now(dt.UTC)
    folder = f"{PREFIX}/{delivery}"
    result = DeliveryResult(delivery)
    with tempfile.TemporaryDirectory(prefix="ngrl-delivery-") as tmp:
        manifest, landing_file, digest = read_manifest(lake, key, Path(tmp))
        result.rows_in = manifest.rows_in
        kept = _batches_of(lake, delivery)  # a re-run keeps its samples' batches
        clear_delivery(lake, delivery)
        hashes: dict[str, str] = {}
        raw = RAW_SEQUENCES.empty()
        withdrawn = _Withdrawn()
        if manifest.file_reject is not None:
            rejects = [manifest.file_reject]
            result.file_quarantined = True
            result.quarantined = result.rows_in
        else:
            raw, rejects, chunks_seen = _ingest_samples(
                lake, manifest, delivery, folder, Path(tmp), now, result, hashes, withdrawn
            )
            raw = with_sample_batches(raw, kept, _taken_batches(lake, delivery), batching)
            lake.replace(RAW_SEQUENCES, raw, {"delivery": delivery})
            verdicts = Counter(raw["qc_verdict"].to_list())
            result.passed_qc, result.failed_qc = (
                verdicts[QcVerdict.PASS],
                verdicts[QcVerdict.FAIL_QC],
            )
            result.quarantined = len(rejects)
            result.chunks_with_data = sorted(chunks_seen)
        result.objects_recorded = record_objects(
            lake,
            delivery,
            raw,
            hashes,
            result.file_quarantined,
            run_id,
            Path(tmp),
            withdrawn.objects,
        )
    result.accepted = result.rows_in - result.quarantined
    result.rejects_by_rule = dict(sorted(Counter(r.rule for r in rejects).items()))
    replace_batches(lake, FEED, [delivery], to_frame(rejects, FEED, run_id, delivery))
    result.withdrawn = withdrawn.samples
    if withdrawn.tombstoned:
        # before the ledger: a run that dies here is re-run and asks again (a pending
        # batch already carrying the participants makes the request a no-op)
        batch = linkage.request_repurge(lake, withdrawn.tombstoned, now)
        result.repurge_requested = batch is not None
    status = (
        ledger.LedgerStatus.QUARANTINED
        if result.file_quarantined
        else ledger.LedgerStatus.PROCESSED
    )
    entry = ledger.LedgerEntry(
        landing_file, FEED, digest, status, result.rows_in, result.accepted, result.quarantined
    )
    ledger.record(lake, [entry], run_id)  # last: the delivery is done
    return result


def _ingest_samples(
    lake: Lake,
    manifest: Manifest,
    delivery: str,
    folder: str,
    workdir: Path,
    now: dt.datetime,
    result: DeliveryResult,
    hashes: dict[str, str],
    withdrawn: _Withdrawn,
) -> tuple[pl.DataFrame, list[Reject], set[str]]:
    """Every manifest row, one sample at a time: checks, then its calls and blocks are
    appended and dropped. Returns the raw_sequences rows, the rejects and the chunks.
    Samples of fully withdrawn participants are refused first (``withdrawn`` collects
    their objects and the tombstoned participants); they get no raw_sequences row."""
    key = manifest.source_file
    rejects: list[Reject] = list(manifest.rejects)
    references = [r.participant_reference for r in manifest.rows]
    # tombstones first: after erasure the registry no longer knows the reference
    tombstoned = linkage.withdrawn_references(lake, references)
    linked = link_references(lake, references)
    previous = _previous_samples(lake, delivery)
    seen_samples = set(previous["sample_id"].to_list())
    seen_participants = set(previous["participant_id"].drop_nulls().to_list())
    raw_rows: list[dict[str, Any]] = []
    chunks_seen: set[str] = set()
    # a progress bar on a terminal only (ngrl materialize); silent in the daemon
    bar = tqdm(manifest.rows, desc="delivery samples", unit="sample", leave=False,
               disable=not sys.stderr.isatty() or len(manifest.rows) < 2)  # fmt: skip
    for row in bar:
        owner = tombstoned.get(row.participant_reference)
        link = linked.get(row.participant_reference)
        if owner is not None or (link is not None and link.withdrawal == "full"):
            rejects.append(
                Reject(key, row.line, PARTICIPANT_WITHDRAWN, PARTICIPANT_WITHDRAWN_REASON)
            )
            withdrawn.samples += 1
            withdrawn.objects[f"{folder}/{row.gvcf_path}"] = True
            withdrawn.objects.setdefault(f"{folder}/{row.tbi_path}", False)
            if owner is not None:  # what the redelivery batch purges and scans for
                withdrawn.tombstoned.setdefault(owner, []).extend(
                    [
                        ("participant reference", row.participant_reference),
                        ("sample id", row.sample_id),
                        ("landing key", f"{folder}/{row.gvcf_path}"),
                        ("landing key", f"{folder}/{row.tbi_path}"),
                    ]
                )
            continue
        try:
            link = _check_participant(row, linked, key)
            parsed, size = _read_sample(lake, row, folder, key, workdir, hashes)
            if row.sample_id in seen_samples or link.participant_id in seen_participants:
                del parsed
                reason = "sample or participant already delivered"
                raise SampleRejected(Reject(key, row.line, "duplicate_sample", reason))
        except SampleRejected as exc:
            rejects.append(exc.reject)
            reason = f"{exc.reject.rule}: {exc.reject.reason}"
            # a registered participant's rejected sample keeps its owner, so a withdrawal
            # erases its row and purges its files like any other sample of theirs
            owner_id = link.participant_id if link is not None else None
            raw_rows.append(
                _raw_row(delivery, row, folder, now, participant_id=owner_id, qc_reasons=reason)
            )
            continue
        seen_samples.add(row.sample_id)
        seen_participants.add(link.participant_id)
        n_calls, n_blocks, written = _store_sample(lake, parsed, link.participant_id, delivery)
        records = parsed.records
        del parsed  # the sample's frames go before the next sample is read
        chunks_seen |= written
        result.variant_rows += n_calls
        result.block_rows += n_blocks
        reasons = qc_reasons(row)
        raw_rows.append(
            _raw_row(
                delivery,
                row,
                folder,
                now,
                participant_id=link.participant_id,
                gvcf_bytes=size,
                md5_verified=True,
                records=records,
                variant_rows=n_calls,
                block_rows=n_blocks,
                qc_verdict=QcVerdict.FAIL_QC if reasons else QcVerdict.PASS,
                qc_reasons="; ".join(reasons) or None,
            )
        )
    return pl.DataFrame(raw_rows, schema=RAW_SEQUENCES.schema), rejects, chunks_seen
