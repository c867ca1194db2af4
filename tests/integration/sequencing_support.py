"""Helpers of the sequencing intake tests: a synthetic landing zone in a lake, and the
participant linkage pinned from its registrations.

Linkage belongs to the consent domain (``consent.linkage.link_references``, read from the
identity zone after consent intake). These tests are about delivery intake, so they
resolve references straight from the synthetic registrations and withdrawals (same
contract: registered reference -> opaque id + strongest withdrawal); the end-to-end test
(``test_genomics_pipeline.py``) runs the real consent intake."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

from ngrl_assets.consent.linkage import Linked
from ngrl_assets.sequencing import intake
from ngrl_assets.synth import generate_cohort
from resources.lake import Lake
from tests.integration.lakes import put_landing

HEADER = (
    "sample_id", "participant_reference", "gvcf_path", "gvcf_md5", "tbi_path", "mean_coverage",
    "pct_bases_15x", "contamination", "inferred_sex", "sequencing_date",
)  # fmt: skip


def participant_id(reference: str) -> str:
    return "pid-" + hashlib.sha256(reference.encode()).hexdigest()[:12]


def pin_linkage(monkeypatch: pytest.MonkeyPatch, landing: Path) -> None:
    """Make intake link references from the landing's registrations and withdrawals."""
    registered: set[str] = set()
    for path in sorted((landing / "consent" / "registrations").glob("*.csv")):
        frame = pl.read_csv(path, infer_schema=False)
        registered |= set(frame["participant_reference"].drop_nulls().to_list())
    strongest: dict[str, str] = {}
    for path in sorted((landing / "consent" / "withdrawals").glob("*.csv")):
        rows = pl.read_csv(path, infer_schema=False)
        for ref, kind in rows.select("participant_reference", "withdrawal_type").iter_rows():
            if kind in ("full", "no_further_contact") and strongest.get(ref) != "full":
                strongest[ref] = kind

    def link(lake: Lake, references: list[str]) -> dict[str, Linked]:
        return {
            r: Linked(participant_id(r), strongest.get(r, "none"))
            for r in set(references)
            if r in registered
        }

    monkeypatch.setattr(intake, "link_references", link)


def landed_cohort(
    lake: Lake,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    participants: int = 30,
    batch_size: int = 10,
    defect_rate: float = 0.0,
    seed: int = 9,
) -> Path:
    """A synthetic landing zone (no real gVCFs) copied into the lake, linkage pinned."""
    generate_cohort(
        out,
        participants=participants,
        seed=seed,
        defect_rate=defect_rate,
        batch_size=batch_size,
        real_gvcf_dir=None,
    )
    put_landing(lake, out)
    pin_linkage(monkeypatch, out)
    return out


def manifest_rows(source: Path | str) -> list[dict[str, str]]:
    """The rows of a manifest file (a path) or of its text (a string, e.g. read from S3)."""
    lines = (source.read_text() if isinstance(source, Path) else source).splitlines()
    return [dict(zip(HEADER, line.split("\t"), strict=True)) for line in lines[1:] if line]


def write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    body = ["\t".join(HEADER)] + ["\t".join(r[c] for c in HEADER) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(body) + "\n")


# ---- the synthetic truth of the end-to-end tests ---------------------------------------
def sequencing_truth(truth: dict) -> dict[str, dict]:
    return {k: v for k, v in truth["feeds"].items() if k.startswith("sequencing/")}


def fully_withdrawn(truth: dict) -> set[str]:
    """References of the participants who fully withdrew: withdrawal propagation erases
    them, landing included, before their deliveries are taken in."""
    cases = truth["eligibility"]["by_participant"]
    return {ref for ref, case in cases.items() if case == "withdrawn_full"}


def erased_lines(source: Path, manifests: dict[str, dict], refs: set[str]) -> dict[str, set[int]]:
    """Manifest key -> the lines naming one of ``refs`` (defect lines too): propagation
    replaced them by empty lines, so they are neither accepted nor quarantined."""
    out: dict[str, set[int]] = {}
    for key in manifests:
        rows = pl.read_csv(source / key, separator="\t", infer_schema=False)
        out[key] = {
            line
            for line, ref in enumerate(rows["participant_reference"].to_list(), start=2)
            if ref in refs
        }
    return out
