#!/usr/bin/env bash
# Run every benchmark (genomics, then clinical intake), one at a time (2-core machine:
# never two at once), then print the results as markdown (bench/report.py). By hand only,
# never in CI.
#
#   bash bench/run_all.sh            # from the repository root; ~20 min on 2 cores
#
# Results: bench/out/results/*.json (bench/out/ is git-ignored); copy the printed tables
# into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export GX_ANALYTICS_ENABLED=false DAGSTER_DISABLE_TELEMETRY=1
START=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - START )) s)"; }

step "setup: bcftools + tabix"
bash bench/setup.sh

step "P1: 50 gVCFs -> joint genotypes, ours vs bcftools merge --gvcf"
uv run python bench/p1.py ${P1_ARGS:---single-worker}

step "P4: bytes of joint_genotypes vs BCF (P1 outputs)"
uv run python bench/p4.py --p1

step "P1b: decode-to-Delta throughput vs cyvcf2 iterate-only"
uv run python bench/p1b.py

step "P6: add one batch vs rebuild, N=100 and N=400"
uv run python bench/p6.py ${P6_ARGS:-}

step "P4 (lake): bytes of the P6 library's joint_genotypes vs BCF"
uv run python bench/p4.py --lake bench/out/p6/lake
rm -rf bench/out/p6/lake

step "P7: HES APC intake (1M rows) vs pl.read_csv + write_delta"
uv run python bench/p7.py ${P7_ARGS:-}

step "P3/P3b/P4/P5: a release of >= 200 genomes: cut vs copy, reads vs indexed VCF/BCF"
uv run python bench/p3_p5.py ${P3_ARGS:-}

step "report"
uv run python bench/report.py
echo "total: $(( $(date +%s) - START )) s"
