"""One delivery holding good samples and every kind of bad one: each bad sample is
quarantined with its file, line and rule; the good ones are stored; counts reconcile."""

import gzip
import hashlib
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pysam
import pytest

from ngrl_assets.common.quarantine import QUARANTINE_TABLE
from ngrl_assets.definitions import build_definitions
from ngrl_assets.sequencing.intake import ingest_delivery
from ngrl_assets.synth import generate_cohort
from tests.integration.lakes import put_landing, read

HEADER = "\t".join(
    ["sample_id", "participant_reference", "gvcf_path", "gvcf_md5", "tbi_path", "mean_coverage",
     "pct_bases_15x", "contamination", "inferred_sex", "sequencing_date"]
)  # fmt: skip


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def rewrite(src: Path, dest: Path, edit) -> None:
    """Decompress a gVCF, edit its text lines, write it back bgzipped, with an index."""
    lines = gzip.decompress(src.read_bytes()).decode().splitlines()
    plain = dest.with_suffix("")
    plain.write_text("\n".join(edit(lines)) + "\n")
    pysam.tabix_compress(str(plain), str(dest), force=True)
    plain.unlink()
    # the sender's index: a broken file (unsorted, unknown contig) cannot be indexed anew
    shutil.copy(str(src) + ".tbi", str(dest) + ".tbi")


@pytest.fixture
def bad_delivery(lake, tmp_path):
    landing = tmp_path / "landing"
    generate_cohort(landing, participants=30, seed=9, defect_rate=0.0, batch_size=10)
    put_landing(lake, landing)
    with dg.instance_for_test() as instance:
        build_definitions(lake).resolve_job_def("consent_intake_job").execute_in_process(
            instance=instance
        )
    source = sorted(p for p in (landing / "sequencing").iterdir() if not p.name.endswith("REAL"))[0]
    manifest = (source / "manifest.tsv").read_text().splitlines()
    rows = [dict(zip(HEADER.split("\t"), line.split("\t"), strict=True)) for line in manifest[1:]]
    good, donors = rows[:3], rows[3:]
    folder = Path(lake.zone("landing")) / "sequencing" / "DBAD-001"
    (folder / "gvcf").mkdir(parents=True)
    out = []
    for row in good:
        for suffix in ("", ".tbi"):
            shutil.copy(source / (row["gvcf_path"] + suffix), folder / (row["gvcf_path"] + suffix))
        out.append(row)

    def sample(row: dict, name: str, edit=None, raw: bytes | None = None, **over) -> dict:
        path = folder / "gvcf" / f"{name}.g.vcf.gz"
        src = source / row["gvcf_path"]
        if raw is not None:
            path.write_bytes(raw)
            shutil.copy(str(src) + ".tbi", str(path) + ".tbi")
        else:
            rewrite(src, path, edit or (lambda lines: lines))
        new = {**row, "gvcf_path": f"gvcf/{name}.g.vcf.gz", "tbi_path": f"gvcf/{name}.g.vcf.gz.tbi"}
        new["gvcf_md5"] = md5(path)
        new.update(over)
        return new

    def data_index(lines):
        return next(i for i, line in enumerate(lines) if not line.startswith("#"))

    def end_before_pos(lines):
        i = next(i for i, line in enumerate(lines) if "END=" in line and not line.startswith("#"))
        cols = lines[i].split("\t")
        cols[7] = f"END={int(cols[1]) - 1}"
        lines[i] = "\t".join(cols)
        return lines

    def unsorted(lines):
        i = data_index(lines)
        lines[i + 1], lines[i + 2] = lines[i + 2], lines[i + 1]
        return lines

    def unknown_contig(lines):
        i = data_index(lines)
        lines[i] = "chrUn_bogus\t" + lines[i].split("\t", 1)[1]
        return lines

    def header_only(lines):
        return lines[: data_index(lines)]

    d = donors
    whole = (source / d[0]["gvcf_path"]).read_bytes()
    out += [
        sample(d[0], "truncated", raw=whole[: len(whole) // 2]),
        sample(d[1], "end_before_pos", end_before_pos),
        sample(d[2], "unsorted", unsorted),
        sample(d[3], "unknown_contig", unknown_contig),
        sample(d[4], "empty", header_only),
        {**sample(d[5], "md5"), "gvcf_md5": "0" * 32},
        {**sample(d[6], "renamed"), "sample_id": "SOMEONE-ELSE"},
        dict(good[0]),  # the same sample delivered twice
    ]
    (folder / "manifest.tsv").write_text(
        "\n".join([HEADER] + ["\t".join(r[c] for c in HEADER.split("\t")) for r in out]) + "\n"
    )
    return folder


def test_every_bad_sample_is_quarantined_and_the_rest_goes_on(lake, bad_delivery):
    result = ingest_delivery(lake, "DBAD-001", "run-1")
    assert (result.rows_in, result.accepted, result.quarantined) == (11, 3, 8)
    q = read(lake, "quarantine", QUARANTINE_TABLE).filter(pl.col("feed") == "sequencing_deliveries")
    got = {
        (r["source_file"].rsplit("/", 1)[-1], r["rule"]): r["line"] for r in q.iter_rows(named=True)
    }
    assert set(got) == {
        ("truncated.g.vcf.gz", "truncated"),
        ("end_before_pos.g.vcf.gz", "end_before_pos"),
        ("unsorted.g.vcf.gz", "unsorted"),
        ("unknown_contig.g.vcf.gz", "unknown_contig"),
        ("empty.g.vcf.gz", "empty"),
        ("md5.g.vcf.gz", "md5_mismatch"),
        ("renamed.g.vcf.gz", "sample_mismatch"),
        ("manifest.tsv", "duplicate_sample"),
    }
    assert got[("manifest.tsv", "duplicate_sample")] == 12  # header + 11 rows: the last line
    assert got[("unsorted.g.vcf.gz", "unsorted")] > 1  # a record line, after the header
    raw = read(lake, "curated", "raw_sequences")
    assert raw.height == 11
    assert (raw["qc_verdict"] != "quarantined").sum() == 3
    calls = read(lake, "curated", "sample_variant_calls")
    assert calls["participant_id"].n_unique() == 3
    # re-running the delivery changes nothing (every write replaces the delivery's rows)
    again = ingest_delivery(lake, "DBAD-001", "run-2")
    assert again.quarantined == 8
    assert read(lake, "curated", "sample_variant_calls").height == calls.height
    assert (
        read(lake, "quarantine", QUARANTINE_TABLE)
        .filter(pl.col("feed") == "sequencing_deliveries")
        .height
        == 8
    )
