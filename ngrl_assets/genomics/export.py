"""Joint-call gVCF files and write the result as a multi-sample VCF (``ngrl joint-call``).

The same path as the library, so that memory is bounded by a sample batch x a work unit,
not by the number of inputs: the gVCFs are parsed (``read_gvcf``, by ``workers``
processes) and their rows streamed, ``SAMPLES_PER_APPEND`` samples per write, into the
per-sample tables of a scratch lake (a temporary folder, or under ``work``); the samples
are put in batches of ``batch_size`` (``SampleBatching``), joint-called by
``joint_store.run_whole_genome`` (the assets' plan, work units and commit), and the VCF is
written one work unit at a time from the joint-called tables. The scratch lake is deleted
afterwards.

Rows are biallelic; a sample without a row at a site is hom-ref there; a sample carrying
some other allele at a row is written with a second, symbolic ALT ``<*>`` (GT index 2).
FORMAT is ``GT:RNC``: RNC is the no-call reason per allele (``.`` when called, else M, P,
D, U or O).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl
import pysam

from ngrl_assets.genomics import chunks, joint_store
from ngrl_assets.genomics.batches import SampleBatching
from ngrl_assets.genomics.gvcf import read_gvcf
from ngrl_assets.genomics.reference import GRCH38_CONTIGS
from ngrl_assets.genomics.schemas import SITE_KEY, no_call_reasons_text
from ngrl_assets.genomics.tables import (
    JOINT_GENOTYPES,
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    VARIANT_SITES,
    QcVerdict,
)
from resources.lake import Lake

RNC_HEADER = (
    '##FORMAT=<ID=RNC,Number=2,Type=Character,Description="Reason for no call per allele: '
    + f'. called, {no_call_reasons_text(", ", short=True)}">'
)
DELIVERY = "joint-call"  # the scratch lake's one delivery
SAMPLES_PER_APPEND = 50  # gVCFs parsed and held before their rows are written
CELLS_PER_WINDOW = 4_000_000  # (site x sample) VCF cells built at a time (~32 MB of grid)


@dataclass(frozen=True)
class JointCallFiles:
    """What ``joint_call_files`` wrote."""

    samples: int
    sites: int


def joint_call_files(
    paths: Iterable[Path],
    out: Path,
    min_dp: int = 1,
    batching: SampleBatching | None = None,
    work: Path | None = None,
    workers: int = 1,
) -> JointCallFiles:
    """Joint-call single-sample gVCFs into the bgzipped, indexed VCF ``out``. Raises
    ``GvcfError`` for an unreadable gVCF and ``ValueError`` when two inputs carry the same
    sample name (both name the file). ``workers`` processes parse the gVCFs (the rest is
    the library's own work units, one process)."""
    with tempfile.TemporaryDirectory(prefix="ngrl-joint-call-", dir=work) as scratch:
        lake = Lake(root_uri=str(Path(scratch) / "lake"))
        names = _take_in(lake, list(paths), batching or SampleBatching(), workers)
        joint_store.run_whole_genome(lake, min_dp)
        sites = write_vcf(out, sorted(names), _units(lake, len(names)))
    return JointCallFiles(samples=len(names), sites=sites)


def _parse(path: Path) -> tuple[str, int, pl.DataFrame, pl.DataFrame]:
    """One gVCF's sample name, record count and chunk-assigned rows (a worker's task)."""
    parsed = read_gvcf(path)
    owner = [pl.lit(parsed.sample).alias("participant_id"), pl.lit(DELIVERY).alias("delivery")]
    calls = chunks.assign(parsed.calls.with_columns(owner), "pos", "end", clip=False)
    blocks = chunks.assign(parsed.blocks.with_columns(owner), "start", "end", clip=True)
    return (
        parsed.sample,
        parsed.records,
        calls.select(list(SAMPLE_VARIANT_CALLS.schema)),
        blocks.select(list(SAMPLE_REFERENCE_BLOCKS.schema)),
    )


def _parsed(
    paths: list[Path], workers: int
) -> Iterator[tuple[str, int, pl.DataFrame, pl.DataFrame]]:
    """The gVCFs parsed in input order by ``workers`` processes (spawned: no fork after
    polars' and htslib's threads exist), at most ``2 x workers`` ahead of the consumer, so
    parsed rows waiting to be written stay bounded whatever the number of inputs."""
    if workers <= 1 or len(paths) < 2:
        yield from map(_parse, paths)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        ahead: deque[Future[tuple[str, int, pl.DataFrame, pl.DataFrame]]] = deque()
        for path in paths:
            ahead.append(pool.submit(_parse, path))
            if len(ahead) > 2 * workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def _take_in(lake: Lake, paths: list[Path], batching: SampleBatching, workers: int) -> list[str]:
    """Stream each gVCF's rows into the scratch lake; one raw_sequences row per sample."""
    owners: dict[str, Path] = {}
    rows: list[dict] = []
    pending: list[tuple[pl.DataFrame, pl.DataFrame]] = []

    def flush() -> None:
        if pending:
            lake.append(SAMPLE_VARIANT_CALLS, pl.concat([c for c, _ in pending]))
            lake.append(SAMPLE_REFERENCE_BLOCKS, pl.concat([b for _, b in pending]))
            pending.clear()

    for path, (sample, records, calls, blocks) in zip(paths, _parsed(paths, workers), strict=True):
        if sample in owners:
            raise ValueError(f"{path}: sample {sample!r} is also the sample of {owners[sample]}")
        owners[sample] = path
        pending.append((calls, blocks))
        rows.append(
            {
                "delivery": DELIVERY,
                "sample_id": sample,
                "participant_id": sample,
                "gvcf_key": path.name,
                "records": records,
                "variant_rows": calls.height,
                "block_rows": blocks.height,
                "inferred_sex": "unknown",
                "qc_verdict": QcVerdict.PASS.value,
            }
        )
        if len(pending) == SAMPLES_PER_APPEND:
            flush()
    flush()
    now = dt.datetime.now(dt.UTC)
    for row, batch in zip(rows, batching.assign([], len(rows)), strict=True):
        row.update(sample_batch=batch, ingested_at=now)
    lake.append(RAW_SEQUENCES, pl.DataFrame(rows, schema=RAW_SEQUENCES.schema))
    return list(owners)


def _units(lake: Lake, samples: int) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """(sites with site QC, sparse genotypes) in genome order, a window of sites at a time:
    at most ``CELLS_PER_WINDOW`` (site x sample) cells, so what is held is bounded
    whatever the number of samples (the sites of a work unit are read at once: they do
    not grow with the samples)."""
    every = joint_store.all_chunk_names()
    width = max(1, CELLS_PER_WINDOW // max(samples, 1))
    for first in range(0, len(every), joint_store.CHUNK_GROUP):
        names = every[first : first + joint_store.CHUNK_GROUP]
        sites = lake.scan(VARIANT_SITES).filter(pl.col("chunk").is_in(names)).collect()
        if sites.height == 0:
            continue
        sites = _genome_order(joint_store.with_site_qc(sites))
        for start in range(0, sites.height, width):
            window = sites.slice(start, width)
            yield window, _window_genotypes(lake, window)


def _window_genotypes(lake: Lake, window: pl.DataFrame) -> pl.DataFrame:
    """The sparse genotype rows of a window of sites (one scan; the pos range prunes the
    tiles' row groups, the join keeps the window's sites)."""
    bounds = window.group_by("chunk").agg(
        pl.col("pos").min().alias("lo"), pl.col("pos").max().alias("hi")
    )
    rows = lake.scan(JOINT_GENOTYPES).filter(pl.col("chunk").is_in(bounds["chunk"].implode()))
    rows = rows.filter(
        pl.col("pos") >= bounds["lo"].min(),
        pl.col("pos") <= bounds["hi"].max(),  # type: ignore[operator]
    )
    keys = window.select(SITE_KEY).lazy()
    return rows.join(keys, on=SITE_KEY, how="semi").collect()


def _genome_order(sites: pl.DataFrame) -> pl.DataFrame:
    order = {c: i for i, c in enumerate(GRCH38_CONTIGS)}
    return sites.sort(
        pl.col("contig").replace_strict(order, default=len(order)), "pos", "ref", "alt"
    )


def _allele(code: pl.Expr) -> pl.Expr:
    return pl.when(code.is_null() | (code < 0)).then(pl.lit(".")).otherwise(code.cast(pl.String))


def _rnc(code: pl.Expr) -> pl.Expr:
    missing = code.is_null() | (code < 0)
    return pl.when(missing).then(pl.col("no_call_reason").fill_null(".")).otherwise(pl.lit("."))


def write_vcf(
    out: Path, names: list[str], units: Iterable[tuple[pl.DataFrame, pl.DataFrame]]
) -> int:
    """Write a bgzipped, tabix-indexed VCF of the joint calls, one (sites with site QC,
    sparse genotypes) unit at a time (units in genome order); returns the sites written."""
    plain = out.with_suffix("") if out.suffix == ".gz" else out
    written = 0
    with plain.open("w") as fh:
        _header(fh, names)
        for sites, genotypes in units:
            written += _records(fh, names, sites, genotypes)
    if out.suffix == ".gz":
        pysam.tabix_index(str(plain), preset="vcf", force=True)
    return written


def _header(fh: IO[str], names: list[str]) -> None:
    fh.write("##fileformat=VCFv4.2\n##source=ngrl joint-call\n")
    for contig, length in GRCH38_CONTIGS.items():
        fh.write(f"##contig=<ID={contig},length={length}>\n")
    fh.write('##INFO=<ID=AC,Number=A,Type=Integer,Description="Alternate allele count">\n')
    fh.write('##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">\n')
    fh.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
    fh.write(RNC_HEADER + "\n")
    fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(names) + "\n")


HOM_REF_CELL = "0/0:.."  # a sample without a row at a site


def _records(fh: IO[str], names: list[str], sites: pl.DataFrame, genotypes: pl.DataFrame) -> int:
    """One window's VCF lines: a (sites x samples) grid of cell texts, hom-ref where the
    sparse rows have none, the rows' own cells formatted in one polars pass."""
    sites = _genome_order(sites).with_row_index("_site")
    column = pl.DataFrame({"participant_id": names}).with_row_index("_sample")
    cells = (
        genotypes.join(sites.select([*SITE_KEY, "_site"]), on=SITE_KEY)
        .join(column, on="participant_id")
        .select(
            "_site",
            "_sample",
            ((pl.col("a1") == 2) | (pl.col("a2") == 2).fill_null(False)).alias("other"),
            pl.concat_str(
                pl.when(pl.col("a2").is_null())
                .then(_allele(pl.col("a1")))
                .otherwise(
                    pl.concat_str(_allele(pl.col("a1")), pl.lit("/"), _allele(pl.col("a2")))
                ),
                pl.lit(":"),
                _rnc(pl.col("a1")),  # two reasons, one per allele (a haploid's second too)
                _rnc(pl.col("a2")),
            ).alias("cell"),
        )
    )
    grid = np.full((sites.height, len(names)), HOM_REF_CELL, dtype=object)
    grid[cells["_site"].to_numpy(), cells["_sample"].to_numpy()] = cells["cell"].to_numpy()
    other = set(cells.filter(pl.col("other"))["_site"].to_list())
    for i, s in enumerate(sites.iter_rows(named=True)):
        alts = s["alt"] + (",<*>" if i in other else "")
        ac = f"{s['AC']},0" if i in other else f"{s['AC']}"
        info = f"AC={ac};AN={s['AN']}"
        row = [s["contig"], str(s["pos"]), ".", s["ref"], alts, ".", s["FILTER"] or ".", info]
        fh.write("\t".join([*row, "GT:RNC", *grid[i]]) + "\n")
    return sites.height
