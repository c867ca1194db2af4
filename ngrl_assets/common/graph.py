"""The code location's whole asset graph from inside a run (releases read their inputs'
checks from it; withdrawal derives what to erase from it)."""

from __future__ import annotations

from typing import Any

import dagster as dg


def full_asset_graph(context: dg.AssetExecutionContext) -> Any:
    """The repository's asset graph; in-process runs of a resolved job carry no
    repository, and then the job's graph is scoped to its selection while its source
    graph is the whole code location's (dagster 1.13, pinned)."""
    try:
        return context.repository_def.asset_graph
    except Exception:  # DagsterInvariantViolationError, or no repository at all
        pass
    return context.job_def.asset_layer.asset_graph._source_asset_graph  # type: ignore[attr-defined]
