"""Physical erasure: after it, no byte under the table's folder holds an erased value.

Every object under the table's folder is read: raw bytes, JSON as text, Parquet decoded
with pyarrow (every value, every row-group statistic, the key-value metadata), because
Parquet pages may be compressed and a raw byte search alone could miss a value.
"""

from __future__ import annotations

import dataclasses
import io
import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from ngrl_assets.withdrawal import erasure
from ngrl_assets.withdrawal.erasure import (
    erase_participants,
    erase_rows_where,
    noncurrent_versions,
)
from resources import delta, objects
from resources.lake import Lake
from resources.tables import TableSpec

SPEC = TableSpec(
    zone="curated",
    name="erasure_probe",
    description="Test table for erasure.",
    schema={
        "participant_id": pl.String,
        "sample_id": pl.String,
        "pos": pl.Int64,
        "value": pl.Float64,
    },
    columns={
        "participant_id": "internal participant id",
        "sample_id": "sample id (identifier)",
        "pos": "position",
        "value": "a value",
    },
    written_by=("test",),
    sort_by=("participant_id", "pos"),
    participant_column="participant_id",
    identifier_columns=("sample_id",),
)

MAP_SPEC = TableSpec(
    zone="identity",
    name="pseudonym_probe",
    description="Test pseudonym map.",
    schema={"internal_id": pl.String, "pseudonym": pl.String, "release_id": pl.String},
    columns={"internal_id": "internal id", "pseudonym": "pseudonym", "release_id": "release"},
    written_by=("test",),
    identifier_columns=("internal_id",),
)


def pid() -> str:
    return "p" + secrets.token_hex(8)


def rows(ids: list[str], pos: range, offset: float = 0.0) -> pl.DataFrame:
    return pl.DataFrame(
        [(p, f"S{p[1:7]}{n}", n, n + offset) for p in ids for n in pos],
        schema=SPEC.schema,
        orient="row",
    )


def build(lake: Lake, ids: list[str], cdf: bool = False) -> None:
    """Several commits: appends, change data feed (when asked), an early checkpoint, an
    overwrite, a merge-update (``_change_data``), and a plain DELETE whose predicate text
    names a participant."""
    for p in ids[:4]:  # one file per participant: each id is a bound in the stats
        lake.append(SPEC, rows([p], range(3)))
    lake.append(SPEC, rows(ids[1:], range(3, 5)))
    if cdf:
        lake.delta_table(SPEC).alter.set_table_properties({"delta.enableChangeDataFeed": "true"})
    lake.delta_table(SPEC).create_checkpoint()
    lake.overwrite(SPEC, rows(ids, range(4), offset=0.5))
    lake.append(SPEC, rows(ids[1:3], range(10, 12)))
    lake.merge(SPEC, rows(ids[1:3], range(10, 11), offset=9.0), ["participant_id", "pos"])
    uri = lake.table_uri(SPEC)
    delta.delete(uri, f"participant_id = '{ids[2]}' AND pos = 11", lake.storage_options(uri))


def _text(value: Any) -> str:
    return json.dumps(value, default=str)


def residue(prefix: str, data: bytes, needles: list[str]) -> set[str]:
    """The needles found in one object's bytes (raw, as text, and decoded as Parquet)."""
    found = {n for n in needles if n.encode() in data}
    texts = [data.decode("utf-8", errors="replace")]
    if data[:4] == b"PAR1":
        pf = pq.ParquetFile(io.BytesIO(data))
        texts.append(_text(pf.read().to_pylist()))
        md = pf.metadata
        texts.append(_text({k.decode(): v.decode("utf-8", "replace") for k, v in
                            (md.metadata or {}).items()}))  # fmt: skip
        for g in range(md.num_row_groups):
            for c in range(md.num_columns):
                st = md.row_group(g).column(c).statistics
                if st is not None and st.has_min_max:
                    texts.append(_text([st.min, st.max]))
    found |= {n for n in needles for t in texts if n in t}
    return found


def scan_folder(uri: str, needles: list[str]) -> dict[str, set[str]]:
    """Every object under ``uri`` that holds one of the needles, with what it holds."""
    hits = {}
    for o in objects.list_objects(uri):
        got = residue(uri, objects.read_bytes(o.uri), needles)
        if got:
            hits[o.uri] = got
    return hits


def snapshot(uri: str) -> dict[str, bytes]:
    return {o.uri: objects.read_bytes(o.uri) for o in objects.list_objects(uri)}


def ordered(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort("participant_id", "pos")


def check_erased(lake: Lake, spec: TableSpec, gone: list[str], expected: pl.DataFrame):
    uri = lake.table_uri(spec)
    assert scan_folder(uri, gone) == {}
    got = lake.read(spec)
    assert ordered(got).equals(ordered(expected))
    dt = lake.delta_table(spec)
    assert len(dt.history()) == 1
    names = sorted(o.uri.rsplit("/", 1)[-1] for o in objects.list_objects(uri + "/_delta_log"))
    v = f"{dt.version():020d}"
    assert names == [f"{v}.checkpoint.parquet", f"{v}.json", "_last_checkpoint"]


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def any_lake(request: pytest.FixtureRequest) -> Lake:
    return request.getfixturevalue("lake" if request.param == "local" else "s3_lake")


def test_erasure_leaves_no_trace_and_keeps_other_rows(any_lake, monkeypatch):
    lake = any_lake
    ids = [pid() for _ in range(5)]
    build(lake, ids, cdf=True)
    uri = lake.table_uri(SPEC)
    gone = ids[1:3]
    before = lake.read(SPEC)
    # the test means something: before erasure the ids sit in data, stats, predicate, CDC
    hits = scan_folder(uri, gone)
    assert any("_change_data" in u for u in hits)
    assert any(u.endswith(".checkpoint.parquet") for u in hits)
    assert any(u.endswith(".json") for u in hits)
    version_before = lake.version(SPEC)

    result = erase_participants(lake, SPEC, gone)

    assert result.table == "curated/erasure_probe"
    assert result.rows_removed == before.filter(pl.col("participant_id").is_in(gone)).height
    assert result.files_rewritten >= 1
    assert result.bytes_vacuumed > 0
    assert result.version_before == version_before
    assert result.version_after == lake.version(SPEC) > version_before
    assert result.objects_version_purged == 0
    assert not any(i in _text(result.as_dict()) for i in ids)
    check_erased(lake, SPEC, gone, before.filter(~pl.col("participant_id").is_in(gone)))

    # a second run is a no-op: nothing written, nothing purged, no sleep
    files = snapshot(uri)
    monkeypatch.setattr(erasure, "_purge", lambda *a: pytest.fail("purged a clean table"))
    again = erase_participants(lake, SPEC, gone)
    assert (again.rows_removed, again.files_rewritten, again.bytes_vacuumed) == (0, 0, 0)
    assert again.version_before == again.version_after == result.version_after
    assert snapshot(uri) == files


def test_id_only_in_history_is_erased(lake):
    ids = [pid() for _ in range(3)]
    lake.append(SPEC, rows(ids, range(2)))
    lake.overwrite(SPEC, rows(ids[1:], range(2)))  # ids[0] now lives only in history
    uri = lake.table_uri(SPEC)
    assert scan_folder(uri, ids[:1])
    expected = lake.read(SPEC)
    result = erase_participants(lake, SPEC, ids[:1])
    assert result.rows_removed == 0
    check_erased(lake, SPEC, ids[:1], expected)


def test_crash_after_merge_delete_is_completed_by_a_rerun(lake, monkeypatch):
    ids = [pid() for _ in range(4)]
    build(lake, ids, cdf=True)
    uri = lake.table_uri(SPEC)
    before = lake.read(SPEC)

    def crash(*args: Any) -> int:
        raise RuntimeError("crash before vacuum")

    monkeypatch.setattr(erasure, "_vacuum", crash)
    with pytest.raises(RuntimeError):
        erase_participants(lake, SPEC, ids[:1])
    assert scan_folder(uri, ids[:1])  # the rows are gone from the table, not from storage
    assert lake.read(SPEC).filter(pl.col("participant_id") == ids[0]).is_empty()
    monkeypatch.undo()

    result = erase_participants(lake, SPEC, ids[:1])
    assert result.rows_removed == 0 and result.bytes_vacuumed > 0
    check_erased(lake, SPEC, ids[:1], before.filter(pl.col("participant_id") != ids[0]))


def test_crash_after_checkpoint_is_completed_by_a_rerun(lake, monkeypatch):
    ids = [pid() for _ in range(3)]
    build(lake, ids)
    before = lake.read(SPEC)
    monkeypatch.setattr(erasure, "_cleanup_log", lambda *a: (_ for _ in ()).throw(OSError()))
    with pytest.raises(OSError):
        erase_participants(lake, SPEC, ids[1:2])
    monkeypatch.undo()
    erase_participants(lake, SPEC, ids[1:2])
    check_erased(lake, SPEC, ids[1:2], before.filter(pl.col("participant_id") != ids[1]))


def test_no_match_on_a_clean_table_does_nothing(lake, monkeypatch):
    ids = [pid() for _ in range(2)]
    lake.append(SPEC, rows(ids, range(2)))  # one version, nothing unreferenced
    monkeypatch.setattr(erasure, "_purge", lambda *a: pytest.fail("purged a clean table"))
    result = erase_participants(lake, SPEC, [pid()])
    assert result.rows_removed == 0 and result.version_after == result.version_before == 0
    assert erase_participants(lake, SPEC, []).rows_removed == 0
    missing = erase_participants(lake, SPEC.in_folder("nowhere"), ids)
    assert missing.version_before is None and missing.rows_removed == 0


def test_erase_rows_where_other_keys(lake):
    internal = [pid() for _ in range(4)]
    frame = pl.DataFrame(
        {
            "internal_id": internal,
            "pseudonym": [f"NG{i:04d}" for i in range(4)],
            "release_id": ["r1"] * 4,
        }
    )
    lake.append(MAP_SPEC, frame[:2])
    lake.append(MAP_SPEC, frame[2:])
    lake.delta_table(MAP_SPEC).create_checkpoint()
    with pytest.raises(ValueError):
        erase_participants(lake, MAP_SPEC, internal[:1])  # no participant column
    result = erase_rows_where(lake, MAP_SPEC, pl.DataFrame({"internal_id": internal[1:3]}))
    assert result.rows_removed == 2
    uri = lake.table_uri(MAP_SPEC)
    gone = [*internal[1:3], "NG0001", "NG0002"]
    assert scan_folder(uri, gone) == {}
    assert (
        lake.read(MAP_SPEC)
        .sort("internal_id")
        .equals(frame.filter(~pl.col("internal_id").is_in(internal[1:3])).sort("internal_id"))
    )
    assert len(lake.delta_table(MAP_SPEC).history()) == 1
    with pytest.raises(ValueError):
        erase_rows_where(lake, MAP_SPEC, pl.DataFrame({"nope": ["x"]}))


TILES = TableSpec(
    zone="curated",
    name="tile_probe",
    description="Test table partitioned by sample batch, like joint_genotypes.",
    schema={"participant_id": pl.String, "sample_batch": pl.Int32, "pos": pl.Int64},
    columns={"participant_id": "internal id", "sample_batch": "batch", "pos": "position"},
    written_by=("test",),
    partition_by=("sample_batch",),
    participant_column="participant_id",
)


def test_erasure_by_place_reads_only_the_members_partitions(lake):
    """With ``places`` (the participants' sample batches), a participant's rows are deleted
    in their batch's partition only: a damaged file in another batch is never opened,
    where an erasure by id alone must open it (and fails). A participant whose place has
    no batch is erased by id alone, wherever their rows are."""
    ids = [pid() for _ in range(6)]
    batches = [1, 1, 2, 2, None, None]
    frame = pl.DataFrame(
        [(p, b, n) for p, b in zip(ids, batches, strict=True) for n in range(3)],
        schema=TILES.schema,
        orient="row",
    )
    lake.append(TILES, frame)
    places = pl.DataFrame(
        {"participant_id": ids, "sample_batch": batches, "delivery": ["D1"] * 6},
        schema={"participant_id": pl.String, "sample_batch": pl.Int32, "delivery": pl.String},
    )
    unplaced = erase_participants(lake, TILES, [ids[4]], places=places)  # no batch: by id
    assert unplaced.rows_removed == 3
    # damage batch 1's file: any read of it fails
    [batch_one] = [u for u in lake.delta_table(TILES).file_uris() if "sample_batch=1/" in u]
    with open(batch_one.removeprefix("file://"), "r+b") as fh:
        fh.truncate(40)
    assert erase_participants(lake, TILES, [ids[2]], places=places).rows_removed == 3
    with pytest.raises(Exception, match=r"(?i)parquet|eof|file"):
        erase_participants(lake, TILES, [ids[3]])  # by id alone: reads batch 1 too
    left = lake.scan(TILES).filter(pl.col("sample_batch").ne_missing(1)).collect()
    assert sorted(set(left["participant_id"])) == sorted([ids[3], ids[5]])
    log = Path(lake.table_uri(TILES).removeprefix("file://")) / "_delta_log"
    logged = "".join(f.read_text(errors="replace") for f in log.iterdir() if f.is_file())
    assert ids[2] not in logged and ids[4] not in logged


@pytest.mark.s3
def test_versioned_bucket_keeps_no_old_version(aws_env):
    import boto3

    client = boto3.client("s3", endpoint_url=aws_env, region_name="eu-west-2")
    bucket = f"ngrl-v-{uuid.uuid4().hex[:10]}"
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    lake = Lake(root_uri=f"s3://{bucket}/lake")
    ids = [pid() for _ in range(4)]
    build(lake, ids, cdf=True)
    # a neighbour table whose name extends this one's: its versions are not ours to purge
    neighbour = dataclasses.replace(SPEC, name="erasure_probe_more")
    lake.append(neighbour, rows(ids, range(1)))
    lake.overwrite(neighbour, rows(ids, range(1)))
    lake.delta_table(neighbour).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False, full=True
    )
    neighbour_versions = noncurrent_versions(lake.table_uri(neighbour))
    assert neighbour_versions

    uri = lake.table_uri(SPEC)
    before = lake.read(SPEC)
    gone = ids[:2]
    prefix = objects.split_s3(uri)[1] + "/"

    def old_versions_holding(needles: list[str]) -> list[str]:
        keys = []
        for key, version, marker in noncurrent_versions(uri):
            if not marker:
                body = client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"]
                if residue(uri, body.read(), needles):
                    keys.append(key)
        return keys

    # a crash before the version purge: the Delta side is clean, old versions are not
    with pytest.MonkeyPatch.context() as patch:  # (undo must keep aws_env's variables)
        patch.setattr(erasure, "purge_noncurrent_versions", lambda *a: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            erase_participants(lake, SPEC, gone)
    assert scan_folder(uri, gone) == {}
    assert old_versions_holding(gone)

    result = erase_participants(lake, SPEC, gone)
    assert result.objects_version_purged > 0 and result.rows_removed == 0
    check_erased(lake, SPEC, gone, before.filter(~pl.col("participant_id").is_in(gone)))
    assert noncurrent_versions(uri) == []

    # every remaining version of every object under the prefix is free of the ids
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    versions = [v for p in pages for v in p.get("Versions", [])]
    assert versions and all(v["IsLatest"] for v in versions)
    for v in versions:
        body = client.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        assert residue(uri, body["Body"].read(), gone) == set(), v["Key"]
    assert noncurrent_versions(lake.table_uri(neighbour)) == neighbour_versions

    again = erase_participants(lake, SPEC, gone)
    assert again.objects_version_purged == 0 and again.version_after == result.version_after
