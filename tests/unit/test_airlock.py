"""Airlock-safe public summary, audited as an output checker would: for every small count
the publication withholds, linear programming (scipy.optimize.linprog) over the published
cells and totals finds the least and greatest value it could take.

The auditor reads only the published strings and the policy:

* a shown number ``v``: the true count lies in ``v``'s rounding interval (``[v-2, v+2]``
  under nhs_hes, exactly ``v`` under gel) and, being shown, is at least the threshold t;
* ``"0"``: exactly 0;
* ``"<t"``: a count in ``[1, t-1]``;
* ``"*"`` in a cell: a complementary suppression, so at least t (the worst case for the
  publisher: the auditor knows the rules);
* ``"*"`` as a total: at least 1 (zeros are shown);
* every published total is the sum of its cells (row totals, column totals, grand total).

Criterion (asserted): every quantity whose true value is a small count (1..t-1) — each
``"<t"`` cell and each withheld small total — has an LP range ``[lo, hi]`` with
``hi - lo >= t - 2``, i.e. it can take at least t-1 integer values, as many as ``"<t"``
itself allows; for a ``"<t"`` cell that means the whole ``[1, t-1]``. The true table must
be feasible (its values lie in their ranges). The LP of a table with margins is totally
unimodular, so its range is the integer range too.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from ngrl_assets.releases import airlock
from ngrl_assets.releases.airlock import (
    POLICIES,
    SECONDARY,
    Policy,
    SummaryTable,
    policy,
    public_summary,
    summary_table,
    to_json,
    to_markdown,
)

GEL, NHS = POLICIES["gel"], POLICIES["nhs_hes"]
NO_SUPPRESSION = Policy("none", threshold=0, rounding=1)  # test-only: shows everything
EPS = 1e-6


# --- the auditor ----------------------------------------------------------------------


def _bounds(s: str, pol: Policy, *, total: bool) -> tuple[float, float | None]:
    t = pol.threshold
    if s == "0":
        return (0, 0)
    if s == SECONDARY:
        return (1, None) if total else (t, None)
    if s == f"<{t}":
        assert not total, "a total is never published as <t"
        return (1, t - 1)
    v = int(s)
    assert v >= max(t, 1), f"shown count {v} below the threshold {t}"
    if pol.rounding > 1:
        assert v % pol.rounding == 0, f"{v} not rounded to {pol.rounding}"
        lo, hi = v - pol.rounding // 2, v + (pol.rounding + 1) // 2 - 1
        return (max(lo, t), hi)
    return (v, v)


def _model(tab: SummaryTable) -> tuple[list[tuple[float, float | None]], np.ndarray | None]:
    """Variable bounds (cells row-major, then row totals, column totals, grand total) and
    the equality matrix A (A x = 0)."""
    pol = tab.policy
    r, c = len(tab.rows), len(tab.columns)
    bounds = [_bounds(s, pol, total=False) for row in tab.cells for s in row]
    if not tab.has_margins:
        return bounds, None
    assert tab.row_totals is not None and tab.column_totals is not None
    assert tab.grand_total is not None
    bounds += [_bounds(s, pol, total=True) for s in tab.row_totals]
    bounds += [_bounds(s, pol, total=True) for s in tab.column_totals]
    bounds.append(_bounds(tab.grand_total, pol, total=True))
    n = len(bounds)
    rows = []
    for i in range(r):
        a = np.zeros(n)
        a[[i * c + j for j in range(c)]] = 1
        a[r * c + i] = -1
        rows.append(a)
    for j in range(c):
        a = np.zeros(n)
        a[[i * c + j for i in range(r)]] = 1
        a[r * c + r + j] = -1
        rows.append(a)
    for first, k in ((r * c, r), (r * c + r, c)):
        a = np.zeros(n)
        a[first : first + k] = 1
        a[n - 1] = -1
        rows.append(a)
    return bounds, np.array(rows)


def lp_range(tab: SummaryTable, k: int) -> tuple[float, float]:
    bounds, a = _model(tab)
    n = len(bounds)
    out = []
    for sign in (1, -1):
        obj = np.zeros(n)
        obj[k] = sign
        kw = {} if a is None else {"A_eq": a, "b_eq": np.zeros(len(a))}
        res = linprog(obj, bounds=bounds, method="highs", **kw)
        if res.status == 3:  # unbounded
            out.append(np.inf)
            continue
        assert res.status == 0, res.message
        out.append(sign * res.fun)
    return (out[0], out[1])


def true_values(tab: SummaryTable) -> list[int]:
    t = tab._true
    assert t is not None
    vals = [int(v) for v in t.reshape(-1)]
    if tab.has_margins:
        vals += [int(v) for v in t.sum(axis=1)]
        vals += [int(v) for v in t.sum(axis=0)] + [int(t.sum())]
    return vals


def audit(tab: SummaryTable, threshold: int | None = None) -> list[str]:
    """Violations of the criterion (empty: the table is safe); ``threshold`` judges a
    table published under another policy by this threshold's criterion."""
    t = tab.policy.threshold if threshold is None else threshold
    need = t - 2
    problems = []
    for k, v in enumerate(true_values(tab)):
        if not 0 < v < t:
            continue
        lo, hi = lp_range(tab, k)
        assert lo - EPS <= v <= hi + EPS, f"item {k}: true {v} outside [{lo}, {hi}]"
        if hi - lo < need - EPS:
            problems.append(f"item {k} (true {v}) confined to [{lo:g}, {hi:g}]")
    return problems


def published(tab: SummaryTable) -> list[str]:
    out = [s for row in tab.cells for s in row]
    if tab.has_margins:
        assert tab.row_totals is not None and tab.column_totals is not None
        out += [*tab.row_totals, *tab.column_totals, str(tab.grand_total)]
    return out


def no_lone_suppression(tab: SummaryTable) -> None:
    """No row or column (and no margin) has exactly one withheld member."""
    if not tab.has_margins:
        return
    assert tab.row_totals is not None and tab.column_totals is not None
    hidden = {SECONDARY, tab.policy.small_mark}
    lines = [[*row, tab.row_totals[i]] for i, row in enumerate(tab.cells)]
    lines += [[*col, tab.column_totals[j]] for j, col in enumerate(zip(*tab.cells, strict=True))]
    grand = str(tab.grand_total)
    lines += [[*tab.row_totals, grand], [*tab.column_totals, grand]]
    for line in lines:
        assert sum(s in hidden for s in line) != 1, line


def table(counts: list[list[int]], pol: Policy, **kw: object) -> SummaryTable:
    return summary_table(
        "t",
        counts,
        pol,
        rows=[f"r{i}" for i in range(len(counts))],
        columns=[f"c{j}" for j in range(len(counts[0]))],
        **kw,  # type: ignore[arg-type]
    )


# --- policies --------------------------------------------------------------------------


def test_policies() -> None:
    assert policy() is GEL and policy("gel") is GEL and policy("nhs_hes") is NHS
    assert (GEL.threshold, GEL.rounding, GEL.small_mark) == (5, 1, "<5")
    assert (NHS.threshold, NHS.rounding) == (8, 5)
    assert [n for n in range(12) if GEL.is_small(n)] == [1, 2, 3, 4]
    assert [n for n in range(12) if NHS.is_small(n)] == [1, 2, 3, 4, 5, 6, 7]
    with pytest.raises(ValueError, match=r"unknown airlock policy 'hes'.*gel, nhs_hes"):
        policy("hes")


def test_nhs_rounding_and_intervals() -> None:
    assert [NHS.round(n) for n in (8, 9, 10, 12, 13, 17, 18, 102)] == [
        10,
        10,
        10,
        10,
        15,
        15,
        20,
        100,
    ]
    assert (
        NHS.interval(10) == (8, 12) and NHS.interval(15) == (13, 17) and NHS.interval(0) == (0, 0)
    )
    assert GEL.round(13) == 13 and GEL.interval(13) == (13, 13)
    for n in range(8, 200):
        lo, hi = NHS.interval(NHS.round(n))
        assert lo <= n <= hi


# --- adversarial tables ----------------------------------------------------------------

ADVERSARIAL = {
    "one suppressed cell in a row": [[3, 40, 50], [20, 30, 60]],
    "total exactly the threshold": [[1, 4, 0], [10, 20, 30]],
    "column total exactly the threshold": [[2, 30], [3, 40]],
    "total exactly the nhs threshold": [[3, 5], [20, 30]],
    "zeros": [[0, 3, 0], [0, 0, 0], [12, 0, 9]],
    "column of small cells": [[1, 20], [2, 30], [3, 40]],
    "1x1 small": [[3]],
    "1x1 zero": [[0]],
    "1x1 large": [[12]],
    "only unsuppressed neighbour is zero": [[2, 0], [30, 40]],
    "only neighbours zero": [[2, 0, 0], [0, 0, 0]],
    "all small": [[1, 1], [1, 1]],
    "four ones in a row": [[1, 1, 1, 1]],
    "complement at the threshold": [[1, 5, 500], [7, 6, 9]],
    "complement just above the nhs threshold": [[1, 8, 500], [9, 8, 40]],
    "sex U column": [[500, 480, 3], [300, 250, 1]],
    "small grand total": [[1, 0], [2, 1]],
    "diagonal small": [[2, 50, 60], [70, 3, 80], [90, 100, 4]],
}


@pytest.mark.parametrize("pol", [GEL, NHS], ids=lambda p: p.name)
@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_tables_pass_the_audit(name: str, pol: Policy) -> None:
    tab = table(ADVERSARIAL[name], pol)
    assert audit(tab) == [], (tab.cells, tab.row_totals, tab.column_totals, tab.grand_total)
    no_lone_suppression(tab)
    true = true_values(tab)
    for s, v in zip(published(tab), true, strict=True):
        if v == 0:
            assert s == "0"  # structural zeros are shown
        elif pol.is_small(v):
            assert s in (pol.small_mark, SECONDARY)  # never shown as a number


def test_one_suppressed_cell_gets_complements() -> None:
    tab = table([[3, 40, 50], [20, 30, 60]], GEL)
    assert tab.cells == (("<5", "*", "50"), ("*", "*", "60"))
    assert tab.row_totals == ("93", "110") and tab.column_totals == ("23", "70", "110")
    assert tab.grand_total == "203"


def test_small_total_is_withheld_never_shown_as_small_mark() -> None:
    tab = table([[1, 1, 1, 1]], GEL)  # "<5" marks on the total would pin every cell to 1
    assert tab.cells == (("<5",) * 4,)
    assert tab.row_totals == ("*",) and tab.grand_total == "*"
    assert audit(tab) == []


def test_zeros_and_one_by_one() -> None:
    assert table([[0]], GEL).cells == (("0",),) and table([[0]], GEL).grand_total == "0"
    tab = table([[3]], GEL)
    assert tab.cells == (("<5",),) and tab.grand_total == "*"
    assert lp_range(tab, 0) == pytest.approx((1, 4)) and lp_range(tab, 3) == pytest.approx((1, 4))
    assert table([[12]], NHS).cells == (("10",),) and table([[12]], NHS).grand_total == "10"


def test_nhs_rounding_alone_can_protect_but_the_table_is_still_complemented() -> None:
    tab = table([[3, 100]], NHS)
    assert tab.cells[0][0] == "<8" and audit(tab) == []
    assert all(s in ("*", "<8") or int(s) % 5 == 0 for s in published(tab))


def test_no_margins_one_way_table() -> None:
    tab = table([[3], [40], [2]], GEL, margins=False)
    assert tab.cells == (("<5",), ("40",), ("<5",)) and tab.grand_total is None
    assert audit(tab) == []


# --- the audit can fail ----------------------------------------------------------------


@pytest.mark.parametrize("counts", [[[3, 40, 50], [20, 30, 60]], [[3]], [[1, 1], [1, 1]]])
def test_without_suppression_the_lp_pins_every_cell(counts: list[list[int]]) -> None:
    tab = table(counts, NO_SUPPRESSION)
    assert SECONDARY not in published(tab)
    for k, v in enumerate(true_values(tab)):
        lo, hi = lp_range(tab, k)
        assert lo == pytest.approx(v) and hi == pytest.approx(v)
    # judged by the gel criterion, every small count is pinned: the audit fails
    small = [v for v in true_values(tab) if GEL.is_small(v)]
    assert len(audit(tab, threshold=5)) == len(small) > 0


def test_primary_suppression_alone_fails_the_audit() -> None:
    tab = table([[3, 40, 50], [20, 30, 60]], GEL, complementary=False)
    assert tab.cells[0] == ("<5", "40", "50") and tab.row_totals == ("93", "110")
    assert lp_range(tab, 0) == pytest.approx((3, 3))
    assert audit(tab) == ["item 0 (true 3) confined to [3, 3]"]


# --- random tables ---------------------------------------------------------------------

small_counts = st.one_of(st.integers(0, 9), st.integers(0, 40), st.just(0))


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    data=st.data(),
    pol=st.sampled_from([GEL, NHS]),
    margins=st.booleans(),
)
def test_random_tables_pass_the_audit(
    shape: tuple[int, int], data: st.DataObject, pol: Policy, margins: bool
) -> None:
    r, c = shape
    counts = data.draw(
        st.lists(st.lists(small_counts, min_size=c, max_size=c), min_size=r, max_size=r)
    )
    tab = table(counts, pol, margins=margins)
    assert audit(tab) == [], (counts, tab.cells, tab.row_totals, tab.column_totals)
    no_lone_suppression(tab)


@settings(max_examples=25, deadline=None)
@given(
    counts=st.lists(st.lists(small_counts, min_size=3, max_size=3), min_size=3, max_size=3),
    pol=st.sampled_from([GEL, NHS]),
)
def test_the_modules_flow_audit_agrees_with_linprog(counts: list[list[int]], pol: Policy) -> None:
    tab = table(counts, pol)
    lay = airlock._Layout(np.array(counts), True)
    hidden = [s in (SECONDARY, pol.small_mark) for s in published(tab)]
    items = list(range(len(lay.true)))
    flow = airlock._ranges(lay, airlock._bounds(lay, hidden, pol), items)
    for k in items:
        lo, hi = lp_range(tab, k)
        flo, fhi = flow[k]
        assert flo == pytest.approx(lo)
        # unbounded: the flow's bound is INF less what other arcs' lower bounds take off it
        # (seen: INF - 1 beside a withheld total that must be at least 1)
        assert (fhi >= airlock.INF // 2 and hi == np.inf) or fhi == pytest.approx(hi)


# --- the release summary ---------------------------------------------------------------

FREEZE = dt.date(2025, 6, 30)


def _frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    people: list[tuple[str, int, str, str]] = []
    # (programme, sex, year of birth, how many)
    spec = [
        ("cancer", "F", 1950, 30),
        ("cancer", "M", 1960, 25),
        ("cancer", "U", 1970, 2),
        ("rare disease", "F", 2015, 40),
        ("rare disease", "M", 2000, 35),
        ("rare disease", "U", 1940, 1),
    ]
    for prog, sex, yob, n in spec:
        for _ in range(n):
            people.append((f"p{len(people):04d}", yob, sex, prog))
    participant = pl.DataFrame(
        people, schema=["participant_id", "year_of_birth", "sex", "programme"], orient="row"
    ).with_columns(
        pl.col("year_of_birth").cast(pl.Int32),
        consent_category=pl.lit("adult"),
        life_status=pl.lit("alive"),
        year_of_death=pl.lit(None, pl.Int32),
    )
    # cancer participants p0000..p0056; C50 for 20 (one twice), C18 for 12, C61 for 3,
    # D05 for 2 + one participant with C50 and C18; one tumour of someone not released
    tum = [(f"p{i:04d}", "C50") for i in range(20)] + [("p0000", "C50")]
    tum += [(f"p{i:04d}", "C18") for i in range(20, 32)] + [("p0001", "C18")]
    tum += [(f"p{i:04d}", "C61") for i in range(32, 35)]
    tum += [(f"p{i:04d}", "D05") for i in range(35, 37)] + [("p0036", "C61"), ("x9999", "C71")]
    av_tumour = pl.DataFrame(tum, schema=["participant_id", "site_icd10_o2_3char"], orient="row")
    sites = []
    for i in range(12):  # SNV singletons
        sites.append(("chr1", 100 + i, "A", "G", 1, 1000, 0.001, "PASS"))
    for i in range(6):  # SNV common
        sites.append(("chr1", 200 + i, "C", "T", 300, 1000, 0.3, "PASS"))
    for i in range(7):  # insertions 1-5%
        sites.append(("chr2", 300 + i, "A", "AT", 20, 1000, 0.02, "PASS"))
    for i in range(9):  # deletions 0.1-1%
        sites.append(("chr2", 400 + i, "AT", "A", 5, 1000, 0.005, "PASS"))
    sites.append(("chr3", 500, "AC", "GT", 2, 4000, 0.0005, "PASS"))  # MNV <0.1%
    sites.append(("chr3", 600, "A", "G", 1, 1000, 0.001, "depth"))  # not PASS
    sites.append(("chr3", 700, "A", "G", 0, 1000, 0.0, "PASS"))  # AC=0
    variant_sites = pl.DataFrame(
        sites, schema=["contig", "pos", "ref", "alt", "AC", "AN", "AF", "FILTER"], orient="row"
    )
    return participant, av_tumour, variant_sites


@pytest.mark.parametrize("pol", [GEL, NHS], ids=lambda p: p.name)
def test_public_summary(pol: Policy) -> None:
    tables = public_summary(*_frames(), FREEZE, pol)
    assert list(tables) == [
        "participants_by_programme_sex",
        "participants_by_age_band_sex",
        "top_cancer_sites",
        "variant_sites_by_class_af",
    ]
    prog = tables["participants_by_programme_sex"]
    assert prog.rows == ("cancer", "rare disease") and prog.columns == ("F", "M", "U")
    assert prog._true is not None and prog._true.tolist() == [[30, 25, 2], [40, 35, 1]]

    age = tables["participants_by_age_band_sex"]
    assert age.rows == ("0-15", "16-29", "30-44", "45-59", "60-74", "75+")
    # ages 75 (F 1950), 65 (M 1960), 55 (U 1970), 10 (F 2015), 25 (M 2000), 85 (U 1940)
    assert age._true is not None
    assert age._true.tolist() == [
        [40, 0, 0],
        [0, 35, 0],
        [0, 0, 0],
        [0, 0, 2],
        [0, 25, 0],
        [30, 0, 1],
    ]

    sites = tables["top_cancer_sites"]
    assert sites._true is not None
    if pol is GEL:  # C61: 4 participants, D05: 2 -> not named, in "other" (5 distinct)
        assert sites.rows == ("C50", "C18", "other")
        assert sites._true.reshape(-1).tolist() == [20, 13, 5]
        assert sites.cells == (("20",), ("13",), ("5",))
    else:
        assert sites.rows == ("C50", "C18", "other")
        assert sites.cells == (("20",), ("15",), ("<8",))
    assert not sites.has_margins

    var = tables["variant_sites_by_class_af"]
    assert var.rows == ("SNV", "insertion", "deletion", "MNV")
    assert var._true is not None
    assert var._true.tolist() == [
        [12, 0, 0, 0, 6],
        [0, 0, 0, 7, 0],
        [0, 0, 9, 0, 0],
        [0, 1, 0, 0, 0],
    ]
    assert var.unit == "variant sites"

    for tab in tables.values():
        assert tab.policy is pol
        assert audit(tab) == [], tab.name
        no_lone_suppression(tab)


def joint_audit(a: SummaryTable, b: SummaryTable) -> list[str]:
    """Audit two tables of the same participants together: their column totals (by sex)
    and grand totals are the same numbers."""
    (ba, ea), (bb, eb) = _model(a), _model(b)
    assert ea is not None and eb is not None and a.columns == b.columns
    na, nb, c = len(ba), len(bb), len(a.columns)
    eq = np.zeros((len(ea) + len(eb) + c + 1, na + nb))
    eq[: len(ea), :na] = ea
    eq[len(ea) : len(ea) + len(eb), na:] = eb
    link = len(ea) + len(eb)
    first_a, first_b = len(a.rows) * c + len(a.rows), len(b.rows) * c + len(b.rows)
    for j in range(c + 1):  # column totals, then the grand total
        eq[link + j, first_a + j] = 1
        eq[link + j, na + first_b + j] = -1
    bounds = ba + bb
    t = a.policy.threshold
    problems = []
    for k, v in enumerate(true_values(a) + true_values(b)):
        if not 0 < v < t:
            continue
        ends = []
        for sign in (1, -1):
            obj = np.zeros(na + nb)
            obj[k] = sign
            res = linprog(obj, A_eq=eq, b_eq=np.zeros(len(eq)), bounds=bounds, method="highs")
            assert res.status in (0, 3), res.message
            ends.append(np.inf if res.status == 3 else sign * res.fun)
        if ends[1] - ends[0] < t - 2 - EPS:
            problems.append(f"item {k} (true {v}) confined to {ends}")
    return problems


def _participants(people: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(f"q{i}", yob, sex, prog) for i, (prog, sex, yob) in enumerate(people)],
        schema=["participant_id", "year_of_birth", "sex", "programme"],
        orient="row",
    )


@pytest.mark.parametrize("pol", [GEL, NHS], ids=lambda p: p.name)
def test_participant_tables_share_their_totals_and_pass_together(pol: Policy) -> None:
    tables = public_summary(*_frames(), FREEZE, pol)
    prog, age = tables["participants_by_programme_sex"], tables["participants_by_age_band_sex"]
    assert prog.column_totals == age.column_totals and prog.grand_total == age.grand_total
    assert joint_audit(prog, age) == []


@pytest.mark.xfail(strict=True, reason="known limit: tables are audited one at a time")
def test_tiny_cohort_across_tables() -> None:
    # four cancer women, one per age band: each table alone is safe, but together the
    # age table's four "<5" cells force the programme table's "<5" to 4 (and each to 1)
    people = [("cancer", "F", y) for y in (2015, 2000, 1985, 1970)] + [
        ("rare disease", "M", 1990)
    ] * 30
    _, av_tumour, variant_sites = _frames()
    tables = public_summary(_participants(people), av_tumour, variant_sites, FREEZE, GEL)
    prog, age = tables["participants_by_programme_sex"], tables["participants_by_age_band_sex"]
    assert audit(prog) == [] and audit(age) == []
    assert joint_audit(prog, age) == []


def test_unknown_age_band_row_only_when_needed() -> None:
    participant, av_tumour, variant_sites = _frames()
    participant = participant.with_columns(
        year_of_birth=pl.when(pl.col("participant_id") == "p0000")
        .then(None)
        .otherwise(pl.col("year_of_birth"))
    )
    age = public_summary(participant, av_tumour, variant_sites, FREEZE, GEL)[
        "participants_by_age_band_sex"
    ]
    assert age.rows[-1] == "unknown" and age.cells[-1] == ("<5", "0", "0")


def test_rendering_shows_published_cells_only() -> None:
    tables = public_summary(*_frames(), FREEZE, GEL)
    md = to_markdown(tables)
    doc = json.loads(to_json(tables))
    assert doc["policy"] == "gel" and doc["threshold"] == 5
    assert '"<5"' in doc["footnote"] and doc["footnote"] in md.replace("\n", " ")
    prog = doc["tables"]["participants_by_programme_sex"]
    assert prog["columns"] == ["F", "M", "U"]
    assert prog["rows"][0]["label"] == "cancer"
    assert prog["rows"][0]["cells"] == list(tables["participants_by_programme_sex"].cells[0])
    assert "| programme | F | M | U | Total |" in md and "### Participants by programme" in md
    # published strings only: no true small count anywhere, no private field
    for name, tab in tables.items():
        js = doc["tables"][name]
        strings = [s for row in js["rows"] for s in row["cells"]]
        strings += [row["total"] for row in js["rows"] if "total" in row]
        strings += js.get("column_totals", []) + (
            [js["grand_total"]] if "grand_total" in js else []
        )
        assert strings == published(tab)
        for s in strings:
            assert s in ("0", "<5", SECONDARY) or int(s) >= 5
    assert "_true" not in to_json(tables) and "_true" not in repr(tables)
    with pytest.raises(ValueError, match="one policy"):
        to_markdown({"a": table([[3]], GEL), "b": table([[3]], NHS)})
