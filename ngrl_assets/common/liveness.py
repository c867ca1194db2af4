"""Is the process that runs something (a Dagster run, the withdrawal lease) still alive? A
worker is named by its host, its pid and when that process started (the boot and the start
time in clock ticks since boot, from ``/proc``), so a pid reused after a crash or a reboot
is never taken for the dead worker. The name goes into run tags and the withdrawal lease;
it says nothing about any participant. On the worker's own host the answer is certain (the
process is there, not a zombie, and started when the name says, or it is not); from
another host it cannot be told (``None``) and the caller decides (no Dagster here)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class Worker:
    host: str
    pid: int
    started: str  # "<boot id prefix>-<start ticks>"; "" where /proc cannot tell

    def __str__(self) -> str:
        return f"{self.host}/{self.pid}/{self.started}"

    @classmethod
    def parse(cls, text: str | None) -> Worker | None:
        """The worker a tag or lease names; None for anything else."""
        parts = (text or "").rsplit("/", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2])


def _boot() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start ticks) of a process, or None when there is no such process."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return ("?", "")
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces and parens
    return fields[0], fields[19]  # state (field 3), starttime (field 22)


def _started(pid: int) -> str:
    stat = _stat(pid) if _PROC.is_dir() else None
    return f"{_boot()}-{stat[1]}" if stat and stat[1] else ""


def current() -> Worker:
    """This process."""
    pid = os.getpid()
    return Worker(socket.gethostname(), pid, _started(pid))


def alive(worker: Worker) -> bool | None:
    """True when the worker's process still runs, False when it is gone (exited, killed, a
    zombie, or its pid now belongs to a later process), None when it ran on another host."""
    if worker.host != socket.gethostname():
        return None
    if not _PROC.is_dir():  # no /proc: only whether some process has the pid
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    stat = _stat(worker.pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return not worker.started or _started(worker.pid) == worker.started
