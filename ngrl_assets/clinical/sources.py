"""The five NHS England extracts we curate: their expected columns, the fields we keep
(an allow-list; everything else, identifiers first, is dropped) and how each is typed and
checked. Pure data; the readers in ``validate`` and ``intake`` interpret it.

Field kinds: ``key`` (record key, digits), ``date`` (three forms, sentinels -> null),
``int``, ``text`` (kept as delivered, trimmed), ``icd10`` / ``opcs4`` (normalised, see
``codes``), ``ae_diag`` (2-digit CDS A&E diagnosis). ``NEWNHSNO``, ``DOB`` and ``MYDOB``
are linkage fields: checked, used, never kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

# The HES field lists ship inside the package (``hes_spec/``, with their README and
# LICENSE), read through importlib.resources so an installed wheel carries them.
HES_SPEC_PACKAGE = "ngrl_assets.clinical"
HES_SPEC_FOLDER = "hes_spec"
LINKAGE_COLUMNS = ("NEWNHSNO", "DOB")
# Every curated row names the delivery file it came from; its landing key is
# ``clinical/<source>/<delivery>`` (:meth:`ClinicalSource.landing_key`).
DELIVERY_COLUMN = "delivery"
MODES = ("incremental", "full")

# Largest field, in UTF-8 bytes, that intake accepts, per field kind (rule
# ``field_too_long``). HES / ONS / NCRAS values are short codes: the longest kept text
# field in the HES data dictionary is well under 50 characters, dates are 10, keys 18
# digits. The limits leave ample room for real data and stop a runaway field (a 1 MiB
# GPPRAC) from ever reaching a curated table.
FIELD_LIMITS: dict[str, int] = {
    "key": 64,
    "date": 64,
    "int": 64,
    "icd10": 64,
    "opcs4": 64,
    "ae_diag": 64,
    "text": 255,
}
LINKAGE_FIELD_LIMIT = 64  # NEWNHSNO, DOB, MYDOB


@functools.cache
def hes_columns(source: str) -> tuple[str, ...]:
    """The HES spec's field names for ``apc`` / ``op`` / ``ae`` in order, then the
    linkage fields."""
    spec = resources.files(HES_SPEC_PACKAGE) / HES_SPEC_FOLDER
    text = (spec / f"artificial_hes_{source}_schema_fields.tsv").read_text(encoding="utf-8")
    names = [line.split("\t")[0] for line in text.splitlines() if line]
    return (*names, *LINKAGE_COLUMNS)


@dataclass(frozen=True)
class Field:
    name: str  # extract field name
    kind: str
    required: bool = False

    @property
    def column(self) -> str:
        """The curated column: the field name in lower case."""
        return self.name.lower()

    @property
    def limit(self) -> int:
        """Largest accepted value in UTF-8 bytes (``FIELD_LIMITS``)."""
        return FIELD_LIMITS[self.kind]


@dataclass(frozen=True)
class ClinicalSource:
    name: str  # landing folder and feed: clinical/<name>
    table: str  # curated table
    columns: tuple[str, ...]  # the extract's columns, in order
    fields: tuple[Field, ...]  # what we keep
    key: str | None  # record key unique across deliveries (None: ONS)
    event_date: str  # the date the record is about
    age_column: str  # derived age (whole years) at event_date
    diagnoses: tuple[str, ...]  # ICD-10 fields feeding the long diagnoses table, in order
    primary_diagnosis: str | None  # the field holding the primary / underlying code
    description: str

    @property
    def feed(self) -> str:
        return f"clinical/{self.name}"

    def landing_key(self, delivery: str) -> str:
        """The landing key of a delivery file: ``clinical/<source>/<delivery>``."""
        return f"{self.feed}/{delivery}"

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns a file must carry: linkage plus every field we keep."""
        return (*LINKAGE_COLUMNS, *(f.name for f in self.fields))


def _many(prefix: str, n: int, kind: str, width: int = 2) -> tuple[Field, ...]:
    return tuple(Field(f"{prefix}{i:0{width}d}", kind) for i in range(1, n + 1))


def _texts(*names: str) -> tuple[Field, ...]:
    return tuple(Field(n, "text") for n in names)


_PATIENT = _texts("SEX", "ETHNOS", "GPPRAC", "PROCODE3", "PROCODE5")

HES_APC = ClinicalSource(
    name="hes_apc",
    table="hes_apc",
    columns=hes_columns("apc"),
    fields=(
        Field("EPIKEY", "key", required=True),
        Field("FYEAR", "text"),
        Field("ADMIDATE", "date"),
        Field("EPISTART", "date"),
        Field("EPIEND", "date"),
        Field("DISDATE", "date"),
        Field("EPIORDER", "int"),
        Field("EPIDUR", "int"),
        Field("SPELDUR", "int"),
        *_texts("SPELEND", "ADMIMETH", "ADMISORC", "ADMINCAT", "CLASSPAT"),
        Field("ELECDATE", "date"),
        Field("ELECDUR", "int"),
        *_texts("DISMETH", "DISDEST", "EPISTAT", "EPITYPE"),
        Field("AEKEY", "key"),
        *_many("DIAG_4_", 20, "icd10"),
        Field("DIAG_COUNT", "int"),
        *_many("OPERTN_4_", 24, "opcs4"),
        Field("OPERTN_COUNT", "int"),
        *_texts("MAINSPEF", "TRETSPEF"),
        Field("STARTAGE", "int"),
        *_PATIENT,
    ),
    key="EPIKEY",
    event_date="EPISTART",
    age_column="age_at_episode_start",
    diagnoses=tuple(f"DIAG_4_{i:02d}" for i in range(1, 21)),
    primary_diagnosis="DIAG_4_01",
    description=(
        "Hospital admissions (HES Admitted Patient Care), one row per consultant episode: "
        "dates, admission method, specialty, up to 20 ICD-10 diagnoses (the first is "
        "primary) and 24 OPCS-4 procedures, linked to the participant. What researchers "
        "use to find who was admitted for what, and when."
    ),
)

HES_OP = ClinicalSource(
    name="hes_op",
    table="hes_op",
    columns=hes_columns("op"),
    fields=(
        Field("ATTENDKEY", "key", required=True),
        Field("FYEAR", "text"),
        Field("APPTDATE", "date"),
        Field("APPTAGE", "int"),
        *_texts("ATTENDED", "FIRSTATT", "OUTCOME", "PRIORITY", "REFSOURC"),
        Field("REQDATE", "date"),
        Field("WAITDAYS", "int"),
        Field("DNADATE", "date"),
        *_many("DIAG_4_", 12, "icd10"),
        Field("DIAG_COUNT", "int"),
        *_many("OPERTN_4_", 24, "opcs4"),
        Field("OPERTN_COUNT", "int"),
        *_texts("MAINSPEF", "TRETSPEF", "STAFFTYP", "ADMINCAT"),
        *_PATIENT,
    ),
    key="ATTENDKEY",
    event_date="APPTDATE",
    age_column="age_at_appointment",
    diagnoses=tuple(f"DIAG_4_{i:02d}" for i in range(1, 13)),
    primary_diagnosis="DIAG_4_01",
    description=(
        "Outpatient appointments (HES Outpatients), one row per appointment: date, "
        "attendance (seen, did not attend, cancelled), first or follow-up, outcome, "
        "specialty, and ICD-10 / OPCS-4 codes where coded, linked to the participant."
    ),
)

HES_AE = ClinicalSource(
    name="hes_ae",
    table="hes_ae",
    columns=hes_columns("ae"),
    fields=(
        Field("AEKEY", "key", required=True),
        Field("FYEAR", "text"),
        Field("ARRIVALDATE", "date"),
        Field("ARRIVALTIME", "text"),
        Field("ARRIVALAGE", "int"),
        Field("INITDUR", "int"),
        Field("INITTIME", "text"),
        Field("DEPDUR", "int"),
        Field("DEPTIME", "text"),
        *_texts("AEARRIVALMODE", "AEATTENDCAT", "AEDEPTTYPE", "AEPATGROUP", "AEATTENDDISP"),
        Field("EPIKEY", "key"),
        Field("DIAGSCHEME", "text"),
        *_many("DIAG2_", 12, "ae_diag"),
        *_many("DIAG3_", 12, "text"),
        *_many("DIAGA_", 12, "text"),
        *_many("DIAGS_", 12, "text"),
        Field("INVESTSCHEME", "text"),
        *_many("INVEST2_", 12, "text"),
        Field("TREATSCHEME", "text"),
        *_many("TREAT2_", 12, "text"),
        *_many("TREAT3_", 12, "text"),
        *_PATIENT,
    ),
    key="AEKEY",
    event_date="ARRIVALDATE",
    age_column="age_at_arrival",
    diagnoses=(),  # CDS A&E diagnosis codes, not ICD-10
    primary_diagnosis=None,
    description=(
        "Emergency department attendances (HES A&E), one row per attendance: arrival, "
        "times to assessment and departure, how the patient arrived and left, and the A&E "
        "(CDS) diagnosis, investigation and treatment codes, linked to the participant."
    ),
)

ONS_MORTALITY = ClinicalSource(
    name="ons_mortality",
    table="mortality",
    columns=(
        "NEWNHSNO",
        "DOB",
        "DEC_SEX",
        "REG_DATE_OF_DEATH",
        "REG_DATE",
        "S_UNDERLYING_COD_ICD10",
        *(f"S_COD_CODE_{i}" for i in range(1, 16)),
    ),
    fields=(
        Field("DEC_SEX", "text"),
        Field("REG_DATE_OF_DEATH", "date", required=True),
        Field("REG_DATE", "date", required=True),
        Field("S_UNDERLYING_COD_ICD10", "icd10", required=True),
        *(Field(f"S_COD_CODE_{i}", "icd10") for i in range(1, 16)),
    ),
    key=None,
    event_date="REG_DATE_OF_DEATH",
    age_column="age_at_death",
    diagnoses=("S_UNDERLYING_COD_ICD10", *(f"S_COD_CODE_{i}" for i in range(1, 16))),
    primary_diagnosis="S_UNDERLYING_COD_ICD10",
    description=(
        "Deaths (ONS civil registrations), one row per participant who died: date of "
        "death, date registered, the underlying cause and every condition on the "
        "certificate (ICD-10). A corrected registration replaces the earlier one (the "
        "latest REG_DATE wins)."
    ),
)

AV_TUMOUR = ClinicalSource(
    name="av_tumour",
    table="av_tumour",
    columns=(
        "NEWNHSNO",
        "DOB",
        "TUMOURID",
        "DIAGNOSISDATEBEST",
        "SITE_ICD10_O2",
        "SITE_ICD10_O2_3CHAR",
        "MORPH_ICD10_O2",
        "BEHAVIOUR_ICD10_O2",
        "T_BEST",
        "N_BEST",
        "M_BEST",
        "STAGE_BEST",
        "GRADE",
        "ER_STATUS",
        "PR_STATUS",
        "HER2_STATUS",
    ),
    fields=(
        Field("TUMOURID", "key", required=True),
        Field("DIAGNOSISDATEBEST", "date", required=True),
        Field("SITE_ICD10_O2", "icd10", required=True),
        *_texts(
            "SITE_ICD10_O2_3CHAR",
            "MORPH_ICD10_O2",
            "BEHAVIOUR_ICD10_O2",
            "T_BEST",
            "N_BEST",
            "M_BEST",
            "STAGE_BEST",
            "GRADE",
            "ER_STATUS",
            "PR_STATUS",
            "HER2_STATUS",
        ),
    ),
    key="TUMOURID",
    event_date="DIAGNOSISDATEBEST",
    age_column="age_at_diagnosis",
    diagnoses=("SITE_ICD10_O2",),
    primary_diagnosis="SITE_ICD10_O2",
    description=(
        "Cancer registrations (NCRAS AV_TUMOUR), one row per tumour: diagnosis date, ICD-10 "
        "site, ICD-O morphology and behaviour, TNM and stage, grade and, for breast "
        "tumours, ER/PR/HER2 status, linked to the participant."
    ),
)

SOURCES: dict[str, ClinicalSource] = {
    s.name: s for s in (HES_APC, HES_OP, HES_AE, ONS_MORTALITY, AV_TUMOUR)
}
