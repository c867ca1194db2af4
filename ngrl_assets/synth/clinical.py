"""clinical/*: each participant's hospital, death and cancer history, cut into NHS England
deliveries, written as pipe-delimited extracts with injected defect rows."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from ngrl_assets.clinical.sources import SOURCES as EXTRACTS
from ngrl_assets.consent import nhs_number
from ngrl_assets.consent.eligibility import age_on

from . import codes
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
    poisson,
    rand_date,
    rng_for,
    write_rows,
    ymd,
)
from .hes import ae_attendance, apc_spell, diag_fields, op_attendance
from .people import Participant, Timeline
from .registries import death_row, tumour_for, tumour_row

SOURCES = ("hes_apc", "hes_op", "hes_ae", "ons_mortality", "av_tumour")
KEYS = {"hes_apc": "EPIKEY", "hes_op": "ATTENDKEY", "hes_ae": "AEKEY"}
COMMON_RULES = ["nhs_number_check_digit", "unknown_patient", "dob_mismatch", "invalid_date"]
RULES = {
    "hes_apc": [*COMMON_RULES, "invalid_icd10", "duplicate_key"],
    "hes_op": [*COMMON_RULES, "invalid_icd10", "duplicate_key"],
    "hes_ae": [*COMMON_RULES, "invalid_ae_diagnosis", "duplicate_key"],
    "ons_mortality": [*COMMON_RULES, "invalid_icd10"],
    "av_tumour": [*COMMON_RULES, "invalid_icd10"],
}
DATE_FIELDS = {
    "hes_apc": ("ADMIDATE", "EPISTART", "EPIEND"),
    "hes_op": ("APPTDATE",),
    "hes_ae": ("ARRIVALDATE",),
    "ons_mortality": ("REG_DATE_OF_DEATH",),
    "av_tumour": ("DIAGNOSISDATEBEST",),
}
BAD_DATES = {  # impossible calendar dates in each feed's own date format
    "iso": ("2024-02-30", "2023-13-05", "2022-06-31"),
    "ymd": ("20240230", "20231305", "20220631"),
    "dmy": ("30/02/2024", "31/04/2023", "12/13/2022"),
}
LAG = days(30)  # events reach a delivery once they are a month old
LINK_LEAD = days(14)  # a participant is in a delivery's cohort list if registered by then

Event = tuple[str, dt.date, dict[str, str]]


def columns(source: str) -> tuple[str, ...]:
    """The extract's columns, as the reader expects them (one definition for both)."""
    return EXTRACTS[source].columns


def _specialty(rng: random.Random, p: Participant, on: dt.date) -> str:
    age = age_on(p.dob, on)
    if age < 16:
        return "420"
    if p.karyotype == "XX" and 18 <= age <= 44 and rng.random() < 0.12:
        return "501"
    return rng.choice(codes.ADULT_SPECIALTIES)


def participant_events(seed: Seed, p: Participant, tl: Timeline, ids: Ids) -> list[Event]:
    """Everything NHS England holds on one participant (before delivery cuts)."""
    rng = rng_for(seed, "clinical", p.index)
    lo = max(p.dob + days(1), tl.as_of - days(8 * 365))
    hi = tl.clinical_deliveries[-1] - LAG
    if p.date_of_death:
        hi = min(hi, p.date_of_death)
    if hi <= lo:
        return []
    years = (hi - lo).days / 365.25
    events: list[Event] = []

    def spell(episodes: list[dict[str, str]]) -> None:
        if dt.date.fromisoformat(episodes[-1]["EPIEND"]) <= hi:
            events.extend(("hes_apc", dt.date.fromisoformat(e["EPIEND"]), e) for e in episodes)

    tumour = tumour_for(rng, p)
    diagnosed = None
    if tumour:
        diagnosed = rand_date(rng, max(lo, p.consent_date - days(5 * 365)), hi)
        events.append(
            ("av_tumour", diagnosed + days(180), tumour_row(rng, p, ids, diagnosed, tumour))
        )

    if p.date_of_death:
        death = p.date_of_death
        young = age_on(p.dob, death) < 30
        pool = codes.DEATH_UNDERLYING_YOUNG if young else codes.DEATH_UNDERLYING_ADULT
        cause = (
            tumour[0] if tumour and tumour[2] == "3" and rng.random() < 0.7 else rng.choice(pool)
        )
        coroner = rng.random() < 0.1
        reg = death + days(rng.randint(20, 150) if coroner else rng.randint(1, 10))
        events.append(("ons_mortality", reg, death_row(rng, p, death, reg, cause)))
        if rng.random() < 0.12:  # a later correction of the same registration
            fixed = cause if rng.random() < 0.5 else rng.choice(pool)
            reg2 = reg + days(rng.randint(14, 120))
            events.append(("ons_mortality", reg2, death_row(rng, p, death, reg2, fixed)))
        if rng.random() < 0.6:
            last_admission = max(lo, death - days(rng.randint(0, 20)))
            spec = "370" if tumour else ("420" if young and age_on(p.dob, death) < 16 else "300")
            spell(
                apc_spell(rng, p, last_admission, ids, specialty=spec, primary=cause, death=death)
            )

    for _ in range(poisson(rng, 0.12 * years)):
        arrival = rand_date(rng, lo, hi)
        admitted = rng.random() < 0.2
        row = ae_attendance(rng, p, arrival, ids, admitted=admitted)
        if admitted:
            spec = "420" if age_on(p.dob, arrival) < 16 else "300"
            episodes = apc_spell(
                rng, p, arrival, ids, specialty=spec, emergency=True, aekey=row["AEKEY"]
            )
            if dt.date.fromisoformat(episodes[-1]["EPIEND"]) <= hi:
                row["EPIKEY"] = episodes[0]["EPIKEY"]
                spell(episodes)
            else:
                row["AEATTENDDISP"] = "03"
        events.append(("hes_ae", arrival, row))

    age = age_on(p.dob, hi)
    rate = 0.15 + (0.15 if age >= 60 else 0.0) + (0.3 if tumour else 0.0)
    for _ in range(poisson(rng, rate * years)):
        when = rand_date(rng, lo, hi)
        spec, primary = _specialty(rng, p, when), None
        if tumour and diagnosed and when >= diagnosed and rng.random() < 0.6:
            spec, primary = rng.choice(("370", "800")), tumour[0]
        spell(apc_spell(rng, p, when, ids, specialty=spec, primary=primary))

    for _ in range(poisson(rng, (0.5 + (0.8 if tumour else 0.0)) * years)):
        when = rand_date(rng, lo, hi)
        spec, primary = _specialty(rng, p, when), None
        if rng.random() < 0.2:
            spec = "311"
        elif tumour and diagnosed and when >= diagnosed and rng.random() < 0.6:
            spec, primary = "370", tumour[0]
        elif spec == "501":
            spec = "420" if age_on(p.dob, when) < 16 else "300"
        events.append(
            ("hes_op", when, op_attendance(rng, p, when, ids, specialty=spec, primary=primary))
        )
    return events


def later_events(seed: Seed, p: Participant, lo: dt.date, hi: dt.date, ids: Ids) -> list[Event]:
    """A later wave's new hospital activity of an earlier wave's participant: A&E, admitted
    and outpatient events dated within [lo, hi] only (their history up to ``lo`` was
    delivered before; deaths and tumours are not revisited)."""
    rng = rng_for(seed, "clinical-later", p.index)
    if p.date_of_death is not None or hi <= lo:
        return []
    years = (hi - lo).days / 365.25
    events: list[Event] = []
    for _ in range(poisson(rng, 0.12 * years)):
        arrival = rand_date(rng, lo, hi)
        events.append(("hes_ae", arrival, ae_attendance(rng, p, arrival, ids, admitted=False)))
    rate = 0.15 + (0.15 if age_on(p.dob, hi) >= 60 else 0.0)
    for _ in range(poisson(rng, rate * years)):
        when = rand_date(rng, lo, hi)
        episodes = apc_spell(rng, p, when, ids, specialty=_specialty(rng, p, when))
        if dt.date.fromisoformat(episodes[-1]["EPIEND"]) <= hi:
            events.extend(("hes_apc", dt.date.fromisoformat(e["EPIEND"]), e) for e in episodes)
    for _ in range(poisson(rng, 0.5 * years)):
        when = rand_date(rng, lo, hi)
        spec = _specialty(rng, p, when)
        if spec == "501":
            spec = "420" if age_on(p.dob, when) < 16 else "300"
        events.append(("hes_op", when, op_attendance(rng, p, when, ids, specialty=spec)))
    return events


def _delivery(tl: Timeline, p: Participant, when: dt.date) -> int | None:
    linked = tl.registration_files[p.first_file]
    for k, delivered in enumerate(tl.clinical_deliveries):
        if linked <= delivered - LINK_LEAD and when <= delivered - LAG:
            return k
    return None


def _shifted_dob(rng: random.Random, dob: dt.date) -> dt.date:
    while True:
        u = rng.random()
        if u < 0.4:
            new = dob + days(rng.choice((-1, 1)) * rng.randint(1, 27))
        elif u < 0.7 and dob.day <= 12 and dob.day != dob.month:
            new = dob.replace(month=dob.day, day=dob.month)  # day and month swapped
        else:
            try:
                new = dob.replace(year=dob.year + rng.choice((-2, -1, 1, 2)))
            except ValueError:
                continue
        if new != dob:
            return new


def _defect(
    source: str,
    rule: str,
    rng: random.Random,
    people: list[Participant],
    ids: Ids,
    lo: dt.date,
    hi: dt.date,
    deaths: list[dict[str, str]],
) -> Defect:
    if rule == "duplicate_key":
        return Defect(rule, None, {"column": KEYS[source]}, copy_of_earlier=True)
    p = rng.choice([q for q in people if q.dob < lo] or people)
    when = rand_date(rng, lo, hi)
    if source == "hes_apc":
        row = apc_spell(rng, p, when, ids, specialty=_specialty(rng, p, when))[0]
    elif source == "hes_op":
        row = op_attendance(rng, p, when, ids, specialty="311")
    elif source == "hes_ae":
        row = ae_attendance(rng, p, when, ids, admitted=False)
    elif source == "av_tumour":
        row = tumour_row(rng, p, ids, when, rng.choice(codes.TUMOURS))
    elif rule in ("invalid_date", "invalid_icd10") and (
        known := [d for d in deaths if d["REG_DATE"] <= ymd(hi)]
    ):
        # a flawed copy of a real registration, registered earlier than the good one
        row = dict(rng.choice(known))
        reg = dt.datetime.strptime(row["REG_DATE"], "%Y%m%d").date()
        row["REG_DATE"] = ymd(reg - days(rng.randint(1, 5)))
    else:
        row = death_row(rng, p, when, when + days(3), rng.choice(codes.DEATH_UNDERLYING_ADULT))
    detail: dict[str, object] = {}
    if rule == "nhs_number_check_digit":
        row["NEWNHSNO"] = nhs_number.corrupt(row["NEWNHSNO"], rng)
        detail["column"] = "NEWNHSNO"
    elif rule in ("unknown_patient", "dob_mismatch"):
        if rule == "unknown_patient":
            row["NEWNHSNO"] = ids.nhs(rng)
        dob = _shifted_dob(rng, dt.date.fromisoformat(row["DOB"]))
        row["DOB"] = iso(dob)
        if "MYDOB" in row:
            row["MYDOB"] = f"{dob.month:02d}{dob.year}"
        detail["column"] = "NEWNHSNO" if rule == "unknown_patient" else "DOB"
    elif rule == "invalid_date":
        column = rng.choice(DATE_FIELDS[source])
        style = "ymd" if source == "ons_mortality" else "dmy" if source == "av_tumour" else "iso"
        row[column] = rng.choice(BAD_DATES[style])
        detail["column"] = column
    elif rule == "invalid_ae_diagnosis":
        bad = rng.choice(codes.BAD_AE_DIAG)
        row["DIAG2_01"], row["DIAG3_01"] = bad, bad + "0"
        detail["column"] = "DIAG2_01"
    elif source in ("hes_apc", "hes_op"):
        n = 20 if source == "hes_apc" else 12
        current = [row[f"DIAG_4_{i:02d}"] for i in range(1, n + 1) if row.get(f"DIAG_4_{i:02d}")]
        row.update(diag_fields([codes.bad_icd10(rng), *current[1:]], n))
        detail["column"] = "DIAG_4_01"
    else:
        column = "S_UNDERLYING_COD_ICD10" if source == "ons_mortality" else "SITE_ICD10_O2"
        row[column] = codes.bad_icd10(rng)
        if source == "av_tumour":
            row["SITE_ICD10_O2_3CHAR"] = row[column][:3]
        detail["column"] = column
    return Defect(rule, [row.get(c, "") for c in columns(source)], detail)


def write_clinical(
    out: Path,
    people: list[Participant],
    tl: Timeline,
    seed: Seed,
    rate: float,
    ids: Ids,
    truth: Truth,
    progress: bool,
    earlier: Sequence[Participant] = (),
) -> dict[str, object]:
    """The wave's extracts. ``earlier``: earlier waves' participants whose new activity
    since ``tl.clinical_from`` (the previous wave's last cut) reaches this wave's first
    delivery."""
    per: dict[str, list[list[tuple[dt.date, str, dict[str, str]]]]] = {
        s: [[] for _ in tl.clinical_deliveries] for s in SOURCES
    }

    def add(source: str, k: int, when: dt.date, row: dict[str, str]) -> None:
        key = row.get(KEYS.get(source, "TUMOURID")) or row["NEWNHSNO"]
        per[source][k].append((when, key, row))

    for p in tqdm(people, desc="clinical", unit="participant", disable=not progress):
        for source, when, row in participant_events(seed, p, tl, ids):
            k = _delivery(tl, p, when)
            if k is not None:
                add(source, k, when, row)
    later = 0
    if earlier and tl.clinical_from is not None:
        cut = tl.clinical_deliveries[0] - LAG
        for p in earlier:
            for source, when, row in later_events(seed, p, tl.clinical_from, cut, ids):
                add(source, 0, when, row)
                later += 1
    corrections = 0
    deaths = [row for rows in per["ons_mortality"] for _, _, row in rows]
    seen: set[str] = set()
    for row in sorted(deaths, key=lambda r: (r["REG_DATE"], r["NEWNHSNO"])):
        corrections += row["NEWNHSNO"] in seen
        seen.add(row["NEWNHSNO"])
    for source in SOURCES:
        cols = columns(source)
        previous = tl.clinical_from or tl.as_of - days(8 * 365)
        for k, delivered in enumerate(tl.clinical_deliveries):
            rng = rng_for(seed, "clinical-file", source, k)
            events = sorted(per[source][k], key=lambda e: (e[0], e[1]))
            good = [[row.get(c, "") for c in cols] for _, _, row in events]
            rules = RULES[source] if good else [r for r in RULES[source] if r != "duplicate_key"]
            cut = delivered - LAG
            defects = [
                _defect(source, rule, rng, people, ids, previous, cut, deaths)
                for rule in allocate_rules(rng, rules, len(good), rate)
            ]
            rows, found = interleave(rng, good, defects)
            path = free_path(out / "clinical" / source / f"{source}_{ymd(delivered)}.txt")
            write_rows(path, cols, rows, "|")
            truth.record(path, f"clinical/{source}", len(good), found)
            previous = cut + days(1)
    summary: dict[str, object] = {"ons_mortality_corrections": corrections}
    if earlier:
        summary["earlier_wave_events"] = later
    return summary
