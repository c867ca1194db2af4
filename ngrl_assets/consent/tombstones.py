"""Tombstones and withdrawal batches (identity zone; no Dagster).

When consent intake records a full withdrawal, the participant gets a tombstone (internal
id, withdrawal date and type, keyed hashes of NHS number and reference) and joins a new
opaque withdrawal batch. The batch id is the only name the rest of the platform uses for
the withdrawal: the sensor, the propagation run, its tags and the audit ledger. A later
re-delivery of a tombstoned participant's data (a registration, a gVCF, an extract row) is
recognised by the keyed hashes, quarantined ``participant_withdrawn`` and puts the
participant in a ``redelivery`` batch, whose run purges the re-delivered object.

The hash key is the secret ``tombstone-key`` (``NGRL_SECRET_TOMBSTONE_KEY`` or Secrets
Manager); without one, a random key is created once and kept in the identity zone
(``identity/keys/tombstone.key``), which is where the tombstones live anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping

import polars as pl

from ngrl_assets.consent.tables import (
    CONSENT_STATUS,
    PARTICIPANT_REGISTRY,
    WITHDRAWAL_BATCH_MEMBERS,
    WITHDRAWAL_BATCHES,
    WITHDRAWAL_NOTICES,
    WITHDRAWAL_TOMBSTONES,
    WITHDRAWAL_WORK,
)
from resources import objects
from resources.lake import Lake
from resources.secrets import SecretNotFound, Secrets

BATCH_ID = re.compile(r"^wd-[0-9a-f]{12}$")
KEY_OBJECT = ("keys", "tombstone.key")


def new_batch_id() -> str:
    return "wd-" + secrets.token_hex(6)


def validate_batch_id(batch_id: str) -> str:
    if not BATCH_ID.fullmatch(batch_id or ""):
        raise ValueError("a withdrawal batch id is 'wd-' and 12 hex digits")
    return batch_id


def tombstone_key(lake: Lake) -> bytes:
    """The tombstone hash key (see the module docstring)."""
    try:
        return Secrets.from_env().get_bytes("tombstone-key")
    except SecretNotFound:
        pass
    uri = lake.uri("identity", *KEY_OBJECT)
    if not objects.exists(uri):
        objects.write_bytes(uri, secrets.token_hex(32).encode())
    return bytes.fromhex(objects.read_bytes(uri).decode().strip())


def _normal_nhs(value: str) -> str:
    return re.sub(r"\s+", "", value)


def keyed_hash(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of one identifier (``kind``: ``nhs_number`` or ``reference``)."""
    text = _normal_nhs(value) if kind == "nhs_number" else value.strip()
    return hmac.new(key, f"{kind}\x1f{text}".encode(), hashlib.sha256).hexdigest()


def _hashes(key: bytes, kind: str, values: Iterable[str]) -> dict[str, str]:
    return {v: keyed_hash(key, kind, v) for v in set(values) if v}


def tombstoned(lake: Lake) -> pl.DataFrame:
    lake.ensure(WITHDRAWAL_TOMBSTONES)
    return lake.read(WITHDRAWAL_TOMBSTONES)


def withdrawn_by(lake: Lake, kind: str, values: Iterable[str]) -> dict[str, str]:
    """Of ``values`` (NHS numbers or references), those that belong to a tombstoned
    participant -> that participant's internal id."""
    values = [v for v in values if v]
    if not values:
        return {}
    stones = tombstoned(lake)
    if stones.height == 0:
        return {}
    column = "nhs_number_hash" if kind == "nhs_number" else "reference_hash"
    owner = dict(zip(stones[column].to_list(), stones["participant_id"].to_list(), strict=True))
    hashed = _hashes(tombstone_key(lake), kind, values)
    return {v: owner[h] for v, h in hashed.items() if h in owner}


def open_batches(lake: Lake, now: dt.datetime) -> list[str]:
    """Tombstone every fully withdrawn participant not tombstoned yet, as one new batch;
    then make sure every batch with members has its audit row. Idempotent."""
    consent = lake.read(CONSENT_STATUS).filter(pl.col("withdrawal_state") == "full")
    stones = tombstoned(lake)
    new = consent.filter(~pl.col("participant_id").is_in(stones["participant_id"].implode()))
    if new.height:
        batch = new_batch_id()
        registry = lake.read(PARTICIPANT_REGISTRY).select(
            "participant_id", "participant_reference", "nhs_number"
        )
        rows = new.select("participant_id", "withdrawal_date").join(
            registry, on="participant_id", how="left"
        )
        key = tombstone_key(lake)
        frame = pl.DataFrame(
            {
                "participant_id": rows["participant_id"],
                "withdrawal_type": ["full"] * rows.height,
                "withdrawal_date": rows["withdrawal_date"],
                "nhs_number_hash": [
                    keyed_hash(key, "nhs_number", v) if v else None
                    for v in rows["nhs_number"].to_list()
                ],
                "reference_hash": [
                    keyed_hash(key, "reference", v) if v else None
                    for v in rows["participant_reference"].to_list()
                ],
                "batch_id": [batch] * rows.height,
                "recorded_at": [now] * rows.height,
            },
            schema=WITHDRAWAL_TOMBSTONES.schema,
        )
        _add_members(lake, batch, frame["participant_id"].to_list(), "withdrawal", now)
        lake.merge(WITHDRAWAL_TOMBSTONES, frame, ["participant_id"])
    return _open_missing_batches(lake, now)


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
        _add_members(lake, batch, todo, "redelivery", now)
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
        _open_missing_batches(lake, now)
    return batch


def members(lake: Lake, batch_id: str) -> list[str]:
    lake.ensure(WITHDRAWAL_BATCH_MEMBERS)
    rows = lake.scan(WITHDRAWAL_BATCH_MEMBERS).filter(pl.col("batch_id") == batch_id)
    return sorted(set(rows.select("participant_id").collect()["participant_id"].to_list()))


def batches(lake: Lake) -> pl.DataFrame:
    lake.ensure(WITHDRAWAL_BATCHES)
    return lake.read(WITHDRAWAL_BATCHES).sort("opened_at", "batch_id")


def mark(lake: Lake, batch_id: str, status: str, now: dt.datetime) -> None:
    row = batches(lake).filter(pl.col("batch_id") == batch_id)
    if row.height == 0:
        raise KeyError("no such withdrawal batch")
    done = now if status == "complete" else None
    updated = row.with_columns(
        pl.lit(status).alias("status"),
        pl.lit(done, dtype=pl.Datetime("us", "UTC")).alias("completed_at"),
    )
    lake.merge(WITHDRAWAL_BATCHES, updated, ["batch_id"])


def _pending_members(lake: Lake) -> dict[str, str]:
    """Members of batches not complete yet -> their (latest) batch."""
    lake.ensure(WITHDRAWAL_BATCH_MEMBERS)
    open_ids = batches(lake).filter(pl.col("status") != "complete")["batch_id"].implode()
    rows = lake.scan(WITHDRAWAL_BATCH_MEMBERS).filter(pl.col("batch_id").is_in(open_ids))
    frame = rows.select("participant_id", "batch_id").collect().sort("batch_id")
    return dict(zip(frame["participant_id"].to_list(), frame["batch_id"].to_list(), strict=True))


def _add_members(
    lake: Lake, batch: str, participant_ids: list[str], reason: str, now: dt.datetime
) -> None:
    frame = pl.DataFrame(
        {
            "batch_id": [batch] * len(participant_ids),
            "participant_id": participant_ids,
            "reason": [reason] * len(participant_ids),
            "added_at": [now] * len(participant_ids),
        },
        schema=WITHDRAWAL_BATCH_MEMBERS.schema,
    )
    lake.merge(WITHDRAWAL_BATCH_MEMBERS, frame, ["batch_id", "participant_id"])


def _open_missing_batches(lake: Lake, now: dt.datetime) -> list[str]:
    """An audit row for every batch that has members but none yet (a run that died between
    the two writes is completed here). Returns the batches opened."""
    lake.ensure(WITHDRAWAL_BATCH_MEMBERS)
    known = set(batches(lake)["batch_id"].to_list())
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
                "status": "pending",
                "completed_at": None,
            }
        )
        out.append(str(batch))
    lake.merge(
        WITHDRAWAL_BATCHES, pl.DataFrame(frames, schema=WITHDRAWAL_BATCHES.schema), ["batch_id"]
    )
    return sorted(out)


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
