"""The deployment image installs the wheel, not the source tree: the definitions must load
from it, with the package data they read at import time (the HES field lists in
``ngrl_assets/clinical/hes_spec/``, read through importlib.resources).

Builds the wheel offline (uv with its cached hatchling; else pip with an importable
hatchling), installs it with ``--no-deps`` into a clean venv, and imports
``ngrl_assets.definitions`` there from an empty working directory. The project venv's
site-packages supplies the dependencies through PYTHONPATH, which does not process its
editable-install ``.pth``: the code can only come from the wheel."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    local = REPO / ".tools" / "bin" / "uv"
    return str(local) if local.exists() else None


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert out.returncode == 0, f"{args[:3]}: {out.stdout}\n{out.stderr}"
    return out


def _build_wheel(uv: str | None, out: Path) -> Path:
    if uv:
        _run([uv, "build", "--wheel", "--offline", "--out-dir", str(out), str(REPO)])
    elif importlib.util.find_spec("hatchling"):
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
              "-w", str(out), str(REPO)])  # fmt: skip
    else:
        pytest.fail("neither uv nor hatchling is available to build the wheel offline")
    [wheel] = out.glob("ngrl-*.whl")
    return wheel


def _clean_venv(uv: str | None, path: Path, wheel: Path) -> Path:
    if uv:
        _run([uv, "venv", "--offline", "--python", sys.executable, str(path)])
        python = path / "bin" / "python"
        _run([uv, "pip", "install", "--offline", "--no-deps", "--python", str(python), str(wheel)])
    else:
        _run([sys.executable, "-m", "venv", str(path)])
        python = path / "bin" / "python"
        _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)])
    return python


def test_the_installed_wheel_loads_the_definitions(tmp_path: Path) -> None:
    uv = _uv()
    wheel = _build_wheel(uv, tmp_path / "dist")
    python = _clean_venv(uv, tmp_path / "venv", wheel)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    env["NGRL_LAKE_URI"] = str(tmp_path / "lake")
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    probe = (
        "import ngrl_assets, ngrl_assets.definitions as d\n"
        "from ngrl_assets.clinical.sources import SOURCES\n"
        "print(ngrl_assets.__file__)\n"
        "print(len(SOURCES['hes_apc'].columns))\n"
        "print(len(list(d.defs.resolve_asset_graph().get_all_asset_keys())))\n"
    )
    out = _run([str(python), "-c", probe], cwd=cwd, env=env)
    location, apc_columns, assets = out.stdout.split()
    assert Path(location).resolve().is_relative_to((tmp_path / "venv").resolve())
    assert int(apc_columns) == 193 + 2  # the HES APC field list, then NEWNHSNO and DOB
    assert int(assets) > 0
