"""P3, P3b, P4 (release) and P5: reading a research release vs indexed VCF/BCF, and the
cost of cutting it.

Setup (untimed, cached under bench/out/p3/library_*): the synthetic generator through
``bench/gen.py`` (one window of ``--width`` bp in each of 316 genome chunks, as P6; or
``--width 0``: the generator's own windows, as the tests use it) with ``--participants``
participants (250 -> >= 200 released genomes) in deliveries of 50, landed and run through
every sensor (``run_all``), as a library is built.

P5 (timed): a fresh copy of the library; ``cut_release(lake, secrets, "v1", freeze)`` in a
fresh process (cohort, pseudonyms, every table, the genomic projection of the library
onto the released samples, the gate without the GX suites, manifest, registry), time
taken inside around the call and the process wall. Anchor, in the same run, each rep a
fresh process: a plain copy of the curated tables the cut reads (``shutil.copytree`` of
consent_status, raw_sequences, sample_variant_calls, sample_reference_blocks, the five
extracts and diagnoses), and polars ``read_delta`` + ``write_delta`` of each of them.
Ratio cut / copy (goal <= 2.0).

Export (untimed): the release's joint_genotypes + variant_sites as a dense multi-sample
BCF with FORMAT GT:RNC:DP:GQ:AD (``bench/p4.py``'s export: implied hom-ref cells written
as 0/0, or 0 for XY on chrX outside the PARs), indexed (``bcftools index``), and the same
as a bgzipped VCF with a tabix index.

P3 (timed, every rep a fresh process, alternating sides, median of ``--reps``):
- region: the 1 Mb window holding most sites, every sample's genotypes out: ours
  ``pl.scan_delta(joint_genotypes)`` filtered on contig/pos (sparse rows out to TSV) and
  the same through DuckDB ``delta_scan`` (COPY to TSV); anchor ``bcftools view -r
  REGION -Ov -o out.vcf`` on the indexed VCF.gz and on the indexed BCF;
- carriers of one variant (the site of the window with most carriers and no other-allele
  rows): ours polars / DuckDB filter ``a1 == 1 or a2 == 1``; anchor ``bcftools query -r
  chr:pos -i 'REF=.. && ALT=.. && GT="alt"' -f '[%SAMPLE\\n]'``; the carrier sets are
  checked equal.
P3b: AF of a 10 % sub-cohort of released samples over the whole release: ours, polars over
joint_genotypes + joint_call_cohorts + variant_sites (docs/releases.md's arithmetic, every
site), to parquet; anchor ``bcftools view -S list -Ou BCF | bcftools +fill-tags -Ou -- -t
AN,AC,AF | bcftools query -f ...`` to TSV. AFs compared on the autosomes (the BCF's chrY
cells are written diploid for everyone, so chrX/Y are left out of the comparison).
P4 (release): bytes of releases/v1/joint_genotypes (all files + log) vs the BCF.

    uv run python bench/p3_p5.py [--participants 250] [--width 1500] [--reps 5] [--cut-reps 1]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import harness

WORK = harness.OUT / "p3"
FREEZE = "2026-09-30"
KEY_ENV = {"NGRL_SECRET_RELEASE_MASTER_KEY": "5e" * 32}
PLUGINS = "/usr/lib/x86_64-linux-gnu/bcftools"
SITE = ["contig", "pos", "ref", "alt"]


# ---- children ------------------------------------------------------------------------------
def child_cut(root: str) -> dict:
    os.environ.update(KEY_ENV)
    from ngrl_assets.releases.cut import cut_release
    from ngrl_assets.withdrawal.releases import apply_to_cut
    from resources.lake import Lake
    from resources.secrets import Secrets

    lake = Lake(root_uri=root)
    secrets = Secrets(backend="env")
    t0 = time.perf_counter()
    result = cut_release(
        lake, secrets.get_bytes, "v1", dt.date.fromisoformat(FREEZE), withdrawals=apply_to_cut
    )
    seconds = time.perf_counter() - t0
    assert result.published, [g.rule for g in result.failed_rules]
    return {
        "seconds": round(seconds, 3),
        "participants": result.participants,
        "samples": result.samples,
        "tables": result.tables,
    }


def child_copy(sources: list[str], dest: str, how: str) -> dict:
    import polars as pl

    t0 = time.perf_counter()
    for src in sources:
        target = Path(dest) / Path(src).name
        if how == "copytree":
            shutil.copytree(src, target)
        else:
            pl.read_delta(src).write_delta(str(target))
    return {"seconds": round(time.perf_counter() - t0, 3)}


def child_region(engine: str, path: str, contig: str, start: int, end: int, out: str) -> dict:
    t0 = time.perf_counter()
    if engine == "polars":
        import polars as pl

        frame = (
            pl.scan_delta(path)
            .filter((pl.col("contig") == contig) & pl.col("pos").is_between(start, end))
            .collect()
        )
        frame.write_csv(out, separator="\t")
        rows = frame.height
    else:
        from ngrl_assets.releases.readers import duckdb_connect

        con = duckdb_connect()
        con.execute(
            f"COPY (SELECT * FROM delta_scan('{path}') WHERE contig = '{contig}' "
            f"AND pos BETWEEN {start} AND {end}) TO '{out}' (HEADER, DELIMITER '\t')"
        )
        with open(out) as fh:
            rows = sum(1 for _ in fh) - 1
    return {"seconds": round(time.perf_counter() - t0, 4), "rows": rows}


def child_carriers(engine: str, path: str, site: list, out: str) -> dict:
    contig, pos, ref, alt = site
    t0 = time.perf_counter()
    if engine == "polars":
        import polars as pl

        ids = (
            pl.scan_delta(path)
            .filter(
                (pl.col("contig") == contig)
                & (pl.col("pos") == pos)
                & (pl.col("ref") == ref)
                & (pl.col("alt") == alt)
                & ((pl.col("a1") == 1) | (pl.col("a2") == 1))
            )
            .select("participant_id")
            .collect()["participant_id"]
            .to_list()
        )
    else:
        from ngrl_assets.releases.readers import duckdb_connect

        con = duckdb_connect()
        ids = [
            r[0]
            for r in con.execute(
                f"SELECT participant_id FROM delta_scan('{path}') WHERE contig = ? AND pos = ? "
                "AND ref = ? AND alt = ? AND (a1 = 1 OR a2 = 1)",
                [contig, pos, ref, alt],
            ).fetchall()
        ]
    Path(out).write_text("".join(f"{i}\n" for i in sorted(ids)))
    return {"seconds": round(time.perf_counter() - t0, 4), "carriers": len(ids)}


def child_subcohort(release: str, members_file: str, out: str) -> dict:
    import polars as pl

    t0 = time.perf_counter()
    group = pl.DataFrame({"participant_id": Path(members_file).read_text().split()}).lazy()
    members = (
        pl.scan_delta(f"{release}/joint_call_cohorts")
        .join(group, on="participant_id", how="semi")
        .group_by("chunk")
        .agg(pl.len().alias("members"))
    )
    alleles = [pl.col("a1"), pl.col("a2")]
    in_rows = (
        pl.scan_delta(f"{release}/joint_genotypes")
        .select("chunk", *SITE, "participant_id", "a1", "a2")
        .join(group, on="participant_id", how="semi")
        .group_by("chunk", *SITE)
        .agg(
            AC=pl.sum_horizontal((a == 1).fill_null(False).cast(pl.Int64) for a in alleles).sum(),
            no_calls=pl.sum_horizontal(
                (a < 0).fill_null(False).cast(pl.Int64) for a in alleles
            ).sum(),
        )
    )
    af = (
        pl.scan_delta(f"{release}/variant_sites")
        .select("chunk", *SITE)
        .join(members, on="chunk", how="inner")
        .join(in_rows, on=["chunk", *SITE], how="left")
        .with_columns(pl.col("AC", "no_calls").fill_null(0))
        .with_columns(AN=2 * pl.col("members") - pl.col("no_calls"))
        .with_columns(AF=pl.when(pl.col("AN") > 0).then(pl.col("AC") / pl.col("AN")))
        .select(*SITE, "AC", "AN", "AF")
        .collect()
    )
    af.write_parquet(out)
    return {"seconds": round(time.perf_counter() - t0, 4), "sites": af.height}


# ---- setup ---------------------------------------------------------------------------------
def build_library(participants: int, seed: int, width: int) -> Path:
    library = WORK / f"library_{participants}_{seed}_{width}"
    if (library / "done").exists():
        return library
    shutil.rmtree(library, ignore_errors=True)
    import dagster as dg

    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.pipeline import run_all
    from ngrl_assets.synth import generate_cohort
    from resources.lake import Lake

    t0 = time.perf_counter()
    source = library / "source"
    if width:  # bench/gen.py: one window of `width` bp in each of 316 genome chunks
        import gen

        gen.cohort(source, participants, seed, 50, width)
    else:  # the generator's own windows, as the tests use it
        generate_cohort(source, participants=participants, seed=seed, batch_size=50)
    lake = Lake(root_uri=str(library / "lake"))
    shutil.copytree(source, lake.zone("landing"), dirs_exist_ok=True)
    home = library / "dagster"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = run_all(build_definitions(lake), lake, instance)
        assert result.success, result.failures()
    shutil.rmtree(source)
    (library / "done").write_text(f"{time.perf_counter() - t0:.1f} s\n")
    return library


def cut_inputs(lake_root: Path) -> list[str]:
    from ngrl_assets.clinical.tables import DIAGNOSES, EXTRACTS
    from ngrl_assets.consent.tables import CONSENT_STATUS
    from ngrl_assets.genomics.tables import (
        RAW_SEQUENCES,
        SAMPLE_REFERENCE_BLOCKS,
        SAMPLE_VARIANT_CALLS,
    )
    from resources.lake import Lake

    lake = Lake(root_uri=str(lake_root))
    specs = [CONSENT_STATUS, RAW_SEQUENCES, SAMPLE_VARIANT_CALLS, SAMPLE_REFERENCE_BLOCKS]
    specs += [*EXTRACTS.values(), DIAGNOSES]
    return [lake.table_uri(s) for s in specs if Path(lake.table_uri(s)).exists()]


def export(release: Path, out: Path) -> dict:
    """The release's calls as an indexed BCF and an indexed VCF.gz (same cells)."""
    import p4
    import polars as pl

    out.mkdir(parents=True, exist_ok=True)
    g = pl.read_delta(str(release / "joint_genotypes"))
    s = pl.read_delta(str(release / "variant_sites"))
    stats = pl.read_delta(str(release / "aggregate_gvcf_sample_stats"))
    sex = dict(stats.select("participant_id", "inferred_sex").iter_rows())
    bcf, vcf = out / "release.bcf", out / "release.vcf.gz"
    t0 = time.perf_counter()
    p4.export_bcf(g, s, sex, bcf, full=True)
    subprocess.run(["bcftools", "index", "-f", str(bcf)], check=True)
    subprocess.run(["bcftools", "view", "-Oz", "-o", str(vcf), str(bcf)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(vcf)], check=True)
    return {
        "export_s": round(time.perf_counter() - t0, 1),
        "samples": len(sex),
        "sites": s.height,
        "genotype_rows": g.height,
        "bcf_bytes": bcf.stat().st_size,
        "vcf_gz_bytes": vcf.stat().st_size,
    }


# ---- timing --------------------------------------------------------------------------------
def run(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    t = harness.timed(cmd, env=env)
    row = {
        "wall_s": t.wall_s,
        "max_rss_kb": max(t.max_rss_kb, t.tree_peak_rss_kb),
        "other_cpu_s": t.other_cpu_s,
    }
    with contextlib.suppress(ValueError):
        row |= harness.last_json(t.stdout)
    return row


def me(*args: str) -> list[str]:
    return [*harness.PY, __file__, "--child", *args]


def shell(script: str) -> list[str]:
    return ["bash", "-c", "set -euo pipefail; " + script]


def summary(rows: list[dict]) -> dict:
    out = {
        "wall_s_median": statistics.median(r["wall_s"] for r in rows),
        "max_rss_kb_median": int(statistics.median(r["max_rss_kb"] for r in rows)),
        "reps": len(rows),
        "other_cpu_s_total": round(sum(r["other_cpu_s"] for r in rows), 1),
    }
    if all("seconds" in r for r in rows):
        out["inside_s_median"] = statistics.median(r["seconds"] for r in rows)
    return out


def side_by_side(sides: dict[str, list[str]], reps: int) -> dict[str, Any]:
    """Every side ``reps`` times, alternating (one rep of each side, then the next)."""
    runs: dict[str, list[dict]] = {k: [] for k in sides}
    for _ in range(reps):
        for name, cmd in sides.items():
            runs[name].append(run(cmd, env={"BCFTOOLS_PLUGINS": PLUGINS}))
    return {k: summary(v) | {"runs": v} for k, v in runs.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--participants", type=int, default=250)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--width", type=int, default=1_500, help="gen.py windows; 0: synth's own")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--cut-reps", type=int, default=1)
    p.add_argument("--child", nargs="+")
    args = p.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "cut":
            res = child_cut(rest[0])
        elif kind == "copy":
            res = child_copy(rest[2:], rest[0], rest[1])
        elif kind == "region":
            res = child_region(rest[0], rest[1], rest[2], int(rest[3]), int(rest[4]), rest[5])
        elif kind == "carriers":
            site = [rest[2], int(rest[3]), rest[4], rest[5]]
            res = child_carriers(rest[0], rest[1], site, rest[6])
        else:
            res = child_subcohort(rest[0], rest[1], rest[2])
        print(json.dumps(res))
        return 0

    import polars as pl

    result: dict = {"machine": harness.machine(), "args": vars(args)}
    library = build_library(args.participants, args.seed, args.width)
    result["library_build"] = (library / "done").read_text().strip()
    sources = cut_inputs(library / "lake")

    # P5: the cut vs a plain copy of its inputs
    cuts: list[dict] = []
    copies: list[dict] = []
    rewrites: list[dict] = []
    lake = WORK / "lake"
    for rep in range(args.cut_reps):
        shutil.rmtree(lake, ignore_errors=True)
        shutil.copytree(library / "lake", lake)
        cuts.append(run(me("cut", str(lake))))
        print("cut", json.dumps({k: v for k, v in cuts[-1].items() if k != "tables"}), flush=True)
        if rep < args.cut_reps - 1:
            shutil.rmtree(lake)
    for _ in range(3):
        for how, bucket in (("copytree", copies), ("polars", rewrites)):
            dest = WORK / "copy"
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            bucket.append(run(me("copy", str(dest), how, *sources)))
            shutil.rmtree(dest)
    input_bytes = sum(harness.folder_bytes(Path(s))["total"] for s in sources)
    cut_s = summary(cuts)
    result["p5"] = {
        "cut": cut_s | {"runs": cuts},
        "copytree": summary(copies),
        "polars_read_write": summary(rewrites),
        "input_tables": [Path(s).name for s in sources],
        "input_bytes": input_bytes,
        "ratio_cut_vs_copytree": round(
            cut_s["wall_s_median"] / summary(copies)["wall_s_median"], 2
        ),
        "ratio_cut_vs_polars_rewrite": round(
            cut_s["wall_s_median"] / summary(rewrites)["wall_s_median"], 2
        ),
        "goal": "<= 2.0",
    }
    print("p5", json.dumps({k: v for k, v in result["p5"].items() if k != "cut"}), flush=True)

    release = lake / "releases" / "v1"
    ex = WORK / "export"
    shutil.rmtree(ex, ignore_errors=True)
    result["export"] = export(release, ex)
    print("export", json.dumps(result["export"]), flush=True)
    bcf, vcf = ex / "release.bcf", ex / "release.vcf.gz"
    genotypes = str(release / "joint_genotypes")

    # P4 (release): bytes as stored vs the BCF of the same calls and FORMAT fields
    stored = harness.folder_bytes(release / "joint_genotypes")
    result["p4_release"] = {
        "joint_genotypes_bytes": stored,
        "bcf_bytes": result["export"]["bcf_bytes"],
        "vcf_gz_bytes": result["export"]["vcf_gz_bytes"],
        "ratio_vs_bcf": round(stored["total"] / result["export"]["bcf_bytes"], 3),
        "goal": "<= 1.0",
    }
    print("p4", json.dumps(result["p4_release"]), flush=True)

    # P3: the densest 1 Mb window and a carrier site in it
    sites = pl.read_delta(str(release / "variant_sites"))
    g = pl.read_delta(genotypes)
    win = (
        sites.group_by("contig", (pl.col("pos") // 1_000_000).alias("mb"))
        .len()
        .sort("len", "contig", "mb", descending=[True, False, False])
        .row(0, named=True)
    )
    contig, start = win["contig"], win["mb"] * 1_000_000 + 1
    end = start + 1_000_000 - 1
    in_win = g.filter((pl.col("contig") == contig) & pl.col("pos").is_between(start, end))
    other = in_win.filter((pl.col("a1") == 2) | (pl.col("a2") == 2)).select(SITE).unique()
    carrier_rows = in_win.filter((pl.col("a1") == 1) | (pl.col("a2") == 1)).join(
        other, on=SITE, how="anti"
    )
    by_site = carrier_rows.group_by(SITE).len().sort("len", *SITE, descending=[True] + [False] * 4)
    site_row = list(by_site.row(0)[:4])
    region = f"{contig}:{start}-{end}"
    result["p3_inputs"] = {
        "region": region,
        "region_sites": int(
            sites.filter((pl.col("contig") == contig) & pl.col("pos").is_between(start, end)).height
        ),
        "region_genotype_rows": in_win.height,
        "carrier_site_carriers": int(by_site.row(0)[4]),
    }
    out = WORK / "q"
    out.mkdir(exist_ok=True)
    c, pos, ref, alt = site_row
    q = f'bcftools query -r {c}:{pos} -i \'REF="{ref}" && ALT="{alt}" && GT="alt"\''
    q += " -f '[%SAMPLE\\n]'"
    region_sides = {
        "polars": me("region", "polars", genotypes, contig, str(start), str(end), f"{out}/rp.tsv"),
        "duckdb": me("region", "duckdb", genotypes, contig, str(start), str(end), f"{out}/rd.tsv"),
        "bcftools_vcf_gz": [
            "bcftools",
            "view",
            "-r",
            region,
            "-Ov",
            "-o",
            f"{out}/rv.vcf",
            str(vcf),
        ],
        "bcftools_bcf": ["bcftools", "view", "-r", region, "-Ov", "-o", f"{out}/rb.vcf", str(bcf)],
    }
    site_args = [str(x) for x in site_row]
    carrier_sides = {
        "polars": me("carriers", "polars", genotypes, *site_args, f"{out}/cp.txt"),
        "duckdb": me("carriers", "duckdb", genotypes, *site_args, f"{out}/cd.txt"),
        "bcftools_vcf_gz": shell(f"{q} {vcf} | sort > {out}/cv.txt"),
        "bcftools_bcf": shell(f"{q} {bcf} | sort > {out}/cb.txt"),
    }
    p3: dict = {"region": side_by_side(region_sides, args.reps)}
    p3["carriers"] = side_by_side(carrier_sides, args.reps)
    files = {"polars": "cp", "duckdb": "cd", "bcftools_vcf_gz": "cv", "bcftools_bcf": "cb"}
    texts = {n: (out / f"{f}.txt").read_text() for n, f in files.items()}
    p3["carriers_agree"] = len(set(texts.values())) == 1
    vcf_records = int(
        subprocess.run(
            shell(f"grep -vc '^#' {out}/rb.vcf"), capture_output=True, text=True, check=False
        ).stdout.strip()
        or 0
    )
    p3["region_vcf_records"] = vcf_records
    for kind in ("region", "carriers"):
        sides = p3[kind]
        for ours in ("polars", "duckdb"):
            for anchor in ("bcftools_vcf_gz", "bcftools_bcf"):
                a, b = sides[ours], sides[anchor]
                sides[f"ratio_{ours}_vs_{anchor}_wall"] = round(
                    a["wall_s_median"] / b["wall_s_median"], 2
                )
                sides[f"ratio_{ours}_vs_{anchor}_rss"] = round(
                    a["max_rss_kb_median"] / b["max_rss_kb_median"], 1
                )
    result["p3"] = p3
    print(
        "p3",
        json.dumps(
            {
                k: {kk: vv for kk, vv in v.items() if kk != "runs"} if isinstance(v, dict) else v
                for k, v in p3.items()
            }
        ),
        flush=True,
    )

    # P3b: AF of a 10 % sub-cohort over the whole release
    stats = pl.read_delta(str(release / "aggregate_gvcf_sample_stats"))
    ids = sorted(stats["participant_id"].to_list())
    pick = sorted(random.Random(7).sample(ids, max(1, len(ids) // 10)))
    members = out / "members.txt"
    members.write_text("".join(f"{i}\n" for i in pick))
    fmt = "%CHROM\\t%POS\\t%REF\\t%ALT\\t%INFO/AC\\t%INFO/AN\\t%INFO/AF\\n"
    anchor = (
        f"bcftools view -S {members} -Ou {bcf} | bcftools +fill-tags -Ou -- -t AN,AC,AF"
        f" | bcftools query -f '{fmt}' > {out}/af.tsv"
    )
    p3b = side_by_side(
        {
            "polars": me("subcohort", str(release), str(members), f"{out}/af.parquet"),
            "bcftools": shell(anchor),
        },
        max(3, args.reps // 2),
    )
    p3b["members"] = len(pick)
    p3b["ratio_bcftools_vs_polars_wall"] = round(
        p3b["bcftools"]["wall_s_median"] / p3b["polars"]["wall_s_median"], 2
    )
    p3b["ratio_bcftools_vs_polars_rss"] = round(
        p3b["bcftools"]["max_rss_kb_median"] / p3b["polars"]["max_rss_kb_median"], 2
    )
    p3b["goal"] = "polars >= 10x faster than bcftools"
    ours_af = pl.read_parquet(out / "af.parquet")
    theirs = pl.read_csv(
        out / "af.tsv",
        separator="\t",
        has_header=False,
        new_columns=["contig", "pos", "ref", "alt_bcf", "AC_b", "AN_b", "AF_b"],
        schema_overrides={"AC_b": pl.String, "AF_b": pl.String, "pos": pl.Int32},
    ).with_columns(
        pl.col("alt_bcf").str.split(",").list.first().alias("alt"),
        pl.col("AC_b").str.split(",").list.first().cast(pl.Int64),
        pl.col("AF_b").str.split(",").list.first().cast(pl.Float64, strict=False),
    )
    auto = ours_af.filter(pl.col("contig").str.contains(r"^chr[0-9]+$"))
    both = auto.join(theirs, on=SITE, how="inner")
    sample = both.sample(min(2000, both.height), seed=3) if both.height else both
    p3b["af_check"] = {
        "autosomal_sites_ours": auto.height,
        "matched_in_bcftools": both.height,
        "sampled": sample.height,
        "ac_equal": int((sample["AC"] == sample["AC_b"]).sum()),
        "an_equal": int((sample["AN"] == sample["AN_b"]).sum()),
        "af_equal_1e-6": int(
            ((sample["AF"].fill_null(0) - sample["AF_b"].fill_null(0)).abs() < 1e-6).sum()
        ),
    }
    result["p3b"] = p3b
    print(
        "p3b",
        json.dumps({k: v for k, v in p3b.items() if k not in ("polars", "bcftools")}),
        flush=True,
    )
    harness.save("p3_p5", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
