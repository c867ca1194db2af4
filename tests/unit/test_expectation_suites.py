"""The suites as data: every expectation is a Great Expectations 1.x class, names only
columns its frame has, and each frame (built on an empty lake) has exactly the columns
the suite expects; the NHS-number-like rule finds NHS numbers and not opaque ids."""

from __future__ import annotations

import re

import pytest

from expectations import suites
from expectations.spec import NHS_NUMBER_LIKE, Suite
from resources.lake import Lake

ALL: list[Suite] = [
    *suites.curated_suites(),
    *suites.release_suites("v1"),
    suites.dictionary_suite("v1"),
    *suites.catalogue_suites(),
]


def _columns(suite: Suite) -> set[str]:
    names: set[str] = set()
    for e in suite.expectations:
        if e.column:
            names.add(e.column)
        names |= set(e.kwargs.get("column_list", []))
    return names


def test_every_expectation_is_a_great_expectations_class() -> None:
    import great_expectations.expectations as gxe

    types = {e.type for s in ALL for e in s.expectations}
    assert all(isinstance(getattr(gxe, t, None), type) for t in types), sorted(types)
    assert {e.severity for s in ALL for e in s.expectations} == {"critical", "warning"}
    assert len({s.name for s in ALL}) == len(ALL)


@pytest.mark.parametrize("suite", ALL, ids=lambda s: s.name)
def test_the_frame_has_the_columns_the_suite_names(suite: Suite, tmp_path) -> None:
    lake = Lake(root_uri=str(tmp_path / "lake"))
    frame = suite.frame(lake, suite.table)
    assert _columns(suite) <= set(frame.columns), _columns(suite) - set(frame.columns)
    matching = [e for e in suite.expectations if e.type == "ExpectTableColumnsToMatchSet"]
    for e in matching:
        assert set(e.kwargs["column_set"]) == set(frame.columns)
    if suite.validates != "rows":  # statistics frames never carry a participant id
        assert "participant_id" not in frame.columns


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("9434765919", True),
        ("943 476 5919", True),
        ("ref 943-476-5919.", True),
        ("P0A12345678901BCDEF12", False),  # a pseudonym holding ten digits in a row
        ("p0123456789abcdef", False),  # an internal id
        ("20250110", False),
        ("94347659190", False),  # eleven digits
    ],
)
def test_the_nhs_number_like_rule(text: str, found: bool) -> None:
    assert bool(re.search(NHS_NUMBER_LIKE, text)) is found
