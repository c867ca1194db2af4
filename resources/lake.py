"""The lake: one root URI (a local folder or ``s3://bucket/prefix``) split into zones.

Each zone is a prefix under the root whose location can be overridden on its own
(production keeps ``identity/`` in its own bucket with its own KMS key). The same code
path serves local folders and S3: Delta tables go through delta-rs' object store, and
landing files through :mod:`resources.objects` (boto3 only for S3 listing and moves).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from deltalake import DeltaTable, WriterProperties

from resources import delta
from resources.predicates import Match, render
from resources.tables import TableSpec
from resources.uris import _normalise_root, is_s3, join
from resources.zones import ZONES

DEFAULT_ROOT = "./.ngrl/lake"

# Standard AWS environment passed to delta-rs when the lake is on S3.
_AWS_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ALLOW_HTTP",
)


@dataclass(frozen=True)
class Lake:
    """Knows where every zone of the lake lives and how to reach it.

    ``root_uri`` is the lake root (a folder or ``s3://bucket/prefix``); ``zone_uris`` moves
    single zones elsewhere, e.g. ``{"identity": "s3://id-bucket/x"}`` (another bucket,
    another key). A plain class: domain code takes a ``Lake``, and the Dagster definitions
    hand the same object to assets as a resource (``dg.ResourceParam[Lake]``).
    """

    root_uri: str = DEFAULT_ROOT
    zone_uris: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Lake:
        """Build from ``NGRL_LAKE_URI`` and ``NGRL_<ZONE>_URI`` environment variables."""
        overrides = {
            zone: os.environ[f"NGRL_{zone.upper()}_URI"]
            for zone in ZONES
            if os.environ.get(f"NGRL_{zone.upper()}_URI")
        }
        return cls(root_uri=os.environ.get("NGRL_LAKE_URI", DEFAULT_ROOT), zone_uris=overrides)

    def zone(self, zone: str) -> str:
        """The URI of a zone (absolute path locally, ``s3://...`` on S3)."""
        if zone not in ZONES:
            raise ValueError(f"unknown lake zone {zone!r}; zones are {', '.join(ZONES)}")
        if zone in self.zone_uris:
            return _normalise_root(self.zone_uris[zone])
        return join(_normalise_root(self.root_uri), zone)

    def uri(self, zone: str, *parts: str) -> str:
        """A URI inside a zone for plain objects (landing files, reports); Delta tables
        are reached only by their declaration (:meth:`table_uri`)."""
        return join(self.zone(zone), *parts)

    def landing(self, key: str) -> str:
        """The URI of a landing object from its key (path relative to ``landing/``)."""
        return self.uri("landing", key)

    # ---- Delta tables, by declaration -------------------------------------------------
    def table_uri(self, spec: TableSpec) -> str:
        """Where a declared table lives (tables sit directly under their zone)."""
        return join(self.zone(spec.zone), spec.folder, spec.name)

    def _opts(self, spec: TableSpec) -> dict[str, str]:
        return self.storage_options(self.table_uri(spec))

    def _layout(self, spec: TableSpec) -> delta.Layout:
        return delta.Layout(
            partition_by=list(spec.partition_by) or None,
            writer_properties=(
                None
                if spec.row_group_rows is None
                else WriterProperties(max_row_group_size=spec.row_group_rows)
            ),
            configuration=spec.configuration,
        )

    def _sorted(self, spec: TableSpec, df: pl.DataFrame) -> pl.DataFrame:
        return df.sort(list(spec.sort_by)) if spec.sort_by and df.height > 1 else df

    def exists(self, spec: TableSpec) -> bool:
        return delta.exists(self.table_uri(spec), self._opts(spec))

    def scan(self, spec: TableSpec) -> pl.LazyFrame:
        """The table as a lazy frame (an empty frame of its schema when not written yet)."""
        if not self.exists(spec):
            return spec.empty().lazy()
        return delta.scan(self.table_uri(spec), self._opts(spec))

    def read(self, spec: TableSpec) -> pl.DataFrame:
        return self.scan(spec).collect()

    def delta_table(self, spec: TableSpec) -> DeltaTable:
        """The deltalake handle (history, version, maintenance); the table must exist."""
        return delta.table(self.table_uri(spec), self._opts(spec))

    def version(self, spec: TableSpec) -> int | None:
        return self.delta_table(spec).version() if self.exists(spec) else None

    def ensure(self, spec: TableSpec) -> None:
        """Create the table empty if it does not exist yet (readers can rely on it)."""
        delta.ensure(self.table_uri(spec), spec.schema, self._opts(spec), self._layout(spec))

    def append(self, spec: TableSpec, df: pl.DataFrame) -> None:
        self._write(spec, self._sorted(spec, df), mode="append")

    def overwrite(
        self,
        spec: TableSpec,
        df: pl.DataFrame,
        commit_metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Replace the whole table in one commit (``commit_metadata``: custom entries the
        commit records, read back by :meth:`commit_metadata_values`)."""
        self._write(spec, self._sorted(spec, df), mode="overwrite", metadata=commit_metadata)

    def replace(
        self,
        spec: TableSpec,
        df: pl.DataFrame,
        where: Match,
        commit_metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Atomically replace the rows matching ``where`` (exact values) with ``df``
        (``commit_metadata`` as for :meth:`overwrite`)."""
        self._write(
            spec, self._sorted(spec, df), mode="overwrite", where=where, metadata=commit_metadata
        )

    def write_batches(
        self, spec: TableSpec, batches: Iterable[pl.DataFrame], where: Match | None = None
    ) -> None:
        """Stream batches into one commit: replace the rows matching ``where``, or the
        whole table when ``where`` is None."""
        self._write(spec, batches, mode="overwrite", where=where)

    def _write(
        self,
        spec: TableSpec,
        data: pl.DataFrame | Iterable[pl.DataFrame],
        mode: delta.WriteMode,
        where: Match | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        delta.write(
            self.table_uri(spec),
            data,
            spec.schema,
            mode=mode,
            predicate=None if where is None else render(where, spec.schema.keys()),
            storage_options=self._opts(spec),
            layout=self._layout(spec),
            commit_metadata=metadata,
        )

    def commit_metadata_values(self, spec: TableSpec, key: str) -> set[str]:
        """The values the table's commit history records under custom entry ``key``."""
        return delta.commit_metadata_values(self.table_uri(spec), key, self._opts(spec))

    def merge(
        self,
        spec: TableSpec,
        df: pl.DataFrame,
        keys: list[str],
        update_predicate: str | None = None,
    ) -> dict[str, Any]:
        """Upsert ``df`` on ``keys`` (``update_predicate``: fixed text over ``s``/``t``)."""
        for k in keys:
            render({k: []}, spec.schema.keys())  # column check
        return delta.merge(
            self.table_uri(spec),
            df,
            spec.schema,
            keys,
            self._opts(spec),
            update_predicate=update_predicate,
            layout=self._layout(spec),
        )

    def delete(self, spec: TableSpec, where: Match) -> int:
        """Delete the rows matching ``where``; the values travel as a source frame (merge),
        so the commit never records them."""
        columns = list(where)
        render(where, spec.schema.keys())  # column and value checks
        rows: list[dict[str, Any]] = [{}]
        for name in columns:
            value = where[name]
            values = [value] if isinstance(value, str | int) else list(value)  # type: ignore[arg-type]
            rows = [{**r, name: v} for r in rows for v in values]
        keys = pl.DataFrame(rows, schema={c: spec.schema[c] for c in columns})
        return self.delete_matching(spec, keys)

    def delete_matching(self, spec: TableSpec, keys: pl.DataFrame) -> int:
        """Delete every row equal on ``keys``' columns to one of its rows (merge-delete).
        When ``keys`` hold partition columns, their values also go to the merge as a
        target predicate, so it reads only those partitions (delta-rs 1.6 does not prune
        from the source's values). The commit records that predicate: partition values
        are never identifiers (``TableSpec`` refuses such a layout)."""
        for c in keys.columns:
            render({c: []}, spec.schema.keys())
        within = {  # a column with a null key is left out (IN () would match nothing)
            c: sorted(keys[c].unique().to_list())
            for c in spec.partition_by
            if c in keys.columns and keys[c].null_count() == 0
        }
        out = delta.delete_matching(
            self.table_uri(spec),
            keys,
            self._opts(spec),
            self._layout(spec).writer_properties,
            within=render(within, spec.schema.keys(), alias="t") if within else None,
        )
        return int(out.get("num_target_rows_deleted", 0))

    def storage_options(self, uri: str | None = None) -> dict[str, str]:
        """delta-rs storage options for a URI: the AWS environment on S3, nothing locally."""
        if uri is not None and not is_s3(uri):
            return {}
        opts = {k: os.environ[k] for k in _AWS_ENV if os.environ.get(k)}
        if "AWS_REGION" not in opts and "AWS_DEFAULT_REGION" in opts:
            opts["AWS_REGION"] = opts["AWS_DEFAULT_REGION"]
        endpoint = opts.get("AWS_ENDPOINT_URL", "")
        if endpoint.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
        return opts

    def describe(self) -> dict[str, str]:
        return {zone: self.zone(zone) for zone in ZONES}
