"""The identity and consent tables, declared once (see :mod:`ngrl_assets.catalogue`)."""

from __future__ import annotations

import polars as pl

from ngrl_assets.consent.registry import (
    CONSENT_STATUS_SCHEMA,
    REGISTRY_SCHEMA,
    WITHDRAWAL_NOTICE_SCHEMA,
)
from resources.tables import TableSpec

# The consent door: the assets consent intake writes. The other domains consult them (through
# consent.linkage) rather than derive from them; a withdrawal reaches every table through
# its propagation.
CONSENT_ASSETS = ("participant_registry", "withdrawal_notices", "consent_status")

PARTICIPANT_REGISTRY = TableSpec(
    zone="identity",
    name="participant_registry",
    description=(
        "Every participant as the consent service registered them: NHS number, name, date of "
        "birth, postcode, programme, and the opaque internal participant id that every other "
        "table uses instead. Lives in the identity zone; only consent and linkage code reads "
        "it, and nothing in it ever reaches researchers."
    ),
    schema=REGISTRY_SCHEMA,
    columns={
        "participant_id": "opaque internal id (random, not derived from any identifier)",
        "participant_reference": "consent service participant id",
        "nhs_number": "NHS number (Modulus 11 validated)",
        "forename": "registered forename",
        "surname": "registered surname",
        "date_of_birth": "date of birth",
        "postcode": "postcode",
        "sex": "registered sex F/M/U",
        "programme": "recruiting programme (gms, 100kgp)",
        "record_date": "date of the consent-service record these values come from",
        "updated_at": "when the platform last changed this row",
        "source_file": "landing key of the registration record in force",
        "source_line": "line of that record in its file",
        "may_recontact": (
            "the participant may be contacted again (false after any withdrawal; a 'no "
            "further contact' withdrawal changes this flag and nothing else)"
        ),
    },
    written_by=("participant_registry",),
    participant_column="participant_id",
    identifier_columns=(
        "participant_reference",
        "nhs_number",
        "forename",
        "surname",
        "date_of_birth",
        "postcode",
        "source_file",
    ),
    landing_columns=("source_file",),
    from_landing=True,
)

WITHDRAWAL_NOTICES = TableSpec(
    zone="identity",
    name="withdrawal_notices",
    description=(
        "Every withdrawal notice received from the consent service, kept by participant "
        "reference, including notices that arrived before the participant's registration "
        "(applied as soon as it lands). The legal record of who asked to leave and when."
    ),
    schema=WITHDRAWAL_NOTICE_SCHEMA,
    columns={
        "participant_reference": "consent service participant id",
        "withdrawal_type": "full (no further use) or no_further_contact",
        "withdrawal_date": "date the withdrawal was recorded",
        "source_file": "landing key of the notice file",
        "source_line": "line of the notice in that file",
        "received_at": "when the platform ingested the notice",
    },
    written_by=("withdrawal_notices",),
    # Held by consent-service reference (a notice may precede its registration).
    participant_column=None,
    identifier_columns=("participant_reference", "source_file"),
    landing_columns=("source_file",),
    from_landing=True,
)

CONSENT_STATUS = TableSpec(
    zone="curated",
    name="consent_status",
    description=(
        "What each participant has agreed to, keyed only by the internal participant id: "
        "consent category, research discussion and answer, consent date, life status, "
        "withdrawal state and year of birth. Release eligibility and withdrawal propagation "
        "start here; it carries no direct identifier."
    ),
    schema=CONSENT_STATUS_SCHEMA,
    columns={
        "participant_id": "opaque internal participant id",
        "programme": "recruiting programme (gms, 100kgp)",
        "consent_category": "adult or child consent form",
        "research_discussed": "research use was discussed",
        "research_agreed": "answer to research use was yes",
        "consent_date": "date consent was given",
        "life_status": "alive or deceased, as last known",
        "year_of_birth": "year of birth (dates of birth stay in the identity zone)",
        "consented_under_16": "child consent given before the 16th birthday",
        "withdrawal_state": "none, no_further_contact or full",
        "withdrawal_date": "date of the strongest withdrawal, if any",
        "record_date": "date of the consent-service record in force",
        "updated_at": "when the platform last changed this row",
    },
    written_by=("consent_status",),
    participant_column="participant_id",
    withheld_columns=("record_date", "updated_at"),
    releasable=True,
)

# Written by the release cut through consent.linkage (the identity zone's one door).
RELEASE_PSEUDONYMS = TableSpec(
    zone="identity",
    name="release_pseudonyms",
    description=(
        "Internal participant and sample ids <-> each release's pseudonyms. Identity zone only: "
        "withdrawal redaction and clinical feedback need it; researchers never see it."
    ),
    schema={
        "release_id": pl.String,
        "kind": pl.String,
        "internal_id": pl.String,
        "pseudonym": pl.String,
    },
    columns={
        "release_id": "release",
        "kind": "participant or sample",
        "internal_id": "internal participant id or sample id",
        "pseudonym": "its pseudonym in that release",
    },
    written_by=("releases/participant",),
    identifier_columns=("internal_id", "pseudonym"),
)


# Withdrawal: the only trace the identity zone keeps of a fully withdrawn participant (the
# opaque batches that carry a withdrawal through the platform: ngrl_assets.withdrawal.tables).
WITHDRAWAL_TOMBSTONES = TableSpec(
    zone="identity",
    name="withdrawal_tombstones",
    description=(
        "One row per fully withdrawn participant, kept after every other trace of them is "
        "erased: the internal id, when and how they withdrew, and keyed hashes (HMAC-SHA256 "
        "under the tombstone key) of their NHS number and consent-service reference, so a "
        "re-delivered registration, gVCF or extract row is recognised and refused without "
        "keeping the identifiers themselves."
    ),
    schema={
        "participant_id": pl.String,
        "withdrawal_type": pl.String,
        "withdrawal_date": pl.Date,
        "nhs_number_hash": pl.String,
        "reference_hash": pl.String,
        "batch_id": pl.String,
        "recorded_at": pl.Datetime("us", "UTC"),
    },
    columns={
        "participant_id": "opaque internal participant id (kept: erasure proofs and audits)",
        "withdrawal_type": "full (no further use)",
        "withdrawal_date": "date the withdrawal was recorded by the consent service",
        "nhs_number_hash": "HMAC-SHA256 of the NHS number under the tombstone key (hex)",
        "reference_hash": "HMAC-SHA256 of the consent-service reference under the key (hex)",
        "batch_id": "the withdrawal batch that first carried this withdrawal",
        "recorded_at": "when the platform recorded the tombstone",
    },
    written_by=("consent_status",),
    participant_column=None,  # the tombstone is what remains; erasure never removes it
    identifier_columns=("participant_id", "nhs_number_hash", "reference_hash"),
)

TABLES = (
    PARTICIPANT_REGISTRY,
    WITHDRAWAL_NOTICES,
    CONSENT_STATUS,
    RELEASE_PSEUDONYMS,
    WITHDRAWAL_TOMBSTONES,
)
