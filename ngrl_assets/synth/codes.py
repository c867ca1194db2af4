"""Clinical code lists (ICD-10, OPCS-4, HES and A&E code sets) and the textual forms
the feeds carry them in. Plain data plus a few formatting helpers."""

from __future__ import annotations

import random
import re

# Every ICD-10 form a good row carries (documented in docs/landing.md):
#   K358  K35.8  I10X  I10-  I64 (3-char, mortality/tumour)  E113-D (dagger)  H360-A (asterisk)
ICD10_FORM = re.compile(r"^[A-Z][0-9]{2}([0-9]|\.[0-9]|X|-)?(-[AD])?$")
OPCS4_FORM = re.compile(r"^([A-Z][0-9]{3}|-)$")
# structurally invalid codes for defect rows (no lenient reader can repair them)
BAD_ICD10 = ("C5O9", "1K35", "KK358", "Q9Z9", "R69XX", "C50.99.1")
BAD_AE_DIAG = ("9Z", "A?", "XX")

# specialty (MAINSPEF/TRETSPEF) -> (primary ICD-10 codes, OPCS-4 procedures or () for none)
SPECIALTIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "100": (("K358", "K802", "K573", "K409", "K429", "K566"), ("H011", "J183", "T201", "H331")),
    "110": (("M179", "M161", "S720", "S525", "M232"), ("W401", "W371", "W241", "W822")),
    "130": (("H251", "H401", "H353"), ("C751", "C712")),
    "300": (("J181", "N390", "R074", "R55", "I639", "A419", "J440", "E86"), ()),
    "301": (("K509", "K519", "K746", "K922"), ("G451", "H221", "H251")),
    "320": (("I214", "I209", "I251", "I480", "I420", "I500"), ("K634", "K751", "K401", "K571")),
    "340": (("J440", "J849", "E849", "J47"), ("E481", "E495")),
    "361": (("N183", "N185", "Q613", "N049"), ("X401", "L911")),
    "370": (("C509", "C189", "C349", "C61", "C56", "C64"), ("X352", "X373", "X721")),
    "400": (("G409", "G35", "G122", "G710", "G20"), ("A841",)),
    "420": (("J069", "J210", "R509", "A099", "G409", "Q909", "E700", "P599"), ()),
    "501": (("O800", "O342", "O480", "O702"), ("R241", "R179", "R182")),
    "800": (("C509", "C61", "C349", "C719", "C20"), ("X652", "X671")),
}
ADULT_SPECIALTIES = ("100", "110", "130", "300", "301", "320", "340", "361", "370", "400", "800")
OP_SPECIALTIES = ("311", *ADULT_SPECIALTIES)
OP_PROCEDURES = ("X621", "U051", "M451", "H251", "X352", "Y981")
GENETICS_DIAG = ("Z315", "Q909", "E849", "G710", "Q613", "I420", "Z803", "Q878", "G111")
COMORBIDITIES_OLDER = ("I10", "E119", "J449", "E785", "I489", "N183", "Z867", "Z921", "I252")
COMORBIDITIES_ANY = ("F329", "J459", "E669", "Z880", "K219", "F171", "Z864", "E039")
# dagger (aetiology) / asterisk (manifestation) pairs
DAGGER_ASTERISK = (("E113", "H360"), ("E102", "N083"), ("A170", "G01"))

# ONS causes of death (stored without dot or filler: I64, C349)
DEATH_UNDERLYING_ADULT = (
    "C349",
    "C509",
    "C189",
    "C61",
    "C259",
    "I219",
    "I251",
    "I64",
    "J449",
    "J189",
    "F03",
    "G309",
    "G122",
    "I420",
    "C719",
    "U071",
    "E849",
)
DEATH_UNDERLYING_YOUNG = ("G710", "E849", "C719", "Q249", "G409", "C920", "G111")
DEATH_CONTRIBUTING = ("I10", "E119", "N179", "J969", "R54", "I500", "A419", "J690", "I48", "N390")

# cancer registry tumours: (site, morphology, behaviour, sex or "", is_breast)
TUMOURS = (
    ("C509", "8500", "3", "F", True),
    ("C504", "8520", "3", "F", True),
    ("D051", "8500", "2", "F", True),
    ("C189", "8140", "3", "", False),
    ("C187", "8140", "3", "", False),
    ("C20", "8140", "3", "", False),
    ("C349", "8140", "3", "", False),
    ("C341", "8041", "3", "", False),
    ("C61", "8140", "3", "M", False),
    ("C56", "8441", "3", "F", False),
    ("C439", "8720", "3", "", False),
    ("C64", "8312", "3", "", False),
    ("C719", "9440", "3", "", False),
)

# A&E (CDS) codes: diagnosis condition (2 chars) with a subanalysis digit, anatomical area
AE_DIAGNOSES = (
    ("01", "0"),
    ("02", "0"),
    ("03", "0"),
    ("04", "1"),
    ("05", "1"),
    ("05", "2"),
    ("14", "1"),
    ("20", "0"),
    ("21", "0"),
    ("22", "0"),
    ("24", "0"),
    ("26", "0"),
    ("38", "0"),
)
AE_AREAS = ("01", "02", "11", "21", "22", "25", "31", "33", "35", "36", "38")
AE_INVESTIGATIONS = ("01", "03", "05", "06", "11", "12", "24")
AE_TREATMENTS = ("01", "02", "04", "07", "21", "22", "99")
PROVIDERS_SITE = "01"


def diag4(code: str, rng: random.Random, dotted: float = 0.1) -> str:
    """HES form of an ICD-10 code: 3-character codes take an X (or '-') filler, 4-character
    codes mostly arrive without the dot."""
    if len(code) == 3:
        return code + ("X" if rng.random() < 0.85 else "-")
    if rng.random() < dotted:
        return f"{code[:3]}.{code[3:]}"
    return code


def dagger(code: str) -> str:
    return (code if len(code) == 4 else code + "X") + "-D"


def asterisk(code: str) -> str:
    return (code if len(code) == 4 else code + "X") + "-A"


def bad_icd10(rng: random.Random) -> str:
    return rng.choice(BAD_ICD10)
