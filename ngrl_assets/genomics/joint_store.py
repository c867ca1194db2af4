"""Joint calling against the lake: which deliveries each chunk still has to absorb, loading
their per-sample tables, and writing the chunk's new state. Idempotent per increment.

An increment is the set of deliveries (their QC-passed samples) a chunk absorbs in one go;
its id is a hash of the sorted delivery ids. Writes go genotypes and batch shares (tile by
tile, in bounded commits, as they are computed) -> variant_sites -> joint_call_increments;
the last one is the commit marker. ``variant_sites.increment``
names the latest increment folded into a chunk's aggregates, so a run that died between
the last two writes is detected and completed instead of double-counting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import polars as pl
from tqdm import tqdm

from ngrl_assets.genomics import chunks, site_qc
from ngrl_assets.genomics.increment import (
    Cohort,
    LazyCohort,
    TileRows,
    joint_call_increment,
    site_state_schema,
)
from ngrl_assets.genomics.joint import BLOCKS_SCHEMA, CALLS_SCHEMA, SITES_SCHEMA, discover_all
from ngrl_assets.genomics.schemas import SITE_KEY
from ngrl_assets.genomics.tables import (
    JOINT_CALL_INCREMENTS,
    JOINT_GENOTYPES,
    JOINT_INCREMENTS_SCHEMA,
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    SITE_BATCH_AGGREGATES,
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
    increment: str = ""  # the run's increment (hash of its deliveries)
    deliveries: tuple[str, ...] = ()

    @classmethod
    def combine(cls, parts: list[JointCallSummary]) -> JointCallSummary:
        """The run's summary from its units' (every unit holds the run's deliveries)."""
        total = cls()
        for part in parts:
            for name in _COUNTS:
                setattr(total, name, getattr(total, name) + getattr(part, name))
            total.samples_added = max(total.samples_added, part.samples_added)
            total.increment, total.deliveries = part.increment, part.deliveries
        return total


_COUNTS = (
    "chunks_considered",
    "chunks_computed",
    "chunks_absorbed_only",
    "new_sites",
    "sites_total",
    "genotype_rows_added",
)


def passed_samples(lake: Lake) -> pl.DataFrame:
    """QC-passed samples: participant_id, delivery, sex, sample_batch."""
    return (
        lake.scan(RAW_SEQUENCES)
        .filter(pl.col("qc_verdict") == QcVerdict.PASS)
        .select("participant_id", "delivery", pl.col("inferred_sex").alias("sex"), "sample_batch")
        .collect()
    )


def _old_cohort(
    lake: Lake, samples: pl.DataFrame, deliveries: list[str], new_sites: pl.DataFrame
) -> LazyCohort:
    """Already joint-called samples' calls and blocks overlapping the new sites, read one
    sample batch at a time (what is held is one batch's rows, not the library's)."""
    spans = _spanned_chunks(new_sites)
    members = samples.select("participant_id", "sex", "sample_batch")

    def load(batch: pl.DataFrame) -> Cohort:
        calls, blocks = _rows_in_spans(lake, spans, deliveries, batch)
        return Cohort(batch, calls, blocks)

    if samples.height == 0 or not deliveries:
        members = members.clear()
    return LazyCohort(members, pl.DataFrame(schema=SITES_SCHEMA), load)


def _rows_in_spans(
    lake: Lake, spans: pl.DataFrame, deliveries: list[str], samples: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The samples' calls and blocks overlapping [lo, hi] of each chunk of ``spans``
    (filtered in the scan: only the overlapping rows are held)."""
    group = sorted(set(spans["chunk"].to_list()))
    calls = _load(lake, SAMPLE_VARIANT_CALLS, group, deliveries, samples, spans, "pos")
    blocks = _load(lake, SAMPLE_REFERENCE_BLOCKS, group, deliveries, samples, spans, "start")
    return calls.select(list(CALLS_SCHEMA)), blocks.select(list(BLOCKS_SCHEMA))


CHUNK_GROUP = 64  # chunks whose pending per-sample rows are read in one scan


@dataclass(frozen=True)
class JointCallUnit:
    """One step's work: bring these chunks up to date with these deliveries (the run's
    QC-passed deliveries, fixed when the run is planned). Holds no participant id."""

    chunks: tuple[str, ...]
    deliveries: tuple[str, ...]


def all_chunk_names() -> list[str]:
    return [c.name for c in chunks.genome_chunks()]


def plan(lake: Lake, unit_chunks: int = CHUNK_GROUP) -> list[JointCallUnit]:
    """The run's work units: the chunks that have not absorbed every QC-passed delivery,
    in genome order, ``unit_chunks`` at a time. Always at least one unit (possibly
    without chunks), so the run's commit step runs and records the genome marker."""
    deliveries = tuple(sorted(set(passed_samples(lake)["delivery"].to_list())))
    names = all_chunk_names()
    absorbed = _absorbed(lake, names)
    todo = [n for n in names if set(deliveries) - absorbed.get(n, set())]
    units = [
        JointCallUnit(tuple(todo[i : i + unit_chunks]), deliveries)
        for i in range(0, len(todo), unit_chunks)
    ]
    return units or [JointCallUnit((), deliveries)]


def _absorbed(lake: Lake, names: list[str]) -> dict[str, set[str]]:
    absorbed: dict[str, set[str]] = {}
    wanted = pl.Series(names, dtype=pl.String).implode()
    markers = lake.scan(JOINT_CALL_INCREMENTS).filter(pl.col("chunk").is_in(wanted))
    for chunk_name, delivery in markers.select("chunk", "delivery").collect().iter_rows():
        absorbed.setdefault(chunk_name, set()).add(delivery)
    return absorbed


def joint_call_unit(lake: Lake, unit: JointCallUnit, min_dp: int = 1) -> JointCallSummary:
    """One work unit: its chunks, the run's deliveries."""
    summary = joint_call_chunks(lake, list(unit.chunks), min_dp, deliveries=unit.deliveries)
    summary.deliveries = unit.deliveries
    return summary


def commit(lake: Lake, summary: JointCallSummary, now: dt.datetime | None = None) -> None:
    """Every unit of a whole-genome run succeeded: its deliveries are folded into every
    chunk (the genome marker the sensor and the release gate read)."""
    now = now or dt.datetime.now(dt.UTC)
    done = set(genome_done(lake))
    samples = passed_samples(lake).filter(pl.col("delivery").is_in(list(summary.deliveries)))
    counts = samples.group_by("delivery").len().sort("delivery").rows()
    markers = [_marker(GENOME, summary.increment, d, n, now) for d, n in counts if d not in done]
    if markers:
        frame = pl.DataFrame(markers, schema=JOINT_INCREMENTS_SCHEMA)
        where = {"chunk": [GENOME], "increment": [summary.increment]}
        lake.replace(JOINT_CALL_INCREMENTS, frame, where=where)


def _chunks_with_calls(
    lake: Lake, group: list[str], deliveries: list[str], samples: pl.DataFrame
) -> set[str]:
    """The chunks of ``group`` where these samples have a variant call."""
    ids = samples["participant_id"].implode()
    rows = lake.scan(SAMPLE_VARIANT_CALLS).filter(
        pl.col("chunk").is_in(group)
        & pl.col("delivery").is_in(deliveries)
        & pl.col("participant_id").is_in(ids)
    )
    return set(rows.select("chunk").unique().collect()["chunk"].to_list())


def _carried(
    lake: Lake, group: list[str], deliveries: list[str], samples: pl.DataFrame
) -> pl.DataFrame:
    """The alleles these samples carry in ``group`` (``joint.discover_all`` read from the
    lake without holding their rows)."""
    ids = samples["participant_id"].implode()
    rows = lake.scan(SAMPLE_VARIANT_CALLS).filter(
        pl.col("chunk").is_in(group)
        & pl.col("delivery").is_in(deliveries)
        & pl.col("participant_id").is_in(ids)
        & ((pl.col("a1") == 1) | (pl.col("a2") == 1))
    )
    # distinct inside the scan: what is held is the census of alleles, not the calls
    carried = rows.select([*SITES_SCHEMA, "a1", "a2"]).unique(subset=[*SITES_SCHEMA]).collect()
    return discover_all(carried)


def _beyond(
    lake: Lake, group: list[str], deliveries: list[str], sites: pl.DataFrame, samples: pl.DataFrame
) -> Cohort:
    """``rows_beyond`` for one sample batch (the increment's ``beyond``)."""
    return rows_beyond(lake, sites, group, deliveries, samples)


def _batch_rows(
    lake: Lake, group: list[str], deliveries: list[str], members: pl.DataFrame
) -> Cohort:
    """One sample batch's calls and blocks in ``group`` (a LazyCohort's loader)."""
    calls = _load(lake, SAMPLE_VARIANT_CALLS, group, deliveries, members)
    blocks = _load(lake, SAMPLE_REFERENCE_BLOCKS, group, deliveries, members)
    return Cohort(
        members.select("participant_id", "sex", "sample_batch"),
        calls.select(list(CALLS_SCHEMA)),
        blocks.select(list(BLOCKS_SCHEMA)),
    )


def joint_call_chunks(
    lake: Lake,
    chunk_names: list[str],
    min_dp: int = 1,
    now: dt.datetime | None = None,
    deliveries: Iterable[str] | None = None,
) -> JointCallSummary:
    """Bring every named chunk up to date with the QC-passed deliveries (all of them, or
    those named)."""
    now = now or dt.datetime.now(dt.UTC)
    summary = JointCallSummary(chunks_considered=len(chunk_names))
    samples = passed_samples(lake)
    if deliveries is not None:
        samples = samples.filter(pl.col("delivery").is_in(list(deliveries)))
    deliveries = sorted(set(samples["delivery"].to_list()))
    summary.increment = increment_id(deliveries)
    wanted = pl.Series(chunk_names, dtype=pl.String).implode()
    absorbed = _absorbed(lake, chunk_names)
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
            has_data = set(group_state["chunk"].to_list()) | _chunks_with_calls(
                lake, group, list(batch_deliveries), batch_samples
            )
            summary.chunks_absorbed_only += len(set(group) - has_data)
            group = [n for n in group if n in has_data]
            if not group:
                continue
            batch = LazyCohort(
                batch_samples.select("participant_id", "sex", "sample_batch"),
                _carried(lake, group, list(batch_deliveries), batch_samples),
                partial(_batch_rows, lake, group, list(batch_deliveries)),
            )
            beyond = partial(_beyond, lake, group, list(batch_deliveries))
            old_at = partial(_old_cohort, lake, old_samples, old)
            existing = group_state.select(["chunk", *site_state_schema()])
            sink = partial(_write_tiles, lake, group, inc)
            result = joint_call_increment(group, existing, batch, old_at, min_dp, beyond, sink)
            out.add(inc, result)
            stateful |= set(result.sites["chunk"].to_list())
            summary.chunks_computed += len(group)
            summary.new_sites += result.new_sites
            summary.sites_total += result.sites.height
            summary.genotype_rows_added += result.genotype_rows
        # only chunks with sites remember their samples; a chunk without sites has no state
        for name in sorted(stateful):
            out.markers += [_marker(name, inc, d, n, now) for d, n in counts]
    out.write(lake, todo)
    return summary


def run_whole_genome(
    lake: Lake, min_dp: int = 1, unit_chunks: int = CHUNK_GROUP
) -> JointCallSummary:
    """Plan, every unit one after the other, commit: what one Dagster run does, in one
    process (``ngrl joint-call`` and the benchmarks' single-process side)."""
    units = plan(lake, unit_chunks)
    summary = JointCallSummary.combine([joint_call_unit(lake, u, min_dp) for u in units])
    commit(lake, summary)
    return summary


def rows_beyond(
    lake: Lake,
    sites: pl.DataFrame,
    group: list[str],
    deliveries: list[str],
    samples: pl.DataFrame,
) -> Cohort:
    """The samples' calls and blocks in chunks outside ``group`` that the REF span of a
    site reaches (a deletion near a chunk's end crosses into the next chunk: without the
    next chunk's blocks its non-carriers would be partial-data no-calls)."""
    spans = _spanned_chunks(sites)
    extra = sorted(set(spans["chunk"].to_list()) - set(group))
    if not extra:
        return Cohort.empty()
    bounds = spans.filter(pl.col("chunk").is_in(extra))
    calls, blocks = _rows_in_spans(lake, bounds, deliveries, samples)
    return Cohort(samples.select("participant_id", "sex").clear(), calls, blocks)


def _spanned_chunks(sites: pl.DataFrame) -> pl.DataFrame:
    """Per chunk that some site's REF span [pos, end] overlaps: the lowest and highest
    base of those spans (``chunk``, ``lo``, ``hi``)."""
    spans = chunks.assign(sites.select("contig", "pos", "end"), "pos", "end", clip=True)
    return spans.group_by("chunk").agg(
        pl.col("pos").min().alias("lo"), pl.col("end").max().alias("hi")
    )


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


GENOTYPE_ROWS_PER_COMMIT = 2_000_000  # about 350 MB of genotype rows held before a commit
SHARE_ROWS_PER_COMMIT = 250_000  # batch-share rows (~1 kB each with their histograms)


class _Parts:
    """One table's rows of one increment in one chunk group, committed in parts of about
    ``limit`` rows: the first commit replaces the rows an earlier attempt of the increment
    wrote in the group (idempotent), the others append."""

    def __init__(self, lake: Lake, spec: TableSpec, group: list[str], inc: str, limit: int):
        self.lake, self.spec, self.limit = lake, spec, limit
        self.where = {"chunk": group, "increment": [inc]}
        self.tag = pl.lit(inc).alias("increment")
        self.held: list[pl.DataFrame] = []
        self.rows = 0  # rows held
        self.replaced = False

    def add(self, frame: pl.DataFrame) -> None:
        self.held.append(frame.with_columns(self.tag).select(list(self.spec.schema)))
        self.rows += frame.height
        if self.rows >= self.limit:
            self.commit()

    def commit(self) -> None:
        frame = pl.concat(self.held) if self.held else self.spec.empty()
        if not self.replaced:
            self.lake.replace(self.spec, frame, where=self.where)
            self.replaced = True
        elif frame.height:
            self.lake.append(self.spec, frame)
        self.held.clear()
        self.rows = 0

    def close(self) -> None:
        if self.held or not self.replaced:
            self.commit()


def _write_tiles(lake: Lake, group: list[str], inc: str, tiles: Iterator[TileRows]) -> None:
    """Write one increment's genotype rows and batch shares in ``group`` as the tiles are
    computed. delta-rs holds every row of a commit until it commits (a stream included),
    so each table's rows go in commits of a bounded size (whole tiles; ``_Parts``): what is
    held is one commit's rows or one tile, not the group's. ``variant_sites``, written
    after, is what says the increment is folded in."""
    genotypes = _Parts(lake, JOINT_GENOTYPES, group, inc, GENOTYPE_ROWS_PER_COMMIT)
    shares = _Parts(lake, SITE_BATCH_AGGREGATES, group, inc, SHARE_ROWS_PER_COMMIT)
    for tile in tiles:
        genotypes.add(tile.genotypes)
        if tile.share is not None:
            shares.add(tile.share)
    genotypes.close()
    shares.close()


class _Outputs:
    """What one run writes after its tiles, collected across chunks and committed at the
    end: sites, then markers."""

    def __init__(self) -> None:
        self.sites: list[pl.DataFrame] = []
        self.markers: list[dict[str, Any]] = []

    def add(self, inc: str, result: Any) -> None:
        tag = [pl.lit(inc).alias("increment")]
        sites = with_site_qc(result.sites)
        self.sites.append(sites.with_columns(tag).select(list(VARIANT_SITES.schema)))

    def write(self, lake: Lake, todo: list[str]) -> None:
        """variant_sites -> increments (the commit marker), each idempotent: a re-run
        replaces exactly the rows an earlier attempt of the same increment wrote. The
        genotypes and batch shares were written before (``_write_tiles``)."""
        if not todo and not self.markers:
            return
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


def batch_totals_mismatched(lake: Lake, chunk_names: list[str]) -> tuple[int, int]:
    """(sites checked, sites whose ``variant_sites`` aggregates differ from the sum of their
    ``site_batch_aggregates`` rows, or have only one of the two) in these chunks."""
    wanted = pl.Series(chunk_names, dtype=pl.String).implode()
    aggregate_columns = list(site_qc.AGGREGATE_SCHEMA)
    sites = (
        lake.scan(VARIANT_SITES)
        .filter(pl.col("chunk").is_in(wanted))
        .select(aggregate_columns)
        .collect()
    )
    rows = (
        lake.scan(SITE_BATCH_AGGREGATES)
        .filter(pl.col("chunk").is_in(wanted))
        .select(aggregate_columns)
        .collect()
    )
    summed = site_qc.total(rows, by=[]) if rows.height else rows
    stored = sites.cast(pl.Schema(site_qc.AGGREGATE_SCHEMA)).sort(SITE_KEY)
    joined = stored.join(summed, on=SITE_KEY, how="full", coalesce=True, suffix="_sum")
    differs = pl.any_horizontal(
        *[pl.col(c).ne_missing(pl.col(f"{c}_sum")) for c in aggregate_columns if c not in SITE_KEY]
    )
    return sites.height, joined.filter(differs).height


def _distinct(frame: pl.DataFrame, column: str) -> list[str]:
    return sorted(set(frame[column].to_list()))


def _load(
    lake: Lake,
    spec: TableSpec,
    group: list[str],
    deliveries: list[str],
    samples: pl.DataFrame,
    spans: pl.DataFrame | None = None,
    first: str = "pos",
) -> pl.DataFrame:
    """One scan: the rows of these deliveries' QC-passed samples in these chunks; with
    ``spans`` (chunk, lo, hi) only rows whose [``first``, end] overlaps their chunk's span."""
    ids = samples["participant_id"].implode()
    rows = lake.scan(spec).filter(
        pl.col("chunk").is_in(group)
        & pl.col("delivery").is_in(deliveries)
        & pl.col("participant_id").is_in(ids)
    )
    if spans is not None:
        rows = (
            rows.join(spans.lazy(), on="chunk")
            .filter((pl.col(first) <= pl.col("hi")) & (pl.col("end") >= pl.col("lo")))
            .drop("lo", "hi")
        )
    return rows.collect()


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
