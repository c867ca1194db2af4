"""Fold parsed consent feeds into the participant registry and consent status.

Pure (polars in, polars out). The registry (identity zone) holds who a participant is;
consent status (curated zone) holds what they agreed to, keyed only by the opaque
internal participant id. Rules:

- the latest record per ``participant_reference`` wins (``record_date``, then file, then
  line); an older record than the one already registered changes nothing;
- an NHS number already registered to another participant is quarantined
  (``nhs_number_conflict``): one person, one registration;
- a new participant gets a random internal id (never derived from an identifier);
- withdrawal notices are kept by reference even before the registration arrives and
  applied as soon as it does; ``full`` outranks ``no_further_contact`` and a full
  withdrawal is never undone.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from ngrl_assets.common.quarantine import Reject
from ngrl_assets.consent.eligibility import CHILD_AGE_LIMIT, age_on

REGISTRY_SCHEMA: dict[str, Any] = {
    "participant_id": pl.String,
    "participant_reference": pl.String,
    "nhs_number": pl.String,
    "forename": pl.String,
    "surname": pl.String,
    "date_of_birth": pl.Date,
    "postcode": pl.String,
    "sex": pl.String,
    "programme": pl.String,
    "record_date": pl.Date,
    "source_file": pl.String,
    "source_line": pl.Int64,
    "may_recontact": pl.Boolean,
    "updated_at": pl.Datetime("us", "UTC"),
}

WITHDRAWAL_NOTICE_SCHEMA: dict[str, Any] = {
    "participant_reference": pl.String,
    "withdrawal_type": pl.String,
    "withdrawal_date": pl.Date,
    "source_file": pl.String,
    "source_line": pl.Int64,
    "received_at": pl.Datetime("us", "UTC"),
}

CONSENT_STATUS_SCHEMA: dict[str, Any] = {
    "participant_id": pl.String,
    "programme": pl.String,
    "consent_category": pl.String,
    "research_discussed": pl.Boolean,
    "research_agreed": pl.Boolean,
    "consent_date": pl.Date,
    "life_status": pl.String,
    "year_of_birth": pl.Int32,
    "consented_under_16": pl.Boolean,
    "withdrawal_state": pl.String,
    "withdrawal_date": pl.Date,
    "record_date": pl.Date,
    "updated_at": pl.Datetime("us", "UTC"),
}

_CONSENT_FIELDS = [
    "programme",
    "consent_category",
    "research_discussed",
    "research_agreed",
    "consent_date",
    "life_status",
    "year_of_birth",
    "consented_under_16",
    "record_date",
]


def new_participant_id() -> str:
    """An opaque internal id: 64 random bits, unrelated to any identifier."""
    return "p" + secrets.token_hex(8)


@dataclass
class RegistryUpdate:
    registry_upserts: pl.DataFrame  # REGISTRY_SCHEMA rows to upsert on participant_reference
    consent_updates: pl.DataFrame  # participant_id + consent fields
    rejects: list[Reject]
    applied: int  # records that changed the registry
    superseded: int  # accepted records overtaken by a later one (in batch or registry)


def fold_registrations(
    registry: pl.DataFrame,
    registrations: pl.DataFrame,
    now: dt.datetime,
    new_id: Callable[[], str] = new_participant_id,
) -> RegistryUpdate:
    """Apply parsed registration rows (feeds.REGISTRATION_SCHEMA) to the registry."""
    ordered = registrations.sort(["record_date", "source_file", "source_line"])
    known = {
        row["participant_reference"]: row
        for row in registry.select(
            "participant_reference", "participant_id", "nhs_number", "record_date"
        ).iter_rows(named=True)
    }
    owner_of_nhs = {row["nhs_number"]: ref for ref, row in known.items()}
    used_ids = {row["participant_id"] for row in known.values()}
    latest: dict[str, dict[str, Any]] = {}
    rejects: list[Reject] = []
    superseded = 0
    for row in ordered.iter_rows(named=True):
        ref, nhs = row["participant_reference"], row["nhs_number"]
        owner = owner_of_nhs.get(nhs)
        if owner is not None and owner != ref:
            reason = "NHS number is already registered to another participant"
            rejects.append(
                Reject(row["source_file"], row["source_line"], "nhs_number_conflict", reason)
            )
            continue
        prior = known.get(ref)
        if prior is not None and prior["record_date"] > row["record_date"]:
            superseded += 1
            continue
        if ref in latest:
            superseded += 1
            old_nhs = latest[ref]["nhs_number"]
            if owner_of_nhs.get(old_nhs) == ref and old_nhs != nhs:
                del owner_of_nhs[old_nhs]
        elif prior is not None and prior["nhs_number"] != nhs:
            owner_of_nhs.pop(prior["nhs_number"], None)
        owner_of_nhs[nhs] = ref
        latest[ref] = row

    upserts: list[dict[str, Any]] = []
    consent: list[dict[str, Any]] = []
    for ref, row in latest.items():
        if ref in known:
            pid = known[ref]["participant_id"]
        else:
            pid = new_id()
            while pid in used_ids:
                pid = new_id()
            used_ids.add(pid)
        upserts.append(
            {
                **{k: row[k] for k in REGISTRY_SCHEMA if k in row},
                "participant_id": pid,
                "updated_at": now,
            }
        )
        consent.append(
            {
                "participant_id": pid,
                **{k: row[k] for k in _CONSENT_FIELDS if k in row},
                "year_of_birth": row["date_of_birth"].year,
                "consented_under_16": age_on(row["date_of_birth"], row["consent_date"])
                < CHILD_AGE_LIMIT,
            }
        )
    consent_schema = {k: CONSENT_STATUS_SCHEMA[k] for k in ["participant_id", *_CONSENT_FIELDS]}
    return RegistryUpdate(
        registry_upserts=pl.DataFrame(upserts, schema=REGISTRY_SCHEMA),
        consent_updates=pl.DataFrame(consent, schema=consent_schema),
        rejects=rejects,
        applied=len(latest),
        superseded=superseded,
    )


def recontact_updates(
    registry: pl.DataFrame, notices: pl.DataFrame, now: dt.datetime
) -> pl.DataFrame:
    """Registry rows whose recontact flag changes: false once any withdrawal (``no
    further contact`` or ``full``) is on record for the reference, true otherwise. This
    flag is all a "no further contact" withdrawal changes: the data stays in use."""
    withdrawn = notices["participant_reference"].unique().implode()
    flagged = registry.with_columns(
        (~pl.col("participant_reference").is_in(withdrawn)).alias("_may")
    )
    changed = flagged.filter(
        pl.col("may_recontact").is_null() | (pl.col("may_recontact") != pl.col("_may"))
    )
    return changed.with_columns(
        pl.col("_may").alias("may_recontact"),
        pl.lit(now, dtype=REGISTRY_SCHEMA["updated_at"]).alias("updated_at"),
    ).select(list(REGISTRY_SCHEMA))


def withdrawal_states(registry: pl.DataFrame, notices: pl.DataFrame) -> pl.DataFrame:
    """Per registered participant with any notice: the strongest withdrawal and its date."""
    ranked = notices.with_columns(
        pl.when(pl.col("withdrawal_type") == "full").then(2).otherwise(1).alias("_rank")
    )
    strongest = (
        ranked.sort(["_rank", "withdrawal_date"], descending=[True, False])
        .group_by("participant_reference", maintain_order=True)
        .first()
    )
    return strongest.join(
        registry.select("participant_reference", "participant_id"), on="participant_reference"
    ).select(
        "participant_id",
        pl.col("withdrawal_type").alias("withdrawal_state"),
        "withdrawal_date",
    )


def build_consent_status(
    previous: pl.DataFrame,
    updates: pl.DataFrame,
    withdrawals: pl.DataFrame,
    now: dt.datetime,
) -> pl.DataFrame:
    """The whole consent status table: previous rows overlaid with updates, then every
    participant's withdrawal state recomputed from all notices."""
    base = previous.select(["participant_id", *_CONSENT_FIELDS])
    merged = pl.concat(
        [base.filter(~pl.col("participant_id").is_in(updates["participant_id"].implode())), updates]
    )
    changed = set(updates["participant_id"].to_list())
    out = merged.join(withdrawals, on="participant_id", how="left").with_columns(
        pl.col("withdrawal_state").fill_null("none")
    )
    prev_state = previous.select(
        "participant_id",
        pl.col("withdrawal_state").alias("_prev_state"),
        pl.col("updated_at").alias("_prev_updated"),
    )
    out = out.join(prev_state, on="participant_id", how="left").with_columns(
        pl.when(
            pl.col("participant_id").is_in(list(changed))
            | (pl.col("withdrawal_state") != pl.col("_prev_state").fill_null(""))
        )
        .then(pl.lit(now, dtype=pl.Datetime("us", "UTC")))
        .otherwise(pl.col("_prev_updated"))
        .alias("updated_at")
    )
    return out.select(list(CONSENT_STATUS_SCHEMA)).sort("participant_id")
