"""Sequencing delivery intake: manifest -> per-sample checks -> raw_sequences and the
per-sample variant-call and reference-block tables. One delivery at a time, idempotent
(every write replaces that delivery's rows); a failing sample is quarantined with file,
line and rule and the rest of the delivery goes on. Only counts leave this module."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import WriterProperties

from ngrl_assets.common import ledger
from ngrl_assets.common.quarantine import QUARANTINE_SCHEMA, QUARANTINE_TABLE, Reject, to_frame
from ngrl_assets.consent.linkage import Linked, link_references
from ngrl_assets.genomics import chunks
from ngrl_assets.genomics.gvcf import GvcfError, GvcfRead, md5_file, read_gvcf
from ngrl_assets.genomics.tables import (
    RAW_SEQUENCES_SCHEMA,
    RAW_SEQUENCES_TABLE,
    ROW_GROUP_ROWS,
    SAMPLE_BLOCKS_TABLE,
    SAMPLE_CALLS_TABLE,
    STORED_BLOCKS_SCHEMA,
    STORED_CALLS_SCHEMA,
)
from ngrl_assets.sequencing.manifest import ManifestRow, parse_manifest
from resources import delta, objects
from resources.lake import LakeResource

FEED = "sequencing_deliveries"
PREFIX = "sequencing"

# Sample QC thresholds (a failing sample is kept but not joint-called).
MIN_MEAN_COVERAGE = 15.0
MIN_PCT_BASES_15X = 80.0
MAX_CONTAMINATION = 0.03


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
    rejects_by_rule: dict[str, int] = field(default_factory=dict)
    chunks_with_data: list[str] = field(default_factory=list)


def manifest_key(delivery: str) -> str:
    return f"{PREFIX}/{delivery}/manifest.tsv"


def list_deliveries(lake: LakeResource) -> list[str]:
    """Deliveries whose manifest has landed (the manifest is uploaded last)."""
    found = []
    for f in ledger.list_landing(lake, PREFIX):
        parts = f.key.split("/")
        if len(parts) == 3 and parts[2] == "manifest.tsv":
            found.append(parts[1])
    return sorted(found)


def qc_reasons(row: ManifestRow) -> list[str]:
    reasons = []
    if row.mean_coverage < MIN_MEAN_COVERAGE:
        reasons.append(f"mean_coverage < {MIN_MEAN_COVERAGE:g}")
    if row.pct_bases_15x < MIN_PCT_BASES_15X:
        reasons.append(f"pct_bases_15x < {MIN_PCT_BASES_15X:g}")
    if row.contamination > MAX_CONTAMINATION:
        reasons.append(f"contamination > {MAX_CONTAMINATION:g}")
    return reasons


def _previous_samples(lake: LakeResource, delivery: str) -> pl.DataFrame:
    uri = lake.table(*RAW_SEQUENCES_TABLE)
    seen = delta.read(uri, RAW_SEQUENCES_SCHEMA, lake.storage_options(uri))
    return seen.filter((pl.col("delivery") != delivery) & (pl.col("qc_verdict") != "quarantined"))


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
        "qc_verdict": "quarantined",
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
    if link.withdrawal == "full":
        raise fail("participant_withdrawn", "participant has fully withdrawn; data not ingested")
    return link


def _read_sample(
    lake: LakeResource, row: ManifestRow, folder: str, manifest: str, workdir: Path
) -> tuple[GvcfRead, int]:
    """Fetch, verify and parse one sample's gVCF (md5, index, sample name, records)."""
    gvcf_key = f"{folder}/{row.gvcf_path}"
    gvcf_uri = lake.uri("landing", gvcf_key)
    if not objects.exists(gvcf_uri):
        raise SampleRejected(
            Reject(manifest, row.line, "file_missing", "gVCF is not in the delivery")
        )
    if not objects.exists(lake.uri("landing", f"{folder}/{row.tbi_path}")):
        raise SampleRejected(
            Reject(manifest, row.line, "index_missing", "tabix index is not in the delivery")
        )
    path = objects.fetch(gvcf_uri, workdir)
    try:
        size = path.stat().st_size
        if md5_file(path) != row.gvcf_md5:
            raise SampleRejected(
                Reject(gvcf_key, 0, "md5_mismatch", "md5 of the gVCF does not match the manifest")
            )
        try:
            return read_gvcf(path, expected_sample=row.sample_id), size
        except GvcfError as exc:
            raise SampleRejected(Reject(gvcf_key, exc.line, exc.rule, exc.message)) from None
    finally:
        if path != Path(gvcf_uri):
            path.unlink(missing_ok=True)


def ingest_delivery(
    lake: LakeResource, delivery: str, run_id: str, now: dt.datetime | None = None
) -> DeliveryResult:
    now = now or dt.datetime.now(dt.UTC)
    folder = f"{PREFIX}/{delivery}"
    key = manifest_key(delivery)
    data = objects.read_bytes(lake.uri("landing", key))
    manifest = parse_manifest(data, key)
    result = DeliveryResult(delivery)
    rejects: list[Reject] = list(manifest.rejects)

    linked = link_references(lake, [r.participant_reference for r in manifest.rows])
    previous = _previous_samples(lake, delivery)
    seen_samples = set(previous["sample_id"].to_list())
    seen_participants = set(previous["participant_id"].drop_nulls().to_list())

    raw_rows: list[dict[str, Any]] = []
    calls_frames: list[pl.DataFrame] = []
    blocks_frames: list[pl.DataFrame] = []
    with tempfile.TemporaryDirectory(prefix="ngrl-delivery-") as tmp:
        for row in manifest.rows:
            try:
                link = _check_participant(row, linked, key)
                parsed, size = _read_sample(lake, row, folder, key, Path(tmp))
                if row.sample_id in seen_samples or link.participant_id in seen_participants:
                    reason = "sample or participant already delivered"
                    raise SampleRejected(Reject(key, row.line, "duplicate_sample", reason))
            except SampleRejected as exc:
                rejects.append(exc.reject)
                reason = f"{exc.reject.rule}: {exc.reject.reason}"
                raw_rows.append(_raw_row(delivery, row, folder, now, qc_reasons=reason))
                continue
            seen_samples.add(row.sample_id)
            seen_participants.add(link.participant_id)
            reasons = qc_reasons(row)
            owner = [
                pl.lit(link.participant_id).alias("participant_id"),
                pl.lit(delivery).alias("delivery"),
            ]
            calls = chunks.assign(parsed.calls.with_columns(owner), "pos", "end", clip=False)
            blocks = chunks.assign(parsed.blocks.with_columns(owner), "start", "end", clip=True)
            calls_frames.append(calls.select(list(STORED_CALLS_SCHEMA)))
            blocks_frames.append(blocks.select(list(STORED_BLOCKS_SCHEMA)))
            raw_rows.append(
                _raw_row(
                    delivery,
                    row,
                    folder,
                    now,
                    participant_id=link.participant_id,
                    gvcf_bytes=size,
                    md5_verified=True,
                    records=parsed.records,
                    variant_rows=calls.height,
                    block_rows=blocks.height,
                    qc_verdict="fail_qc" if reasons else "pass",
                    qc_reasons="; ".join(reasons) or None,
                )
            )

    raw = pl.DataFrame(raw_rows, schema=RAW_SEQUENCES_SCHEMA)
    calls_all = _sorted(calls_frames, STORED_CALLS_SCHEMA, "pos")
    blocks_all = _sorted(blocks_frames, STORED_BLOCKS_SCHEMA, "start")
    _write_delivery(lake, SAMPLE_CALLS_TABLE, calls_all, STORED_CALLS_SCHEMA, delivery)
    _write_delivery(lake, SAMPLE_BLOCKS_TABLE, blocks_all, STORED_BLOCKS_SCHEMA, delivery)
    _write_delivery(lake, RAW_SEQUENCES_TABLE, raw, RAW_SEQUENCES_SCHEMA, delivery)

    quarantine_uri = lake.table("quarantine", QUARANTINE_TABLE)
    predicate = f"feed = '{FEED}' AND source_file LIKE '{folder}/%'"
    delta.replace_where(
        quarantine_uri,
        to_frame(rejects, FEED, run_id),
        QUARANTINE_SCHEMA,
        predicate,
        lake.storage_options(quarantine_uri),
    )

    verdicts = Counter(raw["qc_verdict"].to_list())
    result.rows_in = manifest.rows_in
    result.quarantined = len(rejects)
    result.accepted = result.rows_in - result.quarantined
    result.passed_qc, result.failed_qc = verdicts["pass"], verdicts["fail_qc"]
    result.variant_rows, result.block_rows = calls_all.height, blocks_all.height
    result.rejects_by_rule = dict(sorted(Counter(r.rule for r in rejects).items()))
    result.chunks_with_data = sorted(
        set(calls_all["chunk"].to_list()) | set(blocks_all["chunk"].to_list())
    )
    file = ledger.LandingFile(key, lake.uri("landing", key), len(data))
    ledger.record(
        lake,
        [
            ledger.LedgerEntry(
                file,
                FEED,
                ledger.sha256(data),
                "processed",
                result.rows_in,
                result.accepted,
                result.quarantined,
            )
        ],
        run_id,
    )
    return result


def _sorted(frames: list[pl.DataFrame], schema: dict[str, Any], position: str) -> pl.DataFrame:
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames).sort(["chunk", "participant_id", position])


def _write_delivery(
    lake: LakeResource,
    table: tuple[str, str],
    frame: pl.DataFrame,
    schema: dict[str, Any],
    delivery: str,
) -> None:
    uri = lake.table(*table)
    delta.replace_where(
        uri,
        frame,
        schema,
        f"delivery = '{delivery}'",
        lake.storage_options(uri),
        partition_by=["delivery"],
        writer_properties=WriterProperties(max_row_group_size=ROW_GROUP_ROWS),
    )
