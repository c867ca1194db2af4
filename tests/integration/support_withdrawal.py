"""Helpers for the withdrawal tests: pick participants with data everywhere, land a
notice, build the same library without them from scratch, and compare two lakes table by
table with internal ids and pseudonyms mapped back to consent references (internal ids are
random per lake and pseudonyms are keyed on them)."""

from __future__ import annotations

import datetime as dt
import gzip
import re
import shutil
from pathlib import Path

import polars as pl

from ngrl_assets import catalogue
from ngrl_assets.clinical.tables import EXTRACTS
from ngrl_assets.consent.tables import PARTICIPANT_REGISTRY, RELEASE_PSEUDONYMS
from ngrl_assets.genomics.tables import RAW_SEQUENCES
from ngrl_assets.releases import registry
from resources import objects
from resources.lake import Lake
from resources.tables import TableSpec

VOLATILE = {
    "ingested_at",
    "updated_at",
    "received_at",
    "processed_at",
    "quarantined_at",
    "run_id",
    "created_at",
    "increment",
    "recorded_at",
    "batch",
}


def rich_participants(lake: Lake, release_id: str, n: int) -> list[dict[str, str]]:
    """``n`` participants with a QC-passed genome, clinical rows and a place in the
    release: their internal id, reference, NHS number and sample ids."""
    genomes = lake.read(RAW_SEQUENCES).filter(pl.col("qc_verdict") == "pass")
    clinical: set[str] = set()
    for spec in EXTRACTS.values():
        clinical |= set(lake.read(spec)["participant_id"].to_list())
    released = set(
        lake.read(RELEASE_PSEUDONYMS)
        .filter((pl.col("release_id") == release_id) & (pl.col("kind") == "participant"))[
            "internal_id"
        ]
        .to_list()
    )
    regs = lake.read(PARTICIPANT_REGISTRY)
    picked = []
    for row in regs.sort("participant_reference").iter_rows(named=True):
        pid = row["participant_id"]
        if pid in clinical and pid in released and pid in set(genomes["participant_id"]):
            samples = genomes.filter(pl.col("participant_id") == pid)["sample_id"].to_list()
            picked.append(
                {
                    "participant_id": pid,
                    "reference": row["participant_reference"],
                    "nhs_number": row["nhs_number"],
                    "samples": samples,
                }
            )
        if len(picked) == n:
            break
    assert len(picked) == n, "the synthetic library lacks participants with data everywhere"
    return picked


def notice(references: list[str], when: dt.date = dt.date(2026, 11, 20)) -> bytes:
    lines = ["participant_reference,withdrawal_type,withdrawal_date"]
    lines += [f"{ref},full,{when.isoformat()}" for ref in references]
    return ("\n".join(lines) + "\n").encode()


def land_notice(lake: Lake, name: str, references: list[str]) -> None:
    objects.write_bytes(lake.landing(f"consent/withdrawals/{name}"), notice(references))


def _fields(line: str) -> list[str]:
    return [f.strip().strip('"').strip() for f in re.split(r"[,\t|]", line)]


def without(source: Path, target: Path, needles: list[str]) -> None:
    """A copy of a landing folder as if these values' owners had never been in it: their
    objects (gVCFs, indexes) left out, their lines of text files blanked (other lines keep
    their numbers, as the purge does)."""
    shutil.copytree(source, target)
    wanted = {n.lower() for n in needles}
    nhs = {re.sub(r"\s", "", n) for n in needles if re.fullmatch(r"[\d\s]{10,13}", n)}
    for path in sorted(target.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        name = path.name.lower()
        if any(n in str(path.relative_to(target)).lower() for n in wanted):
            path.unlink()
            continue
        if data[:2] == b"\x1f\x8b" or name.endswith((".tbi", ".csi")):
            text = gzip.decompress(data).decode("utf-8", "replace").lower()
            if any(n in text for n in wanted):
                path.unlink()
                Path(str(path) + ".tbi").unlink(missing_ok=True)
            continue
        text = data.decode("utf-8")
        lines = text.split("\n")
        changed = False
        for i, line in enumerate(lines):
            fields = {f.lower() for f in _fields(line.rstrip("\r"))}
            fields |= {re.sub(r"\s", "", f) for f in fields}
            if fields & (wanted | nhs):
                lines[i] = "\r" if line.endswith("\r") else ""
                changed = True
        if changed:
            path.write_bytes("\n".join(lines).encode())


def _reference_map(lake: Lake, previous: dict[str, str] | None = None) -> dict[str, str]:
    regs = lake.read(PARTICIPANT_REGISTRY)
    out = dict(previous or {})
    out.update(
        zip(regs["participant_id"].to_list(), regs["participant_reference"].to_list(), strict=True)
    )
    return out


def _pseudonym_map(lake: Lake, release_id: str, refs: dict[str, str]) -> dict[str, str]:
    rows = lake.read(RELEASE_PSEUDONYMS).filter(pl.col("release_id") == release_id)
    out = {}
    for kind, internal, pseudonym in rows.select("kind", "internal_id", "pseudonym").iter_rows():
        out[pseudonym] = refs.get(internal, internal) if kind == "participant" else internal
    return out


def comparable(frame: pl.DataFrame, spec: TableSpec, mapping: dict[str, str]) -> pl.DataFrame:
    keep = [c for c in frame.columns if c not in VOLATILE]
    frame = frame.select(keep)
    for column in ("participant_id", "sample_id"):
        if column in frame.columns and (
            column == spec.participant_column or spec.zone == "releases"
        ):
            frame = frame.with_columns(
                pl.col(column).replace_strict(mapping, default=None).alias(column)
            )
    if "internal_id" in frame.columns:
        frame = frame.with_columns(pl.col("internal_id").replace(mapping))
    if not frame.columns:
        return frame
    lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
    order = [c for c in frame.columns if c not in lists]
    return frame.sort(order, nulls_last=True)


# Which deliveries each chunk absorbed, with counts as of that increment: bookkeeping of
# how the library was built (delivery ids only), not data about anyone.
BOOKKEEPING = {"curated/joint_call_increments"}


def compare_lakes(
    a: Lake,
    b: Lake,
    release_ids: list[str],
    refs_a: dict[str, str],
    only_in_a: tuple[str, ...] = (),
) -> list[str]:
    """Tables that differ (curated, quarantine, ledger and every release table).
    ``only_in_a``: landing keys only ``a`` received (the withdrawal notices themselves)."""
    refs_a = _reference_map(a, refs_a)
    refs_b = _reference_map(b)
    differ = []
    for spec in catalogue.TABLES:
        if spec.zone in ("identity", "audit") and spec.key != "audit/landing_ledger":
            continue
        if spec.zone == "releases" or spec.key in BOOKKEEPING:
            continue
        fa, fb = a.read(spec), b.read(spec)
        if "landing_key" in fa.columns and only_in_a:
            fa = fa.filter(~pl.col("landing_key").is_in(list(only_in_a)))
        ca, cb = comparable(fa, spec, refs_a), comparable(fb, spec, refs_b)
        if not ca.equals(cb):
            differ.append(f"{spec.key}: {fa.height} vs {fb.height} rows")
    for release_id in release_ids:
        pa, pb = _pseudonym_map(a, release_id, refs_a), _pseudonym_map(b, release_id, refs_b)
        for spec in catalogue.release_tables():
            if spec.name in ("data_dictionary", "release_registry"):
                continue
            placed = spec.in_folder(release_id)
            fa, fb = a.read(placed), b.read(placed)
            ca, cb = comparable(fa, placed, pa), comparable(fb, placed, pb)
            if not ca.equals(cb):
                differ.append(f"releases/{release_id}/{spec.name}: {fa.height} vs {fb.height}")
        ma, mb = registry.get(a, release_id), registry.get(b, release_id)
        assert ma is not None and mb is not None
        if (ma.participants, ma.samples) != (mb.participants, mb.samples):
            differ.append(f"registry {release_id}: {ma.participants}/{mb.participants}")
    return differ
