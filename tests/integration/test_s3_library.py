"""The platform on a real S3 API (moto_server in its own process): one 16-participant
library taken in by every sensor into S3 buckets (the identity zone in a bucket of its
own), built once for this file; sequencing intake and joint calling are checked against
the synthetic truth, then release v1 is cut and published on it (tables, manifest, notes
and registry all on S3)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import pytest

from ngrl_assets.consent.tables import RELEASE_PSEUDONYMS
from ngrl_assets.definitions import build_definitions
from ngrl_assets.pipeline import run_all
from ngrl_assets.releases import registry
from ngrl_assets.releases.tables import PARTICIPANT
from ngrl_assets.synth import generate_cohort
from resources import objects
from resources.lake import Lake
from tests.integration.lakes import put_landing, read
from tests.integration.release_runs import KEY_ENV, cut_in_dagster, failure_text
from tests.integration.sequencing_support import erased_lines, fully_withdrawn, sequencing_truth

pytestmark = pytest.mark.s3


class S3Library(NamedTuple):
    lake: Lake
    instance: dg.DagsterInstance
    landing: Path
    truth: dict


@pytest.fixture(scope="module")
def s3_library(moto_endpoint: str, tmp_path_factory) -> Iterator[S3Library]:
    """Built once through the real sensors on its own buckets, its instance open for the
    module (the cut's gate reads what the sensors' runs recorded)."""
    import boto3

    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "eu-west-2",
            "AWS_DEFAULT_REGION": "eu-west-2",
            "AWS_ALLOW_HTTP": "true",
            **KEY_ENV,
        }.items():
            mp.setenv(name, value)
        objects._client.cache_clear()
        client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="eu-west-2")
        bucket = f"ngrl-{uuid.uuid4().hex[:10]}"
        for name in (bucket, bucket + "-identity"):
            client.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
            )
        lake = Lake(
            root_uri=f"s3://{bucket}/lake",
            zone_uris={"identity": f"s3://{bucket}-identity/identity"},
        )
        landing = tmp_path_factory.mktemp("s3_landing")
        truth = generate_cohort(landing, participants=16, seed=3, defect_rate=0.0, batch_size=8)
        put_landing(lake, landing)
        with dg.instance_for_test() as instance:
            result = run_all(build_definitions(lake), lake, instance)
            assert result.success, result.failures()
            yield S3Library(lake, instance, landing, truth)
        objects._client.cache_clear()


def test_sequencing_and_joint_calling_on_s3(s3_library: S3Library) -> None:
    lake, _, landing, truth = s3_library
    raw = read(lake, "curated", "raw_sequences")
    manifests = sequencing_truth(truth)
    assert manifests and all(not v["defects"] for v in manifests.values())
    # every manifest row is taken in but those of fully withdrawn participants (blanked)
    erased = erased_lines(landing, manifests, fully_withdrawn(truth))
    for key, lines in erased.items():
        landed = objects.read_bytes(lake.landing(key)).decode().splitlines()
        assert {n for n, line in enumerate(landed, start=1) if not line} == lines, key
    total = sum(len((landing / k).read_text().splitlines()) - 1 for k in manifests)
    assert raw.height == total - sum(len(lines) for lines in erased.values())
    sites = read(lake, "curated", "variant_sites")
    genotypes = read(lake, "curated", "joint_genotypes")
    assert sites.height > 0 and genotypes.height > 0
    assert set(genotypes["participant_id"]) <= set(raw["participant_id"].drop_nulls())


def test_a_release_is_cut_and_published_on_s3(s3_library: S3Library) -> None:
    """The same cut as on a local lake: tables, manifest, notes and registry all on S3,
    the release's pseudonyms in the identity bucket."""
    lake, instance, _, _ = s3_library
    run = cut_in_dagster(lake, instance, "v1")
    assert run.success, failure_text(run)
    [entry] = registry.list_published(lake)
    assert entry.release_id == "v1" and entry.participants > 0
    manifest = registry.read_manifest(lake, "v1")
    assert manifest["tables"]["participant"]["rows"] == entry.participants
    assert lake.read(PARTICIPANT.in_folder("v1")).height == entry.participants
    notes = [o.name for o in objects.list_objects(lake.uri("releases", "v1", "notes"))]
    assert {"release_notes.md", "release_notes.html", "public_summary.md"} <= set(notes)
    assert lake.table_uri(RELEASE_PSEUDONYMS.in_folder("")).startswith(lake.zone("identity"))
