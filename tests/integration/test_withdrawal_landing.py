"""Purging a withdrawn participant from landing: on a synthetic lake ingested by the real
sensors (consent, sequencing, clinical; no joint calling), one participant's needles are
purged, then the residue scan of landing, quarantine and audit is clean, every other line
is byte-identical at the same line number, the ledger has nothing pending and its counts
still reconcile, a rerun does nothing, a crash mid-way then a rerun ends in the same state
as a clean run, and on a versioned S3 bucket no old version or delete marker survives."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ngrl_assets.common import ledger
from ngrl_assets.common.ledger import LEDGER
from ngrl_assets.common.quarantine import QUARANTINE, replace_batches, to_frame
from ngrl_assets.consent import feeds
from ngrl_assets.definitions import build_definitions
from ngrl_assets.pipeline import landing_sensors, run_sensors
from ngrl_assets.synth import generate_cohort
from ngrl_assets.withdrawal import erasure
from ngrl_assets.withdrawal import landing as landing_purge
from ngrl_assets.withdrawal.landing import LandingPurge, LandingPurgeError, purge_landing
from ngrl_assets.withdrawal.scan import scan
from resources import objects
from resources.lake import Lake
from tests.integration.lakes import put_landing

FEEDS = ("consent", "sequencing", "clinical")
BINARY = (".gz", ".tbi", ".csi")
BOM = b"\xef\xbb\xbf"


# ---- the synthetic lake -----------------------------------------------------------------
def _rows(path: Path, delimiter: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text()), delimiter=delimiter))


def _spaced(nhs: str) -> str:
    return f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"


def choose(landing: Path, clinical_lines: bool = True) -> dict:
    """The participant with a sample, registrations and the most clinical lines; all their
    samples (a participant can be sequenced twice)."""
    nhs_of: dict[str, str] = {}
    for f in sorted((landing / "consent/registrations").glob("*.csv")):
        for r in _rows(f, ","):
            if re.fullmatch(r"[0-9]{10}", r["nhs_number"]):
                nhs_of.setdefault(r["participant_reference"], r["nhs_number"])
    clinical = b"".join(p.read_bytes() for p in (landing / "clinical").rglob("*.txt"))
    clinical += b"" if clinical_lines else b" ".join(n.encode() for n in nhs_of.values())
    samples: dict[str, list[tuple[str, dict]]] = {}
    for manifest in sorted((landing / "sequencing").glob("*/manifest.tsv")):
        folder = manifest.parent.relative_to(landing).as_posix()
        for r in _rows(manifest, "\t"):
            samples.setdefault(r["participant_reference"], []).append((folder, r))
    scored = [(clinical.count(nhs_of[ref].encode()), ref) for ref in samples if ref in nhs_of]
    score, ref = max(scored)
    assert score > 0
    mine = samples[ref]
    return {
        "reference": ref,
        "nhs": nhs_of[ref],
        "samples": [r["sample_id"] for _, r in mine],
        "keys": [f"{d}/{r[c]}" for d, r in mine for c in ("gvcf_path", "tbi_path")],
        "deliveries": sorted({d.rsplit("/", 1)[-1] for d, _ in mine}),
    }


def crafted(who: dict, other: str) -> dict[str, bytes]:
    """Hand-made landing files: BOM + CRLF, quotes, padding, an NHS number with spaces, a
    needle inside a larger field (ambiguous), a last line without a newline."""
    ref, nhs = who["reference"], who["nhs"]
    contacts = (
        BOM + b"reference,nhs_number,note\r\n"
        + f"{other},9999999999,kept\r\n".encode()
        + f'"{ref}" , 0000000000 ,quoted and padded\r\n'.encode()
        + f"{other},{_spaced(nhs)},spaced nhs number\r\n".encode()
        + f"{other},1111111111,see {ref}-old (ambiguous)\r\n".encode()
        + f"{other},2222222222,kept too\r\n".encode()
        + f"{other},{nhs},last line, no newline".encode()
    )  # fmt: skip
    return {
        "misc/contacts.csv": contacts,
        "misc/a.csv": f"id|value\n{other}|1\n{ref}|2\n".encode(),
        "misc/a.csv.bak": f"id|value\n{other}|1\n".encode(),
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, float]:
    """A lake folder the real sensors ingested (built once; each test copies it)."""
    started = time.monotonic()
    src = tmp_path_factory.mktemp("synth")
    generate_cohort(src, participants=8, seed=3, defect_rate=0.1, batch_size=20,
                    real_gvcf_dir=None)  # fmt: skip
    root = tmp_path_factory.mktemp("template") / "lake"
    lake = Lake(root_uri=str(root))
    put_landing(lake, src)
    defs = build_definitions(lake)
    sensors = [s for s in landing_sensors(defs) if s.name != "joint_calling_sensor"]
    with dg.instance_for_test() as instance:
        result = run_sensors(defs, lake, instance, sensors=sensors, automation=False)
    assert result.success, result.failures()
    who = choose(root / "landing")
    other = next(r["participant_reference"] for r in _rows(
        next((root / "landing/consent/registrations").glob("*.csv")), ","
    ) if r["participant_reference"] != who["reference"])  # fmt: skip
    for key, data in crafted(who, other).items():
        objects.write_bytes(lake.landing(key), data)
    for feed in FEEDS:
        assert ledger.pending(lake, feed) == []
    return root, who, time.monotonic() - started


@pytest.fixture
def copy(template: tuple[Path, dict, float], tmp_path: Path) -> tuple[Lake, dict]:
    root, who, _ = template
    shutil.copytree(root, tmp_path / "lake")
    return Lake(root_uri=str(tmp_path / "lake")), who


def needles_of(who: dict) -> list[str]:
    return [who["reference"], who["nhs"], *who["samples"]]


# ---- the oracle: what the purge must leave --------------------------------------------
def _hit(line: bytes, needles: list[str]) -> bool:
    text = line.decode("utf-8", errors="replace").lower()
    if any(n.lower() in text for n in needles):
        return True
    return any(
        re.search(r"(?<![0-9])" + r"[ \-]?".join(n) + r"(?![0-9])", text)
        for n in needles
        if re.fullmatch(r"[0-9]{10}", n)
    )


def expected_text(data: bytes, needles: list[str]) -> tuple[bytes, list[int]]:
    """The file with each needle line emptied (ending and BOM kept), and those lines."""
    out, blanked = [], []
    for n, line in enumerate(data.splitlines(keepends=True), start=1):
        if _hit(line, needles):
            end = b"\r\n" if line.endswith(b"\r\n") else b"\n" if line.endswith(b"\n") else b""
            out.append((BOM if n == 1 and line.startswith(BOM) else b"") + end)
            blanked.append(n)
        else:
            out.append(line)
    return b"".join(out), blanked


def snapshot(lake: Lake) -> dict[str, bytes]:
    root = lake.zone("landing").rstrip("/") + "/"
    return {
        o.uri.removeprefix(root): objects.read_bytes(o.uri)
        for o in objects.list_objects(lake.zone("landing"))
    }


def state(lake: Lake) -> tuple:
    """Landing bytes, the ledger (without run metadata) and the quarantine rows."""
    led = lake.read(LEDGER).drop("run_id", "processed_at").sort("landing_key")
    quar = lake.read(QUARANTINE).select("source_file", "line", "rule").sort(pl.all())
    return snapshot(lake), led.rows(), quar.rows()


def check_outcome(lake: Lake, who: dict, before: tuple) -> None:
    needles = needles_of(who)
    landing_before, ledger_rows, quarantine_rows = before
    led_before = {r[0]: r for r in ledger_rows}
    cols = [c for c in LEDGER.schema if c not in ("run_id", "processed_at")]
    after = snapshot(lake)

    # (a) nothing left to find
    assert scan(lake, needles, zones=("landing", "quarantine", "audit")) == []

    # objects: the participant's are gone (with their indexes), every other binary is intact
    gone = {k for k in landing_before if any(n.lower() in k.lower() for n in needles)}
    gone |= set(who["keys"])
    assert gone and not gone & set(after)
    blanked_by_key: dict[str, list[int]] = {}
    for key, data in landing_before.items():
        if key in gone:
            continue
        if key.endswith(BINARY):
            assert after[key] == data, key
            continue
        # (b) every other line byte-identical at its line number
        want, blanked = expected_text(data, needles)
        assert after[key] == want, key
        if blanked:
            blanked_by_key[key] = blanked
    assert set(after) == set(landing_before) - gone
    assert {"misc/contacts.csv", "misc/a.csv"} <= set(blanked_by_key)
    assert blanked_by_key["misc/contacts.csv"] == [3, 4, 5, 7]  # quoted, spaced, inside, last
    assert "misc/a.csv.bak" not in blanked_by_key
    assert any(k.startswith("clinical/") for k in blanked_by_key)
    assert any(k.startswith("consent/") for k in blanked_by_key)
    manifests = {f"sequencing/{d}/manifest.tsv": d for d in who["deliveries"]}
    assert set(manifests) <= set(blanked_by_key)

    # quarantine: exactly the records of blanked lines and deleted objects went
    blanked_pairs = {(k, n) for k, lines in blanked_by_key.items() for n in lines}
    kept = [r for r in quarantine_rows if r[0] not in gone and (r[0], r[1]) not in blanked_pairs]
    q_after = lake.read(QUARANTINE)
    assert q_after.select("source_file", "line", "rule").sort(pl.all()).rows() == sorted(kept)

    # (c) the ledger: nothing pending, rewritten rows updated, counts reconcile
    for feed in FEEDS:
        assert ledger.pending(lake, feed) == []
    led = {r["landing_key"]: r for r in lake.read(LEDGER).iter_rows(named=True)}
    assert set(led) == set(led_before) - gone
    records = {k: v for k, v in q_after.group_by("source_file").agg(pl.col("line")).rows()}
    batches = dict(q_after.group_by("batch").len().rows())
    for key, row in led.items():
        old = dict(zip(cols, led_before[key], strict=True))
        if key not in blanked_by_key:
            assert {c: row[c] for c in cols} == old, key
            continue
        data_lines = [n for n in blanked_by_key[key] if n >= 2]
        assert row["size_bytes"] == len(after[key])
        assert row["sha256"] == hashlib.sha256(after[key]).hexdigest()
        assert row["rows_in"] == old["rows_in"] - len(data_lines), key
        assert row["rows_in"] == row["rows_accepted"] + row["rows_quarantined"], key
        if key in manifests:  # the sequencing check's accounting: quarantine by delivery
            assert row["rows_quarantined"] == batches.get(manifests[key], 0)
        elif row["status"] == "processed":
            assert row["rows_quarantined"] == len([n for n in records.get(key, []) if n]), key


def test_purge_one_participant_from_an_ingested_landing(template, copy):
    lake, who = copy
    before = state(lake)
    assert scan(lake, needles_of(who), zones=("landing", "quarantine", "audit"))

    started = time.monotonic()
    result = purge_landing(lake, needles_of(who), who["keys"])
    took = time.monotonic() - started
    print(f"\ningest {template[2]:.1f}s, purge {took:.1f}s: {result.as_dict()}")

    check_outcome(lake, who, before)
    assert result.objects_deleted == len(who["keys"])  # the gVCFs and their indexes
    assert result.files_rewritten >= 5  # registrations, manifest, clinical, misc, truth
    assert result.lines_ambiguous >= 1
    assert result.lines_blanked > result.lines_ambiguous
    assert result.ledger_rows_removed >= 2
    assert result.ledger_rows_updated >= 3
    assert result.quarantine_rows_removed >= 1
    assert result.versions_purged == 0  # a local lake has no versions

    # the tables were physically purged: one version each, no old file
    for spec in (LEDGER, QUARANTINE):
        assert len(lake.delta_table(spec).history()) == 1

    # (d) idempotent: a second call finds nothing and changes nothing
    settled = state(lake)
    versions = [lake.version(LEDGER), lake.version(QUARANTINE)]
    assert purge_landing(lake, needles_of(who), who["keys"]) == LandingPurge()
    assert state(lake) == settled
    assert [lake.version(LEDGER), lake.version(QUARANTINE)] == versions


def test_results_and_errors_never_hold_a_needle(copy, monkeypatch, caplog):
    lake, who = copy
    needles = needles_of(who)

    def boom(uri: str, output: Path) -> None:
        raise OSError(f"cannot write {uri}: {who['nhs']}")

    monkeypatch.setattr(landing_purge, "_replace", boom)
    caplog.set_level("DEBUG", logger=landing_purge.__name__)
    with pytest.raises(LandingPurgeError) as info:
        purge_landing(lake, needles, who["keys"])
    text = str(info.value) + caplog.text
    assert "[needle" in str(info.value)
    assert not any(n.lower() in text.lower() for n in needles)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("crash_at", ["quarantine_erasure", "second_rewrite", "first_delete"])
def test_a_crash_then_a_rerun_completes(template, copy, tmp_path, monkeypatch, crash_at):
    lake, who = copy
    before = state(lake)
    needles = needles_of(who)

    calls = {"n": 0}
    if crash_at == "quarantine_erasure":
        real = erasure.erase_rows_where

        def fail_on_quarantine(lake_, spec, keys):
            if spec is QUARANTINE:
                raise RuntimeError("crash")
            return real(lake_, spec, keys)

        monkeypatch.setattr(erasure, "erase_rows_where", fail_on_quarantine)
    else:
        name = "_replace" if crash_at == "second_rewrite" else "_delete"
        real_op = getattr(landing_purge, name)

        def flaky(*args):
            calls["n"] += 1
            if calls["n"] == (2 if crash_at == "second_rewrite" else 1):
                raise RuntimeError("crash")
            return real_op(*args)

        monkeypatch.setattr(landing_purge, name, flaky)
    with pytest.raises(LandingPurgeError):
        purge_landing(lake, needles, who["keys"])
    monkeypatch.undo()

    purge_landing(lake, needles, who["keys"])
    check_outcome(lake, who, before)
    # the same end state as an uninterrupted run on a fresh copy
    clean = Lake(root_uri=str(tmp_path / "clean"))
    shutil.copytree(template[0], tmp_path / "clean")
    purge_landing(clean, needles, who["keys"])
    assert state(lake) == state(clean)
    assert purge_landing(lake, needles, who["keys"]) == LandingPurge()


# ---- S3 with bucket versioning ---------------------------------------------------------
def _versions(lake: Lake, key: str) -> tuple[int, int]:
    """(versions, delete markers) of exactly this landing key."""
    bucket, k = objects.split_s3(lake.landing(key))
    page = objects.s3_client().list_object_versions(Bucket=bucket, Prefix=k)
    versions = [v for v in page.get("Versions", []) if v["Key"] == k]
    markers = [m for m in page.get("DeleteMarkers", []) if m["Key"] == k]
    return len(versions), len(markers)


def test_versioned_s3_bucket(s3_lake: Lake, tmp_path: Path):
    lake = s3_lake
    bucket, _ = objects.split_s3(lake.zone("landing"))
    objects.s3_client().put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    src = tmp_path / "synth"
    generate_cohort(src, participants=6, seed=5, defect_rate=0.1, batch_size=20,
                    real_gvcf_dir=None)  # fmt: skip
    shutil.rmtree(src / "clinical")
    shutil.rmtree(src / "_synth")
    put_landing(lake, src)
    who = choose(src, clinical_lines=False)
    for key, data in crafted(who, "P000000000").items():
        objects.write_bytes(lake.landing(key), data)
    objects.write_bytes(lake.landing("misc/a.csv.bak"), b"id|value\nP000000000|1\n")

    # the consent files recorded as intake records them (real parser, honest counts)
    entries = []
    for path in sorted((src / "consent/registrations").glob("*.csv")):
        key = path.relative_to(src).as_posix()
        data = path.read_bytes()
        parsed = feeds.parse_registrations(data, key)
        file = ledger.LandingFile(key, lake.landing(key), len(data))
        entries.append(ledger.LedgerEntry(
            file, "consent_registrations", ledger.sha256(data), "processed",
            parsed.rows_in, parsed.rows.height, parsed.rows_quarantined,
        ))  # fmt: skip
        replace_batches(lake, "consent_registrations", [key],
                        to_frame(parsed.rejects, "consent_registrations", "r1", key))  # fmt: skip
        objects.write_bytes(lake.landing(key), data)  # an overwrite: a noncurrent version
    ledger.record(lake, entries, "r1")
    needles = needles_of(who)
    assert any("noncurrent" in f.uri for f in scan(lake, needles, zones=("landing",)))

    started = time.monotonic()
    result = purge_landing(lake, needles, who["keys"])
    print(f"\nS3 purge {time.monotonic() - started:.1f}s: {result.as_dict()}")

    assert scan(lake, needles, zones=("landing", "quarantine", "audit")) == []
    assert result.objects_deleted == len(who["keys"]) and result.versions_purged > 0
    for key in who["keys"]:
        assert _versions(lake, key) == (0, 0)
    rewritten = 0
    for entry in entries:  # each overwritten once; a rewritten one keeps only the current
        changed = objects.read_bytes(entry.file.uri) != (src / entry.file.key).read_bytes()
        rewritten += changed
        assert _versions(lake, entry.file.key) == ((1, 0) if changed else (2, 0))
    assert rewritten
    assert _versions(lake, "misc/a.csv") == (1, 0)
    assert _versions(lake, "misc/a.csv.bak") == (2, 0)  # exact key: untouched
    assert objects.read_bytes(lake.landing("misc/a.csv")).count(b"\n") == 3
    assert ledger.pending(lake, "consent/registrations") == []
    for row in lake.read(LEDGER).iter_rows(named=True):
        data = objects.read_bytes(lake.landing(row["landing_key"]))
        assert row["sha256"] == ledger.sha256(data)
        assert row["rows_in"] == row["rows_accepted"] + row["rows_quarantined"]
        assert row["rows_in"] == feeds.data_lines(data)

    settled = state(lake)
    assert purge_landing(lake, needles, who["keys"]) == LandingPurge()
    assert state(lake) == settled


def test_intake_parsers_reread_a_purged_file(copy):
    """Consent and manifest parsers skip the blank lines (counts equal the updated ledger
    row, every other row keeps its line number); the clinical reader keeps line numbers
    too (a blank line is a row of nulls at its own line)."""
    from ngrl_assets.clinical import rows as clinical_rows
    from ngrl_assets.sequencing.manifest import parse_manifest

    lake, who = copy
    before = snapshot(lake)
    purge_landing(lake, needles_of(who), who["keys"])
    led = {r["landing_key"]: r for r in lake.read(LEDGER).iter_rows(named=True)}
    after = snapshot(lake)
    changed = [k for k in after if after[k] != before[k] and k in led]
    for key in changed:
        data, row = after[key], led[key]
        if key.startswith("consent/registrations/"):
            parsed = feeds.parse_registrations(data, key)
            old = feeds.parse_registrations(before[key], key)
            assert (parsed.rows_in, parsed.rows.height, len(parsed.rejects)) == (
                row["rows_in"], row["rows_accepted"], row["rows_quarantined"],
            )  # fmt: skip
            kept = old.rows.filter(pl.col("participant_reference") != who["reference"])
            assert parsed.rows.equals(kept)  # same rows, same source_line
        elif key.endswith("manifest.tsv"):
            parsed_m = parse_manifest(data, key)
            assert parsed_m.rows_in == row["rows_in"]
            old_m = parse_manifest(before[key], key)
            assert parsed_m.rows == [r for r in old_m.rows if r.sample_id not in who["samples"]]
        elif key.startswith("clinical/"):
            path = Path(lake.landing(key))
            header = data.split(b"\n", 1)[0].decode().split("|")
            lines = clinical_rows.scan_extract(path, header[:1]).collect()
            assert lines.height == data.count(b"\n") - 1  # one row per line, blanks too
            blank = {n for n, line in enumerate(data.split(b"\n"), start=1) if not line}
            got = {n for n, v in lines.rows() if v is None}
            assert got == blank - {len(data.split(b"\n"))}
