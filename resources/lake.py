"""The lake: one root URI (a local folder or ``s3://bucket/prefix``) split into zones.

Each zone is a prefix under the root whose location can be overridden on its own
(production keeps ``identity/`` in its own bucket with its own KMS key). The same code
path serves local folders and S3: Delta tables go through delta-rs' object store, and
landing files through :mod:`resources.objects` (boto3 only for S3 listing and moves).
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

ZONES: tuple[str, ...] = (
    "landing",  # inbound drops, write-once
    "identity",  # identifiable registry and id mappings; only linkage code reads it
    "curated",  # pseudonymised Delta tables keyed by the internal participant id
    "quarantine",  # rejected rows/files with reasons (never raw identifiable values)
    "releases",  # immutable per-release snapshots
    "reports",  # data-quality reports (Great Expectations Data Docs)
    "audit",  # landing ledger, erasure certificates
)

DEFAULT_ROOT = "./.ngrl/lake"

# Standard AWS environment passed to delta-rs when the lake is on S3.
_AWS_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ALLOW_HTTP",
)


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def join(base: str, *parts: str) -> str:
    """Join URI parts with '/', keeping ``s3://`` intact and local paths absolute."""
    clean = [p.strip("/") for p in parts if p]
    return "/".join([base.rstrip("/"), *clean])


def _normalise_root(uri: str) -> str:
    if is_s3(uri) or uri.startswith("file://"):
        return uri.removeprefix("file://").rstrip("/") if uri.startswith("file://") else uri
    return str(Path(uri).expanduser().resolve())


class LakeResource(dg.ConfigurableResource):
    """Knows where every zone of the lake lives and how to reach it.

    ``root_uri`` defaults to ``NGRL_LAKE_URI`` or ``./.ngrl/lake``; a zone override such as
    ``NGRL_IDENTITY_URI`` moves that zone elsewhere (another bucket, another key).
    """

    root_uri: str = Field(
        default=DEFAULT_ROOT, description="Lake root: folder or s3://bucket/prefix"
    )
    zone_uris: dict[str, str] = Field(
        default_factory=dict,
        description="Per-zone overrides, e.g. {'identity': 's3://id-bucket/x'}",
    )

    @classmethod
    def from_env(cls) -> LakeResource:
        """Build from ``NGRL_LAKE_URI`` and ``NGRL_<ZONE>_URI`` environment variables."""
        overrides = {
            zone: os.environ[f"NGRL_{zone.upper()}_URI"]
            for zone in ZONES
            if os.environ.get(f"NGRL_{zone.upper()}_URI")
        }
        return cls(root_uri=os.environ.get("NGRL_LAKE_URI", DEFAULT_ROOT), zone_uris=overrides)

    def zone(self, zone: str) -> str:
        """The URI of a zone (absolute path locally, ``s3://...`` on S3)."""
        if zone not in ZONES:
            raise ValueError(f"unknown lake zone {zone!r}; zones are {', '.join(ZONES)}")
        if zone in self.zone_uris:
            return _normalise_root(self.zone_uris[zone])
        return join(_normalise_root(self.root_uri), zone)

    def uri(self, zone: str, *parts: str) -> str:
        """A URI inside a zone: ``lake.uri("curated", "consent_status")``."""
        return join(self.zone(zone), *parts)

    def table(self, zone: str, name: str) -> str:
        """The URI of a Delta table in a zone (tables sit directly under their zone)."""
        return self.uri(zone, name)

    def storage_options(self, uri: str | None = None) -> dict[str, str]:
        """delta-rs storage options for a URI: the AWS environment on S3, nothing locally."""
        if uri is not None and not is_s3(uri):
            return {}
        opts = {k: os.environ[k] for k in _AWS_ENV if os.environ.get(k)}
        if "AWS_REGION" not in opts and "AWS_DEFAULT_REGION" in opts:
            opts["AWS_REGION"] = opts["AWS_DEFAULT_REGION"]
        endpoint = opts.get("AWS_ENDPOINT_URL", "")
        if endpoint.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
        return opts

    def describe(self) -> dict[str, str]:
        return {zone: self.zone(zone) for zone in ZONES}
