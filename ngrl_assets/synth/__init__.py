"""Deterministic synthetic landing zone (``ngrl synth``).

``generate_cohort`` writes a whole ``landing/`` tree exactly as the real feeds would
deliver it (docs/landing.md): consent registrations and withdrawals, sequencing
deliveries with per-sample gVCFs (plus one delivery of the real gVCFs bundled in
``data/gvcf``), and NHS England clinical extracts. Defects are injected as extra rows,
files or samples only, so every generated participant stays clean and every count in
``_synth/truth.json`` is exact. Same arguments, same bytes: no wall-clock time, no global
random state, no iteration over unordered sets.

Waves: ``wave=1`` (the default) is the whole first landing zone above. ``wave=N`` (N > 1)
is a later batch written into the same landing root after waves 1..N-1: new participants
(numbered after the earlier waves', with their own random streams from ``(seed, N)``)
with their registrations, withdrawals, synthetic deliveries ``D<yyyy>-W<N>-<nnn>`` and
clinical extracts, all dated after the previous wave's ``as_of``; a few withdrawal notices
for wave-1 participants; and wave-1 participants' hospital activity since the previous
wave's last clinical cut. Every identifier already in the landing zone is reserved, so no
reference, NHS number, sample id or record key repeats; no existing file is touched, and
the wave's truth goes to ``_synth/truth_w<N>.json``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from pathlib import Path

from ngrl_assets.sequencing import manifest

from .clinical import KEYS, LAG, write_clinical
from .common import Ids, Seed, Truth, days, iso, rand_date, rng_for
from .consent import write_consent
from .genome import population
from .people import CASES, ELIGIBLE, Participant, Timeline, check_case, make_participants
from .sequencing import write_sequencing

__all__ = [
    "DEFAULT_AS_OF",
    "GENERATOR_VERSION",
    "REAL_GVCF_DIR",
    "WAVE_PERIOD",
    "generate_cohort",
    "truth_path",
]

REAL_GVCF_DIR = Path(__file__).resolve().parents[2] / "data" / "gvcf"
GENERATOR_VERSION = 1
DEFAULT_AS_OF = dt.date(2026, 9, 30)
WAVE_PERIOD = days(61)  # a later wave's default as_of: the previous wave's + 61 days
_OWN_FOLDERS = ("consent", "sequencing", "clinical", "_synth")
_CLINICAL_KEYS = (*KEYS.values(), "TUMOURID")


def truth_path(out: Path, wave: int = 1, truth_dir: Path | None = None) -> Path:
    """Where a wave's ground truth lives: ``_synth/truth.json``, ``_synth/truth_w<N>.json``
    under the landing root, or in ``truth_dir`` (``ngrl synth`` keeps it outside the lake:
    the answer key names synthetic people, and a withdrawal erases people from the lake)."""
    folder = Path(truth_dir) if truth_dir is not None else Path(out) / "_synth"
    return folder / ("truth.json" if wave == 1 else f"truth_w{wave}.json")


def _check_target(out: Path) -> None:
    for name in _OWN_FOLDERS:
        folder = out / name
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty; generate into a fresh landing root")


def _earlier_truths(out: Path, wave: int, truth_dir: Path | None = None) -> list[dict]:
    """The truth of waves 1..wave-1, which must all be in ``out``; wave's must not be."""
    if truth_path(out, wave, truth_dir).exists():
        raise FileExistsError(f"wave {wave} is already in {out}")
    truths = []
    for w in range(1, wave):
        path = truth_path(out, w, truth_dir)
        if not path.is_file():
            raise FileNotFoundError(f"wave {wave} needs wave {w} in {out} first ({path})")
        truths.append(json.loads(path.read_text(encoding="utf-8")))
    return truths


def _read_delimited(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8", errors="replace").lstrip("\ufeff")
    sep = "," if path.suffix == ".csv" else "\t" if path.suffix == ".tsv" else "|"
    if sep == ",":
        return list(csv.DictReader(text.splitlines()))
    lines = text.splitlines()
    if not lines:
        return []
    header = lines[0].split(sep)
    return [dict(zip(header, line.split(sep), strict=False)) for line in lines[1:]]


def _existing(out: Path, truths: list[dict]) -> tuple[Ids, set[str]]:
    """Every identifier already in the landing zone (reserved in a fresh allocator), and
    the participant references that already have a withdrawal notice."""
    ids, withdrawn = Ids(), set()
    for path in sorted((out / "consent").glob("*/*.csv")):
        for row in _read_delimited(path):
            ids.reserve(row.get("participant_reference") or "")
            if row.get("nhs_number"):
                ids.reserve("".join(c for c in row["nhs_number"] if c.isdigit()))
            if path.parent.name == "withdrawals":
                withdrawn.add(row.get("participant_reference") or "")
    for path in sorted((out / "sequencing").glob(f"*/{manifest.FILE_NAME}")):
        for row in _read_delimited(path):
            ids.reserve(row.get("sample_id") or "")
            ids.reserve(row.get("participant_reference") or "")
    for path in sorted((out / "clinical").glob("*/*.txt")):
        for row in _read_delimited(path):
            ids.reserve(row.get("NEWNHSNO") or "")
            for key in _CLINICAL_KEYS:
                if row.get(key):
                    ids.reserve(key + row[key])
    for truth in truths:  # sample names written inside sample_mismatch files
        for info in truth["feeds"].values():
            for defect in info["defects"]:
                if "sample_in_file" in defect:
                    ids.reserve(str(defect["sample_in_file"]))
    return ids, withdrawn


def _wave_one_people(first: dict) -> list[Participant]:
    """Wave 1's participants exactly as wave 1 generated them (from its recorded args)."""
    args = first["args"]
    as_of = dt.date.fromisoformat(args["as_of"])
    return make_participants(args["seed"], args["participants"], Timeline.for_release(as_of), Ids())


def _earlier_withdrawals(
    stream: Seed, wave_one: list[Participant], withdrawn: set[str], tl: Timeline, full: int
) -> list[Participant]:
    """A few wave-1 participants (adult, alive, never withdrawn) who withdraw now, the
    first ``full`` of them fully, the others from further contact only; their notice is
    dated after the previous wave's as_of."""
    rng = rng_for(stream, "earlier-withdrawals")
    pool = [p for p in wave_one if p.case == "adult_alive" and p.ref not in withdrawn]
    chosen = sorted(
        rng.sample(pool, min(len(pool), max(2, round(0.01 * len(wave_one))))), key=lambda p: p.index
    )
    assert tl.sequencing_from is not None
    for n, p in enumerate(chosen):
        kind = "full" if n < full else "no_further_contact"
        p.withdrawal = (kind, rand_date(rng, tl.sequencing_from, tl.withdrawal_files[-1]))
    return chosen


def generate_cohort(
    out: Path,
    *,
    participants: int,
    seed: int,
    defect_rate: float = 0.02,
    as_of: dt.date | None = None,
    batch_size: int = 250,
    real_gvcf_dir: Path | None = REAL_GVCF_DIR,
    progress: bool = False,
    wave: int = 1,
    earlier_full_withdrawals: int = 0,
    truth_dir: Path | None = None,
) -> dict:
    """Write a synthetic landing zone under ``out`` and return the ground truth that is
    also written to ``out/_synth/truth.json`` (``truth_w<wave>.json`` for a later wave).

    ``as_of`` defaults to 2026-09-30 for wave 1 and to the previous wave's + 61 days for a
    later one. A later wave never uses the real gVCFs (``real_gvcf_dir`` is ignored).

    A later wave withdraws a few wave-1 participants (about 1%, at least 2), from further
    contact only unless ``earlier_full_withdrawals`` asks for that many full withdrawals:
    a full withdrawal after curation leaves the participant's curated clinical rows in
    place until erasure removes them, which the clinical ``only_consented_participants``
    checks report (docs/clinical.md)."""
    if wave < 1:
        raise ValueError("wave must be at least 1")
    if participants < 1:
        raise ValueError("participants must be at least 1")
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError("defect_rate must be within [0, 1]")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    out = Path(out)
    stream: Seed = seed
    earlier: list[Participant] = []
    withdrawing: list[Participant] = []
    first_index = 0
    if wave == 1:
        _check_target(out)
        out.mkdir(parents=True, exist_ok=True)
        as_of = as_of or DEFAULT_AS_OF
        tl = Timeline.for_release(as_of)
        ids = Ids()
    else:
        truths = _earlier_truths(out, wave, truth_dir)
        previous = truths[-1]
        previous_as_of = dt.date.fromisoformat(previous["args"]["as_of"])
        as_of = as_of or previous_as_of + WAVE_PERIOD
        last_cut = dt.date.fromisoformat(previous["timeline"]["clinical_deliveries"][-1]) - LAG
        tl = Timeline.for_wave(as_of, previous_as_of, last_cut + days(1))
        ids, withdrawn = _existing(out, truths)
        stream = (seed, wave)
        first_index = sum(t["participants"]["count"] for t in truths)
        wave_one = _wave_one_people(truths[0])
        withdrawing = _earlier_withdrawals(
            stream, wave_one, withdrawn, tl, earlier_full_withdrawals
        )
        # new hospital activity for the wave-1 participants still in the research cohort
        gone = {p.ref for p in withdrawing if p.withdrawal and p.withdrawal[0] == "full"}
        earlier = [
            p
            for p in wave_one
            if p.ref not in gone
            and p.ref not in withdrawn
            and p.case not in ("research_not_discussed", "research_not_agreed")
        ]
        real_gvcf_dir = None
    truth = Truth(out)
    people = make_participants(stream, participants, tl, ids, first_index)
    for p in people:
        check_case(p, as_of)
    write_consent(out, people, tl, stream, defect_rate, ids, truth, withdrawing)
    genomes = population(seed)  # one population: every wave draws from it
    sequencing = write_sequencing(
        out,
        people,
        tl,
        stream,
        defect_rate,
        batch_size,
        real_gvcf_dir,
        genomes,
        ids,
        truth,
        progress,
        wave,
    )
    clinical = write_clinical(out, people, tl, stream, defect_rate, ids, truth, progress, earlier)

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
            **({"wave": wave} if wave > 1 else {}),
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
            "rules": "NHS GMS research dataset (docs/landing.md)",
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
            "sites": dict(
                sorted(Counter(s.kind for v in genomes.sites().values() for s in v).items())
            ),
        },
        "clinical": clinical,
    }
    if wave > 1:
        new_cases = {
            p.ref: "withdrawn_full"
            if p.withdrawal and p.withdrawal[0] == "full"
            else "withdrawn_no_further_contact"
            for p in withdrawing
        }
        summary["wave"] = {
            "wave": wave,
            "first_participant_index": first_index,
            "earlier_truth": [truth_path(out, w, truth_dir).name for w in range(1, wave)],
            # earlier waves' participants whose case this wave changes (new withdrawals)
            "case_changes": {
                ref: {"case": case, "eligible": ELIGIBLE[case]}
                for ref, case in sorted(new_cases.items())
            },
            "earlier_participants_with_new_clinical_events": len(earlier),
        }
    text = json.dumps(summary, indent=2) + "\n"
    path = truth_path(out, wave, truth_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return json.loads(text)
