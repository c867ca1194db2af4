"""The withdrawal's checks on ``withdrawal_audit``: the residue scan of every object of
every zone found none of the batch's identifying values outside the tombstone (blocking,
part of each propagation); and no withdrawal batch is overdue (``withdrawals_on_time``:
recorded by the withdrawal sensor whenever its verdict changes, and after each
propagation; executable on its own from the UI)."""

import datetime as dt

import dagster as dg

from ngrl_assets.withdrawal import batches, runs
from resources.lake import Lake

RESIDUE_CHECK = "residue_scan_clean"

CHECK_SPECS = [
    dg.AssetCheckSpec(
        RESIDUE_CHECK,
        asset="withdrawal_audit",
        blocking=True,
        description=(
            "every object under every zone (data files, old files, Delta logs and "
            "checkpoints, landing, quarantine, reports, old S3 versions) was read and none "
            "of the batch's internal ids, references, NHS numbers, sample ids or release "
            "pseudonyms was found outside the tombstone"
        ),
    )
]


@dg.asset_check(
    asset="withdrawal_audit",
    name=runs.ON_TIME_CHECK,
    description=(
        "no withdrawal batch is overdue: every incomplete batch is younger than its "
        "deadline (24 h) and has a live propagation run (or is waiting for its first); a "
        "batch whose run died, failed or never started is overdue (`ngrl withdrawal list`)"
    ),
)
def withdrawals_on_time(
    context: dg.AssetCheckExecutionContext, lake: dg.ResourceParam[Lake]
) -> dg.AssetCheckResult:
    states = runs.progress_by_batch(context.instance, batches.read(lake), dt.datetime.now(dt.UTC))
    return runs.on_time(states)


CHECKS = [withdrawals_on_time]
