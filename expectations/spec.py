"""Suites as plain data: what one suite validates and which expectations it holds.

A :class:`Suite` names its table (the catalogue declaration), what exactly is validated
(:attr:`Suite.validates`: every row, a documented deterministic sample, or statistics
computed from the table) and its expectations as :class:`Expect` records: the Great
Expectations 1.x class name and its keyword arguments. Nothing here imports Great
Expectations (its import costs ~10 s): :mod:`expectations.run` turns the records into GE
objects once per process. Suites therefore snapshot, diff and test without GE.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from resources.lake import Lake
from resources.tables import TableSpec

# A value that looks like an NHS number (10 digits, optionally spaced 3-3-4), standing
# alone or inside a longer text but not inside a longer run of letters and digits (so a
# hexadecimal pseudonym or an opaque id that happens to hold ten digits in a row is not
# one). Searched in every string column of every table outside the identity zone.
NHS_NUMBER_LIKE = r"(?<![0-9A-Za-z])[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}(?![0-9A-Za-z])"
# Normalised clinical codes as curated (ngrl_assets.clinical.codes normalises them).
ICD10 = r"^[A-Z][0-9]{2}[0-9]?$"
ICD10_3CHAR = r"^[A-Z][0-9]{2}$"
OPCS4 = r"^[A-Z][0-9]{3}$"
PSEUDONYM_PARTICIPANT = r"^P[0-9A-F]{20}$"
PSEUDONYM_SAMPLE = r"^S[0-9A-F]{20}$"
INTERNAL_PARTICIPANT_ID = r"^p[0-9a-f]{16}$"

Frame = Callable[["Lake", TableSpec], pl.DataFrame]


@dataclass(frozen=True)
class Expect:
    """One expectation: a Great Expectations 1.x class name (e.g.
    ``ExpectColumnValuesToNotBeNull``) and its keyword arguments; ``why`` says what a
    failure means (rendered in Data Docs as the expectation's note)."""

    type: str
    kwargs: Mapping[str, Any]
    why: str = ""
    # "critical": a failure fails the suite's ``expectations`` check (blocking where the
    # suite is); "warning": a distribution outside its band, reported by the suite's
    # ``expectations_distribution`` check (WARN, never blocking) for the DQ team to review
    severity: str = "critical"

    @property
    def column(self) -> str | None:
        value = self.kwargs.get("column")
        return str(value) if value is not None else None

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.kwargs.items()))
        return f"{self.type}({args})"


def expect(expectation: str, why: str = "", /, **kwargs: Any) -> Expect:
    return Expect(expectation, kwargs, why)


def warning(item: Expect) -> Expect:
    """The same expectation at warning severity (a distribution band)."""
    return dataclasses.replace(item, severity="warning")


@dataclass(frozen=True)
class Suite:
    """The expectations of one table.

    ``validates`` says what GE sees: ``rows`` (every row, converted to pandas; tables
    larger than :data:`expectations.frames.MAX_ROWS` are validated on a deterministic
    sample chosen by a hash of the row's key, documented in ``description``),
    ``per_sample_statistics`` or ``per_table_statistics`` (a frame computed from the
    whole table with polars, one row per sample or one row in all). ``frame`` builds it;
    ``blocking`` suites stop what is downstream (release inputs and release tables).
    """

    name: str  # the table key with dots: curated.hes_apc, releases.participant
    table: TableSpec
    validates: str
    description: str
    expectations: tuple[Expect, ...]
    frame: Frame
    blocking: bool = False
    key: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = field(default=())

    @property
    def asset_key(self) -> str:
        """The Dagster asset the suite's checks sit on: the table's own asset, or for a
        table without one (joint-call bookkeeping, a release's dictionary and the release
        registry) the first asset that writes it."""
        writer = self.table.written_by[0]
        own = f"releases/{self.table.name}" if self.table.zone == "releases" else self.table.name
        return own if own in self.table.written_by else writer

    @property
    def check_name(self) -> str:
        """The Dagster check of the suite's critical expectations."""
        own = self.asset_key.rsplit("/", 1)[-1] == self.table.name
        return "expectations" if own else f"expectations_{self.table.name}"

    @property
    def distribution_check_name(self) -> str | None:
        """The Dagster check of its warning-severity (distribution) expectations, if any."""
        if not any(e.severity == "warning" for e in self.expectations):
            return None
        return f"{self.check_name}_distribution"

    @property
    def check_names(self) -> tuple[str, ...]:
        extra = self.distribution_check_name
        return (self.check_name, extra) if extra else (self.check_name,)
