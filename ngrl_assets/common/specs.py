"""Conventions every asset spec follows: owners, kinds, zone tag and table schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import polars as pl

OWNERS = ["team:data-platform"]


def _type_name(dtype: Any) -> str:
    return str(dtype() if isinstance(dtype, type) else dtype).lower()


def column_schema(schema: Mapping[str, Any], descriptions: Mapping[str, str]) -> dg.TableSchema:
    """A Dagster table schema from a polars schema; every column must be described."""
    undocumented = [c for c in schema if c not in descriptions]
    if undocumented:
        raise ValueError(f"columns without a description: {undocumented}")
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, _type_name(dtype), description=descriptions[name])
            for name, dtype in schema.items()
        ]
    )


def table_spec(
    key: str,
    *,
    zone: str,
    group: str,
    description: str,
    schema: Mapping[str, Any],
    columns: Mapping[str, str],
    deps: list[str] | list[dg.AssetDep] | None = None,
    extra_kinds: set[str] | None = None,
) -> dg.AssetSpec:
    """The spec of an asset stored as a Delta table in a lake zone."""
    return dg.AssetSpec(
        key,
        description=description,
        group_name=group,
        owners=OWNERS,
        kinds={"delta", "polars", *(extra_kinds or set())},
        tags={"ngrl/zone": zone},
        deps=deps or [],
        metadata={"dagster/column_schema": column_schema(schema, columns), "ngrl/zone": zone},
    )


def df_schema(df: pl.DataFrame) -> dict[str, Any]:
    return dict(df.schema)
