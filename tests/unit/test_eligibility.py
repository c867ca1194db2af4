import datetime as dt
import subprocess
import sys

import pytest

from ngrl_assets.cli import main
from ngrl_assets.consent.eligibility import ConsentFacts, age_on, evaluate

RELEASE = dt.date(2026, 10, 1)


def facts(**overrides) -> ConsentFacts:
    base = dict(
        consent_category="adult",
        research_discussed=True,
        research_agreed=True,
        date_of_birth=dt.date(1970, 5, 1),
        consent_date=dt.date(2020, 1, 1),
        deceased=False,
        withdrawal="none",
    )
    base.update(overrides)
    return ConsentFacts(**base)


@pytest.mark.parametrize(
    ("overrides", "eligible", "reason"),
    [
        ({}, True, "adult_consent"),
        ({"deceased": True}, True, "adult_consent"),
        ({"research_discussed": False}, False, "research_not_discussed"),
        ({"research_agreed": False}, False, "research_not_agreed"),
        ({"withdrawal": "full"}, False, "full_withdrawal"),
        ({"withdrawal": "full", "deceased": True}, False, "full_withdrawal"),
        ({"withdrawal": "no_further_contact"}, True, "adult_consent"),
        ({"consent_date": dt.date(2026, 10, 2)}, False, "consent_after_release_date"),
        # child consented at 8, 14 at release
        (
            {
                "consent_category": "child",
                "date_of_birth": dt.date(2012, 3, 1),
                "consent_date": dt.date(2020, 3, 1),
            },
            True,
            "child_under_16",
        ),
        # child consented at 10, 20 at release, alive: must re-consent as an adult
        (
            {
                "consent_category": "child",
                "date_of_birth": dt.date(2006, 3, 1),
                "consent_date": dt.date(2016, 3, 1),
            },
            False,
            "child_now_16_must_reconsent",
        ),
        # the same child, deceased: stays eligible
        (
            {
                "consent_category": "child",
                "date_of_birth": dt.date(2006, 3, 1),
                "consent_date": dt.date(2016, 3, 1),
                "deceased": True,
            },
            True,
            "child_now_16_deceased",
        ),
        # child consent given at 17: never eligible, living or deceased
        (
            {
                "consent_category": "child",
                "date_of_birth": dt.date(2003, 1, 1),
                "consent_date": dt.date(2020, 6, 1),
            },
            False,
            "child_consent_at_16_or_over",
        ),
        (
            {
                "consent_category": "child",
                "date_of_birth": dt.date(2003, 1, 1),
                "consent_date": dt.date(2020, 6, 1),
                "deceased": True,
            },
            False,
            "child_consent_at_16_or_over",
        ),
        # child consent with no research discussion fails on discussion first
        (
            {
                "consent_category": "child",
                "date_of_birth": dt.date(2012, 3, 1),
                "consent_date": dt.date(2020, 3, 1),
                "research_discussed": False,
            },
            False,
            "research_not_discussed",
        ),
    ],
)
def test_every_rule(overrides, eligible, reason):
    decision = evaluate(facts(**overrides), RELEASE)
    assert (decision.eligible, decision.reason) == (eligible, reason)


def test_sixteenth_birthday_is_the_boundary():
    child = facts(
        consent_category="child",
        date_of_birth=dt.date(2010, 10, 1),
        consent_date=dt.date(2015, 1, 1),
    )
    assert evaluate(child, dt.date(2026, 9, 30)).reason == "child_under_16"
    assert evaluate(child, dt.date(2026, 10, 1)).reason == "child_now_16_must_reconsent"


def test_consent_on_the_sixteenth_birthday_counts_as_16_or_over():
    child = facts(
        consent_category="child",
        date_of_birth=dt.date(2004, 6, 15),
        consent_date=dt.date(2020, 6, 15),
    )
    assert evaluate(child, RELEASE).reason == "child_consent_at_16_or_over"
    younger = facts(
        consent_category="child",
        date_of_birth=dt.date(2004, 6, 15),
        consent_date=dt.date(2020, 6, 14),
    )
    assert evaluate(younger, RELEASE).reason == "child_now_16_must_reconsent"


def test_leap_day_birthday_turns_over_on_first_of_march():
    born = dt.date(2008, 2, 29)
    assert age_on(born, dt.date(2024, 2, 28)) == 15
    assert age_on(born, dt.date(2024, 2, 29)) == 16
    assert age_on(born, dt.date(2023, 2, 28)) == 14
    assert age_on(born, dt.date(2023, 3, 1)) == 15


def test_consent_before_birth_is_an_error():
    with pytest.raises(ValueError):
        evaluate(facts(consent_date=dt.date(1960, 1, 1)), RELEASE)


CSV = """participant,consent_category,discussed,agreed,dob,consent_date,deceased,withdrawal
A1,adult,true,true,1970-01-01,2020-01-01,false,
A2,adult,true,true,1970-01-01,2020-01-01,false,full
C1,child,true,true,2012-03-01,2020-03-01,false,
C2,child,true,true,2006-03-01,2016-03-01,false,no_further_contact
C3,child,true,true,2006-03-01,2016-03-01,true,
N1,adult,false,true,1970-01-01,2020-01-01,false,
"""


def test_cli_prints_one_line_per_row(tmp_path, capsys):
    path = tmp_path / "cohort.csv"
    path.write_text(CSV)
    assert main(["eligibility", str(path), "--release-date", "2026-10-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "A1\teligible\tadult_consent",
        "A2\tineligible\tfull_withdrawal",
        "C1\teligible\tchild_under_16",
        "C2\tineligible\tchild_now_16_must_reconsent",
        "C3\teligible\tchild_now_16_deceased",
        "N1\tineligible\tresearch_not_discussed",
    ]


def test_cli_names_file_line_and_rule_for_bad_rows(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text(
        CSV.splitlines()[0]
        + "\nA1,adult,true,true,1970-01-01,2020-01-01,false,\n"
        + "B1,adult,yes,true,1970-01-01,2020-01-01,false,\n"
        + "B2,adult,true,true,1970-02-30,2020-01-01,false,\n"
        + "B3,adult,true,true,1970-01-01,2020-01-01,false,maybe\n"
    )
    assert main(["eligibility", str(path), "--release-date", "2026-10-01"]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == ["A1\teligible\tadult_consent"]
    errors = out.err.splitlines()
    assert errors == [
        f"{path}:3: invalid_enum: discussed must be true or false",
        f"{path}:4: invalid_date: dob is not a real calendar date",
        f"{path}:5: invalid_enum: withdrawal must be one of none, full, no_further_contact",
    ]


def test_cli_entry_point_runs_as_a_command(tmp_path):
    path = tmp_path / "cohort.csv"
    path.write_text(CSV)
    exe = [sys.executable, "-m", "ngrl_assets.cli"]
    out = subprocess.run(
        [*exe, "eligibility", str(path), "--release-date", "2026-10-01"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.count("\n") == 6
    assert "C3\teligible\tchild_now_16_deceased" in out.stdout
