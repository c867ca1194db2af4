"""gVCF text for the reader tests: a header, the #CHROM line, and a file written and
bgzipped from record lines."""

from __future__ import annotations

from pathlib import Path

import pysam

FILE_FORMAT = "##fileformat=VCFv4.2"
# The ALT, FORMAT and INFO lines of a single-sample gVCF (a provider's typical header)
FIELDS = [
    '##ALT=<ID=NON_REF,Description="Any other allele">',
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
    '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum DP in the block">',
    '##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Phred likelihoods">',
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Site depth">',
    '##INFO=<ID=END,Number=1,Type=Integer,Description="End of the block">',
]
HEADER = [
    FILE_FORMAT,
    *FIELDS,
    "##contig=<ID=chr1,length=248956422>",
    "##contig=<ID=chr2,length=242193529>",
    "##contig=<ID=chrX,length=156040895>",
    "##contig=<ID=chrZ,length=1000000>",  # declared, but not a GRCh38 contig
]


FIXED = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]


def chrom_line(*samples: str) -> str:
    return "\t".join(FIXED) + ("\t" + "\t".join(samples) if samples else "")


def write(
    tmp_path: Path,
    body: list[str],
    samples: tuple[str, ...] = ("S1",),
    header: list[str] | None = None,
    name: str = "t",
) -> tuple[Path, list[str]]:
    """bgzip the VCF text; returns the path and the text lines (line n is lines[n - 1])."""
    lines = [*(HEADER if header is None else header), chrom_line(*samples), *body]
    text = tmp_path / f"{name}.g.vcf"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / f"{name}.g.vcf.gz"
    pysam.tabix_compress(str(text), str(out), force=True)
    return out, lines
