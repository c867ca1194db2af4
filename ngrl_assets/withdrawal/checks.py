"""The withdrawal's proof as an asset check: the residue scan of every object of every
zone found none of the batch's identifying values outside the tombstone."""

import dagster as dg

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
