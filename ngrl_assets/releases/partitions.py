"""Release partitions: one dynamic partition per release id (v1, v2, ...)."""

import dagster as dg

RELEASE_PARTITIONS = "release"
releases = dg.DynamicPartitionsDefinition(name=RELEASE_PARTITIONS)
