"""Asset checks on the identity and consent tables, read back from the lake after each
intake. Failures report counts only, never the offending participants."""

from __future__ import annotations

import dagster as dg
import polars as pl

from ngrl_assets.common.assets import asset_key
from ngrl_assets.consent import nhs_number
from ngrl_assets.consent.tables import CONSENT_STATUS, PARTICIPANT_REGISTRY, WITHDRAWAL_NOTICES
from resources.lake import Lake

CHECK_SPECS = [
    dg.AssetCheckSpec(
        "nhs_numbers_valid_and_unique",
        asset=asset_key(PARTICIPANT_REGISTRY),
        description="Every NHS number passes Modulus 11 and belongs to one participant.",
    ),
    dg.AssetCheckSpec(
        "participant_ids_unique",
        asset=asset_key(PARTICIPANT_REGISTRY),
        description="Internal ids and participant references are unique.",
    ),
    dg.AssetCheckSpec(
        "one_row_per_registered_participant",
        asset=asset_key(CONSENT_STATUS),
        description="Consent status has exactly the registry's participants, once each.",
    ),
    dg.AssetCheckSpec(
        "full_withdrawals_applied",
        asset=asset_key(CONSENT_STATUS),
        description="Every registered participant with a full withdrawal notice is 'full'.",
    ),
]


def evaluate(lake: Lake) -> list[dg.AssetCheckResult]:
    """Every check on the tables as written (a missing table reads as empty)."""
    registry = (
        lake.scan(PARTICIPANT_REGISTRY)
        .select("participant_id", "participant_reference", "nhs_number")
        .collect()
    )
    consent = lake.scan(CONSENT_STATUS).select("participant_id", "withdrawal_state").collect()
    notices = (
        lake.scan(WITHDRAWAL_NOTICES).select("participant_reference", "withdrawal_type").collect()
    )

    numbers = registry["nhs_number"]
    invalid = sum(1 for n in numbers.to_list() if not nhs_number.is_valid(n))
    duplicated_numbers = numbers.len() - numbers.n_unique()
    duplicated_ids = registry.height - registry["participant_id"].n_unique()
    duplicated_refs = registry.height - registry["participant_reference"].n_unique()

    registry_ids = set(registry["participant_id"].to_list())
    consent_ids = consent["participant_id"].to_list()
    missing = len(registry_ids - set(consent_ids))
    unexpected = len(set(consent_ids) - registry_ids)
    duplicated_consent = len(consent_ids) - len(set(consent_ids))

    full_refs = notices.filter(pl.col("withdrawal_type") == "full")["participant_reference"]
    full_ids = registry.filter(pl.col("participant_reference").is_in(full_refs.implode()))
    not_applied = full_ids.join(
        consent.filter(pl.col("withdrawal_state") == "full"), on="participant_id", how="anti"
    ).height

    return [
        dg.AssetCheckResult(
            asset_key=asset_key(PARTICIPANT_REGISTRY),
            check_name="nhs_numbers_valid_and_unique",
            passed=invalid == 0 and duplicated_numbers == 0,
            metadata={"invalid": invalid, "duplicated": duplicated_numbers},
        ),
        dg.AssetCheckResult(
            asset_key=asset_key(PARTICIPANT_REGISTRY),
            check_name="participant_ids_unique",
            passed=duplicated_ids == 0 and duplicated_refs == 0,
            metadata={"duplicated_ids": duplicated_ids, "duplicated_references": duplicated_refs},
        ),
        dg.AssetCheckResult(
            asset_key=asset_key(CONSENT_STATUS),
            check_name="one_row_per_registered_participant",
            passed=missing == 0 and unexpected == 0 and duplicated_consent == 0,
            metadata={
                "missing": missing,
                "unexpected": unexpected,
                "duplicated": duplicated_consent,
            },
        ),
        dg.AssetCheckResult(
            asset_key=asset_key(CONSENT_STATUS),
            check_name="full_withdrawals_applied",
            passed=not_applied == 0,
            metadata={"full_withdrawals": full_ids.height, "not_applied": not_applied},
        ),
    ]
