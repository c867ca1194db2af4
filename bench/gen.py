"""Bench-only synthetic data: the repository's generator (ngrl_assets.synth) with more
data windows, so every gVCF has >= 25k records, plus the pseudo-reference as a FASTA
for ``bcftools merge --gvcf ref.fa``.

Nothing in ngrl_assets is modified: the generator simulates its population over the
module-level ``synth.genome.WINDOWS`` it finds when first asked for a seed's population;
this module swaps that tuple for its own while it generates (every per-window quantity
of the generator is a rate per megabase, so the data per Mb stays as the generator
intends however narrow the bench windows are). The pseudo-reference of a window is a
pure function of the window (``synth.genome.reference``), so the FASTA written here is
exactly the reference the gVCF records were drawn from; every base outside the windows
is ``N`` (bcftools only looks the reference up at block starts, all inside).

Layout: one window of ``width`` bp in every genome chunk of chr1..chr22 and chrX (316 of
the 323 chunks; chrY and chrM get none), 1 Mb after the chunk start (mid-chunk for short
chunks), so every joint-calling chunk holds data as with whole-genome gVCFs; windows in
different chunks are simulated as unlinked loci. chrX windows outside the
pseudo-autosomal regions are hemizygous in XY samples.

    uv run python bench/gen.py cohort OUT --participants 53 --seed 7 --batch-size 25
    uv run python bench/gen.py reference OUT/ref.fa.gz
"""

from __future__ import annotations

import argparse
import contextlib
import json
import struct
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from ngrl_assets.genomics.chunks import genome_chunks
from ngrl_assets.synth import generate_cohort, genome

WIDTH = 7_600  # 316 windows x 7.6 kb: every sample >= 25k records (P1)
SKIP = ("chrY", "chrM")


def bench_windows(width: int = WIDTH) -> tuple[genome.Window, ...]:
    out = []
    for chunk in genome_chunks():
        if chunk.contig in SKIP:
            continue
        length = chunk.end - chunk.start + 1
        start = chunk.start + min(1_000_000, (length - width) // 2)
        out.append(genome.Window(chunk.contig, start, start + width - 1))
    return tuple(out)


@contextlib.contextmanager
def windows(width: int = WIDTH) -> Iterator[tuple[genome.Window, ...]]:
    """Swap the generator's data windows while inside (a population already simulated
    for the generator's own windows is not reused: it is kept per window set)."""
    saved = genome.WINDOWS
    wins = bench_windows(width)
    genome.WINDOWS = wins  # type: ignore[misc]
    try:
        yield wins
    finally:
        genome.WINDOWS = saved  # type: ignore[misc]


def cohort(
    out: Path,
    participants: int,
    seed: int,
    batch_size: int,
    width: int = WIDTH,
) -> dict:
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


BGZF_BLOCK = 0xFF00  # uncompressed bytes per BGZF block (as bgzip)
_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


class _Bgzf:
    """Minimal BGZF writer that also records the .gzi index. Blocks made only of N are
    compressed once and reused, so a whole-genome FASTA that is N almost everywhere
    costs well under a second."""

    def __init__(self, path: Path) -> None:
        self.fh = path.open("wb")
        self.buf = bytearray()
        self.coff = self.uoff = 0  # compressed / uncompressed offset of the next block
        self.index: list[tuple[int, int]] = []
        self.n_block = self._block(b"N" * BGZF_BLOCK)

    @staticmethod
    def _block(data: bytes) -> bytes:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        cdata = c.compress(data) + c.flush()
        header = struct.pack("<4BI2BH2BHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, 0)
        size = len(header) + len(cdata) + 8
        header = header[:-2] + struct.pack("<H", size - 1)
        return header + cdata + struct.pack("<II", zlib.crc32(data), len(data))

    def _emit(self, block: bytes, ulen: int) -> None:
        if self.uoff:
            self.index.append((self.coff, self.uoff))
        self.fh.write(block)
        self.coff += len(block)
        self.uoff += ulen

    def _flush_full(self) -> None:
        while len(self.buf) >= BGZF_BLOCK:
            data = bytes(self.buf[:BGZF_BLOCK])
            del self.buf[:BGZF_BLOCK]
            self._emit(self._block(data), BGZF_BLOCK)

    def write(self, data: bytes) -> None:
        self.buf += data
        self._flush_full()

    def write_n(self, count: int) -> None:
        fill = min(count, (BGZF_BLOCK - len(self.buf)) % BGZF_BLOCK)
        self.write(b"N" * fill)
        count -= fill
        while count >= BGZF_BLOCK and not self.buf:
            self._emit(self.n_block, BGZF_BLOCK)
            count -= BGZF_BLOCK
        self.write(b"N" * count)

    def close(self) -> None:
        if self.buf:
            self._emit(self._block(bytes(self.buf)), len(self.buf))
            self.buf.clear()
        self.fh.write(_EOF)
        self.fh.close()

    def write_gzi(self, path: Path) -> None:
        with path.open("wb") as fh:
            fh.write(struct.pack("<Q", len(self.index)))
            for coff, uoff in self.index:
                fh.write(struct.pack("<QQ", coff, uoff))


def write_reference(
    path: Path, width: int = WIDTH, wins: tuple[genome.Window, ...] | None = None
) -> Path:
    """BGZF FASTA of the pseudo-reference over the whole length of every contig that has
    windows (``wins``, else the bench windows of ``width``; N outside the windows), one
    sequence line per contig, with .fai and .gzi written directly (nothing is read back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = dict(genome.GRCH38_CONTIGS)
    by_contig: dict[str, list[genome.Window]] = {}
    for w in wins if wins is not None else bench_windows(width):
        by_contig.setdefault(w.chrom, []).append(w)
    out = _Bgzf(path)
    fai = []
    for contig, wins in by_contig.items():
        out.write(f">{contig}\n".encode())
        fai.append(f"{contig}\t{lengths[contig]}\t{out.uoff + len(out.buf)}")
        pos = 1  # next base to write
        for w in sorted(wins, key=lambda x: x.start):
            out.write_n(w.start - pos)
            out.write(genome.reference(w).encode())
            pos = w.end + 1
        out.write_n(lengths[contig] + 1 - pos)
        out.write(b"\n")
        fai[-1] += f"\t{lengths[contig]}\t{lengths[contig] + 1}"
    out.close()
    out.write_gzi(Path(f"{path}.gzi"))
    Path(f"{path}.fai").write_text("\n".join(fai) + "\n")
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
