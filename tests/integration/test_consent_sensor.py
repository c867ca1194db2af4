"""The consent feed sensor requests exactly one intake per new feed file, on a real
Dagster instance, and the run it requests ingests the file."""

import dagster as dg

from ngrl_assets.consent.sensors import consent_feed_sensor
from ngrl_assets.consent.tables import PARTICIPANT_REGISTRY
from resources import objects
from tests.integration.consent_runs import consent_definitions

HEADER = (
    "participant_reference,nhs_number,forename,surname,date_of_birth,postcode,sex,programme,"
    "consent_category,research_discussed,research_agreed,consent_date,life_status,date_of_death,"
    "record_date\n"
)
ROW1 = (
    "P1,9434765919,Ann,Smith,1980-01-02,LS1 4AP,F,gms,adult,true,true,2020-01-01,alive,,"
    "2020-01-02\n"
)
ROW2 = (
    "P2,4010232137,Bo,Jones,1990-05-06,M1 1AA,M,gms,adult,true,true,2021-01-01,alive,,2021-01-02\n"
)


def tick(lake, instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake})
    result = consent_feed_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result.run_requests or [], result.cursor


def test_new_feed_file_is_picked_up_exactly_once(lake):
    job = consent_definitions(lake).resolve_job_def("consent_intake_job")
    with dg.instance_for_test() as instance:
        requests, cursor = tick(lake, instance, None)
        assert requests == []

        objects.write_bytes(
            lake.uri("landing", "consent/registrations/registrations_20260101.csv"),
            (HEADER + ROW1).encode(),
        )
        objects.write_bytes(lake.uri("landing", "consent/registrations/_partial.csv"), b"ignored")
        requests, cursor = tick(lake, instance, cursor)
        assert len(requests) == 1
        assert requests[0].tags["ngrl/new_files"] == "1"
        # a tick before the run has finished requests nothing more
        assert tick(lake, instance, cursor)[0] == []

        assert job.execute_in_process(instance=instance).success
        assert tick(lake, instance, cursor)[0] == []

        objects.write_bytes(
            lake.uri("landing", "consent/registrations/registrations_20260201.csv"),
            (HEADER + ROW2).encode(),
        )
        requests, cursor = tick(lake, instance, cursor)
        assert len(requests) == 1
        assert requests[0].tags["ngrl/new_files"] == "1"
        assert job.execute_in_process(instance=instance).success
        assert tick(lake, instance, cursor)[0] == []

    refs = lake.read(PARTICIPANT_REGISTRY)["participant_reference"]
    assert sorted(refs) == ["P1", "P2"]
