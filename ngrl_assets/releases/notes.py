"""A release's notes: what changed since the previous release and what the release holds,
as Markdown and as one self-contained HTML file (plots embedded as base64 PNGs; the PNGs
are also written beside it), under ``releases/<id>/notes/``.

The notes leave the platform with the release, so they follow its small-number rule:
every count from 1 to ``threshold - 1`` is shown as "<threshold" (participants added or
removed, row counts, participants per table) and every bar or histogram bin with such a
count is drawn at the threshold, hatched and labelled "<5", never at its height.
Histogram ranges come from rounded 1st/99th percentiles with open end bins, so no axis
shows one participant's extreme value. Pseudonyms never appear (only counts).

Participants added and removed are counted by the caller from the identity-zone map
(pseudonyms differ between releases) and handed in as ``cohort_change``; this module
never reads the identity zone. No Dagster; lake I/O through the Lake methods.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from ngrl_assets.common.markdown import markdown_to_html
from ngrl_assets.genomics.reference import GRCH38_CONTIGS
from ngrl_assets.releases.airlock import AGE_BANDS  # one banding for notes and summary
from ngrl_assets.releases.dictionary import type_name
from ngrl_assets.releases.tables import (
    AGGREGATE_GVCF_SAMPLE_STATS,
    PARTICIPANT,
    RELEASE_TABLES,
    RELEASE_VARIANT_SITES,
)
from resources import objects
from resources.lake import Lake
from resources.tables import TableSpec

QC_COLUMNS = (
    ("mean_coverage", "mean coverage (x)"),
    ("contamination", "contamination (fraction)"),
    ("ti_tv", "Ti/Tv"),
)
AF_EDGES = tuple(10.0 ** (e / 4) for e in range(-20, 1))  # 1e-5 .. 1, 4 bins a decade
HIST_BINS = 20
FIGSIZE = (8.0, 4.0)
DPI = 100


# ---- small numbers ---------------------------------------------------------------------
def show_count(n: int | None, threshold: int) -> str:
    """A count as it may leave: "0", "<5" for 1..threshold-1, else the number."""
    if n is None:
        return "—"
    if 0 < n < threshold:
        return f"<{threshold}"
    return f"{n:,}"


@dataclass(frozen=True)
class Bars:
    """What a bar chart draws: heights (suppressed counts raised to the threshold) and
    which bars are suppressed. The exact small counts are not kept."""

    labels: tuple[str, ...]
    heights: tuple[int, ...]
    suppressed: tuple[bool, ...]


def suppress(labels: Sequence[str], counts: Sequence[int], threshold: int) -> Bars:
    small = tuple(0 < c < threshold for c in counts)
    heights = tuple(threshold if s else int(c) for c, s in zip(counts, small, strict=True))
    return Bars(tuple(labels), heights, small)


def age_band(age: int) -> str:
    for name, lo, hi in AGE_BANDS:
        if age >= lo and (hi is None or age <= hi):
            return name
    return AGE_BANDS[0][0]


def _nice(value: float, step: float, up: bool) -> float:
    return (math.ceil if up else math.floor)(value / step) * step


def hist_edges(values: pl.Series, threshold: int = 5) -> list[float] | None:
    """Bin edges from the 1st to the 99th percentile, rounded outwards to a coarse step
    (values outside fall in the open end bins), or None without data. Up to
    ``HIST_BINS`` bins, fewer for small cohorts (about ``2 * threshold`` values a bin), so
    fewer bins need suppressing."""
    v = values.drop_nulls().cast(pl.Float64)
    v = v.filter(v.is_finite())
    if v.len() == 0:
        return None
    bins = max(3, min(HIST_BINS, v.len() // (2 * max(threshold, 1))))
    lo = float(v.quantile(0.01, "linear") or 0.0)
    hi = float(v.quantile(0.99, "linear") or 0.0)
    spread = hi - lo
    if spread <= 0:
        spread = abs(lo) or 1.0
        lo, hi = lo - spread / 2, hi + spread / 2
    width = _nice_width(spread / bins)
    lo = _nice(lo, width, up=False)
    n = max(1, math.ceil(round((hi - lo) / width, 9)))
    return [round(lo + i * width, 12) for i in range(n + 1)]


def _nice_width(raw: float) -> float:
    """The smallest of 1, 2, 2.5 and 5 times a power of ten that is at least ``raw``."""
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-12))


def hist_counts(values: pl.Series, edges: Sequence[float]) -> list[int]:
    """Counts per bin; values below the first edge or above the last fall in the end bins."""
    v = values.drop_nulls().cast(pl.Float64)
    v = v.filter(v.is_finite())
    inner = pl.Series(list(edges[1:-1]), dtype=pl.Float64)
    idx = inner.search_sorted(v, side="right")
    counts = [0] * (len(edges) - 1)
    for i, n in idx.value_counts().iter_rows():
        counts[int(i)] = int(n)
    return counts


# ---- plots -----------------------------------------------------------------------------
def _figure(ncols: int = 1) -> tuple[Any, list[Any]]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(FIGSIZE[0] * (1 if ncols == 1 else 1.4), FIGSIZE[1]), dpi=DPI)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _png(fig: Any, threshold: int) -> bytes:
    fig.text(0.995, 0.005, f"hatched: a count from 1 to {threshold - 1}, drawn at {threshold}",
             ha="right", va="bottom", fontsize=7, color="#666666")  # fmt: skip
    buf = io.BytesIO()
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _draw_bars(
    ax: Any,
    bars: Bars,
    threshold: int,
    positions: Sequence[float] | None = None,
    widths: Sequence[float] | float = 0.8,
    align: str = "center",
) -> None:
    x = list(positions) if positions is not None else list(range(len(bars.labels)))
    w = list(widths) if isinstance(widths, Sequence) else [widths] * len(x)
    exact = [not s for s in bars.suppressed]
    pick = lambda seq, m: [a for a, keep in zip(seq, m, strict=True) if keep]  # noqa: E731
    ax.bar(pick(x, exact), pick(bars.heights, exact), width=pick(w, exact), align=align,
           color="#4472c4", edgecolor="#2f4f8f")  # fmt: skip
    if any(bars.suppressed):
        ax.bar(pick(x, bars.suppressed), pick(bars.heights, bars.suppressed),
               width=pick(w, bars.suppressed), align=align, color="white",
               edgecolor="#999999", hatch="///")  # fmt: skip
        for xi, wi, h, s in zip(x, w, bars.heights, bars.suppressed, strict=True):
            if s:
                cx = xi + wi / 2 if align == "edge" else xi
                ax.text(cx, h, f"<{threshold}", ha="center", va="bottom", fontsize=7)


def _no_data(ax: Any, title: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_variants_per_chromosome(sites: pl.LazyFrame, threshold: int) -> bytes:
    counts = dict(sites.group_by("contig").agg(pl.len().alias("n")).collect().iter_rows())
    order = [c for c in GRCH38_CONTIGS if c in counts]
    order += sorted(c for c in counts if c not in GRCH38_CONTIGS and c is not None)
    fig, (ax,) = _figure()
    title = "Variant sites per chromosome"
    if not order:
        _no_data(ax, title)
        return _png(fig, threshold)
    bars = suppress([c.removeprefix("chr") for c in order], [counts[c] for c in order], threshold)
    _draw_bars(ax, bars, threshold)
    ax.set_xticks(range(len(order)), bars.labels, fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("chromosome")
    ax.set_ylabel("sites")
    return _png(fig, threshold)


def af_counts(sites: pl.LazyFrame) -> list[int]:
    """Sites per AF bin (``AF_EDGES``: 4 log-spaced bins a decade), computed in the scan;
    sites with AF 0 (or none) are left out, AF below 1e-5 falls in the first bin."""
    bins = len(AF_EDGES) - 1
    index = (
        ((pl.col("AF").clip(AF_EDGES[0], 1.0).log10() + 5.0) * 4.0 + 1e-9)
        .floor()
        .cast(pl.Int32)
        .clip(0, bins - 1)
        .alias("bin")
    )
    df = (
        sites.select("AF")
        .filter(pl.col("AF").is_finite() & (pl.col("AF") > 0))
        .select(index)
        .group_by("bin")
        .agg(pl.len().alias("n"))
        .collect()
    )
    counts = [0] * bins
    for i, n in df.iter_rows():
        counts[int(i)] = int(n)
    return counts


def plot_allele_frequency(sites: pl.LazyFrame, threshold: int) -> bytes:
    counts = af_counts(sites)
    fig, (ax,) = _figure()
    title = "Allele-frequency spectrum"
    if not any(counts):
        _no_data(ax, title)
        return _png(fig, threshold)
    edges = list(AF_EDGES)
    bars = suppress([f"{e:g}" for e in edges[:-1]], counts, threshold)
    widths = [b - a for a, b in itertools.pairwise(edges)]
    _draw_bars(ax, bars, threshold, positions=edges[:-1], widths=widths, align="edge")
    ax.set_xscale("log")
    ax.set_title(title + " (sites with AF > 0; below 1e-5 in the first bin)")
    ax.set_xlabel("alternate allele frequency (log scale)")
    ax.set_ylabel("sites")
    return _png(fig, threshold)


def _histogram(ax: Any, values: pl.Series, title: str, threshold: int) -> None:
    edges = hist_edges(values, threshold)
    if edges is None:
        _no_data(ax, title)
        return
    counts = hist_counts(values, edges)
    bars = suppress([f"{e:g}" for e in edges[:-1]], counts, threshold)
    widths = [b - a for a, b in itertools.pairwise(edges)]
    _draw_bars(ax, bars, threshold, positions=edges[:-1], widths=widths, align="edge")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("samples")
    ax.tick_params(labelsize=8)


def plot_sample_qc(stats: pl.LazyFrame, threshold: int) -> bytes:
    df = stats.select([c for c, _ in QC_COLUMNS]).collect()
    fig, axes = _figure(len(QC_COLUMNS))
    for ax, (col, title) in zip(axes, QC_COLUMNS, strict=True):
        _histogram(ax, df.get_column(col), title, threshold)
    fig.suptitle("Sample QC (end bins open; from the 1st to the 99th percentile)", fontsize=10)
    return _png(fig, threshold)


def cohort_counts(participants: pl.LazyFrame, freeze_date: date) -> dict[str, dict[str, int]]:
    """Participants by programme, sex and age band (age reached in the freeze year)."""
    df = participants.select("programme", "sex", "year_of_birth").collect()
    out: dict[str, dict[str, int]] = {}
    for col in ("programme", "sex"):
        vc = df.get_column(col).fill_null("unknown").value_counts()
        out[col] = {str(v): int(n) for v, n in sorted(vc.iter_rows())}
    bands = dict.fromkeys((b for b, _, _ in AGE_BANDS), 0)
    unknown = 0
    for yob in df.get_column("year_of_birth").to_list():
        if yob is None:
            unknown += 1
        else:
            bands[age_band(freeze_date.year - int(yob))] += 1
    if unknown:
        bands["unknown"] = unknown
    out["age band"] = bands
    return out


def plot_cohort(participants: pl.LazyFrame, freeze_date: date, threshold: int) -> bytes:
    groups = cohort_counts(participants, freeze_date)
    fig, axes = _figure(len(groups))
    for ax, (name, counts) in zip(axes, groups.items(), strict=True):
        title = f"by {name}"
        if not counts or not any(counts.values()):
            _no_data(ax, title)
            continue
        bars = suppress(list(counts), list(counts.values()), threshold)
        _draw_bars(ax, bars, threshold)
        ax.set_xticks(range(len(bars.labels)), bars.labels, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("participants")
    fig.suptitle(f"Cohort (age in {freeze_date.year}, from year of birth)", fontsize=10)
    return _png(fig, threshold)


# ---- tables and schemas ----------------------------------------------------------------
@dataclass(frozen=True)
class TableFacts:
    name: str
    exists: bool
    rows: int
    participants: int | None
    schema: dict[str, str]


def table_facts(lake: Lake, spec: TableSpec) -> TableFacts:
    if not lake.exists(spec):
        return TableFacts(spec.name, False, 0, None, {})
    lf = lake.scan(spec)
    schema = {c: type_name(t) for c, t in lf.collect_schema().items()}
    pid = spec.participant_column
    exprs = [pl.len().alias("rows")]
    if pid and pid in schema:
        exprs.append(pl.col(pid).drop_nulls().n_unique().alias("participants"))
    row = lf.select(exprs).collect().row(0, named=True)
    return TableFacts(spec.name, True, int(row["rows"]), row.get("participants"), schema)


def schema_changes(current: Mapping[str, str], previous: Mapping[str, str]) -> list[str]:
    """Columns added, removed and retyped, one line each."""
    out = [f"added `{c}` ({t})" for c, t in current.items() if c not in previous]
    out += [f"removed `{c}` ({t})" for c, t in previous.items() if c not in current]
    out += [
        f"type of `{c}` changed: {previous[c]} → {t}"
        for c, t in current.items()
        if c in previous and previous[c] != t
    ]
    return out


def delivery_changes(now: Sequence[str], before: Sequence[str]) -> tuple[list[str], list[str]]:
    """(deliveries new in ``now``, deliveries no longer in it)."""
    return sorted(set(now) - set(before)), sorted(set(before) - set(now))


def provenance_markdown(
    deliveries: Mapping[str, Sequence[str]],
    previous_id: str | None,
    previous: Mapping[str, Sequence[str]] | None,
) -> str:
    """The notes' section on which upstream deliveries each table contains."""
    lines = [
        "",
        "## Upstream deliveries",
        "",
        "Which deliveries each table's rows come from: clinical extract files (source and "
        "delivery date) and sequencing deliveries (of the released genomes).",
        "",
    ]
    head, rule = "| table | deliveries |", "|---|---|"
    if previous_id:
        head += f" new since {previous_id} |"
        rule += "---|"
    lines += [head, rule]
    for name, names in sorted(deliveries.items()):
        row = f"| `{name}` | {', '.join(f'`{d}`' for d in names) or '— (consent feeds)'} |"
        if previous_id:
            added, _ = delivery_changes(names, (previous or {}).get(name, []))
            row += f" {', '.join(f'`{d}`' for d in added) or 'none'} |"
        lines.append(row)
    return "\n".join(lines) + "\n"


# ---- the notes -------------------------------------------------------------------------
PLOTS = (
    ("variants_per_chromosome.png", "Variant sites per chromosome"),
    ("allele_frequency_spectrum.png", "Allele-frequency spectrum"),
    ("sample_qc.png", "Sample QC distributions"),
    ("cohort.png", "Cohort by programme, sex and age band"),
)


def _markdown(
    release_id: str,
    label: str,
    freeze_date: date,
    previous_id: str | None,
    cohort_change: Mapping[str, int] | None,
    current: Sequence[TableFacts],
    previous: Mapping[str, TableFacts],
    threshold: int,
) -> str:
    t = threshold
    since = f" since {previous_id}" if previous_id else ""
    lines = [
        f"# Release notes — {label} ({release_id})",
        "",
        f"- data freeze: {freeze_date.isoformat()}",
        f"- previous release: {previous_id or 'none (first release)'}",
        f'- small numbers: every count from 1 to {t - 1} is shown as "<{t}", in the tables '
        "and in the plots (hatched bars drawn at the threshold).",
        "",
        "## Cohort",
        "",
    ]
    participants = next((f for f in current if f.name == PARTICIPANT.name), None)
    if participants is not None and participants.exists:
        lines.append(f"Participants in this release: {show_count(participants.rows, t)}.")
        lines.append("")
    if cohort_change is not None:
        added, removed = cohort_change.get("added", 0), cohort_change.get("removed", 0)
        kept = cohort_change.get("kept")
        hidden = 0 < added < t or 0 < removed < t
        if kept is not None and hidden:
            # an exact kept count would give the suppressed one away by difference
            kept_text = f"about {round(kept, -1):,}" if kept >= 10 else f"<{max(t, 10)}"
        else:
            kept_text = show_count(kept, t)
        lines += [
            f"| participants{since} | count |",
            "|---|---|",
            f"| added | {show_count(added, t)} |",
            f"| removed | {show_count(removed, t)} |",
            f"| kept | {kept_text} |",
        ]
    else:
        lines.append("No cohort comparison was supplied.")

    lines += ["", "## Tables", ""]
    head = "| table | rows | participants |"
    rule = "|---|---|---|"
    if previous_id:
        head += f" rows in {previous_id} |"
        rule += "---|"
    lines += [head, rule]
    for f in current:
        row = f"| `{f.name}` | {show_count(f.rows, t) if f.exists else 'not written'} | "
        row += f"{show_count(f.participants, t) if f.participants is not None else '—'} |"
        if previous_id:
            p = previous.get(f.name)
            row += f" {show_count(p.rows, t) if p is not None and p.exists else 'new'} |"
        lines.append(row)

    if previous_id:
        lines += ["", f"## Schema changes since {previous_id}", ""]
        any_change = False
        for f in current:
            p = previous.get(f.name)
            if p is None or not p.exists:
                if f.exists:
                    lines.append(f"- `{f.name}`: new table")
                    any_change = True
                continue
            if not f.exists:
                lines.append(f"- `{f.name}`: not in this release")
                any_change = True
                continue
            changes = schema_changes(f.schema, p.schema)
            if changes:
                any_change = True
                lines.append(f"- `{f.name}`:")
                lines += [f"  - {c}" for c in changes]
        if not any_change:
            lines.append("No schema changes.")

    lines += ["", "## Plots", ""]
    for name, title in PLOTS:
        lines += [f"### {title}", "", f"![{title}]({name})", ""]
    lines += ["The data dictionary of this release: [data_dictionary.md](data_dictionary.md)."]
    return "\n".join(lines) + "\n"


def write_notes(
    lake: Lake,
    release_id: str,
    previous_id: str | None,
    freeze_date: date,
    label: str,
    small_number_threshold: int = 5,
    cohort_change: Mapping[str, int] | None = None,
    specs: Sequence[TableSpec] = RELEASE_TABLES,
    deliveries: Mapping[str, Sequence[str]] | None = None,
    previous_deliveries: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Write ``release_notes.md``, ``release_notes.html`` (self-contained) and the plots
    (PNG) under ``releases/<id>/notes/``; return the URIs written.

    ``cohort_change``: participants ``added``, ``removed`` and ``kept`` since the previous
    release, counted by the caller through the identity-zone pseudonym map.
    """
    t = small_number_threshold
    if t < 1:
        raise ValueError("the small-number threshold must be at least 1")
    current = [table_facts(lake, s.in_folder(release_id)) for s in specs]
    previous: dict[str, TableFacts] = {}
    if previous_id:
        previous = {s.name: table_facts(lake, s.in_folder(previous_id)) for s in specs}

    sites = lake.scan(RELEASE_VARIANT_SITES.in_folder(release_id))
    stats = lake.scan(AGGREGATE_GVCF_SAMPLE_STATS.in_folder(release_id))
    images = {
        PLOTS[0][0]: plot_variants_per_chromosome(sites, t),
        PLOTS[1][0]: plot_allele_frequency(sites, t),
        PLOTS[2][0]: plot_sample_qc(stats, t),
        PLOTS[3][0]: plot_cohort(lake.scan(PARTICIPANT.in_folder(release_id)), freeze_date, t),
    }
    md = _markdown(release_id, label, freeze_date, previous_id, cohort_change, current, previous, t)
    if deliveries is not None:
        md += provenance_markdown(deliveries, previous_id, previous_deliveries)
    page = markdown_to_html(md, images, f"Release notes — {label} ({release_id})")

    written: list[str] = []

    def put(name: str, data: bytes) -> None:
        uri = lake.uri("releases", release_id, "notes", name)
        objects.write_bytes(uri, data)
        written.append(uri)

    for name, data in images.items():
        put(name, data)
    put("release_notes.md", md.encode())
    put("release_notes.html", page.encode())
    return written
