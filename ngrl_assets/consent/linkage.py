"""Linkage: resolve the participant references that deliveries and extracts carry to the
internal participant id, with the participant's withdrawal state. The only door from other
feeds into the identity zone; it returns internal ids, never identifiers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from ngrl_assets.consent import tombstones
from ngrl_assets.consent.eligibility import ConsentFacts, evaluate
from ngrl_assets.consent.tables import (
    CONSENT_STATUS,
    PARTICIPANT_REGISTRY,
    RELEASE_PSEUDONYMS,
    WITHDRAWAL_NOTICES,
)
from ngrl_assets.withdrawal import batches as withdrawal_batches
from resources.lake import Lake
from resources.tables import TableSpec

# The consent assets behind the door, by name (their asset keys), for the assets of other
# domains that depend on them; the declarations themselves stay in consent.
REGISTRY_ASSET = PARTICIPANT_REGISTRY.name
NOTICES_ASSET = WITHDRAWAL_NOTICES.name
STATUS_ASSET = CONSENT_STATUS.name


@dataclass(frozen=True)
class Linked:
    participant_id: str
    withdrawal: str  # none | no_further_contact | full


def link_references(lake: Lake, references: list[str]) -> dict[str, Linked]:
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


def nhs_number_linkage(lake: Lake) -> pl.DataFrame:
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


def release_cohort(lake: Lake, freeze_date: dt.date) -> pl.DataFrame:
    """Every registered participant's release decision at ``freeze_date`` by the GMS rules
    (:func:`ngrl_assets.consent.eligibility.evaluate`), decided here because it needs the
    exact date of birth: ``participant_id``, ``eligible``, ``reason`` and the registered
    ``sex`` leave the door, nothing else. A full withdrawal recorded at any time before
    the cut excludes the participant (a withdrawal is never overridden by a freeze date)."""
    registry = lake.read(PARTICIPANT_REGISTRY).select("participant_id", "date_of_birth", "sex")
    consent = lake.read(CONSENT_STATUS)
    joined = registry.join(consent, on="participant_id", how="inner")
    decisions = []
    for row in joined.iter_rows(named=True):
        facts = ConsentFacts(
            consent_category=row["consent_category"],
            research_discussed=bool(row["research_discussed"]),
            research_agreed=bool(row["research_agreed"]),
            date_of_birth=row["date_of_birth"],
            consent_date=row["consent_date"],
            deceased=row["life_status"] == "deceased",
            withdrawal="full" if row["withdrawal_state"] == "full" else "none",
        )
        try:
            decision = evaluate(facts, freeze_date)
            decisions.append((row["participant_id"], decision.eligible, decision.reason))
        except ValueError:
            decisions.append((row["participant_id"], False, "inconsistent_consent_dates"))
    out = pl.DataFrame(
        decisions,
        schema={"participant_id": pl.String, "eligible": pl.Boolean, "reason": pl.String},
        orient="row",
    )
    return out.join(registry.select("participant_id", "sex"), on="participant_id", how="left")


def identifiers_among(lake: Lake, values: pl.Series) -> int:
    """How many of ``values`` are a registered direct identifier or reference (NHS number,
    consent-service reference, forename, surname, postcode, date of birth as ISO text).
    The release gate passes every value of its tables through here so that identifiers
    never leave this door; only the count comes back."""
    registry = lake.read(PARTICIPANT_REGISTRY)
    known: set[str] = set()
    for column in ("nhs_number", "participant_reference", "postcode"):
        known |= {v for v in registry[column].drop_nulls().to_list() if len(v) >= 4}
    for column in ("forename", "surname"):  # short names collide with codes: 4+ letters
        known |= {v for v in registry[column].drop_nulls().to_list() if len(v) >= 4}
    known |= {d.isoformat() for d in registry["date_of_birth"].drop_nulls().to_list()}
    if not known:
        return 0
    strings = values.cast(pl.String).drop_nulls()
    return int(strings.is_in(pl.Series(sorted(known), dtype=pl.String).implode()).sum())


def record_pseudonyms(lake: Lake, release_id: str, frame: pl.DataFrame) -> None:
    """Keep a release's internal id <-> pseudonym map (identity zone; replaced whole, so a
    re-run of a cut converges)."""
    lake.replace(RELEASE_PSEUDONYMS, frame, {"release_id": release_id})


def cohort_change(lake: Lake, previous: str | None, current: str) -> dict[str, int]:
    """Participants added, removed and kept between two releases, as counts (pseudonyms
    differ between releases; only this map can compare them)."""
    rows = lake.scan(RELEASE_PSEUDONYMS).filter(pl.col("kind") == "participant")
    now = set(rows.filter(pl.col("release_id") == current).collect()["internal_id"].to_list())
    before: set[str] = set()
    if previous:
        before = set(
            rows.filter(pl.col("release_id") == previous).collect()["internal_id"].to_list()
        )
    return {"added": len(now - before), "removed": len(before - now), "kept": len(now & before)}


def participant_needles(
    lake: Lake, participant_reference: str, sample_table: TableSpec
) -> list[tuple[str, str]]:
    """Every value that identifies one participant anywhere in the lake, as ``(kind, value)``
    pairs, for the erasure residue scan only: the consent-service reference itself, each
    internal id and NHS number registered under it, the participant's sample ids
    (``sample_table``: ``genomics.tables.RAW_SEQUENCES``, handed in by the caller so that
    this door imports nothing of genomics and clinical never reaches genomics through it)
    and every pseudonym any release ever gave the participant or those samples
    (``release_pseudonyms``). An unregistered reference yields only itself. The values go
    to the scanner and nowhere else: never log them or put them in metadata."""

    pairs: list[tuple[str, str]] = [("participant reference", participant_reference)]
    registry = (
        lake.scan(PARTICIPANT_REGISTRY)
        .filter(pl.col("participant_reference") == participant_reference)
        .select("participant_id", "nhs_number")
        .collect()
    )
    ids = sorted({v for v in registry["participant_id"].to_list() if v})
    pairs += [("internal id", v) for v in ids]
    pairs += [("NHS number", v) for v in sorted(set(registry["nhs_number"].drop_nulls()))]
    samples: list[str] = []
    if ids:
        samples = sorted(
            set(
                lake.scan(sample_table)
                .filter(pl.col("participant_id").is_in(pl.Series(ids, dtype=pl.String).implode()))
                .select("sample_id")
                .collect()["sample_id"]
                .drop_nulls()
            )
        )
    pairs += [("sample id", v) for v in samples]
    if ids:
        wanted_ids = pl.Series(ids, dtype=pl.String).implode()
        wanted_samples = pl.Series(samples, dtype=pl.String).implode()
        pseudonyms = (
            lake.scan(RELEASE_PSEUDONYMS)
            .filter(
                ((pl.col("kind") == "participant") & pl.col("internal_id").is_in(wanted_ids))
                | ((pl.col("kind") == "sample") & pl.col("internal_id").is_in(wanted_samples))
            )
            .select("release_id", "kind", "pseudonym")
            .unique()
            .sort("release_id", "kind", "pseudonym")
            .collect()
        )
        for release_id, kind, value in pseudonyms.iter_rows():
            if value:
                label = "pseudonym" if kind == "participant" else "sample pseudonym"
                pairs.append((f"{label} (release {release_id})", value))
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for kind, value in pairs:
        if value and value not in seen:
            seen.add(value)
            out.append((kind, value))
    return out


def withdrawn_references(lake: Lake, references: list[str]) -> dict[str, str]:
    """Of these consent-service references, those of fully withdrawn (tombstoned)
    participants -> internal id. Re-delivered data for them is quarantined
    ``participant_withdrawn`` and :func:`request_repurge` is called."""
    return tombstones.withdrawn_by(lake, "reference", references)


def withdrawn_nhs_numbers(lake: Lake, nhs_numbers: list[str]) -> dict[str, str]:
    """Of these NHS numbers, those of tombstoned participants -> internal id."""
    return tombstones.withdrawn_by(lake, "nhs_number", nhs_numbers)


def request_repurge(
    lake: Lake,
    participants: Mapping[str, Iterable[tuple[str, str]]] | Iterable[str],
    now: dt.datetime | None = None,
) -> str | None:
    """Open a ``redelivery`` withdrawal batch for tombstoned participants whose data was
    re-delivered (and quarantined), so its run purges the re-delivered landing objects.
    Hand in, per internal id, the ``(kind, value)`` pairs the re-delivery named
    (``participant reference``, ``NHS number``, ``sample id``, ``landing key``): they are
    what the purge and the residue scan look for once the registry row is gone."""
    return withdrawal_batches.request_repurge(lake, participants, now or dt.datetime.now(dt.UTC))


def members_needles(
    lake: Lake, participant_ids: list[str], sample_table: TableSpec
) -> pl.DataFrame:
    """For withdrawal propagation: every identifying value of these participants as rows
    ``participant_id, kind, value`` (kinds: ``internal id``, ``participant reference``,
    ``NHS number``, ``sample id``, ``landing key``, ``pseudonym (release R)``, ``sample
    pseudonym (release R)``). Like :func:`participant_needles`, but by internal id (the
    batch's members) and with the landing keys of their sequencing objects (from
    ``sample_table``). The frame goes to the identity zone's withdrawal work table and to
    the erasure steps; never log it or put it in metadata."""
    ids = pl.Series(sorted(set(participant_ids)), dtype=pl.String)
    rows: list[tuple[str, str, str]] = [(p, "internal id", p) for p in ids.to_list()]
    registry = (
        lake.scan(PARTICIPANT_REGISTRY)
        .filter(pl.col("participant_id").is_in(ids.implode()))
        .select("participant_id", "participant_reference", "nhs_number")
        .collect()
    )
    for pid, ref, nhs in registry.iter_rows():
        rows += [(pid, "participant reference", ref), (pid, "NHS number", nhs)]
    samples = (
        lake.scan(sample_table)
        .filter(pl.col("participant_id").is_in(ids.implode()))
        .select("participant_id", "sample_id", "gvcf_key", "tbi_key")
        .collect()
    )
    owner_of_sample: dict[str, str] = {}
    for pid, sample, gvcf, tbi in samples.iter_rows():
        rows.append((pid, "sample id", sample))
        owner_of_sample[sample] = pid
        rows += [(pid, "landing key", k) for k in (gvcf, tbi) if k]
    pseudonyms = (
        lake.scan(RELEASE_PSEUDONYMS)
        .filter(
            ((pl.col("kind") == "participant") & pl.col("internal_id").is_in(ids.implode()))
            | (
                (pl.col("kind") == "sample")
                & pl.col("internal_id").is_in(pl.Series(sorted(owner_of_sample)).implode())
            )
        )
        .select("release_id", "kind", "internal_id", "pseudonym")
        .collect()
    )
    for release_id, kind, internal, value in pseudonyms.iter_rows():
        pid = internal if kind == "participant" else owner_of_sample[internal]
        label = "pseudonym" if kind == "participant" else "sample pseudonym"
        rows.append((pid, f"{label} (release {release_id})", value))
    frame = pl.DataFrame(
        [r for r in rows if r[2]],
        schema={"participant_id": pl.String, "kind": pl.String, "value": pl.String},
        orient="row",
    )
    return frame.unique().sort("participant_id", "kind", "value")
