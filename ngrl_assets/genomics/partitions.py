"""Genomics partitions: one static partition per GRCh38 genome chunk."""

import dagster as dg

from ngrl_assets.genomics.chunks import chunk_names

genome_chunks = dg.StaticPartitionsDefinition(chunk_names())
