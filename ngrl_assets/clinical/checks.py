"""Standalone asset checks on the curated clinical tables (checks evaluated with each
intake run are declared on the intake assets)."""

import dagster as dg

CHECKS: list[dg.AssetChecksDefinition] = []
