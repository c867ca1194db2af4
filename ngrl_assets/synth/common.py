"""Shared helpers of the synthetic cohort generator: seeded random streams, dates,
identifier allocation, delimited writers and the ground-truth recorder.

Determinism rules: every random stream comes from ``rng_for(seed, *keys)`` (a SHA-256 of
the seed and stable keys), never from global random state or wall-clock time, and sets
are only used for membership tests, never iterated.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ngrl_assets.consent import nhs_number

NULL_DATE = "1800-01-01"  # HES sentinel: no date (null) submitted
INVALID_DATE = "1801-01-01"  # HES sentinel: an invalid date was submitted

# the seed of a wave's random streams: the plain seed for wave 1 (whose bytes never
# change), ``(seed, wave)`` for a later wave
Seed = int | tuple[int, int]


def rng_for(seed: Seed, *keys: object) -> random.Random:
    """An independent, reproducible random stream for ``seed`` and ``keys``."""
    digest = hashlib.sha256(repr((seed, *keys)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def iso(d: dt.date) -> str:
    return d.isoformat()


def ymd(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def dmy(d: dt.date) -> str:
    return d.strftime("%d/%m/%Y")


def rand_date(rng: random.Random, lo: dt.date, hi: dt.date) -> dt.date:
    """Uniform date in [lo, hi]; hi before lo returns lo."""
    span = (hi - lo).days
    return lo if span <= 0 else lo + dt.timedelta(days=rng.randint(0, span))


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=int(n))


def years_before(d: dt.date, years: float) -> dt.date:
    return d - dt.timedelta(days=round(years * 365.2425))


def financial_year(d: dt.date) -> str:
    """HES FYEAR: the financial year (April-March) as four digits, 2023-24 -> ``2324``."""
    start = d.year if d.month >= 4 else d.year - 1
    return f"{start % 100:02d}{(start + 1) % 100:02d}"


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's Poisson sampler (small means only)."""
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class Ids:
    """Allocator of unique identifiers across the whole landing zone."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def _fresh(self, make: Callable[[], str]) -> str:
        while True:
            value = make()
            if value not in self._used:
                self._used.add(value)
                return value

    def reserve(self, value: str) -> None:
        self._used.add(value)

    def nhs(self, rng: random.Random) -> str:
        return self._fresh(lambda: nhs_number.generate(rng))

    def participant(self, rng: random.Random) -> str:
        return self._fresh(lambda: f"P{rng.randrange(10**9):09d}")

    def sample(self, rng: random.Random) -> str:
        def make() -> str:
            well = f"{'ABCDEFGH'[rng.randrange(8)]}{rng.randint(1, 12):02d}"
            return f"LP{rng.randrange(1_000_000, 10_000_000)}-DNA_{well}"

        return self._fresh(make)

    def key(self, rng: random.Random, prefix: str, digits: int = 12) -> str:
        lo, hi = 10 ** (digits - 1), 10**digits - 1
        return self._fresh(lambda: prefix + str(rng.randint(lo, hi)))[len(prefix) :]


@dataclass
class Defect:
    """One injected defect: a whole extra row (or sample) that must be rejected."""

    rule: str
    row: list[str] | None = None
    detail: dict[str, object] = field(default_factory=dict)
    # for duplicate-key defects: build the row from a good row that precedes it
    copy_of_earlier: bool = False


def allocate_rules(rng: random.Random, rules: Sequence[str], n_good: int, rate: float) -> list[str]:
    """Which defects to inject into one feed file: ``rate`` x good rows, at least one of
    every rule whenever ``rate > 0``, none when ``rate == 0``."""
    if rate <= 0 or not rules:
        return []
    total = max(len(rules), round(rate * n_good))
    chosen = list(rules) + [rng.choice(list(rules)) for _ in range(total - len(rules))]
    rng.shuffle(chosen)
    return chosen


def interleave(
    rng: random.Random, good: list[list[str]], defects: list[Defect]
) -> tuple[list[list[str]], list[dict[str, object]]]:
    """Insert defect rows at random places among the good rows. Returns the rows and the
    truth entries (1-based line numbers, the header being line 1)."""
    placed: list[tuple[int, int, Defect]] = []
    for order, defect in enumerate(defects):
        lo = 1 if defect.copy_of_earlier else 0
        gap = rng.randint(lo, len(good)) if len(good) >= lo else len(good)
        placed.append((gap, order, defect))
    placed.sort(key=lambda item: (item[0], item[1]))
    rows: list[list[str]] = []
    truth: list[dict[str, object]] = []
    cursor = 0
    for gap, _order, defect in placed:
        rows.extend(good[cursor:gap])
        cursor = gap
        row = list(good[rng.randrange(gap)]) if defect.copy_of_earlier else defect.row
        assert row is not None
        rows.append(row)
        truth.append({"line": len(rows) + 1, "rule": defect.rule, **defect.detail})
    rows.extend(good[cursor:])
    return rows, truth


def free_path(path: Path) -> Path:
    """``path`` when nothing is there yet, else the first free ``<stem>_<n><suffix>``
    (n = 2, 3, ...), the documented way a feed names a second file of the same date."""
    if not path.exists():
        return path
    stem, suffix = path.name.split(".", 1)
    n = 2
    while (path.parent / f"{stem}_{n}.{suffix}").exists():
        n += 1
    return path.parent / f"{stem}_{n}.{suffix}"


def write_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]], sep: str) -> None:
    """UTF-8, ``\\n`` line ends, header first. CSV goes through the csv module (quoting
    only when needed); pipe and tab files are joined verbatim."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        if sep == ",":
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        else:
            fh.write(sep.join(header) + "\n")
            for row in rows:
                fh.write(sep.join(row) + "\n")


class Truth:
    """Collects the ground truth written to ``_synth/truth.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.feeds: dict[str, dict[str, object]] = {}

    def record(
        self, path: Path, feed: str, good_rows: int, defects: list[dict[str, object]]
    ) -> None:
        rel = path.relative_to(self.root).as_posix()
        self.feeds[rel] = {"feed": feed, "good_rows": good_rows, "defects": defects}

    def defect_totals(self) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = {}
        for info in self.feeds.values():
            per_feed = totals.setdefault(str(info["feed"]), {})
            for d in info["defects"]:  # type: ignore[attr-defined]
                per_feed[d["rule"]] = per_feed.get(d["rule"], 0) + 1
        return {k: dict(sorted(v.items())) for k, v in sorted(totals.items())}
