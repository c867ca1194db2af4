"""Airlock-safe public summary of a release: small-number suppression under a named
policy, complementary suppression checked by an exact audit, and the summary tables
(participants by programme and sex, by age band and sex, top cancer sites, variant sites
by class and allele-frequency bin) rendered as Markdown or JSON.

Pure: polars and numpy only, no Dagster, no lake I/O. The caller passes plain frames.
Method and policies: docs/releases.md, "Airlock-safe public summary".

Publication model (what a reader, or an attacker, knows):

* a cell or total shown as a number ``v`` lies in the rounding interval of ``v`` (exactly
  ``v`` without rounding) and, if ``v > 0``, is at least the threshold (smaller counts are
  never shown);
* ``"0"`` is a true zero (structural; zeros are shown under both policies);
* ``"<t"`` (``"<5"`` under ``gel``) is a primary-suppressed cell: a count in ``1..t-1``;
* ``"*"`` in a cell is a complementary (secondary) suppression: a count of at least ``t``
  withheld so that no ``"<t"`` cell can be worked out (the reader may know it is ``>= t``);
* ``"*"`` as a total is a withheld total: any count ``>= 1`` (a total below the threshold
  is withheld as ``"*"`` too, never shown as ``"<t"``, so that marks alone cannot pin cells).

Protection criterion: every published quantity whose true value is a small count
(``1..t-1``: a ``"<t"`` cell or a withheld small total) must, over everything the
publication states (the linear constraints "a total is the sum of its cells" within the
intervals above), be able to take at least ``t - 1`` consecutive integer values, as many
as ``"<t"`` itself allows; for a ``"<t"`` cell that is the whole range ``1..t-1``. The
feasible set of a two-way table with margins is a bounded circulation (source -> row
totals -> cells -> column totals -> sink -> grand total -> source), so the exact range of
any one quantity is found with two max-flow computations (totally unimodular: the LP
range equals the integer range). The module audits its own output that way and withholds
more until every small count is protected; tests re-audit with ``scipy.optimize.linprog``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

SECONDARY = "*"  # complementary suppression of a cell, and any withheld total
INF = 10**12  # "no upper bound" in the audit's flow network


@dataclass(frozen=True)
class Policy:
    """A named small-number policy: non-zero counts below ``threshold`` are suppressed;
    shown counts (cells and totals, independently) are rounded to the nearest multiple
    of ``rounding`` (1: exact)."""

    name: str
    threshold: int
    rounding: int = 1
    description: str = ""

    @property
    def small_mark(self) -> str:
        """How a primary-suppressed cell is published."""
        return f"<{self.threshold}"

    def is_small(self, n: int) -> bool:
        return 0 < n < self.threshold

    def round(self, n: int) -> int:
        """Nearest multiple of ``rounding``, halves up."""
        r = self.rounding
        return n if r <= 1 else r * math.floor(n / r + 0.5)

    def interval(self, shown: int) -> tuple[int, int]:
        """The true counts a shown value can stand for (rounding interval, and never a
        small count)."""
        if shown == 0:
            return (0, 0)
        r = self.rounding
        lo, hi = (shown, shown) if r <= 1 else (shown - r // 2, shown + (r + 1) // 2 - 1)
        return (max(lo, self.threshold, 0), hi)

    @property
    def footnote(self) -> str:
        t = self.threshold
        parts = [
            f'Airlock policy "{self.name}".',
            f'Counts of 1 to {t - 1} are shown as "{self.small_mark}".' if t > 1 else "",
            (
                f"All other counts and all totals are rounded to the nearest {self.rounding}, "
                "each independently, so a total may differ from the sum of its cells."
                if self.rounding > 1
                else "Shown counts and totals are exact."
            ),
            f'"{SECONDARY}" marks a cell of {t} or more, or a total, withheld so that no '
            f'"{self.small_mark}" count can be worked out from the other figures '
            f"(complementary suppression); a total below {t} is withheld the same way.",
            "Zeros are true zeros and are shown.",
        ]
        return " ".join(p for p in parts if p)


POLICIES: dict[str, Policy] = {
    "gel": Policy(
        "gel",
        threshold=5,
        rounding=1,
        description='Genomics England Airlock: non-zero counts below 5 shown as "<5".',
    ),
    "nhs_hes": Policy(
        "nhs_hes",
        threshold=8,
        rounding=5,
        description=(
            "NHS HES / OpenSAFELY: counts 1-7 suppressed, all other counts rounded to the "
            "nearest 5."
        ),
    ),
}
DEFAULT_POLICY = "gel"


def policy(name: str = DEFAULT_POLICY) -> Policy:
    """The policy called ``name``; ValueError naming the known ones otherwise."""
    try:
        return POLICIES[name]
    except KeyError:
        known = ", ".join(sorted(POLICIES))
        raise ValueError(f"unknown airlock policy {name!r} (known: {known})") from None


# ---------------------------------------------------------------------------------------
# Suppression of one table.
#
# Items: the R*C cells (row-major), then R row totals, C column totals and the grand total
# (the totals only when the table publishes margins). Relations: each row (its cells and
# row total), each column, the row totals with the grand total, the column totals with the
# grand total: every relation sums to zero with the total counted negatively.


@dataclass
class _Layout:
    counts: np.ndarray  # R x C true counts
    margins: bool

    def __post_init__(self) -> None:
        r, c = self.counts.shape
        self.r, self.c = r, c
        self.n_cells = r * c
        true = [int(v) for v in self.counts.reshape(-1)]
        if self.margins:
            true += [int(v) for v in self.counts.sum(axis=1)]
            true += [int(v) for v in self.counts.sum(axis=0)]
            true.append(int(self.counts.sum()))
        self.true = true

    def cell(self, i: int, j: int) -> int:
        return i * self.c + j

    def row_total(self, i: int) -> int:
        return self.n_cells + i

    def col_total(self, j: int) -> int:
        return self.n_cells + self.r + j

    @property
    def grand(self) -> int:
        return self.n_cells + self.r + self.c

    def is_cell(self, k: int) -> bool:
        return k < self.n_cells

    def relations(self) -> list[list[int]]:
        if not self.margins:
            return []
        rows = [
            [self.cell(i, j) for j in range(self.c)] + [self.row_total(i)] for i in range(self.r)
        ]
        cols = [
            [self.cell(i, j) for i in range(self.r)] + [self.col_total(j)] for j in range(self.c)
        ]
        rm = [self.row_total(i) for i in range(self.r)] + [self.grand]
        cm = [self.col_total(j) for j in range(self.c)] + [self.grand]
        return [*rows, *cols, rm, cm]

    def arcs(self) -> list[tuple[int, int, int | None]]:
        """(from node, to node, item or None for an unpublished margin). Nodes: 0 source,
        1..R rows, R+1..R+C columns, R+C+1 sink."""
        s, t = 0, self.r + self.c + 1
        out: list[tuple[int, int, int | None]] = []
        for i in range(self.r):
            out.append((s, 1 + i, self.row_total(i) if self.margins else None))
            for j in range(self.c):
                out.append((1 + i, 1 + self.r + j, self.cell(i, j)))
        for j in range(self.c):
            out.append((1 + self.r + j, t, self.col_total(j) if self.margins else None))
        out.append((t, s, self.grand if self.margins else None))
        return out


def _bounds(lay: _Layout, hidden: list[bool], pol: Policy) -> list[tuple[int, int]]:
    """What the publication says about each item (the reader's knowledge)."""
    out = []
    for k, v in enumerate(lay.true):
        if not hidden[k]:
            out.append(pol.interval(pol.round(v)))
        elif not lay.is_cell(k):
            out.append((1, INF))  # a withheld total: non-zero (zeros are shown)
        elif pol.is_small(v):
            out.append((1, pol.threshold - 1))  # "<t"
        else:
            out.append((pol.threshold, INF))  # "*": complementary
    return out


def _maxflow(cap: list[list[int]], s: int, t: int, limit: int) -> int:
    """Edmonds-Karp on a dense residual matrix (modified in place), stopping at limit."""
    n = len(cap)
    flow = 0
    while flow < limit:
        parent = [-1] * n
        parent[s] = s
        queue = deque([s])
        while queue and parent[t] == -1:
            u = queue.popleft()
            for v in range(n):
                if parent[v] == -1 and cap[u][v] > 0:
                    parent[v] = u
                    queue.append(v)
        if parent[t] == -1:
            break
        b, v = limit - flow, t
        while v != s:
            b = min(b, cap[parent[v]][v])
            v = parent[v]
        v = t
        while v != s:
            u = parent[v]
            cap[u][v] -= b
            cap[v][u] += b
            v = u
        flow += b
    return flow


def _ranges(
    lay: _Layout, bounds: list[tuple[int, int]], items: Sequence[int]
) -> dict[int, tuple[int, int]]:
    """Exact [min, max] of each item over every table consistent with ``bounds`` and the
    sums: the true counts are one feasible circulation; an item can rise (fall) by the
    max flow from its arc's head to its tail (tail to head) in the residual network."""
    arcs = lay.arcs()
    n = lay.r + lay.c + 2
    flow: list[int] = []
    lohi: list[tuple[int, int]] = []
    for u, v, k in arcs:
        if k is None:  # unpublished margin
            if u == 0:
                f = int(lay.counts[v - 1].sum())
            elif v == n - 1:
                f = int(lay.counts[:, u - 1 - lay.r].sum())
            else:
                f = int(lay.counts.sum())
            flow.append(f)
            lohi.append((0, INF))
        else:
            flow.append(lay.true[k])
            lohi.append(bounds[k])
    base = [[0] * n for _ in range(n)]
    for (u, v, _), f, (lo, hi) in zip(arcs, flow, lohi, strict=True):
        base[u][v] += hi - f
        base[v][u] += f - lo
    where = {k: a for a, (_, _, k) in enumerate(arcs) if k is not None}
    out = {}
    for k in items:
        a = where[k]
        u, v, _ = arcs[a]
        f, (lo, hi) = flow[a], lohi[a]
        up_cap = [row[:] for row in base]
        up_cap[u][v] -= hi - f
        up_cap[v][u] -= f - lo
        down_cap = [row[:] for row in up_cap]
        up = _maxflow(up_cap, v, u, hi - f)
        down = _maxflow(down_cap, u, v, f - lo)
        out[k] = (f - down, f + up)
    return out


def _complementary(lay: _Layout, hidden: list[bool]) -> None:
    """Fixed point: a relation with exactly one withheld member gets a second one (its
    smallest non-zero shown cell, else its total)."""
    changed = True
    while changed:
        changed = False
        for rel in lay.relations():
            if sum(hidden[k] for k in rel) != 1:
                continue
            shown = [k for k in rel if not hidden[k] and lay.true[k] > 0]
            if not shown:
                continue
            pick = min(shown, key=lambda k: (not lay.is_cell(k), lay.true[k], k))
            hidden[pick] = True
            changed = True


def _unprotected(lay: _Layout, hidden: list[bool], pol: Policy) -> list[int]:
    sensitive = [k for k, v in enumerate(lay.true) if pol.is_small(v)]
    ranges = _ranges(lay, _bounds(lay, hidden, pol), sensitive)
    need = pol.threshold - 2
    return [k for k in sensitive if ranges[k][1] - ranges[k][0] < need]


def _neighbours(lay: _Layout, k: int) -> list[int]:
    return sorted({m for rel in lay.relations() if k in rel for m in rel if m != k})


def _suppress(
    lay: _Layout, pol: Policy, complementary: bool = True, force: Collection[int] = ()
) -> list[bool]:
    """Which items to withhold: the small counts (and the non-zero ``force`` items), then
    complementary suppression, then audit-and-repair until every small count is protected.
    Withholding more never narrows a range (a withheld figure's bounds contain its shown
    interval), so forcing keeps a table safe."""
    hidden = [pol.is_small(v) or (k in force and v > 0) for k, v in enumerate(lay.true)]
    if not complementary:
        return hidden
    _complementary(lay, hidden)
    while bad := _unprotected(lay, hidden, pol):
        k = bad[0]
        cands = [m for m in _neighbours(lay, k) if not hidden[m] and lay.true[m] > 0]
        if not cands:  # nothing left around it: anything still shown
            cands = [m for m, v in enumerate(lay.true) if not hidden[m] and v > 0]
        cands.sort(key=lambda m: (not lay.is_cell(m), lay.true[m], m))
        pick = cands[0]
        for m in cands:  # the cheapest withholding that protects k by itself, if any
            trial = hidden.copy()
            trial[m] = True
            lo, hi = _ranges(lay, _bounds(lay, trial, pol), [k])[k]
            if hi - lo >= pol.threshold - 2:
                pick = m
                break
        hidden[pick] = True
        _complementary(lay, hidden)
    return hidden


# ---------------------------------------------------------------------------------------
# Summary tables.


@dataclass(frozen=True)
class SummaryTable:
    """One published table: the published strings only, plus (private, never rendered)
    the true counts, for tests."""

    name: str
    title: str
    row_header: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    row_totals: tuple[str, ...] | None
    column_totals: tuple[str, ...] | None
    grand_total: str | None
    policy: Policy
    unit: str = "participants"
    note: str = ""
    _true: np.ndarray | None = field(default=None, repr=False, compare=False, hash=False)

    @property
    def has_margins(self) -> bool:
        return self.grand_total is not None


def summary_table(
    name: str,
    counts: np.ndarray | Sequence[Sequence[int]],
    pol: Policy,
    *,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str = "",
    row_header: str = "",
    unit: str = "participants",
    note: str = "",
    margins: bool = True,
    complementary: bool = True,
    withhold_column_totals: Collection[str] = (),
    withhold_grand_total: bool = False,
) -> SummaryTable:
    """Suppress a two-way table of true counts (row totals, column totals and the grand
    total published when ``margins``). ``complementary=False`` withholds the small counts
    only (unsafe: for showing that the audit catches derivable cells). The ``withhold_*``
    totals are withheld as well (totals another table of the release shares)."""
    arr = np.asarray(counts, dtype=np.int64).reshape(len(rows), len(columns))
    if (arr < 0).any():
        raise ValueError(f"{name}: negative counts")
    lay = _Layout(arr, margins)
    force: set[int] = set()
    if margins:
        force |= {lay.col_total(j) for j, c in enumerate(columns) if c in withhold_column_totals}
        force |= {lay.grand} if withhold_grand_total else set()
    hidden = _suppress(lay, pol, complementary, force)

    def render(k: int) -> str:
        v = lay.true[k]
        if not hidden[k]:
            return str(pol.round(v))
        return pol.small_mark if lay.is_cell(k) and pol.is_small(v) else SECONDARY

    r, c = arr.shape
    cells = tuple(tuple(render(lay.cell(i, j)) for j in range(c)) for i in range(r))
    return SummaryTable(
        name=name,
        title=title or name,
        row_header=row_header,
        rows=tuple(rows),
        columns=tuple(columns),
        cells=cells,
        row_totals=tuple(render(lay.row_total(i)) for i in range(r)) if margins else None,
        column_totals=tuple(render(lay.col_total(j)) for j in range(c)) if margins else None,
        grand_total=render(lay.grand) if margins else None,
        policy=pol,
        unit=unit,
        note=note,
        _true=arr.copy(),
    )


AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("0-15", 0, 15),
    ("16-29", 16, 29),
    ("30-44", 30, 44),
    ("45-59", 45, 59),
    ("60-74", 60, 74),
    ("75+", 75, None),
)
SEXES = ("F", "M", "U")
VARIANT_CLASSES = ("SNV", "insertion", "deletion", "MNV")
AF_BINS = ("singleton (AC=1)", "AF<0.1%", "0.1-1%", "1-5%", ">=5%")
TOP_SITES = 10
OTHER = "other"
UNKNOWN = "unknown"


def _crosstab(
    frame: pl.DataFrame, row: str, col: str, rows: Sequence[str], cols: Sequence[str]
) -> np.ndarray:
    out = np.zeros((len(rows), len(cols)), dtype=np.int64)
    ri = {v: i for i, v in enumerate(rows)}
    ci = {v: j for j, v in enumerate(cols)}
    for a, b, n in frame.group_by(row, col).len().iter_rows():
        out[ri[a], ci[b]] += n
    return out


def _sex_columns(sexes: pl.Series) -> list[str]:
    extra = sorted(set(sexes.to_list()) - set(SEXES))
    return [*SEXES, *extra]


def _people(participant: pl.DataFrame) -> pl.DataFrame:
    return participant.select(
        "participant_id",
        "year_of_birth",
        pl.col("sex").cast(pl.String).fill_null("U"),
        pl.col("programme").cast(pl.String).fill_null(UNKNOWN),
    ).unique("participant_id")


def _age_band(freeze_date: dt.date) -> pl.Expr:
    age = pl.lit(freeze_date.year) - pl.col("year_of_birth").cast(pl.Int64)
    expr: Any = pl.when(age.is_null() | (age < 0)).then(pl.lit(UNKNOWN))
    for label, lo, hi in AGE_BANDS:
        cond = age >= lo if hi is None else age.is_between(lo, hi)
        expr = expr.when(cond).then(pl.lit(label))
    return expr.otherwise(pl.lit(UNKNOWN)).alias("age_band")


def _variant_table(variant_sites: pl.DataFrame) -> np.ndarray:
    sites = variant_sites
    if "FILTER" in sites.columns:
        sites = sites.filter(pl.col("FILTER") == "PASS")
    bases = r"^[ACGTNacgtn]+$"
    sites = sites.filter(
        pl.col("ref").str.contains(bases),
        pl.col("alt").str.contains(bases),
        pl.col("AC").fill_null(0) > 0,
    )
    nr, na = pl.col("ref").str.len_chars(), pl.col("alt").str.len_chars()
    klass = (
        pl.when((nr == 1) & (na == 1))
        .then(pl.lit("SNV"))
        .when(na > nr)
        .then(pl.lit("insertion"))
        .when(na < nr)
        .then(pl.lit("deletion"))
        .otherwise(pl.lit("MNV"))
        .alias("class")
    )
    af = pl.coalesce(pl.col("AF"), pl.col("AC") / pl.col("AN"))
    fbin = (
        pl.when(pl.col("AC") == 1)
        .then(pl.lit(AF_BINS[0]))
        .when(af < 0.001)
        .then(pl.lit(AF_BINS[1]))
        .when(af < 0.01)
        .then(pl.lit(AF_BINS[2]))
        .when(af < 0.05)
        .then(pl.lit(AF_BINS[3]))
        .otherwise(pl.lit(AF_BINS[4]))
        .alias("af_bin")
    )
    return _crosstab(sites.select(klass, fbin), "class", "af_bin", VARIANT_CLASSES, AF_BINS)


def _cancer_sites(
    people: pl.DataFrame, av_tumour: pl.DataFrame, pol: Policy
) -> tuple[list[str], np.ndarray]:
    pairs = (
        av_tumour.select("participant_id", site=pl.col("site_icd10_o2_3char").cast(pl.String))
        .filter(pl.col("site").is_not_null())
        .join(people.select("participant_id"), on="participant_id", how="semi")
        .unique()
    )
    per_site = pairs.group_by("site").len().sort(["len", "site"], descending=[True, False])
    listed = [s for s, n in per_site.iter_rows() if not pol.is_small(n)][:TOP_SITES]
    counts = [int(per_site.filter(pl.col("site") == s)["len"][0]) for s in listed]
    other = pairs.filter(~pl.col("site").is_in(listed))["participant_id"].n_unique()
    return [*listed, OTHER], np.array([[*counts, other]], dtype=np.int64).T


def public_summary(
    participant: pl.DataFrame,
    av_tumour: pl.DataFrame,
    variant_sites: pl.DataFrame,
    freeze_date: dt.date,
    policy: Policy = POLICIES[DEFAULT_POLICY],
) -> dict[str, SummaryTable]:
    """The public summary tables of a release, suppressed under ``policy``."""
    pol = policy
    people = _people(participant)
    sexes = _sex_columns(people["sex"])
    programmes = sorted(people["programme"].unique().to_list())
    by_prog = _crosstab(people, "programme", "sex", programmes, sexes)

    aged = people.with_columns(_age_band(freeze_date))
    bands = [b for b, _, _ in AGE_BANDS]
    if (aged["age_band"] == UNKNOWN).any():
        bands.append(UNKNOWN)
    by_age = _crosstab(aged, "age_band", "sex", bands, sexes)

    sites, site_counts = _cancer_sites(people, av_tumour, pol)
    by_variant = _variant_table(variant_sites)

    # The two participant tables share their totals by sex and their grand total: a total
    # withheld in one is withheld in the other, until both agree (only ever grows).
    cols: set[str] = set()
    grand = False
    while True:
        prog = summary_table(
            "participants_by_programme_sex",
            by_prog,
            pol,
            rows=programmes,
            columns=sexes,
            title="Participants by programme and sex",
            row_header="programme",
            withhold_column_totals=cols,
            withhold_grand_total=grand,
        )
        age = summary_table(
            "participants_by_age_band_sex",
            by_age,
            pol,
            rows=bands,
            columns=sexes,
            title=f"Participants by age band at the freeze ({freeze_date.isoformat()}) and sex",
            row_header="age band",
            note="Age is the freeze year minus the year of birth.",
            withhold_column_totals=cols,
            withhold_grand_total=grand,
        )
        pair = (prog, age)
        now = {
            c
            for t in pair
            for c, v in zip(sexes, t.column_totals or (), strict=True)
            if v == SECONDARY
        }
        now_grand = any(t.grand_total == SECONDARY for t in pair)
        if (now, now_grand) == (cols, grand):
            break
        cols, grand = now, now_grand

    tables = [
        prog,
        age,
        summary_table(
            "top_cancer_sites",
            site_counts,
            pol,
            rows=sites,
            columns=["participants"],
            title=f"Top {TOP_SITES} cancer sites (ICD-10 3-character), distinct participants",
            row_header="site",
            margins=False,
            note=(
                f"Only sites with at least {pol.threshold} participants are named; the rest "
                f'are "{OTHER}" (distinct participants with a tumour at any other site). A '
                "participant may have tumours at several sites, so there is no total."
            ),
        ),
        summary_table(
            "variant_sites_by_class_af",
            by_variant,
            pol,
            rows=VARIANT_CLASSES,
            columns=AF_BINS,
            title="PASS variant sites by class and allele frequency",
            row_header="class",
            unit="variant sites",
            note="Class from the REF/ALT lengths; AC=0 and symbolic alleles not counted.",
        ),
    ]
    return {t.name: t for t in tables}


# ---------------------------------------------------------------------------------------
# Rendering: published strings only.


def _policy_of(tables: Mapping[str, SummaryTable]) -> Policy:
    pols = {t.policy for t in tables.values()}
    if len(pols) != 1:
        raise ValueError(f"a summary renders under one policy, got {sorted(p.name for p in pols)}")
    return pols.pop()


def to_markdown(tables: Mapping[str, SummaryTable]) -> str:
    pol = _policy_of(tables)
    out: list[str] = []
    for t in tables.values():
        out += [f"### {t.title}", ""]
        header = [t.row_header or "", *t.columns] + (["Total"] if t.row_totals else [])
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|")
        for i, label in enumerate(t.rows):
            row = [label, *t.cells[i]] + ([t.row_totals[i]] if t.row_totals else [])
            out.append("| " + " | ".join(row) + " |")
        if t.column_totals is not None and t.grand_total is not None:
            out.append("| Total | " + " | ".join([*t.column_totals, t.grand_total]) + " |")
        out.append("")
        out.append(f"Counts of {t.unit}." + (f" {t.note}" if t.note else ""))
        out.append("")
    out.append(pol.footnote)
    return "\n".join(out) + "\n"


def to_json(tables: Mapping[str, SummaryTable]) -> str:
    pol = _policy_of(tables)
    doc = {
        "policy": pol.name,
        "threshold": pol.threshold,
        "rounding": pol.rounding,
        "footnote": pol.footnote,
        "tables": {
            t.name: {
                "title": t.title,
                "unit": t.unit,
                "note": t.note,
                "row_header": t.row_header,
                "columns": list(t.columns),
                "rows": [
                    {
                        "label": label,
                        "cells": list(t.cells[i]),
                        **({"total": t.row_totals[i]} if t.row_totals else {}),
                    }
                    for i, label in enumerate(t.rows)
                ],
                **(
                    {"column_totals": list(t.column_totals), "grand_total": t.grand_total}
                    if t.column_totals is not None
                    else {}
                ),
            }
            for t in tables.values()
        },
    }
    return json.dumps(doc, indent=2)
