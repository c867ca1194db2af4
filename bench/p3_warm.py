"""P3 / P3b warm: query latency inside a live session (what a researcher in a notebook
sees once polars / DuckDB are imported) vs the same bcftools command lines, each timed
with ``perf_counter`` around the process (no polling floor). Same inputs as
``bench/p3_p5.py`` (run that first: it builds the release and exports it to VCF/BCF).

    uv run python bench/p3_warm.py [--reps 15]

Prints and writes ``bench/out/results/p3_warm.json``. Run by hand, never in CI."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from ngrl_assets.releases import readers

WORK = harness.OUT / "p3"
PLUGINS = "/usr/lib/x86_64-linux-gnu/bcftools"


def timed(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    inputs = json.loads((harness.OUT / "results" / "p3_p5.json").read_text())["p3_inputs"]
    contig, span = inputs["region"].split(":")
    start, end = (int(x) for x in span.split("-"))
    lake = str(WORK / "lake")
    genotypes = readers.published_path(lake, "v1", "joint_genotypes")
    sites_path = readers.published_path(lake, "v1", "variant_sites")
    cohorts = readers.published_path(lake, "v1", "joint_call_cohorts")
    bcf = WORK / "export" / "release.bcf"

    region = (pl.col("contig") == contig) & pl.col("pos").is_between(start, end)

    def ours_region() -> int:
        return pl.scan_delta(genotypes).filter(region).collect().height

    carrier = (
        pl.scan_delta(genotypes)
        .filter(region)
        .filter((pl.col("a1") == 1) | (pl.col("a2") == 1))
        .group_by("contig", "pos", "ref", "alt")
        .len()
        .sort("len", descending=True)
        .collect()
        .row(0)
    )
    c_contig, c_pos, c_ref, c_alt, _ = carrier

    def ours_carriers() -> int:
        return (
            pl.scan_delta(genotypes)
            .filter(
                (pl.col("contig") == c_contig)
                & (pl.col("pos") == c_pos)
                & (pl.col("ref") == c_ref)
                & (pl.col("alt") == c_alt)
                & ((pl.col("a1") == 1) | (pl.col("a2") == 1))
            )
            .collect()
            .height
        )

    con = readers.duckdb_connect()

    def duck_region() -> int:
        q = "SELECT * FROM delta_scan(?) WHERE contig = ? AND pos BETWEEN ? AND ?"
        return len(con.execute(q, [genotypes, contig, start, end]).fetchall())

    samples_file = WORK / "q" / "members.txt"  # the 10 % sub-cohort p3_p5.py drew
    picked = samples_file.read_text().split() if samples_file.exists() else []
    sub = pl.DataFrame({"participant_id": picked}, schema={"participant_id": pl.String})
    members = sub["participant_id"].implode()
    assert pl.read_delta(cohorts).height > 0

    def ours_subcohort_af() -> int:
        g = pl.scan_delta(genotypes).filter(pl.col("participant_id").is_in(members))
        alt = (pl.col("a1") == 1).cast(pl.Int32) + (pl.col("a2") == 1).fill_null(False).cast(
            pl.Int32
        )
        missing = (pl.col("a1") < 0).cast(pl.Int32) + (pl.col("a2") < 0).fill_null(False).cast(
            pl.Int32
        )
        per_site = g.group_by("contig", "pos", "ref", "alt").agg(
            alt.sum().alias("AC"), missing.sum().alias("miss")
        )
        sites = pl.scan_delta(sites_path).select("contig", "pos", "ref", "alt")
        out = (
            sites.join(per_site, on=["contig", "pos", "ref", "alt"], how="left")
            .with_columns(
                pl.col("AC").fill_null(0),
                (2 * sub.height - pl.col("miss").fill_null(0)).alias("AN"),
            )
            .with_columns((pl.col("AC") / pl.col("AN")).alias("AF"))
            .collect()
        )
        return out.height

    env = {**os.environ, "BCFTOOLS_PLUGINS": PLUGINS}

    def run(cmd: str) -> None:
        subprocess.run(cmd, shell=True, check=True, env=env, stdout=subprocess.DEVNULL)

    reg = f"{contig}:{start}-{end}"
    bcf_region = f"bcftools view -r {reg} -Ov {bcf}"
    bcf_carriers = (
        f'bcftools query -r {c_contig}:{c_pos} -i \'REF="{c_ref}" && ALT="{c_alt}" && '
        f"GT=\"alt\"' -f '[%SAMPLE\\n]' {bcf}"
    )
    results: dict[str, object] = {"reps": args.reps, "region": reg}
    rows = {
        "region": (ours_region, duck_region, bcf_region),
        "carriers": (ours_carriers, None, bcf_carriers),
    }
    if picked:
        rows["subcohort_af"] = (
            ours_subcohort_af,
            None,
            f"bcftools view -S {samples_file} -Ou {bcf} | bcftools +fill-tags -Ou -- "
            f"-t AN,AC,AF | bcftools query -f '%CHROM\\t%POS\\t%AF\\n'",
        )
    for name, (polars_fn, duck_fn, cmd) in rows.items():
        polars_fn()  # warm the file cache and the plan once
        ours = timed(polars_fn, args.reps)
        duck = timed(duck_fn, args.reps) if duck_fn else None
        anchor = timed(lambda cmd=cmd: run(cmd), args.reps)
        results[name] = {
            "polars_s": round(ours, 4),
            "duckdb_s": round(duck, 4) if duck is not None else None,
            "bcftools_s": round(anchor, 4),
            "ratio_polars": round(ours / anchor, 3),
            "ratio_duckdb": round(duck / anchor, 3) if duck is not None else None,
        }
        print(name, results[name])
    results["machine"] = harness.machine()
    out = harness.OUT / "results" / "p3_warm.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
