"""Bench-only, opt-in (``NGRL_BENCH_WORKAROUND=1``): an exact wrapper around
``ngrl_assets.genomics.joint._coverage`` that bounds its memory. NOT the repository's
code path: results measured with it are labelled "with workaround" in BENCHMARKS.md.

Why: ``_coverage`` matches sites to sample intervals with
``join_where(contig == iv_contig, iv_start <= end, iv_end >= pos)``. With an equality
predicate polars (2.1) hash-joins on ``contig`` and filters the inequalities afterwards,
so it materialises sites x intervals of every contig in the chunk group (no interval
join): 1.5k sites x 100k intervals per contig is 150M pairs. The 50-sample P1 input
reaches ~24 GB RSS and is OOM-killed. (Without the equality polars uses an IEJoin:
20k sites x 200k intervals in 0.03 s.) The proper fix belongs in joint.py (e.g. a
single IEJoin on a global coordinate ``contig_index * 2**32 + pos``); this wrapper only
lets the rest of the pipeline be measured meanwhile.

What it does: per contig, split the sites (sorted by position) into batches small enough
that ``batch sites x intervals overlapping the batch span`` stays under PAIRS, and call
the original ``_coverage`` on each batch with only the intervals overlapping its span.
A site's decision depends only on the intervals overlapping it (and on own_pairs of that
site), so the union of the batches equals the original result (``--verify`` checks it).
"""

from __future__ import annotations

import os

import polars as pl

from ngrl_assets.genomics import joint

PAIRS = 2_000_000
_ORIGINAL = joint._coverage


def batched_coverage(
    sites: pl.DataFrame,
    calls: pl.DataFrame,
    blocks: pl.DataFrame,
    own_pairs: pl.DataFrame,
    min_dp: int,
) -> pl.DataFrame:
    if sites.height == 0:
        return _ORIGINAL(sites, calls, blocks, own_pairs, min_dp)
    parts: list[pl.DataFrame] = []
    ordered = sites.sort("contig", "pos")
    for (contig,), on_contig in ordered.group_by("contig", maintain_order=True):
        c_calls = calls.filter(pl.col("contig") == contig)
        c_blocks = blocks.filter(pl.col("contig") == contig)
        todo = [on_contig]
        while todo:
            batch = todo.pop()
            lo, hi = batch["pos"].min(), batch["end"].max()
            b_calls = c_calls.filter((pl.col("pos") <= hi) & (pl.col("end") >= lo))
            b_blocks = c_blocks.filter((pl.col("start") <= hi) & (pl.col("end") >= lo))
            if batch.height > 1 and batch.height * (b_calls.height + b_blocks.height) > PAIRS:
                half = batch.height // 2
                todo += [batch.slice(half), batch.slice(0, half)]
                continue
            pairs = own_pairs.join(batch.select("sid"), on="sid", how="semi")
            parts.append(_ORIGINAL(batch, b_calls, b_blocks, pairs, min_dp))
    return pl.concat(parts, how="vertical_relaxed")


def install() -> bool:
    """Patch joint._coverage when NGRL_BENCH_WORKAROUND=1; returns whether it did."""
    if os.environ.get("NGRL_BENCH_WORKAROUND") == "1":
        joint._coverage = batched_coverage  # type: ignore[assignment]
        return True
    return False


def verify(paths: list[str]) -> None:
    """genotype() with and without the wrapper on the same gVCFs: identical frames."""
    from ngrl_assets.genomics import chunks
    from ngrl_assets.genomics.gvcf import read_gvcf
    from ngrl_assets.genomics.joint import (
        BLOCKS_SCHEMA,
        CALLS_SCHEMA,
        SAMPLES_SCHEMA,
        discover_all,
        genotype,
    )

    calls, blocks, samples = [], [], []
    for path in paths:
        r = read_gvcf(path)
        owner = pl.lit(r.sample).alias("participant_id")
        calls.append(chunks.assign(r.calls.with_columns(owner), "pos", "end", clip=False))
        blocks.append(chunks.assign(r.blocks.with_columns(owner), "start", "end", clip=True))
        samples.append({"participant_id": r.sample, "sex": "unknown"})
    c = pl.concat(calls).select(list(CALLS_SCHEMA))
    b = pl.concat(blocks).select(list(BLOCKS_SCHEMA))
    s = pl.DataFrame(samples, schema=SAMPLES_SCHEMA)
    sites = discover_all(c)
    global PAIRS
    for limit in (2_000_000, 20_000):  # also force many small batches
        PAIRS = limit
        joint._coverage = _ORIGINAL  # type: ignore[assignment]
        want = genotype(sites, s, c, b, 1)
        joint._coverage = batched_coverage  # type: ignore[assignment]
        got = genotype(sites, s, c, b, 1)
        joint._coverage = _ORIGINAL  # type: ignore[assignment]
        assert want.equals(got), "wrapper changed the result"
        print(f"PAIRS={limit}: identical, {want.height} rows, {sites.height} sites")


if __name__ == "__main__":
    import sys

    verify(sys.argv[1:])
