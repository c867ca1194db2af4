"""Expected outcome of clinical intake on a synthetic landing zone, from the generator's
ground truth: which lines are quarantined with which rule, file by file. An independent
oracle: it reads the landing files with the standard library, not with the intake code."""

from __future__ import annotations

import csv
from pathlib import Path

EXCLUDED_CASES = {
    "withdrawn_full": "participant_withdrawn",
    "research_not_discussed": "no_research_consent",
    "research_not_agreed": "no_research_consent",
}


def consent_rule_by_nhs(source: Path, truth: dict) -> dict[str, str | None]:
    """NHS number -> the consent rule its rows break (None: curated)."""
    cases = truth["eligibility"]["by_participant"]
    out: dict[str, str | None] = {}
    for path in sorted((source / "consent" / "registrations").glob("*.csv")):
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                case = cases.get(row["participant_reference"])
                if case is not None:
                    nhs = row["nhs_number"].replace(" ", "").replace("-", "")
                    out[nhs] = EXCLUDED_CASES.get(case)
    return out


def erased_nhs_numbers(source: Path, truth: dict) -> set[str]:
    """NHS numbers of registered participants who fully withdrew: once the pipeline ran,
    withdrawal propagation blanked every extract line naming them and removed those
    lines' quarantine records (docs/withdrawal.md, *landing*)."""
    return {nhs for nhs, rule in consent_rule_by_nhs(source, truth).items()
            if rule == "participant_withdrawn"}  # fmt: skip


def _digits(value: str) -> str:
    return value.strip().replace(" ", "").replace("-", "")


def erased_lines(path: Path, erased: set[str]) -> set[int]:
    """Line numbers of ``path`` with a field equal to one of the ``erased`` NHS numbers."""
    out = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if n > 1 and any(_digits(f) in erased for f in line.split("|")):
            out.add(n)
    return out


def rows(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8").splitlines()
    header = text[0].split("|")
    return [dict(zip(header, line.split("|"), strict=True)) for line in text[1:]]


def expected_quarantine(
    source: Path, truth: dict, feed: str, erased: set[str] = frozenset()
) -> dict[str, set[tuple[int, str]]]:
    """landing key -> {(line, rule)} for every file of one clinical feed, in file order.
    ``erased``: NHS numbers whose lines withdrawal propagation blanked (defect lines too):
    those lines have no quarantine record and take no part in any other rule."""
    consent = consent_rule_by_nhs(source, truth)
    out: dict[str, set[tuple[int, str]]] = {}
    latest: dict[str, tuple[str, str, int]] = {}  # ONS: nhs -> (REG_DATE, file, line)
    for key in sorted(k for k in truth["feeds"] if k.startswith(f"clinical/{feed}/")):
        info = truth["feeds"][key]
        gone = erased_lines(source / key, set(erased)) if erased else set()
        expected = {(d["line"], d["rule"]) for d in info["defects"] if d["line"] not in gone}
        bad = {d["line"] for d in info["defects"]}
        kept: dict[str, tuple[str, str, int]] = {}
        for line, row in enumerate(rows(source / key), start=2):
            if line in bad or line in gone:
                continue
            rule = consent[row["NEWNHSNO"]]
            if rule:
                expected.add((line, rule))
            elif feed == "ons_mortality":
                candidate = (row["REG_DATE"], key, line)
                previous = kept.get(row["NEWNHSNO"])
                if previous is None or candidate > previous:
                    if previous is not None and previous[1] == key:
                        expected.add((previous[2], "superseded_registration"))
                    kept[row["NEWNHSNO"]] = candidate
                else:
                    expected.add((line, "superseded_registration"))
        for nhs, candidate in kept.items():
            previous = latest.get(nhs)
            if previous is not None and previous > candidate:
                expected.add((candidate[2], "superseded_registration"))
            else:
                latest[nhs] = candidate
        out[key] = expected
    return out
