"""Where joint calling's memory goes, phase by phase: ``joint_store.joint_call_chunks`` on a
copy of a lake that bench/p9.py's intake built (``p9.py --intake LAKE SAMPLES DELIVERY 2``),
in this process, with RSS sampled every 20 ms and read around each call of the phases
(the batch's rows read, the engine on a batch, the genotype commits, the aggregate sums,
the final writes). Prints one line per call: seconds since start, phase, RSS before,
RSS after, peak since the call began (MiB).

    uv run python bench/p9_phases.py LAKE
"""

from __future__ import annotations

import functools
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any


def rss_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return 0


def main(argv: list[str]) -> int:
    from ngrl_assets.genomics import chunks, increment, joint_store, site_qc
    from resources.lake import Lake

    peak = [0]

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_mib())
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    calls: list[tuple[float, str, int, int, int]] = []

    def wrap(owner: Any, name: str) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            peak[0] = before = rss_mib()
            out = fn(*args, **kwargs)
            calls.append((time.perf_counter() - t0, name, before, rss_mib(), peak[0]))
            return out

        setattr(owner, name, timed)

    for owner, name in [
        (joint_store, "_carried"),
        (joint_store, "_load"),
        (increment, "genotype_sparse"),
        (joint_store, "_write_tiles"),
        (site_qc, "total"),
        (joint_store._Outputs, "write"),
    ]:
        wrap(owner, name)
    source = Path(argv[0])
    copy = source.with_name(source.name + "_phases")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(source, copy)
    summary = joint_store.joint_call_chunks(Lake(root_uri=str(copy)), chunks.chunk_names())
    for at, name, before, after, top in calls:
        print(f"{at:7.1f} s  {name:18s} {before:6d} -> {after:6d} MiB (peak {top})")
    print(f"sites {summary.sites_total}, genotype rows {summary.genotype_rows_added}")
    shutil.rmtree(copy, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
