import datetime as dt

import polars as pl

from ngrl_assets.consent import feeds
from ngrl_assets.consent.registry import (
    CONSENT_STATUS_SCHEMA,
    REGISTRY_SCHEMA,
    build_consent_status,
    fold_registrations,
    withdrawal_states,
)

HEADER = ",".join(feeds.REGISTRATION_COLUMNS)
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def row(
    ref="P1", nhs="9434765919", dob="1980-01-02", postcode="LS1 4AP", record="2020-01-02", **kw
):
    values = {
        "participant_reference": ref,
        "nhs_number": nhs,
        "forename": "Ann",
        "surname": "Smith",
        "date_of_birth": dob,
        "postcode": postcode,
        "sex": "F",
        "programme": "gms",
        "consent_category": "adult",
        "research_discussed": "true",
        "research_agreed": "true",
        "consent_date": "2020-01-01",
        "life_status": "alive",
        "date_of_death": "",
        "record_date": record,
    }
    values.update(kw)
    return ",".join(values[c] for c in feeds.REGISTRATION_COLUMNS)


def parse(*rows: str, name="r.csv") -> feeds.ParsedFeed:
    return feeds.parse_registrations(("\n".join([HEADER, *rows]) + "\n").encode(), name)


def ids_counter():
    n = iter(range(1000))
    return lambda: f"p{next(n):04d}"


def test_each_row_is_accepted_or_rejected_with_line_and_rule():
    parsed = parse(
        row(),
        row(ref="P2", nhs="9434765918"),
        row(ref="P3", nhs="4010232137", dob="2010-02-30"),
        row(ref="P4", nhs="4010232137", consent_category="teen"),
        row(ref="P5", nhs="4010232137", life_status="deceased", date_of_death="1970-01-01"),
        row(ref="P6", nhs="4010232137", consent_date="1970-01-01"),
        "P7,too,few",
    )
    assert parsed.rows.height == 1
    got = [(r.line, r.rule) for r in parsed.rejects]
    assert got == [
        (3, "nhs_number_check_digit"),
        (4, "invalid_date"),
        (5, "invalid_enum"),
        (6, "death_before_birth"),
        (7, "consent_before_birth"),
        (8, "field_count"),
    ]
    assert parsed.rows_in == 7
    # reasons never echo the rejected value
    assert all(
        "9434765918" not in r.reason and "2010-02-30" not in r.reason for r in parsed.rejects
    )


def test_file_level_problems_reject_the_whole_file():
    assert [r.rule for r in feeds.parse_registrations(b"", "e.csv").rejects] == ["empty_file"]
    bad_header = feeds.parse_registrations(b"participant_reference,nhs_number\nP1,1\n", "h.csv")
    assert [(r.line, r.rule) for r in bad_header.rejects] == [(1, "missing_columns")]
    assert bad_header.file_rejected
    latin1 = (HEADER + "\n" + row(surname="Müller") + "\n").encode("latin-1")
    rejected = feeds.parse_registrations(latin1, "l.csv")
    assert [(r.line, r.rule) for r in rejected.rejects] == [(2, "encoding")]
    assert rejected.rows_in == 1  # its one data line, not its one reject
    extra = feeds.parse_registrations((HEADER + ",notes\n").encode(), "x.csv")
    assert [r.rule for r in extra.rejects] == ["unexpected_columns"]
    header_only = feeds.parse_registrations((HEADER + "\n").encode(), "o.csv")
    assert header_only.rows.height == 0 and header_only.rejects == []


def test_latest_record_wins_and_internal_ids_are_stable():
    registry = pl.DataFrame(schema=REGISTRY_SCHEMA)
    first = fold_registrations(registry, parse(row()).rows, NOW, ids_counter())
    assert first.registry_upserts["participant_id"].to_list() == ["p0000"]
    registry = first.registry_upserts
    moved = parse(
        row(postcode="M1 1AA", record="2021-01-01"), row(postcode="OLD", record="2020-01-01")
    )
    second = fold_registrations(registry, moved.rows, NOW, ids_counter())
    assert second.registry_upserts.select("participant_id", "postcode").rows() == [
        ("p0000", "M1 1AA")
    ]
    assert second.superseded == 1


def test_nhs_number_registered_to_another_participant_is_quarantined():
    parsed = parse(row(), row(ref="P2"))
    update = fold_registrations(
        pl.DataFrame(schema=REGISTRY_SCHEMA), parsed.rows, NOW, ids_counter()
    )
    assert update.registry_upserts["participant_reference"].to_list() == ["P1"]
    assert [(r.line, r.rule) for r in update.rejects] == [(3, "nhs_number_conflict")]


def test_internal_ids_are_random_and_not_derived_from_identifiers():
    parsed = parse(row())
    a = fold_registrations(pl.DataFrame(schema=REGISTRY_SCHEMA), parsed.rows, NOW)
    b = fold_registrations(pl.DataFrame(schema=REGISTRY_SCHEMA), parsed.rows, NOW)
    assert a.registry_upserts["participant_id"][0] != b.registry_upserts["participant_id"][0]


def test_full_withdrawal_outranks_no_further_contact_and_is_never_undone():
    registry = fold_registrations(
        pl.DataFrame(schema=REGISTRY_SCHEMA), parse(row()).rows, NOW, ids_counter()
    )
    notices = feeds.parse_withdrawals(
        b"participant_reference,withdrawal_type,withdrawal_date\n"
        b"P1,no_further_contact,2024-01-01\nP1,full,2025-01-01\nP1,no_further_contact,2026-01-01\n"
        b"P9,full,2026-01-01\n",
        "w.csv",
    ).rows
    states = withdrawal_states(registry.registry_upserts, notices)
    assert states.rows() == [("p0000", "full", dt.date(2025, 1, 1))]
    status = build_consent_status(
        pl.DataFrame(schema=CONSENT_STATUS_SCHEMA), registry.consent_updates, states, NOW
    )
    assert status["withdrawal_state"].to_list() == ["full"]
    assert status["year_of_birth"].to_list() == [1980]
    assert set(status.columns) == set(CONSENT_STATUS_SCHEMA)


def test_a_byte_order_mark_is_dropped_not_read_as_part_of_the_first_column():
    parsed = feeds.parse_registrations(
        b"\xef\xbb\xbf" + (HEADER + "\n" + row() + "\n").encode(), "b.csv"
    )
    assert parsed.rejects == [] and parsed.rows.height == 1
    assert parsed.rows["participant_reference"].to_list() == ["P1"]


def test_whole_file_rejects_count_every_data_line():
    empty = feeds.parse_registrations(b"", "e.csv")
    assert (empty.rows_in, empty.rows_quarantined) == (0, 0)
    bad_header = feeds.parse_registrations(b"participant_reference\nP1\n\nP2\nP3\n", "h.csv")
    assert (bad_header.rows_in, bad_header.rows_quarantined) == (3, 3)
    latin1 = (HEADER + "\n" + row() + "\n" + row(surname="Müller") + "\n").encode("latin-1")
    parsed = feeds.parse_registrations(latin1, "l.csv")
    assert [(r.line, r.rule) for r in parsed.rejects] == [(3, "encoding")]
    assert (parsed.rows.height, parsed.rows_in, parsed.rows_quarantined) == (0, 2, 2)


def test_field_limit_is_the_platforms_not_the_csv_modules():
    limit = feeds.MAX_FIELD_CHARS
    at_limit = parse(row(forename="A" * limit))
    assert at_limit.rejects == [] and at_limit.rows.height == 1
    over = parse(row(), row(ref="P2", nhs="4010232137", forename="A" * (limit + 1)))
    assert [(r.line, r.rule) for r in over.rejects] == [(3, "field_too_long")]
    # the line is quarantined, the other line taken in
    assert not over.file_rejected and over.rows["source_line"].to_list() == [2]
    assert over.rows_in == 2
    # a field far beyond csv's own limit is the same rule, not a csv error
    import csv

    huge = parse(row(forename="A" * (csv.field_size_limit() * 8)), row(ref="P2"))
    assert [(r.line, r.rule) for r in huge.rejects] == [(2, "field_too_long")]
    assert "A" * 10 not in huge.rejects[0].reason
    assert huge.rows["source_line"].to_list() == [3]
    # on the header line it is the whole file
    header = feeds.parse_registrations(("A" * (limit + 1) + "\n" + row()).encode(), "h.csv")
    assert [(r.line, r.rule) for r in header.rejects] == [(1, "field_too_long")]
    assert header.file_rejected and header.rows_in == 1


def test_a_two_megabyte_line_quarantines_that_line_and_the_next_withdrawal_applies():
    data = "\n".join([",".join(feeds.WITHDRAWAL_COLUMNS), "B" * (2 << 20), "P1,full,2026-03-01"])
    parsed = feeds.parse_withdrawals((data + "\n").encode(), "w.csv")
    assert [(r.source_file, r.line, r.rule) for r in parsed.rejects] == [
        ("w.csv", 2, "field_too_long")
    ]
    assert not parsed.file_rejected
    assert parsed.rows.select("participant_reference", "source_line").rows() == [("P1", 3)]
    assert (parsed.rows_in, parsed.rows_quarantined) == (2, 1)


def test_broken_quoting_rejects_its_line_nul_bytes_and_parser_failures_the_file():
    runaway = parse(row(forename='"Ann'), row(ref="P2", nhs="4010232137"))
    assert [(r.line, r.rule) for r in runaway.rejects] == [(2, "line_break_in_field")]
    assert runaway.rows_in == 2 and not runaway.file_rejected
    assert runaway.rows["participant_reference"].to_list() == ["P2"]
    last = parse(row(), row(ref="P2", nhs="4010232137", forename='"Ann'))
    assert [(r.line, r.rule) for r in last.rejects] == [(3, "line_break_in_field")]
    assert last.rows["source_line"].to_list() == [2]
    nul = parse(row(), row(ref="P2", forename="A\x00n"))
    assert [(r.line, r.rule) for r in nul.rejects] == [(3, "nul_bytes")]
    dup = feeds.parse_registrations((HEADER + ",nhs_number\n" + row() + "\n").encode(), "d.csv")
    assert [(r.line, r.rule) for r in dup.rejects] == [(1, "duplicate_columns")]


def test_any_exception_while_parsing_is_a_whole_file_reject_without_its_text():
    def explode(_row: dict[str, str]) -> dict:
        raise KeyError("9434765919")

    data = ("\n".join([HEADER, row(), row()]) + "\n").encode()
    parsed = feeds._parse(
        data, "x.csv", feeds.REGISTRATION_COLUMNS, feeds.REGISTRATION_SCHEMA, explode
    )
    assert [(r.line, r.rule) for r in parsed.rejects] == [(0, "unreadable")]
    assert "9434765919" not in parsed.rejects[0].reason
    assert (parsed.rows_in, parsed.rows_quarantined) == (2, 2)


def test_a_line_that_is_not_valid_csv_is_a_row_reject():
    parsed = parse(
        row(), row(ref="P2", nhs="4010232137", forename='"Ann"x'), row(ref="P3", nhs="9434765870")
    )
    assert [(r.line, r.rule) for r in parsed.rejects] == [(3, "malformed_csv")]
    assert parsed.rows["source_line"].to_list() == [2, 4]
    assert not parsed.file_rejected and parsed.rows_in == 3
