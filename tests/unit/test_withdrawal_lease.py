"""The withdrawal lease: one holder at a time, locally and on S3 (conditional create); a
lease whose process is gone is taken over at once, a stale one is broken, a live one is
waited for; and the process liveness it rests on."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from ngrl_assets.common import liveness
from ngrl_assets.withdrawal import lease
from resources import objects
from resources.lake import Lake


def _exclusive_and_waits(lake: Lake) -> None:
    uri = lake.uri("audit", *lease.LEASE)
    assert objects.create_exclusive(uri, b"a") is True
    assert objects.create_exclusive(uri, b"b") is False  # the second create is refused
    assert objects.read_bytes(uri) == b"a"
    objects.delete(uri)

    order: list[str] = []
    with lease.held(lake, "wd-aaaaaaaaaaaa"):

        def second() -> None:
            with lease.held(lake, "wd-bbbbbbbbbbbb", wait_s=30):
                order.append("second")

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(1.5)
        order.append("first done")
    thread.join(timeout=30)
    assert order == ["first done", "second"]  # the second waited for the first
    assert not objects.exists(uri)  # released


def test_the_lease_is_exclusive_locally(lake):
    _exclusive_and_waits(lake)


@pytest.mark.s3
def test_the_lease_is_exclusive_on_s3(s3_lake):
    _exclusive_and_waits(s3_lake)


def _lease(holder: str, worker: str, since: str = "") -> bytes:
    since = since or dt.datetime.now(dt.UTC).isoformat()
    return json.dumps({"holder": holder, "token": "x", "since": since, "worker": worker}).encode()


def _dead_worker() -> str:
    """A process of this host that has exited (and been reaped)."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return f"{socket.gethostname()}/{int(child.stdout)}/gone"


def test_a_dead_process_lease_is_taken_over_and_a_live_one_times_out(lake):
    uri = lake.uri("audit", *lease.LEASE)
    # a dead attempt of the same batch left its lease: the rerun takes it over at once
    objects.create_exclusive(uri, _lease("wd-aaaaaaaaaaaa", _dead_worker()))
    with lease.held(lake, "wd-aaaaaaaaaaaa", wait_s=1):
        assert b'"token": "x"' not in objects.read_bytes(uri)
    # so does another holder (a killed propagation never blocks the next batch for an hour)
    objects.create_exclusive(uri, _lease("wd-cccccccccccc", _dead_worker()))
    with lease.held(lake, "cut-v2", wait_s=1):
        assert b"cut-v2" in objects.read_bytes(uri)
    # a live holder's lease is waited for, then given up (the run fails, the sensor
    # retries): another holder's, and the same holder's (`ngrl withdrawal propagate` while
    # the sensor's run of that batch is alive)
    for second in ("cut-v2", "wd-aaaaaaaaaaaa"):
        with (
            lease.held(lake, "wd-aaaaaaaaaaaa"),
            pytest.raises(lease.LeaseTimeout),
            lease.held(lake, second, wait_s=1),
        ):
            pass
    assert not objects.exists(uri)
    # the same holder's lease from another host: its earlier attempt (the sensor reruns a
    # batch only once the earlier run is dead); another holder's there waits ...
    objects.create_exclusive(uri, _lease("wd-aaaaaaaaaaaa", "elsewhere/1/x"))
    with pytest.raises(lease.LeaseTimeout), lease.held(lake, "cut-v2", wait_s=1):
        pass
    with lease.held(lake, "wd-aaaaaaaaaaaa", wait_s=1):
        assert b"elsewhere" not in objects.read_bytes(uri)
    # ... until it is abandoned (older than the stale age), or names no process at all
    for worker in ("elsewhere/1/x", ""):
        old = _lease("wd-cccccccccccc", worker, "2020-01-01T00:00:00+00:00")
        objects.create_exclusive(uri, old)
        with lease.held(lake, "cut-v2", wait_s=1):
            assert b"cut-v2" in objects.read_bytes(uri)
    assert not objects.exists(uri)


def test_a_worker_is_alive_until_its_process_is_gone():
    me = liveness.current()
    assert liveness.alive(me) is True
    assert liveness.Worker.parse(str(me)) == me
    assert me.started  # /proc tells when this process started
    # the same pid with another start time is a later process: the worker is gone
    assert liveness.alive(liveness.Worker(me.host, me.pid, "other-1")) is False
    assert liveness.alive(liveness.Worker.parse(_dead_worker())) is False
    # a killed child not yet reaped (a zombie) is gone too
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    worker = liveness.Worker(me.host, child.pid, "")
    assert liveness.alive(worker) is True
    child.kill()
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped
    assert liveness.alive(worker) is False
    child.wait()
    # another host cannot be told
    assert liveness.alive(liveness.Worker("elsewhere", me.pid, me.started)) is None
    assert liveness.Worker.parse("no worker") is None and liveness.Worker.parse(None) is None
