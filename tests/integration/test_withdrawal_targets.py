"""Withdrawal targets come from the asset graph and the catalogue, not a list: every asset
downstream of consent that holds participants (rows to erase) or aggregates them (shares
to recompute), releases included; a table asset added later is covered at once."""

import dagster as dg
import polars as pl

from ngrl_assets.common.assets import table_spec
from ngrl_assets.definitions import ALL_ASSETS, defs
from ngrl_assets.withdrawal.targets import erasure_targets
from resources.tables import TableSpec


def test_every_participant_table_downstream_of_consent_is_a_target():
    targets = {t.asset_key: t for t in erasure_targets(defs.resolve_asset_graph())}
    rows = {k for k, t in targets.items() if t.kind == "rows"}
    assert {
        "consent_status",
        "raw_sequences",
        "sample_variant_calls",
        "sample_reference_blocks",
        "joint_genotypes",
        "hes_apc",
        "diagnoses",
        "releases/participant",
        "releases/joint_genotypes",
    } <= rows
    assert targets["variant_sites"].kind == "aggregate"
    assert targets["releases/variant_sites"].per_release
    assert "participant_registry" not in targets  # identity: tombstoned, not re-materialised
    order = list(targets)
    assert order.index("sample_variant_calls") < order.index("joint_genotypes")
    assert order.index("joint_genotypes") < order.index("releases/joint_genotypes")


def test_a_table_added_later_downstream_of_consent_is_covered_the_day_it_is_added():
    dummy = TableSpec(
        zone="curated",
        name="dummy_research_flags",
        description="A new table a later issue might add: one flag per participant.",
        schema={"participant_id": pl.String, "flag": pl.Boolean},
        columns={"participant_id": "opaque internal participant id", "flag": "a flag"},
        written_by=("dummy_research_flags",),
        participant_column="participant_id",
    )

    @dg.multi_asset(specs=[table_spec(dummy, group="dummy", deps=["hes_apc"])])
    def dummy_asset():
        return None

    graph = dg.Definitions(
        assets=[*ALL_ASSETS, dummy_asset], resources=dict(defs.resources)
    ).resolve_asset_graph()
    from ngrl_assets import catalogue

    targets = erasure_targets(graph, [*catalogue.TABLES, dummy])
    found = [t for t in targets if t.asset_key == "dummy_research_flags"]
    assert found and found[0].kind == "rows" and found[0].table is dummy
