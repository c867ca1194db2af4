"""Release eligibility: the NHS Genomic Medicine Service research-dataset rules.

A participant is in a release only if, at the release's data-freeze date, all hold:

1. the research discussion took place (``research_not_discussed`` otherwise) and the
   answer to research use was yes (``research_not_agreed``);
2. no full withdrawal has been recorded (``full_withdrawal``); a "no further contact"
   withdrawal stops recontact only and keeps the participant eligible. Our choice:
   any full withdrawal known when the release is cut excludes the participant, even if
   it was recorded after the freeze date;
3. consent was given on or before the release date (``consent_after_release_date``);
4. adult consent: eligible, living or deceased (``adult_consent``);
5. child consent given while under 16: eligible while still under 16 at the release
   date (``child_under_16``); once 16 or over, eligible only if deceased
   (``child_now_16_deceased``); a living participant must re-consent as an adult
   first (``child_now_16_must_reconsent``);
6. child consent given when already 16 or over: never eligible, living or deceased
   (``child_consent_at_16_or_over``).

Ages are whole years; someone born on 29 February turns a year older on 1 March in
non-leap years. Pure module: no Dagster, no I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

ConsentCategory = Literal["adult", "child"]
Withdrawal = Literal["none", "full", "no_further_contact"]

CHILD_AGE_LIMIT = 16


@dataclass(frozen=True)
class ConsentFacts:
    """What the consent service knows about one participant."""

    consent_category: ConsentCategory
    research_discussed: bool
    research_agreed: bool
    date_of_birth: dt.date
    consent_date: dt.date
    deceased: bool
    withdrawal: Withdrawal = "none"


@dataclass(frozen=True)
class Decision:
    eligible: bool
    reason: str


def age_on(date_of_birth: dt.date, on: dt.date) -> int:
    """Completed years of age on ``on`` (a 29 February birthday counts on 1 March)."""
    years = on.year - date_of_birth.year
    if (on.month, on.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def evaluate(facts: ConsentFacts, release_date: dt.date) -> Decision:
    """Apply the rules above, in order; the first rule that fails gives the reason."""
    if facts.consent_date < facts.date_of_birth:
        raise ValueError("consent_date is before date_of_birth")
    if not facts.research_discussed:
        return Decision(False, "research_not_discussed")
    if not facts.research_agreed:
        return Decision(False, "research_not_agreed")
    if facts.withdrawal == "full":
        return Decision(False, "full_withdrawal")
    if facts.consent_date > release_date:
        return Decision(False, "consent_after_release_date")
    if facts.consent_category == "adult":
        return Decision(True, "adult_consent")
    if age_on(facts.date_of_birth, facts.consent_date) >= CHILD_AGE_LIMIT:
        return Decision(False, "child_consent_at_16_or_over")
    if age_on(facts.date_of_birth, release_date) < CHILD_AGE_LIMIT:
        return Decision(True, "child_under_16")
    if facts.deceased:
        return Decision(True, "child_now_16_deceased")
    return Decision(False, "child_now_16_must_reconsent")
