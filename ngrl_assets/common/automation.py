"""Freshness: is a table up to date with everything upstream of it?

A table is *stale* when one of its upstream assets was materialised after it, in another
run: it was built from data that has since changed. Two places ask: the automation
condition of the derived tables (``diagnoses``), which rebuilds them, and the release
gate, which refuses to publish a stale input (``inputs_fresh``).

The caller names the assets that are consulted rather than derived from and so are not
counted as upstream (``not_upstream``; the release gate names the consent door, see
``releases.assets``).

Why not ``AutomationCondition.eager()`` alone: its trigger ``newly_missing |
any_deps_updated`` and its reset ``newly_requested | newly_updated`` are both OR
conditions, which carry no timing metadata in dagster 1.13; when a table and one of its
upstreams are both updated between two evaluations (a withdrawal run rewrote
``diagnoses``, then a new HES delivery landed), the reset wins and the table is never
rebuilt. ``REBUILD_WHEN_UPSTREAM_CHANGES`` adds a clause whose trigger (a dependency
newly updated) and reset (the table newly updated) are single timed conditions, so the
later materialisation wins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg

REBUILD_WHEN_UPSTREAM_CHANGES = (
    dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
    | (
        dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated()).since(
            dg.AutomationCondition.newly_updated()
        )
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & ~dg.AutomationCondition.execution_failed()
    ).with_label("an upstream was materialised after it")
).with_label("rebuild when upstream changes")


@dataclass(frozen=True)
class Stale:
    """``table`` was last materialised before ``upstream`` (in another run)."""

    table: str
    upstream: str
    table_at: float | None  # epoch seconds; None: never materialised
    upstream_at: float

    def describe(self) -> str:
        def when(ts: float | None) -> str:
            if ts is None:
                return "never"
            return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

        return (
            f"{self.table} (materialised {when(self.table_at)}) is older than its upstream "
            f"{self.upstream} (materialised {when(self.upstream_at)})"
        )


def is_derived(graph, key: dg.AssetKey) -> bool:  # type: ignore[no-untyped-def]
    """A table rebuilt from its upstream tables (whose condition is the one above); the
    intake tables are fresh by construction (each landed file is one run), and the
    joint-called tables keep their own record of what they absorbed."""
    return graph.has(key) and graph.get(key).automation_condition == REBUILD_WHEN_UPSTREAM_CHANGES


def upstream_closure(
    graph,  # type: ignore[no-untyped-def]
    keys: Iterable[dg.AssetKey],
    not_upstream: frozenset[dg.AssetKey] = frozenset(),
) -> list[dg.AssetKey]:
    """``keys`` and every asset upstream of them, but those in ``not_upstream``."""
    seen: set[dg.AssetKey] = set()
    todo = [k for k in keys if k not in not_upstream]
    while todo:
        key = todo.pop()
        if key in seen or not graph.has(key):
            continue
        seen.add(key)
        todo += [p for p in graph.get(key).parent_keys if p not in not_upstream]
    return sorted(seen, key=lambda k: k.to_user_string())


def stale_tables(
    instance: dg.DagsterInstance,
    graph,  # type: ignore[no-untyped-def]
    keys: Iterable[dg.AssetKey],
    not_upstream: frozenset[dg.AssetKey] = frozenset(),
) -> list[Stale]:
    """Every derived table in ``keys`` or upstream of them that is older than one of its
    own upstreams (their latest materialisation of any partition, or an event a withdrawal
    logged), ``not_upstream`` left out. Materialisations in the same run are consistent with
    each other (a withdrawal run redacts a table and what is derived from it together)."""
    derived = [k for k in upstream_closure(graph, keys, not_upstream) if is_derived(graph, k)]
    parents = {k: [p for p in graph.get(k).parent_keys if p not in not_upstream] for k in derived}
    wanted = set(derived) | {p for ps in parents.values() for p in ps}
    latest = instance.get_latest_materialization_events(list(wanted))
    out = []
    for key in derived:
        mine = latest.get(key)
        for parent in sorted(parents[key], key=lambda k: k.to_user_string()):
            theirs = latest.get(parent)
            if theirs is None:
                continue
            if mine is not None and (
                theirs.timestamp <= mine.timestamp or theirs.run_id == mine.run_id
            ):
                continue
            out.append(
                Stale(
                    key.to_user_string(),
                    parent.to_user_string(),
                    mine.timestamp if mine is not None else None,
                    theirs.timestamp,
                )
            )
    return out
