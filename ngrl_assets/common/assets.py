"""What every asset of the code location shares: the conventions its spec follows (owners,
kinds, zone tag and table schema, all taken from the table's catalogue declaration,
:class:`resources.tables.TableSpec`), and the whole asset graph as seen from inside a run
(releases read their inputs' checks from it; withdrawal derives what to erase from it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from resources.tables import TableSpec

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


def asset_key(table: TableSpec) -> dg.AssetKey:
    """The key of the asset that is ``table``: its declared name, under ``releases/`` for a
    release table (one asset partitioned by release id, beside the curated table of the
    same name)."""
    if table.zone == "releases":
        return dg.AssetKey(["releases", table.name])
    return dg.AssetKey(table.name)


def table_spec(
    table: TableSpec,
    *,
    group: str,
    deps: Sequence[str | dg.AssetKey | dg.AssetDep] | None = None,
    extra_kinds: set[str] | None = None,
) -> dg.AssetSpec:
    """The spec of the asset that is ``table``: key, description, zone and column schema
    all come from the declaration."""
    tags = {"ngrl/zone": table.zone}
    if table.participant_column:
        tags["ngrl/holds_participants"] = "true"
    if table.releasable:
        tags["ngrl/releasable"] = "true"
    return dg.AssetSpec(
        asset_key(table),
        description=table.description,
        group_name=group,
        owners=OWNERS,
        kinds={"delta", "polars", *(extra_kinds or set())},
        tags=tags,
        deps=list(deps or []),
        metadata={
            "dagster/column_schema": column_schema(table.schema, table.columns),
            "ngrl/zone": table.zone,
            "ngrl/table": table.key,
        },
    )


def full_asset_graph(context: dg.AssetExecutionContext) -> Any:
    """The repository's asset graph; in-process runs of a resolved job carry no
    repository, and then the job's graph is scoped to its selection while its source
    graph is the whole code location's (dagster 1.13, pinned)."""
    try:
        return context.repository_def.asset_graph
    except Exception:  # DagsterInvariantViolationError, or no repository at all
        pass
    return context.job_def.asset_layer.asset_graph._source_asset_graph  # type: ignore[attr-defined]
