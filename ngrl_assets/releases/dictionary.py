"""A release's data dictionary: every table and column of the release, its type and
description (from the table declarations) and example values that identify nobody.

Examples are disclosure-controlled, column by column:

- pseudonyms (the participant column, ``sample_id``) show their pattern only, and record
  keys (``epikey``, ``tumourid``, ...) nothing;
- low-cardinality strings and booleans (at most ``max_categories`` distinct values) show
  up to five values, each held by at least ``k`` distinct participants (``k`` rows in
  tables without participants), most common first;
- numbers and dates show a coarsened range: the 5th and 95th percentiles, rounded outwards
  to a coarse step (years for dates), never a minimum or maximum; and only when at least
  ``k`` participants (rows) have a value;
- free text and high-cardinality strings show "—".

No Dagster: lake I/O goes through the :class:`~resources.lake.Lake` methods only.
Tables are handled as lazy frames, so :func:`write_dictionary` never loads a whole release
table (projection pushdown reads one or two columns per query).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import polars as pl

from ngrl_assets.releases.tables import DATA_DICTIONARY
from resources import objects
from resources.lake import Lake
from resources.tables import TableSpec

NONE = "—"
K_MIN = 5  # the small-number threshold: a value must be held by >= 5 participants (rows)
MAX_CATEGORIES = 20
MAX_EXAMPLES = 5
PATTERNS = {
    "participant": "P + 20 hex, this release only",
    "sample": "S + 20 hex, this release only",
}
RECORD_KEY = "record key (opaque integer); no examples"
_NUMERIC = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
_FLOATS = (pl.Float32, pl.Float64)


def type_name(dtype: object) -> str:
    """A declared dtype as the dictionary writes it (``String``, ``List(Int32)``, ...)."""
    return str(dtype() if isinstance(dtype, type) else dtype)


def _is(dtype: object, kinds: tuple[Any, ...]) -> bool:
    base = dtype if isinstance(dtype, type) else type(dtype)
    return any(base is k for k in kinds)


def _is_record_key(name: str, dtype: object) -> bool:
    """Integer keys of source records (HES episode keys, tumour ids): they can be matched
    against the source, so they are never shown, not even as a range."""
    integer = _is(dtype, _NUMERIC)
    return integer and (name.endswith("key") or name.endswith("id"))


def _pseudonym_kind(spec: TableSpec, name: str) -> str | None:
    if name == spec.participant_column:
        return "participant"
    if name == "sample_id" or spec.columns.get(name, "").startswith("release pseudonym of the s"):
        return "sample"
    if spec.columns.get(name, "").startswith("release pseudonym"):
        return "participant"
    return None


def _unit(spec: TableSpec, lf: pl.LazyFrame) -> pl.Expr:
    """What a count counts: distinct participants, or rows in tables without them."""
    pid = spec.participant_column
    if pid and pid in lf.collect_schema():
        return pl.col(pid).drop_nulls().n_unique()
    return pl.len()


def _categories(lf: pl.LazyFrame, spec: TableSpec, name: str, k: int, max_categories: int) -> str:
    counts = (
        lf.select(pl.col(name).cast(pl.String), *_pid(spec, lf))
        .filter(pl.col(name).is_not_null())
        .group_by(name)
        .agg(_unit(spec, lf).alias("n"))
        .collect()
    )
    if counts.height == 0 or counts.height > max_categories:
        return NONE
    shown = counts.filter(pl.col("n") >= k).sort(["n", name], descending=[True, False])
    values = shown.get_column(name).head(MAX_EXAMPLES).to_list()
    return ", ".join(str(v) for v in values) if values else NONE


def _pid(spec: TableSpec, lf: pl.LazyFrame) -> list[pl.Expr]:
    pid = spec.participant_column
    return [pl.col(pid)] if pid and pid in lf.collect_schema() else []


def _step(spread: float, integer: bool) -> float:
    """A coarse rounding step for a range of this spread: a power of ten (or half of one)
    about the size of the spread itself."""
    if spread <= 0 or not math.isfinite(spread):
        return 1.0
    step = 10.0 ** math.floor(math.log10(spread))
    if spread / step < 3:
        step /= 2
    return max(step, 1.0) if integer else step


def _fmt(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    out = f"{value:.{decimals}f}"
    return "0" if out.strip("-0.") == "" else out


def coarse_range(low: float, high: float, integer: bool) -> str:
    """``low`` rounded down and ``high`` rounded up to a coarse step: "1940 to 2010"."""
    step = _step(high - low, integer)
    lo = math.floor(low / step) * step
    hi = math.ceil(high / step) * step
    if lo == hi:
        return f"about {_fmt(lo, step)}"
    return f"{_fmt(lo, step)} to {_fmt(hi, step)}"


def _quantiles(lf: pl.LazyFrame, spec: TableSpec, name: str, k: int) -> tuple[Any, Any] | None:
    """The 5th and 95th percentiles of a column, or None when fewer than ``k``
    participants (rows) hold a value."""
    col = pl.col(name)
    values = lf.select(col, *_pid(spec, lf)).filter(col.is_not_null())
    stats = values.select(
        _unit(spec, lf).alias("n"),
        col.to_physical().cast(pl.Float64).quantile(0.05, "linear").alias("p05"),
        col.to_physical().cast(pl.Float64).quantile(0.95, "linear").alias("p95"),
    ).collect()
    n, p05, p95 = stats.row(0)
    if n < k or p05 is None or p95 is None:
        return None
    return p05, p95


def _range(lf: pl.LazyFrame, spec: TableSpec, name: str, dtype: object, k: int) -> str:
    q = _quantiles(lf, spec, name, k)
    if q is None:
        return NONE
    p05, p95 = q
    if _is(dtype, (pl.Date,)):
        epoch = date(1970, 1, 1)
        y0 = (epoch + timedelta(days=math.floor(p05))).year
        y1 = (epoch + timedelta(days=math.ceil(p95))).year
        return f"{y0} to {y1}" if y0 != y1 else f"within {y0}"
    return coarse_range(float(p05), float(p95), integer=not _is(dtype, _FLOATS))


def _list_lengths(lf: pl.LazyFrame, name: str) -> str:
    lengths = (
        lf.select(pl.col(name).list.len().alias("n")).drop_nulls().unique().collect()
    ).get_column("n")
    if lengths.len() == 1:
        return f"lists of {lengths.item()} values"
    return NONE


def column_examples(
    lf: pl.LazyFrame,
    spec: TableSpec,
    name: str,
    dtype: object,
    k: int = K_MIN,
    max_categories: int = MAX_CATEGORIES,
) -> str:
    """Example values of one column that identify nobody (module docstring)."""
    kind = _pseudonym_kind(spec, name)
    if kind is not None:
        return PATTERNS[kind]
    if _is_record_key(name, dtype):
        return RECORD_KEY
    if name not in lf.collect_schema():
        return NONE
    if _is(dtype, (pl.String, pl.Categorical, pl.Enum, pl.Boolean)):
        return _categories(lf, spec, name, k, max_categories)
    if _is(dtype, (*_NUMERIC, *_FLOATS, pl.Date)):
        return _range(lf, spec, name, dtype, k)
    if _is(dtype, (pl.List,)):
        return _list_lengths(lf, name)
    return NONE


def build_dictionary(
    tables: Mapping[str, pl.DataFrame | pl.LazyFrame],
    specs: Sequence[TableSpec],
    k: int = K_MIN,
    max_categories: int = MAX_CATEGORIES,
) -> pl.DataFrame:
    """The dictionary (``DATA_DICTIONARY`` schema): one row per column of every table in
    ``specs``, in declaration order; ``tables`` maps a table name to its release data
    (a missing table gives examples "—")."""
    rows: list[dict[str, str]] = []
    for spec in specs:
        data = tables.get(spec.name)
        lf = spec.empty().lazy() if data is None else data.lazy()
        for name, dtype in spec.schema.items():
            rows.append(
                {
                    "table_name": spec.name,
                    "column_name": name,
                    "type": type_name(dtype),
                    "description": spec.columns[name],
                    "examples": column_examples(lf, spec, name, dtype, k, max_categories),
                }
            )
    return pl.DataFrame(rows, schema=dict(DATA_DICTIONARY.schema))


def _cell(text: str | None) -> str:
    return (text or NONE).replace("|", "\\|").replace("\n", " ")


def dictionary_markdown(
    df: pl.DataFrame,
    title: str = "Data dictionary",
    specs: Sequence[TableSpec] = (),
) -> str:
    """The dictionary as Markdown: a table of contents, then one section per table
    (with the table's description when its declaration is given)."""
    described = {s.name: s.description for s in specs}
    names = list(dict.fromkeys(df.get_column("table_name").to_list()))
    lines = [
        f"# {title}",
        "",
        "Every table and column of the release. Examples identify nobody: pseudonyms show "
        f"their pattern only; a category is shown only when at least {K_MIN} participants "
        "(rows, in tables without participants) hold it; numbers and dates show the 5th to "
        "95th percentile, rounded outwards.",
        "",
        *[f"- [`{n}`](#{n})" for n in names],
    ]
    for name in names:
        lines += ["", f"## {name}", ""]
        if described.get(name):
            lines += [described[name], ""]
        lines += ["| column | type | description | examples |", "|---|---|---|---|"]
        for row in df.filter(pl.col("table_name") == name).iter_rows(named=True):
            lines.append(
                f"| `{row['column_name']}` | {_cell(row['type'])} | "
                f"{_cell(row['description'])} | {_cell(row['examples'])} |"
            )
    return "\n".join(lines) + "\n"


def write_dictionary(lake: Lake, release_id: str, specs: Sequence[TableSpec]) -> int:
    """Build the release's dictionary from its tables (read lazily), write the Delta table
    ``releases/<id>/data_dictionary`` (overwrite) and ``releases/<id>/notes/
    data_dictionary.md``; return the number of rows (columns described)."""
    tables = {spec.name: lake.scan(spec.in_folder(release_id)) for spec in specs}
    df = build_dictionary(tables, specs)
    lake.overwrite(DATA_DICTIONARY.in_folder(release_id), df)
    text = dictionary_markdown(df, f"Data dictionary — release {release_id}", specs)
    objects.write_bytes(lake.uri("releases", release_id, "notes", "data_dictionary.md"),
                        text.encode())  # fmt: skip
    return df.height
