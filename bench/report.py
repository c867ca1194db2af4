"""Print the benchmark results (bench/out/results/*.json) as markdown tables for
BENCHMARKS.md.

    uv run python bench/report.py
"""

from __future__ import annotations

import json
import sys

import harness


def _load(name: str) -> dict | None:
    path = harness.RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def mib(kb_or_bytes: float, unit: str = "kb") -> str:
    value = kb_or_bytes / 1024 if unit == "kb" else kb_or_bytes / 2**20
    return f"{value:,.0f} MiB" if value >= 10 else f"{value:,.1f} MiB"


def main() -> int:
    out: list[str] = []
    p1, p1b, p4, p4l, p6, p7 = (_load(n) for n in ("p1", "p1b", "p4", "p4_lake", "p6", "p7"))
    any_result = next((r for r in (p1, p1b, p4, p6, p7) if r), None)
    if any_result:
        m = any_result["machine"]
        pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
        out += [
            "### Machine",
            "",
            f"{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {m['os']}, kernel "
            f"{m['kernel']}; Python {m['python']}; {m['bcftools']} ({m['htslib']}); {pk}.",
            "",
        ]
    if p1:
        b = p1["bcftools"]
        out += [
            f"### P1 ({p1['when']}): {p1['gvcfs']} gVCFs, {p1['records']:,} records "
            f"({p1['records_per_gvcf_min']:,}-{p1['records_per_gvcf_max']:,} per file)",
            "",
            "| side | wall s | ratio vs bcftools | peak RSS | detail |",
            "|---|---:|---:|---:|---|",
            f"| bcftools merge --gvcf -Ob (anchor) | {b['wall_s']:.1f} | 1.00 | "
            f"{mib(b['peak_rss_kb'])} | BCF {mib(b['bcf_bytes'], 'b')} |",
        ]
        for r in p1["ours"]:
            if r["status"] != "ok":
                out.append(f"| ours, {r['workers']} worker(s) | - | - | - | {r['status']} |")
                continue
            detail = (
                f"read+assign {r['read_s']:.1f} s, joint {r['joint_s']:.1f} s, "
                f"Delta {r['write_s']:.1f} s; {r['sites']:,} sites, "
                f"{r['genotype_rows']:,} genotype rows; main {mib(r['main_max_rss_kb'])}"
            )
            if r["workers"] > 1:
                detail += f", each worker <= {mib(r['worker_max_rss_kb'])}"
            out.append(
                f"| ours, gVCF reading over {r['workers']} process(es) | {r['wall_s']:.1f} | "
                f"**{r['ratio_wall_vs_bcftools']:.2f}** | {mib(r['peak_rss_kb'])} | {detail} |"
            )
        out.append("")
    if p1b:
        out += [
            f"### P1b ({p1b['when']}): {p1b['records']:,} records, median of {p1b['reps']}",
            "",
            "| side | s | records/s | ratio vs anchor | peak RSS |",
            "|---|---:|---:|---:|---:|",
            f"| cyvcf2 iterate-only (anchor) | {p1b['anchor_s_median']:.2f} | "
            f"{p1b['anchor_records_per_s']:,} | 1.00 | {mib(p1b['anchor_max_rss_kb'])} |",
            f"| read_gvcf only (of which scan_gvcf {p1b.get('ours_scan_s_median', 0):.2f} s) | "
            f"{p1b['ours_decode_s_median']:.2f} | "
            f"{p1b['ours_decode_records_per_s']:,} | {p1b['ratio_decode_only_vs_anchor']:.2f} | |",
            f"| read_gvcf + assign + Delta (calls, blocks) | "
            f"{p1b['ours_decode_delta_s_median']:.2f} | "
            f"{p1b['ours_decode_delta_records_per_s']:,} | "
            f"**{p1b['ratio_decode_delta_vs_anchor']:.2f}** | {mib(p1b['ours_max_rss_kb'])} |",
            "",
        ]
    for label, res in (
        ("P4 (P1 outputs)", (p4 or {}).get("p1")),
        ("P4 (P6 library)", (p4l or {}).get("lake")),
    ):
        if not res:
            continue
        jg, vs = res["joint_genotypes_bytes"], res["variant_sites_bytes"]
        full = res["bcf_ours_gt_rnc_dp_gq_ad_bytes"]
        rows = [
            f"### {label}: {res['samples']} samples, {res['sites']:,} sites, "
            f"{res['genotype_rows']:,} sparse rows of {res['dense_cells']:,} cells",
            "",
            "| what | bytes | ratio joint_genotypes / this |",
            "|---|---:|---:|",
            f"| joint_genotypes Delta folder on disk ({jg['files']} files; log "
            f"{jg['delta_log']:,}) | {jg['total']:,} | |",
            f"| joint_genotypes, parquet of the current version only "
            f"({jg.get('current_files', '?')} files) | {jg.get('current', 0):,} | |",
            f"| variant_sites Delta folder on disk ({vs['files']} files; current version "
            f"{vs.get('current', 0):,}) | {vs['total']:,} | |",
            f"| BCF of our calls, GT:RNC:DP:GQ:AD (anchor) | {full:,} | "
            f"**{res['ratio_joint_genotypes_vs_bcf_full']:.2f}** (current version: "
            f"{res.get('ratio_joint_genotypes_current_vs_bcf_full', float('nan')):.2f}) |",
            f"| BCF of our calls, GT:RNC | {res['bcf_ours_gt_rnc_bytes']:,} | "
            f"{res['ratio_joint_genotypes_vs_bcf_gt_rnc']:.2f} |",
        ]
        if "bcf_bcftools_gt_only_bytes" in res:
            rows.append(
                f"| bcftools merge output, norm -m-any, variant rows, GT only "
                f"({res['bcf_bcftools_gt_only_rows']:,} rows) | "
                f"{res['bcf_bcftools_gt_only_bytes']:,} | "
                f"{res['ratio_joint_genotypes_vs_bcftools_gt_only']:.2f} |"
            )
            rows.append(
                f"| bcftools merge output as written (gVCF merge, all fields) | "
                f"{res['bcf_bcftools_merged_raw_bytes']:,} | |"
            )
        one = res["joint_genotypes_one_file_bytes"]
        rows.append(
            f"| diagnostic: same rows as one parquet file, snappy / zstd | "
            f"{one['snappy']:,} / {one['zstd']:,} | "
            f"{one['snappy'] / full:.2f} / {one['zstd'] / full:.2f} (vs anchor) |"
        )
        if "joint_genotypes_compacted_bytes" in res:
            c = res["joint_genotypes_compacted_bytes"]
            rows.append(
                f"| joint_genotypes after OPTIMIZE compact + VACUUM ({c['files']} files) | "
                f"{c['total']:,} | {res['ratio_compacted_joint_genotypes_vs_bcf_full']:.2f} "
                "(vs anchor) |"
            )
        rows.append(
            f"| genotypes + sites vs anchor | {jg['total'] + vs['total']:,} | "
            f"{res['ratio_genotypes_plus_sites_vs_bcf_full']:.2f} |"
        )
        out += [*rows, ""]
    if p6:
        out += [
            f"### P6 ({p6['when']}): batch {p6['batch']}, {p6['windows']} windows x "
            f"{p6['width']} bp, {p6['records_per_sample_mean']:,} records/sample",
            "",
            "| N (library) + batch | increment s | rebuild s | increment / rebuild | new sites | "
            "increment phases (load / old_cohort / compute / write) | peak RSS inc / rebuild |",
            "|---:|---:|---:|---:|---:|---|---:|",
        ]
        for s in p6["summary"]:
            inc, reb = s["increment"], s["rebuild"]
            ph = inc["phases_s"] or {}
            phases = " / ".join(
                f"{ph.get(k, 0):.1f}" for k in ("load", "old_cohort", "compute", "write")
            )
            fmt = lambda x: f"{x:.1f}" if x is not None else "-"  # noqa: E731
            ratio = s["ratio_increment_vs_rebuild"]
            out.append(
                f"| {s['n']} + {s.get('batch_samples', '?')} | {fmt(inc['seconds'])} | "
                f"{fmt(reb['seconds'])} | "
                f"**{ratio:.2f}** | {inc['new_sites']:,} | {phases} | "
                f"{mib(inc['max_rss_kb'])} / {mib(reb['max_rss_kb'])} |"
                if ratio is not None
                else f"| {s['n']} | {inc['status']} | {reb['status']} | - | | | |"
            )
        out.append("")
    if p7:
        ph = p7["ours_phases_s_median"]
        phases = ", ".join(
            f"{k} {ph.get(k, 0):.1f}"
            for k in ("scan_lines", "polars_wait", "split", "delta_write", "sha256")
        )
        out += [
            f"### P7 ({p7['when']}): HES APC, {p7['rows']:,} rows, "
            f"{p7['file_bytes'] / 2**20:,.0f} MiB, median of {p7['reps']}",
            "",
            "| side | s | rows/s | ratio vs floor | peak RSS | detail |",
            "|---|---:|---:|---:|---:|---|",
            f"| pl.read_csv + write_delta (floor) | {p7['anchor_s_median']:.2f} | "
            f"{p7['anchor_rows_per_s']:,} | 1.00 | {mib(p7['anchor_max_rss_kb'])} | "
            f"read {p7['anchor_read_s_median']:.1f} s, write {p7['anchor_write_s_median']:.1f} s |",
            f"| ingest_extract (ours) | {p7['ours_s_median']:.2f} | "
            f"{p7['ours_rows_per_s']:,} | **{p7['ratio_ours_vs_floor']:.2f}** | "
            f"{mib(p7['ours_max_rss_kb'])} | {phases} s; {p7['rows_curated']:,} curated, "
            f"{p7['rows_quarantined']:,} quarantined |",
            "",
        ]
    p9 = _load("p9")
    if p9:
        out += [p9_table(p9), ""]
    print("\n".join(out))
    return 0


def _rss(side: dict) -> str:
    return f"{mib(side['max_rss_kb'])} / {mib(side['tree_peak_rss_kb'])}"


def _p9_ours(o: dict) -> list[str]:
    i, j = o["intake"], o.get("joint", {})
    if i["status"] != "ok" or j.get("status") != "ok":
        failed = i if i["status"] != "ok" else j
        return [f"| ours | {failed['status']} | | | | | | | |"]
    d = j["detail"]
    return [
        f"| ours: intake ({i['detail']['workers']} processes) | {i['wall_s']:.1f} | "
        f"{i['cpu_s']:.1f} | | {_rss(i)} | | {i['other_cpu_s']:.0f} | "
        f"{i['detail']['records']:,} records, "
        f"append {i['detail']['append_s']:.1f} s |",
        f"| ours: joint_call_chunks | {j['wall_s']:.1f} | {j['cpu_s']:.1f} | "
        f"{o['joint_cpu_us_per_cell']:.2f} | {_rss(j)} | {o['stored_bytes_per_genome']:,} | "
        f"{j['other_cpu_s']:.0f} | "
        f"{o['sites']:,} sites; {', '.join(f'{k} {v:.1f} s' for k, v in d['phases_s'].items())} |",
        f"| ours: total | {o['total_wall_s']:.1f} | {o['total_cpu_s']:.1f} | "
        f"{o['cpu_us_per_cell']:.2f} | | | | per-sample tables "
        f"{o['sample_tables_bytes_per_genome']:,} B/genome |",
    ]


def p9_table(p9: dict) -> str:
    """P9: one block per N (bcftools, our intake, our joint calling), then the batch."""
    contig, start, end = p9["region"]
    out = [
        f"### P9 ({p9['when']}): N msprime genomes over {contig}:{start:,}-{end:,}",
        "",
        "| N | side | wall s | CPU s | CPU-us / cell | peak RSS (largest / tree) | "
        "bytes / genome | other CPU s | detail |",
        "|---:|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in p9["rows"]:
        a = r["bcftools"]
        if a["status"] == "ok":
            out.append(
                f"| {r['n']:,} | bcftools merge --gvcf (anchor) | {a['wall_s']:,.1f} | "
                f"{a['cpu_s']:,.1f} | {a['cpu_us_per_cell']:.2f} | {mib(a['max_rss_kb'])} | "
                f"{a['bcf_bytes_per_genome']:,} | {a['other_cpu_s']:.0f} | "
                f"{a['sites']:,} sites (BCF) |"
            )
        else:
            out.append(f"| {r['n']:,} | bcftools | {a['status']} | | | | | | |")
        if "ours" in r:
            lines = _p9_ours(r["ours"])
            out += [line.replace("| ours", f"| {r['n']:,} | ours", 1) for line in lines]
        if "ratio" in r:
            q = r["ratio"]
            out.append(
                f"| {r['n']:,} | **ratio ours / bcftools** | **{q['wall']:.2f}** | "
                f"{q['cpu']:.2f} | | {q['peak_rss']:.2f} | {q['bytes_per_genome']:.2f} | | |"
            )
    for r in p9["rows"]:
        add = r.get("ours", {}).get("add")
        if not add or add.get("joint", {}).get("status") != "ok":
            continue
        j, i = add["joint"], add["intake"]
        vs = add.get("vs_from_scratch_per_cell")
        out += [
            "",
            f"Add {add['batch']} genomes to a lake of {add['n_before']:,} joint-called: intake "
            f"{i['wall_s']:.1f} s wall / {i['cpu_s']:.1f} s CPU; joint calling (increment) "
            f"{j['wall_s']:.1f} s wall / {j['cpu_s']:.1f} s CPU, peak RSS {_rss(j)}; "
            f"{add['sites_after']:,} sites after, {add['joint_cpu_us_per_own_cell']:.2f} "
            f"CPU-us per own cell ({add['batch']} x sites)"
            + (f", {vs:.2f}x a from-scratch run of {p9['add']} genomes per cell." if vs else "."),
        ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
