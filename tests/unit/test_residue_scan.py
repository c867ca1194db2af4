"""The residue scanner finds a planted value in every kind of object the lake holds,
referenced by a Delta version or not, and its findings never carry the value."""

from __future__ import annotations

import datetime as dt
import gzip
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from ngrl_assets.consent.tables import PARTICIPANT_REGISTRY, RELEASE_PSEUDONYMS
from ngrl_assets.genomics.tables import RAW_SEQUENCES
from ngrl_assets.withdrawal import scan as scan_module
from ngrl_assets.withdrawal.needles import needles_for, render_report
from ngrl_assets.withdrawal.scan import Finding, exclude_prefixes, scan
from resources import objects
from resources.lake import Lake

NEEDLE = "pQ7x3NeedleK9"
CLEAN = "zzCleanValue0"
NO_X_STATS = {"delta.dataSkippingStatsColumns": "y"}


def _table(value: str) -> pa.Table:
    return pa.table({"x": [value, "other-a", "other-b"], "y": [1, 2, 3]})


def _kinds(found: list[Finding]) -> set[str]:
    return {f.kind for f in found}


def _put(lake: Lake, zone: str, key: str, data: bytes) -> str:
    uri = lake.uri(zone, key)
    objects.write_bytes(uri, data)
    return uri


def _png(text_chunks: list[tuple[bytes, bytes]]) -> bytes:
    def chunk(ctype: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(ctype + body)
        return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    for ctype, body in text_chunks:
        out += chunk(ctype, body)
    return out + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")


def _tbi(name: str) -> bytes:
    """A tabix-like index: binary header, NUL-terminated sequence names, binary bins,
    bgzipped (one data member, then the empty EOF member)."""
    names = b"chr1\x00" + name.encode() + b"\x00"
    body = b"TBI\x01" + struct.pack("<8i", 2, 2, 1, 2, 0, 35, 0, len(names)) + names
    body += bytes(range(256)) * 4
    return gzip.compress(body) + gzip.compress(b"")


# ---- planters: one per kind of object; each returns the URI it wrote ------------------------
def plant_delta_row(lake: Lake, value: str) -> str:
    uri = lake.uri("curated", "rows")
    write_deltalake(uri, _table(value))
    return uri


def plant_old_parquet(lake: Lake, value: str) -> str:
    """The value only in a file the current version no longer references."""
    uri = lake.uri("curated", "overwritten")
    write_deltalake(uri, _table(value), configuration=NO_X_STATS)
    write_deltalake(uri, _table("clean-row"), mode="overwrite")
    return uri


def plant_footer_statistics(lake: Lake, value: str) -> str:
    """A Parquet file whose data pages hold a placeholder and whose footer statistics hold
    the value (the footer patched in place: same length, no checksum)."""
    placeholder = "Q" * len(value)
    uri = lake.uri("reports", "stats_only.parquet")
    local = Path(lake.zone("reports")) / "stats_only.parquet"
    local.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"x": [placeholder] * 3}),
        local,
        compression="NONE",
        use_dictionary=False,
        write_page_index=False,
    )
    data = local.read_bytes()
    length = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - length
    footer = data[start:-8].replace(placeholder.encode(), value.encode())
    local.write_bytes(data[:start] + footer + data[-8:])
    return uri


def plant_delete_predicate(lake: Lake, value: str) -> str:
    """The value only in the DELETE commit's predicate text (the deleted file vacuumed)."""
    uri = lake.uri("curated", "deleted")
    write_deltalake(uri, _table(value), configuration=NO_X_STATS)
    table = DeltaTable(uri)
    table.delete(f"x = '{value}'")
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False, full=True)
    return uri


def plant_checkpoint(lake: Lake, value: str) -> str:
    uri = lake.uri("curated", "checkpointed")
    write_deltalake(uri, _table(value))
    DeltaTable(uri).create_checkpoint()
    return uri


def plant_change_data(lake: Lake, value: str) -> str:
    """Change data feed on; the row deleted through a merge (no predicate text)."""
    uri = lake.uri("curated", "cdf")
    config = {"delta.enableChangeDataFeed": "true", **NO_X_STATS}
    write_deltalake(uri, _table(value), configuration=config)
    (
        DeltaTable(uri)
        .merge(pa.table({"x": [value]}), "t.x = s.x", source_alias="s", target_alias="t")
        .when_matched_delete()
        .execute()
    )
    return uri


def plant_gzip(lake: Lake, value: str) -> str:
    return _put(
        lake, "landing", "clinical/hes/extract.txt.gz", gzip.compress(f"a|{value}|b\n".encode())
    )


def plant_bgzip(lake: Lake, value: str) -> str:
    header = b"##fileformat=VCFv4.2\n" * 50
    data = (
        gzip.compress(header)
        + gzip.compress(f"#CHROM\tPOS\t{value}\n".encode())
        + gzip.compress(b"")
    )
    return _put(lake, "landing", "sequencing/d1/s1.g.vcf.gz", data)


def plant_tbi(lake: Lake, value: str) -> str:
    return _put(lake, "landing", "sequencing/d1/s1.g.vcf.gz.tbi", _tbi(value))


def plant_csv(lake: Lake, value: str) -> str:
    return _put(
        lake,
        "landing",
        "consent/feed.csv",
        f"ref,date\nr1,2024-01-01\n{value},2024-01-02\n".encode(),
    )


def plant_json(lake: Lake, value: str) -> str:
    return _put(
        lake, "releases", "v1/manifest.json", f'{{"files": [], "note": "{value}"}}'.encode()
    )


def plant_html(lake: Lake, value: str) -> str:
    return _put(lake, "reports", "docs/index.html", f"<html><td>{value}</td></html>".encode())


def plant_markdown(lake: Lake, value: str) -> str:
    return _put(lake, "releases", "v1/NOTES.md", f"# Notes\n\nSample `{value}`.\n".encode())


def plant_png(lake: Lake, value: str) -> str:
    return _put(lake, "releases", "v1/plot.png", _png([(b"tEXt", b"Comment\x00" + value.encode())]))


def plant_ztxt_png(lake: Lake, value: str) -> str:
    body = b"Comment\x00\x00" + zlib.compress(value.encode() * 3)
    return _put(lake, "releases", "v1/plot_z.png", _png([(b"zTXt", body)]))


def plant_key(lake: Lake, value: str) -> str:
    return _put(lake, "landing", f"consent/{value}_notice.csv", b"no identifier inside\n")


PLANTERS: dict[str, Callable[[Lake, str], str]] = {
    "delta_row": plant_delta_row,
    "old_parquet": plant_old_parquet,
    "footer_statistics": plant_footer_statistics,
    "delete_predicate": plant_delete_predicate,
    "checkpoint": plant_checkpoint,
    "change_data": plant_change_data,
    "gzip": plant_gzip,
    "bgzip": plant_bgzip,
    "tbi": plant_tbi,
    "csv": plant_csv,
    "json": plant_json,
    "html": plant_html,
    "markdown": plant_markdown,
    "png": plant_png,
    "ztxt_png": plant_ztxt_png,
    "key": plant_key,
}


def _findings_under(found: list[Finding], uri: str) -> list[Finding]:
    return [f for f in found if f.uri == uri or f.uri.startswith(uri.rstrip("/") + "/")]


# ---- one test per kind of object ------------------------------------------------------------
def test_delta_row_value(lake: Lake) -> None:
    uri = plant_delta_row(lake, NEEDLE)
    found = scan(lake, [NEEDLE])
    current = set(DeltaTable(uri).file_uris())
    values = [f for f in found if f.uri in current and f.where.startswith("column x values")]
    assert values and values[0].kind == "parquet" and values[0].needle_index == 0
    # the default statistics put it in the commit JSON and the file's footer too
    assert any(f.kind == "json" and "/_delta_log/" in f.uri for f in found)
    assert any(f.where.startswith("footer statistics of column x") for f in found)


def test_old_unreferenced_parquet_after_overwrite(lake: Lake) -> None:
    uri = plant_old_parquet(lake, NEEDLE)
    current = set(DeltaTable(uri).file_uris())
    assert not pl.read_delta(uri).filter(pl.col("x") == NEEDLE).height  # gone from the table
    found = scan(lake, [NEEDLE])
    assert found
    assert all(f.uri not in current and f.uri.endswith(".parquet") for f in found)
    assert any(f.where.startswith("column x values") for f in found)


def test_footer_statistics_only(lake: Lake) -> None:
    plant_footer_statistics(lake, NEEDLE)
    found = scan(lake, [NEEDLE])
    wheres = {f.where for f in found}
    assert any(w.startswith("footer statistics of column x") for w in wheres), wheres
    assert "raw footer bytes" in wheres
    assert not any(w.startswith("column x values") for w in wheres)  # not in the data


def test_delete_predicate_in_commit_json_only(lake: Lake) -> None:
    uri = plant_delete_predicate(lake, NEEDLE)
    assert not pl.read_delta(uri).filter(pl.col("x") == NEEDLE).height
    found = scan(lake, [NEEDLE])
    assert found
    assert {f.kind for f in found} == {"json"}
    assert all(f.uri.endswith("_delta_log/00000000000000000001.json") for f in found)
    assert found[0].where.startswith("json line")


def test_checkpoint_parquet(lake: Lake) -> None:
    plant_checkpoint(lake, NEEDLE)
    found = [f for f in scan(lake, [NEEDLE]) if f.uri.endswith(".checkpoint.parquet")]
    assert found and _kinds(found) == {"parquet"}
    assert any(f.where.startswith("column add.stats") for f in found)


def test_change_data_file(lake: Lake) -> None:
    uri = plant_change_data(lake, NEEDLE)
    assert not pl.read_delta(uri).filter(pl.col("x") == NEEDLE).height
    found = [f for f in scan(lake, [NEEDLE]) if "/_change_data/" in f.uri]
    assert any(f.kind == "parquet" and f.where.startswith("column x values") for f in found)


@pytest.mark.parametrize(
    ("planter", "kind", "where"),
    [
        (plant_gzip, "gzip", "inflated text line 1"),
        (plant_bgzip, "bgzip", "inflated text line 51"),  # in the second member
        (plant_tbi, "bgzip", "inflated text line 1"),
        (plant_csv, "text", "text line 3"),
        (plant_json, "json", "json line 1"),
        (plant_html, "text", "text line 1"),
        (plant_markdown, "text", "text line 3"),
        (plant_png, "png", "raw bytes (metadata chunks)"),
        (plant_ztxt_png, "png", "zTXt chunk (inflated)"),
    ],
)
def test_plain_objects(
    lake: Lake, planter: Callable[[Lake, str], str], kind: str, where: str
) -> None:
    uri = planter(lake, NEEDLE)
    found = scan(lake, [NEEDLE])
    assert Finding(uri, kind, where, 0) in found, found
    assert {f.uri for f in found} == {uri}


def test_object_key(lake: Lake) -> None:
    plant_key(lake, NEEDLE)
    found = scan(lake, ["unrelated-1", NEEDLE])
    assert [(f.kind, f.where, f.needle_index) for f in found] == [("key", "object key", 1)]
    assert found[0].uri == lake.uri("landing", "consent/[needle 1]_notice.csv")


def test_case_insensitive_hex_and_chunk_boundaries(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_module, "CHUNK", 5)  # every needle spans chunks
    pid = "p0123456789abcdef"
    uri = _put(
        lake, "audit", "certificate.txt", f"one\ntwo\nid={pid.upper()}\nagain {pid}\n".encode()
    )
    found = scan(lake, [pid, "never-there"])
    assert found == [Finding(uri, "text", "text line 3 (+1 more lines)", 0)]


def test_nested_and_typed_parquet_columns(lake: Lake) -> None:
    path = Path(lake.zone("curated")) / "nested.parquet"
    path.parent.mkdir(parents=True)
    table = pa.table(
        {
            "s": pa.array(
                [{"a": "x", "b": [NEEDLE]}],
                pa.struct([("a", pa.string()), ("b", pa.list_(pa.string()))]),
            ),
            "m": pa.array([[("k", "v"), (NEEDLE, "w")]], pa.map_(pa.string(), pa.string())),
            "d": pa.array([dt.date(1990, 5, 17)]),
            "n": pa.array([12345678901]),
        }
    )
    pq.write_table(table, path)
    found = scan(lake, [NEEDLE, "1990-05-17", "12345678901"])
    got = {(f.where.split(" (")[0], f.needle_index) for f in found if f.where.startswith("column")}
    assert got == {
        ("column s.b[] values", 0),
        ("column m.key values", 0),
        ("column d values", 1),
        ("column n values", 2),
    }
    stats = {(f.where.split(" (")[0], f.needle_index) for f in found if "statistics" in f.where}
    assert ("footer statistics of column d", 1) in stats


def test_clean_lake_reports_nothing(lake: Lake) -> None:
    for planter in PLANTERS.values():
        planter(lake, CLEAN)
    assert scan(lake, [NEEDLE, NEEDLE.lower()]) == []
    assert scan(lake, []) == []
    found = scan(lake, [CLEAN])  # and the same lake with the value planted is found everywhere
    assert len({f.uri.split("/_delta_log/")[0] for f in found}) >= len(PLANTERS)


def test_findings_never_hold_the_needle(lake: Lake) -> None:
    for planter in PLANTERS.values():
        planter(lake, NEEDLE)
    found = scan(lake, ["other", NEEDLE])
    assert len(found) > 20
    for f in found:
        text = f"{f.uri}\n{f.kind}\n{f.where}\n{f!r}".lower()
        assert NEEDLE.lower() not in text
    report = render_report(found, 2, ["sample id", "internal id"])
    assert NEEDLE.lower() not in report.lower()
    assert "| internal id |" in report


def test_exclude_and_zones(lake: Lake) -> None:
    tomb = lake.uri("identity", "withdrawal_tombstones")
    write_deltalake(tomb, _table(NEEDLE))
    kept = plant_csv(lake, NEEDLE)
    assert {f.uri for f in scan(lake, [NEEDLE], exclude=exclude_prefixes(tomb))} == {kept}
    assert {
        f.uri for f in scan(lake, [NEEDLE], exclude=lambda u: "withdrawal_tombstones" in u)
    } == {kept}
    assert {f.uri for f in scan(lake, [NEEDLE], zones=["identity"])} != set()
    assert scan(lake, [NEEDLE], zones=["curated", "audit"]) == []


def test_unreadable_parquet_falls_back_to_bytes(lake: Lake) -> None:
    uri = _put(lake, "curated", "t/part-0.parquet", b"PAR1" + NEEDLE.encode() + b"garbage")
    found = scan(lake, [NEEDLE])
    assert [f.kind for f in found] == ["bytes"] and found[0].uri == uri


@pytest.mark.s3
def test_s3_lake(s3_lake: Lake) -> None:
    landing = _put(s3_lake, "landing", "consent/feed.csv", f"ref\n{NEEDLE}\n".encode())
    identity = _put(s3_lake, "identity", "notes/n.txt.gz", gzip.compress(NEEDLE.encode()))
    table = s3_lake.uri("curated", "rows")
    write_deltalake(table, _table(NEEDLE), storage_options=s3_lake.storage_options(table))
    found = scan(s3_lake, [NEEDLE])
    uris = {f.uri for f in found}
    assert landing in uris and identity in uris
    assert identity.startswith("s3://") and "-identity/" in identity  # its own bucket
    assert any(f.uri.startswith(table) and f.where.startswith("column x values") for f in found)


# ---- needles and report -------------------------------------------------------------------
def test_needles_for_and_report(lake: Lake) -> None:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    people = [
        ("p00000000000000aa", "REF-1", "9434765919", dt.date(1980, 1, 1)),
        ("p00000000000000bb", "REF-2", "9434765870", dt.date(1981, 1, 1)),
    ]
    registry = pl.DataFrame(
        [
            {
                "participant_id": pid,
                "participant_reference": ref,
                "nhs_number": nhs,
                "date_of_birth": dob,
                "updated_at": now,
            }
            for pid, ref, nhs, dob in people
        ],
        schema=PARTICIPANT_REGISTRY.schema,
    )
    lake.append(PARTICIPANT_REGISTRY, registry)
    sequences = pl.DataFrame(
        [
            {"delivery": "d1", "sample_id": "LP100-A", "participant_id": "p00000000000000aa"},
            {"delivery": "d1", "sample_id": "LP100-B", "participant_id": "p00000000000000bb"},
        ],
        schema=RAW_SEQUENCES.schema,
    )
    lake.append(RAW_SEQUENCES, sequences)
    pseudonyms = pl.DataFrame(
        {
            "release_id": ["v1", "v1", "v1", "v2"],
            "kind": ["participant", "sample", "participant", "participant"],
            "internal_id": [
                "p00000000000000aa",
                "LP100-A",
                "p00000000000000bb",
                "p00000000000000aa",
            ],
            "pseudonym": ["P" + "A" * 20, "S" + "A" * 20, "P" + "B" * 20, "P" + "C" * 20],
        },
        schema=RELEASE_PSEUDONYMS.schema,
    )
    lake.append(RELEASE_PSEUDONYMS, pseudonyms)

    needles, kinds = needles_for(lake, "REF-1")
    assert dict(zip(kinds, needles, strict=True)) == {
        "participant reference": "REF-1",
        "internal id": "p00000000000000aa",
        "NHS number": "9434765919",
        "sample id": "LP100-A",
        "pseudonym (release v1)": "P" + "A" * 20,
        "sample pseudonym (release v1)": "S" + "A" * 20,
        "pseudonym (release v2)": "P" + "C" * 20,
    }
    assert needles_for(lake, "REF-unknown") == (["REF-unknown"], ["participant reference"])

    _put(lake, "releases", "v2/participants.csv", ("P" + "C" * 20 + "\n").encode())
    found = scan(lake, needles, exclude=exclude_prefixes(lake.zone("identity")))
    report = render_report(found, len(needles), kinds)
    assert "pseudonym (release v2)" in report and "sample id" in report  # raw_sequences
    for value in needles:
        assert value.lower() not in report.lower()
    assert "No residue found" in render_report([], len(needles), kinds)


@pytest.mark.s3
def test_noncurrent_s3_versions_are_scanned(aws_env: str) -> None:
    """On a versioned bucket an overwritten or deleted object's old bytes survive as a
    noncurrent version: the scan reads those too, and says which version."""
    import uuid

    import boto3

    client = boto3.client("s3", endpoint_url=aws_env, region_name="eu-west-2")
    bucket = f"ngrl-scan-{uuid.uuid4().hex[:10]}"
    client.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    lake = Lake(root_uri=f"s3://{bucket}/lake")
    needle = "pa1b2c3d4e5f60718"
    overwritten = lake.uri("landing", "consent", "withdrawals", "w.csv")
    objects.write_bytes(overwritten, f"participant_reference\n{needle}\n".encode())
    objects.write_bytes(overwritten, b"participant_reference\nclean\n")
    deleted = lake.uri("reports", "old.md")
    objects.write_bytes(deleted, f"# {needle}\n".encode())
    bucket_name, key = objects.split_s3(deleted)
    client.delete_object(Bucket=bucket_name, Key=key)  # leaves a delete marker
    found = scan(lake, [needle])
    where = sorted({f.uri for f in found})
    assert len(where) == 2 and all("noncurrent version" in w for w in where)
    assert all(needle not in f.uri + f.where for f in found)
    # once the versions are deleted by version id, nothing is left
    for version in objects.noncurrent_versions(lake.zone("landing")) + objects.noncurrent_versions(
        lake.zone("reports")
    ):
        b, k = objects.split_s3(version.uri)
        client.delete_object(Bucket=b, Key=k, VersionId=version.version_id)
    assert scan(lake, [needle]) == []
