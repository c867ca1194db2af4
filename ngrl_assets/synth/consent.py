"""consent/registrations and consent/withdrawals feeds (CSV), with injected defect rows."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path

from ngrl_assets.consent import feeds, nhs_number

from .common import (
    Defect,
    Ids,
    Seed,
    Truth,
    allocate_rules,
    days,
    free_path,
    interleave,
    iso,
    rand_date,
    rng_for,
    write_rows,
    ymd,
)
from .people import _AREAS, FORENAMES_F, FORENAMES_M, SURNAMES, Participant, Timeline, postcode

# the column contract is the reader's (docs/landing.md); the generator writes exactly it
REGISTRATION_COLUMNS = list(feeds.REGISTRATION_COLUMNS)
WITHDRAWAL_COLUMNS = list(feeds.WITHDRAWAL_COLUMNS)
REGISTRATION_RULES = ["nhs_number_check_digit", "invalid_date", "invalid_enum"]
WITHDRAWAL_RULES = ["unknown_participant", "invalid_enum"]
_BAD_DATES = ("2023-02-30", "2024-13-01", "2022-04-31", "2021-02-29", "2025-00-10")
# values no lenient reader could map onto a valid one
_BAD_ENUMS = {
    "sex": ("X", "Q"),
    "programme": ("GMS2", "rare_disease"),
    "consent_category": ("adolescent", "parent"),
    "life_status": ("unknown", "missing"),
    "research_agreed": ("maybe", "unsure"),
}


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _spaced(nhs: str) -> str:
    return f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"


def _registration_rows(people: list[Participant], seed: Seed, n_files: int) -> list[list[tuple]]:
    """Good rows per registration file, as (record_date, ref, row) tuples."""
    per_file: list[list[tuple]] = [[] for _ in range(n_files)]
    for p in people:
        rng = rng_for(seed, "registration-format", p.index)
        nhs = _spaced(p.nhs) if rng.random() < 0.1 else p.nhs
        for rec in p.records:
            row = [
                p.ref,
                nhs,
                p.forename,
                p.surname,
                iso(p.dob),
                rec.postcode,
                p.sex,
                p.programme,
                p.consent_category,
                _bool(rec.research_discussed),
                _bool(rec.research_agreed),
                iso(p.consent_date),
                "deceased" if rec.date_of_death else "alive",
                iso(rec.date_of_death) if rec.date_of_death else "",
                iso(rec.record_date),
            ]
            per_file[rec.file_index].append((rec.record_date, p.ref, row))
    return per_file


def _stranger_row(rng: random.Random, ids: Ids, lo: dt.date, hi: dt.date) -> list[str]:
    """A plausible adult registration for somebody not in the cohort."""
    record = rand_date(rng, lo, hi)
    consent = record - days(rng.randint(1, 14))
    sex = rng.choice("FM")
    dob = consent - days(rng.randint(18, 80) * 365.25 + rng.randint(0, 364))
    return [
        ids.participant(rng),
        ids.nhs(rng),
        rng.choice(FORENAMES_F if sex == "F" else FORENAMES_M),
        rng.choice(SURNAMES),
        iso(dob),
        postcode(rng, rng.choice(_AREAS)),
        sex,
        "gms",
        "adult",
        "true",
        "true",
        iso(consent),
        "alive",
        "",
        iso(record),
    ]


def _registration_defect(rng: random.Random, ids: Ids, rule: str, row: list[str]) -> Defect:
    col = REGISTRATION_COLUMNS.index
    if rule == "nhs_number_check_digit":
        row[col("nhs_number")] = nhs_number.corrupt(row[col("nhs_number")], rng)
        return Defect(rule, row, {"column": "nhs_number"})
    if rule == "invalid_date":
        column = rng.choice(("date_of_birth", "consent_date", "record_date"))
        row[col(column)] = rng.choice(_BAD_DATES)
        return Defect(rule, row, {"column": column})
    column = rng.choice(sorted(_BAD_ENUMS))
    row[col(column)] = rng.choice(_BAD_ENUMS[column])
    return Defect(rule, row, {"column": column})


def write_consent(
    out: Path,
    people: list[Participant],
    tl: Timeline,
    seed: Seed,
    rate: float,
    ids: Ids,
    truth: Truth,
    earlier_withdrawn: Sequence[Participant] = (),
) -> None:
    """The wave's registration and withdrawal files; ``earlier_withdrawn`` are earlier
    waves' participants whose withdrawal notice arrives in this wave's files."""
    per_file = _registration_rows(people, seed, len(tl.registration_files))
    previous = tl.consent_start
    for i, file_date in enumerate(tl.registration_files):
        rng = rng_for(seed, "registrations-file", i)
        good = [row for _, _, row in sorted(per_file[i], key=lambda t: (t[0], t[1]))]
        defects = [
            _registration_defect(rng, ids, rule, _stranger_row(rng, ids, previous, file_date))
            for rule in allocate_rules(rng, REGISTRATION_RULES, len(good), rate)
        ]
        rows, found = interleave(rng, good, defects)
        path = free_path(out / "consent" / "registrations" / f"registrations_{ymd(file_date)}.csv")
        write_rows(path, REGISTRATION_COLUMNS, rows, ",")
        truth.record(path, "consent/registrations", len(good), found)
        previous = file_date + days(1)

    withdrawn = [p for p in people if p.withdrawal is not None] + list(earlier_withdrawn)
    stay = [p for p in people if p.case == "adult_alive"] or people
    previous = tl.consent_start
    for i, file_date in enumerate(tl.withdrawal_files):
        rng = rng_for(seed, "withdrawals-file", i)
        good_t = []
        for p in withdrawn:
            assert p.withdrawal is not None
            kind, when = p.withdrawal
            if previous <= when <= file_date:
                good_t.append((when, p.ref, [p.ref, kind, iso(when)]))
        good = [row for _, _, row in sorted(good_t, key=lambda t: (t[0], t[1]))]
        defects = []
        for rule in allocate_rules(rng, WITHDRAWAL_RULES, len(good), rate):
            noticed = iso(rand_date(rng, max(previous, file_date - days(90)), file_date))
            if rule == "unknown_participant":
                kind = rng.choice(("full", "no_further_contact"))
                row = [ids.participant(rng), kind, noticed]
                defects.append(Defect(rule, row, {"column": "participant_reference"}))
            else:
                bad = rng.choice(("partial", "pending", "temporary"))
                row = [rng.choice(stay).ref, bad, noticed]
                defects.append(Defect(rule, row, {"column": "withdrawal_type"}))
        rows, found = interleave(rng, good, defects)
        path = free_path(out / "consent" / "withdrawals" / f"withdrawals_{ymd(file_date)}.csv")
        write_rows(path, WITHDRAWAL_COLUMNS, rows, ",")
        truth.record(path, "consent/withdrawals", len(good), found)
        previous = file_date + days(1)
