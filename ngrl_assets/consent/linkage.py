"""Linkage: resolve the participant references that deliveries and extracts carry to the
internal participant id, with the participant's withdrawal state. The only door from other
feeds into the identity zone; it returns internal ids, never identifiers."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ngrl_assets.consent import intake
from ngrl_assets.consent.registry import (
    CONSENT_STATUS_SCHEMA,
    REGISTRY_SCHEMA,
    WITHDRAWAL_NOTICE_SCHEMA,
)
from resources import delta
from resources.lake import LakeResource


@dataclass(frozen=True)
class Linked:
    participant_id: str
    withdrawal: str  # none | no_further_contact | full


def link_references(lake: LakeResource, references: list[str]) -> dict[str, Linked]:
    """Registered references -> internal id and withdrawal state; unknown ones are absent."""
    registry_uri = lake.table(*intake.REGISTRY_TABLE)
    notices_uri = lake.table(*intake.NOTICES_TABLE)
    wanted = pl.Series(sorted(set(references)), dtype=pl.String).implode()
    registry = delta.read(registry_uri, REGISTRY_SCHEMA, lake.storage_options(registry_uri))
    registry = registry.filter(pl.col("participant_reference").is_in(wanted))
    notices = delta.read(notices_uri, WITHDRAWAL_NOTICE_SCHEMA, lake.storage_options(notices_uri))
    notices = notices.filter(pl.col("participant_reference").is_in(wanted))
    strongest: dict[str, str] = {}
    for ref, kind in notices.select("participant_reference", "withdrawal_type").iter_rows():
        if kind == "full" or strongest.get(ref) != "full":
            strongest[ref] = kind
    return {
        ref: Linked(pid, strongest.get(ref, "none"))
        for ref, pid in registry.select("participant_reference", "participant_id").iter_rows()
    }


def nhs_number_linkage(lake: LakeResource) -> pl.DataFrame:
    """Registered NHS numbers with what clinical intake needs to link a row: the internal
    id, the registered date of birth (to confirm the extract's DOB and derive ages),
    whether consent allows research use and the withdrawal state. Identifiers stay in
    memory for the join; callers write only ``participant_id`` onward."""
    registry_uri = lake.table(*intake.REGISTRY_TABLE)
    consent_uri = lake.table(*intake.CONSENT_TABLE)
    registry = delta.read(registry_uri, REGISTRY_SCHEMA, lake.storage_options(registry_uri))
    consent = delta.read(consent_uri, CONSENT_STATUS_SCHEMA, lake.storage_options(consent_uri))
    consent = consent.select(
        "participant_id",
        (pl.col("research_discussed") & pl.col("research_agreed")).alias("_research_ok"),
        pl.col("withdrawal_state").alias("_withdrawal"),
    )
    return (
        registry.select(
            pl.col("nhs_number").alias("_nhs_number"),
            pl.col("participant_id").alias("_participant_id"),
            pl.col("date_of_birth").alias("_registered_dob"),
            "participant_id",
        )
        .join(consent, on="participant_id", how="left")
        .drop("participant_id")
    )
