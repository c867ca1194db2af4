"""Deterministic synthetic landing zone (``ngrl synth``).

``generate_cohort`` writes a whole ``landing/`` tree exactly as the real feeds would
deliver it (docs/landing.md): consent registrations and withdrawals, sequencing
deliveries with per-sample gVCFs (plus one delivery of the real gVCFs bundled in
``data/gvcf``), and NHS England clinical extracts. Defects are injected as extra rows,
files or samples only, so every generated participant stays clean and every count in
``_synth/truth.json`` is exact. Same arguments, same bytes: no wall-clock time, no global
random state, no iteration over unordered sets.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

from .clinical import write_clinical
from .common import Ids, Truth, iso
from .consent import write_consent
from .genome import make_sites
from .people import CASES, Timeline, check_case, make_participants
from .sequencing import write_sequencing

__all__ = ["GENERATOR_VERSION", "REAL_GVCF_DIR", "generate_cohort"]

REAL_GVCF_DIR = Path(__file__).resolve().parents[2] / "data" / "gvcf"
GENERATOR_VERSION = 1
_OWN_FOLDERS = ("consent", "sequencing", "clinical", "_synth")


def _check_target(out: Path) -> None:
    for name in _OWN_FOLDERS:
        folder = out / name
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty; generate into a fresh landing root")


def generate_cohort(
    out: Path,
    *,
    participants: int,
    seed: int,
    defect_rate: float = 0.02,
    as_of: dt.date = dt.date(2026, 9, 30),
    batch_size: int = 250,
    real_gvcf_dir: Path | None = REAL_GVCF_DIR,
    progress: bool = False,
) -> dict:
    """Write a synthetic landing zone under ``out`` and return the ground truth that is
    also written to ``out/_synth/truth.json``."""
    if participants < 1:
        raise ValueError("participants must be at least 1")
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError("defect_rate must be within [0, 1]")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    out = Path(out)
    _check_target(out)
    out.mkdir(parents=True, exist_ok=True)

    tl = Timeline.for_release(as_of)
    ids = Ids()
    truth = Truth(out)
    people = make_participants(seed, participants, tl, ids)
    for p in people:
        check_case(p, as_of)
    write_consent(out, people, tl, seed, defect_rate, ids, truth)
    sites = make_sites(seed)
    sequencing = write_sequencing(
        out, people, tl, seed, defect_rate, batch_size, real_gvcf_dir, sites, ids, truth, progress
    )
    clinical = write_clinical(out, people, tl, seed, defect_rate, ids, truth, progress)

    deliveries: dict[str, dict] = sequencing["deliveries"]  # type: ignore[assignment]
    case_count = Counter(p.case for p in people)
    changes = Counter(r.change for p in people for r in p.records[1:])
    withdrawals = Counter(p.withdrawal[0] for p in people if p.withdrawal)
    eligible = {name: flag for name, flag, _ in CASES}
    summary = {
        "generator": "ngrl_assets.synth",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "args": {
            "participants": participants,
            "seed": seed,
            "defect_rate": defect_rate,
            "as_of": iso(as_of),
            "batch_size": batch_size,
            "real_gvcf": any(d["kind"] == "real" for d in deliveries.values()),
        },
        "timeline": {
            "registration_files": [iso(d) for d in tl.registration_files],
            "withdrawal_files": [iso(d) for d in tl.withdrawal_files],
            "clinical_deliveries": [iso(d) for d in tl.clinical_deliveries],
        },
        "participants": {
            "count": len(people),
            "eligible": sum(1 for p in people if eligible[p.case]),
            "reappearing": sum(1 for p in people if len(p.records) > 1),
            "record_changes": dict(sorted(changes.items())),
            "withdrawals": dict(sorted(withdrawals.items())),
        },
        "eligibility": {
            "as_of": iso(as_of),
            "rules": "NHS GMS research dataset (docs/landing.md, NGRL.md)",
            "cases": {
                name: {"eligible": flag, "count": case_count.get(name, 0)}
                for name, flag, _ in CASES
            },
            "by_participant": {p.ref: p.case for p in sorted(people, key=lambda q: q.ref)},
        },
        "feeds": dict(sorted(truth.feeds.items())),
        "defect_totals": truth.defect_totals(),
        "sequencing": {
            **sequencing,
            "sites": dict(sorted(Counter(s.kind for v in sites.values() for s in v).items())),
        },
        "clinical": clinical,
    }
    text = json.dumps(summary, indent=2) + "\n"
    (out / "_synth").mkdir(parents=True, exist_ok=True)
    (out / "_synth" / "truth.json").write_text(text, encoding="utf-8")
    return json.loads(text)
