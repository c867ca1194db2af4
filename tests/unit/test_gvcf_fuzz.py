"""Fuzzing the gVCF reader (ngrl_assets.genomics.gvcf, .gvcf_validate) with hypothesis:
generated headers, records and reference blocks, valid and broken (tests/gvcf_fuzz.py),
written as real bgzipped files and read with the real reader (cyvcf2/htslib). Every file
is read or refused with a rule naming file and line; a valid one is read whole.

The ``@example`` cases are crashes the fuzzer found (each failed before its fix)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import event, example, given, settings

from tests.gvcf_fuzz import MORE, Case, cases, read_or_rule

BLOCK = "chr1\t100\t.\tA\t<NON_REF>\t.\t.\tEND=199\tGT:DP:GQ:MIN_DP:PL\t0/0:12:30:12:0,30,300"
VARIANT = "chr1\t250\t.\tA\tG,<NON_REF>\t50\tPASS\tDP=10\tGT:AD:DP:GQ\t0/1:5,5,0:10:40"
AFTER = "chr1\t300\t.\tC\t<NON_REF>\t.\t.\tEND=399\tGT:DP:GQ:MIN_DP:PL\t0/0:12:30:12:0,30,300"


def drop(record: str, column: int) -> str:
    cols = record.split("\t")
    del cols[column]
    return "\t".join(cols)


def check(case: Case) -> None:
    with tempfile.TemporaryDirectory(prefix="ngrl-fuzz-") as tmp:
        verdict = read_or_rule(case.write(Path(tmp) / "sample.g.vcf.gz"), case)
    event(f"defects: {len(case.defects)}")
    event(f"outcome: {getattr(verdict, 'rule', 'read')}")


@given(case=cases())
@settings(settings.get_profile("gvcf-fuzz"))
# a record short of a column right before one with a column too many: the byte scan
# counted tabs over the whole buffer, the short record reached the decoder (SchemaError)
@example(Case.of([BLOCK, drop(VARIANT, 5), AFTER.replace("\t300\t", "\t300\t\t")], ["columns"]))
# a NUL byte in a record: htslib's C strings end there, the decoder got a record without
# FORMAT (AttributeError)
@example(Case.of([BLOCK, "\x00" + VARIANT[4:], AFTER], ["nul"]))
# an undeclared contig with a negative POS: htslib gives up on the record without an
# error and hands on a partial one of 8 columns (the decoder crashed on its missing FORMAT)
@example(Case.of([BLOCK, "chrUn_bogus\t-1" + VARIANT[8:], AFTER], ["contig", "pos"]))
def test_every_gvcf_is_read_or_refused_with_a_rule(case: Case) -> None:
    check(case)


@pytest.mark.slow
@pytest.mark.skipif(not MORE, reason="set NGRL_FUZZ_EXAMPLES=<n> to fuzz with n fresh examples")
@given(case=cases())
@settings(settings.get_profile("gvcf-fuzz-more"))
def test_fuzz_more(case: Case) -> None:
    check(case)
