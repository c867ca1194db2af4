"""Per-source delivery mode of the NHS England extracts, as agreed with the data provider:
``incremental`` (a delivery adds rows; re-running it replaces only its own rows) or
``full`` (a delivery is the whole extract and replaces the table). Incremental unless
named in ``full_refresh_sources`` (env ``NGRL_CLINICAL_FULL_REFRESH``, comma-separated
source names, e.g. ``av_tumour,ons_mortality``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

KNOWN_SOURCES = ("hes_apc", "hes_op", "hes_ae", "ons_mortality", "av_tumour")


@dataclass(frozen=True)
class ClinicalFeeds:
    """The delivery mode of each clinical source (a plain class, handed to assets as a
    resource)."""

    full_refresh_sources: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> ClinicalFeeds:
        raw = os.environ.get("NGRL_CLINICAL_FULL_REFRESH", "")
        return cls(full_refresh_sources=tuple(s.strip() for s in raw.split(",") if s.strip()))

    def mode(self, source: str) -> str:
        unknown = sorted(set(self.full_refresh_sources) - set(KNOWN_SOURCES))
        if unknown:
            raise ValueError(f"unknown clinical sources in full_refresh_sources: {unknown}")
        return "full" if source in self.full_refresh_sources else "incremental"
