"""Sample batches: the sample axis of the joint-called tiles. Pure.

A sample batch is a fixed set of at most ``size`` QC-passed samples (1,000 by default, as
GEL aggV2 and DRAGEN's iterative gVCF genotyper batch them). Intake numbers them from 1:
a delivery fills the open batch (the highest number) before it starts a new one, and a
sample keeps its batch for good (a re-run of its delivery gives it the same one). The
joint-called genotypes are stored as tiles of (genome chunk, sample batch), so a task
holds one batch x one chunk group in memory whatever the library's size, and erasing a
participant rewrites only their batch's tiles. The size is a setting of the library
(``NGRL_SAMPLE_BATCH_SIZE``); changing it affects batches opened afterwards only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_SIZE = 1_000
MAX_SIZE = 10_000
ENV = "NGRL_SAMPLE_BATCH_SIZE"
# the batch number that per-batch site aggregates give samples stored without a batch
# (per-sample tables written before batches existed, or by hand): intake numbers from 1
NO_BATCH = 0


@dataclass(frozen=True)
class SampleBatching:
    """How intake groups QC-passed samples into batches."""

    size: int = DEFAULT_SIZE

    def __post_init__(self) -> None:
        if not 1 <= self.size <= MAX_SIZE:
            raise ValueError(f"{ENV} must be between 1 and {MAX_SIZE}, not {self.size}")

    @classmethod
    def from_env(cls) -> SampleBatching:
        raw = os.environ.get(ENV, "").strip()
        if not raw:
            return cls()
        if not raw.isdigit():
            raise ValueError(f"{ENV} must be a whole number, not {raw!r}")
        return cls(int(raw))

    def assign(self, taken: Sequence[int], count: int) -> list[int]:
        """Batches for ``count`` new samples, given the batches of the QC-passed samples
        already stored (``taken``, one entry per sample): the open batch is filled first."""
        batch = max(taken, default=1)
        used = sum(1 for b in taken if b == batch)
        out: list[int] = []
        for _ in range(count):
            if used >= self.size:
                batch, used = batch + 1, 0
            out.append(batch)
            used += 1
        return out
