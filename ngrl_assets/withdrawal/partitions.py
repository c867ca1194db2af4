"""Withdrawal partitions: one dynamic partition per opaque withdrawal batch (wd-...); a
batch id names no participant, so it may appear in partition keys, run keys and tags."""

import dagster as dg

WITHDRAWAL_BATCH_PARTITIONS = "withdrawal_batch"
withdrawal_batches = dg.DynamicPartitionsDefinition(name=WITHDRAWAL_BATCH_PARTITIONS)
