"""Bench-only synthetic data: the repository's generator (ngrl_assets.synth) with more
data windows, so every gVCF has >= 25k records, plus the pseudo-reference as a FASTA
for ``bcftools merge --gvcf ref.fa``.

Nothing in ngrl_assets is modified: the generator iterates over the module-level
``WINDOWS`` tuple (in ``synth.genome`` and, imported by name, ``synth.gvcf``); this
module swaps that tuple for a larger one while it generates. The pseudo-reference of a
window is a pure function of the window (``synth.genome.reference``), so the FASTA written
here is exactly the reference the gVCF records were drawn from; every base outside the
windows is ``N`` (bcftools only looks the reference up at block starts, all inside).

Layout: two windows of ``WIDTH`` bp on each of chr1..chr22 and chrX, at 5 Mb and 15 Mb,
so the data falls in 46 of the 323 genome chunks (chunks are 10 Mb: ``*_000`` and
``*_001``). chrX windows lie outside the pseudo-autosomal regions (hemizygous in XY).

    uv run python bench/gen.py cohort OUT --participants 53 --seed 7 --batch-size 25
    uv run python bench/gen.py reference OUT/ref.fa.gz
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pysam
from pysam.libcbgzf import BGZFile

from ngrl_assets.synth import generate_cohort, genome
from ngrl_assets.synth import gvcf as synth_gvcf

WIDTH = 29_000
OFFSETS = (5_000_001, 15_000_001)
CONTIGS = [f"chr{i}" for i in range(1, 23)] + ["chrX"]


def bench_windows(width: int = WIDTH) -> tuple[genome.Window, ...]:
    return tuple(
        genome.Window(contig, start, start + width - 1) for contig in CONTIGS for start in OFFSETS
    )


@contextlib.contextmanager
def windows(width: int = WIDTH) -> Iterator[tuple[genome.Window, ...]]:
    """Swap the generator's data windows for the bench windows while inside."""
    saved = genome.WINDOWS, synth_gvcf.WINDOWS
    wins = bench_windows(width)
    genome.WINDOWS = synth_gvcf.WINDOWS = wins  # type: ignore[misc]
    try:
        yield wins
    finally:
        genome.WINDOWS, synth_gvcf.WINDOWS = saved  # type: ignore[misc]


def cohort(out: Path, participants: int, seed: int, batch_size: int, width: int = WIDTH) -> dict:
    """A clean (defect_rate 0) landing zone with synthetic deliveries only (no real gVCFs)."""
    with windows(width):
        return generate_cohort(
            out,
            participants=participants,
            seed=seed,
            defect_rate=0.0,
            batch_size=batch_size,
            real_gvcf_dir=None,
        )


def write_reference(path: Path, width: int = WIDTH) -> Path:
    """BGZF FASTA of the pseudo-reference (N outside the windows) with .fai and .gzi.
    Each contig is written up to its last window end (bcftools never asks beyond)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    by_contig: dict[str, list[genome.Window]] = {}
    for w in bench_windows(width):
        by_contig.setdefault(w.chrom, []).append(w)
    n_block = b"N" * (1 << 20)
    with BGZFile(str(path), "wb") as fh:
        for contig, wins in by_contig.items():
            fh.write(f">{contig}\n".encode())
            pos = 1  # next base to write
            for w in sorted(wins, key=lambda x: x.start):
                gap = w.start - pos
                while gap > 0:
                    n = min(gap, len(n_block))
                    fh.write(n_block[:n])
                    gap -= n
                fh.write(genome.reference(w).encode())
                pos = w.end + 1
            fh.write(b"\n")  # one sequence line per contig: faidx handles it
    pysam.faidx(str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cohort")
    c.add_argument("out", type=Path)
    c.add_argument("--participants", type=int, required=True)
    c.add_argument("--seed", type=int, default=7)
    c.add_argument("--batch-size", type=int, default=25)
    c.add_argument("--width", type=int, default=WIDTH)
    r = sub.add_parser("reference")
    r.add_argument("out", type=Path)
    r.add_argument("--width", type=int, default=WIDTH)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if args.cmd == "cohort":
        truth = cohort(args.out, args.participants, args.seed, args.batch_size, args.width)
        seq = truth["sequencing"]
        print(json.dumps({"deliveries": seq["deliveries"], "sites": seq["sites"]}))
    else:
        write_reference(args.out, args.width)
    print(f"{args.cmd}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
