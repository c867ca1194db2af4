"""Bad consent input through real Dagster runs on a real lake: a file that cannot be read
is quarantined whole (its rule, its line, honest counts in the ledger) and never blocks
the other files of the run; a byte order mark is accepted; registry rows point at the
landing record in force."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from ngrl_assets.common.ledger import LEDGER
from ngrl_assets.common.quarantine import QUARANTINE
from ngrl_assets.consent import feeds
from ngrl_assets.consent.tables import CONSENT_STATUS, PARTICIPANT_REGISTRY, WITHDRAWAL_NOTICES
from ngrl_assets.withdrawal import batches as withdrawal_batches
from resources.lake import Lake
from tests.integration.consent_runs import (
    REGISTRATION_HEADER,
    assert_no_identifiers_in_event_log,
    land,
    registration,
    registrations_file,
    run_consent,
    withdrawals_file,
)

REG = "consent/registrations"
WD = "consent/withdrawals"


def ledger_row(lake: Lake, key: str) -> dict:
    rows = lake.read(LEDGER).filter(pl.col("landing_key") == key)
    assert rows.height == 1, f"{key}: {rows.height} ledger rows"
    return rows.row(0, named=True)


def quarantined(lake: Lake, key: str) -> list[tuple[int, str]]:
    q = lake.read(QUARANTINE).filter(pl.col("source_file") == key).sort("line")
    return list(zip(q["line"], q["rule"], strict=True))


def withdrawal_state(lake: Lake, ref: str) -> str:
    registry = lake.read(PARTICIPANT_REGISTRY).filter(pl.col("participant_reference") == ref)
    (pid,) = registry["participant_id"]
    status = lake.read(CONSENT_STATUS).filter(pl.col("participant_id") == pid)
    (state,) = status["withdrawal_state"]
    return state


def test_a_poison_file_is_quarantined_and_a_later_withdrawal_still_applies(lake):
    """The issue: a registrations file with a 1 MiB field made every intake run fail, so a
    full withdrawal landing after it was never applied. (The field's line is quarantined;
    the file's other lines are taken in.)"""
    ann, bo, cy, di = "P000000101", "P000000102", "P000000103", "P000000104"
    with dg.instance_for_test() as instance:
        land(lake, f"{REG}/registrations_20260101.csv", registrations_file(registration(ann)))
        run_consent(lake, instance)
        assert withdrawal_state(lake, ann) == "none"

        poison = f"{REG}/registrations_20260201.csv"
        huge = "A" * (1 << 20)
        land(
            lake,
            poison,
            registrations_file(
                registration(bo, nhs="4010232137"),
                registration(cy, nhs="9434765870", forename=huge),
                registration(di, nhs="9876543210"),
            ),
        )
        withdrawal = f"{WD}/withdrawals_20260202.csv"
        land(lake, withdrawal, withdrawals_file(f"{ann},full,2026-02-02"))
        result = run_consent(lake, instance)

        # the withdrawal is applied ...
        assert withdrawal_state(lake, ann) == "full"
        assert all(e.passed for e in result.get_asset_check_evaluations())
        # ... and the poison line is quarantined, with its rule and line
        assert quarantined(lake, poison) == [(3, "field_too_long")]
        entry = ledger_row(lake, poison)
        assert (entry["status"], entry["rows_in"], entry["rows_accepted"]) == ("processed", 3, 2)
        assert entry["rows_quarantined"] == 1
        # nothing of the poison line reached the registry; the file's other lines did
        assert set(lake.read(PARTICIPANT_REGISTRY)["participant_reference"]) == {ann, bo, di}
        entry = ledger_row(lake, withdrawal)
        assert (entry["status"], entry["rows_in"], entry["rows_accepted"]) == ("processed", 1, 1)

        # the metadata counts the quarantined file without naming anything in it
        meta = {
            m.asset_key.path[-1]: {k: v.value for k, v in m.metadata.items()}
            for m in result.asset_materializations_for_node("consent_intake")
        }
        reg_meta, wd_meta = meta["participant_registry"], meta["withdrawal_notices"]
        assert reg_meta["files_quarantined"] == 0
        assert reg_meta["rows_in"] == 3 and reg_meta["rows_quarantined"] == 1
        assert reg_meta["rejects_by_rule"] == {"field_too_long": 1}
        assert wd_meta["rows_accepted"] == 1

        # the poison file is not retried: the next run has nothing to do
        before = (lake.version(LEDGER), lake.version(QUARANTINE))
        run_consent(lake, instance)
        assert (lake.version(LEDGER), lake.version(QUARANTINE)) == before
        assert_no_identifiers_in_event_log(instance, lake.read(PARTICIPANT_REGISTRY))


# (file name, bytes, (line, rule) quarantined, data lines held)
LATIN1 = (
    REGISTRATION_HEADER + "\n" + registration(ref="P2", nhs="4010232137") + "\n"
    + registration(ref="P3", nhs="9434765870", forename="Zoë") + "\n"
).encode("latin-1")  # fmt: skip
FILE_LEVEL = [
    ("empty.csv", b"", (0, "empty_file"), 0),
    ("blank.csv", b"\n\n", (0, "empty_file"), 0),
    ("latin1.csv", LATIN1, (3, "encoding"), 2),
    (
        "nul.csv",
        registrations_file(registration(ref="P2", nhs="4010232137"), "P3\x00,x"),
        (3, "nul_bytes"),
        2,
    ),
    (
        "columns.csv",
        b"participant_reference,nhs_number\nP2,4010232137\nP3,9434765870\n\nP4,9876543210\n",
        (1, "missing_columns"),
        3,
    ),
    (
        "extra.csv",
        registrations_file(registration(ref="P2", nhs="4010232137")).replace(
            REGISTRATION_HEADER.encode(), REGISTRATION_HEADER.encode() + b",notes", 1
        ),
        (1, "unexpected_columns"),
        1,
    ),
    (
        "field.csv",
        ",".join(["B" * (feeds.MAX_FIELD_CHARS + 1), *feeds.REGISTRATION_COLUMNS]).encode()
        + b"\n"
        + registration(ref="P2", nhs="4010232137").encode(),
        (1, "field_too_long"),  # on the header: the file (on a data line: the line)
        1,
    ),
]


def test_file_level_rejects_record_honest_counts_and_never_block_the_run(lake):
    good = f"{REG}/registrations_20260301.csv"
    land(lake, good, registrations_file(registration()))
    for name, data, _, _ in FILE_LEVEL:
        land(lake, f"{REG}/{name}", data)
    land(lake, f"{WD}/empty.csv", b"")
    with dg.instance_for_test() as instance:
        run_consent(lake, instance)
        assert set(lake.read(PARTICIPANT_REGISTRY)["participant_reference"]) == {"P1"}
        assert ledger_row(lake, good)["status"] == "processed"
        for name, _, reject, lines in FILE_LEVEL:
            key = f"{REG}/{name}"
            assert quarantined(lake, key) == [reject], name
            entry = ledger_row(lake, key)
            assert entry["status"] == "quarantined", name
            assert (entry["rows_in"], entry["rows_accepted"]) == (lines, 0), name
            assert entry["rows_quarantined"] == lines, name
        entry = ledger_row(lake, f"{WD}/empty.csv")
        assert (entry["status"], entry["rows_in"], entry["rows_quarantined"]) == (
            "quarantined",
            0,
            0,
        )
        assert quarantined(lake, f"{WD}/empty.csv") == [(0, "empty_file")]
        # one quarantine record per file, whatever it held
        assert lake.read(QUARANTINE).height == len(FILE_LEVEL) + 1


def test_a_file_with_a_byte_order_mark_is_ingested(lake):
    reg = f"{REG}/registrations_20260101.csv"
    wd = f"{WD}/withdrawals_20260102.csv"
    land(lake, reg, b"\xef\xbb\xbf" + registrations_file(registration()))
    land(lake, wd, b"\xef\xbb\xbf" + withdrawals_file("P1,no_further_contact,2026-01-02"))
    with dg.instance_for_test() as instance:
        run_consent(lake, instance)
    assert lake.read(QUARANTINE).height == 0
    assert lake.read(PARTICIPANT_REGISTRY)["participant_reference"].to_list() == ["P1"]
    assert lake.read(WITHDRAWAL_NOTICES)["participant_reference"].to_list() == ["P1"]
    assert withdrawal_state(lake, "P1") == "no_further_contact"
    for key in (reg, wd):
        entry = ledger_row(lake, key)
        assert (entry["status"], entry["rows_in"], entry["rows_accepted"]) == ("processed", 1, 1)


def test_row_level_rejects_are_counted_and_a_rerun_keeps_other_files_records(lake):
    first = f"{REG}/registrations_20260101.csv"
    land(
        lake,
        first,
        registrations_file(
            registration(),
            registration(ref="P2", nhs="4010232138"),  # wrong check digit
            registration(ref="P3", nhs="9434765870", forename='"Ann"x'),  # bad CSV syntax
            "P4,too,few",
        ),
    )
    with dg.instance_for_test() as instance:
        run_consent(lake, instance)
        assert quarantined(lake, first) == [
            (3, "nhs_number_check_digit"),
            (4, "malformed_csv"),
            (5, "field_count"),
        ]
        entry = ledger_row(lake, first)
        assert (entry["status"], entry["rows_in"], entry["rows_accepted"]) == ("processed", 4, 1)
        assert entry["rows_quarantined"] == 3

        second = f"{REG}/registrations_20260201.csv"
        land(lake, second, registrations_file(registration(ref="P5", nhs="4010232137", sex="X")))
        run_consent(lake, instance)
        # the second run replaced only its own file's records
        assert len(quarantined(lake, first)) == 3
        assert quarantined(lake, second) == [(2, "invalid_enum")]
        batches = lake.read(QUARANTINE).select("batch", "source_file").unique()
        assert all(b == s for b, s in batches.iter_rows())


def test_registry_rows_point_at_the_landing_record_in_force(lake):
    first = f"{REG}/registrations_20260101.csv"
    land(lake, first, registrations_file(registration(ref="P2", nhs="4010232137"), registration()))
    with dg.instance_for_test() as instance:
        run_consent(lake, instance)
        rows = lake.read(PARTICIPANT_REGISTRY).sort("participant_reference")
        assert rows.select("source_file", "source_line").rows() == [(first, 3), (first, 2)]

        later = f"{REG}/registrations_20260201.csv"
        older = registration(postcode="OLD", record="2019-01-01")
        land(
            lake,
            later,
            registrations_file(older, registration(postcode="M1 1AA", record="2021-01-01")),
        )
        run_consent(lake, instance)
        p1 = lake.read(PARTICIPANT_REGISTRY).filter(pl.col("participant_reference") == "P1")
        assert p1.select("postcode", "source_file", "source_line").rows() == [("M1 1AA", later, 3)]


def test_every_consent_rule_is_documented():
    doc = (Path(__file__).parents[2] / "docs" / "landing.md").read_text()
    consent = doc.split("## consent/registrations")[1].split("## sequencing/")[0]
    for rule in (*feeds.FILE_RULES, *feeds.LINE_RULES, "malformed_csv", "field_count"):
        assert f"`{rule}`" in consent, rule
    assert f"{feeds.MAX_FIELD_CHARS}" in consent


def test_a_copy_under_another_name_is_a_duplicate_holding_its_rows(lake):
    data = registrations_file(registration(), registration(ref="P2", nhs="4010232137"))
    land(lake, f"{REG}/registrations_20260101.csv", data)
    land(lake, f"{REG}/registrations_20260101_copy.csv", data)
    with dg.instance_for_test() as instance:
        run_consent(lake, instance)
    entry = ledger_row(lake, f"{REG}/registrations_20260101_copy.csv")
    assert (entry["status"], entry["rows_in"], entry["rows_accepted"]) == ("duplicate", 2, 0)
    assert entry["rows_quarantined"] == 0
    assert ledger_row(lake, f"{REG}/registrations_20260101.csv")["rows_accepted"] == 2


def test_one_over_long_line_never_blocks_the_withdrawal_on_the_next_line(lake):
    """The issue: a withdrawal notice file with one 2 MB line was quarantined whole
    (``field_too_long``, rows 0/2), so the valid full withdrawal on the next line was never
    applied. The line is quarantined (file, line, rule); the other line is applied."""
    ann, bo = "P000000201", "P000000202"
    notices = f"{WD}/withdrawals_20260301.csv"
    with dg.instance_for_test() as instance:
        land(
            lake,
            f"{REG}/registrations_20260101.csv",
            registrations_file(registration(ann), registration(bo, nhs="4010232137")),
        )
        run_consent(lake, instance)
        huge = "B" * (2 << 20)  # one 2 MiB line, no field separator in it
        land(lake, notices, withdrawals_file(huge, f"{ann},full,2026-03-01"))
        run_consent(lake, instance)
    assert withdrawal_state(lake, ann) == "full"
    assert withdrawal_state(lake, bo) == "none"
    assert quarantined(lake, notices) == [(2, "field_too_long")]
    entry = ledger_row(lake, notices)
    assert (entry["status"], entry["rows_in"], entry["rows_accepted"]) == ("processed", 2, 1)
    assert entry["rows_quarantined"] == 1
    # the withdrawal opened its batch (the withdrawal sensor's cue)
    assert withdrawal_batches.read(lake)["members"].to_list() == [1]
    reason = lake.read(QUARANTINE).filter(pl.col("source_file") == notices)["reason"].item()
    assert "BBBB" not in reason and len(reason) < 200
