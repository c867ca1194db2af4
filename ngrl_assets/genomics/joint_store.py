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
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from tqdm import tqdm

from ngrl_assets.genomics import chunks, site_qc
from ngrl_assets.genomics.increment import Cohort, joint_call_increment, site_state_schema
from ngrl_assets.genomics.joint import BLOCKS_SCHEMA, CALLS_SCHEMA
from ngrl_assets.genomics.tables import (
    JOINT_CALL_INCREMENTS,
    JOINT_GENOTYPES,
    JOINT_INCREMENTS_SCHEMA,
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    VARIANT_SITES,
    QcVerdict,
)
from resources.lake import Lake
from resources.tables import TableSpec


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


def passed_samples(lake: Lake) -> pl.DataFrame:
    """QC-passed samples: participant_id, delivery, sex."""
    return (
        lake.scan(RAW_SEQUENCES)
        .filter(pl.col("qc_verdict") == QcVerdict.PASS)
        .select("participant_id", "delivery", pl.col("inferred_sex").alias("sex"))
        .collect()
    )


def _old_cohort(
    lake: Lake, samples: pl.DataFrame, deliveries: list[str], new_sites: pl.DataFrame
) -> Cohort:
    """Already joint-called samples' calls and blocks overlapping the new sites."""
    if samples.height == 0 or not deliveries:
        return Cohort.empty()
    group = sorted(set(new_sites["chunk"].to_list()))
    spans = new_sites.group_by("chunk").agg(
        pl.col("pos").min().alias("lo"), pl.col("end").max().alias("hi")
    )
    calls = _load(lake, SAMPLE_VARIANT_CALLS, group, deliveries, samples)
    blocks = _load(lake, SAMPLE_REFERENCE_BLOCKS, group, deliveries, samples)
    calls = calls.join(spans, on="chunk").filter(
        (pl.col("pos") <= pl.col("hi")) & (pl.col("end") >= pl.col("lo"))
    )
    blocks = blocks.join(spans, on="chunk").filter(
        (pl.col("start") <= pl.col("hi")) & (pl.col("end") >= pl.col("lo"))
    )
    return Cohort(
        samples.select("participant_id", "sex"),
        calls.select(list(CALLS_SCHEMA)),
        blocks.select(list(BLOCKS_SCHEMA)),
    )


CHUNK_GROUP = 64  # chunks whose pending per-sample rows are read in one scan


def joint_call_chunks(
    lake: Lake, chunk_names: list[str], min_dp: int = 1, now: dt.datetime | None = None
) -> JointCallSummary:
    """Bring every named chunk up to date with all QC-passed deliveries."""
    now = now or dt.datetime.now(dt.UTC)
    summary = JointCallSummary(chunks_considered=len(chunk_names))
    samples = passed_samples(lake)
    deliveries = sorted(set(samples["delivery"].to_list()))
    wanted = pl.Series(chunk_names, dtype=pl.String).implode()
    absorbed: dict[str, set[str]] = {}
    markers = lake.scan(JOINT_CALL_INCREMENTS).filter(pl.col("chunk").is_in(wanted))
    for chunk_name, delivery in markers.select("chunk", "delivery").collect().iter_rows():
        absorbed.setdefault(chunk_name, set()).add(delivery)
    state = lake.scan(VARIANT_SITES).filter(pl.col("chunk").is_in(wanted)).collect()

    pending = {
        n: tuple(d for d in deliveries if d not in absorbed.get(n, set())) for n in chunk_names
    }
    todo = [n for n in chunk_names if pending[n]]
    by_pending: dict[tuple[str, ...], list[str]] = {}
    for name in todo:
        by_pending.setdefault(pending[name], []).append(name)
    out = _Outputs()
    for batch_deliveries, names in by_pending.items():
        inc = increment_id(batch_deliveries)
        batch_samples = samples.filter(pl.col("delivery").is_in(batch_deliveries))
        old = sorted(absorbed.get(names[0], set()))
        old_samples = samples.filter(pl.col("delivery").is_in(old))
        counts = batch_samples.group_by("delivery").len().sort("delivery").rows()
        summary.samples_added = max(summary.samples_added, batch_samples.height)
        # a chunk whose aggregates already hold this increment lost only its marker
        done = set(state.filter(pl.col("increment") == inc)["chunk"].to_list())
        live = [n for n in names if n not in done]
        stateful = set(done)  # chunks that hold sites after this increment
        starts = range(0, len(live), CHUNK_GROUP)
        # a progress bar on a terminal only (ngrl materialize); silent in the daemon
        bar = tqdm(starts, desc="joint calling", unit="chunk group", leave=False,
                   disable=not sys.stderr.isatty() or len(starts) < 2)  # fmt: skip
        for start in bar:
            group = live[start : start + CHUNK_GROUP]
            group_state = state.filter(pl.col("chunk").is_in(group))
            calls = _load(lake, SAMPLE_VARIANT_CALLS, group, list(batch_deliveries), batch_samples)
            has_data = set(group_state["chunk"].to_list()) | set(calls["chunk"].to_list())
            summary.chunks_absorbed_only += len(set(group) - has_data)
            group = [n for n in group if n in has_data]
            if not group:
                continue
            blocks = _load(
                lake, SAMPLE_REFERENCE_BLOCKS, group, list(batch_deliveries), batch_samples
            )
            batch = Cohort(
                batch_samples.select("participant_id", "sex"),
                calls.filter(pl.col("chunk").is_in(group)).select(list(CALLS_SCHEMA)),
                blocks.select(list(BLOCKS_SCHEMA)),
            )

            def old_at(
                new_sites: pl.DataFrame, _o: list[str] = old, _s: pl.DataFrame = old_samples
            ) -> Cohort:
                return _old_cohort(lake, _s, _o, new_sites)

            existing = group_state.select(["chunk", *site_state_schema()])
            result = joint_call_increment(group, existing, batch, old_at, min_dp)
            out.add(inc, result)
            stateful |= set(result.sites["chunk"].to_list())
            summary.chunks_computed += len(group)
            summary.new_sites += result.new_sites
            summary.sites_total += result.sites.height
            summary.genotype_rows_added += result.genotypes.height
        # only chunks with sites remember their samples; a chunk without sites has no state
        for name in sorted(stateful):
            out.markers += [_marker(name, inc, d, n, now) for d, n in counts]
    if set(chunk_names) >= {c.name for c in chunks.genome_chunks()}:
        genome_inc = increment_id(deliveries)
        done_genome = set(genome_done(lake))
        counts_all = samples.group_by("delivery").len().sort("delivery").rows()
        out.markers += [
            _marker(GENOME, genome_inc, d, n, now) for d, n in counts_all if d not in done_genome
        ]
    out.write(lake, todo)
    return summary


GENOME = "genome"  # marker rows for deliveries folded into every chunk of the genome


def _marker(chunk: str, inc: str, delivery: str, samples: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "chunk": chunk,
        "increment": inc,
        "delivery": delivery,
        "samples": samples,
        "new_sites": 0,
        "created_at": now,
    }


def genome_done(lake: Lake) -> list[str]:
    """Deliveries a whole-genome joint-calling run has folded in."""
    markers = lake.scan(JOINT_CALL_INCREMENTS).filter(pl.col("chunk") == GENOME)
    return sorted(set(markers.select("delivery").collect()["delivery"].to_list()))


class _Outputs:
    """What one run writes, collected across chunks and committed at the end."""

    def __init__(self) -> None:
        self.genotypes: list[pl.DataFrame] = []
        self.sites: list[pl.DataFrame] = []
        self.markers: list[dict[str, Any]] = []

    def add(self, inc: str, result: Any) -> None:
        tag = [pl.lit(inc).alias("increment")]
        sites = with_site_qc(result.sites)
        self.sites.append(sites.with_columns(tag).select(list(VARIANT_SITES.schema)))
        self.genotypes.append(
            result.genotypes.with_columns(tag).select(list(JOINT_GENOTYPES.schema))
        )

    def write(self, lake: Lake, todo: list[str]) -> None:
        """genotypes -> variant_sites -> increments (the commit marker), each idempotent:
        a re-run replaces exactly the rows an earlier attempt of the same increment wrote."""
        if not todo and not self.markers:
            return
        if self.genotypes:
            frame = pl.concat(self.genotypes)
            if frame.height:
                where = {
                    "chunk": _distinct(frame, "chunk"),
                    "increment": _distinct(frame, "increment"),
                }
                lake.replace(JOINT_GENOTYPES, frame, where=where)
        if self.sites:
            frame = pl.concat(self.sites)
            if frame.height:
                lake.replace(VARIANT_SITES, frame, where={"chunk": _distinct(frame, "chunk")})
        if not self.markers:
            return
        markers = pl.DataFrame(self.markers, schema=JOINT_INCREMENTS_SCHEMA)
        where = {"chunk": _distinct(markers, "chunk"), "increment": _distinct(markers, "increment")}
        lake.replace(JOINT_CALL_INCREMENTS, markers, where=where)


def with_site_qc(sites: pl.DataFrame) -> pl.DataFrame:
    """Joint-called sites (chunk, site, aggregates) with aggV2's metrics and FILTERs."""
    metrics = site_qc.metrics(sites)
    return sites.join(metrics, on=["contig", "pos", "ref", "alt"], how="left", suffix="_m")


def _distinct(frame: pl.DataFrame, column: str) -> list[str]:
    return sorted(set(frame[column].to_list()))


def _load(
    lake: Lake,
    spec: TableSpec,
    group: list[str],
    deliveries: list[str],
    samples: pl.DataFrame,
) -> pl.DataFrame:
    """One scan: the rows of these deliveries' QC-passed samples in these chunks."""
    ids = samples["participant_id"].implode()
    return (
        lake.scan(spec)
        .filter(
            pl.col("chunk").is_in(group)
            & pl.col("delivery").is_in(deliveries)
            & pl.col("participant_id").is_in(ids)
        )
        .collect()
    )


def load_sample_rows(
    lake: Lake,
    spec: TableSpec,
    group: list[str],
    deliveries: list[str],
    samples: pl.DataFrame,
) -> pl.DataFrame:
    """:func:`_load` for callers outside joint calling (a release joint-calls its cohort
    with it); joint calling itself calls ``_load`` (the benchmarks time that name)."""
    return _load(lake, spec, group, deliveries, samples)


def pending_deliveries(lake: Lake) -> list[str]:
    """QC-passed deliveries that no whole-genome joint-calling run has folded in yet."""
    delivered = set(passed_samples(lake)["delivery"].to_list())
    return sorted(delivered - set(genome_done(lake)))
