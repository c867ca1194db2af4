"""A release's genomic tables, recomputed over the released cohort only.

The released genomes are joint-called again, alone, from their per-sample tables
(``sample_variant_calls`` / ``sample_reference_blocks``, read by chunk group with the
released participants and their deliveries pushed down, exactly as joint calling reads
them) through the same pure genotyper (:func:`joint_call_increment` on an empty state).
So the release's ``variant_sites`` (AC/AN/AF, aggV2 site QC, FILTERs) and
``joint_genotypes`` equal what joint calling the released samples alone gives: sites
that no released sample carries are absent, and no withdrawn, ineligible or later
sample shifts a frequency. The same pass counts each sample's own calls for
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
from functools import partial
from pathlib import Path

import polars as pl
from tqdm import tqdm

from ngrl_assets.genomics import call_stats, chunks
from ngrl_assets.genomics.increment import Cohort, joint_call_increment, site_state_schema
from ngrl_assets.genomics.joint import BLOCKS_SCHEMA, CALLS_SCHEMA
from ngrl_assets.genomics.joint_store import (
    CHUNK_GROUP,
    load_sample_rows,
    passed_samples,
    rows_beyond,
    with_site_qc,
)
from ngrl_assets.genomics.tables import (
    RAW_SEQUENCES,
    ROW_GROUP_ROWS,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    QcVerdict,
)
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
        counts = _joint_call(lake, cohort, min_dp, spill, show)
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


def _joint_call(
    lake: Lake, cohort: pl.DataFrame, min_dp: int, spill: Path, show: bool
) -> list[pl.DataFrame]:
    """Joint-call the cohort alone over the whole genome, chunk group by chunk group as
    ``joint_call_chunks`` does on a lake holding only these samples; spill each chunk's
    release sites and pseudonymised genotypes. Returns per-group call counts."""
    names = chunks.chunk_names()
    starts = range(0, len(names), CHUNK_GROUP) if cohort.height else range(0)
    samples = cohort.select("participant_id", "delivery", "sex")
    deliveries = sorted(set(cohort["delivery"].to_list()))
    pseudonyms = cohort.select("participant_id", "participant_pseudonym")
    empty_state = pl.DataFrame(schema={"chunk": pl.String, **site_state_schema()})
    counts: list[pl.DataFrame] = []
    bar = tqdm(starts, desc="release joint calling", unit="chunk group", leave=False,
               disable=not show)  # fmt: skip
    for start in bar:
        group = names[start : start + CHUNK_GROUP]
        calls = load_sample_rows(lake, SAMPLE_VARIANT_CALLS, group, deliveries, samples)
        counts.append(call_counts(_in_own_chunk(calls)))
        has_data = set(calls["chunk"].to_list())
        group = [n for n in group if n in has_data]
        if not group:
            continue
        blocks = load_sample_rows(lake, SAMPLE_REFERENCE_BLOCKS, group, deliveries, samples)
        batch = Cohort(
            samples.select("participant_id", "sex"),
            calls.select(list(CALLS_SCHEMA)),
            blocks.select(list(BLOCKS_SCHEMA)),
        )
        beyond = partial(rows_beyond, lake, group=group, deliveries=deliveries, samples=samples)
        result = joint_call_increment(group, empty_state, batch, _nobody, min_dp, beyond)
        sites = with_site_qc(result.sites).select(list(RELEASE_VARIANT_SITES.schema))
        _spill(spill / RELEASE_VARIANT_SITES.name, sites, RELEASE_VARIANT_SITES)
        genotypes = pseudonymise(result.genotypes, pseudonyms)
        _spill(spill / RELEASE_JOINT_GENOTYPES.name, genotypes, RELEASE_JOINT_GENOTYPES)
    return counts


def _nobody(_new_sites: pl.DataFrame) -> Cohort:
    """No sample was joint-called before: the release joint-calls its cohort from scratch."""
    return Cohort.empty()


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
