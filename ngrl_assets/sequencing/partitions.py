"""Sequencing partitions: one dynamic partition per delivery (its validated delivery id)."""

import dagster as dg

DELIVERY_PARTITIONS = "sequencing_delivery"
deliveries = dg.DynamicPartitionsDefinition(name=DELIVERY_PARTITIONS)
