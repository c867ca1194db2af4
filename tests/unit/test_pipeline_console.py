"""The demo's console shows the platform's own account: Dagster's warning that an asset
with more than 100 updated partitions falls back to the tick's timestamp (the genome
chunks, on every automation evaluation) is filtered out of the ``dagster`` logger once
``ngrl_assets.pipeline`` is loaded; other Dagster warnings still pass."""

import logging

import dagster as dg
import pytest

import ngrl_assets.pipeline  # noqa: F401  (installs the filter)

CHUNKS = dg.StaticPartitionsDefinition([f"c{i:03d}" for i in range(120)])


@dg.asset(partitions_def=CHUNKS, backfill_policy=dg.BackfillPolicy.single_run())
def chunked(context: dg.AssetExecutionContext) -> None:
    context.log.info(f"{len(context.partition_keys)} chunks")


@dg.asset(deps=[chunked], automation_condition=dg.AutomationCondition.eager())
def summary() -> None:
    pass


def test_the_partition_timestamp_fallback_warning_stays_off_the_console(
    caplog: pytest.LogCaptureFixture,
) -> None:
    defs = dg.Definitions(assets=[chunked, summary])
    with dg.instance_for_test() as instance:
        baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        job = dg.define_asset_job("chunks", selection=[chunked]).resolve(
            asset_graph=defs.resolve_asset_graph()
        )
        run = job.execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "c000",
                "dagster/asset_partition_range_end": "c119",
            },
        )
        assert run.success
        with caplog.at_level(logging.WARNING, logger="dagster"):
            result = dg.evaluate_automation_conditions(
                defs=defs, instance=instance, cursor=baseline.cursor
            )
            logging.getLogger("dagster").warning("a warning of another kind")
    assert result.get_requested_partitions(summary.key) == {None}  # the fallback ran
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "per-partition timestamp fetching" in m], messages
    assert "a warning of another kind" in messages
