"""One pass over an extract's bytes before any parsing: the header, the number of data
lines, and the lines a CSV reader would silently mangle.

The pipe-delimited extracts are never quoted and a field never contains ``|``, so a line
is well-formed exactly when it has as many ``|`` as the header. A CSV reader pads a short
line with nulls and cuts a long one, and replaces bytes that are not UTF-8; this scan
finds those lines first (``field_count``, ``truncated_line`` for a short last line with no
final newline, ``encoding``) so intake can quarantine them by line number. Memory is
bounded by the block size, whatever the file size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BLOCK_BYTES = 4 << 20
NEWLINE, PIPE = 10, 124


@dataclass(frozen=True)
class BadLine:
    line: int  # 1-based, header = 1
    rule: str
    reason: str


@dataclass
class LineScan:
    size: int
    header: list[str]
    header_problem: tuple[str, str] | None  # (rule, reason) when the header is unusable
    data_lines: int
    bad_lines: list[BadLine] = field(default_factory=list)
    ends_with_newline: bool = True
    padded: bool = False  # some field has surrounding whitespace (or CRLF line ends)
    # empty lines after the header: not data (a withdrawal's landing purge blanks the
    # lines of an erased participant, keeping every other line's number)
    blank_lines: list[int] = field(default_factory=list)

    def bad_line_numbers(self) -> list[int]:
        return [b.line for b in self.bad_lines]

    def skipped_line_numbers(self) -> list[int]:
        """Lines the row reader leaves out: bad ones (quarantined) and blank ones."""
        return sorted({*self.bad_line_numbers(), *self.blank_lines})


def _blocks(path: Path, block_bytes: int) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, block)`` where every block but the last ends with a newline."""
    carry = b""
    offset = 0
    with path.open("rb") as fh:
        while chunk := fh.read(block_bytes):
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            yield offset, data[:cut]
            offset += cut
            carry = data[cut:]
    if carry:
        yield offset, carry


def _padded(arr: np.ndarray) -> bool:
    """A space, tab or CR next to a separator or line end (values would need trimming)."""
    blank = (arr == 32) | (arr == 9) | (arr == 13)
    if not blank.any():
        return False
    edge = (arr == PIPE) | (arr == NEWLINE)
    return bool((blank[1:] & edge[:-1]).any() or (blank[:-1] & edge[1:]).any() or blank[0])


def _header(first: bytes) -> tuple[list[str], tuple[str, str] | None]:
    end = first.find(b"\n")
    raw = first if end < 0 else first[:end]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return [], ("encoding", "header line is not UTF-8")
    # A UTF-8 byte order mark is not part of the first column's name (polars' reader
    # drops it too).
    text = text.removeprefix("\ufeff").removesuffix("\r")
    if "|" not in text:
        for name, sep in (("comma", ","), ("tab", "\t"), ("semicolon", ";")):
            if sep in text:
                return [], ("wrong_delimiter", f"header is {name}-separated; expected '|'")
        return [], ("wrong_delimiter", "header has no '|' separators")
    return [h.strip() for h in text.split("|")], None


def scan_lines(path: Path, block_bytes: int = BLOCK_BYTES) -> LineScan:
    size = path.stat().st_size
    if size == 0:
        return LineScan(size, [], ("empty_file", "file is empty (0 bytes)"), 0)
    with path.open("rb") as fh:
        first = fh.read(min(size, 1 << 20))
    header, problem = _header(first)
    scan = LineScan(size, header, problem, 0)
    expected = len(header) - 1  # separators per line
    line_no = 0  # lines seen so far (header included)
    for _, block in _blocks(path, block_bytes):
        arr = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(arr == NEWLINE)
        complete = block.endswith(b"\n")
        if not complete:
            ends = np.append(ends, len(block))  # the last line has no newline
        # separators per line: how many pipe positions fall before each line end
        before_end = np.searchsorted(np.flatnonzero(arr == PIPE), ends)
        per_line = np.diff(before_end, prepend=0)
        if not scan.padded:
            scan.padded = _padded(arr)
        numbers = line_no + 1 + np.arange(len(ends))
        line_no += len(ends)
        starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else ends
        length = ends - starts
        lead = arr[np.minimum(starts, max(len(arr) - 1, 0))] if len(arr) else starts
        empty = ((length == 0) | ((length == 1) & (lead == ord("\r")))) & (numbers > 1)
        scan.blank_lines.extend(int(n) for n in numbers[empty])
        if problem is None:
            for i in np.flatnonzero((per_line != expected) & (numbers > 1) & ~empty):
                n = int(numbers[i])
                last = not complete and i == len(ends) - 1
                got = int(per_line[i]) + 1
                if last and got < len(header):
                    scan.bad_lines.append(
                        BadLine(
                            n,
                            "truncated_line",
                            f"last line has {got} of {len(header)} fields and no final "
                            "newline (file cut short)",
                        )
                    )
                else:
                    scan.bad_lines.append(
                        BadLine(
                            n, "field_count", f"line has {got} fields, header has {len(header)}"
                        )
                    )
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            starts = np.concatenate(([0], ends[:-1] + 1))
            for j, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
                try:
                    block[lo:hi].decode("utf-8")
                except UnicodeDecodeError:
                    scan.bad_lines.append(
                        BadLine(int(numbers[j]), "encoding", "line is not UTF-8 (latin-1?)")
                    )
        if not complete:
            scan.ends_with_newline = False
    scan.data_lines = max(line_no - 1 - len(scan.blank_lines), 0)
    # one rule per line: encoding first (the field count of mis-decoded text means little)
    chosen: dict[int, BadLine] = {}
    for bad in sorted(scan.bad_lines, key=lambda b: (b.line, b.rule != "encoding")):
        chosen.setdefault(bad.line, bad)
    scan.bad_lines = [chosen[k] for k in sorted(chosen) if k > 1]
    return scan
