"""Tombstones (identity zone; no Dagster).

When consent intake records a full withdrawal, the participant gets a tombstone (internal
id, withdrawal date and type, keyed hashes of NHS number and reference) and joins a new
opaque withdrawal batch (``withdrawal.batches``: the batch id is the only name the rest of
the platform uses for the withdrawal). A later re-delivery of a tombstoned participant's
data (a registration, a gVCF, an extract row) is recognised by the keyed hashes,
quarantined ``participant_withdrawn`` and puts the participant in a ``redelivery`` batch,
whose run purges the re-delivered object.

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
from collections.abc import Iterable

import polars as pl

from ngrl_assets.consent.tables import CONSENT_STATUS, PARTICIPANT_REGISTRY, WITHDRAWAL_TOMBSTONES
from ngrl_assets.withdrawal import batches as withdrawal_batches
from resources import objects
from resources.lake import Lake
from resources.secrets import SecretNotFound, Secrets

KEY_OBJECT = ("keys", "tombstone.key")


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


def tombstone_new_withdrawals(lake: Lake, now: dt.datetime) -> list[str]:
    """Tombstone every fully withdrawn participant not tombstoned yet, as one new withdrawal
    batch; then make sure every batch with members has its row. Idempotent. Returns the
    batches opened."""
    consent = lake.read(CONSENT_STATUS).filter(pl.col("withdrawal_state") == "full")
    stones = tombstoned(lake)
    new = consent.filter(~pl.col("participant_id").is_in(stones["participant_id"].implode()))
    if new.height:
        batch = withdrawal_batches.new_batch_id()
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
        reason = withdrawal_batches.BatchReason.WITHDRAWAL
        withdrawal_batches.add_members(lake, batch, frame["participant_id"].to_list(), reason, now)
        lake.merge(WITHDRAWAL_TOMBSTONES, frame, ["participant_id"])
    return withdrawal_batches.open_missing(lake, now)
