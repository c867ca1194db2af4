"""The reader examples of docs/releases.md ("Reading a release") run as documented against
a real release (a synthetic library built by the real sensors, cut through the Dagster
job), and their results agree with independent computations: the same query through
another engine, and a dense recount of the sparse genotypes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ngrl_assets.releases import readers
from tests.integration.libraries import RELEASE_LIBRARY

DOC = Path(__file__).resolve().parents[2] / "docs" / "releases.md"
SECTION = "## Reading a release"
LIBRARY = RELEASE_LIBRARY.with_release("readers")
SITE = ["contig", "pos", "ref", "alt"]


def snippets() -> list[str]:
    """The fenced python blocks of the section, in order."""
    text = DOC.read_text()
    start = text.index(SECTION)
    following = re.search(r"^## ", text[start + len(SECTION) :], re.M)
    body = text[start : start + len(SECTION) + following.start()] if following else text[start:]
    return re.findall(r"^```python\n(.*?)^```", body, re.M | re.S)


@pytest.fixture(scope="module")
def lake_root(libraries):
    """A library built by the real sensors, with release v1 cut through the Dagster job
    (shared by the session: read only)."""
    return str(libraries.get(LIBRARY).lake_root)


@pytest.fixture(scope="module")
def ran(lake_root) -> dict[str, Any]:
    """The namespace after running every documented block in order, LAKE substituted."""
    blocks = snippets()
    assert len(blocks) >= 6
    assert sum(len(re.findall(r'^LAKE = ".*"$', b, re.M)) for b in blocks) == 1
    namespace: dict[str, Any] = {}
    for block in blocks:
        code = re.sub(r'^LAKE = ".*"$', f"LAKE = {lake_root!r}", block, flags=re.M)
        exec(compile(code, f"{DOC.name}:{SECTION}", "exec"), namespace)
    return namespace


def test_the_documented_release_is_the_published_one(ran, lake_root):
    assert ran["RELEASE"] == "v1"
    assert ran["releases"]["status"].to_list() == ["published"]
    assert ran["GENOTYPES"] == f"{lake_root}/releases/v1/joint_genotypes"
    assert Path(ran["GENOTYPES"], "_delta_log").is_dir()


def test_region_query_agrees_between_engines_and_with_a_full_read(ran):
    rare, rare_duckdb = ran["rare"], ran["rare_duckdb"]
    assert rare.height > 0, "the documented region should hold rare variants"
    assert rare.equals(rare_duckdb.cast(dict(rare.schema)))
    sites = pl.read_delta(ran["SITES"])
    expected = sites.filter(
        (pl.col("contig") == ran["CONTIG"])
        & (pl.col("pos") >= ran["START"])
        & (pl.col("pos") <= ran["END"])
        & (pl.col("AF") < ran["MAX_AF"])
    )
    assert rare.height == expected.height
    assert rare.select(SITE).sort(SITE).equals(expected.select(SITE).sort(SITE))


def test_carriers_agree_between_polars_duckdb_and_deltalake(ran):
    carriers = ran["carriers"]
    assert carriers.height > 0
    assert carriers.equals(ran["carriers_duckdb"].cast(dict(carriers.schema)))
    assert carriers["participant_id"].to_list() == (
        ran["carriers_deltalake"]["participant_id"].to_list()
    )
    # a carrier count from the site's own AC: het (one alt) + hom (two) + hemizygous (one)
    site = dict(zip(SITE, (ran["contig"], ran["pos"], ran["ref"], ran["alt"]), strict=True))
    ac = int(ran["rare"].filter(**site)["AC"].item())
    alts = carriers.select(
        pl.sum_horizontal((pl.col(a) == 1).fill_null(False).cast(pl.Int64) for a in ("a1", "a2"))
    )
    assert int(alts.to_series().sum()) == ac
    released = set(pl.read_delta(ran["COHORTS"])["participant_id"])
    assert set(carriers["participant_id"]) <= released


def dense_af(ran: dict[str, Any], participants: set[str]) -> pl.DataFrame:
    """AC/AN per autosomal site by expanding the sparse table to every cohort member
    (an implied hom-ref cell made explicit), computed without the documented code."""
    cohorts = pl.read_delta(ran["COHORTS"]).filter(pl.col("participant_id").is_in(participants))
    sites = pl.read_delta(ran["SITES"]).filter(pl.col("contig").str.contains(r"^chr[0-9]+$"))
    cells = sites.select("chunk", *SITE).join(cohorts, on="chunk", how="inner")
    rows = pl.read_delta(ran["GENOTYPES"]).select("chunk", *SITE, "participant_id", "a1", "a2")
    dense = cells.join(rows, on=["chunk", *SITE, "participant_id"], how="left").with_columns(
        pl.col("a1").fill_null(0),
        pl.when(pl.col("a1").is_null()).then(0).otherwise("a2").alias("a2"),
    )
    counts: dict[tuple, list[int]] = {}
    for r in dense.iter_rows(named=True):
        entry = counts.setdefault(tuple(r[c] for c in SITE), [0, 0])
        for allele in (r["a1"], r["a2"]):
            if allele is not None and allele >= 0:
                entry[1] += 1
                entry[0] += allele == 1
    return pl.DataFrame(
        [(*k, ac, an) for k, (ac, an) in counts.items()],
        schema={**{c: sites.schema[c] for c in SITE}, "AC": pl.Int64, "AN": pl.Int64},
        orient="row",
    ).sort(SITE)


def test_subcohort_allele_frequency_agrees_between_engines_and_a_dense_recount(ran):
    af, af_duckdb = ran["subcohort_af"], ran["subcohort_af_duckdb"]
    assert af.height > 0
    assert af.equals(af_duckdb.cast(dict(af.schema)))
    assert af["AF"].drop_nulls().is_between(0.0, 1.0).all()
    assert (af["AC"] <= af["AN"]).all() and (af["AN"] >= 0).all()
    group = set(
        pl.read_delta(ran["DIAGNOSES"]).filter(pl.col("icd10_3char") == ran["CODE"])[
            "participant_id"
        ]
    )
    with_genome = group & set(pl.read_delta(ran["COHORTS"])["participant_id"])
    assert 0 < len(with_genome) < len(set(pl.read_delta(ran["COHORTS"])["participant_id"]))
    dense = dense_af(ran, group)
    assert af.select(*SITE, "AC", "AN").equals(dense.cast({"AC": pl.Int64, "AN": pl.Int64}))


def test_the_documented_arithmetic_over_everyone_gives_the_release_af(ran):
    """Run the sub-cohort block with the group = every released participant: AC/AN equal
    the release's own variant_sites on the autosomes."""
    [block] = [b for b in snippets() if "subcohort_af =" in b]
    namespace = dict(ran)
    everyone = "pl.scan_delta(COHORTS).select('participant_id').unique()"
    code = re.sub(r"^group = \($.*?^\)$", f"group = {everyone}", block, flags=re.M | re.S)
    assert code != block
    exec(compile(code, "everyone", "exec"), namespace)
    mine = namespace["subcohort_af"]
    sites = pl.read_delta(ran["SITES"]).filter(pl.col("contig").str.contains(r"^chr[0-9]+$"))
    theirs = sites.select(*SITE, pl.col("AC").cast(pl.Int64), pl.col("AN").cast(pl.Int64))
    assert mine.height == theirs.height > 0
    assert mine.select(*SITE, "AC", "AN").equals(theirs.sort(SITE))


def test_only_published_releases_are_readable(lake_root, tmp_path):
    with pytest.raises(readers.NotPublished):
        readers.published_path(lake_root, "v9", "joint_genotypes")
    for bad in ("../v1", "v1/x", ""):
        with pytest.raises(ValueError):
            readers.published_path(lake_root, bad, "joint_genotypes")
    with pytest.raises(ValueError):
        readers.published_path(lake_root, "v1", "../../curated/consent_status")
    # a registry row in another state is not readable
    copy = tmp_path / "lake"
    shutil.copytree(Path(lake_root, "releases", "release_registry"), copy / "releases" / "r")
    registry = pl.read_delta(str(copy / "releases" / "r"))
    registry.with_columns(pl.lit("withdrawn").alias("status")).write_delta(
        str(copy / "releases" / readers.REGISTRY)
    )
    with pytest.raises(readers.NotPublished):
        readers.published_path(str(copy), "v1", "joint_genotypes")


def test_duckdb_loads_delta_offline():
    con = readers.duckdb_connect()
    loaded = con.execute(
        "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'delta'"
    ).fetchone()
    assert loaded == (True,)
    assert Path(readers.delta_extension_path()).is_file()
