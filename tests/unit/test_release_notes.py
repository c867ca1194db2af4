"""Release notes and data dictionary: written where they belong, self-contained, and
disclosure-safe (no pseudonym, no count below the threshold, no rare category)."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ngrl_assets.releases import notes as notes_mod
from ngrl_assets.releases.dictionary import (
    PATTERNS,
    build_dictionary,
    coarse_range,
    dictionary_markdown,
    write_dictionary,
)
from ngrl_assets.releases.notes import cohort_counts, show_count, suppress, write_notes
from ngrl_assets.releases.pseudonyms import pseudonym
from ngrl_assets.releases.tables import (
    AGGREGATE_GVCF_SAMPLE_STATS,
    DATA_DICTIONARY,
    JOINT_CALL_COHORTS,
    PARTICIPANT,
    PROJECTED,
    RELEASE_JOINT_GENOTYPES,
    RELEASE_TABLES,
    RELEASE_VARIANT_SITES,
)
from resources.lake import Lake
from resources.tables import TableSpec

FREEZE = date(2026, 3, 31)
N = 30  # participants in v1
RARE = {"100kgp", "U", "child", "unknown", "LowQual", "Q909", "C509", "deceased"}


def frame(spec: TableSpec, n: int, **columns: Any) -> pl.DataFrame:
    """``n`` rows of ``spec``: the given columns, every other column null."""
    data = {c: columns.get(c, [None] * n) for c in spec.schema}
    return pl.DataFrame(data, schema=dict(spec.schema))


def release(key: bytes, n: int = N) -> dict[str, pl.DataFrame]:
    """Fake release tables: realistic columns, rare categories held by < 5 participants."""
    pids = [pseudonym(key, "participant", f"internal-{i}") for i in range(n)]
    sids = [pseudonym(key, "sample", f"sample-{i}") for i in range(n)]
    yob = [1941 + (i * 79) // (n - 1) for i in range(n)]  # 1941 .. 2020
    tables: dict[str, pl.DataFrame] = {}
    tables["participant"] = frame(
        PARTICIPANT,
        n,
        participant_id=pids,
        year_of_birth=yob,
        sex=["U" if i < 2 else ("F" if i % 2 else "M") for i in range(n)],
        programme=["100kgp" if i < 3 else "gms" for i in range(n)],
        consent_category=["child" if i >= n - 4 else "adult" for i in range(n)],
        life_status=["deceased" if i in (5, 6) else "alive" for i in range(n)],
        year_of_death=[2024 if i in (5, 6) else None for i in range(n)],
    )
    tables["aggregate_gvcf_sample_stats"] = frame(
        AGGREGATE_GVCF_SAMPLE_STATS,
        n,
        participant_id=pids,
        sample_id=sids,
        mean_coverage=[28.3 + 0.61 * i for i in range(n)],
        pct_bases_15x=[95.0 + 0.1 * i for i in range(n)],
        contamination=[0.0013 * i for i in range(n)],
        inferred_sex=["unknown" if i < 2 else ("XX" if i % 2 else "XY") for i in range(n)],
        n_calls=[4_100_000 + 1_337 * i for i in range(n)],
        n_snv=[3_600_000 + 1_001 * i for i in range(n)],
        n_indel=[500_000 + 336 * i for i in range(n)],
        ti_tv=[2.01 + 0.004 * i for i in range(n)],
        het_hom_ratio=[1.5 + 0.01 * i for i in range(n)],
    )
    contigs = ["chr1"] * 50 + ["chr2"] * 20 + ["chrX"] * 3 + ["chrM"]
    m = len(contigs)
    tables["variant_sites"] = frame(
        RELEASE_VARIANT_SITES,
        m,
        chunk=[f"{c}_0001" for c in contigs],
        contig=contigs,
        pos=[10_000 + 17 * i for i in range(m)],
        ref=["A"] * m,
        alt=["G" if i % 3 else "T" for i in range(m)],
        end=[10_000 + 17 * i for i in range(m)],
        AN=[2 * n] * m,
        AC=[1 + (i % 40) for i in range(m)],
        AF=[(1 + (i % 40)) / (2 * n) for i in range(m)],
        FILTER=["LowQual" if i in (3, 9) else "PASS" for i in range(m)],
        dp_hist_all=[[0] * 128 for _ in range(m)],
    )
    g = [(s, p) for s in range(10) for p in range(0, n, 3)]
    tables["joint_genotypes"] = frame(
        RELEASE_JOINT_GENOTYPES,
        len(g),
        chunk=["chr1_0001"] * len(g),
        contig=["chr1"] * len(g),
        pos=[10_000 + 17 * s for s, _ in g],
        ref=["A"] * len(g),
        alt=["G"] * len(g),
        participant_id=[pids[p] for _, p in g],
        a1=[0] * len(g),
        a2=[1] * len(g),
        dp=[30 + p for _, p in g],
        gq=[99] * len(g),
    )
    tables["joint_call_cohorts"] = frame(
        JOINT_CALL_COHORTS, n, chunk=["chr1_0001"] * n, participant_id=pids
    )
    # hes_apc: I10 for 12 participants; Q909 on 6 rows of only 2 participants (rare).
    apc_pids = [pids[i] for i in range(12)] + [pids[20], pids[21]] * 3
    k = len(apc_pids)
    tables["hes_apc"] = frame(
        PROJECTED["hes_apc"],
        k,
        participant_id=apc_pids,
        epikey=[900_000_000_001 + 7 * i for i in range(k)],
        fyear=["2324" if i % 2 else "2425" for i in range(k)],
        admidate=[date(2019, 4, 1) + timedelta(days=113 * i) for i in range(k)],
        epistart=[date(2019, 4, 1) + timedelta(days=113 * i) for i in range(k)],
        epidur=[i % 9 for i in range(k)],
        diag_4_01=["I10"] * 12 + ["Q909"] * 6,
        sex=["1" if i % 2 else "2" for i in range(k)],
        age_at_episode_start=[20 + 3 * i for i in range(k)],
    )
    tables["mortality"] = frame(
        PROJECTED["mortality"],
        2,
        participant_id=[pids[5], pids[6]],
        dec_sex=["1", "2"],
        reg_date_of_death=[date(2024, 2, 1), date(2024, 6, 3)],
        s_underlying_cod_icd10=["C509", "I219"],
        age_at_death=[81, 77],
    )
    tables["diagnoses"] = frame(
        PROJECTED["diagnoses"],
        k,
        participant_id=apc_pids,
        source=["hes_apc"] * k,
        record_key=[900_000_000_001 + 7 * i for i in range(k)],
        event_date=[date(2019, 4, 1) + timedelta(days=113 * i) for i in range(k)],
        icd10_code=["I10"] * 12 + ["Q909"] * 6,
        icd10_3char=["I10"] * 12 + ["Q90"] * 6,
        position=[1] * k,
        is_primary=[True] * k,
    )
    for name in ("hes_op", "hes_ae", "av_tumour"):
        tables[name] = PROJECTED[name].empty()
    return tables


def _write(lake: Lake, release_id: str, tables: dict[str, pl.DataFrame]) -> None:
    for spec in RELEASE_TABLES:
        if spec.name in tables:
            lake.overwrite(spec.in_folder(release_id), tables[spec.name])


def _previous_apc() -> TableSpec:
    """v0's hes_apc: an extra column, no age_at_episode_start, epidur as Int64."""
    spec = PROJECTED["hes_apc"]
    schema = {c: t for c, t in spec.schema.items() if c != "age_at_episode_start"}
    schema["epidur"] = pl.Int64
    schema["legacy_flag"] = pl.String
    columns = {c: spec.columns.get(c, "legacy") for c in schema}
    return dataclasses.replace(spec, schema=schema, columns=columns)


@pytest.fixture
def lake_v1(lake: Lake) -> tuple[Lake, dict[str, pl.DataFrame]]:
    tables = release(b"k" * 32)
    _write(lake, "v1", tables)
    return lake, tables


def _pseudonyms(*releases: dict[str, pl.DataFrame]) -> set[str]:
    out: set[str] = set()
    for tables in releases:
        for df in tables.values():
            for col in ("participant_id", "sample_id"):
                if col in df.columns:
                    out |= set(df.get_column(col).drop_nulls().to_list())
    return out


def _notes_dir(lake: Lake, release_id: str) -> Path:
    return Path(lake.uri("releases", release_id, "notes"))


# ---- the data dictionary ---------------------------------------------------------------
def test_dictionary_covers_every_column_and_hides_rare_values(lake_v1: Any) -> None:
    lake, tables = lake_v1
    rows = write_dictionary(lake, "v1", RELEASE_TABLES)
    df = lake.read(DATA_DICTIONARY.in_folder("v1"))
    assert rows == df.height == sum(len(s.schema) for s in RELEASE_TABLES)
    covered = set(zip(df["table_name"], df["column_name"], strict=True))
    assert covered == {(s.name, c) for s in RELEASE_TABLES for c in s.schema}
    ex = {(r["table_name"], r["column_name"]): r["examples"] for r in df.iter_rows(named=True)}

    assert ex[("participant", "participant_id")] == PATTERNS["participant"]
    assert ex[("aggregate_gvcf_sample_stats", "sample_id")] == PATTERNS["sample"]
    assert ex[("hes_apc", "participant_id")] == PATTERNS["participant"]
    assert ex[("hes_apc", "epikey")].startswith("record key")
    # categories held by >= 5 participants (rows without participants); rare ones never
    assert ex[("participant", "programme")] == "gms"
    assert set(ex[("participant", "sex")].split(", ")) == {"F", "M"}
    assert ex[("participant", "consent_category")] == "adult"
    assert ex[("variant_sites", "FILTER")] == "PASS"
    assert ex[("hes_apc", "diag_4_01")] == "I10"  # Q909: 6 rows but only 2 participants
    assert ex[("mortality", "s_underlying_cod_icd10")] == "—"
    every = " | ".join(df["examples"].to_list())
    for value in RARE:
        assert not re.search(rf"(^|[ ,|]){re.escape(value)}($|[ ,|])", every), value
    # numbers and dates: coarse percentile ranges, never an exact extreme
    assert ex[("participant", "year_of_birth")] == "1940 to 2020"
    assert "1941" not in every
    assert re.fullmatch(r"\d{4} to \d{4}", ex[("hes_apc", "admidate")])
    assert ex[("participant", "year_of_death")] == "—"  # two deaths only
    assert ex[("mortality", "age_at_death")] == "—"
    assert ex[("variant_sites", "dp_hist_all")] == "lists of 128 values"
    assert ex[("hes_op", "apptdate")] == "—"  # empty table
    # no pseudonym anywhere
    md = (_notes_dir(lake, "v1") / "data_dictionary.md").read_text()
    for p in _pseudonyms(tables):
        assert p not in md and p not in every
    assert "## hes_apc" in md and "`diag_4_01`" in md


def test_coarse_range_rounds_outwards() -> None:
    assert coarse_range(28.9, 45.4, integer=False) == "25 to 50"
    assert coarse_range(0.0019, 0.0361, integer=False) == "0 to 0.04"
    assert coarse_range(3.0, 3.0, integer=True) == "about 3"


def test_build_dictionary_on_frames_and_markdown() -> None:
    tables = release(b"q" * 32)
    df = build_dictionary(tables, [PARTICIPANT])
    assert df.schema == pl.Schema(dict(DATA_DICTIONARY.schema))
    assert df["column_name"].to_list() == list(PARTICIPANT.schema)
    md = dictionary_markdown(df, "T", [PARTICIPANT])
    assert md.startswith("# T\n") and PARTICIPANT.description in md
    assert md.count("\n| `") == len(PARTICIPANT.schema)


# ---- the notes ---------------------------------------------------------------------------
def _check_html(page: str, notes_dir: Path) -> None:
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page, flags=re.I)
    assert refs and all(r.startswith("data:") for r in refs)
    assert "<link" not in page and "<script" not in page and "url(" not in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(notes_mod.PLOTS)
    import base64

    for (name, _), data in zip(notes_mod.PLOTS, images, strict=True):
        assert base64.b64decode(data) == (notes_dir / name).read_bytes()
        assert (notes_dir / name).read_bytes().startswith(b"\x89PNG")


def _small_counts_in_tables(md: str) -> list[str]:
    """Numbers from 1 to 4 standing alone in a Markdown table cell."""
    cells = [c.strip() for line in md.splitlines() if line.startswith("|") for c in line.split("|")]
    return [c for c in cells if re.fullmatch(r"[1-4]", c)]


def test_notes_first_release(lake_v1: Any) -> None:
    lake, tables = lake_v1
    written = write_notes(lake, "v1", None, FREEZE, "2026-Q1")
    d = _notes_dir(lake, "v1")
    names = {Path(u).name for u in written}
    assert names == {"release_notes.md", "release_notes.html", *(n for n, _ in notes_mod.PLOTS)}
    assert all(Path(u).exists() for u in written)
    md = (d / "release_notes.md").read_text()
    page = (d / "release_notes.html").read_text()
    assert "# Release notes — 2026-Q1 (v1)" in md and "none (first release)" in md
    assert "Schema changes" not in md and "No cohort comparison" in md
    assert f"| `participant` | {N} | {N} |" in md
    assert "| `variant_sites` | 74 | — |" in md
    assert "| `mortality` | <5 | <5 |" in md
    assert "| `hes_op` | 0 | 0 |" in md
    assert not _small_counts_in_tables(md)
    _check_html(page, d)
    for p in _pseudonyms(tables):
        assert p not in md and p not in page


def test_notes_against_previous_release(lake_v1: Any) -> None:
    lake, tables = lake_v1
    old = release(b"o" * 32, n=25)
    apc = _previous_apc()
    old_apc = old.pop("hes_apc").drop("age_at_episode_start")
    old_apc = old_apc.with_columns(
        pl.col("epidur").cast(pl.Int64), pl.lit("x").alias("legacy_flag")
    )
    del old["av_tumour"]  # v0 had no av_tumour table
    _write(lake, "v0", old)
    lake.overwrite(apc.in_folder("v0"), old_apc)

    change = {"added": 3, "removed": 12, "kept": 27}
    write_notes(lake, "v1", "v0", FREEZE, "2026-Q1", cohort_change=change)
    d = _notes_dir(lake, "v1")
    md = (d / "release_notes.md").read_text()
    page = (d / "release_notes.html").read_text()
    assert "| added | <5 |" in md
    assert "| removed | 12 |" in md
    assert "| kept | about 30 |" in md  # an exact kept would give `added` away
    assert "| rows in v0 |" in md
    assert f"| `participant` | {N} | {N} | 25 |" in md
    assert "| `av_tumour` | 0 | 0 | new |" in md
    assert "## Schema changes since v0" in md
    assert "added `age_at_episode_start` (Int16)" in md
    assert "removed `legacy_flag` (String)" in md
    assert "type of `epidur` changed: Int64 → Int32" in md
    assert "`av_tumour`: new table" in md
    assert "`participant`:" not in md  # unchanged tables are not listed
    assert not _small_counts_in_tables(md)
    assert "<table>" in page and "Schema changes since v0" in page
    _check_html(page, d)
    for p in _pseudonyms(tables, old):
        assert p not in md and p not in page


def test_notes_are_deterministic(lake_v1: Any) -> None:
    lake, _ = lake_v1
    first = write_notes(lake, "v1", None, FREEZE, "2026-Q1")
    blobs = {u: Path(u).read_bytes() for u in first}
    second = write_notes(lake, "v1", None, FREEZE, "2026-Q1")
    assert first == second
    assert all(Path(u).read_bytes() == blobs[u] for u in second)
    png = Path(next(u for u in first if u.endswith(".png"))).read_bytes()
    assert b"matplotlib" not in png.lower()


def test_plots_never_draw_a_small_count(lake_v1: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    lake, _ = lake_v1
    drawn: list[notes_mod.Bars] = []
    real = notes_mod._draw_bars

    def spy(ax: Any, bars: notes_mod.Bars, threshold: int, *a: Any, **kw: Any) -> None:
        drawn.append(bars)
        real(ax, bars, threshold, *a, **kw)

    monkeypatch.setattr(notes_mod, "_draw_bars", spy)
    write_notes(lake, "v1", None, FREEZE, "2026-Q1")
    # variants per chromosome, AF, three QC histograms, programme, sex, age band
    assert len(drawn) == 8
    heights = [h for b in drawn for h in b.heights]
    assert not [h for h in heights if 0 < h < 5]
    assert sum(s for b in drawn for s in b.suppressed) > 0
    chrom = drawn[0]
    assert chrom.labels == ("1", "2", "X", "M")
    assert chrom.heights == (50, 20, 5, 5) and chrom.suppressed == (False, False, True, True)


def test_small_number_helpers() -> None:
    assert [show_count(n, 5) for n in (0, 1, 4, 5, 1234)] == ["0", "<5", "<5", "5", "1,234"]
    bars = suppress(["a", "b", "c"], [0, 3, 9], 5)
    assert bars.heights == (0, 5, 9) and bars.suppressed == (False, True, False)
    part = frame(
        PARTICIPANT,
        6,
        participant_id=[f"x{i}" for i in range(6)],
        year_of_birth=[2011, 2010, 1997, 1981, 1951, 1950],
        sex=["F"] * 6,
        programme=["gms"] * 6,
    )
    bands = cohort_counts(part.lazy(), FREEZE)["age band"]
    assert bands == {"0-15": 1, "16-29": 2, "30-44": 0, "45-59": 1, "60-74": 0, "75+": 2}


def test_empty_release_still_gets_notes_and_dictionary(lake: Lake) -> None:
    written = write_notes(lake, "v9", "v8", FREEZE, "empty")
    assert len(written) == 2 + len(notes_mod.PLOTS)
    md = Path(lake.uri("releases", "v9", "notes", "release_notes.md")).read_text()
    assert "| `participant` | not written | — | new |" in md
    assert write_dictionary(lake, "v9", RELEASE_TABLES) == sum(
        len(s.schema) for s in RELEASE_TABLES
    )
