"""Column descriptions of the curated clinical tables (the data dictionary researchers
see in the Dagster UI). HES meanings follow NHS Digital's HES data dictionary."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ngrl_assets.clinical.sources import ClinicalSource
from ngrl_assets.clinical.validate import FLAGS_COLUMN

FIELDS = {
    "EPIKEY": "HES episode key (unique)",
    "ATTENDKEY": "HES outpatient appointment key (unique)",
    "AEKEY": "HES A&E attendance key",
    "TUMOURID": "cancer registry tumour id (unique)",
    "FYEAR": "financial year of the event (2324 = April 2023 - March 2024)",
    "ADMIDATE": "date of admission to hospital (spell start)",
    "EPISTART": "episode start date",
    "EPIEND": "episode end date",
    "DISDATE": "discharge date (last episode of the spell; else null)",
    "EPIORDER": "episode order within the spell",
    "EPIDUR": "episode duration in days",
    "SPELDUR": "spell duration in days (last episode only)",
    "SPELEND": "Y on the last episode of a spell, else N",
    "ADMIMETH": "admission method (11-13 elective, 21-2D emergency, ...)",
    "ADMISORC": "source of admission",
    "ADMINCAT": "administrative category (01 NHS patient)",
    "CLASSPAT": "patient classification (1 ordinary admission, 2 day case)",
    "ELECDATE": "date of the decision to admit (elective)",
    "ELECDUR": "days waited for an elective admission",
    "DISMETH": "discharge method (1 discharged, 4 died, 8 not applicable)",
    "DISDEST": "discharge destination",
    "EPISTAT": "episode status (3 finished)",
    "EPITYPE": "episode type (1 general)",
    "DIAG_COUNT": "number of diagnosis codes",
    "OPERTN_COUNT": "number of procedure codes",
    "MAINSPEF": "specialty of the responsible consultant",
    "TRETSPEF": "treatment specialty",
    "STARTAGE": "age at episode start as HES codes it (7001-7007 under one year)",
    "SEX": "sex as HES codes it (1 male, 2 female, 9 not specified)",
    "ETHNOS": "HES ethnic category",
    "GPPRAC": "GP practice code",
    "PROCODE3": "provider (NHS trust) code",
    "PROCODE5": "provider site code",
    "APPTDATE": "appointment date",
    "APPTAGE": "age at appointment as HES codes it",
    "ATTENDED": "attendance (5/6 seen, 2/4 cancelled, 3 did not attend)",
    "FIRSTATT": "first or follow-up, face to face or by telephone",
    "OUTCOME": "outcome (1 discharged, 2 another appointment, 3 to be made later)",
    "PRIORITY": "referral priority (1 routine, 2 urgent, 3 two-week wait)",
    "REFSOURC": "referral source (03 GP)",
    "REQDATE": "referral request date",
    "WAITDAYS": "days from referral to appointment",
    "DNADATE": "date of a missed or cancelled appointment",
    "STAFFTYP": "type of staff seen",
    "ARRIVALDATE": "A&E arrival date",
    "ARRIVALTIME": "A&E arrival time hh:mm",
    "ARRIVALAGE": "age at arrival as HES codes it",
    "INITDUR": "minutes from arrival to initial assessment",
    "INITTIME": "time of initial assessment hh:mm",
    "DEPDUR": "minutes from arrival to departure",
    "DEPTIME": "departure time hh:mm",
    "AEARRIVALMODE": "arrival mode (1 ambulance, 2 other)",
    "AEATTENDCAT": "attendance category (1 first, 2 planned, 3 unplanned follow-up)",
    "AEDEPTTYPE": "A&E department type",
    "AEPATGROUP": "patient group (accident, assault, self-harm, ...)",
    "AEATTENDDISP": "attendance disposal (01 admitted, 02/03 discharged, ...)",
    "DIAGSCHEME": "A&E diagnosis coding scheme (01 CDS A&E table)",
    "INVESTSCHEME": "A&E investigation coding scheme",
    "TREATSCHEME": "A&E treatment coding scheme",
    "DEC_SEX": "sex of the deceased (1 male, 2 female)",
    "REG_DATE_OF_DEATH": "date of death",
    "REG_DATE": "date the death was registered (the latest registration is kept)",
    "S_UNDERLYING_COD_ICD10": "underlying cause of death (ICD-10)",
    "DIAGNOSISDATEBEST": "best date of diagnosis",
    "SITE_ICD10_O2": "tumour site (ICD-10)",
    "SITE_ICD10_O2_3CHAR": "tumour site, 3-character category",
    "MORPH_ICD10_O2": "ICD-O morphology",
    "BEHAVIOUR_ICD10_O2": "behaviour (3 malignant, 2 in situ)",
    "T_BEST": "TNM T (tumour)",
    "N_BEST": "TNM N (nodes)",
    "M_BEST": "TNM M (metastasis)",
    "STAGE_BEST": "stage",
    "GRADE": "grade (G1-G4, GX)",
    "ER_STATUS": "oestrogen receptor status (breast)",
    "PR_STATUS": "progesterone receptor status (breast)",
    "HER2_STATUS": "HER2 status (breast)",
}
PATTERNS = (
    (r"^DIAG_4_(\d+)$", "ICD-10 diagnosis {0} (normalised: no dot or filler; 01 primary)"),
    (r"^OPERTN_4_(\d+)$", "OPCS-4 procedure {0} (null: none)"),
    (r"^DIAG2_(\d+)$", "A&E diagnosis {0}: condition (2 digits)"),
    (r"^DIAG3_(\d+)$", "A&E diagnosis {0}: condition and sub-analysis"),
    (r"^DIAGA_(\d+)$", "A&E diagnosis {0}: anatomical area"),
    (r"^DIAGS_(\d+)$", "A&E diagnosis {0}: anatomical side"),
    (r"^INVEST2_(\d+)$", "A&E investigation {0}"),
    (r"^TREAT2_(\d+)$", "A&E treatment {0}"),
    (r"^TREAT3_(\d+)$", "A&E treatment {0} with sub-analysis"),
    (r"^S_COD_CODE_(\d+)$", "condition {0} on the death certificate (ICD-10; unordered)"),
)
DERIVED = {
    "participant_id": "opaque internal participant id (the only link to a person)",
    FLAGS_COLUMN: "dagger (D) / asterisk (A) markers by DIAG_4 position, e.g. 01D,02A",
    "delivery": "NHS England delivery file the row came from",
    "age_at_episode_start": "whole years at EPISTART (from the registered date of birth)",
    "age_at_appointment": "whole years at APPTDATE",
    "age_at_arrival": "whole years at ARRIVALDATE",
    "age_at_death": "whole years at the date of death",
    "age_at_diagnosis": "whole years at DIAGNOSISDATEBEST",
}


def describe(source: ClinicalSource, schema: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    by_column = {f.column: f.name for f in source.fields}
    for column in schema:
        if column in DERIVED:
            out[column] = DERIVED[column]
            continue
        name = by_column[column]
        text = FIELDS.get(name)
        for pattern, template in PATTERNS:
            m = re.match(pattern, name)
            if text is None and m:
                text = template.format(m.group(1))
        if text is None:
            raise ValueError(f"{source.name}: no description for {name}")
        out[column] = text
    return out
