"""URI helpers shared by the lake and the landing objects (local paths and ``s3://``)."""

from __future__ import annotations

from pathlib import Path


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


__all__ = ["_normalise_root", "is_s3", "join"]
