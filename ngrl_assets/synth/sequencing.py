"""sequencing/<delivery_id>/: synthetic deliveries of ``batch_size`` samples, one
delivery of the real gVCFs bundled with the repository, and defective extra samples."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import math
import random
import re
import shutil
from collections import Counter
from pathlib import Path

import polars as pl
import pysam
from tqdm import tqdm

from ngrl_assets.sequencing import manifest

from .common import (
    Defect,
    Ids,
    Seed,
    Truth,
    allocate_rules,
    days,
    interleave,
    iso,
    rng_for,
    write_rows,
)
from .genome import GRCH38_CONTIGS, Population, real_gvcf_table
from .gvcf import SampleSpec, write_gvcf
from .people import Participant, Timeline

# the manifest contract is the reader's (docs/landing.md); the generator writes exactly it
MANIFEST_COLUMNS = list(manifest.MANIFEST_COLUMNS)
SEQUENCING_RULES = ["md5_mismatch", "sample_mismatch", "malformed_record", "unknown_participant"]
SEQUENCED_SHARE = 0.95
_CONTIG = re.compile(r"ID=(?P<id>[^,>]+).*?length=(?P<length>\d+)")


def _qc(rng: random.Random, karyotype: str) -> tuple[float, float, float, str]:
    cov = min(55.0, max(18.0, rng.gauss(33.0, 4.0)))
    pct15 = min(99.9, 100.0 - 60.0 * math.exp(-cov / 8.0) - abs(rng.gauss(0.0, 0.4)))
    contamination = min(0.05, rng.expovariate(1 / 0.003))
    sex = "unknown" if rng.random() < 0.015 else karyotype
    return cov, pct15, contamination, sex


def _row(sample_id: str, ref: str, md5: str, qc: tuple, when: dt.date) -> list[str]:
    cov, pct15, contamination, sex = qc
    gvcf = f"gvcf/{sample_id}.g.vcf.gz"
    return [
        sample_id,
        ref,
        gvcf,
        md5,
        gvcf + ".tbi",
        f"{cov:.2f}",
        f"{pct15:.2f}",
        f"{contamination:.4f}",
        sex,
        iso(when),
    ]


def _delivery_date(tl: Timeline, batch: list[Participant], previous: dt.date | None) -> dt.date:
    """Deliveries arrive during the year before the release, a fortnight apart at least
    and never before a sample's consent is six weeks old."""
    start = tl.sequencing_from or tl.as_of - days(365)
    earliest = max(start, max(p.consent_date for p in batch) + days(45))
    if previous is not None:
        earliest = max(earliest, previous + days(14))
    return min(tl.as_of - days(7), earliest)


def _header(path: Path) -> tuple[list[str], dict[str, int]]:
    """Sample names and contig lengths from a bgzipped VCF header."""
    contigs: dict[str, int] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("##contig="):
                found = _CONTIG.search(line)
                if found:
                    contigs[found["id"]] = int(found["length"])
            elif line.startswith("#CHROM"):
                return line.rstrip("\n").split("\t")[9:], contigs
            elif not line.startswith("#"):
                break
    return [], contigs


def measured_coverage(path: Path) -> tuple[float, float]:
    """Mean depth over GRCh38 and the percentage of its bases at depth 15 or more, as the
    gVCF itself states them (records' FORMAT/DP, else MIN_DP, over their span). The
    bundled real gVCFs are fragments (the first 1,000 records of chr22) or nearly
    read-less (NA12878's has depth 0 on 99.7 % of its bases), so their manifest rows
    state what the files hold and sample QC rejects them (kept, never joint-called)."""
    records = real_gvcf_table(path)
    span = pl.col("end") - pl.col("pos") + 1
    depth_bases, deep_bases = records.select(
        (pl.col("dp") * span).sum(), pl.when(pl.col("dp") >= 15).then(span).otherwise(0).sum()
    ).row(0)
    genome = sum(length for _, length in GRCH38_CONTIGS)
    return round(depth_bases / genome, 4), round(100 * deep_bases / genome, 4)


def real_gvcfs(real_dir: Path | None) -> tuple[list[tuple[Path, str]], list[dict[str, str]]]:
    """Usable real single-sample GRCh38 gVCFs (path, sample name), whole-genome files
    first, and the files skipped with the reason."""
    if real_dir is None or not Path(real_dir).is_dir():
        return [], []
    grch38 = dict(GRCH38_CONTIGS)
    found, skipped = [], []
    paths = sorted(
        Path(real_dir).rglob("*.g.vcf.gz"),
        key=lambda p: (len(p.relative_to(real_dir).parts), p.relative_to(real_dir).as_posix()),
    )
    for path in paths:
        rel = path.relative_to(real_dir).as_posix()
        samples, contigs = _header(path)
        if len(samples) != 1:
            skipped.append({"file": rel, "reason": f"{len(samples)} samples, expected 1"})
        elif "chr22" not in contigs or any(
            contigs[name] != length for name, length in grch38.items() if name in contigs
        ):
            skipped.append({"file": rel, "reason": "contigs are not GRCh38 chr-prefixed"})
        else:
            found.append((path, samples[0]))
    return found, skipped


def write_sequencing(
    out: Path,
    people: list[Participant],
    tl: Timeline,
    seed: Seed,
    rate: float,
    batch_size: int,
    real_dir: Path | None,
    population: Population,
    ids: Ids,
    truth: Truth,
    progress: bool,
    wave: int = 1,
) -> dict[str, object]:
    """Wave 1's deliveries are ``D<yyyy>-<nnn>`` (plus ``D<yyyy>-REAL``), a later wave's
    ``D<yyyy>-W<wave>-<nnn>``, numbered per year past any folder already there."""
    plan = rng_for(seed, "sequencing-plan")
    sequenced = plan.sample(people, round(SEQUENCED_SHARE * len(people)))
    real, skipped = real_gvcfs(real_dir)
    real_people = plan.sample(sequenced, min(len(real), len(sequenced) // 2))
    # the whole-genome file (listed first) goes to a participant with XX karyotype
    real_people.sort(key=lambda p: (p.karyotype != "XX", p.index))
    real_people = real_people[:1] + sorted(real_people[1:], key=lambda p: p.index)
    taken = {p.index for p in real_people}
    synthetic = sorted(
        (p for p in sequenced if p.index not in taken), key=lambda p: (p.consent_date, p.index)
    )
    batches = [synthetic[i : i + batch_size] for i in range(0, len(synthetic), batch_size)]
    per_batch = [
        allocate_rules(rng_for(seed, "seq-defects", k), SEQUENCING_RULES, len(b), rate)
        for k, b in enumerate(batches)
    ]
    total = len(synthetic) + sum(map(len, per_batch)) + len(real_people)
    bar = tqdm(total=total, desc="gVCFs", unit="sample", disable=not progress)
    deliveries: dict[str, dict[str, object]] = {}
    previous: dt.date | None = None
    per_year: Counter[int] = Counter()
    for k, batch in enumerate(batches):
        when = previous = _delivery_date(tl, batch, previous)
        tag = "" if wave == 1 else f"W{wave}-"
        while True:
            per_year[when.year] += 1
            delivery_id = f"D{when.year}-{tag}{per_year[when.year]:03d}"
            folder = out / "sequencing" / delivery_id
            if not folder.exists():
                break
        good = []
        for p in batch:
            rng = rng_for(seed, "sample", p.index)
            sample_id = ids.sample(rng)
            qc = _qc(rng, p.karyotype)
            spec = SampleSpec(sample_id, p.karyotype, qc[0])
            genome = population.genome(p.index, p.karyotype == "XY")
            md5, _, _ = write_gvcf(folder / f"gvcf/{sample_id}.g.vcf.gz", rng, spec, genome)
            good.append(_row(sample_id, p.ref, md5, qc, when))
            bar.update()
        good.sort(key=lambda r: r[0])
        rng = rng_for(seed, "seq-defect-samples", k)
        defects = []
        for rule in per_batch[k]:
            defects.append(_defect_sample(rng, rule, folder, synthetic, population, ids, when))
            bar.update()
        rows, found = interleave(rng, good, defects)
        write_rows(folder / manifest.FILE_NAME, MANIFEST_COLUMNS, rows, "\t")
        truth.record(folder / manifest.FILE_NAME, "sequencing/manifest", len(good), found)
        deliveries[delivery_id] = {"kind": "synthetic", "samples": len(good), "date": iso(when)}

    if real_people:
        when = _delivery_date(tl, real_people, None)
        delivery_id = f"D{when.year}-REAL"
        folder = out / "sequencing" / delivery_id
        good, sources = [], {}
        for (src, sample_id), p in zip(real, real_people, strict=False):
            rng = rng_for(seed, "real-sample", sample_id)
            dest = folder / "gvcf" / f"{sample_id}.g.vcf.gz"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            if Path(str(src) + ".tbi").exists():
                shutil.copyfile(str(src) + ".tbi", str(dest) + ".tbi")
            else:
                pysam.tabix_index(str(dest), preset="vcf", force=True)
            with pysam.TabixFile(str(dest)) as tbx:
                has_x = "chrX" in tbx.contigs
            _, _, contamination, _ = _qc(rng, p.karyotype)
            cov, pct15 = measured_coverage(src)
            qc = (cov, pct15, contamination, p.karyotype if has_x else "unknown")
            md5 = hashlib.md5(dest.read_bytes()).hexdigest()
            good.append(_row(sample_id, p.ref, md5, qc, when))
            sources[sample_id] = {
                "source": src.relative_to(real_dir).as_posix(),  # type: ignore[arg-type]
                "participant_reference": p.ref,
            }
            bar.update()
        good.sort(key=lambda r: r[0])
        write_rows(folder / manifest.FILE_NAME, MANIFEST_COLUMNS, good, "\t")
        truth.record(folder / manifest.FILE_NAME, "sequencing/manifest", len(good), [])
        deliveries[delivery_id] = {
            "kind": "real",
            "samples": len(good),
            "date": iso(when),
            "sources": sources,
        }
    bar.close()
    return {
        "sequenced_participants": len(synthetic) + len(real_people),
        "deliveries": deliveries,
        "real_gvcf_skipped": skipped,
    }


def _defect_sample(
    rng: random.Random,
    rule: str,
    folder: Path,
    people: list[Participant],
    population: Population,
    ids: Ids,
    when: dt.date,
) -> Defect:
    """An extra sample that must be rejected; it belongs to an already sequenced
    participant (a resubmission, the same genome), who keeps the good sample; an unknown
    participant's sample carries the genome of a random participant."""
    sample_id = ids.sample(rng)
    p = rng.choice(people)
    if rule == "unknown_participant":
        ref, karyotype = ids.participant(rng), p.karyotype
    else:
        ref, karyotype = p.ref, p.karyotype
    qc = _qc(rng, karyotype)
    inside = ids.sample(rng) if rule == "sample_mismatch" else sample_id
    path = folder / f"gvcf/{sample_id}.g.vcf.gz"
    genome = population.genome(p.index, karyotype == "XY")
    spec = SampleSpec(inside, karyotype, qc[0])
    md5, _, bad_line = write_gvcf(path, rng, spec, genome, malformed=rule == "malformed_record")
    detail: dict[str, object] = {"sample_id": sample_id}
    if rule == "md5_mismatch":
        md5 = hashlib.md5((md5 + "tampered").encode()).hexdigest()
    elif rule == "sample_mismatch":
        detail["sample_in_file"] = inside
    elif rule == "malformed_record":
        detail["vcf_line"] = bad_line
    return Defect(rule, _row(sample_id, ref, md5, qc, when), detail)
