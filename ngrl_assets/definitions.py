"""The NGRL code location: every asset, check, job, sensor and resource."""

import dagster as dg

from ngrl_assets.clinical.assets import EXTRACT_ASSETS, diagnoses_build
from ngrl_assets.clinical.sources import SOURCES
from ngrl_assets.consent.assets import consent_intake
from ngrl_assets.genomics.assets import joint_calling
from ngrl_assets.sequencing.assets import delivery_intake
from resources.clinical_feeds import ClinicalFeedsResource
from resources.lake import LakeResource
from resources.secrets import SecretsResource
from sensors.clinical import CLINICAL_SENSORS
from sensors.consent_feed import consent_feed_sensor
from sensors.deliveries import delivery_sensor
from sensors.joint_calling import joint_calling_sensor

ALL_ASSETS = [consent_intake, delivery_intake, joint_calling, *EXTRACT_ASSETS, diagnoses_build]

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
clinical_jobs = [
    dg.define_asset_job(
        f"{source.name}_intake_job",
        selection=dg.AssetSelection.assets(source.table),
        description=f"Link, check and curate one {source.name} delivery (a dynamic partition).",
    )
    for source in SOURCES.values()
]
diagnoses_job = dg.define_asset_job(
    "diagnoses_job",
    selection=dg.AssetSelection.assets(diagnoses_build),
    description="Rebuild the long diagnoses table from the curated clinical tables.",
)
JOBS = [consent_job, delivery_job, joint_calling_job, *clinical_jobs, diagnoses_job]

clinical_automation = dg.AutomationConditionSensorDefinition(
    "clinical_automation_sensor",
    target=dg.AssetSelection.assets(diagnoses_build),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuild diagnoses once any curated clinical table has changed.",
)


def build_definitions(
    lake: LakeResource | None = None, clinical: ClinicalFeedsResource | None = None
) -> dg.Definitions:
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=JOBS,
        sensors=[
            consent_feed_sensor,
            delivery_sensor,
            joint_calling_sensor,
            *CLINICAL_SENSORS,
            clinical_automation,
        ],
        resources={
            "lake": lake or LakeResource.from_env(),
            "clinical": clinical or ClinicalFeedsResource.from_env(),
            "secrets": SecretsResource.from_env(),
        },
    )


defs = build_definitions()
