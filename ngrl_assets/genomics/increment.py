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


@dataclass
class TileRows:
    """What one tile adds to storage: its genotype rows (with ``chunk`` and
    ``sample_batch``) and its sample batch's share of the site aggregates (``chunk``,
    ``sample_batch``, aggregates; None when the share waits for a later tile of the same
    batch, see ``joint_call_increment``)."""

    genotypes: pl.DataFrame
    share: pl.DataFrame | None


def joint_call_increment(
    chunk_names: list[str],
    existing: pl.DataFrame,
    batch: Cohort | LazyCohort,
    old_at: Callable[[pl.DataFrame], Cohort | LazyCohort],
    min_dp: int = 1,
    beyond: Callable[[pl.DataFrame, pl.DataFrame], Cohort] | None = None,
    sink: Callable[[Iterator[TileRows]], None] | None = None,
) -> IncrementResult:
    """Add ``batch`` to the named chunks, whose current state is ``existing`` (``chunk`` +
    sites + aggregates). ``old_at(new_sites)`` returns the already joint-called samples'
    data overlapping the new sites (an empty cohort when there are none; a lazy one is read
    batch by batch). Sites and genotype rows in the result carry their ``chunk``.
    ``beyond(sites, samples)`` returns those samples' calls and blocks outside the named
    chunks that the sites' REF spans reach (a deletion crossing into the next chunk), so
    that no sample is a partial-data no-call for lack of rows the chunk list did not load.

    ``sink``, when given, is called once with an iterator of ``TileRows``, one tile (sample
    batch) at a time, computed as it is consumed, and the result holds no genotype rows and
    no batch shares: what is held is one batch's rows and tile, and the running sum of the
    site aggregates (sites x ~1 kB), whatever the number of batches. A batch with both new
    samples and already joint-called ones (the open batch) gets two tiles; its share is
    sent once, summed, after the last tile. Without a sink, rows and shares are returned."""
    known = existing.select(["chunk", *SITES_SCHEMA])
    carried = discover_all(batch.calls) if isinstance(batch, Cohort) else batch.carried
    discovered = chunks.assign(carried, "pos", "pos", clip=False)
    discovered = discovered.filter(pl.col("chunk").is_in(chunk_names))
    new_sites = discovered.join(known, on=SITE_KEY, how="anti").select(["chunk", *SITES_SCHEMA])
    sites = pl.concat([known, new_sites]).sort(["contig", "pos", "ref", "alt"])
    site_chunk = sites.select([*SITE_KEY, "chunk"])
    old = old_at(new_sites) if new_sites.height else Cohort.empty()
    twice = _batch_numbers(batch) & _batch_numbers(old)

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
        for part in _batches_of(old):
            if part.samples.height:
                yield from genotype_tiles(new_sites, part, min_dp)

    total = existing.select([c for c in existing.columns if c not in ("end", "chunk")])
    held: dict[int, pl.DataFrame] = {}  # shares of batches with a tile still to come
    produced = 0

    def with_chunk(share: pl.DataFrame, number: int) -> pl.DataFrame:
        return share.join(site_chunk, on=SITE_KEY, how="left").select(
            pl.col("chunk"),
            pl.lit(number, dtype=pl.Int32).alias("sample_batch"),
            *site_qc.AGGREGATE_SCHEMA,
        )

    def rows() -> Iterator[TileRows]:
        nonlocal total, produced
        for tile in tiles():
            number = NO_BATCH if tile.batch is None else tile.batch
            total = site_qc.merge(total, tile.aggregates)
            out = tile.genotypes.join(site_chunk, on=SITE_KEY, how="left")
            produced += out.height
            if number in twice:
                earlier = held.get(number)
                held[number] = (
                    tile.aggregates if earlier is None else site_qc.merge(earlier, tile.aggregates)
                )
                yield TileRows(out, None)
            else:
                yield TileRows(out, with_chunk(tile.aggregates, number))
        for number, share in held.items():
            yield TileRows(_no_rows(), with_chunk(share, number))

    if sink is None:
        parts = list(rows())
        genotypes = pl.concat([p.genotypes for p in parts] or [_no_rows()])
        shares = [p.share for p in parts if p.share is not None]
    else:
        sink(rows())
        genotypes, shares = _no_rows(), []
    state = sites.join(total, on=SITE_KEY, how="left").sort(["contig", "pos", "ref", "alt"])
    return IncrementResult(
        sites=state,
        genotypes=genotypes,
        new_sites=new_sites.height,
        batch_aggregates=pl.concat(shares) if shares else _no_shares(),
        genotype_rows=produced,
    )


def _batch_numbers(cohort: Cohort | LazyCohort) -> set[int]:
    """The sample batches of a cohort's samples (``NO_BATCH`` for samples without one)."""
    if "sample_batch" not in cohort.samples.columns:
        return {NO_BATCH} if cohort.samples.height else set()
    return {NO_BATCH if b is None else b for b in cohort.samples["sample_batch"].to_list()}


def _no_shares() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"chunk": pl.String, "sample_batch": pl.Int32, **site_qc.AGGREGATE_SCHEMA}
    )


def _no_rows() -> pl.DataFrame:
    """An empty frame of the genotype rows' columns (GENOTYPE_EVAL + batch + chunk)."""
    return pl.DataFrame(
        schema={**GENOTYPE_EVAL_SCHEMA, "sample_batch": pl.Int32, "chunk": pl.String}
    )
