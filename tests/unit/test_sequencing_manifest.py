"""Manifest parsing limits: field sizes, whole-file rejections, BOM, honest line counts."""

from ngrl_assets.sequencing.intake import valid_delivery_id
from ngrl_assets.sequencing.manifest import (
    MANIFEST_COLUMNS,
    MAX_FIELD_CHARS,
    count_data_lines,
    parse_manifest,
)

HEADER = "\t".join(MANIFEST_COLUMNS)
KEY = "sequencing/D1/manifest.tsv"


def row(**over: str) -> str:
    values = {
        "sample_id": "S1",
        "participant_reference": "P000000001",
        "gvcf_path": "gvcf/S1.g.vcf.gz",
        "gvcf_md5": "0" * 32,
        "tbi_path": "gvcf/S1.g.vcf.gz.tbi",
        "mean_coverage": "30",
        "pct_bases_15x": "95",
        "contamination": "0.01",
        "inferred_sex": "XX",
        "sequencing_date": "2026-01-02",
    }
    values.update(over)
    return "\t".join(values[c] for c in MANIFEST_COLUMNS)


def test_a_field_over_128_kib_is_a_row_reject_naming_file_and_line():
    data = "\n".join([HEADER, row(), row(sample_id="S2", participant_reference="x" * 200_000)])
    m = parse_manifest(data.encode(), KEY)
    assert m.file_reject is None
    assert [r.sample_id for r in m.rows] == ["S1"]
    assert [(r.source_file, r.line, r.rule) for r in m.rejects] == [(KEY, 3, "field_too_long")]
    assert "x" * 10 not in m.rejects[0].reason  # never the value
    assert m.rows_in == 2


def test_limit_is_deliberate_not_the_csv_module():
    ok = row(sample_id="S" * MAX_FIELD_CHARS)
    m = parse_manifest("\n".join([HEADER, ok]).encode(), KEY)
    assert m.rows and not m.rejects  # exactly at the limit is accepted


def test_empty_manifest_is_quarantined_as_a_file_with_zero_rows():
    m = parse_manifest(b"", KEY)
    assert m.file_reject is not None and m.file_reject.rule == "empty_file"
    assert (m.rows_in, len(m.rows), len(m.rejects)) == (0, 0, 0)


def test_header_only_manifest_is_an_empty_delivery():
    m = parse_manifest((HEADER + "\n").encode(), KEY)
    assert m.file_reject is None and m.rows_in == 0 and not m.rejects


def test_not_utf8_is_a_file_reject_with_honest_row_count():
    data = "\n".join([HEADER, row(), row(sample_id="S2"), ""]).encode() + b"\xff\xfe\n"
    m = parse_manifest(data, KEY)
    assert m.file_reject is not None and m.file_reject.rule == "encoding"
    assert m.rows_in == 3


def test_a_bom_is_not_a_missing_column_and_crlf_is_fine():
    data = ("\ufeff" + HEADER + "\r\n" + row() + "\r\n").encode()
    m = parse_manifest(data, KEY)
    assert m.file_reject is None and len(m.rows) == 1 and not m.rejects
    assert m.rows[0].inferred_sex == "XX" and m.rows[0].sequencing_date == "2026-01-02"


def test_missing_columns_reject_the_file():
    data = "\n".join(["sample_id\tgvcf_path", "S1\tx", "S2\ty"]).encode()
    m = parse_manifest(data, KEY)
    assert m.file_reject is not None and m.file_reject.rule == "missing_columns"
    assert m.file_reject.line == 1 and m.rows_in == 2


def test_paths_are_normalised_and_escapes_refused():
    m = parse_manifest("\n".join([HEADER, row(gvcf_path="./gvcf/S1.g.vcf.gz")]).encode(), KEY)
    assert m.rows[0].gvcf_path == "gvcf/S1.g.vcf.gz"
    for bad in ("../x.g.vcf.gz", "/abs.g.vcf.gz", "gvcf//x", "a\\b"):
        m = parse_manifest("\n".join([HEADER, row(gvcf_path=bad)]).encode(), KEY)
        assert [r.rule for r in m.rejects] == ["invalid_path"], bad


def test_count_data_lines_skips_header_and_blank_lines():
    assert count_data_lines(b"h\n\na\n \r\nb") == 2
    assert count_data_lines(b"") == 0


def test_delivery_id_pattern():
    for good in ("D2026-001", "D2026_001", "a", "X" * 64):
        assert valid_delivery_id(good)
    for bad in ("x' OR delivery <> '", "D2026 F05é", "D1\n", "", "X" * 65, "D/1", "Dé", "D1;"):
        assert not valid_delivery_id(bad), bad
