"""Genome chunks: the static units of joint calling (aggV2 split the genome into 1,371).

A chunk is a half-open-free, 1-based inclusive interval of one contig. Chunks are planned
by variant density: given an expected number of sites per megabase (a density profile),
each contig is cut so every chunk holds about ``target_sites`` sites and at most
``max_bp`` bases. Without a profile the density is taken as uniform, which gives
equal-length chunks. The plan in force is the committed ``chunks_grch38.tsv``; it
changes only deliberately (changing chunks re-partitions the joint-called tables), and
it tiles exactly the contigs of :mod:`.reference` (a test keeps them consistent).
Pure module: no Dagster.
"""

from __future__ import annotations

import bisect
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

PLAN_FILE = Path(__file__).with_name("chunks_grch38.tsv")
MB = 1_000_000


@dataclass(frozen=True, order=True)
class Chunk:
    contig: str
    start: int
    end: int
    name: str

    def contains(self, contig: str, pos: int) -> bool:
        return contig == self.contig and self.start <= pos <= self.end

    def overlaps(self, contig: str, start: int, end: int) -> bool:
        return contig == self.contig and start <= self.end and end >= self.start


def plan(
    lengths: Mapping[str, int],
    density_per_mb: Mapping[tuple[str, int], float] | None = None,
    target_sites: float = 1_000_000,
    max_bp: int = 5 * MB,
    uniform_density: float = 400_000,
) -> list[Chunk]:
    """Cut each contig into chunks of about ``target_sites`` expected sites (megabase
    resolution) and at most ``max_bp`` bases. ``density_per_mb[(contig, mb)]`` is the
    expected number of sites in that megabase; missing megabases use ``uniform_density``."""
    chunks: list[Chunk] = []
    for contig, length in lengths.items():
        start, load, index = 1, 0.0, 0
        mb = 0
        while (mb * MB) < length:
            mb_end = min((mb + 1) * MB, length)
            load += (density_per_mb or {}).get((contig, mb), uniform_density)
            too_long = mb_end - start + 1 >= max_bp
            if load >= target_sites or too_long or mb_end == length:
                chunks.append(Chunk(contig, start, mb_end, f"{contig}_{index:03d}"))
                start, load, index = mb_end + 1, 0.0, index + 1
            mb += 1
    return chunks


def write_plan(chunks: list[Chunk], path: Path = PLAN_FILE) -> None:
    lines = ["chunk\tcontig\tstart\tend"] + [
        f"{c.name}\t{c.contig}\t{c.start}\t{c.end}" for c in chunks
    ]
    path.write_text("\n".join(lines) + "\n")


@lru_cache(maxsize=1)
def genome_chunks(path: Path = PLAN_FILE) -> tuple[Chunk, ...]:
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line]
    return tuple(Chunk(contig, int(start), int(end), name) for name, contig, start, end in rows)


@lru_cache(maxsize=1)
def _index() -> dict[str, tuple[list[int], list[Chunk]]]:
    by_contig: dict[str, tuple[list[int], list[Chunk]]] = {}
    for chunk in genome_chunks():
        starts, items = by_contig.setdefault(chunk.contig, ([], []))
        starts.append(chunk.start)
        items.append(chunk)
    return by_contig


def chunk_of(contig: str, pos: int) -> Chunk:
    """The chunk holding a position (KeyError for a contig outside the plan)."""
    starts, items = _index()[contig]
    return items[bisect.bisect_right(starts, pos) - 1]


def chunks_overlapping(contig: str, start: int, end: int) -> list[Chunk]:
    starts, items = _index()[contig]
    first = bisect.bisect_right(starts, start) - 1
    last = bisect.bisect_right(starts, end) - 1
    return items[first : last + 1]


def chunk_names() -> list[str]:
    return [c.name for c in genome_chunks()]


def by_name(name: str) -> Chunk:
    for chunk in genome_chunks():
        if chunk.name == name:
            return chunk
    raise KeyError(name)


def chunk_table() -> pl.DataFrame:
    """The chunk plan as a frame: chunk, contig, chunk_start, chunk_end (genomic order)."""
    rows = genome_chunks()
    return pl.DataFrame(
        {
            "chunk": [c.name for c in rows],
            "contig": [c.contig for c in rows],
            "chunk_start": [c.start for c in rows],
            "chunk_end": [c.end for c in rows],
        },
        schema={
            "chunk": pl.String,
            "contig": pl.String,
            "chunk_start": pl.Int32,
            "chunk_end": pl.Int32,
        },
    )


def assign(frame: pl.DataFrame, start: str, end: str, clip: bool) -> pl.DataFrame:
    """Add a ``chunk`` column: every chunk an interval [start, end] overlaps gets a copy of
    the row; with ``clip`` the copy is cut to the chunk (reference blocks), without it the
    row is kept whole (a deletion that crosses a boundary is seen by both chunks)."""
    if frame.height == 0:
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias("chunk"))
    table = chunk_table()
    with warnings.catch_warnings():  # sorted by start already; polars cannot verify per contig
        warnings.simplefilter("ignore", UserWarning)
        keyed = (
            frame.with_row_index("_row")
            .sort(start)
            .join_asof(
                table.sort("chunk_start"),
                left_on=start,
                right_on="chunk_start",
                by="contig",
                strategy="backward",
            )
        )
    if keyed["chunk"].null_count():
        raise ValueError("positions outside the chunk plan (unknown contig)")
    inside = keyed.filter(pl.col(end) <= pl.col("chunk_end"))
    crossing = keyed.filter(pl.col(end) > pl.col("chunk_end"))
    pieces = [inside]
    if crossing.height:
        extra = []
        for row in crossing.iter_rows(named=True):
            for chunk in chunks_overlapping(row["contig"], row[start], row[end]):
                piece = dict(row)
                piece["chunk"], piece["chunk_start"], piece["chunk_end"] = (
                    chunk.name,
                    chunk.start,
                    chunk.end,
                )
                if clip:
                    piece[start], piece[end] = (
                        max(row[start], chunk.start),
                        min(row[end], chunk.end),
                    )
                extra.append(piece)
        pieces.append(pl.DataFrame(extra, schema=keyed.schema))
    out = pl.concat(pieces).sort("_row", "chunk_start")
    return out.drop("_row", "chunk_start", "chunk_end")
