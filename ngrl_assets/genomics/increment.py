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

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from ngrl_assets.genomics import chunks, site_qc
from ngrl_assets.genomics.genotyper import genotype_sparse
from ngrl_assets.genomics.joint import (
    BLOCKS_SCHEMA,
    CALLS_SCHEMA,
    SAMPLES_SCHEMA,
    SITES_SCHEMA,
    discover_all,
)
from ngrl_assets.genomics.schemas import SITE_KEY


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
class IncrementResult:
    sites: pl.DataFrame  # every site of the chunks: chunk + SITES_SCHEMA + aggregates
    genotypes: pl.DataFrame  # sparse GENOTYPE_EVAL rows this increment adds, with chunk
    new_sites: int


def site_state_schema() -> dict[str, pl.DataType]:
    return {
        **SITES_SCHEMA,
        **{k: v for k, v in site_qc.AGGREGATE_SCHEMA.items() if k not in SITES_SCHEMA},
    }


def joint_call_increment(
    chunk_names: list[str],
    existing: pl.DataFrame,
    batch: Cohort,
    old_at: Callable[[pl.DataFrame], Cohort],
    min_dp: int = 1,
) -> IncrementResult:
    """Add ``batch`` to the named chunks, whose current state is ``existing`` (``chunk`` +
    sites + aggregates). ``old_at(new_sites)`` returns the already joint-called samples'
    data overlapping the new sites (an empty cohort when there are none). Sites and
    genotype rows in the result carry their ``chunk``."""
    known = existing.select(["chunk", *SITES_SCHEMA])
    discovered = chunks.assign(discover_all(batch.calls), "pos", "pos", clip=False)
    discovered = discovered.filter(pl.col("chunk").is_in(chunk_names))
    new_sites = discovered.join(known, on=SITE_KEY, how="anti").select(["chunk", *SITES_SCHEMA])
    sites = pl.concat([known, new_sites]).sort(["contig", "pos", "ref", "alt"])

    evals = [genotype_sparse(sites, batch.samples, batch.calls, batch.blocks, min_dp)]
    if new_sites.height:
        old = old_at(new_sites)
        if old.samples.height:
            evals.append(genotype_sparse(new_sites, old.samples, old.calls, old.blocks, min_dp))

    aggregates = existing.select([c for c in existing.columns if c not in ("end", "chunk")])
    for result in evals:
        aggregates = site_qc.merge(aggregates, result.aggregates)
    state = sites.join(aggregates, on=SITE_KEY, how="left").sort(["contig", "pos", "ref", "alt"])
    site_chunk = sites.select([*SITE_KEY, "chunk"])
    genotypes = pl.concat([r.sparse for r in evals]).join(site_chunk, on=SITE_KEY, how="left")
    return IncrementResult(sites=state, genotypes=genotypes, new_sites=new_sites.height)
