"""P2 (genomics at scale): what withdrawing one participant costs in the joint-called tables
of libraries of N = 1,000 and 4,000 msprime genomes over the same 3 Mb (bench/region.py),
in sample batches of 1,000: does it follow the participant (their batch's tiles), or the
library?

Setup (untimed, cached under bench/out/p2g/lake_<N>/): bench/p9.py's intake and joint
calling children build each library (the same code paths as the assets). Timed, each on a
fresh copy of a library in a fresh process (``harness.timed``): the genomic part of a
withdrawal propagation, in its order: ``withdraw_store.withdraw_from_library`` (the
participant's samples subtracted from the site aggregates, sites only they carried
dropped) then ``erasure.erase_participants`` of ``joint_genotypes`` (their rows, merge-
delete + purge), by place (the participant's sample batch, as propagation erases) and,
for comparison, by id alone. Participant ids are made opaque before joint calling (as a
library's are), so file statistics cannot prune the erasure. The participant is one of the
first batch (the same one at every N).

Reported: wall of each step, files of ``joint_genotypes`` rewritten against the table's
files, bytes rewritten against the table's bytes, peak RSS. Anchor: the library itself
(the goal is that a withdrawal rewrites <= 1/B of ``joint_genotypes``, B batches, and costs
about the same at 4N as at N).

    uv run python bench/p2_genomics.py [--n 1000 4000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import harness

SAMPLE = "S00007"  # in the first batch at every N (samples are numbered 0..N-1)


def opaque(name: str) -> str:
    """The participant id a library gives a sample: opaque, so that a batch's ids span the
    whole id range and file statistics cannot prune an erasure (as in a real library)."""
    return "P" + hashlib.sha256(name.encode()).hexdigest()[:15]


PARTICIPANT = opaque(SAMPLE)


def make_opaque(lake_root: str) -> dict:
    """Replace the bench intake's ordered participant ids (the sample names) by opaque
    ones, before joint calling."""
    import polars as pl

    from ngrl_assets.genomics.tables import (
        RAW_SEQUENCES,
        SAMPLE_REFERENCE_BLOCKS,
        SAMPLE_VARIANT_CALLS,
    )
    from resources.lake import Lake

    lake = Lake(root_uri=lake_root)
    names = lake.read(RAW_SEQUENCES)["participant_id"].unique().to_list()
    ids = {name: opaque(name) for name in names}
    for spec in (RAW_SEQUENCES, SAMPLE_VARIANT_CALLS, SAMPLE_REFERENCE_BLOCKS):
        frame = lake.read(spec).with_columns(pl.col("participant_id").replace_strict(ids))
        lake.overwrite(spec, frame)
    return {"tables": 3}


def child(lake_root: str, mode: str) -> dict:
    import polars as pl

    from ngrl_assets.genomics import withdraw_store
    from ngrl_assets.genomics.tables import JOINT_GENOTYPES, RAW_SEQUENCES
    from ngrl_assets.withdrawal.erasure import erase_participants
    from resources.lake import Lake

    lake = Lake(root_uri=lake_root)
    table = lake.delta_table(JOINT_GENOTYPES)
    sizes = dict(zip(table.file_uris(), _sizes(table), strict=True))
    before = set(sizes)
    t0 = time.perf_counter()
    redaction = withdraw_store.withdraw_from_library(lake, [PARTICIPANT], "wd-bench-0001")
    t1 = time.perf_counter()
    places = (
        lake.scan(RAW_SEQUENCES)
        .filter(pl.col("participant_id") == PARTICIPANT)
        .select("participant_id", "delivery", "sample_batch")
        .collect()
    )
    if mode == "by_place":  # as withdrawal propagation erases
        erased = erase_participants(lake, JOINT_GENOTYPES, [PARTICIPANT], places=places)
    else:
        erased = erase_participants(lake, JOINT_GENOTYPES, [PARTICIPANT])
    t2 = time.perf_counter()
    after = set(lake.delta_table(JOINT_GENOTYPES).file_uris())
    gone = before - after
    rows = lake.scan(JOINT_GENOTYPES).select(pl.len()).collect().item()
    return {
        "withdraw_from_library_s": round(t1 - t0, 3),
        "erase_joint_genotypes_s": round(t2 - t1, 3),
        "sites_updated": redaction.sites_updated,
        "sites_dropped": redaction.sites_dropped,
        "rows_removed": erased.rows_removed,
        "files_before": len(before),
        "files_rewritten": len(gone),
        "bytes_before": sum(sizes.values()),
        "bytes_rewritten": sum(sizes[f] for f in gone),
        "rows_after": rows,
    }


def _sizes(table) -> list[int]:  # type: ignore[no-untyped-def]
    """Each file's size, in ``file_uris()`` order (from the table's add actions)."""
    actions = table.get_add_actions(flatten=True)
    paths = [str(p) for p in actions.column("path").to_pylist()]
    sizes = [int(s) for s in actions.column("size_bytes").to_pylist()]
    by_name = {p.rsplit("/", 1)[-1]: s for p, s in zip(paths, sizes, strict=True)}
    return [by_name[uri.rsplit("/", 1)[-1]] for uri in table.file_uris()]


def build(n: int, work: Path, folder: Path, rows: list[dict], workers: int) -> Path:
    import p9

    lake = work / f"lake_{n}"
    if (lake / "curated" / "variant_sites").exists():
        return lake
    shutil.rmtree(lake, ignore_errors=True)
    listing = p9._samples_file(work / f"samples_{n}.tsv", folder, rows[:n])
    me = [*harness.PY, str(Path(p9.__file__))]
    for cmd in (
        [*me, "--intake", str(lake), str(listing), p9.DELIVERY.format(1), str(workers)],
        [*harness.PY, __file__, "--opaque", str(lake)],
        [*me, "--joint", str(lake)],
    ):
        t = harness.timed(cmd)
        if t.exit_status != 0:
            raise SystemExit(f"building lake_{n} failed: {t.stdout[-2000:]}")
    return lake


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[1_000, 4_000])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--child", nargs=2, metavar=("LAKE", "MODE"))
    p.add_argument("--opaque", metavar="LAKE")
    args = p.parse_args(argv)
    if args.opaque:
        print(json.dumps(make_opaque(args.opaque)))
        return 0
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    import region

    folder, rows = region.ensure_cohort(max(args.n))
    work = harness.OUT / "p2g"
    work.mkdir(parents=True, exist_ok=True)
    result: dict = {"participant_batch": 1, "rows": []}
    for n in args.n:
        lake = build(n, work, folder, rows, args.workers)
        for mode in ("by_place", "by_id"):
            run = work / f"run_{n}"
            shutil.rmtree(run, ignore_errors=True)
            shutil.copytree(lake, run)
            t = harness.timed([*harness.PY, __file__, "--child", str(run), mode])
            row = {"n": n, "erase": mode, "wall_s": t.wall_s, "max_rss_kb": t.max_rss_kb}
            row |= {"cpu_s": round(t.user_s + t.sys_s, 2), **harness.last_json(t.stdout)}
            row["files_share"] = round(row["files_rewritten"] / row["files_before"], 3)
            row["bytes_share"] = round(row["bytes_rewritten"] / row["bytes_before"], 3)
            print(json.dumps(row), flush=True)
            result["rows"].append(row)
            shutil.rmtree(run, ignore_errors=True)
    placed = [r for r in result["rows"] if r["erase"] == "by_place"]
    if len(placed) == 2:
        a, b = placed
        for key in ("withdraw_from_library_s", "erase_joint_genotypes_s", "max_rss_kb"):
            result[f"ratio_4n_over_n_{key}"] = round(b[key] / max(a[key], 1e-9), 2)
    result["machine"] = harness.machine()
    harness.save("p2_genomics", result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
