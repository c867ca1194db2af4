"""Helpers shared by the integration tests: fill a lake's landing zone, read tables."""

import shutil
from pathlib import Path

import polars as pl

from resources import objects
from resources.lake import Lake, is_s3


def put_landing(lake: Lake, source: Path, only: str = "") -> None:
    """Copy a synthetic landing folder (or one sub-folder of it) into the lake."""
    target = lake.zone("landing")
    src = source / only if only else source
    dest = f"{target}/{only}" if only else target
    if is_s3(target):
        list(objects.upload_tree(src, dest))
    else:
        shutil.copytree(src, dest, dirs_exist_ok=True)


def read(lake: Lake, zone: str, name: str) -> pl.DataFrame:
    """A catalogue table, read the way the code reads it (by its declaration)."""
    from ngrl_assets import catalogue

    spec = catalogue.get(name)
    assert spec.zone == zone, f"{name} lives in {spec.zone}, not {zone}"
    return lake.read(spec)
