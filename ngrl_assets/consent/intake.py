"""Consent intake: new registration and withdrawal files in landing -> identity zone
registry + withdrawal notices, curated consent status, quarantine, landing ledger.

Idempotent and safe to re-run: files are taken from the ledger's pending list, writes are
upserts or replace-by-source-file, and the ledger is written last. Only counts leave this
module (they become Dagster metadata); no participant-level value does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from ngrl_assets.common import ledger
from ngrl_assets.common.quarantine import (
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    Reject,
    count_by_rule,
    to_frame,
)
from ngrl_assets.consent import feeds
from ngrl_assets.consent.registry import (
    CONSENT_STATUS_SCHEMA,
    REGISTRY_SCHEMA,
    WITHDRAWAL_NOTICE_SCHEMA,
    RegistryUpdate,
    build_consent_status,
    fold_registrations,
    withdrawal_states,
)
from resources import delta, objects
from resources.lake import LakeResource

REGISTRATIONS = ("consent_registrations", "consent/registrations")
WITHDRAWALS = ("consent_withdrawals", "consent/withdrawals")

REGISTRY_TABLE = ("identity", "participant_registry")
NOTICES_TABLE = ("identity", "withdrawal_notices")
CONSENT_TABLE = ("curated", "consent_status")


@dataclass
class FeedCounts:
    files: int = 0
    duplicate_files: int = 0
    rows_in: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rejects_by_rule: dict[str, int] = field(default_factory=dict)


@dataclass
class IntakeSummary:
    registrations: FeedCounts
    withdrawals: FeedCounts
    registry_rows: int
    new_participants: int
    superseded_records: int
    notices_total: int
    notices_pending_registration: int
    consent_rows: int
    consent_by_withdrawal_state: dict[str, int]


def _load(
    lake: LakeResource, feed: tuple[str, str], parse: Callable[[bytes, str], feeds.ParsedFeed]
) -> tuple[list[feeds.ParsedFeed], list[ledger.LedgerEntry], dict[str, str]]:
    name, prefix = feed
    seen = ledger.ingested_hashes(lake, name)
    parsed: list[feeds.ParsedFeed] = []
    duplicates: list[ledger.LedgerEntry] = []
    hashes: dict[str, str] = {}
    for file in ledger.pending(lake, prefix):
        data = objects.read_bytes(file.uri)
        digest = ledger.sha256(data)
        if digest in seen:
            duplicates.append(ledger.LedgerEntry(file, name, digest, "duplicate", 0, 0, 0))
            continue
        seen.add(digest)
        hashes[file.key] = digest
        parsed.append(parse(data, file.key))
    return parsed, duplicates, hashes


def _entries(
    lake: LakeResource,
    name: str,
    prefix: str,
    parsed: list[feeds.ParsedFeed],
    extra: list[Reject],
    hashes: dict[str, str],
) -> tuple[list[ledger.LedgerEntry], FeedCounts]:
    by_key = {f.key: f for f in ledger.list_landing(lake, prefix)}
    entries = []
    counts = FeedCounts(files=len(parsed))
    all_rejects: list[Reject] = []
    for p in parsed:
        rejected = [*p.rejects, *(r for r in extra if r.source_file == p.source_file)]
        all_rejects += rejected
        rows_in = p.rows_in
        quarantined = len(rejected)
        status = "quarantined" if p.file_rejected else "processed"
        entries.append(
            ledger.LedgerEntry(
                by_key[p.source_file],
                name,
                hashes[p.source_file],
                status,
                rows_in,
                rows_in - quarantined,
                quarantined,
            )
        )
        counts.rows_in += rows_in
        counts.rows_quarantined += quarantined
    counts.rows_accepted = counts.rows_in - counts.rows_quarantined
    counts.rejects_by_rule = count_by_rule(all_rejects)
    return entries, counts


def _all_rejects(parsed: list[feeds.ParsedFeed], extra: list[Reject]) -> list[Reject]:
    return [r for p in parsed for r in p.rejects] + extra


def run(lake: LakeResource, run_id: str, now: dt.datetime | None = None) -> IntakeSummary:
    """Ingest every pending consent feed file and rebuild consent status."""
    now = now or dt.datetime.now(dt.UTC)
    opts = lake.storage_options
    reg_parsed, reg_dupes, reg_hashes = _load(lake, REGISTRATIONS, feeds.parse_registrations)
    wd_parsed, wd_dupes, wd_hashes = _load(lake, WITHDRAWALS, feeds.parse_withdrawals)

    registry_uri = lake.table(*REGISTRY_TABLE)
    registry = delta.read(registry_uri, REGISTRY_SCHEMA, opts(registry_uri))
    registrations = (
        pl.concat([p.rows for p in reg_parsed], how="vertical")
        if reg_parsed
        else pl.DataFrame(schema=feeds.REGISTRATION_SCHEMA)
    )
    update = fold_registrations(registry, registrations, now)
    if update.registry_upserts.height:
        delta.merge(
            registry_uri,
            update.registry_upserts,
            REGISTRY_SCHEMA,
            ["participant_reference"],
            opts(registry_uri),
        )
    delta.ensure(registry_uri, REGISTRY_SCHEMA, opts(registry_uri))
    registry = delta.read(registry_uri, REGISTRY_SCHEMA, opts(registry_uri))

    notices_uri = lake.table(*NOTICES_TABLE)
    new_notices = [p.rows.with_columns(pl.lit(now).alias("received_at")) for p in wd_parsed]
    if new_notices:
        delta.merge(
            notices_uri,
            pl.concat(new_notices),
            WITHDRAWAL_NOTICE_SCHEMA,
            ["source_file", "source_line"],
            opts(notices_uri),
        )
    delta.ensure(notices_uri, WITHDRAWAL_NOTICE_SCHEMA, opts(notices_uri))
    notices = delta.read(notices_uri, WITHDRAWAL_NOTICE_SCHEMA, opts(notices_uri))

    consent_uri = lake.table(*CONSENT_TABLE)
    previous = delta.read(consent_uri, CONSENT_STATUS_SCHEMA, opts(consent_uri))
    consent = build_consent_status(
        previous, update.consent_updates, withdrawal_states(registry, notices), now
    )
    delta.overwrite(consent_uri, consent, CONSENT_STATUS_SCHEMA, opts(consent_uri))

    quarantine_uri = lake.table("quarantine", QUARANTINE_TABLE)
    for (name, _), parsed, extra in (
        (REGISTRATIONS, reg_parsed, update.rejects),
        (WITHDRAWALS, wd_parsed, []),
    ):
        if not parsed:
            continue
        frame = to_frame(_all_rejects(parsed, extra), name, run_id)
        files = [p.source_file for p in parsed]
        predicate = f"feed = '{name}' AND " + delta.sql_in("source_file", files)
        delta.replace_where(
            quarantine_uri, frame, QUARANTINE_SCHEMA, predicate, opts(quarantine_uri)
        )

    reg_entries, reg_counts = _entries(lake, *REGISTRATIONS, reg_parsed, update.rejects, reg_hashes)
    wd_entries, wd_counts = _entries(lake, *WITHDRAWALS, wd_parsed, [], wd_hashes)
    reg_counts.duplicate_files, wd_counts.duplicate_files = len(reg_dupes), len(wd_dupes)
    ledger.record(lake, reg_entries + reg_dupes + wd_entries + wd_dupes, run_id)

    registered = set(registry["participant_reference"].to_list())
    pending_refs = set(notices["participant_reference"].to_list()) - registered
    states = consent.group_by("withdrawal_state").len().sort("withdrawal_state")
    return IntakeSummary(
        registrations=reg_counts,
        withdrawals=wd_counts,
        registry_rows=registry.height,
        new_participants=_new_count(update, previous),
        superseded_records=update.superseded,
        notices_total=notices.height,
        notices_pending_registration=len(pending_refs),
        consent_rows=consent.height,
        consent_by_withdrawal_state=dict(
            zip(states["withdrawal_state"], states["len"], strict=True)
        ),
    )


def _new_count(update: RegistryUpdate, previous: pl.DataFrame) -> int:
    known = set(previous["participant_id"].to_list())
    return sum(1 for pid in update.registry_upserts["participant_id"].to_list() if pid not in known)
