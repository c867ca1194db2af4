"""Per-release pseudonyms (pure): HMAC-SHA256 of the internal id under the release's own
key. The same participant has unrelated pseudonyms in two releases (different keys), a
pseudonym reveals nothing without the key, and the map back lives only in the identity
zone (``release_pseudonyms``)."""

from __future__ import annotations

import hashlib
import hmac
import re

import polars as pl

PREFIX = {"participant": "P", "sample": "S"}
HEX_CHARS = 20  # 80 bits: collision-free far beyond 500k genomes (checked at the cut)
PATTERN = re.compile(r"^[PS][0-9A-F]{20}$")
RELEASE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")


def derive_key(master: bytes, release_id: str) -> bytes:
    """A release's key from a master secret (used when no per-release secret is set)."""
    return hmac.new(master, f"ngrl-release-key\x1f{release_id}".encode(), hashlib.sha256).digest()


def pseudonym(key: bytes, kind: str, internal_id: str) -> str:
    if len(key) < 16:
        raise ValueError("a release key must hold at least 128 bits")
    digest = hmac.new(key, f"{kind}\x1f{internal_id}".encode(), hashlib.sha256).hexdigest()
    return PREFIX[kind] + digest[:HEX_CHARS].upper()


def pseudonymise(key: bytes, kind: str, ids: pl.Series) -> pl.Series:
    """Pseudonyms of a column of internal ids (nulls stay null)."""
    return pl.Series(
        ids.name,
        [None if v is None else pseudonym(key, kind, v) for v in ids.to_list()],
        dtype=pl.String,
    )
