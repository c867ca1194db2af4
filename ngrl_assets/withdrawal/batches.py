"""Withdrawal batches: their opaque id, its rule, the batch table and its lifecycle (no
Dagster).

A batch carries one or more withdrawn participants through the platform; its id
(``wd-`` and 12 hex digits) is the only name the rest of the platform uses for them: the
sensor, the propagation run, its tags, the audit ledger and the erasure report. Members
stay in the identity zone (:data:`WITHDRAWAL_BATCH_MEMBERS`). A batch opens ``pending``
with one of two reasons: ``withdrawal`` (consent intake tombstoned new full withdrawals,
``consent.tombstones``) or ``redelivery`` (an intake refused data re-delivered for a
tombstoned participant: its run purges the re-delivered objects); propagation marks it
``complete``.

Consent intake and the identity door (``consent.linkage``) open batches here: this module
is the one part of withdrawal that the consent layer calls, and it imports nothing above
consent (``pyproject.toml``, the layers contract).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

import polars as pl

from ngrl_assets.consent.tables import PARTICIPANT_REGISTRY, WITHDRAWAL_NOTICES
from ngrl_assets.withdrawal.tables import (
    WITHDRAWAL_BATCH_MEMBERS,
    WITHDRAWAL_BATCHES,
    WITHDRAWAL_WORK,
)
from resources.errors import Refused
from resources.lake import Lake

BATCH_ID = re.compile(r"^wd-[0-9a-f]{12}$")


class BatchStatus(StrEnum):
    """``withdrawal_batches.status``."""

    PENDING = "pending"
    COMPLETE = "complete"


class BatchReason(StrEnum):
    """Why a batch was opened (``withdrawal_batches.reason``, ``..._members.reason``)."""

    WITHDRAWAL = "withdrawal"
    REDELIVERY = "redelivery"


class UnknownBatch(Refused, LookupError):
    """No withdrawal batch has this id."""

    rule = "batch_unknown"


class MalformedBatchId(Refused, ValueError):
    """Not a withdrawal batch id."""

    rule = "batch_id_malformed"


def validate_batch_id(batch_id: str) -> str:
    """``batch_id`` if it is ``wd-`` and 12 lower-case hex digits, else
    :class:`MalformedBatchId` (a ValueError)."""
    if not isinstance(batch_id, str) or not BATCH_ID.fullmatch(batch_id):
        raise MalformedBatchId("a withdrawal batch id is 'wd-' and 12 hex digits")
    return batch_id


def new_batch_id() -> str:
    return "wd-" + secrets.token_hex(6)


# ---- reading -------------------------------------------------------------------------------
def read(lake: Lake) -> pl.DataFrame:
    """Every batch, oldest first (what the sensor, the checks and propagation read)."""
    lake.ensure(WITHDRAWAL_BATCHES)
    return lake.read(WITHDRAWAL_BATCHES).sort("opened_at", "batch_id")


def listing(lake: Lake) -> pl.DataFrame:
    """Every batch, most recently opened first, with ``end_to_end_seconds``
    (completed_at - notice_landed_at; null while pending)."""
    df = lake.read(WITHDRAWAL_BATCHES)
    return df.with_columns(
        end_to_end_seconds=(pl.col("completed_at") - pl.col("notice_landed_at")).dt.total_seconds()
    ).sort(["opened_at", "batch_id"], descending=True, nulls_last=True)


def get(lake: Lake, batch_id: str) -> dict[str, Any]:
    """The batch's row from :data:`WITHDRAWAL_BATCHES`; :class:`UnknownBatch` if none."""
    validate_batch_id(batch_id)
    found = lake.scan(WITHDRAWAL_BATCHES).filter(pl.col("batch_id") == batch_id).collect()
    if found.is_empty():
        raise UnknownBatch(f"no withdrawal batch {batch_id}")
    return found.row(0, named=True)


def members(lake: Lake, batch_id: str) -> list[str]:
    lake.ensure(WITHDRAWAL_BATCH_MEMBERS)
    rows = lake.scan(WITHDRAWAL_BATCH_MEMBERS).filter(pl.col("batch_id") == batch_id)
    return sorted(set(rows.select("participant_id").collect()["participant_id"].to_list()))


# ---- lifecycle -----------------------------------------------------------------------------
def add_members(
    lake: Lake,
    batch: str,
    participant_ids: list[str],
    reason: BatchReason,
    now: dt.datetime,
) -> None:
    frame = pl.DataFrame(
        {
            "batch_id": [batch] * len(participant_ids),
            "participant_id": participant_ids,
            "reason": [str(reason)] * len(participant_ids),
            "added_at": [now] * len(participant_ids),
        },
        schema=WITHDRAWAL_BATCH_MEMBERS.schema,
    )
    lake.merge(WITHDRAWAL_BATCH_MEMBERS, frame, ["batch_id", "participant_id"])


def open_missing(lake: Lake, now: dt.datetime) -> list[str]:
    """A ``pending`` row for every batch that has members but no row yet (a run that died
    between the two writes is completed here). Returns the batches opened."""
    lake.ensure(WITHDRAWAL_BATCH_MEMBERS)
    known = set(read(lake)["batch_id"].to_list())
    rows = lake.read(WITHDRAWAL_BATCH_MEMBERS).filter(
        ~pl.col("batch_id").is_in(pl.Series(sorted(known), dtype=pl.String).implode())
    )
    if rows.height == 0:
        return []
    landed = _notice_landed_at(lake, rows["participant_id"].to_list())
    out = []
    frames = []
    for (batch,), group in rows.group_by(["batch_id"], maintain_order=True):
        reason = group["reason"][0]
        ids = group["participant_id"].to_list()
        times = [landed[p] for p in ids if p in landed]
        frames.append(
            {
                "batch_id": batch,
                "reason": reason,
                "members": len(ids),
                "notice_landed_at": min(times) if times else now,
                "opened_at": now,
                "status": str(BatchStatus.PENDING),
                "completed_at": None,
            }
        )
        out.append(str(batch))
    lake.merge(
        WITHDRAWAL_BATCHES, pl.DataFrame(frames, schema=WITHDRAWAL_BATCHES.schema), ["batch_id"]
    )
    return sorted(out)


def request_repurge(
    lake: Lake,
    participants: Mapping[str, Iterable[tuple[str, str]]] | Iterable[str],
    now: dt.datetime,
) -> str | None:
    """Re-delivered data of tombstoned participants was quarantined: put them in a new
    ``redelivery`` batch (unless a pending batch already carries them) so that its run
    purges the re-delivered objects. ``participants`` may map each internal id to the
    identifying values the intake saw in the re-delivery (``(kind, value)``: reference,
    NHS number, sample id, landing key): after erasure the registry no longer holds them,
    so they go to the batch's working set in the identity zone for the purge and the
    residue scan. Returns the new batch id, if any."""
    values = (
        dict(participants) if isinstance(participants, Mapping) else {p: () for p in participants}
    )
    wanted = sorted(set(values))
    if not wanted:
        return None
    pending = _pending_members(lake)
    todo = [p for p in wanted if p not in pending]
    batch = None
    if todo:
        batch = new_batch_id()
        add_members(lake, batch, todo, BatchReason.REDELIVERY, now)
    carrier = {p: pending[p] for p in wanted if p in pending}
    carrier.update({p: batch for p in todo if batch})
    rows = [
        (carrier[p], p, kind, value)
        for p in wanted
        for kind, value in [*values[p], ("internal id", p)]
        if value
    ]
    if rows:
        frame = pl.DataFrame(rows, schema=dict(WITHDRAWAL_WORK.schema), orient="row").unique()
        lake.merge(WITHDRAWAL_WORK, frame, ["batch_id", "participant_id", "kind", "value"])
    if batch:
        open_missing(lake, now)
    return batch


def mark(lake: Lake, batch_id: str, status: BatchStatus, now: dt.datetime) -> None:
    row = read(lake).filter(pl.col("batch_id") == batch_id)
    if row.height == 0:
        raise KeyError("no such withdrawal batch")
    done = now if status == BatchStatus.COMPLETE else None
    updated = row.with_columns(
        pl.lit(str(status)).alias("status"),
        pl.lit(done, dtype=pl.Datetime("us", "UTC")).alias("completed_at"),
    )
    lake.merge(WITHDRAWAL_BATCHES, updated, ["batch_id"])


def _pending_members(lake: Lake) -> dict[str, str]:
    """Members of batches not complete yet -> their (latest) batch."""
    lake.ensure(WITHDRAWAL_BATCH_MEMBERS)
    open_ids = read(lake).filter(pl.col("status") != BatchStatus.COMPLETE)["batch_id"].implode()
    rows = lake.scan(WITHDRAWAL_BATCH_MEMBERS).filter(pl.col("batch_id").is_in(open_ids))
    frame = rows.select("participant_id", "batch_id").collect().sort("batch_id")
    return dict(zip(frame["participant_id"].to_list(), frame["batch_id"].to_list(), strict=True))


def _notice_landed_at(lake: Lake, participant_ids: list[str]) -> dict[str, dt.datetime]:
    registry = lake.read(PARTICIPANT_REGISTRY).select("participant_id", "participant_reference")
    registry = registry.filter(
        pl.col("participant_id").is_in(pl.Series(participant_ids, dtype=pl.String).implode())
    )
    notices = lake.read(WITHDRAWAL_NOTICES).filter(pl.col("withdrawal_type") == "full")
    joined = (
        registry.join(notices, on="participant_reference")
        .group_by("participant_id")
        .agg(pl.col("received_at").min())
    )
    return dict(
        zip(joined["participant_id"].to_list(), joined["received_at"].to_list(), strict=True)
    )
