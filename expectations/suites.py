"""One suite per curated and release table, as code.

Every suite starts from its table's catalogue declaration (:func:`table_rules`): the
exact column set, each column's type, the participant column never null and always in
the participant table (``consent_status`` for curated tables, the release's
``participant`` for release tables), no NHS-number-like value in any string column, and
the table's key unique. Then the table's own rules: ranges, clinical code forms (ICD-10,
OPCS-4, normalised as curated), and for genomics the distribution checks a genomics DQ
team runs: AF in [0, 1] and equal to AC/AN, the share of sites failing each aggV2 FILTER,
and per participant Ti/Tv of SNVs, het/hom ratio, call rate and the allele balance of hets.

The bands of the distribution checks are for whole genomes on GRCh38 and wide enough for
one chromosome (chr22) of a small cohort, which is what the demo library holds: Ti/Tv of
SNV calls 1.6-2.6 (whole genomes sit near 2.0-2.1; below 1.6 means random errors),
het/hom-alt 0.8-4.0 (1.3-2.5 is usual; far outside means contamination or a sex/ploidy
error), mean allele balance of 0/1 hets 0.3-0.7 (0.5 expected), call rate at least 0.9,
each for 95 % of the samples with enough calls (:data:`MIN_CALLS`). Distribution bands
have warning severity: a band missed is reported by the suite's distribution check (WARN)
for the DQ team; every other expectation is critical. The demo's synthetic genomes come
from a simulated human population and pass these bands (docs/genomics.md).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from expectations import frames
from expectations.spec import (
    ICD10,
    ICD10_3CHAR,
    INTERNAL_PARTICIPANT_ID,
    NHS_NUMBER_LIKE,
    OPCS4,
    PSEUDONYM_PARTICIPANT,
    PSEUDONYM_SAMPLE,
    Expect,
    Suite,
    expect,
    warning,
)
from ngrl_assets.clinical.tables import DIAGNOSES, EXTRACTS
from ngrl_assets.consent.tables import CONSENT_STATUS
from ngrl_assets.genomics.tables import (
    JOINT_CALL_INCREMENTS,
    JOINT_GENOTYPES,
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    SITE_BATCH_AGGREGATES,
    VARIANT_SITES,
    QcVerdict,
)
from ngrl_assets.releases.tables import (
    AGGREGATE_GVCF_SAMPLE_STATS,
    BUILT,
    DATA_DICTIONARY,
    JOINT_CALL_COHORTS,
    PARTICIPANT,
    PROJECTED,
    RELEASE_JOINT_GENOTYPES,
    RELEASE_REGISTRY,
    RELEASE_VARIANT_SITES,
)
from resources.tables import TableSpec

FIRST_YEAR = 1900
THIS_YEAR = dt.date.today().year
RELEASE_INPUTS = {*BUILT, *PROJECTED}  # curated tables a release is cut from: blocking
AGES: list[object] = list(range(131))
# Ratios over a handful of calls are noise, not a QC signal: the per-sample bands apply to
# samples with at least 30 SNV calls (Ti/Tv), 30 calls (het/hom) or 10 0/1 hets (balance).
MIN_CALLS = 30
ENOUGH_SNVS = {"row_condition": f"n_snv >= {MIN_CALLS}", "condition_parser": "pandas"}
ENOUGH_CALLS = {"row_condition": f"n_calls >= {MIN_CALLS}", "condition_parser": "pandas"}
ENOUGH_HETS = {"row_condition": "n_het >= 10", "condition_parser": "pandas"}
# HES STARTAGE of a child under one: 7001 (< 1 day) ... 7007 (6-11 months)
HES_INFANT_AGES: list[object] = list(range(7001, 7008))


# ---- rules every table gets from its declaration ---------------------------------------
def table_rules(
    spec: TableSpec,
    key: tuple[str, ...],
    derived: tuple[str, ...] = (),
    participant_when: str | None = None,
) -> list[Expect]:
    out = [
        expect(
            "ExpectTableColumnsToMatchSet",
            "the table's columns are exactly the declared ones (catalogue)",
            column_set=[*spec.schema, *derived],
            exact_match=True,
        )
    ]
    out += [
        expect(
            "ExpectColumnValuesToBeOfType",
            f"declared {dtype}",
            column=column,
            type_=frames.ge_type(dtype),  # type: ignore[arg-type]
        )
        for column, dtype in spec.schema.items()
    ]
    if spec.participant_column:
        when = (
            {"row_condition": participant_when, "condition_parser": "pandas"}
            if participant_when
            else {}
        )
        out += [
            expect(
                "ExpectColumnValuesToNotBeNull",
                "every row belongs to a participant",
                column=spec.participant_column,
                **when,
            ),
            expect(
                "ExpectColumnValuesToBeInSet",
                "referential integrity: the participant is in the participant table",
                column="dq_participant_known",
                value_set=[True],
                **when,
            ),
        ]
    out += [
        expect(
            "ExpectColumnValuesToNotMatchRegex",
            "no NHS-number-like value outside the identity zone",
            column=column,
            regex=NHS_NUMBER_LIKE,
        )
        for column, dtype in spec.schema.items()
        if frames.ge_type(dtype) == "str"  # type: ignore[arg-type]
    ]
    if len(key) == 1:
        out.append(expect("ExpectColumnValuesToBeUnique", "the key is unique", column=key[0]))
    elif key:
        out.append(
            expect("ExpectCompoundColumnsToBeUnique", "the key is unique", column_list=list(key))
        )
    return out


def between(column: str, low: object = None, high: object = None, why: str = "", **kw) -> Expect:
    return expect(
        "ExpectColumnValuesToBeBetween", why, column=column, min_value=low, max_value=high, **kw
    )


def in_set(column: str, values: list[object], why: str = "") -> Expect:
    return expect("ExpectColumnValuesToBeInSet", why, column=column, value_set=values)


def regex(column: str, pattern: str, why: str = "") -> Expect:
    return expect("ExpectColumnValuesToMatchRegex", why, column=column, regex=pattern)


def not_null(column: str, why: str = "", **kw) -> Expect:
    return expect("ExpectColumnValuesToNotBeNull", why, column=column, **kw)


def mean_between(column: str, low: float | None, high: float | None, why: str) -> Expect:
    return expect("ExpectColumnMeanToBeBetween", why, column=column, min_value=low, max_value=high)


def _row_suite(
    spec: TableSpec,
    key: tuple[str, ...],
    own: list[Expect],
    *,
    blocking: bool,
    derive: tuple[frames.Derive, ...] = (),
    derived: tuple[str, ...] = (),
    min_rows: int = 0,
    participant_when: str | None = None,
) -> Suite:
    participant = (frames.participant_known,) if spec.participant_column else ()
    derived_all = (*derived, *(("dq_participant_known",) if spec.participant_column else ()))
    rules = table_rules(spec, key, derived_all, participant_when)
    # a column held to an anchored form or a set of values cannot hold an NHS number: its
    # NHS-number-like rule would only cost GE time
    formed = {
        e.column
        for e in own
        if e.type in ("ExpectColumnValuesToMatchRegex", "ExpectColumnValuesToBeInSet")
        and e.severity == "critical"
        and "mostly" not in e.kwargs
        and "row_condition" not in e.kwargs
        and (e.type != "ExpectColumnValuesToMatchRegex" or str(e.kwargs["regex"]).startswith("^"))
    }
    rules = [
        e
        for e in rules
        if not (e.type == "ExpectColumnValuesToNotMatchRegex" and e.column in formed)
    ]
    if min_rows:
        rules.append(
            expect("ExpectTableRowCountToBeBetween", "the table is not empty", min_value=min_rows)
        )
    return Suite(
        name=spec.key.replace("/", ".") if spec.zone != "releases" else f"releases.{spec.name}",
        table=spec,
        validates="rows",
        description=(
            f"every row of {spec.key} (a deterministic sample by a hash of "
            f"({', '.join(key) or 'no key'}) above {frames.MAX_ROWS:,} rows)"
        ),
        expectations=(*rules, *own),
        frame=frames.rows(key, *derive, *participant),
        blocking=blocking,
        key=key,
    )


# ---- genomics --------------------------------------------------------------------------
def _genotype_rules(*, call_rate: bool, release: bool) -> list[Expect]:
    out = [
        warning(between("ti_tv", 1.6, 2.6, "Ti/Tv of SNV calls", mostly=0.95, **ENOUGH_SNVS)),
        warning(
            between("het_hom_ratio", 0.8, 4.0, "het/hom-alt ratio", mostly=0.95, **ENOUGH_CALLS)
        ),
        warning(
            between(
                "mean_het_allele_balance",
                0.3,
                0.7,
                "allele balance of 0/1 hets",
                mostly=0.95,
                **ENOUGH_HETS,
            )
        ),
        between("n_invalid_alleles", 0, 0, "allele codes are -1, 0, 1 or 2"),
        between("n_negative_depth", 0, 0, "read depths are never negative"),
        in_set(
            "dq_participant_known",
            [True],
            "every genotyped participant is in the participant table",
        ),
    ]
    if call_rate:
        out.append(
            warning(
                between(
                    "call_rate", 0.9, 1.0, "per-sample call rate (1 - missingness)", mostly=0.95
                )
            )
        )
    if release:
        out.append(
            in_set(
                "dq_in_sample_stats",
                [True],
                "every genotyped sample is in aggregate_gvcf_sample_stats",
            )
        )
    return out


def _genotype_suite(spec: TableSpec, name: str, *, call_rate: bool, blocking: bool) -> Suite:
    release = spec.zone == "releases"
    return Suite(
        name=name,
        table=spec,
        validates="per_sample_statistics",
        description=(
            f"per-participant statistics computed with polars over every row of {spec.key} "
            "(Ti/Tv, het/hom, allele balance"
            + (", call rate over the cohort's sites" if call_rate else "")
            + "); the statistics frame holds no participant id"
        ),
        expectations=tuple(_genotype_rules(call_rate=call_rate, release=release)),
        frame=frames.genotype_statistics(call_rate=call_rate),
        blocking=blocking,
    )


def _sites_rules() -> list[Expect]:
    share = [
        warning(
            mean_between(
                f"dq_fails_{name}", 0.0, 0.5, f"share of sites failing the aggV2 {name} filter"
            )
        )
        for name in frames.FILTERS
    ]
    return [
        between("AF", 0.0, 1.0, "allele frequency in [0, 1]"),
        between("dq_af_minus_ac_over_an", -1e-9, 1e-9, "AF equals AC/AN"),
        between("AN", 0, None, "allele number is never negative"),
        between("AC", 0, None, "allele count is never negative"),
        between("missingness", 0.0, 1.0, "missingness is a proportion"),
        between("phwe", 0.0, 1.0, "a p-value"),
        between("pos", 1, 250_000_000, "a GRCh38 position"),
        regex("FILTER", r"^(PASS|[A-Za-z]+(;[A-Za-z]+)*)$", "PASS or ';'-joined aggV2 filters"),
        warning(mean_between("dq_passes", 0.3, 1.0, "share of sites passing every aggV2 filter")),
        *share,
    ]


SITE_KEY = ("contig", "pos", "ref", "alt")
SITE_DERIVED = (
    "dq_af_minus_ac_over_an",
    "dq_passes",
    *(f"dq_fails_{name}" for name in frames.FILTERS),
)


def _sites_suite(spec: TableSpec, blocking: bool) -> Suite:
    return _row_suite(
        spec,
        SITE_KEY,
        _sites_rules(),
        blocking=blocking,
        derive=(frames.af_checks,),
        derived=SITE_DERIVED,
    )


# ---- clinical --------------------------------------------------------------------------
def _code_rules(spec: TableSpec) -> list[Expect]:
    out: list[Expect] = []
    for column in spec.schema:
        if (
            column.startswith("diag_4_")
            or column in {"s_underlying_cod_icd10"}
            or column.startswith("s_cod_code_")
        ):
            out.append(regex(column, ICD10, "an ICD-10 code (normalised)"))
        elif column.startswith("opertn_4_"):
            out.append(regex(column, OPCS4, "an OPCS-4 code"))
        elif column == "startage":
            out.append(in_set(column, AGES + HES_INFANT_AGES, "an age in years or 7001-7007"))
        elif column.startswith("age") or column.endswith("_age"):
            out.append(between(column, 0, 130, "an age in years"))
    return out


def _dates_not_future(spec: TableSpec) -> list[Expect]:
    today = dt.datetime.combine(dt.date.today(), dt.time())
    return [
        between(c, dt.datetime(FIRST_YEAR, 1, 1), today, "a date between 1900 and today")
        for c, t in spec.schema.items()
        if t == pl.Date
    ]


CLINICAL_KEYS: dict[str, tuple[str, ...]] = {
    "hes_apc": ("epikey",),
    "hes_op": ("attendkey",),
    "hes_ae": ("aekey",),
    "mortality": ("participant_id",),
    "av_tumour": ("tumourid",),
    "diagnoses": ("participant_id", "source", "record_key", "position"),
}


def _clinical_suite(spec: TableSpec, blocking: bool) -> Suite:
    key = tuple(k for k in CLINICAL_KEYS.get(spec.name, ()) if k in spec.schema)
    own = [*_code_rules(spec), *_dates_not_future(spec)]
    if spec.name == "diagnoses":
        own += [
            regex("icd10_code", ICD10, "an ICD-10 code (normalised)"),
            regex("icd10_3char", ICD10_3CHAR, "the 3-character ICD-10 category"),
            between("position", 0, 20, "diagnosis position (0: ONS underlying cause)"),
        ]
    if spec.name == "av_tumour":
        own.append(regex("site_icd10_o2", r"^[A-Z][0-9]{2}[0-9]?$", "an ICD-10 site"))
    return _row_suite(spec, key, own, blocking=blocking)


# ---- the suites -------------------------------------------------------------------------
def _participant_id(column: str = "participant_id") -> Expect:
    return regex(column, INTERNAL_PARTICIPANT_ID, "an opaque internal id, never a reference")


def curated_suites() -> list[Suite]:
    inputs = RELEASE_INPUTS
    out = [
        _row_suite(
            CONSENT_STATUS,
            ("participant_id",),
            [
                _participant_id(),
                between("year_of_birth", FIRST_YEAR, THIS_YEAR, "a plausible year of birth"),
                in_set("withdrawal_state", ["none", "no_further_contact", "full"]),
                in_set("life_status", ["alive", "deceased"]),
                in_set("programme", ["gms", "100kgp"]),
                *_dates_not_future(CONSENT_STATUS),
            ],
            blocking=CONSENT_STATUS.name in inputs,
            min_rows=1,
        ),
        _row_suite(
            RAW_SEQUENCES,
            ("delivery", "sample_id"),
            [
                in_set("qc_verdict", [v.value for v in QcVerdict]),
                in_set("inferred_sex", ["XX", "XY", "unknown", None]),
                between("mean_coverage", 0, 1000, "mean coverage"),
                between("pct_bases_15x", 0, 100, "a percentage"),
                between("contamination", 0, 1, "a fraction"),
                between("gvcf_bytes", 0, None, "object size"),
            ],
            blocking=RAW_SEQUENCES.name in inputs,
            # a quarantined delivery row may name nobody we know (that is why it is held)
            participant_when=f'qc_verdict != "{QcVerdict.QUARANTINED}"',
        ),
        _genotype_suite(
            SAMPLE_VARIANT_CALLS, "curated.sample_variant_calls", call_rate=False, blocking=False
        ),
        Suite(
            name="curated.sample_reference_blocks",
            table=SAMPLE_REFERENCE_BLOCKS,
            validates="per_sample_statistics",
            description=(
                "per-participant statistics computed with polars over every row of "
                "curated/sample_reference_blocks (blocks, bases, malformed blocks)"
            ),
            expectations=(
                between("n_inverted", 0, 0, "no block ends before it starts"),
                between("n_negative", 0, 0, "no negative depth or quality"),
                between("n_blocks", 1, None, "every sample has reference blocks"),
                in_set("dq_participant_known", [True], "the participant is in consent_status"),
            ),
            frame=frames.reference_block_statistics,
        ),
        _genotype_suite(
            JOINT_GENOTYPES,
            "curated.joint_genotypes",
            call_rate=True,
            blocking=JOINT_GENOTYPES.name in inputs,
        ),
        _sites_suite(VARIANT_SITES, blocking=VARIANT_SITES.name in inputs),
        _row_suite(
            SITE_BATCH_AGGREGATES,
            ("chunk", "sample_batch", "increment", "contig", "pos", "ref", "alt"),
            [
                between("sample_batch", 0, None, "batches are numbered from 1 (0: none)"),
                between("n_samples", 1, None, "a batch's row counts at least one sample"),
                between("n_an", 0, None, "allele number"),
                between("n_ac", 0, None, "allele count"),
            ],
            blocking=False,
        ),
        _row_suite(
            JOINT_CALL_INCREMENTS,
            ("chunk", "increment", "delivery"),
            [between("samples", 0, None), between("new_sites", 0, None)],
            blocking=False,
        ),
    ]
    for spec in (*EXTRACTS.values(), DIAGNOSES):
        out.append(_clinical_suite(spec, blocking=spec.name in inputs))
    return out


def release_suites(release_id: str) -> list[Suite]:
    """The suites of one release's tables (read from ``releases/<release_id>/``): all
    blocking, they are part of the release gate."""
    at = release_id
    out = [
        _row_suite(
            PARTICIPANT.in_folder(at),
            ("participant_id",),
            [
                regex("participant_id", PSEUDONYM_PARTICIPANT, "a release pseudonym"),
                between("year_of_birth", FIRST_YEAR, THIS_YEAR),
                in_set("sex", ["F", "M", "U"]),
                in_set("life_status", ["alive", "deceased"]),
            ],
            blocking=True,
            min_rows=1,
        ),
        _row_suite(
            AGGREGATE_GVCF_SAMPLE_STATS.in_folder(at),
            ("sample_id",),
            [
                regex("participant_id", PSEUDONYM_PARTICIPANT, "a release pseudonym"),
                regex("sample_id", PSEUDONYM_SAMPLE, "a release pseudonym"),
                warning(
                    between("ti_tv", 1.6, 2.6, "Ti/Tv of SNV calls", mostly=0.95, **ENOUGH_SNVS)
                ),
                warning(
                    between(
                        "het_hom_ratio", 0.8, 4.0, "het/hom-alt ratio", mostly=0.95, **ENOUGH_CALLS
                    )
                ),
                between("contamination", 0, 0.05, "released samples passed contamination QC"),
                between("n_calls", 0, None),
            ],
            blocking=True,
        ),
        _genotype_suite(
            RELEASE_JOINT_GENOTYPES.in_folder(at),
            "releases.joint_genotypes",
            call_rate=True,
            blocking=True,
        ),
        _sites_suite(RELEASE_VARIANT_SITES.in_folder(at), blocking=True),
        _row_suite(
            JOINT_CALL_COHORTS.in_folder(at),
            ("chunk", "participant_id"),
            [regex("participant_id", PSEUDONYM_PARTICIPANT, "a release pseudonym")],
            blocking=True,
        ),
    ]
    for spec in PROJECTED.values():
        out.append(_clinical_suite(spec.in_folder(at), blocking=True))
    return out


def catalogue_suites() -> list[Suite]:
    """The release zone's own tables (every release's dictionary and the registry)."""
    return [
        _row_suite(
            RELEASE_REGISTRY,
            ("release_id",),
            [
                in_set("status", ["published", "redacted", "deleted"]),
                between("participants", 0, None),
            ],
            blocking=False,
        ),
    ]


def dictionary_suite(release_id: str) -> Suite:
    return _row_suite(
        DATA_DICTIONARY.in_folder(release_id),
        ("table_name", "column_name"),
        [not_null("description", "every column is described")],
        blocking=True,
    )


def release_gate_suites(release_id: str) -> list[Suite]:
    """Every suite a release's gate runs on it: its tables, its data dictionary and the
    release registry."""
    return [*release_suites(release_id), dictionary_suite(release_id), *catalogue_suites()]


def cut_input_suites() -> list[Suite]:
    """The blocking suites of the curated tables a release is cut from: the cut validates
    them again on the tables as it reads them (a check result from before a later write
    says nothing about the rows being cut)."""
    return [s for s in curated_suites() if s.blocking]
