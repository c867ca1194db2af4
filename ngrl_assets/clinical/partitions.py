"""Clinical partitions: per source, one dynamic partition per delivery file."""

import dagster as dg

from ngrl_assets.clinical.sources import SOURCES, ClinicalSource


def partitions_name(source: ClinicalSource) -> str:
    return f"{source.name}_delivery"


PARTITIONS = {
    name: dg.DynamicPartitionsDefinition(name=partitions_name(s)) for name, s in SOURCES.items()
}
