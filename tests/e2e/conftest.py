"""Browser tests: a small demo library built by the real sensors on a persistent Dagster
instance (with one curated table tampered with, so one asset check fails), the real
``dagster-webserver`` serving it, and Debian's Chromium driven by Playwright.

Fixtures, shared by the browser tests of a module (one build, one webserver):

- ``demo_lake``: the built library (:class:`DemoLake`);
- ``ui``: the running webserver (:class:`UI`: base URL, lake, lake root);
- ``browser_page``: a fresh Playwright page (own context) in the shared Chromium.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (installed
by ``infra/setup/install-debian-packages.sh``); without it the tests skip."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from ngrl_assets.clinical.tables import EXTRACTS
from ngrl_assets.definitions import build_definitions
from ngrl_assets.pipeline import QUIET, run_all
from ngrl_assets.synth import generate_cohort
from resources.lake import Lake
from tests.integration.lakes import put_landing

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# what this closed-network machine needs (we run as root: no sandbox)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NUX_DISMISSED = "window.localStorage.setItem('communityNux', JSON.stringify('1'))"
SCREENSHOTS = REPO / "docs" / "img"
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
TIMEOUT_MS = 30_000  # default for every locator wait and navigation
STARTUP_S = 90  # webserver up and code location loaded (2 cores, a cold import)

# the tampered table: one forged row under a delivery the landing ledger never processed,
# which the standalone ``ledger_reconciled`` check reports
CORRUPTED_ASSET = "hes_op"
FAILED_CHECK = "ledger_reconciled"
FORGED_DELIVERY = "hes_op_20200101.txt"


@dataclass(frozen=True)
class DemoLake:
    root: Path  # lake root (NGRL_LAKE_URI)
    home: Path  # DAGSTER_HOME
    lake: Lake
    corrupted_asset: str
    failed_check: str


@dataclass(frozen=True)
class UI:
    base_url: str  # http://127.0.0.1:<port>, no trailing slash
    lake: Lake
    lake_root: Path
    demo: DemoLake

    def url(self, path: str) -> str:
        return self.base_url + path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def corrupt(lake: Lake) -> None:
    """Append a copy of one curated row under a delivery file the ledger never processed
    (a fresh record key, so only the reconciliation can notice)."""
    spec = EXTRACTS[CORRUPTED_ASSET]
    table = lake.read(spec)
    assert table.height, f"the demo lake has no {CORRUPTED_ASSET} rows to copy"
    forged = table.head(1).with_columns(
        pl.lit(FORGED_DELIVERY).alias("delivery"), pl.lit(10**15).alias("attendkey")
    )
    lake.append(spec, forged)


def run_check(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """The tampered table's standalone check, run on its own (as the UI's "Execute" does)."""
    job = dg.define_asset_job(
        "ledger_check",
        selection=dg.AssetSelection.checks(
            dg.AssetCheckKey(dg.AssetKey(CORRUPTED_ASSET), FAILED_CHECK)
        ),
    ).resolve(asset_graph=defs.resolve_asset_graph(), resource_defs=defs.resources)
    return job.execute_in_process(run_config=QUIET, instance=instance, raise_on_error=False)


def build_demo_lake(base: Path, participants: int = 20, seed: int = 41) -> DemoLake:
    """Synthesise a cohort, run it through every sensor on a persistent instance in
    ``base/dagster``, then tamper with one curated table and run its check (it fails)."""
    source = base / "landing"
    generate_cohort(source, participants=participants, seed=seed, defect_rate=0.02, batch_size=10)
    root = base / "lake"
    lake = Lake(root_uri=str(root))
    put_landing(lake, source)
    home = base / "dagster"
    home.mkdir(parents=True)
    shutil.copy(REPO / "infra" / "dagster" / "dagster.yaml", home / "dagster.yaml")
    defs = build_definitions(lake)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = run_all(defs, lake, instance)
        assert result.success, result.failures()
        corrupt(lake)
        run = run_check(defs, instance)
        [evaluation] = run.get_asset_check_evaluations()
        assert evaluation.check_name == FAILED_CHECK
        assert evaluation.passed is False, evaluation.metadata
    return DemoLake(
        root=root, home=home, lake=lake, corrupted_asset=CORRUPTED_ASSET, failed_check=FAILED_CHECK
    )


def webserver_env(demo: DemoLake) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NGRL_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(demo.home),
        NGRL_LAKE_URI=str(demo.root),
        DAGSTER_DISABLE_TELEMETRY="1",
        GX_ANALYTICS_ENABLED="false",
    )
    return env


LOCATION_STATUS = json.dumps(
    {
        "query": "{ workspaceOrError { ... on Workspace { locationEntries {"
        " name loadStatus locationOrLoadError { __typename } } } } }"
    }
)


def _location_loaded(base_url: str) -> bool:
    """The code location has finished loading (and loaded without error)."""
    req = urllib.request.Request(
        base_url + "/graphql",
        data=LOCATION_STATUS.encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        entries = json.load(resp)["data"]["workspaceOrError"]["locationEntries"]
    if not entries or any(e["loadStatus"] != "LOADED" for e in entries):
        return False
    errors = [e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
    if errors:
        raise RuntimeError(f"code location failed to load: {errors}")
    return True


def start_webserver(demo: DemoLake, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``dagster-webserver`` on a free loopback port; returns once ``/server_info``
    answers and the code location has loaded."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    exe = Path(sys.executable).with_name("dagster-webserver")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=webserver_env(demo),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + STARTUP_S
    up = False
    try:
        while True:
            try:
                if not up:
                    urllib.request.urlopen(base_url + "/server_info", timeout=2).read()
                    up = True
                if _location_loaded(base_url):
                    return proc, base_url
            except (OSError, ValueError, KeyError):
                pass  # not listening yet, or still loading
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dagster-webserver did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
    except BaseException:
        stop(proc)
        raise


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# Module scope, not session: Playwright's sync API runs an event loop in the main thread
# while a browser is open, and the Delta and Dagster code of later tests calls
# asyncio.run(), which refuses to start inside a running loop.
@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> DemoLake:
    return build_demo_lake(tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="module")
def ui(demo_lake: DemoLake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    """The webserver over the demo library, for the module's tests."""
    log = tmp_path_factory.mktemp("webserver") / "webserver.log"
    proc, base_url = start_webserver(demo_lake, log)
    try:
        yield UI(base_url=base_url, lake=demo_lake.lake, lake_root=demo_lake.root, demo=demo_lake)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (infra/setup/install-debian-packages.sh installs it)")
    expect.set_options(timeout=TIMEOUT_MS)

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def browser_page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own context (no state shared between tests)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    # the UI's "Join the Dagster community" dialog (shown on localhost) covers the page
    # until dismissed; it remembers a dismissal in localStorage
    context.add_init_script(NUX_DISMISSED)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot for the docs (docs/img/<name>.png, overwritten every run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
