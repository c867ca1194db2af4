"""One withdrawal at a time, whatever runs it: an exclusive lease object in the audit zone
(``audit/locks/withdrawal.lease``), created by a conditional write (S3 ``If-None-Match``,
locally ``O_EXCL``) and held for a whole propagation or release redaction.

Two propagations read, subtract and write back the same aggregates; without the lease
the later write silently drops the earlier one's subtraction (measured: two batches in
two processes left the first batch's sites in ``variant_sites``). The Dagster pool
``withdrawal`` serialises runs of one instance; the lease also covers a second instance,
the CLI and a release cut. The lease names its holder (a batch id or ``cut-<release>``,
never a participant). A rerun of the same holder takes over its own lease (its earlier
attempt died; the sensor never runs a batch twice at once); another holder's lease older
than ``STALE_S`` is broken.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from resources import objects

if TYPE_CHECKING:
    from resources.lake import LakeResource

LEASE = ("locks", "withdrawal.lease")
WAIT_S = 900.0
STALE_S = 3600.0
POLL_S = 0.5


class LeaseTimeout(RuntimeError):
    """Another withdrawal held the lease for longer than the wait."""


def _read(uri: str) -> dict[str, str] | None:
    try:
        parsed = json.loads(objects.read_bytes(uri))
    except Exception:  # gone meanwhile, or half-written
        return None
    return parsed if isinstance(parsed, dict) else None


@contextmanager
def held(
    lake: LakeResource, holder: str, wait_s: float = WAIT_S, stale_s: float = STALE_S
) -> Iterator[None]:
    uri = lake.uri("audit", *LEASE)
    token = secrets.token_hex(8)
    body = json.dumps(
        {"holder": holder, "token": token, "since": dt.datetime.now(dt.UTC).isoformat()}
    ).encode()
    deadline = time.monotonic() + wait_s
    while not objects.create_exclusive(uri, body):
        current = _read(uri)
        if current is not None:
            since = dt.datetime.fromisoformat(current.get("since", "1970-01-01T00:00:00+00:00"))
            age = (dt.datetime.now(dt.UTC) - since).total_seconds()
            if current.get("holder") == holder or age > stale_s:
                objects.delete(uri)  # our own dead attempt, or an abandoned lease
                continue
        if time.monotonic() > deadline:
            raise LeaseTimeout(f"{holder}: another withdrawal holds the lease; retry later")
        time.sleep(POLL_S)
    try:
        yield
    finally:
        current = _read(uri)
        if current is not None and current.get("token") == token:
            objects.delete(uri)
