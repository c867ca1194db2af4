"""P4: bytes on disk of our joint genotype table vs a BCF of the same calls.

What is compared (all files as written, default compression on each side):

- ours: the ``joint_genotypes`` Delta folder (all of it: parquet, also files replaced
  by later versions and kept until VACUUM, and _delta_log; "current" = only the parquet
  files the table's current version references), sparse: one row per
  (site, participant) that is not a confident hom-ref, with a1/a2, dp, gq, ad_ref,
  ad_alt, no_call_reason (+ chunk/increment/site key). Reported separately:
  ``variant_sites`` (site list + mergeable QC aggregates incl. three histograms per
  site + aggV2 metrics); it is not part of "the calls" but the calls need its site list
  to be read as a dense matrix (a participant without a row is hom-ref).
- anchor A (primary): our own calls exported to a multi-sample VCF and converted with
  ``bcftools view -Ob``: every site of variant_sites, every sample, FORMAT
  GT:RNC:DP:GQ:AD, so the BCF holds exactly the information of joint_genotypes (RNC =
  per-allele no-call reason; implicit hom-ref cells written as 0/0 or 0 (XY on chrX
  outside PAR) with . for the rest; a sample carrying another allele gets ALT <*>).
- anchor A-gt: the same with FORMAT GT:RNC only (genotypes + no-call reasons).
- anchor B (P1 only): bcftools' own calls, ``bcftools merge --gvcf`` output (P1) split
  and stripped: ``norm -m-any | view -e 'ALT="<*>" || ALT="<NON_REF>"' | annotate -x
  INFO,^FORMAT/GT``: biallelic variant rows, GT only (reference-block rows and the
  <NON_REF> rows of split records dropped; bcftools 1.16 keeps <NON_REF> as an ALT).
- diagnostic: the same joint_genotypes rows written as ONE parquet file (snappy, zstd),
  to separate the encoding from the cost of one file per chunk partition.

    uv run python bench/p4.py --p1               # P1's outputs (run p1.py first)
    uv run python bench/p4.py --lake ROOT        # a lake's curated zone (P6's lake)
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import harness
import polars as pl

from ngrl_assets.genomics import reference
from ngrl_assets.genomics.tables import (
    JOINT_CALL_INCREMENTS,
    JOINT_GENOTYPES,
    RAW_SEQUENCES,
    VARIANT_SITES,
    QcVerdict,
)
from resources.lake import Lake

SITE_KEY = ["contig", "pos", "ref", "alt"]
PAR_X = reference.PARS["chrX"]


def _allele(col: str) -> pl.Expr:
    c = pl.col(col)
    return pl.when(c < 0).then(pl.lit(".")).otherwise(c.cast(pl.String))


def _cells(g: pl.DataFrame, full: bool) -> pl.DataFrame:
    c = pl.col
    gt = (
        pl.when(c("a2").is_null())
        .then(_allele("a1"))
        .otherwise(pl.concat_str([_allele("a1"), pl.lit("/"), _allele("a2")]))
    )
    reason = c("no_call_reason").fill_null(".")

    def rnc(col: str) -> pl.Expr:
        return pl.when(c(col) < 0).then(reason).otherwise(pl.lit("."))

    rncs = pl.when(c("a2").is_null()).then(rnc("a1")).otherwise(rnc("a1") + rnc("a2"))
    parts = [gt, pl.lit(":"), rncs]
    if full:

        def num(col: str) -> pl.Expr:
            return c(col).cast(pl.String).fill_null(".")

        ad = (
            pl.when(c("ad_ref").is_null() & c("ad_alt").is_null())
            .then(pl.lit("."))
            .otherwise(pl.concat_str([num("ad_ref"), pl.lit(","), num("ad_alt")]))
        )
        parts += [pl.lit(":"), num("dp"), pl.lit(":"), num("gq"), pl.lit(":"), ad]
    return g.select(*SITE_KEY, "participant_id", pl.concat_str(parts).alias("cell"))


def export_bcf(
    genotypes: pl.DataFrame, sites: pl.DataFrame, sex: dict[str, str], out: Path, full: bool
) -> int:
    """Write our calls as a dense multi-sample BCF; returns its size in bytes."""
    from ngrl_assets.genomics.reference import GRCH38_CONTIGS

    names = sorted(sex)
    order = {name: i for i, name in enumerate(GRCH38_CONTIGS)}
    sites = (
        sites.select(SITE_KEY)
        .unique()
        .sort(pl.col("contig").replace_strict(order, default=len(order)), "pos", "ref", "alt")
    )
    other = genotypes.group_by(SITE_KEY).agg(
        ((pl.col("a1") == 2) | (pl.col("a2") == 2)).any().alias("other")
    )
    wide = _cells(genotypes, full).pivot(on="participant_id", index=SITE_KEY, values="cell")
    frame = sites.join(wide, on=SITE_KEY, how="left").join(other, on=SITE_KEY, how="left")
    haploid = (pl.col("contig") == "chrX") & ~pl.any_horizontal(
        pl.col("pos").is_between(lo, hi) for lo, hi in PAR_X
    )
    rest = ":.:.:." if full else ""
    fills = []
    for name in names:
        default = pl.when(haploid & (sex[name] == "XY")).then(pl.lit("0:." + rest))
        default = default.otherwise(pl.lit("0/0:.." + rest))
        col = pl.col(name) if name in frame.columns else pl.lit(None, dtype=pl.String)
        fills.append(col.fill_null(default).alias(name))
    fmt = "GT:RNC:DP:GQ:AD" if full else "GT:RNC"
    alt = pl.when(pl.col("other").fill_null(False)).then(pl.col("alt") + ",<*>")
    lines = frame.select(
        pl.concat_str(
            [
                pl.col("contig"),
                pl.col("pos").cast(pl.String),
                pl.lit("."),
                pl.col("ref"),
                alt.otherwise(pl.col("alt")),
                pl.lit(". . . " + fmt).str.replace_all(" ", "\t"),
                *fills,
            ],
            separator="\t",
        ).alias("line")
    )
    header = ["##fileformat=VCFv4.2", "##source=ngrl bench p4 (joint_genotypes export)"]
    header += [f"##contig=<ID={c},length={n}>" for c, n in GRCH38_CONTIGS.items()]
    header += [
        '##ALT=<ID=*,Description="Some other non-reference allele">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=RNC,Number=1,Type=String,Description="No-call reason per allele">',
    ]
    if full:
        header += [
            '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
            '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
            '##FORMAT=<ID=AD,Number=.,Type=Integer,Description="Allelic depths ref,alt">',
        ]
    header.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(names))
    vcf = out.with_suffix(".vcf")
    with vcf.open("w") as fh:
        fh.write("\n".join(header) + "\n")
        lines.write_csv(fh, include_header=False, quote_style="never")
    subprocess.run(["bcftools", "view", "-Ob", "-o", str(out), str(vcf)], check=True)
    vcf.unlink()
    return out.stat().st_size


def bcftools_gt_only(merged: Path, out: Path) -> tuple[int, int]:
    """Anchor B: bcftools' merged gVCF -> biallelic variant rows, GT only."""
    cmd = (
        f"bcftools norm -m-any -Ou {merged} | "
        f'bcftools view -e \'ALT="<*>" || ALT="<NON_REF>"\' -Ou | '
        f"bcftools annotate -x INFO,^FORMAT/GT -Ob -o {out}"
    )
    subprocess.run(cmd, shell=True, check=True)
    rows = subprocess.run(
        ["bcftools", "index", "-n", str(out)], capture_output=True, text=True, check=False
    )
    if rows.returncode != 0:
        subprocess.run(["bcftools", "index", str(out)], check=True)
        rows = subprocess.run(
            ["bcftools", "index", "-n", str(out)], capture_output=True, text=True, check=True
        )
    Path(f"{out}.csi").unlink(missing_ok=True)
    return out.stat().st_size, int(rows.stdout.strip())


def sizes(
    genotypes_dir: Path, sites_dir: Path, sex: dict[str, str], work: Path, label: str
) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    g = pl.read_delta(str(genotypes_dir))
    s = pl.read_delta(str(sites_dir))
    ours = harness.delta_bytes(genotypes_dir)
    sites = harness.delta_bytes(sites_dir)
    a_full = export_bcf(g, s, sex, work / f"{label}_ours_full.bcf", full=True)
    a_gt = export_bcf(g, s, sex, work / f"{label}_ours_gt.bcf", full=False)
    flat = {}
    ordered = g.sort([*SITE_KEY, "participant_id"])
    for comp in ("snappy", "zstd"):
        ordered.write_parquet(work / "flat.parquet", compression=comp)
        flat[comp] = (work / "flat.parquet").stat().st_size
    (work / "flat.parquet").unlink()
    return {
        "samples": len(sex),
        "sites": s.height,
        "genotype_rows": g.height,
        "dense_cells": s.height * len(sex),
        "joint_genotypes_bytes": ours,
        "variant_sites_bytes": sites,
        "bcf_ours_gt_rnc_dp_gq_ad_bytes": a_full,
        "bcf_ours_gt_rnc_bytes": a_gt,
        "joint_genotypes_one_file_bytes": flat,
        "ratio_joint_genotypes_vs_bcf_full": round(ours["total"] / a_full, 3),
        "ratio_joint_genotypes_current_vs_bcf_full": round(ours["current"] / a_full, 3),
        "ratio_joint_genotypes_vs_bcf_gt_rnc": round(ours["total"] / a_gt, 3),
        "ratio_genotypes_plus_sites_vs_bcf_full": round(
            (ours["total"] + sites["total"]) / a_full, 3
        ),
    }


def compacted(table: Path, work: Path) -> dict[str, int]:
    """A copy of a Delta table after OPTIMIZE (compact) + VACUUM: its bytes."""
    from deltalake import DeltaTable

    copy = work / f"{table.name}_compacted"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(table, copy)
    dt = DeltaTable(str(copy))
    dt.optimize.compact()
    dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    out = harness.delta_bytes(copy)
    shutil.rmtree(copy)
    return out


def sex_from_manifests(landing: Path) -> dict[str, str]:
    out = {}
    for manifest in sorted(landing.glob("sequencing/*/manifest.tsv")):
        with manifest.open() as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                out[row["sample_id"]] = row["inferred_sex"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--p1", action="store_true")
    p.add_argument("--lake", type=Path)
    args = p.parse_args(argv)
    work = harness.OUT / "p4"
    shutil.rmtree(work, ignore_errors=True)
    result: dict = {"machine": harness.machine()}
    if args.p1:
        p1 = harness.OUT / "p1"
        ours = Lake(root_uri=str(p1 / "ours"))  # p1_ours.py writes a lake there
        sex = sex_from_manifests(p1 / "landing")
        result["p1"] = sizes(
            Path(ours.table_uri(JOINT_GENOTYPES)),
            Path(ours.table_uri(VARIANT_SITES)),
            sex,
            work,
            "p1",
        )
        merged = p1 / "merged.bcf"
        b_bytes, b_rows = bcftools_gt_only(merged, work / "p1_bcftools_gt.bcf")
        result["p1"] |= {
            "bcf_bcftools_merged_raw_bytes": merged.stat().st_size,
            "bcf_bcftools_gt_only_bytes": b_bytes,
            "bcf_bcftools_gt_only_rows": b_rows,
            "ratio_joint_genotypes_vs_bcftools_gt_only": round(
                result["p1"]["joint_genotypes_bytes"]["total"] / b_bytes, 3
            ),
        }
    if args.lake:
        lake = Lake(root_uri=str(args.lake))
        raw = lake.read(RAW_SEQUENCES).filter(pl.col("qc_verdict") == QcVerdict.PASS)
        sex = dict(raw.select("participant_id", "inferred_sex").iter_rows())
        genotypes_dir = Path(lake.table_uri(JOINT_GENOTYPES))
        sites_dir = Path(lake.table_uri(VARIANT_SITES))
        res = sizes(genotypes_dir, sites_dir, sex, work, "lake")
        res["increments"] = lake.read(JOINT_CALL_INCREMENTS)["increment"].n_unique()
        res["joint_genotypes_compacted_bytes"] = compacted(genotypes_dir, work)
        res["variant_sites_compacted_bytes"] = compacted(sites_dir, work)
        res["ratio_compacted_joint_genotypes_vs_bcf_full"] = round(
            res["joint_genotypes_compacted_bytes"]["total"] / res["bcf_ours_gt_rnc_dp_gq_ad_bytes"],
            3,
        )
        result["lake"] = res
    harness.save("p4" if args.p1 else "p4_lake", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
