"""The NGRL code location: every asset, check, job, sensor and resource."""

from __future__ import annotations

import dagster as dg

from ngrl_assets.consent.assets import consent_intake
from resources.lake import LakeResource
from resources.secrets import SecretsResource
from sensors.consent_feed import consent_feed_sensor

ALL_ASSETS = [consent_intake]

ngrl_all_job = dg.define_asset_job(
    "ngrl_all",
    selection=dg.AssetSelection.all(),
    description="Materialise every asset of the library from what is in landing.",
)


def build_definitions(lake: LakeResource | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=[ngrl_all_job],
        sensors=[consent_feed_sensor],
        resources={
            "lake": lake or LakeResource.from_env(),
            "secrets": SecretsResource.from_env(),
        },
    )


defs = build_definitions()
