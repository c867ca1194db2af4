"""Where each withdrawal batch stands, for ``ngrl withdrawal list`` and the UI (the
``withdrawals_on_time`` check): ``complete``; ``running`` (a run with a live process
propagates it); ``pending`` (just opened, the sensor has not requested its first run yet);
or ``overdue``: incomplete and past its deadline, or without a live run (its run died, or
failed and no retry runs yet, or every attempt is spent, or no run was ever requested).
An overdue batch is the platform failing its promise to erase; the reason says why. Pure:
the caller counts the batch's runs (no Dagster here)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ngrl_assets.withdrawal.batches import BatchStatus

# a withdrawal completes within a day of its batch opening (measured: seconds to minutes)
DEADLINE = dt.timedelta(hours=24)
# the sensor is evaluated every 30 s and right after consent intake in `ngrl materialize`
FIRST_RUN_GRACE = dt.timedelta(minutes=10)
# failed runs (a failure, or a process that died) before the batch waits for an operator
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Runs:
    """A batch's propagation runs by outcome (a run whose process died is ``dead`` until
    the sensor marks it failed)."""

    live: int = 0
    dead: int = 0
    failed: int = 0
    succeeded: int = 0


@dataclass(frozen=True)
class Progress:
    state: str  # complete, running, pending, overdue
    reason: str = ""


def progress(
    status: str, opened_at: dt.datetime | None, runs: Runs | None, now: dt.datetime
) -> Progress:
    """The batch's state (see the module docstring); ``runs`` None: runs unknown (no
    Dagster instance), judged by the deadline alone."""
    if status == BatchStatus.COMPLETE:
        return Progress("complete")
    age = now - opened_at if opened_at is not None else dt.timedelta(0)
    if age > DEADLINE:
        return Progress("overdue", f"open for more than {_hours(DEADLINE)}")
    if runs is None:
        return Progress("pending", "runs unknown (no Dagster instance)")
    if runs.live:
        return Progress("running")
    if runs.dead:
        return Progress("overdue", "its run's process is gone; the sensor resumes it")
    if runs.failed >= MAX_ATTEMPTS:
        return Progress("overdue", f"{runs.failed} runs failed; an operator must look")
    if runs.failed:
        return Progress("overdue", "its last run failed; the sensor retries it")
    if runs.succeeded:
        return Progress("overdue", "its run succeeded but did not complete it")
    if age > FIRST_RUN_GRACE:
        return Progress("overdue", "no run requested yet")
    return Progress("pending")


def _hours(delta: dt.timedelta) -> str:
    return f"{int(delta.total_seconds() // 3600)} h"
