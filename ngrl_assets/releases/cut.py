"""Cutting a release: cohort at the freeze date -> pseudonyms -> release tables -> gate ->
notes -> manifest -> registry (the one step that makes it visible).

- The cohort is decided behind the consent door (``consent.linkage.release_cohort``);
  only internal id -> eligible, reason (and registered sex) comes out.
- Which curated tables are released, and which columns, comes from the catalogue
  (``releases.tables``); data dated after the freeze date is not released.
- Pseudonyms are HMAC-SHA256 under the release's own key (``releases.pseudonyms``); the map
  back is written to the identity zone only.
- Every table is (re)written whole, deterministically: a cut killed at any point leaves no
  published release, and re-running it converges to the same content.
- A failed gate publishes nothing and says which rule failed and where.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from tqdm import tqdm

from ngrl_assets.clinical.sources import SOURCES
from ngrl_assets.clinical.tables import DIAGNOSES, EXTRACTS
from ngrl_assets.common.ledger import LEDGER
from ngrl_assets.consent import linkage
from ngrl_assets.consent.tables import CONSENT_STATUS
from ngrl_assets.genomics.joint_store import pending_deliveries
from ngrl_assets.genomics.tables import JOINT_GENOTYPES, RAW_SEQUENCES, QcVerdict
from ngrl_assets.releases import pseudonyms, registry
from ngrl_assets.releases.genomics import write_release_genomics
from ngrl_assets.releases.tables import (
    AGGREGATE_GVCF_SAMPLE_STATS,
    JOINT_CALL_COHORTS,
    PARTICIPANT,
    PROJECTED,
    RELEASE_JOINT_GENOTYPES,
    RELEASE_REGISTRY,
    RELEASE_TABLES,
    RELEASE_VARIANT_SITES,
)
from resources.errors import Refused
from resources.lake import Lake
from resources.secrets import SecretNotFound
from resources.tables import TableSpec

CODE_VERSION_ENV = "NGRL_CODE_VERSION"
KILL_AT_ENV = "NGRL_RELEASE_KILL_AT"  # tests: SIGKILL the cut at a named stage

# The column that dates each projected table's rows (data after the freeze date stays out).
EVENT_DATE: dict[str, str] = {
    **{s.table: s.field(s.event_date).column for s in SOURCES.values()},
    DIAGNOSES.name: "event_date",
}


# The gate rule of the curated inputs' blocking suites, run again inside the cut by the
# ``expectations`` hook (the rows it cut, not the checks' last results, are judged).
INPUTS_VALID_AS_CUT = "inputs_valid_as_cut"

# What the cut needs of withdrawal (``withdrawal.releases.apply_to_cut``, handed in by the
# wiring): ``(lake, release_id, people, samples, published)`` -> the internal ids it
# redacted from the release because they withdrew since the cohort was decided.
ApplyWithdrawals = Callable[[Lake, str, pl.DataFrame, pl.DataFrame, bool], set[str]]


class ReleaseError(RuntimeError):
    pass


class ReleaseRefused(Refused, ReleaseError):
    """A cut asked for with an id or a freeze date no release may have."""


@dataclass(frozen=True)
class GateFinding:
    rule: str
    where: str
    passed: bool
    detail: str


@dataclass
class CutResult:
    release_id: str
    published: bool = False
    participants: int = 0
    samples: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    gate: list[GateFinding] = field(default_factory=list)
    eligibility: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    deliveries: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed_rules(self) -> list[GateFinding]:
        return [g for g in self.gate if not g.passed]


def _stage(name: str) -> None:
    """A named point of the cut; the kill test SIGKILLs the process at one of them."""
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def validate_release_id(release_id: str) -> str:
    if not pseudonyms.RELEASE_ID.match(release_id):
        raise ReleaseRefused(
            f"release id must match {pseudonyms.RELEASE_ID.pattern}", "release_id_invalid"
        )
    if release_id in (RELEASE_REGISTRY.name,):
        raise ReleaseRefused("that name is reserved", "release_id_invalid")
    return release_id


def validate_freeze_date(freeze_date: dt.date, today: dt.date | None = None) -> dt.date:
    """A release is frozen at a date that has happened: refuse one after today (UTC)."""
    today = today or dt.datetime.now(dt.UTC).date()
    if freeze_date > today:
        raise ReleaseRefused(
            f"freeze date {freeze_date.isoformat()} is after today ({today.isoformat()} UTC): "
            "a release holds data as of a day that has passed",
            "freeze_date_in_future",
        )
    return freeze_date


# ---- cohort and pseudonyms -----------------------------------------------------------------
def cohort(
    lake: Lake, release_id: str, freeze_date: dt.date, key: bytes
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """(participants, samples, decisions by reason). Participants: internal id, pseudonym,
    sex; samples: internal participant id, participant and sample pseudonyms (QC-passed
    genomes sequenced by the freeze date of eligible participants)."""
    decided = linkage.release_cohort(lake, freeze_date)
    reasons = dict(decided.group_by("reason").len().sort("reason").iter_rows())
    people = decided.filter(pl.col("eligible")).select("participant_id", "sex")
    people = people.with_columns(
        pseudonyms.pseudonymise(key, "participant", people["participant_id"]).alias("pseudonym")
    ).sort("pseudonym")
    raw = (
        lake.scan(RAW_SEQUENCES)
        .filter(
            (pl.col("qc_verdict") == QcVerdict.PASS) & (pl.col("sequencing_date") <= freeze_date)
        )
        .select("participant_id", "sample_id")
        .collect()
        .join(people.select("participant_id", "pseudonym"), on="participant_id", how="inner")
        .unique("participant_id", keep="first")
    )
    samples = raw.select(
        "participant_id",
        pl.col("pseudonym").alias("participant_pseudonym"),
        pseudonyms.pseudonymise(key, "sample", raw["sample_id"]).alias("sample_pseudonym"),
        "sample_id",
    ).sort("sample_pseudonym")
    return people, samples, reasons


def write_pseudonym_map(
    lake: Lake, release_id: str, people: pl.DataFrame, samples: pl.DataFrame
) -> None:
    frame = pl.concat(
        [
            people.select(
                pl.lit(release_id).alias("release_id"),
                pl.lit("participant").alias("kind"),
                pl.col("participant_id").alias("internal_id"),
                "pseudonym",
            ),
            samples.select(
                pl.lit(release_id).alias("release_id"),
                pl.lit("sample").alias("kind"),
                pl.col("sample_id").alias("internal_id"),
                pl.col("sample_pseudonym").alias("pseudonym"),
            ),
        ]
    )
    linkage.record_pseudonyms(lake, release_id, frame)


# ---- tables --------------------------------------------------------------------------------
def _participant_table(lake: Lake, people: pl.DataFrame, freeze_date: dt.date) -> pl.DataFrame:
    consent = lake.read(CONSENT_STATUS).select(
        "participant_id", "year_of_birth", "programme", "consent_category", "life_status"
    )
    mortality = EXTRACTS["ons_mortality"]
    death_col = EVENT_DATE[mortality.name]
    deaths = (
        lake.scan(mortality)
        .filter(pl.col(death_col) <= freeze_date)
        .group_by("participant_id")
        .agg(pl.col(death_col).min().dt.year().cast(pl.Int32).alias("year_of_death"))
        .collect()
    )
    table = (
        people.join(consent, on="participant_id", how="left")
        .join(deaths, on="participant_id", how="left")
        .with_columns(
            pl.when(pl.col("year_of_death").is_not_null())
            .then(pl.lit("deceased"))
            .otherwise(pl.col("life_status"))
            .alias("life_status"),
            pl.col("pseudonym").alias("participant_id"),
        )
    )
    return table.select(list(PARTICIPANT.schema)).sort("participant_id")


def released_rows(
    lake: Lake, curated: TableSpec, people: pl.DataFrame, freeze_date: dt.date
) -> pl.LazyFrame:
    """A curated table's rows that go into the release: eligible participants, dated by
    the freeze date, with the participant as the pseudonym and only release columns."""
    target = PROJECTED[curated.name]
    frame = lake.scan(curated).join(
        people.lazy().select("participant_id", "pseudonym"), on="participant_id", how="inner"
    )
    date = EVENT_DATE.get(curated.name)
    if date:
        frame = frame.filter(pl.col(date).is_null() | (pl.col(date) <= freeze_date))
    frame = frame.with_columns(pl.col("pseudonym").alias("participant_id"))
    return frame.select(list(target.schema))


def write_tables(
    lake: Lake,
    release_id: str,
    freeze_date: dt.date,
    people: pl.DataFrame,
    samples: pl.DataFrame,
    progress: bool = False,
) -> dict[str, int]:
    counts: dict[str, int] = {}
    participant = _participant_table(lake, people, freeze_date)
    lake.overwrite(PARTICIPANT.in_folder(release_id), participant)
    counts[PARTICIPANT.name] = participant.height
    _stage("participant_written")
    curated = {s.name: s for s in (*EXTRACTS.values(), DIAGNOSES)}
    bar = tqdm(list(PROJECTED), desc=f"release {release_id}", unit="table", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        rows = released_rows(lake, curated[name], people, freeze_date).collect()
        target = PROJECTED[name].in_folder(release_id)
        sort = [c for c in ("participant_id", EVENT_DATE.get(name)) if c and c in rows.columns]
        lake.overwrite(target, rows.sort([*sort, *[c for c in rows.columns if c not in sort]]))
        counts[target.name] = rows.height
        _stage(f"{name}_written")
    counts.update(
        write_release_genomics(
            lake,
            release_id,
            samples.select("participant_id", "participant_pseudonym", "sample_pseudonym"),
            progress=progress,
        )
    )
    _stage("genomics_written")
    return counts


# ---- provenance ----------------------------------------------------------------------------
GENOMIC_TABLES = (
    AGGREGATE_GVCF_SAMPLE_STATS,
    RELEASE_VARIANT_SITES,
    RELEASE_JOINT_GENOTYPES,
    JOINT_CALL_COHORTS,
)


def deliveries(
    lake: Lake, freeze_date: dt.date, people: pl.DataFrame, samples: pl.DataFrame
) -> dict[str, list[str]]:
    """Which upstream deliveries each release table contains: the clinical extract files
    its released rows came from, and for the genomic tables the sequencing deliveries of
    the released genomes (``participant`` comes from the consent feeds, no delivery)."""
    curated = {s.name: s for s in (*EXTRACTS.values(), DIAGNOSES)}
    out: dict[str, list[str]] = {PARTICIPANT.name: []}
    for name in PROJECTED:
        frame = lake.scan(curated[name]).join(
            people.lazy().select("participant_id"), on="participant_id", how="inner"
        )
        date = EVENT_DATE.get(name)
        if date:
            frame = frame.filter(pl.col(date).is_null() | (pl.col(date) <= freeze_date))
        out[name] = frame.select("delivery").unique().collect()["delivery"].sort().to_list()
    genomes = (
        lake.scan(RAW_SEQUENCES)
        .join(samples.lazy().select("sample_id"), on="sample_id", how="inner")
        .select("delivery")
        .unique()
        .collect()["delivery"]
        .sort()
        .to_list()
    )
    out.update({spec.name: genomes for spec in GENOMIC_TABLES})
    return out


# ---- gate ----------------------------------------------------------------------------------
def freshness_findings(lake: Lake, stale_inputs: Sequence[tuple[str, str]]) -> list[GateFinding]:
    """``inputs_fresh``: no derived input is older than one of its upstream tables (the
    wiring reads that from the run history: (table, why) pairs); ``joint_calling_current``:
    every QC-passed delivery has been joint-called (the genomics' own record)."""
    findings = [GateFinding("inputs_fresh", table, False, why) for table, why in stale_inputs]
    if not stale_inputs:
        findings.append(
            GateFinding("inputs_fresh", "derived inputs", True, "none older than its upstream")
        )
    pending = pending_deliveries(lake)
    findings.append(
        GateFinding(
            "joint_calling_current",
            JOINT_GENOTYPES.name,
            not pending,
            f"{len(pending)} QC-passed deliveries not yet joint-called"
            if pending
            else "every QC-passed delivery joint-called",
        )
    )
    return findings


def gate(
    lake: Lake,
    release_id: str,
    freeze_date: dt.date,
    people: pl.DataFrame,
    samples: pl.DataFrame,
    counts: dict[str, int],
    input_checks: Sequence[tuple[str, str, bool | None]] = (),
    stale_inputs: Sequence[tuple[str, str]] = (),
) -> list[GateFinding]:
    """Go/no-go: inputs fresh and their checks passed; counts reconcile; no identifier in
    any table."""
    findings = freshness_findings(lake, stale_inputs)
    for asset, check, passed in input_checks:
        findings.append(
            GateFinding(
                "input_checks_passed",
                f"{asset}:{check}",
                passed is True,
                "passed on its latest materialisation" if passed else "failed or never ran",
            )
        )
    curated = {s.name: s for s in (*EXTRACTS.values(), DIAGNOSES)}
    for name, spec in PROJECTED.items():
        expected = released_rows(lake, curated[name], people, freeze_date).select(pl.len())
        want = int(expected.collect().item())
        got = int(lake.scan(spec.in_folder(release_id)).select(pl.len()).collect().item())
        findings.append(
            GateFinding(
                "row_counts_reconcile", name, want == got, f"curated {want}, released {got}"
            )
        )
    for name, want in (
        (PARTICIPANT.name, people.height),
        ("aggregate_gvcf_sample_stats", samples.height),
    ):
        got = counts.get(name, -1)
        findings.append(
            GateFinding(
                "row_counts_reconcile", name, want == got, f"expected {want}, released {got}"
            )
        )
    internal = set(people["participant_id"].to_list()) | set(samples["sample_id"].to_list())
    internal |= set(lake.read(RAW_SEQUENCES)["delivery"].unique().to_list())
    keys = lake.read(LEDGER)["landing_key"].to_list()
    internal |= set(keys) | {k.rsplit("/", 1)[-1] for k in keys}
    internal_series = pl.Series(sorted(internal), dtype=pl.String)
    for spec in RELEASE_TABLES:
        table = lake.read(spec.in_folder(release_id))
        textual = [c for c, t in table.schema.items() if t == pl.String or t.is_integer()]
        values = (
            pl.concat([table[c].cast(pl.String).drop_nulls() for c in textual])
            if textual
            else pl.Series([], dtype=pl.String)
        )
        values = values.unique()
        leaked_internal = int(values.is_in(internal_series.implode()).sum())
        leaked_identity = linkage.identifiers_among(lake, values)
        pattern_ok = all(
            bool(pseudonyms.PATTERN.match(v)) for v in table.get_column("participant_id").to_list()
        ) if "participant_id" in table.columns else True  # fmt: skip
        passed = leaked_internal == 0 and leaked_identity == 0 and pattern_ok
        detail = (
            f"{leaked_internal} internal ids/sample ids/delivery ids/landing names, "
            f"{leaked_identity} direct identifiers"
            + ("" if pattern_ok else ", participant_id values that are not pseudonyms")
        )
        findings.append(GateFinding("no_identifiers", spec.name, passed, detail))
    return findings


# ---- the cut -------------------------------------------------------------------------------
def release_key(get_secret: Callable[[str], bytes], release_id: str) -> bytes:
    """The release's own key: the secret ``release-key-<id>`` if set, else derived from
    ``release-master-key`` (documented in docs/releases.md)."""
    try:
        return get_secret(f"release-key-{release_id}")
    except SecretNotFound:
        return pseudonyms.derive_key(get_secret("release-master-key"), release_id)


def cut_release(
    lake: Lake,
    get_secret: Callable[[str], bytes],
    release_id: str,
    freeze_date: dt.date,
    *,
    withdrawals: ApplyWithdrawals,
    label: str | None = None,
    input_checks: Sequence[tuple[str, str, bool | None]] = (),
    stale_inputs: Sequence[tuple[str, str]] = (),
    progress: bool = False,
    after_tables: Callable[[CutResult], list[str]] | None = None,
    expectations: Callable[[CutResult], list[GateFinding]] | None = None,
) -> CutResult:
    """Cut, gate and (if the gate says go) publish one release. ``expectations`` (the
    release tables' Great Expectations suites) runs once the tables and documents are
    written, before the manifest: a failed suite is a failed gate rule and nothing is
    published. ``withdrawals`` applies the withdrawals recorded since the
    cohort was decided, before the gate and again after publishing."""
    validate_release_id(release_id)
    validate_freeze_date(freeze_date)
    existing = registry.get(lake, release_id)
    if existing is not None:
        raise registry.ReleaseExists(f"release {release_id} is already published")
    key = release_key(get_secret, release_id)
    result = CutResult(release_id)
    people, samples, result.eligibility = cohort(lake, release_id, freeze_date, key)
    result.participants, result.samples = people.height, samples.height
    if people["pseudonym"].n_unique() != people.height:
        raise ReleaseError("pseudonym collision: choose a new release key")
    write_pseudonym_map(lake, release_id, people, samples)
    _stage("pseudonyms_written")
    result.tables = write_tables(lake, release_id, freeze_date, people, samples, progress)
    _stage("tables_written")
    # withdrawals recorded since the cohort was decided are applied before the gate
    withdrawn = withdrawals(lake, release_id, people, samples, False)
    if withdrawn:
        gone = pl.Series(sorted(withdrawn), dtype=pl.String).implode()
        people = people.filter(~pl.col("participant_id").is_in(gone))
        samples = samples.filter(~pl.col("participant_id").is_in(gone))
        result.participants, result.samples = people.height, samples.height
        placed = {s.name: s.in_folder(release_id) for s in RELEASE_TABLES}
        result.tables = {name: lake.read(placed[name]).height for name in result.tables}
    result.deliveries = deliveries(lake, freeze_date, people, samples)
    result.gate = gate(
        lake, release_id, freeze_date, people, samples, result.tables, input_checks, stale_inputs
    )
    _stage("gated")
    if result.failed_rules:
        return result
    if after_tables:
        result.notes = after_tables(result)
    _stage("notes_written")
    if expectations:
        result.gate += expectations(result)
        if result.failed_rules:
            return result
    parent = registry.latest(lake, before=release_id)
    manifest = build_manifest(lake, result, freeze_date, label, parent)
    digest = registry.write_manifest(lake, release_id, manifest)
    _stage("manifest_written")
    registry.publish(lake, manifest, digest)
    result.published = True
    _stage("published")
    # ... and any recorded while it was gated and published are redacted right after (a
    # withdrawal propagation that started earlier did not see this release yet)
    withdrawals(lake, release_id, people, samples, True)
    return result


def code_version() -> str:
    """``NGRL_CODE_VERSION`` (the deployment sets the image's git commit; make sets HEAD),
    else the installed package's version."""
    from importlib import metadata

    if os.environ.get(CODE_VERSION_ENV):
        return os.environ[CODE_VERSION_ENV]
    try:
        return "ngrl " + metadata.version("ngrl")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_manifest(
    lake: Lake,
    result: CutResult,
    freeze_date: dt.date,
    label: str | None,
    parent: registry.Published | None,
) -> dict[str, Any]:
    tables = registry.table_entries(lake, result.release_id, result.deliveries)
    now = dt.datetime.now(dt.UTC).isoformat()
    return {
        "release_id": result.release_id,
        "label": label,
        "freeze_date": freeze_date.isoformat(),
        "code_version": code_version(),
        "parent_release": parent.release_id if parent else None,
        "participants": result.participants,
        "samples": result.samples,
        "eligibility": result.eligibility,
        "tables": tables,
        "gate": [g.__dict__ for g in result.gate],
        "notes": result.notes,
        "history": [{"event": "published", "at": now, "tables": sorted(tables)}],
    }
