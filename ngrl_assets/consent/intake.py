"""Consent intake: new registration and withdrawal files in landing -> identity zone
registry + withdrawal notices, curated consent status, quarantine, landing ledger.

Idempotent and safe to re-run: files are taken from the ledger's pending list, writes are
upserts (registry on reference, notices on file + line) or replace-by-batch (quarantine:
batch = the file's landing key), and the ledger is written last. Each file is parsed on
its own and a file that cannot be read becomes one whole-file reject (ledger status
``quarantined``, every data line counted), so one bad file never blocks the others. Every
table is reached through the lake resource by its declaration (``consent.tables``). Only
counts leave this module (they become Dagster metadata); no participant-level value does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from ngrl_assets.common import ledger
from ngrl_assets.common.quarantine import (
    PARTICIPANT_WITHDRAWN,
    PARTICIPANT_WITHDRAWN_REASON,
    Reject,
    count_by_rule,
    replace_batches,
    to_frame,
)
from ngrl_assets.consent import feeds, tombstones
from ngrl_assets.consent.registry import (
    RegistryUpdate,
    build_consent_status,
    fold_registrations,
    recontact_updates,
    withdrawal_states,
)
from ngrl_assets.consent.tables import CONSENT_STATUS, PARTICIPANT_REGISTRY, WITHDRAWAL_NOTICES
from ngrl_assets.withdrawal import batches as withdrawal_batches
from resources import objects
from resources.lake import Lake

# (ledger/quarantine feed name, landing prefix)
REGISTRATIONS = ("consent_registrations", "consent/registrations")
WITHDRAWALS = ("consent_withdrawals", "consent/withdrawals")


@dataclass
class FeedCounts:
    files: int = 0
    files_quarantined: int = 0
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


@dataclass
class _Loaded:
    parsed: list[feeds.ParsedFeed]
    duplicates: list[ledger.LedgerEntry]
    files: dict[str, ledger.LandingFile]
    hashes: dict[str, str]


def _load(
    lake: Lake, feed: tuple[str, str], parse: Callable[[bytes, str], feeds.ParsedFeed]
) -> _Loaded:
    """Read and parse every pending file of a feed. Parsing never raises (a file that
    cannot be read is one whole-file reject), so one bad file never blocks the others; a
    failure to *read* an object (storage) still fails the run, to be retried."""
    name, prefix = feed
    seen = ledger.ingested_hashes(lake, name)
    out = _Loaded([], [], {}, {})
    for file in ledger.pending(lake, prefix):
        data = objects.read_bytes(file.uri)
        digest = ledger.sha256(data)
        if digest in seen:
            # already taken in under another name: its rows are accounted for there
            rows = feeds.data_lines(data)
            out.duplicates.append(
                ledger.LedgerEntry(file, name, digest, ledger.LedgerStatus.DUPLICATE, rows, 0, 0)
            )
            continue
        parsed = parse(data, file.key)
        if not parsed.file_rejected:
            seen.add(digest)  # a copy of a rejected file is judged on its own again
        out.files[file.key] = file
        out.hashes[file.key] = digest
        out.parsed.append(parsed)
    return out


def _rejects(loaded: _Loaded, extra: list[Reject]) -> dict[str, list[Reject]]:
    """Every quarantine record per file (its batch: the landing key)."""
    by_file: dict[str, list[Reject]] = {p.source_file: list(p.rejects) for p in loaded.parsed}
    for r in extra:
        by_file[r.source_file].append(r)
    return by_file


def _entries(
    name: str, loaded: _Loaded, rejects: dict[str, list[Reject]]
) -> tuple[list[ledger.LedgerEntry], FeedCounts]:
    entries = []
    counts = FeedCounts(files=len(loaded.parsed), duplicate_files=len(loaded.duplicates))
    for p in loaded.parsed:
        rows_in = p.rows_in
        if p.file_rejected:
            status, quarantined = ledger.LedgerStatus.QUARANTINED, rows_in
            counts.files_quarantined += 1
        else:
            status, quarantined = ledger.LedgerStatus.PROCESSED, len(rejects[p.source_file])
        entries.append(
            ledger.LedgerEntry(
                loaded.files[p.source_file],
                name,
                loaded.hashes[p.source_file],
                status,
                rows_in,
                rows_in - quarantined,
                quarantined,
            )
        )
        counts.rows_in += rows_in
        counts.rows_quarantined += quarantined
    counts.rows_accepted = counts.rows_in - counts.rows_quarantined
    counts.rejects_by_rule = count_by_rule([r for rs in rejects.values() for r in rs])
    return entries, counts


def _quarantine(lake: Lake, name: str, rejects: dict[str, list[Reject]], run_id: str) -> None:
    """Replace exactly these files' quarantine records (a re-run never duplicates them)."""
    if not rejects:
        return
    frames = [to_frame(rs, name, run_id, batch) for batch, rs in rejects.items()]
    replace_batches(lake, name, sorted(rejects), pl.concat(frames, how="vertical"))


def run(lake: Lake, run_id: str, now: dt.datetime | None = None) -> IntakeSummary:
    """Ingest every pending consent feed file and rebuild consent status."""
    now = now or dt.datetime.now(dt.UTC)
    regs = _load(lake, REGISTRATIONS, feeds.parse_registrations)
    wds = _load(lake, WITHDRAWALS, feeds.parse_withdrawals)

    registry = lake.read(PARTICIPANT_REGISTRY)
    registrations = pl.concat(
        [feeds.empty(feeds.REGISTRATION_SCHEMA), *(p.rows for p in regs.parsed)]
    )
    registrations, refused_regs, redelivered = _refuse_withdrawn(lake, registrations)
    update = fold_registrations(registry, registrations, now)
    if update.registry_upserts.height:
        lake.merge(PARTICIPANT_REGISTRY, update.registry_upserts, ["participant_reference"])
    lake.ensure(PARTICIPANT_REGISTRY)
    registry = lake.read(PARTICIPANT_REGISTRY)

    notices_in = pl.concat([feeds.empty(feeds.WITHDRAWAL_SCHEMA), *(p.rows for p in wds.parsed)])
    notices_in, refused_notices, renoticed = _refuse_withdrawn(lake, notices_in)
    new_notices = [
        notices_in.with_columns(pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("received_at"))
    ]
    new_notices = [f for f in new_notices if f.height]
    if new_notices:
        lake.merge(WITHDRAWAL_NOTICES, pl.concat(new_notices), ["source_file", "source_line"])
    lake.ensure(WITHDRAWAL_NOTICES)
    notices = lake.read(WITHDRAWAL_NOTICES)
    flags = recontact_updates(registry, notices, now)
    if flags.height:
        lake.merge(PARTICIPANT_REGISTRY, flags, ["participant_reference"])
        registry = lake.read(PARTICIPANT_REGISTRY)

    previous = lake.read(CONSENT_STATUS)
    consent = build_consent_status(
        previous, update.consent_updates, withdrawal_states(registry, notices), now
    )
    lake.overwrite(CONSENT_STATUS, consent)
    # new full withdrawals get tombstones and an opaque batch (the withdrawal sensor's cue);
    # re-delivered data of tombstoned participants gets a redelivery batch (its purge), with
    # the values the refused lines hold: after erasure only they tell the purge and the
    # residue scan what to look for in the re-sent files
    tombstones.tombstone_new_withdrawals(lake, now)
    refused = {
        p: sorted(redelivered.get(p, set()) | renoticed.get(p, set()))
        for p in {*redelivered, *renoticed}
    }
    withdrawal_batches.request_repurge(lake, refused, now)

    reg_rejects = _rejects(regs, update.rejects + refused_regs)
    wd_rejects = _rejects(wds, refused_notices)
    _quarantine(lake, REGISTRATIONS[0], reg_rejects, run_id)
    _quarantine(lake, WITHDRAWALS[0], wd_rejects, run_id)

    reg_entries, reg_counts = _entries(REGISTRATIONS[0], regs, reg_rejects)
    wd_entries, wd_counts = _entries(WITHDRAWALS[0], wds, wd_rejects)
    # the ledger last: a run that fails before this point leaves every file pending
    ledger.record(lake, reg_entries + regs.duplicates + wd_entries + wds.duplicates, run_id)

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


def _refuse_withdrawn(
    lake: Lake, rows: pl.DataFrame
) -> tuple[pl.DataFrame, list[Reject], dict[str, set[tuple[str, str]]]]:
    """Rows naming a tombstoned participant (by reference, or NHS number when the feed has
    one) are refused with ``participant_withdrawn``: a withdrawal is never undone by a
    re-delivery. Returns the rows kept, the rejects and, per participant concerned, the
    identifying values the refused rows hold (``(kind, value)``: reference, NHS number)."""
    if rows.height == 0:
        return rows, [], {}
    hit = tombstones.withdrawn_by(lake, "reference", rows["participant_reference"].to_list())
    if "nhs_number" in rows.columns:
        hit_nhs = tombstones.withdrawn_by(
            lake, "nhs_number", rows["nhs_number"].drop_nulls().to_list()
        )
    else:
        hit_nhs = {}
    if not hit and not hit_nhs:
        return rows, [], {}
    nhs = rows["nhs_number"].to_list() if "nhs_number" in rows.columns else [None] * rows.height
    keep, rejects = [], []
    who: dict[str, set[tuple[str, str]]] = {}
    for i, (ref, number, file, line) in enumerate(
        zip(
            rows["participant_reference"],
            nhs,
            rows["source_file"],
            rows["source_line"],
            strict=True,
        )
    ):
        owner = hit.get(ref) or (hit_nhs.get(number) if number else None)
        if owner is None:
            keep.append(i)
            continue
        values = who.setdefault(owner, set())
        values.add(("participant reference", ref))
        if number:
            values.add(("NHS number", number))
        rejects.append(Reject(file, line, PARTICIPANT_WITHDRAWN, PARTICIPANT_WITHDRAWN_REASON))
    return rows[keep], rejects, who


def _new_count(update: RegistryUpdate, previous: pl.DataFrame) -> int:
    known = set(previous["participant_id"].to_list())
    return sum(1 for pid in update.registry_upserts["participant_id"].to_list() if pid not in known)
