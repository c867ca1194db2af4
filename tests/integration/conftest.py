"""Shared fixtures of the integration tests: synthetic libraries built once per session
(``libraries``) and a test's own copy of one (``copy_library``); see ``libraries.py``.
A built library is shared by every test of the session: read it, never write it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pytest

from resources.lake import Lake
from tests.integration.libraries import Built, Libraries, Library
from tests.integration.release_runs import KEY_ENV


@pytest.fixture(scope="session")
def libraries(tmp_path_factory: pytest.TempPathFactory) -> Libraries:
    """The session's library factory. Under xdist each worker has its own base temp
    folder inside the session's; the libraries live beside them, shared."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return Libraries(shared / "ngrl-libraries")


@pytest.fixture
def copy_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Built]]:
    """``copy_library(library)``: the test's own copy (lake and instance storage) with its
    instance open until the test ends, and the release master key set."""
    for name, value in KEY_ENV.items():
        monkeypatch.setenv(name, value)
    with ExitStack() as stack:

        def copy(library: Library, name: str = "copy") -> Built:
            root = tmp_path / name
            shutil.copytree(library.root, root)
            instance = stack.enter_context(dg.instance_for_test(temp_dir=str(root / "dagster")))
            return Built(Lake(root_uri=str(root / "lake")), instance, root)

        yield copy
