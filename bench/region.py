"""Bench-only cohort at scale: N synthetic genomes over one contiguous region, the same
region for every N, made by the repository's generator (``ngrl_assets.synth``) without
changing it, for the P9 scale curve (bench/p9.py).

Region: chr20:39,000,001-42,000,000 (3 Mb of the q arm, well clear of the centromere at
26.4-30.0 Mb), as three 1 Mb windows simulated together as one linked locus; the region
crosses the genome-chunk boundary at 40,000,001, so two joint-calling chunks hold data
(chr20_003: 1 Mb, chr20_004: 2 Mb). Everything else is the generator's: msprime
out-of-Africa genealogies and HKY mutations, the pseudo-reference, the genome's shared
gaps and hard-to-map stretches, per-sample depth (over-dispersed, correlated), dropouts
and zero-depth stretches, reblocked reference blocks in four GQ bands, bgzip + tabix.

One population: the generator simulates blocks of ``genome.POOL`` (1,000) individuals
independently, each with its own sites, which at N = 4,000 would make four unrelated
populations (cohort sites growing linearly with N). Here ``POOL`` is swapped for
``BENCH_POOL`` (5,000: N up to 4,000 plus a batch of 250 and more) while generating, as
``gen.py`` swaps the windows, so participant ``i`` is individual ``i`` of one simulated
CEU sample and every N is a random sample of the same population; N = 250 and 1,000 are
prefixes (participants 0..N-1) of the N = 4,000 cohort.

Files: ``bench/out/region/<key>/gvcf/S<i>.g.vcf.gz`` (+ ``.tbi``), ``samples.tsv`` (one
row per written sample, appended as files are done, so an interrupted run resumes),
``ref.fa.gz`` (the pseudo-reference for ``bcftools merge --gvcf``). Written by
``--workers`` processes (each simulates the population itself: msprime is deterministic
per seed, about 30 s).

    uv run python bench/region.py cohort --n 4250 [--seed 9] [--workers 2]
    uv run python bench/region.py stats --n 250 [--sample 20]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import itertools
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import harness
import numpy as np

from ngrl_assets.genomics.chunks import genome_chunks
from ngrl_assets.synth import genome
from ngrl_assets.synth.common import rng_for
from ngrl_assets.synth.gvcf import SampleSpec, write_gvcf
from ngrl_assets.synth.sequencing import _qc

REGION = ("chr20", 39_000_001, 42_000_000)
WINDOW_BP = 1_000_000
BENCH_POOL = 5_000
SEED = 9
COLUMNS = ("index", "sample", "karyotype", "coverage", "records", "bytes", "path")


def region_windows(
    contig: str = REGION[0], start: int = REGION[1], end: int = REGION[2]
) -> tuple[genome.Window, ...]:
    """The region cut every ``WINDOW_BP`` and at genome-chunk boundaries (a window never
    straddles two chunks)."""
    cuts = set(range(start, end + 1, WINDOW_BP))
    cuts |= {c.start for c in genome_chunks() if c.contig == contig and start < c.start <= end}
    edges = [*sorted(cuts), end + 1]
    return tuple(genome.Window(contig, a, b - 1) for a, b in itertools.pairwise(edges))


def region_mb(wins: tuple[genome.Window, ...]) -> float:
    return sum(w.length for w in wins) / 1e6


def cohort_dir(seed: int = SEED) -> Path:
    contig, start, end = REGION
    return harness.OUT / "region" / f"{contig}_{start}-{end}_pool{BENCH_POOL}_seed{seed}"


@contextlib.contextmanager
def layout(wins: tuple[genome.Window, ...]) -> Iterator[None]:
    """Swap the generator's windows and block size while inside."""
    saved = genome.WINDOWS, genome.POOL
    genome.WINDOWS, genome.POOL = wins, BENCH_POOL  # type: ignore[misc]
    try:
        yield
    finally:
        genome.WINDOWS, genome.POOL = saved  # type: ignore[misc]


def sample_name(i: int) -> str:
    return f"S{i:05d}"


def sample_spec(seed: int, i: int):  # type: ignore[no-untyped-def]
    """Participant ``i``'s sample: karyotype (even odds), the generator's coverage draw,
    and the random stream the gVCF writer continues."""
    rng = rng_for(seed, "bench-region-sample", i)
    karyotype = "XX" if rng.random() < 0.5 else "XY"
    coverage = _qc(rng, karyotype)[0]
    return SampleSpec(sample_name(i), karyotype, coverage), rng


_WORKER: dict = {}


def _init(seed: int) -> None:
    wins = region_windows()
    genome.WINDOWS, genome.POOL = wins, BENCH_POOL  # type: ignore[misc]  # worker-wide
    pop = genome.Population(seed, wins)
    pop.block(0)
    _WORKER.update(seed=seed, pop=pop)


def _write_one(args: tuple[int, str]) -> dict:
    i, folder = args
    spec, rng = sample_spec(_WORKER["seed"], i)
    genotypes = _WORKER["pop"].genome(i, spec.karyotype == "XY")
    path = Path(folder) / "gvcf" / f"{spec.name}.g.vcf.gz"
    _, records, _ = write_gvcf(path, rng, spec, genotypes)
    return {
        "index": i,
        "sample": spec.name,
        "karyotype": spec.karyotype,
        "coverage": round(spec.coverage, 2),
        "records": records,
        "bytes": path.stat().st_size,
        "path": str(path.relative_to(folder)),
    }


def read_samples(folder: Path) -> dict[int, dict]:
    path = folder / "samples.tsv"
    if not path.exists():
        return {}
    with path.open() as fh:
        rows = {int(r["index"]): r for r in csv.DictReader(fh, delimiter="\t")}
    return {i: r for i, r in rows.items() if (folder / (r["path"] + ".tbi")).exists()}


def ensure_cohort(n: int, seed: int = SEED, workers: int = 2) -> tuple[Path, list[dict]]:
    """Participants 0..n-1 written (the missing ones now, ``workers`` processes) and the
    reference FASTA; returns the folder and their rows in participant order."""
    folder = cohort_dir(seed)
    (folder / "gvcf").mkdir(parents=True, exist_ok=True)
    wins = region_windows()
    if not (folder / "ref.fa.gz.fai").exists():
        from gen import write_reference

        write_reference(folder / "ref.fa.gz", wins=wins)
    done = read_samples(folder)
    todo = [i for i in range(n) if i not in done]
    if todo:
        t0 = time.perf_counter()
        fresh = not (folder / "samples.tsv").exists()
        with (folder / "samples.tsv").open("a", newline="") as fh:
            out = csv.DictWriter(fh, COLUMNS, delimiter="\t")
            if fresh:
                out.writeheader()
            ctx = get_context("spawn")
            with ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=_init, initargs=(seed,)
            ) as pool:
                for k, row in enumerate(pool.map(_write_one, [(i, str(folder)) for i in todo])):
                    out.writerow(row)
                    fh.flush()
                    done[row["index"]] = row
                    if (k + 1) % 250 == 0:
                        rate = (k + 1) / (time.perf_counter() - t0)
                        print(f"{k + 1}/{len(todo)} gVCFs, {rate:.1f}/s", file=sys.stderr)
        spent = time.perf_counter() - t0
        log = {"written": len(todo), "seconds": round(spent, 1), "workers": workers}
        with (folder / "generation.jsonl").open("a") as fh:
            fh.write(json.dumps(log) + "\n")
        print(json.dumps(log), file=sys.stderr)
    return folder, [done[i] for i in range(n)]


# ---- realism ------------------------------------------------------------------------------
_TRANSITIONS = {frozenset("AG"), frozenset("CT")}


def file_stats(path: Path) -> dict:
    """One gVCF's records, variant records, covered bases, het/hom and SNV Ti/Tv."""
    records = variants = het = hom = ti = tv = blocks = covered = depth_bases = 0
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line[0] == "#":
                continue
            f = line.split("\t", 10)
            records += 1
            if f[4] == "<NON_REF>":
                blocks += 1
                end = int(f[7].split("END=")[1])
                span = end - int(f[1]) + 1
                covered += span
                depth_bases += span * int(f[9].split(":")[2])
                continue
            variants += 1
            gt = f[9].split(":", 1)[0].replace("|", "/").split("/")
            het += gt[0] != gt[1]
            hom += gt[0] == gt[1]
            alt = f[4].split(",")[0]
            if len(f[3]) == 1 and len(alt) == 1:
                if frozenset((f[3], alt)) in _TRANSITIONS:
                    ti += 1
                else:
                    tv += 1
    return {
        "records": records,
        "variants": variants,
        "blocks": blocks,
        "het": het,
        "hom": hom,
        "ti": ti,
        "tv": tv,
        "block_bases": covered,
        "depth_bases": depth_bases,
    }


def cohort_sites(seed: int, ns: list[int]) -> dict[int, int]:
    """Population sites carried by at least one of participants 0..N-1 (before calling:
    a low-depth het can still be missed), for each N."""
    wins = region_windows()
    with layout(wins):
        block = genome.Population(seed, wins).block(0)
    out = {}
    for n in ns:
        out[n] = int(sum(int((block.codes[w][: 2 * n] != 0).any(axis=0).sum()) for w in wins))
    return out


def realism(rows: list[dict], folder: Path, sample: int, seed: int, ns: list[int]) -> dict:
    """Per-sample figures over an even sample of ``rows`` and cohort sites per Mb."""
    wins = region_windows()
    mb = region_mb(wins)
    step = max(1, len(rows) // sample)
    picked = rows[::step][:sample]
    stats = [file_stats(folder / r["path"]) for r in picked]
    total = {k: sum(s[k] for s in stats) for k in stats[0]}
    per = np.array([s["records"] / mb for s in stats])
    sites = cohort_sites(seed, ns)
    return {
        "region": f"{REGION[0]}:{REGION[1]}-{REGION[2]}",
        "region_mb": mb,
        "files_sampled": len(stats),
        "records_per_sample_per_mb": {
            "mean": round(float(per.mean())),
            "min": round(float(per.min())),
            "max": round(float(per.max())),
        },
        "variant_records_per_sample_per_mb": round(total["variants"] / len(stats) / mb),
        "block_records_per_sample_per_mb": round(total["blocks"] / len(stats) / mb),
        "covered_by_blocks_pct": round(100 * total["block_bases"] / len(stats) / (mb * 1e6), 1),
        "mean_block_depth": round(total["depth_bases"] / max(1, total["block_bases"]), 1),
        "het_hom_ratio": round(total["het"] / max(1, total["hom"]), 2),
        "snv_ti_tv": round(total["ti"] / max(1, total["tv"]), 2),
        "gvcf_bytes_per_sample_mean": round(sum(int(r["bytes"]) for r in rows) / max(1, len(rows))),
        "population_sites_per_mb_by_n": {n: round(s / mb) for n, s in sites.items()},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("cohort", "stats"):
        c = sub.add_parser(name)
        c.add_argument("--n", type=int, required=True)
        c.add_argument("--seed", type=int, default=SEED)
        c.add_argument("--workers", type=int, default=2)
        c.add_argument("--sample", type=int, default=20)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    folder, rows = ensure_cohort(args.n, args.seed, args.workers)
    print(f"{len(rows)} gVCFs in {folder}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    ns = sorted({n for n in (250, 1_000, 4_000, args.n) if n <= BENCH_POOL})
    print(json.dumps(realism(rows, folder, args.sample, args.seed, ns), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
