"""A release's genomic tables: the library's joint-called tables projected onto the
released cohort, not a recompute.

A (site, sample) genotype depends only on that sample's own records and the site, and
every site aggregate is a sum over samples (``genomics.withdraw``). So, chunk group by
chunk group, the release keeps the released samples' rows of ``joint_genotypes`` (their
batches' tiles), keeps the library sites some released sample carries (the discovery
rule, read from the released samples' own calls, which their statistics read anyway),
and takes the site aggregates of the library less the contribution of the joint-called
samples it leaves out (genotyped from their own per-sample rows at the kept sites). The
result equals joint-calling the released samples alone (tests prove it on hand-made and
synthetic cohorts); its cost follows the released rows and the samples left out, never a
re-genotyping of the cohort. Every released sample must already be joint-called in the
library (a cut refuses otherwise). The same pass counts each sample's own calls for
``aggregate_gvcf_sample_stats``.

Internal participant ids never reach a release table: genotypes, cohorts and sample
statistics carry the release pseudonyms of ``samples``. Each table is written in one
commit (a whole-table overwrite, so a re-run of the same release converges to the same
content) as a stream of batches in the declaration's sort order, which the writer packs
into a few large files; per-chunk results wait in a local scratch folder (``TMPDIR``)
between the joint call and the writes. delta-rs keeps each streamed batch whole but not
the order of the batches (it spreads them over its write partitions), so batches are
coalesced up to ``BATCH_BYTES``: a table under that size is stored exactly in its sort
order; a larger one as sorted runs of that size, whatever their order in the files.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl
from tqdm import tqdm

from ngrl_assets.genomics import call_stats, chunks, site_qc
from ngrl_assets.genomics.batches import NO_BATCH
from ngrl_assets.genomics.increment import site_state_schema
from ngrl_assets.genomics.joint import BLOCKS_SCHEMA, CALLS_SCHEMA, SITES_SCHEMA
from ngrl_assets.genomics.joint_store import (
    CHUNK_GROUP,
    load_sample_rows,
    passed_samples,
    rows_beyond,
    with_site_qc,
)
from ngrl_assets.genomics.schemas import SITE_KEY
from ngrl_assets.genomics.tables import (
    JOINT_CALL_INCREMENTS,
    JOINT_GENOTYPES,
    RAW_SEQUENCES,
    ROW_GROUP_ROWS,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    SITE_BATCH_AGGREGATES,
    VARIANT_SITES,
    QcVerdict,
)
from ngrl_assets.genomics.withdraw import carried_sites, contribution, subtract
from ngrl_assets.releases.tables import (
    AGGREGATE_GVCF_SAMPLE_STATS,
    JOINT_CALL_COHORTS,
    RELEASE_JOINT_GENOTYPES,
    RELEASE_VARIANT_SITES,
)
from resources.lake import Lake
from resources.tables import TableSpec

SAMPLE_COLUMNS = ("participant_id", "participant_pseudonym", "sample_pseudonym")
PROVIDER_QC = ("mean_coverage", "pct_bases_15x", "contamination", "inferred_sex")
COUNT_COLUMNS = ("n_calls", "n_snv", "n_indel", "n_ti", "n_tv", "n_het", "n_hom_alt")
BATCH_BYTES = 256 * 1024 * 1024  # rows streamed to the writer per batch, in memory
GENOMIC_TABLES = (
    RELEASE_VARIANT_SITES,
    RELEASE_JOINT_GENOTYPES,
    JOINT_CALL_COHORTS,
    AGGREGATE_GVCF_SAMPLE_STATS,
)


def write_release_genomics(
    lake: Lake,
    release_id: str,
    samples: pl.DataFrame,
    min_dp: int = 1,
    progress: bool = False,
) -> dict[str, int]:
    """Write the release's ``variant_sites``, ``joint_genotypes``, ``joint_call_cohorts``
    and ``aggregate_gvcf_sample_stats`` for the released genomes in ``samples`` (one row
    per genome: internal ``participant_id``, ``participant_pseudonym``,
    ``sample_pseudonym``). Returns the rows written per release table name."""
    _check_samples(samples)
    cohort = released_cohort(lake, samples)
    show = progress and sys.stderr.isatty()
    with tempfile.TemporaryDirectory(prefix="ngrl-release-genomics-") as scratch:
        spill = Path(scratch)
        counts = _project(lake, cohort, min_dp, spill, show)
        written: dict[str, int] = {}
        for spec in (RELEASE_VARIANT_SITES, RELEASE_JOINT_GENOTYPES):
            batches = _spilled(spill / spec.name)
            written[spec.name] = _write(lake, release_id, spec, batches, show)
        with_sites = _spilled_chunks(spill / RELEASE_VARIANT_SITES.name)
        pseudonyms = sorted(cohort["participant_pseudonym"].to_list())
        written[JOINT_CALL_COHORTS.name] = _write(
            lake, release_id, JOINT_CALL_COHORTS, _cohorts(with_sites, pseudonyms), show
        )
    stats = sample_stats_table(lake, cohort, counts)
    lake.overwrite(release_spec(AGGREGATE_GVCF_SAMPLE_STATS, release_id), stats)
    written[AGGREGATE_GVCF_SAMPLE_STATS.name] = stats.height
    return written


def release_spec(spec: TableSpec, release_id: str) -> TableSpec:
    """A release's copy of a genomic release table. Written in row groups of
    ``ROW_GROUP_ROWS`` (as the curated genomic tables are) unless the declaration sets
    its own size: region and carrier queries then skip most of a large file."""
    spec = spec.in_folder(release_id)
    if spec.row_group_rows is None:
        spec = dataclasses.replace(spec, row_group_rows=ROW_GROUP_ROWS)
    return spec


def _check_samples(samples: pl.DataFrame) -> None:
    """Counts only in the messages: never an id or a pseudonym."""
    missing = [c for c in SAMPLE_COLUMNS if c not in samples.columns]
    if missing:
        raise ValueError(f"released samples lack columns {missing}")
    for column in SAMPLE_COLUMNS:
        nulls = samples[column].null_count()
        if nulls:
            raise ValueError(f"released samples: {nulls} null value(s) in {column}")
        repeated = samples.height - samples[column].n_unique()
        if repeated:
            raise ValueError(f"released samples: {repeated} repeated value(s) in {column}")


def released_cohort(lake: Lake, samples: pl.DataFrame) -> pl.DataFrame:
    """The released genomes as joint calling knows them: participant_id, delivery, sex
    (as ``passed_samples``) with their pseudonyms. Each must have one QC-passed sample."""
    chosen = samples.select(pl.col(c).cast(pl.String) for c in SAMPLE_COLUMNS)
    cohort = passed_samples(lake).join(chosen, on="participant_id", how="inner")
    if cohort.height != chosen.height or cohort["participant_id"].n_unique() != chosen.height:
        lacking = chosen.height - cohort["participant_id"].n_unique()
        extra = cohort.height - cohort["participant_id"].n_unique()
        raise ValueError(
            f"released samples: {lacking} without a QC-passed sample in raw_sequences, "
            f"{extra} with more than one"
        )
    return cohort.sort("participant_pseudonym")


def _project(
    lake: Lake, cohort: pl.DataFrame, min_dp: int, spill: Path, show: bool
) -> list[pl.DataFrame]:
    """The library's joint-called tables projected onto the cohort, chunk group by chunk
    group; spill each chunk's release sites and pseudonymised genotypes. Returns per-group
    call counts of the released samples (for their statistics)."""
    names = chunks.chunk_names()
    starts = range(0, len(names), CHUNK_GROUP) if cohort.height else range(0)
    samples = cohort.select("participant_id", "delivery", "sex")
    deliveries = sorted(set(cohort["delivery"].to_list()))
    pseudonyms = cohort.select("participant_id", "participant_pseudonym")
    library = passed_samples(lake)
    counts: list[pl.DataFrame] = []
    bar = tqdm(starts, desc="release projection", unit="chunk group", leave=False,
               disable=not show)  # fmt: skip
    for start in bar:
        group = names[start : start + CHUNK_GROUP]
        calls = load_sample_rows(lake, SAMPLE_VARIANT_CALLS, group, deliveries, samples)
        counts.append(call_counts(_in_own_chunk(calls)))
        state = _library_state(lake, group)
        if state.height == 0:
            continue
        for members, part in _by_cohort(lake, state, library).items():
            _require_joint_called(cohort, members)
            kept = part.join(carried_sites(calls), on=SITE_KEY, how="semi")
            others = library.filter(
                pl.col("delivery").is_in(list(members))
                & ~pl.col("participant_id").is_in(cohort["participant_id"].implode())
            )
            released = _without(lake, kept, others, min_dp, released_batches(cohort))
            sites = with_site_qc(released).select(list(RELEASE_VARIANT_SITES.schema))
            _spill(spill / RELEASE_VARIANT_SITES.name, sites, RELEASE_VARIANT_SITES)
            genotypes = _released_rows(lake, kept, cohort)
            genotypes = pseudonymise(genotypes, pseudonyms)
            _spill(spill / RELEASE_JOINT_GENOTYPES.name, genotypes, RELEASE_JOINT_GENOTYPES)
    return counts


def _library_state(lake: Lake, group: list[str]) -> pl.DataFrame:
    """The library's sites (with their aggregates) in these chunks."""
    wanted = pl.Series(group, dtype=pl.String).implode()
    state = lake.scan(VARIANT_SITES).filter(pl.col("chunk").is_in(wanted)).collect()
    return state.select(["chunk", *site_state_schema()])


def _by_cohort(
    lake: Lake, state: pl.DataFrame, library: pl.DataFrame
) -> dict[tuple[str, ...], pl.DataFrame]:
    """The state's chunks grouped by the deliveries each has absorbed (the joint-call
    increments' markers): the library cohort a chunk's aggregates sum over."""
    chunk_names = sorted(set(state["chunk"].to_list()))
    wanted = pl.Series(chunk_names, dtype=pl.String).implode()
    markers = (
        lake.scan(JOINT_CALL_INCREMENTS)
        .filter(pl.col("chunk").is_in(wanted))
        .select("chunk", "delivery")
        .collect()
    )
    known = set(library["delivery"].to_list())
    absorbed: dict[str, set[str]] = {}
    for chunk_name, delivery in markers.iter_rows():
        if delivery in known:  # a delivery whose every sample was erased has no samples
            absorbed.setdefault(chunk_name, set()).add(delivery)
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in chunk_names:
        groups.setdefault(tuple(sorted(absorbed.get(name, set()))), []).append(name)
    return {d: state.filter(pl.col("chunk").is_in(n)) for d, n in groups.items()}


def _require_joint_called(cohort: pl.DataFrame, absorbed: tuple[str, ...]) -> None:
    """Every released sample must be in the library's joint call of the chunk."""
    missing = cohort.filter(~pl.col("delivery").is_in(list(absorbed))).height
    if missing:
        raise ValueError(
            f"{missing} released sample(s) not yet joint-called in the library: "
            "joint calling must absorb their deliveries before a cut"
        )


def released_batches(cohort: pl.DataFrame) -> list[int]:
    """The sample batches with at least one released sample (NO_BATCH for none)."""
    if "sample_batch" not in cohort.columns:
        return [NO_BATCH]
    return sorted(set(cohort["sample_batch"].fill_null(NO_BATCH).to_list()))


def _without(
    lake: Lake, sites: pl.DataFrame, others: pl.DataFrame, min_dp: int, batches: list[int]
) -> pl.DataFrame:
    """The library's site state (chunk, site, aggregates) less the contribution of the
    joint-called samples the release leaves out. Sample batches without a released sample
    are left out whole: the state is the sum of the released ``batches``' shares
    (``site_batch_aggregates``), and only the left-out samples of those batches are
    genotyped from their own rows at these sites, as joint calling genotyped them, and
    subtracted (``genomics.withdraw``). A library without per-batch rows for every site
    (built before they were stored) subtracts every left-out sample instead."""
    if sites.height == 0 or others.height == 0:
        return sites
    in_kept = pl.col("sample_batch").fill_null(NO_BATCH).is_in(batches)
    if "sample_batch" in others.columns and others.filter(~in_kept).height:
        shares = _batch_shares(lake, sites, batches)
        if shares is not None:
            sites, others = shares, others.filter(in_kept)
            if others.height == 0:
                return sites
    group = sorted(set(sites["chunk"].to_list()))
    who = others.select("participant_id", "delivery", "sex")
    out_deliveries = sorted(set(who["delivery"].to_list()))
    calls = load_sample_rows(lake, SAMPLE_VARIANT_CALLS, group, out_deliveries, who)
    blocks = load_sample_rows(lake, SAMPLE_REFERENCE_BLOCKS, group, out_deliveries, who)
    beyond = rows_beyond(lake, sites, group, out_deliveries, who)
    part = contribution(
        sites.select(list(SITES_SCHEMA)),
        who.select("participant_id", "sex"),
        pl.concat([calls.select(list(CALLS_SCHEMA)), beyond.calls]),
        pl.concat([blocks.select(list(BLOCKS_SCHEMA)), beyond.blocks]),
        min_dp,
    )
    return subtract(sites, part)


def _batch_shares(lake: Lake, sites: pl.DataFrame, batches: list[int]) -> pl.DataFrame | None:
    """``sites`` with their aggregates replaced by the sum of these batches' shares, or
    None when some site has no share stored (the caller then subtracts instead)."""
    group = pl.Series(sorted(set(sites["chunk"].to_list())), dtype=pl.String).implode()
    rows = (
        lake.scan(SITE_BATCH_AGGREGATES)
        .filter(pl.col("chunk").is_in(group) & pl.col("sample_batch").is_in(batches))
        .select(list(site_qc.AGGREGATE_SCHEMA))
        .collect()
    )
    summed = site_qc.total(rows.join(sites.select(SITE_KEY), on=SITE_KEY, how="semi"), by=[])
    if summed.height != sites.height:
        return None
    aggregate_columns = [c for c in site_qc.AGGREGATE_SCHEMA if c not in SITE_KEY]
    out = sites.drop(aggregate_columns).join(summed, on=SITE_KEY, how="left")
    return out.select(sites.columns)


def _released_rows(lake: Lake, sites: pl.DataFrame, cohort: pl.DataFrame) -> pl.DataFrame:
    """The released samples' genotype rows at the kept sites (their batches' tiles)."""
    group = pl.Series(sorted(set(sites["chunk"].to_list())), dtype=pl.String).implode()
    ids = cohort["participant_id"].implode()
    rows = (
        lake.scan(JOINT_GENOTYPES)
        .filter(pl.col("chunk").is_in(group) & pl.col("participant_id").is_in(ids))
        .collect()
    )
    return rows.join(sites.select(SITE_KEY), on=SITE_KEY, how="semi")


def pseudonymise(genotypes: pl.DataFrame, pseudonyms: pl.DataFrame) -> pl.DataFrame:
    """Joint-call genotype rows as release rows: the participant as its pseudonym."""
    out = genotypes.join(pseudonyms, on="participant_id", how="left")
    unmapped = out["participant_pseudonym"].null_count()
    if unmapped:
        raise ValueError(f"{unmapped} genotype row(s) of a participant outside the release")
    out = out.with_columns(pl.col("participant_pseudonym").alias("participant_id"))
    return out.select(list(RELEASE_JOINT_GENOTYPES.schema))


def _spill(folder: Path, frame: pl.DataFrame, spec: TableSpec) -> None:
    """One parquet file per chunk, rows in the declaration's sort order."""
    folder.mkdir(parents=True, exist_ok=True)
    for (chunk,), part in frame.partition_by("chunk", as_dict=True).items():
        part.sort(list(spec.sort_by)).write_parquet(folder / f"{chunk}.parquet")


def _spilled_chunks(folder: Path) -> list[str]:
    """Chunks spilled to ``folder``, in chunk-name order (the tables' first sort key)."""
    return sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []


def _spilled(folder: Path) -> Iterator[pl.DataFrame]:
    for name in _spilled_chunks(folder):
        yield pl.read_parquet(folder / f"{name}.parquet")


def _cohorts(chunk_names: list[str], pseudonyms: list[str]) -> Iterator[pl.DataFrame]:
    """Every chunk with a release site x every released participant (joint_call_cohorts):
    the cohort each chunk was joint-called over. A chunk without sites has no rows."""
    people = pl.Series("participant_id", pseudonyms, dtype=pl.String)
    for name in chunk_names:
        yield pl.DataFrame(
            {"chunk": pl.repeat(name, len(people), eager=True), "participant_id": people}
        )


def _write(
    lake: Lake,
    release_id: str,
    spec: TableSpec,
    batches: Iterable[pl.DataFrame],
    show: bool,
) -> int:
    """Stream ``batches`` into the release's copy of ``spec`` in one commit (the whole
    table replaced); the rows written."""
    rows = 0

    def counted() -> Iterator[pl.DataFrame]:
        nonlocal rows
        bar = tqdm(batches, desc=f"release {spec.name}", unit="chunk", leave=False,
                   disable=not show)  # fmt: skip
        for batch in bar:
            rows += batch.height
            yield batch

    lake.write_batches(release_spec(spec, release_id), coalesced(counted(), BATCH_BYTES))
    return rows


def coalesced(frames: Iterable[pl.DataFrame], budget: int) -> Iterator[pl.DataFrame]:
    """Consecutive frames concatenated into batches of about ``budget`` bytes (each one
    contiguous block, so the writer keeps it whole and in order)."""
    pending: list[pl.DataFrame] = []
    size = 0
    for frame in frames:
        pending.append(frame)
        size += int(frame.estimated_size())
        if size >= budget:
            yield pl.concat(pending).rechunk()
            pending, size = [], 0
    if pending:
        yield pl.concat(pending).rechunk()


# ---- per-sample statistics (aggregate_gvcf_sample_stats) -------------------------


def _in_own_chunk(calls: pl.DataFrame) -> pl.DataFrame:
    """Each call once: in the chunk holding its position (a call that crosses a chunk
    boundary is stored in every chunk it overlaps)."""
    plan = chunks.chunk_table().select("chunk", "chunk_start", "chunk_end")
    own = calls.join(plan, on="chunk", how="inner")
    return own.filter(pl.col("pos").is_between(pl.col("chunk_start"), pl.col("chunk_end")))


def call_counts(calls: pl.DataFrame) -> pl.DataFrame:
    """Per participant, over their own variant-call rows (``participant_id``, ``ref``,
    ``alt``, ``a1``, ``a2``): summable counts of the calls that carry the row's ALT
    (allele code 1), as :mod:`ngrl_assets.genomics.call_stats` defines them."""
    flags = {
        "n_calls": call_stats.CARRIES,
        "n_snv": call_stats.SNV,
        "n_indel": call_stats.INDEL,
        "n_ti": call_stats.TI,
        "n_tv": call_stats.TV,
        "n_het": call_stats.HET,
        "n_hom_alt": call_stats.HOM_ALT,
    }
    return (
        calls.filter(call_stats.CARRIES)
        .group_by("participant_id")
        .agg(flag.cast(pl.Int64).sum().alias(name) for name, flag in flags.items())
        .select("participant_id", *COUNT_COLUMNS)
        .cast({c: pl.Int64 for c in COUNT_COLUMNS})
    )


def call_statistics(counts: pl.DataFrame) -> pl.DataFrame:
    """Summed per-participant counts -> n_calls, n_snv, n_indel, ti_tv (null without a
    transversion), het_hom_ratio (null without a hom-alt call)."""
    return counts.select(
        "participant_id",
        "n_calls",
        "n_snv",
        "n_indel",
        call_stats.TI_TV.cast(pl.Float64).alias("ti_tv"),
        call_stats.HET_HOM_RATIO.cast(pl.Float64).alias("het_hom_ratio"),
    )


def sample_stats_table(
    lake: Lake, cohort: pl.DataFrame, counts: list[pl.DataFrame]
) -> pl.DataFrame:
    """aggregate_gvcf_sample_stats: provider QC from raw_sequences and statistics of each
    released sample's own calls, under the pseudonyms (a sample without calls has 0)."""
    empty = pl.DataFrame(
        schema={"participant_id": pl.String, **dict.fromkeys(COUNT_COLUMNS, pl.Int64)}
    )
    summed = (
        pl.concat([empty, *counts])
        .group_by("participant_id")
        .agg(pl.col(c).sum() for c in COUNT_COLUMNS)
    )
    everyone = cohort.select("participant_id").join(summed, on="participant_id", how="left")
    stats = call_statistics(everyone.with_columns(pl.col(c).fill_null(0) for c in COUNT_COLUMNS))
    ids = cohort["participant_id"].implode()
    qc = (
        lake.scan(RAW_SEQUENCES)
        .filter((pl.col("qc_verdict") == QcVerdict.PASS) & pl.col("participant_id").is_in(ids))
        .select("participant_id", "delivery", *PROVIDER_QC)
        .collect()
    )
    table = (
        cohort.join(qc, on=["participant_id", "delivery"], how="left")
        .join(stats, on="participant_id", how="left")
        .with_columns(
            pl.col("participant_pseudonym").alias("participant_id"),
            pl.col("sample_pseudonym").alias("sample_id"),
        )
    )
    return table.select(list(AGGREGATE_GVCF_SAMPLE_STATS.schema)).sort("participant_id")
