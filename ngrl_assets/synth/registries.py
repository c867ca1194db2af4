"""Row builders for ONS civil-registration deaths and the NCRAS cancer registry."""

from __future__ import annotations

import datetime as dt
import random

from . import codes
from .common import Ids, dmy, iso, ymd
from .people import Participant


def dec_sex(p: Participant) -> str:
    sex = p.sex if p.sex in ("M", "F") else ("M" if p.karyotype == "XY" else "F")
    return "1" if sex == "M" else "2"


def death_row(
    rng: random.Random, p: Participant, death: dt.date, reg_date: dt.date, underlying: str
) -> dict[str, str]:
    """One death registration: the underlying cause and the certificate's mentions in
    S_COD_CODE_1..15 (no particular order, unused slots empty)."""
    mentions = [underlying, *rng.sample(codes.DEATH_CONTRIBUTING, rng.randint(0, 3))]
    rng.shuffle(mentions)
    row = {
        "NEWNHSNO": p.nhs,
        "DOB": iso(p.dob),
        "DEC_SEX": dec_sex(p),
        "REG_DATE_OF_DEATH": ymd(death),
        "REG_DATE": ymd(reg_date),
        "S_UNDERLYING_COD_ICD10": underlying,
    }
    slot = 1
    for code in mentions:
        if rng.random() < 0.1:
            slot += 1  # a certificate line left empty
        row[f"S_COD_CODE_{slot}"] = code
        slot += 1
    return row


def _stage(t: str, n: str, m: str, rng: random.Random) -> str:
    if m == "1":
        return "4"
    if n not in ("0", "X"):
        return rng.choice(("3", "3A", "3B", "3C"))
    if t in ("3", "4"):
        return rng.choice(("2", "2A", "2B"))
    return "X" if t == "X" else rng.choice(("1", "1A", "1B"))


def tumour_row(
    rng: random.Random, p: Participant, ids: Ids, diagnosed: dt.date, tumour: tuple
) -> dict[str, str]:
    site, morph, behaviour, _sex, breast = tumour
    invasive = behaviour == "3"
    t = rng.choices(("1", "1c", "2", "3", "4", "X"), (20, 10, 30, 20, 10, 10))[0]
    n = rng.choices(("0", "1", "2", "X"), (55, 25, 10, 10))[0] if invasive else "0"
    m = rng.choices(("0", "1"), (88, 12))[0] if invasive else "0"
    t = t if invasive else "is"
    row = {
        "NEWNHSNO": p.nhs,
        "DOB": iso(p.dob),
        "TUMOURID": ids.key(rng, "TUMOURID", 8),
        "DIAGNOSISDATEBEST": dmy(diagnosed),
        "SITE_ICD10_O2": site,
        "SITE_ICD10_O2_3CHAR": site[:3],
        "MORPH_ICD10_O2": morph,
        "BEHAVIOUR_ICD10_O2": behaviour,
        "T_BEST": t,
        "N_BEST": n,
        "M_BEST": m,
        "STAGE_BEST": _stage(t, n, m, rng) if invasive else "0",
        "GRADE": rng.choices(("G1", "G2", "G3", "G4", "GX"), (20, 40, 25, 5, 10))[0],
    }
    if breast:
        er = rng.choices(("P", "N", "X"), (78, 18, 4))[0]
        row["ER_STATUS"] = er
        row["PR_STATUS"] = rng.choices(("P", "N", "X"), (65, 30, 5))[0]
        row["HER2_STATUS"] = rng.choices(("P", "N", "B", "X"), (15, 75, 5, 5))[0]
    return row


def tumour_for(rng: random.Random, p: Participant) -> tuple | None:
    """The tumour a participant is registered with, if any."""
    age = p.consent_date.year - p.dob.year
    if p.consent_category == "child" or age < 25:
        return codes.TUMOURS[-1] if rng.random() < 0.02 else None
    chance = 0.05 + (0.12 if age >= 50 else 0.0) + (0.15 if p.date_of_death else 0.0)
    if rng.random() >= chance:
        return None
    karyotype_sex = "F" if p.karyotype == "XX" else "M"
    options = [t for t in codes.TUMOURS if t[3] in ("", karyotype_sex)]
    return rng.choice(options)
