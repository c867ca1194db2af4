"""Synthetic libraries for the integration tests, built once per session and copied
(the fixtures ``libraries`` and ``copy_library`` of ``tests/integration/conftest.py``).

A library is a synthetic landing zone (``generate_cohort`` with a :class:`Scenario`'s
parameters) taken in by every sensor (``run_all``) on a persistent Dagster instance, with
release v1 cut and published if the scenario says so. Building one takes minutes, so:

- ``libraries`` (session) builds each distinct scenario once per test session: the first
  xdist worker that asks builds it under a file lock in a folder both workers share, the
  other waits and reuses it (a scenario with a cut starts from a copy of the same scenario
  without one, so both cost one build);
- ``copy_library`` (per test) gives a test that writes its own copy of a built library:
  the lake folder and the Dagster instance storage, opened as a test instance, with the
  release master key of ``release_runs.KEY_ENV`` in the environment.

A built library itself is shared by every test of the session: read it, never write it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import pytest
from filelock import FileLock

from ngrl_assets.definitions import build_definitions
from ngrl_assets.pipeline import run_all
from ngrl_assets.synth import generate_cohort
from resources.lake import Lake
from tests.integration.lakes import put_landing
from tests.integration.release_runs import FREEZE, KEY_ENV, cut_in_dagster, failure_text

BUILT = "built.txt"  # written last: the library is complete (holds the build's seconds)
FAILED = "failed.txt"  # the build failed: the other worker reports it without rebuilding


@dataclass(frozen=True)
class Scenario:
    """One synthetic library: the generator's parameters, and the label of release v1 if
    it is cut (at ``FREEZE``, with ``KEY_ENV``) after the sensors have run."""

    participants: int
    seed: int
    defect_rate: float
    batch_size: int
    release_label: str | None = None

    @property
    def name(self) -> str:
        base = f"p{self.participants}-s{self.seed}-d{self.defect_rate}-b{self.batch_size}"
        return base if self.release_label is None else f"{base}-v1-{self.release_label or 'x'}"

    def without_release(self) -> Scenario:
        return Scenario(self.participants, self.seed, self.defect_rate, self.batch_size)

    def with_release(self, label: str = "") -> Scenario:
        return Scenario(self.participants, self.seed, self.defect_rate, self.batch_size, label)


# The libraries the integration tests share, each built once per session. Tests that only
# need "a library" use one of these rather than a scenario of their own.
RELEASE_LIBRARY = Scenario(participants=60, seed=13, defect_rate=0.02, batch_size=30)
"""Release cuts (``test_releases``) and, with v1 cut, the documented readers."""
SMALL_LIBRARY = Scenario(participants=30, seed=29, defect_rate=0.02, batch_size=15)
"""The expectation suites and, with v1 cut, withdrawal propagation and its robustness."""


@dataclass(frozen=True)
class Library:
    """A built library: ``root`` holds ``lake/`` and ``dagster/`` (the instance storage);
    ``source`` is the synthetic landing folder it was built from."""

    root: Path
    source: Path

    @property
    def lake_root(self) -> Path:
        return self.root / "lake"

    @property
    def home(self) -> Path:
        return self.root / "dagster"

    def lake(self) -> Lake:
        return Lake(root_uri=str(self.lake_root))


class Built(NamedTuple):
    """A test's own copy of a library: its lake, its open instance, its root folder."""

    lake: Lake
    instance: dg.DagsterInstance
    root: Path


class Libraries:
    """Builds each scenario once into ``folder`` (shared by the session's workers)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, scenario: Scenario) -> Library:
        where = self.folder / scenario.name
        with FileLock(str(where) + ".lock"):
            if (where / FAILED).exists():
                pytest.fail(f"building {scenario.name} failed: {(where / FAILED).read_text()}")
            if not (where / BUILT).exists():
                shutil.rmtree(where, ignore_errors=True)
                where.mkdir(parents=True)
                started = time.monotonic()
                try:
                    self._build(scenario, where)
                except BaseException as exc:
                    (where / FAILED).write_text(f"{type(exc).__name__}: {exc}"[:4000])
                    raise
                (where / BUILT).write_text(f"{time.monotonic() - started:.1f}\n")
        return Library(where / "library", where / "source")

    def _build(self, scenario: Scenario, where: Path) -> None:
        root = where / "library"
        if scenario.release_label is None:
            generate_cohort(
                where / "source",
                participants=scenario.participants,
                seed=scenario.seed,
                defect_rate=scenario.defect_rate,
                batch_size=scenario.batch_size,
            )
            build_library(where / "source", root)
            return
        base = self.get(scenario.without_release())
        shutil.copytree(base.source, where / "source")
        shutil.copytree(base.root, root)
        with pytest.MonkeyPatch.context() as mp:
            for name, value in KEY_ENV.items():
                mp.setenv(name, value)
            lake = Lake(root_uri=str(root / "lake"))
            with dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
                cut_v1(lake, instance, scenario.release_label)


def build_library(source: Path, root: Path, release_label: str | None = None) -> Lake:
    """The landing folder ``source`` taken in by every sensor into ``root/lake``, on an
    instance stored in ``root/dagster``; then release v1 cut if ``release_label`` is not
    None (the release master key must be in the environment)."""
    lake = Lake(root_uri=str(root / "lake"))
    put_landing(lake, source)
    (root / "dagster").mkdir(parents=True)
    with dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
        result = run_all(build_definitions(lake), lake, instance)
        assert result.success, result.failures()
        if release_label is not None:
            cut_v1(lake, instance, release_label)
    return lake


def cut_v1(lake: Lake, instance: dg.DagsterInstance, label: str) -> None:
    """Release v1 cut at ``FREEZE`` and published."""
    run = cut_in_dagster(lake, instance, "v1", FREEZE, label=label)
    assert run.success, failure_text(run)
