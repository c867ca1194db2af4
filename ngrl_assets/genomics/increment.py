"""Incremental joint calling of a group of chunks. Pure: frames in, frames out.

A chunk's state is its site list with per-site QC aggregates (mergeable counts and
histograms, see ``site_qc``) and its sparse genotype rows. Adding a batch of samples:

1. discover the batch's alleles; the ones not yet known are the chunk's new sites;
2. genotype the batch's samples at every site (known and new);
3. genotype the samples already joint-called at the new sites only, from their stored
   variant calls and reference blocks (no gVCF is read again);
4. merge the QC aggregates: known sites gain the batch's aggregates, new sites get the
   old samples' and the batch's.

Because a sample's genotype at a site depends only on that sample's own data, adding
batches one by one gives exactly the tables of joint-calling all of them at once
(tests prove it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import polars as pl

from ngrl_assets.genomics import chunks, site_qc
from ngrl_assets.genomics.batches import NO_BATCH
from ngrl_assets.genomics.genotyper import genotype_sparse
from ngrl_assets.genomics.joint import (
    BLOCKS_SCHEMA,
    CALLS_SCHEMA,
    SAMPLES_SCHEMA,
    SITES_SCHEMA,
    discover_all,
)
from ngrl_assets.genomics.schemas import GENOTYPE_EVAL_SCHEMA, SITE_KEY


@dataclass
class Cohort:
    """Samples with their variant calls and reference blocks for one chunk."""

    samples: pl.DataFrame  # SAMPLES_SCHEMA
    calls: pl.DataFrame  # CALLS_SCHEMA
    blocks: pl.DataFrame  # BLOCKS_SCHEMA

    @classmethod
    def empty(cls) -> Cohort:
        return cls(
            pl.DataFrame(schema=SAMPLES_SCHEMA),
            pl.DataFrame(schema=CALLS_SCHEMA),
            pl.DataFrame(schema=BLOCKS_SCHEMA),
        )


@dataclass
class LazyCohort:
    """An increment's samples whose calls and blocks are read one sample batch at a time,
    so that what is held is one batch's rows, not the increment's. ``carried``: the
    alleles the samples carry in the chunks (SITES_SCHEMA, distinct), for site discovery;
    ``load(samples)``: those samples' calls and blocks in the chunks."""

    samples: pl.DataFrame  # participant_id, sex, sample_batch
    carried: pl.DataFrame
    load: Callable[[pl.DataFrame], Cohort]


def _batches_of(cohort: Cohort | LazyCohort) -> Iterator[Cohort]:
    """A cohort whole (``genotype_tiles`` splits it), or a lazy one batch by batch."""
    if isinstance(cohort, Cohort):
        yield cohort
        return
    samples = cohort.samples
    if "sample_batch" not in samples.columns:
        samples = samples.with_columns(pl.lit(None, dtype=pl.Int32).alias("sample_batch"))
    for _, members in samples.partition_by(
        "sample_batch", as_dict=True, maintain_order=True
    ).items():
        yield cohort.load(members)


@dataclass
class Tile:
    """One sample batch genotyped at a set of sites: its sparse genotype rows (with
    ``sample_batch``) and its per-site QC aggregates."""

    batch: int | None
    genotypes: pl.DataFrame
    aggregates: pl.DataFrame


def genotype_tiles(sites: pl.DataFrame, cohort: Cohort, min_dp: int) -> Iterator[Tile]:
    """Genotype ``cohort`` at ``sites`` one sample batch at a time, so that what is held in
    memory is one batch x the sites, whatever the cohort's size. Samples without a
    ``sample_batch`` column (or with a null one) form one batch."""
    samples = cohort.samples
    if "sample_batch" not in samples.columns:
        samples = samples.with_columns(pl.lit(None, dtype=pl.Int32).alias("sample_batch"))
    batches = samples.partition_by("sample_batch", as_dict=True, maintain_order=True)
    for (number,), members in batches.items() or {(None,): samples}.items():
        ids = members["participant_id"].implode()
        result = genotype_sparse(
            sites,
            members.select(list(SAMPLES_SCHEMA)),
            cohort.calls.filter(pl.col("participant_id").is_in(ids)),
            cohort.blocks.filter(pl.col("participant_id").is_in(ids)),
            min_dp,
        )
        rows = result.sparse.with_columns(pl.lit(number, dtype=pl.Int32).alias("sample_batch"))
        yield Tile(number, rows, result.aggregates)


@dataclass
class IncrementResult:
    sites: pl.DataFrame  # every site of the chunks: chunk + SITES_SCHEMA + aggregates
    # sparse GENOTYPE_EVAL rows this increment adds, with chunk (empty when they went to
    # ``joint_call_increment``'s ``sink`` instead)
    genotypes: pl.DataFrame
    new_sites: int
    # what this increment added to each sample batch's aggregates: chunk, sample_batch and
    # the aggregate columns, one row per (batch, site) (BATCH_AGGREGATES_SCHEMA order)
    batch_aggregates: pl.DataFrame
    genotype_rows: int = 0  # rows produced (held in ``genotypes`` or sent to the sink)


def site_state_schema() -> dict[str, pl.DataType]:
    return {
        **SITES_SCHEMA,
        **{k: v for k, v in site_qc.AGGREGATE_SCHEMA.items() if k not in SITES_SCHEMA},
    }


def joint_call_increment(
    chunk_names: list[str],
    existing: pl.DataFrame,
    batch: Cohort | LazyCohort,
    old_at: Callable[[pl.DataFrame], Cohort | LazyCohort],
    min_dp: int = 1,
    beyond: Callable[[pl.DataFrame, pl.DataFrame], Cohort] | None = None,
    sink: Callable[[Iterator[pl.DataFrame]], None] | None = None,
) -> IncrementResult:
    """Add ``batch`` to the named chunks, whose current state is ``existing`` (``chunk`` +
    sites + aggregates). ``old_at(new_sites)`` returns the already joint-called samples'
    data overlapping the new sites (an empty cohort when there are none; a lazy one is read
    batch by batch). Sites and genotype rows in the result carry their ``chunk``.
    ``beyond(sites, samples)`` returns those samples' calls and blocks outside the named
    chunks that the sites' REF spans reach (a deletion crossing into the next chunk), so
    that no sample is a partial-data no-call for lack of rows the chunk list did not load.

    ``sink``, when given, is called once with an iterator of the genotype rows, one tile
    (sample batch) at a time, computed as it is consumed: what is held is then one batch's
    rows and every batch's site aggregates, whatever the cohort's size (the store streams
    the tiles into one Delta commit). Without it the rows are returned in ``genotypes``."""
    known = existing.select(["chunk", *SITES_SCHEMA])
    carried = discover_all(batch.calls) if isinstance(batch, Cohort) else batch.carried
    discovered = chunks.assign(carried, "pos", "pos", clip=False)
    discovered = discovered.filter(pl.col("chunk").is_in(chunk_names))
    new_sites = discovered.join(known, on=SITE_KEY, how="anti").select(["chunk", *SITES_SCHEMA])
    sites = pl.concat([known, new_sites]).sort(["contig", "pos", "ref", "alt"])
    site_chunk = sites.select([*SITE_KEY, "chunk"])

    def tiles() -> Iterator[Tile]:
        for part in _batches_of(batch):
            if beyond is not None:
                extra = beyond(sites, part.samples)
                part = Cohort(
                    part.samples,
                    pl.concat([part.calls, extra.calls]),
                    pl.concat([part.blocks, extra.blocks]),
                )
            yield from genotype_tiles(sites, part, min_dp)
        if new_sites.height:
            for part in _batches_of(old_at(new_sites)):
                if part.samples.height:
                    yield from genotype_tiles(new_sites, part, min_dp)

    shares: list[pl.DataFrame] = []
    produced = [0]

    def rows() -> Iterator[pl.DataFrame]:
        for tile in tiles():
            number = NO_BATCH if tile.batch is None else tile.batch
            shares.append(
                tile.aggregates.with_columns(pl.lit(number, dtype=pl.Int32).alias("sample_batch"))
            )
            out = tile.genotypes.join(site_chunk, on=SITE_KEY, how="left")
            produced[0] += out.height
            yield out

    if sink is None:
        genotypes = pl.concat(list(rows()) or [_no_rows()])
    else:
        sink(rows())
        genotypes = _no_rows()

    aggregates = existing.select([c for c in existing.columns if c not in ("end", "chunk")])
    by_batch = site_qc.total(pl.concat(shares), by=["sample_batch"]) if shares else None
    if by_batch is not None:
        aggregates = site_qc.merge(aggregates, site_qc.total(by_batch.drop("sample_batch"), by=[]))
    state = sites.join(aggregates, on=SITE_KEY, how="left").sort(["contig", "pos", "ref", "alt"])
    batch_aggregates = (
        by_batch.join(site_chunk, on=SITE_KEY, how="left").select(
            ["chunk", "sample_batch", *site_qc.AGGREGATE_SCHEMA]
        )
        if by_batch is not None
        else pl.DataFrame(
            schema={"chunk": pl.String, "sample_batch": pl.Int32, **site_qc.AGGREGATE_SCHEMA}
        )
    )
    return IncrementResult(
        sites=state,
        genotypes=genotypes,
        new_sites=new_sites.height,
        batch_aggregates=batch_aggregates,
        genotype_rows=produced[0],
    )


def _no_rows() -> pl.DataFrame:
    """An empty frame of the genotype rows' columns (GENOTYPE_EVAL + batch + chunk)."""
    return pl.DataFrame(
        schema={**GENOTYPE_EVAL_SCHEMA, "sample_batch": pl.Int32, "chunk": pl.String}
    )
