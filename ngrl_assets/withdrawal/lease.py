"""One withdrawal at a time, whatever runs it: an exclusive lease object in the audit zone
(``audit/locks/withdrawal.lease``), created by a conditional write (S3 ``If-None-Match``,
locally ``O_EXCL``) and held for a whole propagation or release redaction.

Two propagations read, subtract and write back the same aggregates; without the lease
the later write silently drops the earlier one's subtraction (measured: two batches in
two processes left the first batch's sites in ``variant_sites``). The Dagster pool
``withdrawal`` serialises runs of one instance; the lease also covers a second instance,
the CLI and a release cut. The lease names its holder (a batch id or ``cut-<release>``,
never a participant) and the process holding it (:mod:`.liveness`: host, pid, start
time). A lease whose process is gone (on this host) is taken over at once: by a rerun of
the same holder, or by another holder; a rerun of the same holder from another host
takes it over too (the sensor starts a rerun only once the earlier run is dead); any
other lease is broken once older than ``STALE_S``. A live holder's lease is waited for.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ngrl_assets.common import liveness
from resources import objects
from resources.lake import Lake

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
    lake: Lake, holder: str, wait_s: float = WAIT_S, stale_s: float = STALE_S
) -> Iterator[None]:
    uri = lake.uri("audit", *LEASE)
    token = secrets.token_hex(8)
    body = json.dumps(
        {
            "holder": holder,
            "token": token,
            "since": dt.datetime.now(dt.UTC).isoformat(),
            "worker": str(liveness.current()),
        }
    ).encode()
    deadline = time.monotonic() + wait_s
    while not objects.create_exclusive(uri, body):
        current = _read(uri)
        if current is not None and _breakable(current, holder, stale_s):
            again = _read(uri)  # still that lease (not one another breaker just took)?
            if again is not None and again.get("token") == current.get("token"):
                objects.delete(uri)  # a dead process's lease, or an abandoned one
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


def _breakable(current: dict[str, str], holder: str, stale_s: float) -> bool:
    """Whether a lease found in place may be deleted (see the module docstring)."""
    worker = liveness.Worker.parse(current.get("worker"))
    state = liveness.alive(worker) if worker else None
    if state is False:
        return True  # its process is gone
    if current.get("holder") == holder and state is None:
        return True  # our own earlier attempt, elsewhere (or from before workers were named)
    since = dt.datetime.fromisoformat(current.get("since", "1970-01-01T00:00:00+00:00"))
    return (dt.datetime.now(dt.UTC) - since).total_seconds() > stale_s
