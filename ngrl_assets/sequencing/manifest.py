"""Parse a sequencing delivery manifest (``manifest.tsv``, docs/landing.md). Pure.

The manifest is read with deliberate limits instead of the ``csv`` module's process-wide
field limit (131,072 characters, whose overflow raised out of the intake with no ledger
entry): tab-separated, never quoted, ``\\n`` line ends (a trailing ``\\r`` is dropped), a
UTF-8 byte-order mark ignored. A field longer than :data:`MAX_FIELD_CHARS` rejects its row
(``field_too_long``, naming the file and line); a manifest that cannot be read at all
(not UTF-8, empty, more than :data:`MAX_MANIFEST_BYTES` or :data:`MAX_MANIFEST_ROWS`, a
header without the required columns or with an oversize name) is rejected as a whole
(``Manifest.file_reject``), with the number of data lines it holds so that the ledger
counts stay honest.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from ngrl_assets.common import fields as f
from ngrl_assets.common.quarantine import Reject

FILE_NAME = "manifest.tsv"  # every delivery folder's manifest: sequencing/<delivery>/<FILE_NAME>

MANIFEST_COLUMNS = (
    "sample_id",
    "participant_reference",
    "gvcf_path",
    "gvcf_md5",
    "tbi_path",
    "mean_coverage",
    "pct_bases_15x",
    "contamination",
    "inferred_sex",
    "sequencing_date",
)

# Deliberate limits: a real manifest is a few hundred rows of short fields.
MAX_FIELD_CHARS = 1_024
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_MANIFEST_ROWS = 100_000

_BOM = "\ufeff"


@dataclass(frozen=True)
class ManifestRow:
    line: int
    sample_id: str
    participant_reference: str
    gvcf_path: str
    gvcf_md5: str
    tbi_path: str
    mean_coverage: float
    pct_bases_15x: float
    contamination: float
    inferred_sex: str
    sequencing_date: str


@dataclass
class Manifest:
    source_file: str
    rows: list[ManifestRow] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)  # row-level (line >= 2)
    file_reject: Reject | None = None  # the whole file (line 0 or the header, line 1)
    data_lines: int = 0  # non-blank lines after the header

    @property
    def rows_in(self) -> int:
        return self.data_lines


def count_data_lines(data: bytes) -> int:
    """Non-blank lines after the first (the header), counted on raw bytes so that a file
    that is not even text still gets an honest ``rows_in``."""
    lines = data.split(b"\n")[1:]
    return sum(1 for line in lines if line.strip(b"\r \t"))


def _number(value: str, column: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise f.FieldError("invalid_number", f"{column} is not a number") from None
    if not low <= number <= high:  # NaN fails too
        raise f.FieldError("out_of_range", f"{column} must be between {low:g} and {high:g}")
    return number


def _relative_path(value: str, column: str) -> str:
    """A path inside the delivery folder, normalised (``./gvcf/x`` -> ``gvcf/x``) so that
    the landing key recorded in raw_sequences is the key of the object itself."""
    parts = value.split("/")
    if value.startswith("/") or "\\" in value or ".." in parts or "" in parts:
        raise f.FieldError("invalid_path", f"{column} must be relative to the delivery folder")
    if any(c < " " or c == "\x7f" for c in value):
        raise f.FieldError("invalid_path", f"{column} holds control characters")
    return posixpath.normpath(value)


def _md5(value: str) -> str:
    lowered = value.lower()
    if len(lowered) != 32 or any(c not in "0123456789abcdef" for c in lowered):
        raise f.FieldError("invalid_format", "gvcf_md5 must be 32 hexadecimal digits")
    return lowered


def _row(line: int, row: dict[str, str]) -> ManifestRow:
    return ManifestRow(
        line=line,
        sample_id=f.token(f.required(row, "sample_id"), "sample_id"),
        participant_reference=f.token(
            f.required(row, "participant_reference"), "participant_reference"
        ),
        gvcf_path=_relative_path(f.required(row, "gvcf_path"), "gvcf_path"),
        gvcf_md5=_md5(f.required(row, "gvcf_md5")),
        tbi_path=_relative_path(f.required(row, "tbi_path"), "tbi_path"),
        mean_coverage=_number(f.required(row, "mean_coverage"), "mean_coverage", 0, 10_000),
        pct_bases_15x=_number(f.required(row, "pct_bases_15x"), "pct_bases_15x", 0, 100),
        contamination=_number(f.required(row, "contamination"), "contamination", 0, 1),
        inferred_sex=f.choice(
            f.required(row, "inferred_sex"), "inferred_sex", ("XX", "XY", "unknown")
        ),
        sequencing_date=f.iso_date(
            f.required(row, "sequencing_date"), "sequencing_date"
        ).isoformat(),
    )


def parse_manifest(data: bytes, source_file: str) -> Manifest:
    manifest = Manifest(source_file, data_lines=count_data_lines(data))

    def whole_file(line: int, rule: str, reason: str) -> Manifest:
        manifest.file_reject = Reject(source_file, line, rule, reason)
        return manifest

    if not data.strip():
        return whole_file(0, "empty_file", "manifest is empty")
    if len(data) > MAX_MANIFEST_BYTES:
        return whole_file(0, "file_too_large", f"manifest exceeds {MAX_MANIFEST_BYTES} bytes")
    if manifest.data_lines > MAX_MANIFEST_ROWS:
        return whole_file(0, "too_many_rows", f"manifest exceeds {MAX_MANIFEST_ROWS} rows")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return whole_file(0, "encoding", "manifest is not UTF-8")
    lines = text.removeprefix(_BOM).split("\n")
    header = [h.strip() for h in lines[0].removesuffix("\r").split("\t")]
    if any(len(h) > MAX_FIELD_CHARS for h in header):
        return whole_file(1, "field_too_long", f"a header field exceeds {MAX_FIELD_CHARS} chars")
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        return whole_file(1, "missing_columns", f"header lacks columns: {', '.join(missing)}")
    for number, raw in enumerate(lines[1:], start=2):
        raw = raw.removesuffix("\r")
        if not raw.strip("\r \t"):
            continue
        record = raw.split("\t")
        if len(record) != len(header):
            reason = f"row has {len(record)} fields, header has {len(header)}"
            manifest.rejects.append(Reject(source_file, number, "field_count", reason))
            continue
        long = [h for h, v in zip(header, record, strict=True) if len(v) > MAX_FIELD_CHARS]
        if long:
            reason = f"{long[0]} exceeds {MAX_FIELD_CHARS} characters"
            manifest.rejects.append(Reject(source_file, number, "field_too_long", reason))
            continue
        try:
            manifest.rows.append(_row(number, dict(zip(header, record, strict=True))))
        except f.FieldError as exc:
            manifest.rejects.append(Reject(source_file, number, exc.rule, str(exc)))
    return manifest
