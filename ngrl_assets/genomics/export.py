"""Joint-call gVCF files and write the result as a multi-sample VCF (``ngrl joint-call``).

Same code as the assets: each gVCF is read with ``read_gvcf``, rows are assigned to genome
chunks, and ``joint_call_increment`` folds them all in as one batch; the VCF is written
from the sparse genotypes (a sample without a row at a site is hom-ref). Rows are
biallelic; a sample carrying some other allele at a row is written with a second,
symbolic ALT ``<*>`` (GT index 2). FORMAT is ``GT:RNC``: RNC is the no-call reason per
allele (``.`` when called, else M, P, D, U or O).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl
import pysam

from ngrl_assets.genomics import chunks, site_qc
from ngrl_assets.genomics.gvcf import read_gvcf
from ngrl_assets.genomics.increment import Cohort, joint_call_increment, site_state_schema
from ngrl_assets.genomics.joint import BLOCKS_SCHEMA, CALLS_SCHEMA, SAMPLES_SCHEMA
from ngrl_assets.genomics.reference import GRCH38_CONTIGS
from ngrl_assets.genomics.schemas import no_call_reasons_text

RNC_HEADER = (
    '##FORMAT=<ID=RNC,Number=2,Type=Character,Description="Reason for no call per allele: '
    + f'. called, {no_call_reasons_text(", ", short=True)}">'
)


def joint_call_files(
    paths: Iterable[Path], min_dp: int = 1
) -> tuple[list[str], pl.DataFrame, pl.DataFrame]:
    """(sample names, sites with QC, sparse genotypes) for a set of single-sample gVCFs."""
    calls, blocks, samples = [], [], []
    for path in paths:
        parsed = read_gvcf(path)
        owner = [pl.lit(parsed.sample).alias("participant_id")]
        calls.append(chunks.assign(parsed.calls.with_columns(owner), "pos", "end", clip=False))
        blocks.append(chunks.assign(parsed.blocks.with_columns(owner), "start", "end", clip=True))
        samples.append({"participant_id": parsed.sample, "sex": "unknown"})
    names = [s["participant_id"] for s in samples]
    if len(set(names)) != len(names):
        raise ValueError("two input gVCFs carry the same sample name")
    all_calls = pl.concat(calls)
    batch = Cohort(
        pl.DataFrame(samples, schema=SAMPLES_SCHEMA),
        all_calls.select(list(CALLS_SCHEMA)),
        pl.concat(blocks).select(list(BLOCKS_SCHEMA)),
    )
    existing = pl.DataFrame(schema={"chunk": pl.String, **site_state_schema()})
    result = joint_call_increment(
        chunks.chunk_names(), existing, batch, lambda _sites: Cohort.empty(), min_dp
    )
    sites = result.sites.join(
        site_qc.metrics(result.sites), on=["contig", "pos", "ref", "alt"], how="left"
    )
    return sorted(names), sites, result.genotypes


def _allele(code: int | None) -> str:
    return "." if code is None or code < 0 else str(code)


def write_vcf(out: Path, names: list[str], sites: pl.DataFrame, genotypes: pl.DataFrame) -> None:
    """Write a bgzipped, tabix-indexed VCF of the joint calls."""
    order = {c: i for i, c in enumerate(GRCH38_CONTIGS)}
    sites = sites.sort(
        pl.col("contig").replace_strict(order, default=len(order)), "pos", "ref", "alt"
    )
    by_site: dict[tuple, dict[str, tuple]] = {}
    for r in genotypes.iter_rows(named=True):
        key = (r["contig"], r["pos"], r["ref"], r["alt"])
        by_site.setdefault(key, {})[r["participant_id"]] = (r["a1"], r["a2"], r["no_call_reason"])
    plain = out.with_suffix("") if out.suffix == ".gz" else out
    with plain.open("w") as fh:
        fh.write("##fileformat=VCFv4.2\n##source=ngrl joint-call\n")
        for contig, length in GRCH38_CONTIGS.items():
            fh.write(f"##contig=<ID={contig},length={length}>\n")
        fh.write('##INFO=<ID=AC,Number=A,Type=Integer,Description="Alternate allele count">\n')
        fh.write('##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">\n')
        fh.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        fh.write(RNC_HEADER + "\n")
        fh.write(
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(names) + "\n"
        )
        for s in sites.iter_rows(named=True):
            calls = by_site.get((s["contig"], s["pos"], s["ref"], s["alt"]), {})
            other = any(2 in (a1, a2) for a1, a2, _ in calls.values())
            alts = s["alt"] + (",<*>" if other else "")
            ac = f"{s['AC']},0" if other else f"{s['AC']}"
            cells = []
            for name in names:
                a1, a2, reason = calls.get(name, (0, 0, None))
                gt = _allele(a1) if a2 is None else f"{_allele(a1)}/{_allele(a2)}"
                rnc = "".join((reason or ".") if (c is None or c < 0) else "." for c in (a1, a2))
                cells.append(f"{gt}:{rnc}")
            info = f"AC={ac};AN={s['AN']}"
            row = [
                s["contig"],
                str(s["pos"]),
                ".",
                s["ref"],
                alts,
                ".",
                s["FILTER"] or ".",
                info,
                "GT:RNC",
            ]
            fh.write("\t".join(row + cells) + "\n")
    if out.suffix == ".gz":
        pysam.tabix_index(str(plain), preset="vcf", force=True)
