"""The byte-level line scan that finds what a CSV reader would silently mangle."""

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ngrl_assets.clinical.lines import scan_lines


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "x.txt"
    path.write_bytes(data)
    return path


def test_ragged_truncated_and_non_utf8_lines(tmp_path):
    data = b"A|B|C\n1|2|3\n\n4|5\n6|7|8|9\n1|\xe92|3\n10|11"
    scan = scan_lines(write(tmp_path, data))
    # line 3 is empty: not a data line (a landing purge blanks an erased participant's
    # lines and every other line keeps its number)
    assert scan.header == ["A", "B", "C"] and scan.data_lines == 5
    assert scan.blank_lines == [3]
    assert [(b.line, b.rule) for b in scan.bad_lines] == [
        (4, "field_count"),
        (5, "field_count"),
        (6, "encoding"),
        (7, "truncated_line"),
    ]


def test_header_problems(tmp_path):
    assert scan_lines(write(tmp_path, b"")).header_problem[0] == "empty_file"
    assert scan_lines(write(tmp_path, b"A,B\n1,2\n")).header_problem == (
        "wrong_delimiter",
        "header is comma-separated; expected '|'",
    )
    assert scan_lines(write(tmp_path, b"A\xff|B\n")).header_problem[0] == "encoding"
    header_only = scan_lines(write(tmp_path, b"A|B\n"))
    assert header_only.header_problem is None and header_only.data_lines == 0


def test_a_complete_last_line_without_newline_is_fine(tmp_path):
    scan = scan_lines(write(tmp_path, b"A|B\n1|2\n3|4"))
    assert scan.data_lines == 2 and scan.bad_lines == [] and not scan.ends_with_newline


def reference(data: bytes) -> list[tuple[int, str]]:
    """Line by line in plain Python: what the scan must find."""
    lines = data.split(b"\n")
    complete = data.endswith(b"\n")
    if complete:
        lines = lines[:-1]
    fields = lines[0].count(b"|") + 1
    out = []
    for i, line in enumerate(lines[1:], start=2):
        if line in (b"", b"\r"):
            continue  # blank: skipped, not data
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            out.append((i, "encoding"))
            continue
        got = line.count(b"|") + 1
        if got != fields:
            last = i == len(lines) and not complete
            out.append((i, "truncated_line" if last and got < fields else "field_count"))
    return out


row = st.lists(st.sampled_from([b"a", b"1", b"", b"\xe9", b"\xc3\xa9"]), min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(st.lists(row, min_size=0, max_size=30), st.booleans(), st.integers(3, 40))
def test_scan_equals_a_line_by_line_reference_at_any_block_size(rows, final_newline, block):
    body = b"\n".join(b"|".join(r) for r in rows)
    data = b"A|B|C\n" + body + (b"\n" if final_newline and rows else b"")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.txt"
        path.write_bytes(data)
        scan = scan_lines(path, block_bytes=block)
    assert [(b.line, b.rule) for b in scan.bad_lines] == reference(data)
    body_lines = reference_lines(data)[1:]
    assert scan.data_lines == sum(1 for line in body_lines if line not in (b"", b"\r"))


def reference_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    return lines[:-1] if data.endswith(b"\n") else lines


def test_padding_and_crlf_are_noticed(tmp_path):
    assert not scan_lines(write(tmp_path, b"A|B\n1|two words\n")).padded
    assert scan_lines(write(tmp_path, b"A|B\n1 |2\n")).padded
    assert scan_lines(write(tmp_path, b"A|B\r\n1|2\r\n")).padded
