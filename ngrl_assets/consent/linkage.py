"""Linkage: resolve the participant references that deliveries and extracts carry to the
internal participant id, with the participant's withdrawal state. The only door from other
feeds into the identity zone; it returns internal ids, never identifiers."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ngrl_assets.consent.tables import CONSENT_STATUS, PARTICIPANT_REGISTRY, WITHDRAWAL_NOTICES
from resources.lake import LakeResource


@dataclass(frozen=True)
class Linked:
    participant_id: str
    withdrawal: str  # none | no_further_contact | full


def link_references(lake: LakeResource, references: list[str]) -> dict[str, Linked]:
    """Registered references -> internal id and withdrawal state; unknown ones are absent."""
    wanted = pl.Series(sorted(set(references)), dtype=pl.String).implode()
    registry = (
        lake.scan(PARTICIPANT_REGISTRY)
        .select("participant_reference", "participant_id")
        .filter(pl.col("participant_reference").is_in(wanted))
        .collect()
    )
    notices = (
        lake.scan(WITHDRAWAL_NOTICES)
        .select("participant_reference", "withdrawal_type")
        .filter(pl.col("participant_reference").is_in(wanted))
        .collect()
    )
    strongest: dict[str, str] = {}
    for ref, kind in notices.iter_rows():
        if kind == "full" or strongest.get(ref) != "full":
            strongest[ref] = kind
    return {ref: Linked(pid, strongest.get(ref, "none")) for ref, pid in registry.iter_rows()}


def nhs_number_linkage(lake: LakeResource) -> pl.DataFrame:
    """Registered NHS numbers with what clinical intake needs to link a row: the internal
    id, the registered date of birth (to confirm the extract's DOB and derive ages),
    whether consent allows research use and the withdrawal state. Identifiers stay in
    memory for the join; callers write only ``participant_id`` onward."""
    registry = (
        lake.scan(PARTICIPANT_REGISTRY)
        .select("nhs_number", "participant_id", "date_of_birth")
        .collect()
    )
    consent = (
        lake.scan(CONSENT_STATUS)
        .select(
            "participant_id",
            (pl.col("research_discussed") & pl.col("research_agreed")).alias("_research_ok"),
            pl.col("withdrawal_state").alias("_withdrawal"),
        )
        .collect()
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
