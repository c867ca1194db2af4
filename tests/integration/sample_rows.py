"""Per-sample table rows written directly, the way sequencing intake stores them (for
joint-calling and release tests that need exact, hand-made calls and blocks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import polars as pl

from ngrl_assets.genomics import chunks
from ngrl_assets.genomics.schemas import SAMPLE_BLOCKS_SCHEMA, SAMPLE_CALLS_SCHEMA
from ngrl_assets.genomics.tables import (
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
)
from resources.lake import Lake

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def raw_row(delivery: str, pid: str, **values: Any) -> dict:
    """A QC-passed raw_sequences row (sample id ``S-<pid>``), other columns null unless given."""
    row = dict.fromkeys(RAW_SEQUENCES.schema)
    row.update(
        delivery=delivery,
        sample_id=f"S-{pid}",
        participant_id=pid,
        inferred_sex="XX",
        qc_verdict="pass",
        ingested_at=NOW,
    )
    row.update(values)
    return row


def call(pid: str, contig: str, pos: int, ref: str, alt: str, gt: tuple) -> dict:
    return {
        "participant_id": pid,
        "contig": contig,
        "pos": pos,
        "end": pos + len(ref) - 1,
        "ref": ref,
        "alt": alt,
        "a1": gt[0],
        "a2": gt[1],
        "phased": False,
        "gq": 50,
        "dp": 30,
        "ad_ref": 15 if 0 in gt else 0,
        "ad_alt": 15,
    }


def block(pid: str, contig: str, start: int, end: int) -> dict:
    return {"participant_id": pid, "contig": contig, "start": start, "end": end,
            "min_dp": 30, "gq": 40}  # fmt: skip


def deliver(
    lake: Lake,
    delivery: str,
    pids: list[str],
    calls: list[dict],
    blocks: list[dict],
    raw_values: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Write one delivery's per-sample tables (calls, blocks, raw_sequences rows)."""
    owner = pl.lit(delivery).alias("delivery")
    call_rows = pl.DataFrame(calls, schema={"participant_id": pl.String, **SAMPLE_CALLS_SCHEMA})
    block_rows = pl.DataFrame(blocks, schema={"participant_id": pl.String, **SAMPLE_BLOCKS_SCHEMA})
    calls_stored = chunks.assign(call_rows.with_columns(owner), "pos", "end", clip=False)
    blocks_stored = chunks.assign(block_rows.with_columns(owner), "start", "end", clip=True)
    lake.append(SAMPLE_VARIANT_CALLS, calls_stored.select(list(SAMPLE_VARIANT_CALLS.schema)))
    lake.append(SAMPLE_REFERENCE_BLOCKS, blocks_stored.select(list(SAMPLE_REFERENCE_BLOCKS.schema)))
    extra = raw_values or {}
    raw = [raw_row(delivery, p, **extra.get(p, {})) for p in pids]
    lake.append(RAW_SEQUENCES, pl.DataFrame(raw, schema=RAW_SEQUENCES.schema))
