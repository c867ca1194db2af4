"""A table declaration: everything the platform knows about one Delta table, in one place.

Plain data (no Dagster, nothing of ``ngrl_assets``): the domains declare their tables with
it, ``ngrl_assets.catalogue`` collects them, and the lake resource reads and writes by it.
The declaration decides the table's location (zone + name), its schema, column
descriptions, partition columns, sort order, which column holds the participant, which
columns are identifiers that never get Delta statistics, and whether it may be released.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from resources.zones import TABLE_ZONES

Schema = Mapping[str, pl.DataType | type[pl.DataType]]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class TableSpec:
    """One Delta table of the lake.

    ``participant_column`` names the column that holds the opaque internal participant id
    (erasure and release selection go through it); ``identifier_columns`` are direct
    identifiers or references (NHS number, names, dates of birth, postcodes, consent-service
    references, sample ids, landing keys naming a sample) that must never carry min/max
    statistics in the Delta log. ``landing_columns`` hold landing keys, so a row can be
    traced back to the landing object it came from; a table written from landing without
    such a column names in ``traced_via`` the table that holds its rows' landing keys (the
    per-sample tables -> ``raw_sequences``). ``from_landing`` marks tables written straight
    from landing objects. ``written_by`` lists the Dagster asset keys whose
    materialisations write the table.
    """

    zone: str
    name: str
    description: str
    schema: Schema
    columns: Mapping[str, str]
    written_by: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    sort_by: tuple[str, ...] = ()
    participant_column: str | None = None
    identifier_columns: tuple[str, ...] = ()
    landing_columns: tuple[str, ...] = ()
    traced_via: str | None = None
    from_landing: bool = False
    releasable: bool = False
    withheld_columns: tuple[str, ...] = ()
    row_group_rows: int | None = None
    folder: str = ""  # a sub-folder of the zone (a release's tables sit under its id)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.zone not in TABLE_ZONES:
            raise ValueError(f"{self.name}: unknown zone {self.zone!r}")
        if self.folder and not _FOLDER.match(self.folder):
            raise ValueError(f"{self.name}: folder {self.folder!r} must match {_FOLDER.pattern}")
        if not _NAME.match(self.name):
            raise ValueError(f"table name {self.name!r} must be lower-case snake case")
        names = list(self.schema)
        undocumented = [c for c in names if not self.columns.get(c)]
        if undocumented:
            raise ValueError(f"{self.name}: columns without a description: {undocumented}")
        unknown = [c for c in self.columns if c not in self.schema]
        if unknown:
            raise ValueError(f"{self.name}: descriptions of unknown columns: {unknown}")
        for label, cols in (
            ("partition_by", self.partition_by),
            ("sort_by", self.sort_by),
            ("identifier_columns", self.identifier_columns),
            ("landing_columns", self.landing_columns),
            ("participant_column", (self.participant_column,) if self.participant_column else ()),
        ):
            missing = [c for c in cols if c not in self.schema]
            if missing:
                raise ValueError(f"{self.name}: {label} names unknown columns {missing}")
        if set(self.partition_by) & (set(self.identifier_columns) | {self.participant_column}):
            # Remove actions carry partition values: the log would keep the identifier.
            raise ValueError(f"{self.name}: never partition by an identifier or participant")
        if self.from_landing and not (self.landing_columns or self.traced_via):
            raise ValueError(f"{self.name}: rows from landing must be traceable to their object")
        if self.releasable and self.zone != "curated":
            raise ValueError(f"{self.name}: only curated tables may be released")
        unknown_withheld = [c for c in self.withheld_columns if c not in self.schema]
        if unknown_withheld:
            raise ValueError(f"{self.name}: withheld_columns names unknown {unknown_withheld}")

    @property
    def stats_columns(self) -> tuple[str, ...]:
        """Columns that get min/max statistics: every column but the identifiers.

        ``participant_id`` keeps its statistics on purpose: ids are opaque random values,
        the genomic tables are sorted by them, and statistics let erasure find the few
        files holding one participant instead of scanning every file. Erasure must then
        purge the log (checkpoint + metadata cleanup), because add actions of files it
        rewrote may carry the erased id as a bound (docs/architecture.md).
        """
        return tuple(c for c in self.schema if c not in self.identifier_columns)

    @property
    def release_columns(self) -> tuple[str, ...]:
        """Columns that may appear (pseudonymised where they hold the participant) in a
        release: none unless the table is releasable; never an identifier, a landing key
        or a withheld column."""
        if not self.releasable:
            return ()
        hidden = {*self.identifier_columns, *self.landing_columns, *self.withheld_columns}
        return tuple(c for c in self.schema if c not in hidden)

    @property
    def configuration(self) -> dict[str, str]:
        """Delta table properties every write sets."""
        return {"delta.dataSkippingStatsColumns": ",".join(self.stats_columns)}

    @property
    def key(self) -> str:
        return "/".join(p for p in (self.zone, self.folder, self.name) if p)

    def in_folder(self, folder: str) -> TableSpec:
        """The same table under a sub-folder of its zone (e.g. one release's copy)."""
        return dataclasses.replace(self, folder=folder)

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=dict(self.schema))
