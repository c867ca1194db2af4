"""Asset checks of the delivery assets, evaluated inside the ``delivery_intake`` run right
after its writes (``CHECK_SPECS`` are the multi-asset's ``check_specs``).

- ``samples_reconcile_with_ledger`` (on raw_sequences): for each delivery, the samples
  stored (raw_sequences rows not quarantined) plus the delivery's quarantine records equal
  the manifest rows the landing ledger recorded, and the accepted and quarantined counts
  agree with the ledger's; a manifest quarantined as a whole has no raw_sequences rows.
- ``sample_rows_match_raw_sequences`` (on sample_variant_calls): every accepted sample's
  stored call and block rows are exactly the counts raw_sequences recorded for it, and no
  per-sample row belongs to a participant the delivery did not accept (a run that died
  half-way, or rows written twice, fail it).

Metadata carries counts and (validated) delivery ids only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg
import polars as pl

from ngrl_assets.common.assets import asset_key
from ngrl_assets.common.ledger import LEDGER, LedgerStatus
from ngrl_assets.common.quarantine import QUARANTINE
from ngrl_assets.genomics.tables import (
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    QcVerdict,
)
from ngrl_assets.sequencing.intake import FEED, manifest_key, valid_delivery_id
from ngrl_assets.sequencing.manifest import FILE_NAME
from resources.lake import Lake

RECONCILE = "samples_reconcile_with_ledger"
SAMPLE_ROWS = "sample_rows_match_raw_sequences"

CHECK_SPECS = [
    dg.AssetCheckSpec(
        RECONCILE,
        asset=asset_key(RAW_SEQUENCES),
        description="raw_sequences samples + quarantine records = manifest rows in the "
        "landing ledger, for each delivery (accepted and quarantined counts agree)",
    ),
    dg.AssetCheckSpec(
        SAMPLE_ROWS,
        asset=asset_key(SAMPLE_VARIANT_CALLS),
        description="each accepted sample's call and block rows equal the counts "
        "raw_sequences recorded; no rows of a sample the delivery did not accept",
    ),
]


def _latest_ledger(lake: Lake, deliveries: Sequence[str]) -> dict[str, dict[str, Any]]:
    keys = {manifest_key(d): d for d in deliveries}
    rows = (
        lake.scan(LEDGER)
        .filter((pl.col("feed") == FEED) & pl.col("landing_key").is_in(list(keys)))
        .sort("processed_at")
        .collect()
    )
    return {keys[r["landing_key"]]: r for r in rows.iter_rows(named=True)}  # latest wins


def reconcile_with_ledger(lake: Lake, deliveries: Sequence[str] | None = None) -> dict[str, str]:
    """Deliveries that do not reconcile -> why (``deliveries`` None: every delivery in
    raw_sequences or in the ledger)."""
    raw = lake.scan(RAW_SEQUENCES)
    quarantine = lake.scan(QUARANTINE).filter(pl.col("feed") == FEED)
    if deliveries is None:
        found = set(raw.select("delivery").unique().collect()["delivery"].to_list())
        ledger_keys = (
            lake.scan(LEDGER).filter(pl.col("feed") == FEED).select("landing_key").collect()
        )
        for key in ledger_keys["landing_key"].to_list():
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == FILE_NAME:
                found.add(parts[1])
        deliveries = sorted(d for d in found if valid_delivery_id(d))
    wanted = list(deliveries)
    counts = (
        raw.filter(pl.col("delivery").is_in(wanted))
        .group_by("delivery")
        .agg(
            pl.len().alias("raw"),
            (pl.col("qc_verdict") != QcVerdict.QUARANTINED).sum().alias("accepted"),
            (pl.col("qc_verdict") == QcVerdict.QUARANTINED).sum().alias("raw_quarantined"),
        )
        .collect()
    )
    by_raw = {r["delivery"]: r for r in counts.iter_rows(named=True)}
    q = (
        quarantine.filter(pl.col("batch").is_in(wanted))
        .group_by("batch")
        .agg(pl.len().alias("n"))
        .collect()
    )
    by_q = dict(zip(q["batch"].to_list(), q["n"].to_list(), strict=True))
    entries = _latest_ledger(lake, wanted)
    problems: dict[str, str] = {}
    for d in wanted:
        r = by_raw.get(d, {"raw": 0, "accepted": 0, "raw_quarantined": 0})
        n_q = by_q.get(d, 0)
        e = entries.get(d)
        if e is None:
            problems[d] = "no landing-ledger entry for the delivery's manifest"
        elif e["status"] == LedgerStatus.QUARANTINED:
            if r["raw"] or not n_q or e["rows_accepted"]:
                problems[d] = "manifest quarantined as a whole but samples were stored"
        elif r["accepted"] + n_q != e["rows_in"]:
            problems[d] = (
                f"{r['accepted']} stored + {n_q} quarantined != {e['rows_in']} manifest rows"
            )
        elif r["accepted"] != e["rows_accepted"] or n_q != e["rows_quarantined"]:
            problems[d] = "accepted/quarantined counts differ from the ledger"
        elif r["raw_quarantined"] > n_q:
            problems[d] = "more quarantined samples than quarantine records"
    return problems


def sample_rows_mismatch(lake: Lake, deliveries: Sequence[str]) -> dict[str, str]:
    """Deliveries whose per-sample tables disagree with raw_sequences -> why."""
    wanted = list(deliveries)
    expected = (
        lake.scan(RAW_SEQUENCES)
        .filter(pl.col("delivery").is_in(wanted) & (pl.col("qc_verdict") != QcVerdict.QUARANTINED))
        .select("delivery", "participant_id", "variant_rows", "block_rows")
        .collect()
    )
    problems: dict[str, str] = {}
    tables = ((SAMPLE_VARIANT_CALLS, "variant_rows"), (SAMPLE_REFERENCE_BLOCKS, "block_rows"))
    for spec, column in tables:
        stored = (
            lake.scan(spec)
            .filter(pl.col("delivery").is_in(wanted))
            .group_by("delivery", "participant_id")
            .agg(pl.len().alias("stored"))
            .collect()
        )
        joined = expected.join(stored, on=["delivery", "participant_id"], how="full", coalesce=True)
        bad = joined.filter(pl.col("stored").fill_null(0) != pl.col(column).fill_null(0))
        for d in sorted(set(bad["delivery"].to_list())):
            problems.setdefault(d, f"{spec.name} rows differ from raw_sequences.{column}")
    return problems


def evaluate(lake: Lake, deliveries: Sequence[str]) -> list[dg.AssetCheckResult]:
    """Both checks over ``deliveries`` (the run's own delivery, inside the asset)."""
    out = []
    for name, asset, problems in (
        (RECONCILE, asset_key(RAW_SEQUENCES), reconcile_with_ledger(lake, deliveries)),
        (SAMPLE_ROWS, asset_key(SAMPLE_VARIANT_CALLS), sample_rows_mismatch(lake, deliveries)),
    ):
        out.append(
            dg.AssetCheckResult(
                asset_key=asset,
                check_name=name,
                passed=not problems,
                metadata={
                    "deliveries_checked": len(deliveries),
                    "failing_deliveries": sorted(problems),
                    "reasons": sorted(set(problems.values())),
                },
            )
        )
    return out
