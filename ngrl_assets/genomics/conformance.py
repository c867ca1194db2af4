"""Run GLnexus-format joint-genotyping cases (``*.yml``) through our joint caller.

Each case's gVCFs are written to bgzipped files and read with the same reader and joint
genotyper the assets use. The comparison is per (GLnexus output record, sample), since we
split sites into biallelic rows: called vs not called, the no-call reason (the set of RNC
characters), and, when called, the set of alternate alleles carried (normalised). Cases
with only ``truth_discovered_alleles`` compare the discovered non-reference alleles.
Options we do not offer make a case ``n/a`` with the option named.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pysam
import yaml

from ngrl_assets.genomics.genotyper import genotype_sparse, with_hom_ref
from ngrl_assets.genomics.gvcf import read_gvcf
from ngrl_assets.genomics.joint import (
    BLOCKS_SCHEMA,
    CALLS_SCHEMA,
    SAMPLES_SCHEMA,
    discover_sites,
)

# GLnexus options that change genotypes or sites and that we do not implement.
UNSUPPORTED_GENOTYPER = (
    "revise_genotypes",
    "allow_partial_data",
    "top_two_half_calls",
    "trim_uncalled_alleles",
    "squeeze",
    "ref_dp_format",
    "allele_dp_format",
)
UNSUPPORTED_UNIFIER = (
    "min_AQ1",
    "min_AQ2",
    "min_GQ",
    "min_allele_copy_number",
    "monoallelic_sites_for_lost_alleles",
)


# Cases we fail on purpose: GLnexus unifies overlapping alleles into one multiallelic site
# and "loses" alleles it cannot represent there; we keep every allele as its own
# biallelic site, so samples GLnexus no-calls for a lost or overlapping allele are called
# by us (docs/conformance.md).
KNOWN_DEVIATIONS = {
    "join_records_overlapping": "overlapping records joined into one unified site",
    "lost_deletion": "allele lost in site unification; we keep the deletion as its own site",
    "star_allele": "overlapping star-allele records resolved by unification",
}


@dataclass(frozen=True)
class CaseResult:
    name: str
    status: str  # pass | fail | n/a
    detail: str


def _unsupported(case: dict[str, Any]) -> str | None:
    for item in case["input"]["body"]:
        ((name, text),) = item.items()
        if len(text.partition("\n")[0].split()) > 1:
            return f"multi-sample input ({name}): intake takes one sample per gVCF"
    if "bogus" in case.get("readme", "").lower() or "_bogus" in str(case.get("_name", "")):
        return "malformed input: intake quarantines the whole gVCF where GLnexus skips the record"
    if case.get("config_preset"):
        return f"config_preset={case['config_preset']}"
    for option in UNSUPPORTED_GENOTYPER:
        if (case.get("genotyper_config") or {}).get(option):
            return f"genotyper_config.{option}"
    for option in UNSUPPORTED_UNIFIER:
        if (case.get("unifier_config") or {}).get(option):
            return f"unifier_config.{option}"
    return None


def _contigs(header: str) -> dict[str, int]:
    out = {}
    for line in header.splitlines():
        if line.startswith("##contig=<"):
            fields = dict(part.split("=", 1) for part in line[len("##contig=<") : -1].split(","))
            out[fields["ID"]] = int(fields["length"])
    return out


def normalise(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def _load(case: dict[str, Any], workdir: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    header = case["input"]["header"].rstrip("\n")
    contigs = _contigs(header)
    calls, blocks, samples = [], [], []
    for item in case["input"]["body"]:
        ((filename, text),) = item.items()
        sample_line, _, records = text.partition("\n")
        names = sample_line.split()
        lines = header.splitlines()
        lines[-1] = lines[-1] + "\t" + "\t".join(names)
        plain = workdir / filename
        plain.write_text("\n".join(lines) + "\n" + records)
        gz = workdir / (filename + ".gz")
        pysam.tabix_compress(str(plain), str(gz), force=True)
        parsed = read_gvcf(gz, contigs=contigs)
        pid = [pl.lit(parsed.sample).alias("participant_id")]
        calls.append(parsed.calls.with_columns(pid))
        blocks.append(parsed.blocks.with_columns(pid))
        samples.append({"participant_id": parsed.sample, "sex": "unknown"})
    return (
        pl.concat(calls).select(list(CALLS_SCHEMA)),
        pl.concat(blocks).select(list(BLOCKS_SCHEMA)),
        pl.DataFrame(samples, schema=SAMPLES_SCHEMA),
    )


def _truth_records(vcf: str) -> tuple[list[str], list[dict[str, Any]]]:
    samples: list[str] = []
    records = []
    for line in vcf.splitlines():
        if line.startswith("##") or not line.strip():
            continue
        cols = line.split("\t")
        if line.startswith("#CHROM"):
            samples = cols[9:]
            continue
        keys = cols[8].split(":")
        per_sample = {}
        for name, value in zip(samples, cols[9:], strict=True):
            fields = dict(zip(keys, value.split(":"), strict=False))
            per_sample[name] = fields
        records.append(
            {
                "contig": cols[0],
                "pos": int(cols[1]),
                "ref": cols[3],
                "alts": cols[4].split(","),
                "samples": per_sample,
            }
        )
    return samples, records


def _compare_output(case: dict[str, Any], evals: pl.DataFrame) -> list[str]:
    ((_, vcf),) = case["truth_output_vcf"][0].items()
    _, records = _truth_records(vcf)
    problems = []
    covered_sites: set[tuple[str, int, str, str]] = set()
    for rec in records:
        end = rec["pos"] + len(rec["ref"]) - 1
        rows = evals.filter(
            (pl.col("contig") == rec["contig"])
            & (pl.col("pos") <= end)
            & (pl.col("pos") >= rec["pos"])
        )
        covered_sites |= {
            (r[0], r[1], r[2], r[3])
            for r in rows.select("contig", "pos", "ref", "alt").unique().iter_rows()
        }
        for sample, fields in rec["samples"].items():
            gt = fields.get("GT", ".").replace("|", "/").split("/")
            truth_called = "." not in gt
            truth_reasons = set(fields.get("RNC", ".")) - {"."}
            truth_alleles = {
                normalise(rec["pos"], rec["ref"], rec["alts"][int(a) - 1])
                for a in gt
                if a not in (".", "0")
            }
            mine = rows.filter(pl.col("participant_id") == sample)
            where = f"{rec['contig']}:{rec['pos']} {sample}"
            if mine.height == 0:
                problems.append(f"{where}: site not discovered")
                continue
            called = bool(
                (
                    mine["no_call_reason"].is_null()
                    & (mine["a1"] >= 0)
                    & (mine["a2"].fill_null(0) >= 0)
                ).all()
            )
            reasons = set(mine["no_call_reason"].drop_nulls().to_list())
            alleles = {
                (r["pos"], r["ref"], r["alt"])
                for r in mine.filter((pl.col("a1") == 1) | (pl.col("a2") == 1)).iter_rows(
                    named=True
                )
            }
            if called != truth_called:
                problems.append(f"{where}: called={called}, GLnexus called={truth_called}")
            elif not called and reasons != truth_reasons:
                problems.append(
                    f"{where}: reason {sorted(reasons)} vs GLnexus RNC {sorted(truth_reasons)}"
                )
            elif called and alleles != truth_alleles:
                problems.append(
                    f"{where}: alleles {sorted(alleles)} vs GLnexus {sorted(truth_alleles)}"
                )
    extra = set(evals.select("contig", "pos", "ref", "alt").unique().iter_rows()) - covered_sites
    problems += [f"extra site {c}:{p} {r}>{a}" for c, p, r, a in sorted(extra)]
    return problems


def _compare_discovery(case: dict[str, Any], sites: pl.DataFrame) -> list[str]:
    truth = {
        (str(a["range"]["ref"]), *normalise(a["range"]["beg"], _ref_of(case, a), a["dna"]))
        for a in case["truth_discovered_alleles"]
        if not a.get("is_ref") and not a.get("all_filtered")
    }
    mine = {(c, p, r, a) for c, p, r, a in sites.select("contig", "pos", "ref", "alt").iter_rows()}
    problems = [f"missing allele {t}" for t in sorted(truth - mine)]
    return problems + [f"extra allele {m}" for m in sorted(mine - truth)]


def _ref_of(case: dict[str, Any], allele: dict[str, Any]) -> str:
    for other in case["truth_discovered_alleles"]:
        if other.get("is_ref") and other["range"] == allele["range"]:
            return str(other["dna"])
    raise ValueError("no reference allele for range")


def run_case(path: Path) -> CaseResult:
    name = path.stem
    case = yaml.safe_load(path.read_text())
    case["_name"] = name
    reason = _unsupported(case)
    if reason:
        detail = (
            reason
            if reason.startswith(("multi-sample", "malformed"))
            else f"needs GLnexus option {reason}"
        )
        return CaseResult(name, "n/a", detail)
    min_dp = int((case.get("genotyper_config") or {}).get("required_dp", 0))
    with tempfile.TemporaryDirectory(prefix="ngrl-conf-") as tmp:
        try:
            calls, blocks, samples = _load(case, Path(tmp))
        except Exception as exc:  # a case whose input we reject is a failure, with why
            return CaseResult(name, "fail", f"input rejected: {exc}")
    evals, sites_all = [], []
    for contig in sorted(set(calls["contig"].to_list())):
        sites = discover_sites(calls, contig, 1, 2**31 - 1)
        sites_all.append(sites)
        c = calls.filter(pl.col("contig") == contig)
        b = blocks.filter(pl.col("contig") == contig)
        result = genotype_sparse(sites, samples, c, b, min_dp=min_dp)
        evals.append(with_hom_ref(result.sparse, sites, samples))
    evaluated = pl.concat(evals) if evals else pl.DataFrame()
    if "truth_output_vcf" in case:
        problems = _compare_output(case, evaluated)
    elif "truth_discovered_alleles" in case:
        problems = _compare_discovery(
            case,
            pl.concat(sites_all)
            if sites_all
            else pl.DataFrame(
                schema={"contig": pl.String, "pos": pl.Int32, "ref": pl.String, "alt": pl.String}
            ),
        )
    else:
        return CaseResult(name, "n/a", "no truth to compare")
    if problems:
        return CaseResult(
            name,
            "fail",
            "; ".join(problems[:3])
            + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""),
        )
    return CaseResult(name, "pass", f"min_dp={min_dp}")


def run_dir(directory: Path) -> list[CaseResult]:
    return [run_case(p) for p in sorted(directory.glob("*.yml"))]
