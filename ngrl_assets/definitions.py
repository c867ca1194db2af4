"""The NGRL code location: every asset, check, job, sensor and resource. Each domain
(consent, sequencing, genomics, clinical) wires its own assets, checks, jobs and sensors;
this file only gathers them, and hands the release cut what it takes from the domains
above releases (the release suites, the withdrawal step)."""

import dagster as dg

from ngrl_assets.clinical import assets as clinical_assets
from ngrl_assets.clinical import checks as clinical_checks
from ngrl_assets.clinical import jobs as clinical_jobs
from ngrl_assets.consent import assets as consent_assets
from ngrl_assets.consent import jobs as consent_jobs
from ngrl_assets.genomics import assets as genomics_assets
from ngrl_assets.genomics import jobs as genomics_jobs
from ngrl_assets.genomics.batches import SampleBatching
from ngrl_assets.quality import checks as quality_checks
from ngrl_assets.releases import assets as release_assets
from ngrl_assets.releases import jobs as release_jobs
from ngrl_assets.sequencing import assets as sequencing_assets
from ngrl_assets.sequencing import jobs as sequencing_jobs
from ngrl_assets.withdrawal import assets as withdrawal_assets
from ngrl_assets.withdrawal import checks as withdrawal_checks
from ngrl_assets.withdrawal import jobs as withdrawal_jobs
from ngrl_assets.withdrawal import releases as withdrawal_releases
from resources.clinical_feeds import ClinicalFeeds
from resources.lake import Lake
from resources.secrets import Secrets
from sensors import ALL_SENSORS

RELEASE_CUT = release_assets.build_release_tables(
    quality_checks.ReleaseExpectations,
    quality_checks.release_check_specs(),
    withdrawal_releases.apply_to_cut,
)
ALL_ASSETS = [
    *consent_assets.ASSETS,
    *sequencing_assets.ASSETS,
    *genomics_assets.ASSETS,
    *clinical_assets.ASSETS,
    RELEASE_CUT,
    *withdrawal_assets.ASSETS,
]
ALL_CHECKS = [
    *clinical_checks.CHECKS,
    *withdrawal_checks.CHECKS,
    *quality_checks.build_checks(ALL_ASSETS),
]
JOBS = [
    *consent_jobs.JOBS,
    *sequencing_jobs.JOBS,
    *genomics_jobs.JOBS,
    *clinical_jobs.JOBS,
    *release_jobs.JOBS,
    *withdrawal_jobs.JOBS,
]


def build_definitions(
    lake: Lake | None = None,
    clinical: ClinicalFeeds | None = None,
    batching: SampleBatching | None = None,
) -> dg.Definitions:
    """The code location: every domain's assets, checks, jobs and sensors, and the three
    resources they use. The lake, the clinical feeds' delivery modes, the secrets and the
    sample batching are
    plain objects built from the environment (``NGRL_*``); each is wrapped once as a Dagster
    resource, so every job of the location binds the same definition."""
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=JOBS,
        sensors=ALL_SENSORS,
        resources={
            name: dg.ResourceDefinition.hardcoded_resource(value)
            for name, value in {
                "lake": lake or Lake.from_env(),
                "clinical": clinical or ClinicalFeeds.from_env(),
                "secrets": Secrets.from_env(),
                "sample_batching": batching or SampleBatching.from_env(),
            }.items()
        },
    )


defs = build_definitions()
