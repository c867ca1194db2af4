"""Synthetic participants: identity, consent story (eligibility case), registration
history, withdrawal, and the release-date timeline everything else is placed on."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from ngrl_assets.consent.eligibility import age_on

from .common import Ids, Seed, days, rand_date, rng_for, years_before

# (case, eligible at the release date, share of the cohort); adult_alive takes the rest.
CASES: list[tuple[str, bool, float]] = [
    ("adult_alive", True, 0.0),
    ("adult_deceased", True, 0.05),
    ("child_under16", True, 0.04),
    ("child_now16_alive", False, 0.015),
    ("child_now16_deceased", True, 0.006),
    ("child_consented_16plus_alive", False, 0.01),
    ("child_consented_16plus_deceased", False, 0.005),
    ("research_not_discussed", False, 0.02),
    ("research_not_agreed", False, 0.02),
    ("withdrawn_full", False, 0.03),
    ("withdrawn_no_further_contact", True, 0.02),
]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


ELIGIBLE = {name: eligible for name, eligible, _ in CASES}
DECEASED_CASES = ("adult_deceased", "child_now16_deceased", "child_consented_16plus_deceased")

FORENAMES_F = _words(
    """
    Olivia Amelia Isla Ava Mia Sophia Grace Lily Freya Emily Ivy Ella Rosie Evie Florence
    Poppy Charlotte Willow Sienna Aisha Fatima Zara Priya Chloe Hannah Sarah Emma Laura
    Rebecca Joanne Susan Margaret Patricia Elizabeth Mary Aoife Siobhan Niamh Megan Zoe
    """
)
FORENAMES_M = _words(
    """
    Oliver George Noah Arthur Muhammad Leo Harry Oscar Archie Henry Theodore Freddie Jack
    Charlie Thomas James William Daniel David Michael Paul Mark Richard Peter John Robert
    Ahmed Omar Yusuf Arjun Rohan Kwame Tunde Liam Sean Ciaran Dylan Rhys Owen Callum
    """
)
SURNAMES = _words(
    """
    Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson
    Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson
    Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan
    Allen James Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell
    Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan
    Marshall Anderson Simpson Ellis Adams Singh Begum Ali Hussain Okafor Mensah Nowak
    Kowalski Chen Wong Nguyen O'Brien O'Connor Ahmed Rahman Das Sharma Campbell Stewart
    Byrne
    """
)
# postcode area -> (highest district number, NHS trust code serving it)
POSTCODE_AREAS: dict[str, tuple[int, str]] = {
    "LS": (29, "RR8"),
    "M": (35, "R0A"),
    "B": (98, "RRK"),
    "BS": (49, "RA7"),
    "CB": (25, "RGT"),
    "OX": (49, "RTH"),
    "NE": (99, "RTD"),
    "S": (75, "RHQ"),
    "L": (40, "REM"),
    "SE": (28, "RJ1"),
    "N": (22, "RRV"),
    "E": (18, "R1H"),
    "EX": (39, "RH8"),
    "NG": (34, "RX1"),
    "LE": (19, "RWE"),
    "YO": (62, "RCB"),
    "NR": (35, "RM1"),
    "SO": (53, "RHM"),
}
_AREAS = list(POSTCODE_AREAS)
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
# HES ETHNOS codes with rough England weights (Z = not stated, 99 = not known)
ETHNOS = (
    ("A", 70),
    ("B", 1),
    ("C", 6),
    ("D", 1),
    ("F", 1),
    ("G", 1),
    ("H", 3),
    ("J", 3),
    ("K", 1),
    ("L", 2),
    ("M", 1),
    ("N", 3),
    ("R", 1),
    ("S", 2),
    ("Z", 3),
    ("99", 1),
)


@dataclass
class Timeline:
    """Delivery dates, all relative to the release data-freeze date ``as_of``."""

    as_of: dt.date
    consent_start: dt.date
    registration_files: list[dt.date]
    withdrawal_files: list[dt.date]
    clinical_deliveries: list[dt.date]
    # a later wave: its deliveries all come after the previous wave's ``as_of``, and its
    # clinical defect rows date from after the previous wave's last clinical cut
    sequencing_from: dt.date | None = None
    clinical_from: dt.date | None = None

    @classmethod
    def for_release(cls, as_of: dt.date) -> Timeline:
        return cls(
            as_of=as_of,
            consent_start=as_of - days(4200),
            registration_files=[as_of - days(300), as_of - days(150), as_of - days(45)],
            withdrawal_files=[as_of - days(120), as_of - days(20)],
            clinical_deliveries=[as_of - days(200), as_of - days(30)],
        )

    @classmethod
    def for_wave(cls, as_of: dt.date, previous_as_of: dt.date, clinical_from: dt.date) -> Timeline:
        """A later wave's files, all dated after ``previous_as_of`` (the previous wave's
        data-freeze date, at least 60 days before ``as_of``): two registration files, one
        withdrawal file and one clinical delivery."""
        if as_of < previous_as_of + days(60):
            raise ValueError("a later wave's as_of must be at least 60 days after the previous")
        return cls(
            as_of=as_of,
            consent_start=as_of - days(4200),
            registration_files=[as_of - days(55), as_of - days(25)],
            withdrawal_files=[as_of - days(10)],
            clinical_deliveries=[as_of - days(5)],
            sequencing_from=previous_as_of + days(1),
            clinical_from=clinical_from,
        )

    @property
    def consent_end(self) -> dt.date:
        return self.registration_files[-1] - days(15)

    def registration_file_of(self, record_date: dt.date) -> int:
        return next(i for i, d in enumerate(self.registration_files) if record_date <= d)


@dataclass
class Record:
    """One registration row as the consent service issues it."""

    record_date: dt.date
    file_index: int
    postcode: str
    research_discussed: bool
    research_agreed: bool
    date_of_death: dt.date | None
    change: str  # initial | moved | death_recorded | consent_updated


@dataclass
class Participant:
    index: int
    ref: str
    nhs: str
    forename: str
    surname: str
    sex: str  # F / M / U as registered
    karyotype: str  # XX / XY
    dob: dt.date
    ethnos: str
    postcode: str
    provider: str
    programme: str
    case: str
    consent_category: str
    consent_date: dt.date
    date_of_death: dt.date | None = None
    withdrawal: tuple[str, dt.date] | None = None
    records: list[Record] = field(default_factory=list)

    @property
    def first_file(self) -> int:
        return self.records[0].file_index


def case_counts(n: int) -> list[str]:
    """The case of each participant slot: at least one of every case when n allows,
    adult_alive for the remainder."""
    names = [name for name, _, _ in CASES]
    if n < len(names):
        return names[:n]
    counts = {name: max(1, round(share * n)) for name, _, share in CASES[1:]}
    counts["adult_alive"] = max(1, n - sum(counts.values()))
    while sum(counts.values()) > n:  # tiny cohorts: trim the largest minority case
        largest = max(names[1:], key=lambda k: (counts[k], k))
        counts[largest] -= 1
    return [name for name in names for _ in range(counts[name])]


def postcode(rng: random.Random, area: str) -> str:
    top, _ = POSTCODE_AREAS[area]
    inward = f"{rng.randint(1, 9)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
    return f"{area}{rng.randint(1, top)} {inward}"


def _consent_date(rng: random.Random, tl: Timeline, latest: dt.date) -> dt.date:
    """A consent date: half spread over the whole programme, half in the last 300 days."""
    lo = tl.consent_start if rng.random() < 0.55 else max(tl.consent_start, latest - days(300))
    return rand_date(rng, lo, latest)


def _story(rng: random.Random, case: str, tl: Timeline) -> dict[str, object]:
    """Dates and consent answers that put a participant in ``case`` at ``tl.as_of``."""
    deceased = case in DECEASED_CASES
    latest = tl.consent_end - days(60 if deceased or case.startswith("withdrawn") else 0)
    story: dict[str, object] = {"category": "adult", "discussed": True, "agreed": True}
    if case == "child_under16":
        dob = rand_date(rng, years_before(tl.as_of, 15.7), years_before(tl.as_of, 0.6))
        consent = rand_date(rng, max(tl.consent_start, dob + days(30)), latest)
        story["category"] = "child"
    elif case.startswith("child_now16"):
        dob = rand_date(rng, years_before(tl.as_of, 20.5), years_before(tl.as_of, 16.3))
        lo = max(tl.consent_start, dob + days(400))
        consent = rand_date(rng, lo, min(latest, dob + days(round(15.7 * 365.25))))
        story["category"] = "child"
    elif case.startswith("child_consented_16plus"):
        consent = _consent_date(rng, tl, latest)
        dob = consent - days(rng.randint(round(16.05 * 365.25), round(17.9 * 365.25)))
        story["category"] = "child"
    else:
        consent = _consent_date(rng, tl, latest)
        age = rng.randint(50, 90) if deceased else rng.randint(18, 86)
        dob = consent - days(age * 365.25 + rng.randint(0, 364))
        story["discussed"] = case != "research_not_discussed"
        story["agreed"] = case not in ("research_not_discussed", "research_not_agreed")
    story["dob"], story["consent"] = dob, consent
    if deceased:
        story["death"] = rand_date(rng, consent + days(20), tl.consent_end - days(15))
    return story


def make_participants(
    seed: Seed, n: int, tl: Timeline, ids: Ids, first_index: int = 0
) -> list[Participant]:
    """``n`` participants numbered from ``first_index`` (a later wave continues the
    numbering of the earlier ones)."""
    cases = case_counts(n)
    rng_for(seed, "cases").shuffle(cases)
    people: list[Participant] = []
    for index, case in enumerate(cases, start=first_index):
        rng = rng_for(seed, "participant", index)
        sex = "F" if rng.random() < 0.5 else "M"
        if rng.random() < 0.005:
            sex = "U"
        karyotype = {"F": "XX", "M": "XY"}.get(sex) or rng.choice(("XX", "XY"))
        area = rng.choice(_AREAS)
        story = _story(rng, case, tl)
        consent = story["consent"]
        assert isinstance(consent, dt.date)
        p = Participant(
            index=index,
            ref=ids.participant(rng),
            nhs=ids.nhs(rng),
            forename=rng.choice(FORENAMES_F if karyotype == "XX" else FORENAMES_M),
            surname=rng.choice(SURNAMES),
            sex=sex,
            karyotype=karyotype,
            dob=story["dob"],  # type: ignore[arg-type]
            ethnos=rng.choices([c for c, _ in ETHNOS], [w for _, w in ETHNOS])[0],
            postcode=postcode(rng, area),
            provider=POSTCODE_AREAS[area][1],
            programme="100kgp" if consent.year < 2019 and story["category"] == "adult" else "gms",
            case=case,
            consent_category=str(story["category"]),
            consent_date=consent,
            date_of_death=story.get("death"),  # type: ignore[arg-type]
        )
        _history(rng, p, story, tl)
        if case.startswith("withdrawn"):
            kind = "full" if case == "withdrawn_full" else "no_further_contact"
            lo = max(tl.registration_files[p.first_file] + days(1), consent + days(30))
            p.withdrawal = (kind, rand_date(rng, lo, tl.withdrawal_files[-1]))
        people.append(p)
    _add_updates(seed, people, tl)
    return people


def _history(rng: random.Random, p: Participant, story: dict[str, object], tl: Timeline) -> None:
    """The initial registration record, plus a death record when the death was recorded
    in a later file than the consent."""
    first_date = p.consent_date + days(rng.randint(1, 14))
    first = Record(
        record_date=first_date,
        file_index=tl.registration_file_of(first_date),
        postcode=p.postcode,
        research_discussed=bool(story["discussed"]),
        research_agreed=bool(story["agreed"]),
        date_of_death=None,
        change="initial",
    )
    p.records.append(first)
    if p.date_of_death is None:
        return
    death_record = p.date_of_death + days(rng.randint(3, 12))
    file_index = tl.registration_file_of(death_record)
    if file_index > first.file_index:
        p.records.append(
            Record(
                death_record,
                file_index,
                p.postcode,
                first.research_discussed,
                first.research_agreed,
                p.date_of_death,
                "death_recorded",
            )
        )
    else:
        first.record_date = max(first_date, death_record)
        first.date_of_death = p.date_of_death


def _add_updates(seed: Seed, people: list[Participant], tl: Timeline) -> None:
    """Top re-appearing participants up to ~5% with moves and consent updates; the
    final (latest) record always expresses the participant's case."""
    rng = rng_for(seed, "updates")
    last = len(tl.registration_files) - 1
    target = round(0.05 * len(people))
    current = sum(1 for p in people if len(p.records) > 1)
    candidates = [
        p
        for p in people
        if len(p.records) == 1
        and p.first_file < last
        and p.date_of_death is None
        and p.withdrawal is None
    ]
    rng.shuffle(candidates)
    chosen = candidates[: max(0, target - current)]
    flippable = [p.index for p in chosen if p.case in ("research_not_agreed", "adult_alive")]
    flips = set(flippable[: max(1, len(flippable) // 3)])
    for p in chosen:
        first = p.records[0]
        k = rng.randint(first.file_index + 1, last)
        when = rand_date(rng, tl.registration_files[k - 1] + days(1), tl.registration_files[k])
        update = Record(
            when, k, first.postcode, first.research_discussed, first.research_agreed, None, "moved"
        )
        if p.index in flips:
            # the earlier record said otherwise; the latest answer decides
            update.change = "consent_updated"
            if p.case == "research_not_agreed":
                first.research_agreed = True
            else:
                first.research_discussed = first.research_agreed = False
        else:
            area = p.postcode.split()[0].rstrip("0123456789")
            update.postcode = postcode(rng, area)
            p.postcode = update.postcode
        p.records.append(update)


def eligible_case(case: str) -> bool:
    return ELIGIBLE[case]


def check_case(p: Participant, as_of: dt.date) -> None:
    """Assert that the participant's final state really is its case (generator self-check)."""
    final = max(p.records, key=lambda r: r.record_date)
    child = p.consent_category == "child"
    at_consent = age_on(p.dob, p.consent_date)
    now = age_on(p.dob, as_of)
    dead = final.date_of_death is not None
    expected = {
        "adult_alive": not child and not dead,
        "adult_deceased": not child and dead,
        "child_under16": child and at_consent < 16 and now < 16,
        "child_now16_alive": child and at_consent < 16 <= now and not dead,
        "child_now16_deceased": child and at_consent < 16 <= now and dead,
        "child_consented_16plus_alive": child and at_consent >= 16 and not dead,
        "child_consented_16plus_deceased": child and at_consent >= 16 and dead,
        "research_not_discussed": not final.research_discussed,
        "research_not_agreed": final.research_discussed and not final.research_agreed,
        "withdrawn_full": p.withdrawal is not None and p.withdrawal[0] == "full",
        "withdrawn_no_further_contact": p.withdrawal is not None
        and p.withdrawal[0] == "no_further_contact",
    }[p.case]
    if not expected:
        raise AssertionError(f"participant {p.ref} does not match case {p.case}")
