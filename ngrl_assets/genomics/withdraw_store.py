"""Withdrawing participants from the joint-called tables on the lake, exactly: the library's
``variant_sites`` / ``joint_genotypes`` and a release's copies end as a joint call
without them would leave them (:mod:`.withdraw` explains why a subtraction is exact).

The withdrawn samples (W) are genotyped again from their own per-sample rows at every
site of the table, chunk group by chunk group; their aggregates are subtracted and the
site QC recomputed from the aggregates. Sites W carried that no remaining sample carries
(checked in ``sample_variant_calls``, filtered by chunk and position, for those sites
only) are dropped, with every ``joint_genotypes`` row there. No other sample is genotyped
again. W's own genotype rows and per-sample rows are erased afterwards by the generic
row erasure, which must run after these functions (they read W's per-sample rows).

Writes go sites -> genotypes. The sites commit is the commit point: it records the batch
``marker`` in its commit metadata (``ngrl.withdrawal_batch``) and, in the library, in the
``increment`` column of every row it rewrites. A call that finds its marker applied does
not subtract again; it only finishes deleting the genotype rows of sites that are no
longer in the table. Withdrawal and joint calling of one table must not run at the same
time (one Dagster pool), as for two joint-calling runs.

Messages and results carry counts only, never an id or a pseudonym.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from ngrl_assets.genomics import chunks, site_qc
from ngrl_assets.genomics.batches import NO_BATCH
from ngrl_assets.genomics.increment import site_state_schema
from ngrl_assets.genomics.joint import BLOCKS_SCHEMA, CALLS_SCHEMA, SITES_SCHEMA
from ngrl_assets.genomics.joint_store import (
    CHUNK_GROUP,
    GENOME,
    load_sample_rows,
    passed_samples,
    with_site_qc,
)
from ngrl_assets.genomics.schemas import SITE_KEY
from ngrl_assets.genomics.tables import (
    JOINT_CALL_INCREMENTS,
    JOINT_GENOTYPES,
    LIBRARY_ONLY_GENOTYPE_COLUMNS,
    ROW_GROUP_ROWS,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    SITE_BATCH_AGGREGATES,
    VARIANT_SITES,
)
from ngrl_assets.genomics.withdraw import carried_sites, contribution, dropped_sites, subtract
from resources.lake import Lake
from resources.tables import TableSpec

BATCH_KEY = "ngrl.withdrawal_batch"  # commit metadata entry naming the withdrawal batch
_MARKER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_SITE_CHUNK = ["chunk", *SITE_KEY]


@dataclass(frozen=True)
class GenomicsRedaction:
    """What one withdrawal did to a pair of joint-called tables (counts only)."""

    sites_updated: int = 0  # sites kept whose aggregates lost the withdrawn samples
    sites_dropped: int = 0  # sites only the withdrawn samples carried
    genotype_rows_removed_at_dropped_sites: int = 0
    chunks_rewritten: int = 0
    already_applied: bool = False


@dataclass
class _Redacted:
    """One chunk group's result."""

    sites: pl.DataFrame  # the group's state rows in changed chunks, aggregates updated
    dropped: pl.DataFrame  # chunk + site key
    changed: set[str]
    updated: int
    # the withdrawn samples' contributions per sample batch: chunk, sample_batch, aggregates
    by_batch: pl.DataFrame | None = None


def withdraw_from_library(
    lake: Lake, participant_ids: list[str], marker: str, min_dp: int = 1
) -> GenomicsRedaction:
    """Take the participants' samples out of the library's ``variant_sites`` (aggregates,
    site QC, FILTER; sites only they carried dropped) and delete every ``joint_genotypes``
    row at the dropped sites. A chunk is changed only where joint calling folded a
    withdrawn sample's delivery in (``joint_call_increments``). Idempotent per
    ``marker`` (an opaque batch id): a second call, or one after a crash between the two
    writes, subtracts nothing again. Participants without a QC-passed sample are
    ignored."""
    _check_marker(marker)
    withdrawn = _withdrawn(lake, participant_ids)
    if _library_applied(lake, marker):
        candidates = _carried_candidates(lake, withdrawn)
        removed = _finish_dropped(lake, VARIANT_SITES, JOINT_GENOTYPES, candidates)
        _finish_dropped(lake, VARIANT_SITES, SITE_BATCH_AGGREGATES, candidates)
        return GenomicsRedaction(
            genotype_rows_removed_at_dropped_sites=removed, already_applied=True
        )
    if withdrawn.height == 0:
        return GenomicsRedaction()
    _refuse_unfinished_increments(lake)
    ids = withdrawn["participant_id"].implode()
    others = passed_samples(lake).filter(~pl.col("participant_id").is_in(ids))
    absorbed = (
        lake.scan(JOINT_CALL_INCREMENTS)
        .filter(pl.col("chunk") != GENOME)
        .select("chunk", "delivery")
        .unique()
        .collect()
    )
    names = sorted(lake.scan(VARIANT_SITES).select("chunk").unique().collect()["chunk"].to_list())
    results: list[_Redacted] = []
    for start in range(0, len(names), CHUNK_GROUP):
        group = names[start : start + CHUNK_GROUP]
        state = lake.scan(VARIANT_SITES).filter(pl.col("chunk").is_in(group)).collect()
        results.append(_redact(lake, state, withdrawn, others, absorbed, min_dp))
    changed = sorted(set[str]().union(*(r.changed for r in results)))
    dropped = _concat([r.dropped for r in results], _SITE_CHUNK, VARIANT_SITES)
    shares = [r.by_batch for r in results if r.by_batch is not None and r.by_batch.height]
    if shares:
        _consolidate_batches(lake, pl.concat(shares), dropped, marker)
    if changed:
        sites = pl.concat([_requalified(r.sites) for r in results])
        sites = sites.with_columns(pl.lit(marker).alias("increment"))
        lake.replace(
            VARIANT_SITES,
            sites.select(list(VARIANT_SITES.schema)),
            where={"chunk": changed},
            commit_metadata={BATCH_KEY: marker},
        )
    removed = lake.delete_matching(JOINT_GENOTYPES, dropped) if dropped.height else 0
    if dropped.height:
        lake.delete_matching(SITE_BATCH_AGGREGATES, dropped)
    return GenomicsRedaction(
        sites_updated=sum(r.updated for r in results),
        sites_dropped=dropped.height,
        genotype_rows_removed_at_dropped_sites=removed,
        chunks_rewritten=len(changed),
    )


def _consolidate_batches(
    lake: Lake, shares: pl.DataFrame, dropped: pl.DataFrame, marker: str
) -> None:
    """The withdrawn samples' batches, in the chunks they were joint-called in, rewritten
    as one row per (chunk, batch, site) without them: the increments' rows of those
    batches summed, the withdrawn contributions subtracted, rows of sites dropped and of
    batches left empty gone, tagged with the withdrawal ``marker``. Nothing of a withdrawn
    sample's own share survives (an increment of one sample would otherwise keep its
    genotype counts). Done once per marker (one commit; a re-run finds the marker)."""
    chunks_touched = sorted(set(shares["chunk"].drop_nulls().to_list()))
    batches = sorted(set(shares["sample_batch"].to_list()))
    # the one commit holds every touched chunk: its marker in any of them means done
    touched = pl.col("chunk").is_in(chunks_touched)
    done = lake.scan(SITE_BATCH_AGGREGATES).filter(touched & (pl.col("increment") == marker))
    if done.head(1).collect().height:
        return
    rows = (
        lake.scan(SITE_BATCH_AGGREGATES)
        .filter(touched & pl.col("sample_batch").is_in(batches))
        .collect()
    )
    summed = site_qc.total(rows.drop("increment"), by=["chunk", "sample_batch"])
    kept = []
    for (chunk, batch), state in summed.group_by(["chunk", "sample_batch"]):
        share = shares.filter((pl.col("chunk") == chunk) & (pl.col("sample_batch") == batch))
        kept.append(subtract(state, site_qc.total(share.drop("chunk", "sample_batch"), by=[])))
    out = pl.concat(kept).join(dropped, on=_SITE_CHUNK, how="anti")
    out = out.filter(pl.col("n_samples") > 0).with_columns(pl.lit(marker).alias("increment"))
    lake.replace(
        SITE_BATCH_AGGREGATES,
        out.select(list(SITE_BATCH_AGGREGATES.schema)),
        where={"chunk": chunks_touched, "sample_batch": batches},
    )


def withdraw_from_release(
    lake: Lake,
    release_id: str,
    participant_ids: list[str],
    pseudonyms: list[str],
    cohort_ids: list[str],
    marker: str,
    min_dp: int = 1,
) -> GenomicsRedaction:
    """The same for one release's copies: its ``variant_sites`` (rewritten whole, the
    marker in the commit metadata), its ``joint_genotypes`` rows at the dropped sites, and
    its ``joint_call_cohorts`` rows of chunks left without a site (a release joint call
    without the participants would not list them). ``pseudonyms[i]`` is the release
    pseudonym of ``participant_ids[i]``; a participant whose pseudonym the release's
    ``joint_call_cohorts`` does not hold was not joint-called in it and is ignored.
    ``cohort_ids``: the internal ids of the release's other joint-called participants,
    whose own calls decide whether a site the withdrawn carried is still carried."""
    _check_marker(marker)
    if len(pseudonyms) != len(participant_ids):
        raise ValueError(
            f"{len(participant_ids)} participant id(s) but {len(pseudonyms)} pseudonym(s)"
        )
    sites_spec, genotypes_spec, cohorts_spec = release_copies(release_id)
    pairs = pl.DataFrame(
        {"participant_id": participant_ids, "participant_pseudonym": pseudonyms},
        schema={"participant_id": pl.String, "participant_pseudonym": pl.String},
    )
    if marker in lake.commit_metadata_values(sites_spec, BATCH_KEY):
        candidates = pl.concat(
            [
                _carried_candidates(lake, _withdrawn(lake, participant_ids)),
                _carrier_rows(lake, genotypes_spec, pseudonyms),
            ]
        ).unique()
        removed = _finish_dropped(lake, sites_spec, genotypes_spec, candidates)
        _drop_empty_cohort_chunks(lake, sites_spec, cohorts_spec)
        return GenomicsRedaction(
            genotype_rows_removed_at_dropped_sites=removed, already_applied=True
        )
    joint_called = (
        lake.scan(cohorts_spec)
        .filter(pl.col("participant_id").is_in(pairs["participant_pseudonym"].implode()))
        .select("participant_id")
        .unique()
        .collect()["participant_id"]
    )
    in_release = pairs.filter(pl.col("participant_pseudonym").is_in(joint_called.implode()))
    withdrawn = _withdrawn(lake, in_release["participant_id"].to_list())
    if withdrawn.height == 0:
        return GenomicsRedaction()
    ids = withdrawn["participant_id"].implode()
    cohort = pl.Series(cohort_ids, dtype=pl.String).implode()
    others = passed_samples(lake).filter(
        pl.col("participant_id").is_in(cohort) & ~pl.col("participant_id").is_in(ids)
    )
    state = lake.read(sites_spec)
    names = sorted(set(state["chunk"].to_list()))
    results = [
        _redact(lake, state.filter(pl.col("chunk").is_in(names[s : s + CHUNK_GROUP])),
                withdrawn, others, None, min_dp)
        for s in range(0, len(names), CHUNK_GROUP)
    ]  # fmt: skip
    changed = set[str]().union(*(r.changed for r in results))
    dropped = _concat([r.dropped for r in results], _SITE_CHUNK, sites_spec)
    if changed:
        rewritten = [_requalified(r.sites) for r in results]
        untouched = state.filter(~pl.col("chunk").is_in(sorted(changed)))
        sites = pl.concat([untouched, *(s.select(untouched.columns) for s in rewritten)])
        lake.overwrite(
            sites_spec, sites.select(list(sites_spec.schema)), commit_metadata={BATCH_KEY: marker}
        )
    removed = lake.delete_matching(genotypes_spec, dropped) if dropped.height else 0
    _drop_empty_cohort_chunks(lake, sites_spec, cohorts_spec)
    return GenomicsRedaction(
        sites_updated=sum(r.updated for r in results),
        sites_dropped=dropped.height,
        genotype_rows_removed_at_dropped_sites=removed,
        chunks_rewritten=len(changed),
    )


def release_copies(release_id: str) -> tuple[TableSpec, TableSpec, TableSpec]:
    """The release's ``variant_sites``, ``joint_genotypes`` and ``joint_call_cohorts``
    copies as this module reads and writes them: the storage layout (zone, folder,
    schema, sort order, row groups, statistics columns) of ``releases.tables``'
    declarations under ``releases.genomics.release_spec``, derived here from the curated
    declarations they come from, since genomics may not import ``releases.tables`` (it
    imports clinical). A test keeps the two equal."""
    no_increment = [c for c in VARIANT_SITES.schema if c != "increment"]
    sites = TableSpec(
        zone="releases",
        name=VARIANT_SITES.name,
        description="release copy of variant_sites",
        schema={c: VARIANT_SITES.schema[c] for c in no_increment},
        columns={c: VARIANT_SITES.columns[c] for c in no_increment},
        written_by=("releases/variant_sites",),
        row_group_rows=ROW_GROUP_ROWS,
        sort_by=("chunk", "pos", "ref", "alt"),
    )
    genotype_columns = [c for c in JOINT_GENOTYPES.schema if c not in LIBRARY_ONLY_GENOTYPE_COLUMNS]
    genotypes = TableSpec(
        zone="releases",
        name=JOINT_GENOTYPES.name,
        description="release copy of joint_genotypes",
        schema={c: JOINT_GENOTYPES.schema[c] for c in genotype_columns},
        columns={c: JOINT_GENOTYPES.columns[c] for c in genotype_columns},
        written_by=("releases/joint_genotypes",),
        row_group_rows=ROW_GROUP_ROWS,
        participant_column="participant_id",
        sort_by=("chunk", "pos", "ref", "alt", "participant_id"),
    )
    cohorts = TableSpec(
        zone="releases",
        name="joint_call_cohorts",
        description="release joint_call_cohorts",
        schema={"chunk": pl.String, "participant_id": pl.String},
        columns={"chunk": "genome chunk", "participant_id": "release pseudonym"},
        written_by=("releases/joint_call_cohorts",),
        row_group_rows=ROW_GROUP_ROWS,
        participant_column="participant_id",
        sort_by=("chunk", "participant_id"),
    )
    return (
        sites.in_folder(release_id),
        genotypes.in_folder(release_id),
        cohorts.in_folder(release_id),
    )


# ---- the subtraction over one chunk group -----------------------------------------


def _redact(
    lake: Lake,
    state: pl.DataFrame,
    withdrawn: pl.DataFrame,
    others: pl.DataFrame,
    absorbed: pl.DataFrame | None,
    min_dp: int,
) -> _Redacted:
    """One group's state (``chunk`` + sites + aggregates, any further columns) without the
    withdrawn samples. ``absorbed`` (chunk, delivery): which deliveries each chunk's state
    holds (None: every one)."""
    if state.height == 0:
        return _Redacted(state, _empty_keys(), set(), 0)
    sites = state.select(["chunk", *SITES_SCHEMA])
    # every chunk a site overlaps holds the withdrawn rows that decide its genotype
    spans = chunks.assign(sites.drop("chunk"), "pos", "end", clip=False)
    needed = sorted(set(spans["chunk"].to_list()))
    calls = _own_rows(lake, SAMPLE_VARIANT_CALLS, needed, withdrawn)
    blocks = _own_rows(lake, SAMPLE_REFERENCE_BLOCKS, needed, withdrawn)

    # which withdrawn samples each chunk's state holds
    members = sites.select("chunk").unique().join(withdrawn, how="cross")
    if absorbed is not None:
        members = members.join(absorbed, on=["chunk", "delivery"], how="semi")
    patterns = members.group_by("chunk").agg(pl.col("participant_id").sort().alias("who"))
    parts = []
    patterns = patterns.with_columns(pl.col("who").list.join("\n").alias("_key"))
    by_batch = []
    for (_,), group in patterns.group_by(["_key"]):
        who = pl.Series(group["who"][0], dtype=pl.String).implode()
        samples = withdrawn.filter(pl.col("participant_id").is_in(who))
        at = sites.join(group.select("chunk"), on="chunk", how="semi")
        # one contribution per sample batch (its batch's aggregates lose exactly that)
        batches = _with_batch(samples).partition_by("sample_batch", as_dict=True)
        shares = [
            contribution(
                at,
                members.select("participant_id", "sex"),
                calls.select(list(CALLS_SCHEMA)),
                blocks.select(list(BLOCKS_SCHEMA)),
                min_dp,
            ).with_columns(pl.lit(number, dtype=pl.Int32).alias("sample_batch"))
            for (number,), members in batches.items()
        ]
        share = pl.concat(shares)
        parts.append(site_qc.total(share, by=[]))
        by_batch.append(share.join(at.select(_SITE_CHUNK), on=SITE_KEY, how="left"))
    subtracted = subtract(state, pl.concat(parts)) if parts else state
    contributed = (
        pl.concat([p.select(SITE_KEY) for p in parts]) if parts else _empty_keys().drop("chunk")
    )

    # sites the withdrawn carried where their state holds them, still carried by another?
    mine = calls.drop("chunk").join(sites.select(_SITE_CHUNK), on=SITE_KEY, how="inner")
    mine = mine.select("chunk", *SITE_KEY, "delivery", "a1", "a2")  # the site's chunk
    if absorbed is not None:
        mine = mine.join(absorbed, on=["chunk", "delivery"], how="semi")
    withdrawn_carried = carried_sites(mine)
    theirs = _carriers(lake, withdrawn_carried, sites, others, absorbed)
    dropped = dropped_sites(withdrawn_carried, theirs)
    dropped = sites.select(_SITE_CHUNK).join(dropped, on=SITE_KEY, how="semi").sort(_SITE_CHUNK)

    changed = set(
        sites.join(contributed, on=SITE_KEY, how="semi")["chunk"].to_list()
        + dropped["chunk"].to_list()
    )
    kept = subtracted.join(dropped, on=SITE_KEY, how="anti")
    updated = kept.join(contributed, on=SITE_KEY, how="semi").height
    batch_shares = pl.concat(by_batch) if by_batch else None
    return _Redacted(
        kept.filter(pl.col("chunk").is_in(sorted(changed))), dropped, changed, updated, batch_shares
    )


def _with_batch(samples: pl.DataFrame) -> pl.DataFrame:
    """The samples with their batch as per-batch aggregates number it (NO_BATCH for none)."""
    if "sample_batch" not in samples.columns:
        return samples.with_columns(pl.lit(NO_BATCH, dtype=pl.Int32).alias("sample_batch"))
    return samples.with_columns(pl.col("sample_batch").fill_null(NO_BATCH).cast(pl.Int32))


def _own_rows(
    lake: Lake, spec: TableSpec, group: list[str], withdrawn: pl.DataFrame
) -> pl.DataFrame:
    """The withdrawn samples' rows (their QC-passed deliveries only) in these chunks."""
    deliveries = sorted(set(withdrawn["delivery"].to_list()))
    rows = load_sample_rows(lake, spec, group, deliveries, withdrawn)
    return rows.join(
        withdrawn.select("participant_id", "delivery"),
        on=["participant_id", "delivery"],
        how="semi",
    )


def _carriers(
    lake: Lake,
    candidates: pl.DataFrame,
    sites: pl.DataFrame,
    others: pl.DataFrame,
    absorbed: pl.DataFrame | None,
) -> pl.DataFrame:
    """Of the candidate site keys, those another (QC-passed, joint-called) sample
    carries: ``sample_variant_calls`` read in the candidates' chunks at their positions."""
    if candidates.height == 0 or others.height == 0:
        return _empty_keys().drop("chunk")
    at = sites.select(_SITE_CHUNK).join(candidates, on=SITE_KEY, how="semi")
    group = sorted(set(at["chunk"].to_list()))
    positions = at["pos"].unique().implode()
    carrier = (pl.col("a1") == 1) | (pl.col("a2") == 1).fill_null(False)
    rows = (
        lake.scan(SAMPLE_VARIANT_CALLS)
        .filter(pl.col("chunk").is_in(group) & pl.col("pos").is_in(positions) & carrier)
        .select("participant_id", "delivery", *SITE_KEY, "a1", "a2")
        .collect()
    )
    rows = rows.join(
        others.select("participant_id", "delivery"), on=["participant_id", "delivery"], how="semi"
    )
    rows = rows.join(at, on=SITE_KEY, how="inner")
    if absorbed is not None:
        rows = rows.join(absorbed, on=["chunk", "delivery"], how="semi")
    return carried_sites(rows)


def _requalified(sites: pl.DataFrame) -> pl.DataFrame:
    """``chunk``, sites, aggregates and the metrics and FILTER recomputed from them."""
    return with_site_qc(sites.select(["chunk", *site_state_schema()]))


# ---- idempotency, recovery ---------------------------------------------------------


def _check_marker(marker: str) -> None:
    if not _MARKER.match(marker):
        raise ValueError("a withdrawal marker is 1-64 letters, digits or . _ : -")


def _withdrawn(lake: Lake, participant_ids: list[str]) -> pl.DataFrame:
    """The participants' QC-passed samples as joint calling knows them."""
    if not participant_ids:
        return passed_samples(lake).clear()
    ids = pl.Series(participant_ids, dtype=pl.String).implode()
    return passed_samples(lake).filter(pl.col("participant_id").is_in(ids))


def _library_applied(lake: Lake, marker: str) -> bool:
    """The marker is in ``variant_sites``' rows or in its commit history."""
    rows = lake.scan(VARIANT_SITES).filter(pl.col("increment") == marker).select("chunk")
    if rows.head(1).collect().height:
        return True
    return marker in lake.commit_metadata_values(VARIANT_SITES, BATCH_KEY)


def _refuse_unfinished_increments(lake: Lake) -> None:
    """A joint-calling run that wrote ``variant_sites`` but not its markers is completed
    by the next run through ``variant_sites.increment``; rewriting that column first
    would make the next run fold the increment in twice."""
    written = (
        lake.scan(VARIANT_SITES)
        .filter(pl.col("increment").str.starts_with("inc-"))
        .select("chunk", "increment")
        .unique()
        .collect()
    )
    marked = lake.scan(JOINT_CALL_INCREMENTS).select("chunk", "increment").unique().collect()
    unfinished = written.join(marked, on=["chunk", "increment"], how="anti").height
    if unfinished:
        raise ValueError(
            f"{unfinished} chunk(s) hold a joint-call increment without its markers: "
            "finish joint calling before withdrawing"
        )


def _carried_candidates(lake: Lake, withdrawn: pl.DataFrame) -> pl.DataFrame:
    """Site keys the withdrawn samples' own calls carry (anywhere), for recovery."""
    if withdrawn.height == 0:
        return _empty_keys().drop("chunk")
    deliveries = pl.Series(sorted(set(withdrawn["delivery"].to_list())), dtype=pl.String)
    carrier = (pl.col("a1") == 1) | (pl.col("a2") == 1).fill_null(False)
    rows = (
        lake.scan(SAMPLE_VARIANT_CALLS)
        .filter(
            pl.col("delivery").is_in(deliveries.implode())
            & pl.col("participant_id").is_in(withdrawn["participant_id"].implode())
            & carrier
        )
        .select("participant_id", "delivery", *SITE_KEY, "a1", "a2")
        .collect()
    )
    rows = rows.join(
        withdrawn.select("participant_id", "delivery"),
        on=["participant_id", "delivery"],
        how="semi",
    )
    return carried_sites(rows)


def _carrier_rows(lake: Lake, spec: TableSpec, participants: list[str]) -> pl.DataFrame:
    """Site keys where these participants' joint genotype rows carry the ALT."""
    ids = pl.Series(participants, dtype=pl.String).implode()
    carrier = (pl.col("a1") == 1) | (pl.col("a2") == 1).fill_null(False)
    rows = lake.scan(spec).filter(pl.col("participant_id").is_in(ids) & carrier)
    return carried_sites(rows.select(*SITE_KEY, "a1", "a2").collect())


def _finish_dropped(
    lake: Lake, sites_spec: TableSpec, genotypes_spec: TableSpec, candidates: pl.DataFrame
) -> int:
    """Delete the genotype rows at candidate sites the sites table no longer holds; with
    no candidate left to go by (the withdrawn rows already erased), at every such site."""
    rows = lake.scan(genotypes_spec)
    if candidates.height:
        positions = candidates["pos"].unique().implode()
        rows = rows.filter(pl.col("pos").is_in(positions))
    keys = rows.select(_SITE_CHUNK).unique().collect()
    if candidates.height:
        keys = keys.join(candidates, on=SITE_KEY, how="semi")
    if keys.height == 0:
        return 0
    present = lake.scan(sites_spec).filter(pl.col("chunk").is_in(sorted(set(keys["chunk"]))))
    orphans = keys.join(present.select(_SITE_CHUNK).collect(), on=_SITE_CHUNK, how="anti")
    return lake.delete_matching(genotypes_spec, orphans) if orphans.height else 0


def _drop_empty_cohort_chunks(lake: Lake, sites_spec: TableSpec, cohorts_spec: TableSpec) -> None:
    """A release's ``joint_call_cohorts`` lists only chunks with sites."""
    listed = lake.scan(cohorts_spec).select("chunk").unique().collect()
    holding = lake.scan(sites_spec).select("chunk").unique().collect()
    empty = listed.join(holding, on="chunk", how="anti")
    if empty.height:
        lake.delete_matching(cohorts_spec, empty)


def _empty_keys() -> pl.DataFrame:
    return pl.DataFrame(schema={"chunk": pl.String, **{k: SITES_SCHEMA[k] for k in SITE_KEY}})


def _concat(frames: list[pl.DataFrame], columns: list[str], spec: TableSpec) -> pl.DataFrame:
    schema = pl.Schema({c: spec.schema[c] for c in columns})
    return pl.concat(
        [pl.DataFrame(schema=schema), *(f.select(columns).cast(schema) for f in frames)]
    )
