"""P-stream: peak memory of sequencing intake does not grow with the delivery's size.

For each delivery size in ``--samples`` (default 25 and 100), a synthetic landing zone
with one delivery of that many samples is generated (``bench/gen.py`` windows, ``--width``
bp each; at the default 7,600 every gVCF holds >= 25k records), then, each in a fresh process,
one after the other:

- ours:   ``ingest_delivery`` of that delivery into an empty lake (streamed: one sample
  read, its calls and blocks appended, dropped, then the next);
- anchor: what the previous intake held before its single write: every sample of the
  delivery read (``read_gvcf`` + ``chunks.assign``) and kept, then concatenated and
  sorted (no write). It shows how memory grows when a delivery is held whole.

Each child reports the wall time around the work (imports excluded) and its peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``); ``harness.timed`` adds /usr/bin/time's
view and the watchdog. The figure that matters is the growth from the smallest to the
largest delivery: ours should stay flat (per-sample), the anchor grows with samples.

Linkage is pinned from the landing's registrations (as the sequencing tests do): the
consent domain's intake is not what is measured, and each run needs only the mapping
reference -> opaque id.

    .venv/bin/python bench/p_stream.py [--samples 25 100] [--width 7600] [--seed 21]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import sys
import time
from pathlib import Path

import harness


def _pin_linkage(landing: Path) -> None:
    import hashlib

    import polars as pl

    from ngrl_assets.consent.linkage import Linked
    from ngrl_assets.sequencing import intake

    registered: set[str] = set()
    for path in sorted((landing / "consent" / "registrations").glob("*.csv")):
        registered |= set(pl.read_csv(path, infer_schema=False)["participant_reference"])
    full: set[str] = set()
    for path in sorted((landing / "consent" / "withdrawals").glob("*.csv")):
        rows = pl.read_csv(path, infer_schema=False)
        full |= set(rows.filter(pl.col("withdrawal_type") == "full")["participant_reference"])

    def link(_lake: object, references: list[str]) -> dict[str, Linked]:
        def pid(r: str) -> str:
            return "pid-" + hashlib.sha256(r.encode()).hexdigest()[:12]

        return {
            r: Linked(pid(r), "full" if r in full else "none")
            for r in set(references)
            if r in registered
        }

    intake.link_references = link  # type: ignore[assignment]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, root: Path, delivery: str) -> dict:
    from resources.lake import Lake

    base_mb = _peak_mb()
    landing = root / "landing"
    if mode == "ours":
        from ngrl_assets.sequencing.intake import ingest_delivery

        _pin_linkage(landing)
        lake = Lake(root_uri=str(root))
        t0 = time.perf_counter()
        res = ingest_delivery(lake, delivery, "bench-stream")
        seconds = time.perf_counter() - t0
        out = {
            "samples": res.rows_in,
            "accepted": res.accepted,
            "call_rows": res.variant_rows,
            "block_rows": res.block_rows,
        }
    else:
        import polars as pl

        from ngrl_assets.genomics import chunks
        from ngrl_assets.genomics.gvcf import read_gvcf

        manifest = pl.read_csv(
            landing / "sequencing" / delivery / "manifest.tsv", separator="\t", infer_schema=False
        )
        t0 = time.perf_counter()
        calls, blocks = [], []
        for i, (sample, path) in enumerate(manifest.select("sample_id", "gvcf_path").iter_rows()):
            parsed = read_gvcf(landing / "sequencing" / delivery / path, expected_sample=sample)
            owner = [pl.lit(f"p{i}").alias("participant_id"), pl.lit(delivery).alias("delivery")]
            calls.append(chunks.assign(parsed.calls.with_columns(owner), "pos", "end", clip=False))
            blocks.append(
                chunks.assign(parsed.blocks.with_columns(owner), "start", "end", clip=True)
            )
        all_calls = pl.concat(calls).sort(["chunk", "participant_id", "pos"])
        all_blocks = pl.concat(blocks).sort(["chunk", "participant_id", "start"])
        seconds = time.perf_counter() - t0
        out = {
            "samples": manifest.height,
            "call_rows": all_calls.height,
            "block_rows": all_blocks.height,
        }
    return {
        "mode": mode,
        **out,
        "seconds": round(seconds, 3),
        "baseline_peak_rss_mb": round(base_mb, 1),
        "peak_rss_mb": round(_peak_mb(), 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--samples", type=int, nargs="+", default=[25, 100])
    p.add_argument("--width", type=int, default=7_600)  # gen.WIDTH: >= 25k records each
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--child", choices=["ours", "anchor"])
    p.add_argument("--root", type=Path)
    p.add_argument("--delivery")
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.root, args.delivery)))
        return 0

    import gen

    work = harness.OUT / "p_stream"
    shutil.rmtree(work, ignore_errors=True)
    runs: list[dict] = []
    for n in sorted(args.samples):
        root = work / f"n{n}"
        t0 = time.perf_counter()
        # ~95% of participants are sequenced: one delivery of n samples (+ a remainder)
        gen.cohort(root / "landing", math.ceil(n / 0.95) + 2, args.seed, n, args.width)
        t_gen = time.perf_counter() - t0
        sizes = {
            d.name: sum(1 for _ in (d / "gvcf").glob("*.g.vcf.gz"))
            for d in (root / "landing" / "sequencing").iterdir()
        }
        delivery = max(sizes, key=lambda d: sizes[d])
        gvcf_mb = (
            sum(
                f.stat().st_size for f in (root / "landing" / "sequencing" / delivery).rglob("*.gz")
            )
            / 2**20
        )
        for mode in ("ours", "anchor"):
            shutil.rmtree(root / "curated", ignore_errors=True)
            shutil.rmtree(root / "quarantine", ignore_errors=True)
            shutil.rmtree(root / "audit", ignore_errors=True)
            cmd = [*harness.PY, __file__, "--child", mode, "--root", str(root)]
            t = harness.timed([*cmd, "--delivery", delivery])
            row = {
                "n": n,
                "delivery_gvcf_mb": round(gvcf_mb, 1),
                "gen_s": round(t_gen, 1),
                **harness.last_json(t.stdout),
                **t.json(),
            }
            runs.append(row)
            print(json.dumps(row), flush=True)
    lo, hi = min(args.samples), max(args.samples)

    def peak(mode: str, n: int) -> float:
        return next(r["peak_rss_mb"] for r in runs if r["mode"] == mode and r["n"] == n)

    harness.save(
        "p_stream",
        {
            "samples": sorted(args.samples),
            "width": args.width,
            "anchor": "every sample of the delivery read and held, concatenated and sorted",
            "ours_peak_growth_mb": round(peak("ours", hi) - peak("ours", lo), 1),
            "anchor_peak_growth_mb": round(peak("anchor", hi) - peak("anchor", lo), 1),
            "ours_peak_ratio_hi_lo": round(peak("ours", hi) / peak("ours", lo), 3),
            "anchor_peak_ratio_hi_lo": round(peak("anchor", hi) / peak("anchor", lo), 3),
            "machine": harness.machine(),
            "runs": runs,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
