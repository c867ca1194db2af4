"""Joint calling against the lake: which deliveries each chunk still has to absorb, loading
their per-sample tables, and writing the chunk's new state. Idempotent per increment.

An increment is the set of deliveries (their QC-passed samples) a chunk absorbs in one go;
its id is a hash of the sorted delivery ids. Writes go genotypes -> variant_sites ->
joint_call_increments; the last one is the commit marker. ``variant_sites.increment``
names the latest increment folded into a chunk's aggregates, so a run that died between
the last two writes is detected and completed instead of double-counting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ngrl_assets.genomics import chunks, site_qc
from ngrl_assets.genomics.increment import Cohort, joint_call_increment, site_state_schema
from ngrl_assets.genomics.joint import BLOCKS_SCHEMA, CALLS_SCHEMA
from ngrl_assets.genomics.tables import (
    JOINT_GENOTYPES_SCHEMA,
    JOINT_GENOTYPES_TABLE,
    JOINT_INCREMENTS_SCHEMA,
    JOINT_INCREMENTS_TABLE,
    RAW_SEQUENCES_SCHEMA,
    RAW_SEQUENCES_TABLE,
    SAMPLE_BLOCKS_TABLE,
    SAMPLE_CALLS_TABLE,
    STORED_BLOCKS_SCHEMA,
    STORED_CALLS_SCHEMA,
    VARIANT_SITES_TABLE,
)
from resources import delta
from resources.lake import LakeResource


def variant_sites_schema() -> dict[str, Any]:
    metrics = {k: v for k, v in site_qc.SITE_QC_SCHEMA.items() if k not in site_state_schema()}
    return {"chunk": pl.String, "increment": pl.String, **site_state_schema(), **metrics}


def increment_id(deliveries: Iterable[str]) -> str:
    return "inc-" + hashlib.sha256("\n".join(sorted(deliveries)).encode()).hexdigest()[:12]


@dataclass
class JointCallSummary:
    chunks_considered: int = 0
    chunks_computed: int = 0
    chunks_absorbed_only: int = 0
    samples_added: int = 0
    new_sites: int = 0
    sites_total: int = 0
    genotype_rows_added: int = 0
    increments: dict[str, list[str]] = field(default_factory=dict)


class _Lake:
    """Read helpers bound to one lake."""

    def __init__(self, lake: LakeResource) -> None:
        self.lake = lake

    def uri(self, table: tuple[str, str]) -> str:
        return self.lake.table(*table)

    def opts(self, table: tuple[str, str]) -> dict[str, str]:
        return self.lake.storage_options(self.uri(table))

    def scan(self, table: tuple[str, str], schema: dict[str, Any]) -> pl.LazyFrame:
        uri = self.uri(table)
        if not delta.exists(uri, self.opts(table)):
            return pl.DataFrame(schema=schema).lazy()
        return delta.scan(uri, self.opts(table))


def passed_samples(lake: LakeResource) -> pl.DataFrame:
    """QC-passed samples: participant_id, delivery, sex."""
    store = _Lake(lake)
    return (
        store.scan(RAW_SEQUENCES_TABLE, RAW_SEQUENCES_SCHEMA)
        .filter(pl.col("qc_verdict") == "pass")
        .select("participant_id", "delivery", pl.col("inferred_sex").alias("sex"))
        .collect()
    )


def _cohort(
    store: _Lake,
    samples: pl.DataFrame,
    chunk: str,
    deliveries: list[str],
    span: tuple[int, int] | None = None,
) -> Cohort:
    if samples.height == 0 or not deliveries:
        return Cohort.empty()
    ids = samples["participant_id"].implode()
    where = (
        (pl.col("chunk") == chunk)
        & pl.col("delivery").is_in(deliveries)
        & pl.col("participant_id").is_in(ids)
    )
    calls_q = store.scan(SAMPLE_CALLS_TABLE, STORED_CALLS_SCHEMA).filter(where)
    blocks_q = store.scan(SAMPLE_BLOCKS_TABLE, STORED_BLOCKS_SCHEMA).filter(where)
    if span is not None:
        lo, hi = span
        calls_q = calls_q.filter((pl.col("pos") <= hi) & (pl.col("end") >= lo))
        blocks_q = blocks_q.filter((pl.col("start") <= hi) & (pl.col("end") >= lo))
    return Cohort(
        samples.select("participant_id", "sex"),
        calls_q.select(list(CALLS_SCHEMA)).collect(),
        blocks_q.select(list(BLOCKS_SCHEMA)).collect(),
    )


def joint_call_chunks(
    lake: LakeResource, chunk_names: list[str], min_dp: int = 1, now: dt.datetime | None = None
) -> JointCallSummary:
    """Bring every named chunk up to date with all QC-passed deliveries."""
    now = now or dt.datetime.now(dt.UTC)
    store = _Lake(lake)
    summary = JointCallSummary(chunks_considered=len(chunk_names))
    samples = passed_samples(lake)
    all_deliveries = sorted(set(samples["delivery"].to_list()))
    wanted = pl.Series(chunk_names, dtype=pl.String).implode()
    absorbed_rows = (
        store.scan(JOINT_INCREMENTS_TABLE, JOINT_INCREMENTS_SCHEMA)
        .filter(pl.col("chunk").is_in(wanted))
        .collect()
    )
    sites_schema = variant_sites_schema()
    state = (
        store.scan(VARIANT_SITES_TABLE, sites_schema)
        .filter(pl.col("chunk").is_in(wanted))
        .collect()
    )
    absorbed: dict[str, set[str]] = {}
    for chunk_name, delivery in absorbed_rows.select("chunk", "delivery").iter_rows():
        absorbed.setdefault(chunk_name, set()).add(delivery)
    with_sites = set(state["chunk"].unique().to_list())
    data_chunks = _chunks_with_data(store, all_deliveries, wanted)

    genotype_frames, site_frames, increment_rows, touched = [], [], [], []
    for name in chunk_names:
        pending = [d for d in all_deliveries if d not in absorbed.get(name, set())]
        if not pending:
            continue
        inc = increment_id(pending)
        chunk_state = state.filter(pl.col("chunk") == name)
        last = chunk_state["increment"].first() if chunk_state.height else None
        batch_samples = samples.filter(pl.col("delivery").is_in(pending))
        counts = batch_samples.group_by("delivery").len()
        touched.append(name)
        if last == inc:
            pass  # aggregates already include this increment: only the marker is missing
        elif name not in with_sites and name not in data_chunks:
            summary.chunks_absorbed_only += 1
        else:
            chunk = chunks.by_name(name)
            old_deliveries = sorted(absorbed.get(name, set()))
            old_samples = samples.filter(pl.col("delivery").is_in(old_deliveries))

            def old_at(
                new_sites: pl.DataFrame,
                _n: str = name,
                _o: list[str] = old_deliveries,
                _s: pl.DataFrame = old_samples,
            ) -> Cohort:
                span = (int(new_sites["pos"].min()), int(new_sites["end"].max()))  # type: ignore[arg-type]
                return _cohort(store, _s, _n, _o, span)

            batch = _cohort(store, batch_samples, name, pending)
            existing = chunk_state.select(list(site_state_schema()))
            result = joint_call_increment(chunk, existing, batch, old_at, min_dp)
            metrics = site_qc.metrics(result.sites)
            sites_out = result.sites.join(
                metrics, on=["contig", "pos", "ref", "alt"], how="left", suffix="_m"
            )
            site_frames.append(
                sites_out.with_columns(
                    pl.lit(name).alias("chunk"), pl.lit(inc).alias("increment")
                ).select(list(sites_schema))
            )
            genotype_frames.append(
                result.genotypes.with_columns(
                    pl.lit(name).alias("chunk"), pl.lit(inc).alias("increment")
                ).select(list(JOINT_GENOTYPES_SCHEMA))
            )
            summary.chunks_computed += 1
            summary.new_sites += result.new_sites
            summary.sites_total += result.sites.height
            summary.genotype_rows_added += result.genotypes.height
        summary.increments[name] = pending
        for delivery, n in counts.iter_rows():
            increment_rows.append(
                {
                    "chunk": name,
                    "increment": inc,
                    "delivery": delivery,
                    "samples": n,
                    "new_sites": 0,
                    "created_at": now,
                }
            )
        summary.samples_added = max(summary.samples_added, batch_samples.height)

    if not touched:
        return summary
    chunk_in = delta.sql_in("chunk", touched)
    if genotype_frames:
        frame = pl.concat(genotype_frames)
        increments_here = sorted(set(frame["increment"].to_list()))
        _replace(
            store,
            JOINT_GENOTYPES_TABLE,
            frame,
            JOINT_GENOTYPES_SCHEMA,
            _chunks_and(frame, increments_here),
        )
    if site_frames:
        frame = pl.concat(site_frames)
        _replace(
            store,
            VARIANT_SITES_TABLE,
            frame,
            sites_schema,
            delta.sql_in("chunk", sorted(set(frame["chunk"].to_list()))),
        )
    markers = pl.DataFrame(increment_rows, schema=JOINT_INCREMENTS_SCHEMA)
    incs = sorted(set(markers["increment"].to_list()))
    _replace(
        store,
        JOINT_INCREMENTS_TABLE,
        markers,
        JOINT_INCREMENTS_SCHEMA,
        f"{chunk_in} AND {delta.sql_in('increment', incs)}",
        partition=False,
    )
    return summary


def _chunks_and(frame: pl.DataFrame, increments: list[str]) -> str:
    chunk_names = sorted(set(frame["chunk"].to_list()))
    return f"{delta.sql_in('chunk', chunk_names)} AND {delta.sql_in('increment', increments)}"


def _chunks_with_data(store: _Lake, deliveries: list[str], wanted: Any) -> set[str]:
    found: set[str] = set()
    for table, schema in (
        (SAMPLE_CALLS_TABLE, STORED_CALLS_SCHEMA),
        (SAMPLE_BLOCKS_TABLE, STORED_BLOCKS_SCHEMA),
    ):
        q = store.scan(table, schema).filter(
            pl.col("delivery").is_in(deliveries) & pl.col("chunk").is_in(wanted)
        )
        found |= set(q.select("chunk").unique().collect()["chunk"].to_list())
    return found


def _replace(
    store: _Lake,
    table: tuple[str, str],
    frame: pl.DataFrame,
    schema: dict[str, Any],
    predicate: str,
    partition: bool = True,
) -> None:
    delta.replace_where(
        store.uri(table),
        frame,
        schema,
        predicate,
        store.opts(table),
        partition_by=["chunk"] if partition else None,
    )


def pending_deliveries(lake: LakeResource) -> list[str]:
    """QC-passed deliveries that some chunk has not absorbed yet."""
    store = _Lake(lake)
    delivered = set(passed_samples(lake)["delivery"].to_list())
    absorbed = (
        store.scan(JOINT_INCREMENTS_TABLE, JOINT_INCREMENTS_SCHEMA)
        .group_by("delivery")
        .len()
        .collect()
    )
    complete = {d for d, n in absorbed.iter_rows() if n >= len(chunks.genome_chunks())}
    return sorted(delivered - complete)
