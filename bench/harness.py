"""Shared benchmark plumbing: run a command under ``/usr/bin/time -v`` (wall time, peak
RSS, CPU), describe the machine, read and write result files. Standard library only."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = Path(os.environ.get("NGRL_BENCH_OUT", BENCH / "out"))
RESULTS = OUT / "results"
PY = [sys.executable]  # the project's venv interpreter when started with `uv run`


@dataclass
class Timed:
    cmd: list[str]
    wall_s: float  # measured here, around the child process (perf_counter)
    max_rss_kb: int  # /usr/bin/time: peak RSS of the child (largest single process)
    tree_peak_rss_kb: int  # sampled sum over the process tree (workers at once)
    other_cpu_s: float  # CPU the rest of the machine used meanwhile (noise indicator)
    user_s: float
    sys_s: float
    exit_status: int
    stdout: str

    def json(self) -> dict:
        d = asdict(self)
        d["stdout"] = d["stdout"][-4000:]
        return d


MEM_LIMIT_GB = float(os.environ.get("NGRL_BENCH_MEM_LIMIT_GB", "12"))


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc/*/stat)."""
    parent: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        parent.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parent.get(pid, []))
    return out


def _busy_s() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemoryLimit(RuntimeError):
    def __init__(self, message: str, wall_s: float, peak_kb: int) -> None:
        super().__init__(message)
        self.wall_s, self.peak_kb = round(wall_s, 3), peak_kb


def timed(
    cmd: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    mem_limit_gb: float | None = None,
) -> Timed:
    """Run ``cmd`` under ``/usr/bin/time -v``; raise if it fails. A watchdog samples the
    summed RSS of the whole process tree every 0.2 s (``tree_peak_rss_kb``: what
    several worker processes hold at once) and kills the tree above MEM_LIMIT_GB, so a
    runaway benchmark cannot take the machine down (raises MemoryLimit)."""
    limit_gb = mem_limit_gb or MEM_LIMIT_GB
    stats = OUT / ".time.txt"
    stats.parent.mkdir(parents=True, exist_ok=True)
    stats.unlink(missing_ok=True)
    full = ["/usr/bin/time", "-v", "-o", str(stats), *cmd]
    log = OUT / ".child.out"
    busy0 = _busy_s()
    t0 = time.perf_counter()
    with log.open("w") as out, (OUT / ".child.err").open("w") as err:
        proc = subprocess.Popen(
            full, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=err, text=True
        )
        peak = 0
        killed = False
        while proc.poll() is None:
            total = sum(_rss_kb(pid) for pid in _tree(proc.pid))
            peak = max(peak, total)
            if total > limit_gb * 2**20:
                for pid in _tree(proc.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                killed = True
            time.sleep(0.2)
    wall = time.perf_counter() - t0
    busy = _busy_s() - busy0
    stdout = log.read_text()
    text = stats.read_text() if stats.exists() else ""
    if killed:
        raise MemoryLimit(
            f"killed above {limit_gb} GB (tree RSS) after {wall:.1f} s: {' '.join(cmd)}",
            wall,
            peak,
        )
    if proc.returncode != 0:
        sys.stderr.write((OUT / ".child.err").read_text()[-4000:])
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}")

    def field(name: str) -> str:
        m = re.search(rf"^\s*{re.escape(name)}: (.*)$", text, re.M)
        return m.group(1).strip() if m else "0"

    user_s, sys_s = float(field("User time (seconds)")), float(field("System time (seconds)"))
    return Timed(
        cmd=cmd,
        wall_s=round(wall, 3),
        max_rss_kb=int(field("Maximum resident set size (kbytes)")),
        tree_peak_rss_kb=peak,
        other_cpu_s=round(max(0.0, busy - user_s - sys_s), 1),
        user_s=user_s,
        sys_s=sys_s,
        exit_status=int(field("Exit status")),
        stdout=stdout,
    )


def last_json(stdout: str) -> dict:
    """The last line of a child's stdout that is a JSON object."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the child's output")


def folder_bytes(path: Path) -> dict[str, int]:
    """Bytes of every file under a folder: total, data files (*.parquet), Delta log."""
    total = data = log = files = 0
    for p in Path(path).rglob("*"):
        if p.is_file():
            size = p.stat().st_size
            total += size
            files += 1
            if p.suffix == ".parquet":
                data += size
            elif "_delta_log" in p.parts:
                log += size
    return {"total": total, "parquet": data, "delta_log": log, "files": files}


def delta_bytes(path: Path) -> dict[str, int]:
    """A Delta table's bytes: the whole folder on disk (``folder_bytes``: also files that
    earlier versions replaced, kept until VACUUM, and the log) and the parquet files the
    current version references (``current``: what a reader of the table reads)."""
    from deltalake import DeltaTable

    out = folder_bytes(path)
    files = DeltaTable(str(path)).file_uris()  # absolute local paths
    out["current"] = sum(Path(f).stat().st_size for f in files)
    out["current_files"] = len(files)
    return out


def _cmd(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "not found"


def machine() -> dict:
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    import importlib.metadata as md

    def version(pkg: str) -> str:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "-"

    os_name = "unknown"
    if Path("/etc/os-release").exists():
        m = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text())
        os_name = m.group(1) if m else os_name
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "bcftools": _cmd(["bcftools", "--version"]),
        "htslib": _cmd(["tabix", "--version"]),
        "packages": {
            p: version(p) for p in ("polars", "cyvcf2", "deltalake", "pyarrow", "pysam", "dagster")
        },
        "disk_free_gib": round(shutil.disk_usage(str(REPO)).free / 2**30, 1),
    }


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    result = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **result}
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    return path


def phase_timer(spent: dict[str, float]):
    """``timer(name, fn)`` wraps ``fn`` so every call adds its wall time to
    ``spent[name]``: for patching a module's functions to see where a run goes."""

    def timer(name: str, fn):
        def wrapped(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t

        return wrapped

    return timer
