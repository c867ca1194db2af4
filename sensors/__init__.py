"""Every sensor of the code location. Each domain keeps its own landing sensors
(``ngrl_assets/<domain>/sensors.py``, which refer to partitions, jobs and asset keys, never
to asset bodies); what is cross-domain lives here."""

import dagster as dg

from ngrl_assets.clinical.sensors import CLINICAL_SENSORS
from ngrl_assets.consent.sensors import consent_feed_sensor
from ngrl_assets.genomics.sensors import joint_calling_sensor
from ngrl_assets.sequencing.sensors import delivery_sensor
from ngrl_assets.withdrawal.sensors import withdrawal_sensor

# Assets with an AutomationCondition (diagnoses, and the standalone checks that follow
# consent_status) are requested by this one sensor.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Run what an automation condition asks for (diagnoses after a clinical "
    "table changes; consent checks after consent_status changes).",
)

# Landing sensors in the order the demo evaluates them (consent first: linkage needs it).
LANDING_SENSORS: list[dg.SensorDefinition] = [
    consent_feed_sensor,
    withdrawal_sensor,  # right after consent: a withdrawal is erased before more lands
    delivery_sensor,
    joint_calling_sensor,
    *CLINICAL_SENSORS,
]

ALL_SENSORS: list[dg.SensorDefinition] = [*LANDING_SENSORS, automation_sensor]
