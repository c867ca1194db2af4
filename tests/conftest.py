"""Shared fixtures: a local lake per test, and a real S3 API (moto_server in its own
process, see docs/stack.md) for the S3 tests; and how the tests are shared out
between the xdist workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from resources.lake import Lake

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


# The default run hands whole test files to the two xdist workers (``--dist loadfile``)
# in collection order (``--no-loadscope-reorder``): these files first, heaviest first
# (measured with ``--durations``), so the last files handed out are short and neither
# worker idles at the end; the libraries of ``tests/integration/libraries.py`` are
# first built by the first two files (releases, withdrawal robustness), one per worker.
# (``--dist loadgroup`` would keep files that share a library on one worker, but
# pytest-xdist 3.8 cannot mark the groups under pytest 9.)
HEAVIEST_FIRST = [
    "tests/integration/test_releases.py",
    "tests/integration/test_withdrawal_robustness.py",
    "tests/integration/test_genomics_pipeline.py",
    "tests/integration/test_withdrawal_propagation.py",
    "tests/integration/test_synth_waves.py",
    "tests/e2e/test_ui.py",
    "tests/integration/test_expectations.py",
    "tests/integration/test_release_genomics.py",
    "tests/integration/test_catalogue.py",
    "tests/integration/test_clinical_pipeline.py",
    "tests/integration/test_release_readers.py",
    "tests/integration/test_withdrawal_landing.py",
    "tests/integration/test_withdraw_genomics.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of ``HEAVIEST_FIRST`` first, in that order; the others after them, in
    collection order (the order of tests within a file is kept)."""
    rank = {path: i for i, path in enumerate(HEAVIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(root_uri=str(tmp_path / "lake"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server in its own process (one request at a time, see s3_server.py) on a
    free loopback port for the whole session."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("s3_server.py")), "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.2)
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The standard AWS environment pointed at moto_server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    from resources import objects

    objects._client.cache_clear()
    return moto_endpoint


@pytest.fixture
def s3_lake(aws_env: str) -> Lake:
    """A lake in a fresh bucket, with the identity zone in a bucket of its own."""
    import boto3

    client = boto3.client("s3", endpoint_url=aws_env, region_name="eu-west-2")
    name = f"ngrl-{uuid.uuid4().hex[:10]}"
    for bucket in (name, name + "-identity"):
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
        )
    return Lake(
        root_uri=f"s3://{name}/lake", zone_uris={"identity": f"s3://{name}-identity/identity"}
    )
