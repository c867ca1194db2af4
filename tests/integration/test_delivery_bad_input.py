"""One delivery holding good samples and every kind of bad one: each bad sample is
quarantined with its file, line and rule; the good ones are stored; counts reconcile."""

import gzip
import hashlib
import shutil
from pathlib import Path

import polars as pl
import pysam
import pytest

from ngrl_assets.common.ledger import LEDGER
from ngrl_assets.common.quarantine import QUARANTINE
from ngrl_assets.genomics.tables import RAW_SEQUENCES, SAMPLE_VARIANT_CALLS
from ngrl_assets.sequencing.checks import reconcile_with_ledger, sample_rows_mismatch
from ngrl_assets.sequencing.intake import ingest_delivery
from tests.integration.sequencing_support import landed_cohort

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
def bad_delivery(lake, tmp_path, monkeypatch):
    landing = landed_cohort(lake, tmp_path / "landing", monkeypatch)
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
    q = lake.read(QUARANTINE).filter(pl.col("feed") == "sequencing_deliveries")
    assert set(q["batch"]) == {"DBAD-001"}
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
    raw = lake.read(RAW_SEQUENCES)
    assert raw.height == 11
    assert (raw["qc_verdict"] != "quarantined").sum() == 3
    calls = lake.read(SAMPLE_VARIANT_CALLS)
    assert calls["participant_id"].n_unique() == 3
    # re-running the delivery changes nothing (every write replaces the delivery's rows)
    again = ingest_delivery(lake, "DBAD-001", "run-2")
    assert again.quarantined == 8
    assert lake.read(SAMPLE_VARIANT_CALLS).height == calls.height
    assert lake.read(RAW_SEQUENCES).height == 11
    assert lake.read(QUARANTINE).filter(pl.col("feed") == "sequencing_deliveries").height == 8
    # the ledger holds honest counts for the manifest, and the delivery checks pass
    entries = lake.read(LEDGER).filter(pl.col("landing_key") == "sequencing/DBAD-001/manifest.tsv")
    assert set(entries["status"]) == {"processed"}
    assert entries.select("rows_in", "rows_accepted", "rows_quarantined").unique().rows() == [
        (11, 3, 8)
    ]
    assert reconcile_with_ledger(lake, ["DBAD-001"]) == {}
    assert sample_rows_mismatch(lake, ["DBAD-001"]) == {}
