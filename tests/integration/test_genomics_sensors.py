"""Delivery and joint-calling sensors on a real Dagster instance: each new delivery becomes
one partition and one run; pending deliveries trigger one joint-calling run (it plans its
work units)."""

import datetime as dt

import dagster as dg
import polars as pl

from ngrl_assets.genomics.joint_store import GENOME
from ngrl_assets.genomics.sensors import joint_calling_sensor
from ngrl_assets.genomics.tables import JOINT_CALL_INCREMENTS, RAW_SEQUENCES
from ngrl_assets.sequencing.partitions import DELIVERY_PARTITIONS
from ngrl_assets.sequencing.sensors import delivery_sensor
from resources import objects

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def test_each_new_delivery_is_registered_and_requested_once(lake):
    with dg.instance_for_test() as instance:

        def tick():
            ctx = dg.build_sensor_context(instance=instance, resources={"lake": lake})
            return delivery_sensor(ctx)

        assert not tick().run_requests
        # gVCFs arriving before the manifest are not a delivery yet
        objects.write_bytes(lake.uri("landing", "sequencing/D1/gvcf/a.g.vcf.gz"), b"x")
        assert not tick().run_requests
        objects.write_bytes(lake.uri("landing", "sequencing/D1/manifest.tsv"), b"sample_id\n")
        result = tick()
        assert [r.partition_key for r in result.run_requests] == ["D1"]
        assert result.dynamic_partitions_requests[0].partition_keys == ["D1"]
        instance.add_dynamic_partitions(DELIVERY_PARTITIONS, ["D1"])  # what the daemon does
        assert not tick().run_requests
        objects.write_bytes(lake.uri("landing", "sequencing/D2/manifest.tsv"), b"sample_id\n")
        assert [r.partition_key for r in tick().run_requests] == ["D2"]


def raw_row(delivery: str, verdict: str) -> dict:
    row = dict.fromkeys(RAW_SEQUENCES.schema)
    row.update(
        delivery=delivery,
        sample_id=f"S-{delivery}",
        participant_id=f"p{delivery}",
        qc_verdict=verdict,
        ingested_at=NOW,
    )
    return row


def test_joint_calling_is_requested_once_per_pending_set(lake):
    rows = [raw_row("D1", "pass"), raw_row("D2", "fail_qc")]
    lake.append(RAW_SEQUENCES, pl.DataFrame(rows, schema=RAW_SEQUENCES.schema))
    with dg.instance_for_test() as instance:

        def tick(cursor):
            ctx = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"lake": lake}
            )
            return joint_calling_sensor(ctx)

        first = tick(None)
        assert len(first.run_requests) == 1
        # one unpartitioned run: it plans its own work units over every chunk
        request = first.run_requests[0]
        assert request.partition_key is None and not request.tags
        assert not tick(first.cursor).run_requests  # requested already
        marker = {
            "chunk": GENOME,
            "increment": "inc-x",
            "delivery": "D1",
            "samples": 1,
            "new_sites": 0,
            "created_at": NOW,
        }
        lake.append(
            JOINT_CALL_INCREMENTS, pl.DataFrame([marker], schema=JOINT_CALL_INCREMENTS.schema)
        )
        assert not tick(first.cursor).run_requests  # D1 folded in; D2 failed QC
        lake.append(
            RAW_SEQUENCES, pl.DataFrame([raw_row("D3", "pass")], schema=RAW_SEQUENCES.schema)
        )
        assert len(tick(first.cursor).run_requests) == 1
