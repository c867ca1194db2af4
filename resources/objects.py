"""Landing files: list, read, write and fetch objects by URI, local folder or S3.

Delta tables never go through here (delta-rs has its own object store); this is for the
plain files senders drop into ``landing/`` and for copying files out for tools such as
cyvcf2 that want a local path. Local paths and ``s3://`` URIs share one interface.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from resources.uris import is_s3, join


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its URI, size in bytes and a version tag (ETag or mtime)."""

    uri: str
    size: int
    version: str

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


@lru_cache(maxsize=4)
def _client(endpoint: str | None, region: str | None) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint or None, region_name=region or None)


def s3_client() -> Any:
    """A boto3 S3 client for the standard AWS environment (``AWS_ENDPOINT_URL`` honoured)."""
    return _client(
        os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
    )


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def list_objects(prefix_uri: str) -> list[ObjectInfo]:
    """Every object below a prefix, sorted by URI; hidden names (``_x``, ``.x``) are kept."""
    if is_s3(prefix_uri):
        bucket, key = split_s3(prefix_uri.rstrip("/") + "/")
        out: list[ObjectInfo] = []
        for page in (
            s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        ):
            for obj in page.get("Contents", []):
                out.append(
                    ObjectInfo(f"s3://{bucket}/{obj['Key']}", obj["Size"], obj["ETag"].strip('"'))
                )
        return sorted(out, key=lambda o: o.uri)
    root = Path(prefix_uri)
    if not root.exists():
        return []
    files = (p for p in root.rglob("*") if p.is_file())
    return sorted(
        (ObjectInfo(str(p), p.stat().st_size, str(p.stat().st_mtime_ns)) for p in files),
        key=lambda o: o.uri,
    )


def read_bytes(uri: str) -> bytes:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        body: bytes = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        return body
    return Path(uri).read_bytes()


def write_bytes(uri: str, data: bytes) -> None:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def create_exclusive(uri: str, data: bytes) -> bool:
    """Write ``uri`` only if no object is there (S3 conditional PUT ``If-None-Match: *``;
    locally ``O_EXCL``). Returns False when it already existed: the basis of a lease."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        client = s3_client()
        try:
            client.put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        except client.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                return False
            raise
        return True
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return True


def delete(uri: str) -> None:
    """Delete one object (missing is fine)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        s3_client().delete_object(Bucket=bucket, Key=key)
        return
    Path(uri).unlink(missing_ok=True)


def exists(uri: str) -> bool:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        try:
            s3_client().head_object(Bucket=bucket, Key=key)
        except Exception:
            return False
        return True
    return Path(uri).exists()


def fetch(uri: str, workdir: Path) -> Path:
    """A local path holding the object's bytes (the file itself when the lake is local)."""
    if not is_s3(uri):
        return Path(uri)
    bucket, key = split_s3(uri)
    # Never let a key choose the path: a folder per key (its hash), the key's base name
    # inside it (tools such as cyvcf2 look at the suffix).
    name = key.rsplit("/", 1)[-1]
    if name in ("", ".", "..") or "\x00" in name:
        name = "object"
    target = workdir / hashlib.sha256(key.encode()).hexdigest()[:24] / name
    target.parent.mkdir(parents=True, exist_ok=True)
    s3_client().download_file(bucket, key, str(target))
    return target


def upload_tree(local_dir: Path, prefix_uri: str) -> Iterator[str]:
    """Copy a local folder below a prefix (local or S3), yielding each written URI."""
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(local_dir).as_posix()
        dest = join(prefix_uri, rel)
        if is_s3(dest):
            bucket, key = split_s3(dest)
            s3_client().upload_file(str(path), bucket, key)
        else:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        yield dest


@dataclass(frozen=True)
class ObjectVersion:
    """A noncurrent version of an S3 object (or a delete marker): its bytes survive a plain
    DELETE or overwrite on a versioned bucket until deleted by version id."""

    uri: str
    version_id: str
    delete_marker: bool


def noncurrent_versions(prefix_uri: str) -> list[ObjectVersion]:
    """Every noncurrent object version and delete marker below a prefix (none locally or
    on an unversioned bucket)."""
    if not is_s3(prefix_uri):
        return []
    bucket, key = split_s3(prefix_uri.rstrip("/") + "/")
    client = s3_client()
    if not client.get_bucket_versioning(Bucket=bucket).get("Status"):
        return []
    out: list[ObjectVersion] = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for v in page.get("Versions", []):
            if not v["IsLatest"]:
                out.append(ObjectVersion(f"s3://{bucket}/{v['Key']}", v["VersionId"], False))
        for m in page.get("DeleteMarkers", []):
            out.append(ObjectVersion(f"s3://{bucket}/{m['Key']}", m["VersionId"], True))
    return sorted(out, key=lambda v: (v.uri, v.version_id))


def fetch_version(uri: str, version_id: str, workdir: Path) -> Path:
    """A local copy of one version of an S3 object (named as :func:`fetch` names it)."""
    bucket, key = split_s3(uri)
    name = key.rsplit("/", 1)[-1]
    if name in ("", ".", "..") or "\x00" in name:
        name = "object"
    digest = hashlib.sha256(f"{key}\x00{version_id}".encode()).hexdigest()[:24]
    target = workdir / digest / name
    target.parent.mkdir(parents=True, exist_ok=True)
    body = s3_client().get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"]
    with open(target, "wb") as fh:
        shutil.copyfileobj(body, fh)
    return target
