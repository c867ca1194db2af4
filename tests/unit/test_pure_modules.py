"""Domain logic imports no Dagster: every module that is not a wiring module is pure.

The set of pure modules is derived from the code, never listed by hand: a module is wiring
when its name says what Dagster does with it (:data:`WIRING_NAMES`: ``assets``, ``checks``,
``sensors``, ``jobs``, ``partitions``, ``automation``, ``runs``, and the code location's
entry points ``definitions``, ``pipeline`` and ``cli``) or it is the top-level ``sensors``
package; every other module of the four root packages must not reach Dagster, directly or
through another module (so a pure module importing a wiring module is caught too).
Imports made only for type checking do not count. ``docs/architecture.md`` states the rule.
"""

from __future__ import annotations

import grimp
import pytest

ROOTS = ("ngrl_assets", "resources", "sensors", "expectations")
WIRING_NAMES = frozenset(
    {"assets", "checks", "sensors", "jobs", "partitions", "automation", "runs"}
    | {"definitions", "pipeline", "cli"}
)


def is_wiring(module: str) -> bool:
    return module == "sensors" or module.rsplit(".", 1)[-1] in WIRING_NAMES


def is_dagster(module: str) -> bool:
    top = module.split(".", 1)[0]
    return top == "dagster" or top.startswith("dagster_")


def impure_modules(graph: grimp.ImportGraph) -> dict[str, list[str]]:
    """Each non-wiring module of the roots that reaches Dagster, with the import chain."""
    dagster = sorted(m for m in graph.modules if is_dagster(m))
    found: dict[str, list[str]] = {}
    for module in sorted(graph.modules):
        if module.split(".", 1)[0] not in ROOTS or is_wiring(module):
            continue
        for target in dagster:
            chain = graph.find_shortest_chain(importer=module, imported=target)
            if chain:
                found[module] = list(chain)
                break
    return found


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        *ROOTS, include_external_packages=True, exclude_type_checking_imports=True
    )


def test_every_module_that_is_not_wiring_imports_no_dagster(graph: grimp.ImportGraph) -> None:
    found = impure_modules(graph)
    assert not found, "\n".join(f"{m}: {' -> '.join(c)}" for m, c in found.items())


def test_the_rule_covers_the_domain_modules(graph: grimp.ImportGraph) -> None:
    pure = {m for m in graph.modules if m.split(".", 1)[0] in ROOTS and not is_wiring(m)}
    # the domain logic the contract exists for is among the derived pure modules
    assert {"ngrl_assets.genomics.joint", "resources.lake", "expectations.suites"} <= pure
    assert len(pure) > 80


def test_a_pure_module_reaching_dagster_through_a_wiring_module_is_found() -> None:
    graph = grimp.ImportGraph()
    for module in ("ngrl_assets.x.cohort", "ngrl_assets.x.assets", "ngrl_assets.x.tables"):
        graph.add_module(module)
    graph.add_module("dagster", is_squashed=True)
    graph.add_import(importer="ngrl_assets.x.assets", imported="dagster")
    graph.add_import(importer="ngrl_assets.x.cohort", imported="ngrl_assets.x.assets")
    assert impure_modules(graph) == {
        "ngrl_assets.x.cohort": ["ngrl_assets.x.cohort", "ngrl_assets.x.assets", "dagster"]
    }
