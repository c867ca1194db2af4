"""Diagnostic, not a benchmark (no anchor): where P7's HES APC intake time goes.

On P7's extract and base lake (bench/out/p7/), times the pieces of
``intake.ingest_extract`` one by one, each the best of ``--repeat`` runs, in this process:

- ``lines.scan_lines`` as it is, and the same per-line pipe count done with
  ``np.add.reduceat`` instead of an int64 ``cumsum`` over every byte (a what-if);
- the lazy query (``intake._lazy``) built up stage by stage, streamed as intake runs it:
  the CSV scan of the needed columns, + the NHS-number rule, + the syntax verdict, + the
  linkage join, + the link verdict and curated columns (the whole query);
- each group of expressions on its own over the same columns already in memory (no CSV
  parsing), so their costs can be compared: syntax checks by rule, link checks, and the
  curated columns by field kind;
- ``date_value`` of one date column as intake writes it (three regex guards, three
  ``strptime``, the sentinel test) vs one ``strptime`` per form with ``strict=False``
  (a what-if), and how many times the whole query parses a date column.

    uv run python bench/profile_p7.py [--rows 1000000] [--participants 2000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

import harness
from ngrl_assets.clinical import dates, intake, lines, validate
from ngrl_assets.clinical.sources import SOURCES
from ngrl_assets.consent.linkage import nhs_number_linkage
from resources.lake import LakeResource

SOURCE = SOURCES["hes_apc"]
DELIVERED = dt.date(2026, 8, 31)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def pipe_counts_reduceat(path: Path) -> int:
    """What-if: scan_lines' per-line separator count with reduceat (no int64 cumsum)."""
    bad = 0
    expected = None
    for _, block in lines._blocks(path, lines.BLOCK_BYTES):
        arr = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(arr == lines.NEWLINE)
        starts = np.concatenate(([0], ends[:-1] + 1))
        per_line = np.add.reduceat((arr == lines.PIPE).view(np.uint8), starts, dtype=np.int32)
        if expected is None:
            expected = int(per_line[0])
        bad += int(np.count_nonzero(per_line != expected))
        block.decode("utf-8")
    return bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--participants", type=int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--defect-rate", type=float, default=0.02)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args(argv)
    base = harness.OUT / "p7" / f"base_{args.participants}_{args.seed}_{args.defect_rate}"
    path = harness.OUT / "p7" / "extracts" / f"{base.name}_{args.rows}" / "hes_apc_20260831.txt"
    if not path.exists():
        sys.exit(f"{path} missing: run bench/p7.py with the same arguments first")
    lake = LakeResource(root_uri=str(base / "lake"))
    linkage = nhs_number_linkage(lake)
    r = args.repeat
    out: list[tuple[str, float]] = []

    def row(name: str, seconds: float) -> None:
        out.append((name, seconds))
        print(f"{name:70s} {seconds:7.2f} s  {args.rows / seconds:>10,.0f} rows/s", flush=True)

    row("pl.read_csv, all 195 columns as strings (the floor's read)", best(
        lambda: pl.read_csv(path, separator="|", quote_char=None, infer_schema=False), r
    ))
    scan = lines.scan_lines(path)
    row("lines.scan_lines", best(lambda: lines.scan_lines(path), r))
    row("  what-if: pipe count per line with np.add.reduceat", best(
        lambda: pipe_counts_reduceat(path), r
    ))

    # the lazy query, stage by stage, streamed as intake runs it
    full = intake._lazy(SOURCE, path, scan, DELIVERED, linkage)
    wanted = ["NEWNHSNO", "DOB", *(["MYDOB"] if "MYDOB" in scan.header else [])]
    wanted += [f.name for f in SOURCE.fields]
    stage = pl.scan_csv(
        path,
        separator="|",
        quote_char=None,
        infer_schema=False,
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
        row_index_name="_line",
        row_index_offset=2,
    ).select("_line", *wanted)

    def stream(lf: pl.LazyFrame) -> Callable[[], int]:
        return lambda: sum(b.height for b in lf.collect_batches(chunk_size=intake.BATCH_ROWS))

    row("query: scan_csv of the 78 needed columns", best(stream(stage), r))
    stage = validate.with_nhs_rule(stage)
    row("query: + NHS-number rule", best(stream(stage), r))
    syntax = validate.syntax_checks(SOURCE, DELIVERED)
    stage = stage.with_columns(
        validate.verdict(syntax).alias("_verdict"),
        pl.col("NEWNHSNO").str.strip_chars().alias("_nhs_number"),
    )
    row(f"query: + syntax verdict ({len(syntax)} checks)", best(stream(stage), r))
    stage = stage.join(linkage.lazy(), on="_nhs_number", how="left", maintain_order="left")
    row("query: + linkage join", best(stream(stage), r))
    row("query: + link verdict + curated columns (= intake._lazy)", best(stream(full), r))

    # expression groups on in-memory columns (no CSV parsing)
    frame = (
        validate.with_nhs_rule(
            pl.read_csv(
                path, separator="|", quote_char=None, infer_schema=False, columns=wanted
            ).lazy()
        )
        .with_columns(pl.col("NEWNHSNO").str.strip_chars().alias("_nhs_number"))
        .join(linkage.lazy(), on="_nhs_number", how="left", maintain_order="left")
        .collect()
    )

    def on_frame(exprs: list[pl.Expr]) -> Callable[[], object]:
        return lambda: frame.lazy().select(exprs).collect()

    row("in memory: NHS-number rule", best(
        lambda: validate.with_nhs_rule(frame.lazy().select("NEWNHSNO")).collect(), r
    ))
    by_rule: dict[str, list] = collections.defaultdict(list)
    for check in syntax:
        by_rule[check[1]].append(check)
    for rule, checks in by_rule.items():
        row(f"in memory: syntax {rule} ({len(checks)})", best(
            on_frame([validate.verdict(checks).alias("v")]), r
        ))
    row("in memory: syntax verdict, all checks", best(
        on_frame([validate.verdict(syntax).alias("v")]), r
    ))
    row("in memory: link verdict", best(
        on_frame([validate.verdict(validate.link_checks(SOURCE)).alias("v")]), r
    ))
    by_kind: dict[str, list[pl.Expr]] = collections.defaultdict(list)
    for f in SOURCE.fields:
        by_kind[f.kind].append(validate.typed(f))
    for kind, exprs in by_kind.items():
        row(f"in memory: curated {kind} fields ({len(exprs)})", best(on_frame(exprs), r))
    row("in memory: curated diagnosis flags", best(on_frame([validate.flags(SOURCE)]), r))
    row("in memory: curated age", best(
        on_frame([
            validate.age_years(
                dates.date_value(SOURCE.event_date), pl.col("_registered_dob")
            ).alias("a")
        ]),
        r,
    ))
    row("in memory: all curated columns", best(
        on_frame(validate.curated_columns(SOURCE)), r
    ))
    row("in memory: date_value(EPISTART) as intake parses a date", best(
        on_frame([dates.date_value("EPISTART")]), r
    ))
    raw = pl.col("EPISTART").str.strip_chars()
    one = pl.coalesce(
        *(raw.str.strptime(pl.Date, fmt, strict=False) for _, fmt in dates._FORMATS)
    )
    row("  what-if: three strptime(strict=False), no regex guards", best(on_frame([one]), r))
    row("  what-if: one strptime (the form this source uses)", best(
        on_frame([raw.str.strptime(pl.Date, "%Y-%m-%d", strict=False)]), r
    ))
    plan = full.explain(optimized=True)
    print(f"\nstrptime calls in the optimised plan of intake._lazy: {plan.count('strptime')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
