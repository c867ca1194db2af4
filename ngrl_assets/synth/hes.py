"""Row builders for the HES extracts (Admitted Patient Care, Outpatients, A&E).

A row is a dict of HES field name -> text; fields not modelled stay absent (written
empty). Modelled dates that have no value carry the HES sentinels."""

from __future__ import annotations

import datetime as dt
import random

from ngrl_assets.consent.eligibility import age_on

from . import codes
from .common import INVALID_DATE, NULL_DATE, Ids, days, financial_year, iso, poisson
from .people import Participant


def hes_sex(p: Participant) -> str:
    return {"M": "1", "F": "2"}.get(p.sex, "9")


def start_age(dob: dt.date, on: dt.date) -> str:
    """HES STARTAGE/APPTAGE/ARRIVALAGE: whole years; 7001-7007 bands under one year."""
    d = (on - dob).days
    for limit, code in ((0, 7001), (6, 7002), (28, 7003), (90, 7004), (181, 7005), (272, 7006)):
        if d <= limit:
            return str(code)
    return "7007" if d < 365 else str(age_on(dob, on))


def gp_practice(p: Participant) -> str:
    return f"{'ABCDFGHJKLMNPY'[p.index % 14]}{81000 + (p.index * 7919) % 18000:05d}"


def patient_fields(p: Participant) -> dict[str, str]:
    return {
        "SEX": hes_sex(p),
        "ETHNOS": p.ethnos,
        "GPPRAC": gp_practice(p),
        "PROCODE3": p.provider,
        "PROCODE5": f"{p.provider}{codes.PROVIDERS_SITE}",
        "NEWNHSNO": p.nhs,
        "DOB": iso(p.dob),
    }


def diagnoses(rng: random.Random, primary: str, age: int, limit: int) -> list[str]:
    """HES-formatted diagnosis codes: a primary plus age-dependent comorbidities."""
    if rng.random() < 0.03:
        d, a = rng.choice(codes.DAGGER_ASTERISK)
        out = [codes.dagger(d), codes.asterisk(a)]
    else:
        out = [codes.diag4(primary, rng)]
    pool = list(codes.COMORBIDITIES_ANY)
    if age >= 50:
        pool += codes.COMORBIDITIES_OLDER
    extra = min(poisson(rng, 2.5 if age >= 50 else 0.8), limit - len(out), len(pool))
    out += [codes.diag4(c, rng) for c in rng.sample(pool, extra)]
    return out


def diag_fields(diags: list[str], n: int) -> dict[str, str]:
    row: dict[str, str] = {}
    for i, code in enumerate(diags[:n], start=1):
        row[f"DIAG_4_{i:02d}"] = code
        row[f"DIAG_3_{i:02d}"] = code[:3]
    row["DIAG_4_CONCAT"] = ",".join(diags[:n])
    row["DIAG_3_CONCAT"] = ",".join(c[:3] for c in diags[:n])
    row["DIAG_COUNT"] = str(len(diags[:n])) if diags else ""
    return row


def opertn_fields(ops: list[str]) -> dict[str, str]:
    """OPCS-4 procedures; no operation is a single '-' in OPERTN_4_01."""
    ops = ops or ["-"]
    row: dict[str, str] = {}
    for i, code in enumerate(ops[:24], start=1):
        row[f"OPERTN_4_{i:02d}"] = code
        row[f"OPERTN_3_{i:02d}"] = code[:3]
    row["OPERTN_4_CONCAT"] = ",".join(ops[:24])
    row["OPERTN_3_CONCAT"] = ",".join(c[:3] for c in ops[:24])
    real = [c for c in ops if c not in ("-", "&")]
    row["OPERTN_COUNT"] = str(len(real)) if real else ""
    return row


def apc_spell(
    rng: random.Random,
    p: Participant,
    admidate: dt.date,
    ids: Ids,
    *,
    specialty: str,
    primary: str | None = None,
    emergency: bool = False,
    aekey: str = "",
    death: dt.date | None = None,
) -> list[dict[str, str]]:
    """The episodes of one hospital spell (one or two consultant episodes)."""
    age = age_on(p.dob, admidate)
    pool, procedures = codes.SPECIALTIES[specialty]
    primary = primary or rng.choice(pool)
    elective = not emergency and death is None and rng.random() < 0.6
    if death is not None:
        disdate = death
    elif elective and procedures and rng.random() < 0.35:
        disdate = admidate  # day case
    else:
        disdate = admidate + days(min(60, int(rng.expovariate(1 / 4.5))))
    n_eps = 2 if (disdate - admidate).days >= 2 and rng.random() < 0.15 else 1
    split = admidate + days(rng.randint(1, (disdate - admidate).days - 1)) if n_eps == 2 else None
    elecdate: dt.date | None = None
    if elective:
        wait = rng.randint(5, 240)
        admimeth = rng.choice(("11", "11", "12", "13"))
        elecdate, elecdur = (admidate - days(wait), str(wait))
        if rng.random() < 0.02:
            elecdate, elecdur = None, ""
    else:
        admimeth = "21" if aekey else rng.choice(("21", "22", "22", "28", "2D"))
        elecdate, elecdur = None, ""
    ops: list[str] = []
    if elective and procedures:
        ops = rng.sample(procedures, min(len(procedures), rng.randint(1, 2)))
    episodes = []
    bounds = [(admidate, split), (split, disdate)] if split else [(admidate, disdate)]
    for order, (start, end) in enumerate(bounds, start=1):
        assert start is not None and end is not None
        last = order == len(bounds)
        spec = specialty if order == 1 else ("430" if age >= 70 else "300")
        row = patient_fields(p)
        row.update(diag_fields(diagnoses(rng, primary, age, 20), 20))
        row.update(opertn_fields(ops if order == 1 else []))
        row.update(
            {
                "FYEAR": financial_year(end),
                "EPIKEY": ids.key(rng, "EPIKEY"),
                "AEKEY": aekey if order == 1 else "",
                "ADMIDATE": iso(admidate),
                "ADMIMETH": admimeth,
                "ADMISORC": "19",
                "ADMINCAT": "01",
                "CLASSPAT": "2" if disdate == admidate and elective else "1",
                "ELECDATE": iso(elecdate)
                if elecdate
                else (INVALID_DATE if elective else NULL_DATE),
                "ELECDUR": elecdur,
                "EPISTART": iso(start),
                "EPIEND": iso(end),
                "EPIDUR": str((end - start).days),
                "EPIORDER": f"{order:02d}",
                "EPISTAT": "3",
                "EPITYPE": "1",
                "DISDATE": iso(disdate) if last else NULL_DATE,
                "DISMETH": ("4" if death else "1") if last else "8",
                "DISDEST": ("79" if death else "19") if last else "98",
                "SPELDUR": str((disdate - admidate).days) if last else "",
                "SPELEND": "Y" if last else "N",
                "MAINSPEF": spec,
                "TRETSPEF": spec,
                "MYDOB": f"{p.dob.month:02d}{p.dob.year}",
                "STARTAGE": start_age(p.dob, start),
            }
        )
        episodes.append(row)
    return episodes


def op_attendance(
    rng: random.Random,
    p: Participant,
    appt: dt.date,
    ids: Ids,
    *,
    specialty: str,
    primary: str | None = None,
) -> dict[str, str]:
    first = rng.random() < 0.3
    phone = rng.random() < 0.15
    firstatt = ("3" if phone else "1") if first else ("4" if phone else "2")
    attended = rng.choices(("5", "6", "3", "2", "4"), (85, 3, 7, 3, 2))[0]
    seen = attended in ("5", "6")
    wait = rng.randint(14, 150) if first else rng.randint(30, 400)
    u = rng.random()
    reqdate = NULL_DATE if u < 0.04 else INVALID_DATE if u < 0.05 else iso(appt - days(wait))
    row = patient_fields(p)
    row.update(
        {
            "FYEAR": financial_year(appt),
            "ATTENDKEY": ids.key(rng, "ATTENDKEY"),
            "APPTDATE": iso(appt),
            "APPTAGE": start_age(p.dob, appt),
            "ADMINCAT": "01",
            "ATTENDED": attended,
            "FIRSTATT": firstatt,
            "MAINSPEF": specialty,
            "TRETSPEF": specialty,
            "OUTCOME": rng.choices(("1", "2", "3"), (30, 60, 10))[0] if seen else "",
            "PRIORITY": rng.choices(("1", "2", "3"), (75, 15, 10))[0] if first else "",
            "REFSOURC": rng.choice(("03", "03", "01", "05")),
            "REQDATE": reqdate,
            "WAITDAYS": str(wait) if reqdate not in (NULL_DATE, INVALID_DATE) else "",
            "DNADATE": iso(appt) if attended in ("2", "3") else NULL_DATE,
            "STAFFTYP": "01",
        }
    )
    if seen and (primary or rng.random() < 0.35):
        if primary is None:
            pool = codes.GENETICS_DIAG if specialty == "311" else codes.SPECIALTIES[specialty][0]
            primary = rng.choice(pool)
        row.update(diag_fields(diagnoses(rng, primary, age_on(p.dob, appt), 12), 12))
    if seen:
        u = rng.random()
        row.update(opertn_fields([rng.choice(codes.OP_PROCEDURES)] if u < 0.2 else []))
    return row


def ae_attendance(
    rng: random.Random,
    p: Participant,
    arrival: dt.date,
    ids: Ids,
    *,
    admitted: bool,
    epikey: str = "",
    death: bool = False,
) -> dict[str, str]:
    minute = rng.randint(0, 24 * 60 - 1)
    init = rng.randint(2, 90)
    dep = init + rng.randint(20, 600)
    row = patient_fields(p)
    row.update(
        {
            "FYEAR": financial_year(arrival),
            "AEKEY": ids.key(rng, "AEKEY"),
            "ARRIVALDATE": iso(arrival),
            "ARRIVALTIME": f"{minute // 60:02d}:{minute % 60:02d}",
            "ARRIVALAGE": start_age(p.dob, arrival),
            "AEARRIVALMODE": "1" if admitted or rng.random() < 0.25 else "2",
            "AEATTENDCAT": rng.choices(("1", "2", "3"), (90, 4, 6))[0],
            "AEDEPTTYPE": rng.choices(("01", "02", "03"), (80, 5, 15))[0],
            "AEPATGROUP": rng.choices(("80", "60", "10", "20", "40", "30"), (60, 22, 5, 4, 6, 3))[
                0
            ],
            "AEATTENDDISP": "01"
            if admitted
            else "10"
            if death
            else rng.choices(("02", "03", "04", "05", "07", "12", "14"), (30, 40, 3, 5, 1, 5, 3))[
                0
            ],
            "INITDUR": str(init),
            "INITTIME": f"{(minute + init) // 60 % 24:02d}:{(minute + init) % 60:02d}",
            "DEPDUR": str(dep),
            "DEPTIME": f"{(minute + dep) // 60 % 24:02d}:{(minute + dep) % 60:02d}",
            "EPIKEY": epikey,
            "DIAGSCHEME": "01",
            "INVESTSCHEME": "01",
            "TREATSCHEME": "01",
        }
    )
    for i in range(1, rng.choice((1, 1, 1, 2, 3)) + 1):
        cond, sub = rng.choice(codes.AE_DIAGNOSES)
        row[f"DIAG2_{i:02d}"] = cond
        row[f"DIAG3_{i:02d}"] = cond + sub
        row[f"DIAGA_{i:02d}"] = rng.choice(codes.AE_AREAS)
        row[f"DIAGS_{i:02d}"] = rng.choice(("L", "R", "B", "8"))
    for i, code in enumerate(rng.sample(codes.AE_INVESTIGATIONS, rng.randint(1, 3)), start=1):
        row[f"INVEST2_{i:02d}"] = code
    for i, code in enumerate(rng.sample(codes.AE_TREATMENTS, rng.randint(1, 2)), start=1):
        row[f"TREAT2_{i:02d}"] = code
        row[f"TREAT3_{i:02d}"] = code + "0"
    return row
