"""The withdrawal lease: one holder at a time, locally and on S3 (conditional create), a
holder's rerun takes over its own dead lease, a stale lease is broken, a live one waits."""

from __future__ import annotations

import threading
import time

import pytest

from ngrl_assets.withdrawal import lease
from resources import objects
from resources.lake import LakeResource


def _exclusive_and_waits(lake: LakeResource) -> None:
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


def test_a_rerun_takes_over_its_own_lease_and_a_live_one_times_out(lake):
    uri = lake.uri("audit", *lease.LEASE)
    # a dead attempt of the same batch left its lease: the rerun takes it over
    with lease.held(lake, "wd-aaaaaaaaaaaa"), lease.held(lake, "wd-aaaaaaaaaaaa", wait_s=1):
        assert objects.exists(uri)
    # another holder's live lease: wait, then give up (the run fails, the sensor retries)
    with (
        lease.held(lake, "wd-aaaaaaaaaaaa"),
        pytest.raises(lease.LeaseTimeout),
        lease.held(lake, "cut-v2", wait_s=1),
    ):
        pass
    # an abandoned lease (older than the stale age) is broken
    objects.create_exclusive(
        uri, b'{"holder": "wd-cccccccccccc", "token": "x", "since": "2020-01-01T00:00:00+00:00"}'
    )
    with lease.held(lake, "cut-v2", wait_s=1):
        assert b"cut-v2" in objects.read_bytes(uri)
    assert not objects.exists(uri)
