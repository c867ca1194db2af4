"""Dagster wiring for withdrawal: one run per opaque withdrawal batch (a dynamic
partition) propagates it (``withdrawal.propagate``) and re-materialises, as events, every
asset it redacted; the residue scan is its blocking check."""

import dagster as dg

from ngrl_assets.common.assets import asset_key, full_asset_graph, table_spec
from ngrl_assets.consent.tables import CONSENT_STATUS
from ngrl_assets.withdrawal import checks, propagate, runs
from ngrl_assets.withdrawal.partitions import withdrawal_batches
from ngrl_assets.withdrawal.tables import WITHDRAWAL_AUDIT
from ngrl_assets.withdrawal.targets import erasure_targets
from resources.lake import Lake

GROUP = "withdrawal"

withdrawal_audit_spec = table_spec(WITHDRAWAL_AUDIT, group=GROUP, deps=[asset_key(CONSENT_STATUS)])


@dg.multi_asset(
    name="withdrawal_propagation",
    specs=[withdrawal_audit_spec],
    check_specs=checks.CHECK_SPECS,
    partitions_def=withdrawal_batches,
    pool="withdrawal",
)
def withdrawal_propagation(context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake]):
    """Erase one withdrawal batch's participants from every table and live release,
    purge their landing objects, keep only their tombstones, and prove it."""
    runs.tag_worker(context)  # first: a run killed from here on is found dead and resumed
    batch = context.partition_key
    targets = erasure_targets(full_asset_graph(context))
    try:
        result = propagate.propagate(lake, batch, targets)
    except propagate.ResidueFound as exc:
        yield dg.MaterializeResult(
            asset_key="withdrawal_audit",
            metadata={"complete": False},
            check_results=[_check(False, exc.findings_count, exc.objects_scanned)],
        )
        raise dg.Failure(description=str(exc)) from exc
    # a materialization only where something changed: an event for an untouched (or not
    # yet built) table would tell the automation conditions it is up to date
    by_asset: dict[str, int] = {}
    for target in targets:
        if target.per_release:
            continue
        rows = result.rows_removed.get(target.table.key, 0)
        if rows or target.table.key in result.aggregates_changed:
            by_asset[target.asset_key] = by_asset.get(target.asset_key, 0) + rows
    for name, rows in by_asset.items():
        context.log_event(
            dg.AssetMaterialization(
                asset_key=dg.AssetKey.from_user_string(name),
                description=f"redacted by withdrawal batch {batch}",
                metadata={"ngrl/withdrawal_batch": batch, "rows_removed": rows},
            )
        )
    release_assets = sorted({t.asset_key for t in targets if t.per_release})
    for release_id in result.releases_redacted:
        for name in release_assets:
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=dg.AssetKey.from_user_string(name),
                    partition=release_id,
                    description=f"release {release_id} redacted by withdrawal batch {batch}",
                    metadata={"ngrl/withdrawal_batch": batch},
                )
            )
    context.log.info(
        f"withdrawal batch {batch}: {result.members} participant(s); "
        f"{len(result.tables_redacted)} tables and {len(result.releases_redacted)} releases "
        f"redacted; residue scan of {result.objects_scanned} objects clean; "
        f"{result.seconds:.1f} s"
    )
    yield dg.MaterializeResult(
        asset_key="withdrawal_audit",
        metadata={
            "complete": result.completed,
            "members": result.members,
            "tables_redacted": len(result.tables_redacted),
            "rows_removed": sum(result.rows_removed.values()),
            "releases_redacted": len(result.releases_redacted),
            "objects_scanned": result.objects_scanned,
            "seconds": round(result.seconds, 2),
            "report": dg.MetadataValue.md(f"`ngrl withdrawal report {batch}`"),
        },
        check_results=[_check(True, 0, result.objects_scanned)],
    )


def _check(passed: bool, findings: int, scanned: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=checks.RESIDUE_CHECK,
        asset_key="withdrawal_audit",
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"findings": findings, "objects_scanned": scanned},
    )


ASSETS = [withdrawal_propagation]
