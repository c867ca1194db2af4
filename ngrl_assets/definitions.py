"""The NGRL code location: every asset, check, job, sensor and resource."""

import dagster as dg

from ngrl_assets.consent.assets import consent_intake
from ngrl_assets.genomics.assets import joint_calling
from ngrl_assets.sequencing.assets import delivery_intake
from resources.lake import LakeResource
from resources.secrets import SecretsResource
from sensors.consent_feed import consent_feed_sensor
from sensors.deliveries import delivery_sensor
from sensors.joint_calling import joint_calling_sensor

ALL_ASSETS = [consent_intake, delivery_intake, joint_calling]

consent_job = dg.define_asset_job(
    "consent_intake_job",
    selection=dg.AssetSelection.assets(consent_intake),
    description="Ingest pending consent-service files into the registry and consent status.",
)
delivery_job = dg.define_asset_job(
    "delivery_intake_job",
    selection=dg.AssetSelection.assets(delivery_intake),
    description="Check and store one sequencing delivery (a dynamic partition).",
)
joint_calling_job = dg.define_asset_job(
    "joint_calling_job",
    selection=dg.AssetSelection.assets(joint_calling),
    description="Fold pending deliveries into the joint-called tables, chunk by chunk.",
)
JOBS = [consent_job, delivery_job, joint_calling_job]


def build_definitions(lake: LakeResource | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=JOBS,
        sensors=[consent_feed_sensor, delivery_sensor, joint_calling_sensor],
        resources={
            "lake": lake or LakeResource.from_env(),
            "secrets": SecretsResource.from_env(),
        },
    )


defs = build_definitions()
