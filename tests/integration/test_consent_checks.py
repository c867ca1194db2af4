"""The consent asset checks read the tables back through the lake and can fail: each check
is shown failing on a lake that breaks its rule (counts only in the metadata), passing on
a sound one, and failing inside a real consent run."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from ngrl_assets.consent import checks
from ngrl_assets.consent.tables import CONSENT_STATUS, PARTICIPANT_REGISTRY, WITHDRAWAL_NOTICES
from resources.lake import Lake
from tests.integration.consent_runs import land, registration, registrations_file, run_consent

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
PEOPLE = [("p01", "R01", "9434765919"), ("p02", "R02", "4010232137")]


def registry(people: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "participant_id": pid,
                "participant_reference": ref,
                "nhs_number": nhs,
                "forename": "A",
                "surname": "B",
                "date_of_birth": dt.date(1980, 1, 2),
                "postcode": "LS1 4AP",
                "sex": "F",
                "programme": "gms",
                "record_date": dt.date(2020, 1, 2),
                "source_file": "consent/registrations/r.csv",
                "source_line": i + 2,
                "updated_at": NOW,
            }
            for i, (pid, ref, nhs) in enumerate(people)
        ],
        schema=PARTICIPANT_REGISTRY.schema,
    )


def consent(ids: list[str], state: str = "none") -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "participant_id": pid,
                "programme": "gms",
                "consent_category": "adult",
                "research_discussed": True,
                "research_agreed": True,
                "consent_date": dt.date(2020, 1, 1),
                "life_status": "alive",
                "year_of_birth": 1980,
                "consented_under_16": False,
                "withdrawal_state": state,
                "withdrawal_date": None,
                "record_date": dt.date(2020, 1, 2),
                "updated_at": NOW,
            }
            for pid in ids
        ],
        schema=CONSENT_STATUS.schema,
    )


def notices(refs: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "participant_reference": ref,
                "withdrawal_type": "full",
                "withdrawal_date": dt.date(2026, 1, 1),
                "source_file": "consent/withdrawals/w.csv",
                "source_line": i + 2,
                "received_at": NOW,
            }
            for i, ref in enumerate(refs)
        ],
        schema=WITHDRAWAL_NOTICES.schema,
    )


def outcome(lake: Lake) -> dict[str, tuple[bool, dict]]:
    return {
        str(r.check_name): (r.passed, {k: v.value for k, v in r.metadata.items()})
        for r in checks.evaluate(lake)
    }


def write(lake, reg: pl.DataFrame, status: pl.DataFrame, notes: pl.DataFrame) -> None:
    lake.overwrite(PARTICIPANT_REGISTRY, reg)
    lake.overwrite(CONSENT_STATUS, status)
    lake.overwrite(WITHDRAWAL_NOTICES, notes)


def test_checks_pass_on_a_sound_lake_and_on_an_empty_one(lake):
    assert all(passed for passed, _ in outcome(lake).values())  # nothing written yet
    write(lake, registry(PEOPLE), consent(["p01", "p02"]), notices([]))
    got = outcome(lake)
    assert set(got) == {s.name for s in checks.CHECK_SPECS}
    assert all(passed for passed, _ in got.values())


@pytest.mark.parametrize(
    ("people", "ids", "state", "full", "check", "metadata"),
    [
        (
            [*PEOPLE, ("p03", "R03", "4010232138")],  # wrong check digit
            ["p01", "p02", "p03"], "none", [],
            "nhs_numbers_valid_and_unique", {"invalid": 1, "duplicated": 0},
        ),
        (
            [*PEOPLE, ("p03", "R03", "9434765919")],  # R01's number again
            ["p01", "p02", "p03"], "none", [],
            "nhs_numbers_valid_and_unique", {"invalid": 0, "duplicated": 1},
        ),
        (
            [*PEOPLE, ("p01", "R03", "9434765870")],  # p01 twice
            ["p01", "p02"], "none", [],
            "participant_ids_unique", {"duplicated_ids": 1, "duplicated_references": 0},
        ),
        (
            PEOPLE, ["p01"], "none", [],
            "one_row_per_registered_participant",
            {"missing": 1, "unexpected": 0, "duplicated": 0},
        ),
        (
            PEOPLE, ["p01", "p02", "p02", "p09"], "none", [],
            "one_row_per_registered_participant",
            {"missing": 0, "unexpected": 1, "duplicated": 1},
        ),
        (
            PEOPLE, ["p01", "p02"], "no_further_contact", ["R02"],
            "full_withdrawals_applied", {"full_withdrawals": 1, "not_applied": 1},
        ),
    ],
)  # fmt: skip
def test_each_check_fails_when_its_rule_is_broken(lake, people, ids, state, full, check, metadata):
    write(lake, registry(people), consent(ids, state), notices(full))
    got = outcome(lake)
    passed, meta = got[check]
    assert not passed
    assert meta == metadata
    assert [name for name, (ok, _) in got.items() if not ok] == [check]


def test_a_check_fails_in_a_real_consent_run(lake):
    land(
        lake,
        "consent/registrations/registrations_20260101.csv",
        registrations_file(registration("R01"), registration("R02", nhs="4010232137")),
    )
    with dg.instance_for_test() as instance:
        result = run_consent(lake, instance)
        assert all(e.passed for e in result.get_asset_check_evaluations())
        # consent status loses a participant behind intake's back
        (pid,) = lake.read(PARTICIPANT_REGISTRY).filter(pl.col("participant_reference") == "R02")[
            "participant_id"
        ]
        lake.delete(CONSENT_STATUS, {"participant_id": pid})
        result = run_consent(lake, instance)
        failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
        assert failed == ["one_row_per_registered_participant"]
