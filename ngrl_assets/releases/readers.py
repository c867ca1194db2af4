"""Small helpers for researchers reading a published release (docs/releases.md,
"Reading a release"). No Dagster, no lake resource: only polars, and duckdb for
:func:`duckdb_connect`.

- :func:`published_path` looks the release up in the registry and returns a table's path
  only if the release is published; anything else (unknown, not yet published, cut
  but stopped at the gate) raises :class:`NotPublished`.
- :func:`duckdb_connect` opens DuckDB with the Delta extension loaded from the installed
  ``duckdb-ext-delta`` wheel: DuckDB would otherwise download it at run time, which an
  offline research environment cannot do.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import duckdb

REGISTRY = "release_registry"
PUBLISHED = "published"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_EXTENSION_DIST = "duckdb-ext-delta"


class NotPublished(LookupError):
    """The release is not (or not yet) published: it must not be read."""


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def registry_path(lake_root: str) -> str:
    """Where the release registry (a Delta table) lives under a lake root."""
    return _join(str(lake_root), "releases", REGISTRY)


def published_releases(
    lake_root: str, storage_options: dict[str, str] | None = None
) -> pl.DataFrame:
    """The registry rows of published releases, oldest first."""
    registry = pl.read_delta(registry_path(lake_root), storage_options=storage_options)
    return registry.filter(pl.col("status") == PUBLISHED).sort("published_at")


def published_path(
    lake_root: str,
    release_id: str,
    table: str,
    storage_options: dict[str, str] | None = None,
) -> str:
    """The path of ``table`` of release ``release_id`` under ``lake_root`` (a local path or
    an ``s3://`` URI), after checking in the registry that the release is published.
    Raises :class:`NotPublished` otherwise, and ``ValueError`` for a malformed name."""
    for label, value in (("release id", release_id), ("table", table)):
        if not _NAME.match(value) or ".." in value:
            raise ValueError(f"not a valid {label}: {value!r}")
    rows = published_releases(lake_root, storage_options).filter(pl.col("release_id") == release_id)
    if rows.height == 0:
        raise NotPublished(f"release {release_id} is not published in the registry")
    return _join(str(lake_root), "releases", release_id, table)


def delta_extension_path() -> str:
    """The Delta extension binary shipped by the installed ``duckdb-ext-delta`` wheel for
    this duckdb version and platform."""
    import duckdb

    platform = duckdb.sql("PRAGMA platform").fetchone()
    wanted = f"v{duckdb.__version__}/{platform[0] if platform else ''}/delta.duckdb_extension"
    dist = md.distribution(_EXTENSION_DIST)
    for file in dist.files or ():
        if str(file).endswith(wanted):
            return str(Path(str(dist.locate_file(file))).resolve())
    need = f"duckdb=={duckdb.__version__}"
    raise FileNotFoundError(f"{_EXTENSION_DIST} has no {wanted}: install its build for {need}")


def duckdb_connect(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with ``delta_scan`` available, offline (no extension download)."""
    import duckdb

    con = duckdb.connect(database, config={"autoinstall_known_extensions": "false"})
    path = delta_extension_path().replace("'", "''")
    con.execute(f"LOAD '{path}'")
    return con
