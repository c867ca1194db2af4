"""Diagnostic, not a benchmark (no anchor): where P7's HES APC intake time goes.

On P7's extract and base lake (bench/out/p7/, made by bench/p7.py with the same
arguments), times the pieces of ``intake.ingest_extract`` one by one, in this process,
each the best of ``--repeat`` runs, so they can be compared without the overlap (and the
competition for 2 cores) of the real streamed run:

- ``pl.read_csv`` of the whole file (the floor's read) and ``lines.scan_lines``;
- the lazy query (``rows.lazy_rows``) built up stage by stage as intake builds it, each
  streamed as intake streams it (``collect_batches``): the CSV scan of the needed
  columns, + ``validate.prepare`` (trim, parse once), + the syntax verdict, + the
  linkage join, + the link verdict and curated columns (= ``rows.lazy_rows``);
- expression groups on the prepared, joined columns already in memory (no CSV parsing):
  syntax checks by rule, link checks, curated columns by field kind;
- after the query: ``Splitter.split`` over the query's output in intake's batches, the
  Arrow conversion + cast intake does before writing, and the Delta write of the
  curated rows alone (``write_deltalake`` of the in-memory Arrow table);
- how many string operations the optimised plan of ``rows.lazy_rows`` holds.

    uv run python bench/profile_p7.py [--rows 1000000] [--participants 2000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import harness
import polars as pl
import pyarrow as pa
from deltalake import write_deltalake

from ngrl_assets.clinical import intake, lines, rows, validate
from ngrl_assets.clinical.sources import SOURCES
from ngrl_assets.clinical.tables import EXTRACTS
from ngrl_assets.consent.linkage import nhs_number_linkage
from resources.lake import Lake

SOURCE = SOURCES["hes_apc"]
DELIVERED = dt.date(2026, 8, 31)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--participants", type=int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--defect-rate", type=float, default=0.02)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--work", type=Path, default=harness.OUT / "p7")
    args = p.parse_args(argv)
    base = args.work / f"base_{args.participants}_{args.seed}_{args.defect_rate}"
    path = args.work / "extracts" / f"{base.name}_{args.rows}" / "hes_apc_20260831.txt"
    if not path.exists():
        sys.exit(f"{path} missing: run bench/p7.py with the same arguments first")
    linkage = nhs_number_linkage(Lake(root_uri=str(base / "lake")))
    r = args.repeat

    def row(name: str, seconds: float) -> None:
        print(f"{name:66s} {seconds:7.2f} s  {args.rows / seconds:>11,.0f} rows/s", flush=True)

    row(
        "pl.read_csv, all 195 columns as strings (the floor's read)",
        best(lambda: pl.read_csv(path, separator="|", quote_char=None, infer_schema=False), r),
    )
    scan = lines.scan_lines(path)
    row(f"lines.scan_lines (padded: {scan.padded})", best(lambda: lines.scan_lines(path), r))

    def stream(lf: pl.LazyFrame) -> Callable[[], int]:
        return lambda: sum(b.height for b in lf.collect_batches(chunk_size=intake.BATCH_ROWS))

    columns = validate.text_columns(SOURCE, scan.header)
    stage = rows.scan_extract(path, columns)
    row(f"query: scan_csv of the {len(columns)} needed columns", best(stream(stage), r))
    stage = validate.prepare(stage, SOURCE, columns, padded=scan.padded)
    row(
        "query: + prepare (trim if padded; parse dates, numbers, key, NHS no.)",
        best(stream(stage), r),
    )
    syntax = validate.syntax_checks(SOURCE, DELIVERED, columns)
    stage = stage.with_columns(
        validate.syntax_verdict(SOURCE, DELIVERED, columns).alias("_verdict"),
        pl.col("NEWNHSNO").alias("_nhs_number"),
    )
    row(f"query: + syntax verdict (field sizes + {len(syntax)} checks)", best(stream(stage), r))
    stage = stage.join(linkage.lazy(), on="_nhs_number", how="left", maintain_order="left")
    row("query: + linkage join", best(stream(stage), r))
    full = rows.lazy_rows(SOURCE, path, scan, DELIVERED, linkage)
    row("query: + link verdict + curated columns (= rows.lazy_rows)", best(stream(full), r))

    def expression_groups(frame: pl.DataFrame) -> None:
        """Expression groups on the prepared, joined columns held in memory."""

        def on_frame(exprs: list[pl.Expr]) -> Callable[[], object]:
            return lambda: frame.lazy().select(exprs).collect()

        by_rule: dict[str, list] = collections.defaultdict(list)
        for check in syntax:
            by_rule[check[1]].append(check)
        for rule, checks in by_rule.items():
            row(
                f"in memory: syntax {rule} ({len(checks)})",
                best(on_frame([validate.verdict(checks).alias("v")]), r),
            )
        row(
            f"in memory: field sizes ({len(columns)} fields)",
            best(on_frame([validate.too_long_verdict(SOURCE, columns).alias("v")]), r),
        )
        row(
            "in memory: syntax verdict, all checks",
            best(on_frame([validate.syntax_verdict(SOURCE, DELIVERED, columns).alias("v")]), r),
        )
        row(
            "in memory: link verdict",
            best(on_frame([validate.verdict(validate.link_checks(SOURCE)).alias("v")]), r),
        )
        by_kind: dict[str, list[pl.Expr]] = collections.defaultdict(list)
        for f in SOURCE.fields:
            by_kind[f.kind].append(validate.typed(f))
        for kind, exprs in by_kind.items():
            row(f"in memory: curated {kind} fields ({len(exprs)})", best(on_frame(exprs), r))
        row("in memory: curated diagnosis flags", best(on_frame([validate.flags(SOURCE)]), r))
        row("in memory: all curated columns", best(on_frame(validate.curated_columns(SOURCE)), r))

    expression_groups(stage.collect(engine="streaming"))

    out = full.collect(engine="streaming")
    batches = [out.slice(i, intake.BATCH_ROWS) for i in range(0, out.height, intake.BATCH_ROWS)]
    del out

    def split() -> list[pl.DataFrame]:
        splitter = rows.Splitter(
            SOURCE, "hes_apc_20260831.txt", "clinical/hes_apc/hes_apc_20260831.txt"
        )
        return [splitter.split(b) for b in batches]

    row(f"Splitter.split over {len(batches)} batches", best(split, r))
    accepted = split()
    schema = dict(EXTRACTS[SOURCE.name].schema)

    def to_arrow() -> pa.Table:
        return pa.Table.from_batches(
            [
                rb
                for b in accepted
                for rb in b.select(list(schema)).cast(pl.Schema(schema)).to_arrow().to_batches()
            ],
            schema=EXTRACTS[SOURCE.name].empty().to_arrow().schema,
        )

    row("to_arrow + cast of the curated rows (as delta.write_batches)", best(to_arrow, r))
    table = to_arrow()
    tmp = Path(tempfile.mkdtemp(prefix="p7-delta-", dir=args.work))

    def write() -> None:
        shutil.rmtree(tmp, ignore_errors=True)
        write_deltalake(str(tmp), table, mode="append")

    row(f"write_deltalake of the {table.num_rows:,} curated rows alone", best(write, r))
    shutil.rmtree(tmp, ignore_errors=True)

    plan = full.explain(optimized=True)
    counts = ", ".join(
        f"{op} {plan.count(op)}" for op in ("strptime", "strip_chars", "str.contains", "replace")
    )
    print(f"\nstring operations in the optimised plan of rows.lazy_rows: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
