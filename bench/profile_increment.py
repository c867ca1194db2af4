"""Diagnostic, not a benchmark (no anchor): where an increment's compute goes.

On a copy of a lake whose joint tables are up to date (e.g. P6's library, kept in
bench/out/p6/lake by run_all.sh), re-play one delivery as a batch for the first group of
64 chunks: the library state is every site some other delivery carries, the batch is
that delivery's samples, the "old" samples are all the others. Runs
``increment.joint_call_increment`` (+ ``site_qc.metrics``) under cProfile and prints the
functions with the largest cumulative time. Nothing is written to the lake.

    uv run python bench/profile_increment.py bench/out/p6/lake [--top 20]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import polars as pl

from ngrl_assets.genomics import chunks, joint, joint_store, site_qc
from ngrl_assets.genomics.increment import Cohort, joint_call_increment, site_state_schema
from ngrl_assets.genomics.schemas import SITE_KEY
from ngrl_assets.genomics.tables import (
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    VARIANT_SITES,
)
from resources.lake import Lake
from resources.tables import TableSpec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("lake", type=Path)
    p.add_argument("--top", type=int, default=20)
    args = p.parse_args(argv)
    lake = Lake(root_uri=str(args.lake))
    samples = joint_store.passed_samples(lake)
    deliveries = sorted(set(samples["delivery"].to_list()))
    sizes = samples.group_by("delivery").len()
    full = sizes.filter(pl.col("len") == sizes["len"].max())["delivery"].sort().to_list()
    last = full[-1]  # the latest full-size delivery plays the batch
    batch_samples = samples.filter(pl.col("delivery") == last)
    old = [d for d in deliveries if d != last]
    old_samples = samples.filter(pl.col("delivery").is_in(old))
    names = chunks.chunk_names()[: joint_store.CHUNK_GROUP]
    state = lake.scan(VARIANT_SITES).filter(pl.col("chunk").is_in(names)).collect()

    def load(spec: TableSpec, which: list[str], who: pl.DataFrame) -> pl.DataFrame:
        return joint_store._load(lake, spec, names, which, who)

    calls = load(SAMPLE_VARIANT_CALLS, [last], batch_samples)
    blocks = load(SAMPLE_REFERENCE_BLOCKS, [last], batch_samples)
    batch = Cohort(
        batch_samples.select("participant_id", "sex"),
        calls.select(list(joint.CALLS_SCHEMA)),
        blocks.select(list(joint.BLOCKS_SCHEMA)),
    )
    old_calls = load(SAMPLE_VARIANT_CALLS, old, old_samples)
    others = joint.discover_all(old_calls.select(list(joint.CALLS_SCHEMA)))
    existing = state.join(others.select(SITE_KEY), on=SITE_KEY, how="semi").select(
        ["chunk", *site_state_schema()]
    )

    def old_at(new_sites: pl.DataFrame) -> Cohort:
        return joint_store._old_cohort(lake, old_samples, old, new_sites)

    print(
        f"chunks {names[0]}..{names[-1]}: {existing.height:,} known sites, batch "
        f"{batch_samples.height} samples ({last}), {old_samples.height} old samples"
    )
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    result = joint_call_increment(names, existing, batch, old_at, 1)
    site_qc.metrics(result.sites)
    prof.disable()
    print(f"increment + metrics: {time.perf_counter() - t0:.2f} s, {result.new_sites} new sites")
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(r"ngrl_assets", args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
