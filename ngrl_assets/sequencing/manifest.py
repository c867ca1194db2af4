"""Parse a sequencing delivery manifest (``manifest.tsv``, docs/landing.md). Pure."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from ngrl_assets.common import fields as f
from ngrl_assets.common.quarantine import Reject

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
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return len(self.rows) + sum(1 for r in self.rejects if r.line > 1)


def _number(value: str, column: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise f.FieldError("invalid_number", f"{column} is not a number") from None
    if not low <= number <= high:
        raise f.FieldError("out_of_range", f"{column} must be between {low:g} and {high:g}")
    return number


def _relative_path(value: str, column: str) -> str:
    if value.startswith("/") or ".." in value.split("/"):
        raise f.FieldError("invalid_path", f"{column} must be relative to the delivery folder")
    return value


def parse_manifest(data: bytes, source_file: str) -> Manifest:
    manifest = Manifest(source_file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        manifest.rejects.append(Reject(source_file, 0, "encoding", "manifest is not UTF-8"))
        return manifest
    if not text.strip():
        manifest.rejects.append(Reject(source_file, 0, "empty_file", "manifest is empty"))
        return manifest
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    header = [h.strip() for h in next(reader)]
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        reason = f"header lacks required columns: {', '.join(missing)}"
        manifest.rejects.append(Reject(source_file, 1, "missing_columns", reason))
        return manifest
    for record in reader:
        line = reader.line_num
        if not record or record == [""]:
            continue
        if len(record) != len(header):
            reason = f"row has {len(record)} fields, header has {len(header)}"
            manifest.rejects.append(Reject(source_file, line, "field_count", reason))
            continue
        row = dict(zip(header, record, strict=True))
        try:
            manifest.rows.append(
                ManifestRow(
                    line=line,
                    sample_id=f.token(f.required(row, "sample_id"), "sample_id"),
                    participant_reference=f.token(
                        f.required(row, "participant_reference"), "participant_reference"
                    ),
                    gvcf_path=_relative_path(f.required(row, "gvcf_path"), "gvcf_path"),
                    gvcf_md5=f.required(row, "gvcf_md5").lower(),
                    tbi_path=_relative_path(f.required(row, "tbi_path"), "tbi_path"),
                    mean_coverage=_number(
                        f.required(row, "mean_coverage"), "mean_coverage", 0, 10_000
                    ),
                    pct_bases_15x=_number(
                        f.required(row, "pct_bases_15x"), "pct_bases_15x", 0, 100
                    ),
                    contamination=_number(f.required(row, "contamination"), "contamination", 0, 1),
                    inferred_sex=f.choice(
                        f.required(row, "inferred_sex"), "inferred_sex", ("XX", "XY", "unknown")
                    ),
                    sequencing_date=f.iso_date(
                        f.required(row, "sequencing_date"), "sequencing_date"
                    ).isoformat(),
                )
            )
        except f.FieldError as exc:
            manifest.rejects.append(Reject(source_file, line, exc.rule, str(exc)))
    return manifest
