"""Re-delivery never brings a fully withdrawn participant back: after a full withdrawal is
recorded through consent intake (tombstone + withdrawal batch), a new sequencing delivery
with their gVCF, new clinical extracts (HES APC, ONS mortality) with their rows and a
re-sent registration are all quarantined ``participant_withdrawn``; nothing of theirs
reaches a curated table, every landing object is accounted for in the ledger, the other
participants of the same files are ingested as usual, and a ``redelivery`` withdrawal
batch holding the participant is opened once the withdrawal itself has been propagated.

Two moments are covered on one lake: (A) tombstoned but not yet erased (the withdrawal
batch is pending: it already carries the participant, so no second batch is opened) and
(B) after erasure (registry and consent rows gone, batch complete: only the tombstone
knows the participant, and the re-delivery opens a ``redelivery`` batch).

It runs on a local lake and, in ``make test-all``, on S3 (moto_server, identity zone in a
bucket of its own); the ``redelivery`` batch is then propagated and the re-delivered
objects are purged, leaving no residue in landing or quarantine."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from ngrl_assets import catalogue
from ngrl_assets.clinical import intake as clinical_intake
from ngrl_assets.clinical.sources import SOURCES
from ngrl_assets.common import ledger
from ngrl_assets.common.ledger import LEDGER
from ngrl_assets.common.quarantine import QUARANTINE
from ngrl_assets.consent import intake as consent_intake
from ngrl_assets.consent import linkage
from ngrl_assets.consent.tables import CONSENT_STATUS, PARTICIPANT_REGISTRY
from ngrl_assets.definitions import build_definitions
from ngrl_assets.genomics.tables import (
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
)
from ngrl_assets.sequencing import intake as seq_intake
from ngrl_assets.sequencing.checks import reconcile_with_ledger, sample_rows_mismatch
from ngrl_assets.synth import generate_cohort
from ngrl_assets.withdrawal import batches as withdrawal_batches
from ngrl_assets.withdrawal import propagate
from ngrl_assets.withdrawal.needles import needles_for
from ngrl_assets.withdrawal.targets import erasure_targets
from resources import objects
from resources.lake import Lake
from tests.integration.consent_runs import (
    land,
    registration,
    registrations_file,
    withdrawals_file,
)
from tests.integration.lakes import put_landing, read
from tests.integration.sequencing_support import manifest_rows, write_manifest

APC = SOURCES["hes_apc"]
ONS = SOURCES["ons_mortality"]
TODAY = dt.date(2026, 11, 1)
NOW = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
RULE = "participant_withdrawn"
FIRST = "D2025-001"  # the generator's first delivery
SECOND = "D2026-001"
REDELIVERY = "D2026-900"  # a new delivery: the second one plus the withdrawn sample


class RepurgeSpy:
    """Records every call intake makes to ``linkage.request_repurge`` (then calls it)."""

    def __init__(self) -> None:
        self.calls: list[set[str]] = []
        self._real = linkage.request_repurge

    def __call__(self, lake, participant_ids, now=None):
        self.calls.append(set(participant_ids))
        return self._real(lake, participant_ids, now)


def _text(path: Path) -> tuple[str, list[str]]:
    lines = path.read_text().splitlines()
    return lines[0], lines[1:]


def _quarantine(lake: Lake, feed: str, batch: str) -> pl.DataFrame:
    return lake.read(QUARANTINE).filter((pl.col("feed") == feed) & (pl.col("batch") == batch))


def _ledger(lake: Lake, key: str) -> tuple:
    rows = lake.read(LEDGER).filter(pl.col("landing_key") == key)
    assert rows.height == 1, key
    return rows.select("status", "rows_in", "rows_accepted", "rows_quarantined").row(0)


@pytest.fixture(params=["local", pytest.param("s3", marks=[pytest.mark.s3, pytest.mark.slow])])
def where(request: pytest.FixtureRequest) -> Lake:
    """The lake the test runs on: local, or S3 (``make test-all``)."""
    name = "lake" if request.param == "local" else "s3_lake"
    return request.getfixturevalue(name)


@pytest.fixture
def world(where: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    lake = where
    source = tmp_path / "landing"
    generate_cohort(
        source, participants=30, seed=9, defect_rate=0.0, batch_size=10, real_gvcf_dir=None
    )
    # registrations only: the generator's own withdrawals would withdraw others as well
    put_landing(lake, source, "consent/registrations")
    consent_intake.run(lake, "consent-1", NOW)
    registry = lake.read(PARTICIPANT_REGISTRY)
    consent = lake.read(CONSENT_STATUS)
    ok = set(
        consent.filter(pl.col("research_discussed") & pl.col("research_agreed"))[
            "participant_id"
        ].to_list()
    )
    header, apc_lines = _text(next(iter(sorted((source / "clinical" / "hes_apc").glob("*.txt")))))
    nhs_at = header.split("|").index("NEWNHSNO")
    in_apc = {line.split("|")[nhs_at] for line in apc_lines}
    first = manifest_rows(source / "sequencing" / FIRST / "manifest.tsv")
    in_first = {r["participant_reference"] for r in first}
    who = registry.filter(
        pl.col("participant_id").is_in(sorted(ok))
        & pl.col("nhs_number").is_in(sorted(in_apc))
        & pl.col("participant_reference").is_in(sorted(in_first))
    ).sort("participant_reference")
    assert who.height >= 1, "the cohort has no consenting participant with a sample and APC rows"
    x = who.row(0, named=True)
    spy = RepurgeSpy()
    monkeypatch.setattr(linkage, "request_repurge", spy)
    alive = set(consent.filter(pl.col("life_status") == "alive")["participant_id"].to_list())
    return {
        "source": source,
        "alive": alive,
        "ref": x["participant_reference"],
        "pid": x["participant_id"],
        "nhs": x["nhs_number"],
        "dob": x["date_of_birth"],
        "sample": next(
            r for r in first if r["participant_reference"] == x["participant_reference"]
        ),
        "ok": ok,
        "registry": registry,
        "spy": spy,
    }


def _withdraw(lake: Lake, ref: str) -> str:
    """A full withdrawal notice through consent intake; returns its withdrawal batch."""
    key = "consent/withdrawals/withdrawals_redelivery_test.csv"
    land(lake, key, withdrawals_file(f"{ref},full,2026-10-01"))
    consent_intake.run(lake, "consent-withdrawal", NOW)
    assert _ledger(lake, key) == ("processed", 1, 1, 0)
    batches = withdrawal_batches.read(lake)
    assert batches["reason"].to_list() == ["withdrawal"]
    return str(batches["batch_id"][0])


def _assert_nothing_curated(lake: Lake, w: dict) -> None:
    raw = lake.read(RAW_SEQUENCES)
    assert w["sample"]["sample_id"] not in raw["sample_id"].to_list()
    assert w["pid"] not in raw["participant_id"].drop_nulls().to_list()
    assert not any(w["sample"]["gvcf_path"] in k for k in raw["gvcf_key"].to_list())
    for spec in (SAMPLE_VARIANT_CALLS, SAMPLE_REFERENCE_BLOCKS):
        assert w["pid"] not in lake.read(spec)["participant_id"].to_list()
    for table in ("hes_apc", "mortality"):
        if lake.exists(catalogue.get(table)):
            assert w["pid"] not in read(lake, "curated", table)["participant_id"].to_list()


def _assert_reasons_safe(lake: Lake, w: dict) -> None:
    reasons = " ".join(lake.read(QUARANTINE)["reason"].drop_nulls().to_list())
    for value in (w["ref"], w["pid"], w["nhs"], w["sample"]["sample_id"]):
        assert value not in reasons


def _check_delivery(lake: Lake, w: dict, delivery: str, others: int) -> None:
    """The withdrawn sample is quarantined (manifest line + its two objects), the others
    stored; ledger and quarantine reconcile."""
    result = seq_intake.ingest_delivery(lake, delivery, f"seq-{delivery}", NOW)
    assert result.rows_in == others + 1
    assert result.rejects_by_rule == {RULE: 1}
    assert result.accepted == others and result.quarantined == 1
    assert result.withdrawn == 1
    folder = f"{seq_intake.PREFIX}/{delivery}"
    q = _quarantine(lake, seq_intake.FEED, delivery)
    manifest = objects.read_bytes(lake.landing(f"{folder}/manifest.tsv")).decode()
    samples = [r["sample_id"] for r in manifest_rows(manifest)]
    line = samples.index(w["sample"]["sample_id"]) + 2  # the header is line 1
    assert q.select("source_file", "line", "rule").rows() == [
        (f"{folder}/manifest.tsv", line, RULE)
    ]
    raw = lake.read(RAW_SEQUENCES).filter(pl.col("delivery") == delivery)
    assert raw.height == others and (raw["qc_verdict"] != "quarantined").all()
    assert raw["participant_id"].null_count() == 0
    gvcf = f"{folder}/{w['sample']['gvcf_path']}"
    tbi = f"{folder}/{w['sample']['tbi_path']}"
    assert _ledger(lake, f"{folder}/manifest.tsv") == ("processed", others + 1, others, 1)
    assert _ledger(lake, gvcf) == ("quarantined", 1, 0, 1)
    assert _ledger(lake, tbi) == ("quarantined", 0, 0, 0)
    held = _quarantine(lake, seq_intake.OBJECT_FEED, delivery)
    assert sorted(held.select("source_file", "rule").rows()) == sorted([(gvcf, RULE), (tbi, RULE)])
    # every object of the folder has its ledger row; the delivery checks pass
    landed = {f.key for f in ledger.list_landing(lake, folder)}
    ledgered = set(lake.read(LEDGER)["landing_key"].to_list())
    assert landed <= ledgered
    assert reconcile_with_ledger(lake, [delivery]) == {}
    assert sample_rows_mismatch(lake, [delivery]) == {}


def _check_extract(lake: Lake, w: dict, source, name: str, lines: list[str], header: str) -> None:
    """One extract file with the withdrawn participant's rows among others: theirs are
    quarantined ``participant_withdrawn`` (and only theirs), the rest go on as usual."""
    key = f"{source.feed}/{name}"
    land(lake, key, ("\n".join([header, *lines]) + "\n").encode())
    result = clinical_intake.ingest_extract(lake, source, name, f"clin-{name}", today=TODAY)
    nhs_at = header.split("|").index("NEWNHSNO")
    theirs = {i for i, line in enumerate(lines, start=2) if line.split("|")[nhs_at] == w["nhs"]}
    assert theirs
    q = _quarantine(lake, source.feed, key)
    withdrawn = set(q.filter(pl.col("rule") == RULE)["line"].to_list())
    assert withdrawn == theirs
    assert "unknown_patient" not in q["rule"].to_list()
    assert result.rows_in == len(lines)
    assert result.rows_in == result.rows_curated + result.rows_quarantined
    assert result.rows_curated > 0 and result.participants > 0
    assert _ledger(lake, key) == (
        "processed",
        result.rows_in,
        result.rows_curated,
        result.rows_quarantined,
    )


def test_a_redelivery_never_brings_a_withdrawn_participant_back(where: Lake, world, tmp_path: Path):
    lake, w = where, world
    source: Path = w["source"]
    spy: RepurgeSpy = w["spy"]
    withdrawal_batch = _withdraw(lake, w["ref"])
    assert withdrawal_batches.members(lake, withdrawal_batch) == [w["pid"]]
    assert linkage.withdrawn_references(lake, [w["ref"], "P000000000"]) == {w["ref"]: w["pid"]}

    # (A) tombstoned, not yet erased: the pending withdrawal batch already carries them
    first = manifest_rows(source / "sequencing" / FIRST / "manifest.tsv")
    put_landing(lake, source, f"sequencing/{FIRST}")
    _check_delivery(lake, w, FIRST, len(first) - 1)
    assert spy.calls == [{w["pid"]}]
    apc_file = sorted((source / "clinical" / "hes_apc").glob("*.txt"))
    header, apc_lines = _text(apc_file[0])
    _check_extract(lake, w, APC, apc_file[0].name, apc_lines, header)
    assert spy.calls == [{w["pid"]}, {w["pid"]}]  # once per file, never per row
    assert withdrawal_batches.read(lake)["reason"].to_list() == ["withdrawal"]
    _assert_nothing_curated(lake, w)

    # the withdrawal is propagated: registry and consent rows erased, the batch complete
    lake.delete(PARTICIPANT_REGISTRY, {"participant_id": w["pid"]})
    lake.delete(CONSENT_STATUS, {"participant_id": w["pid"]})
    withdrawal_batches.mark(lake, withdrawal_batch, "complete", NOW)
    assert linkage.link_references(lake, [w["ref"]]) == {}

    # (B) a new delivery: the second delivery's samples plus the withdrawn one's gVCF
    landing = tmp_path / "redelivery"
    folder = landing / "sequencing" / REDELIVERY
    second = source / "sequencing" / SECOND
    shutil.copytree(second / "gvcf", folder / "gvcf")
    for path in (w["sample"]["gvcf_path"], w["sample"]["tbi_path"]):
        shutil.copy(source / "sequencing" / FIRST / path, folder / path)
    others = manifest_rows(second / "manifest.tsv")
    write_manifest(folder / "manifest.tsv", [others[0], w["sample"], *others[1:]])
    put_landing(lake, landing, f"sequencing/{REDELIVERY}")
    spy.calls.clear()
    _check_delivery(lake, w, REDELIVERY, len(others))
    assert spy.calls == [{w["pid"]}]
    redelivery = withdrawal_batches.read(lake).filter(pl.col("reason") == "redelivery")
    assert redelivery.height == 1 and redelivery["status"][0] == "pending"
    assert withdrawal_batches.members(lake, str(redelivery["batch_id"][0])) == [w["pid"]]

    # new extracts: HES APC (the later delivery's rows plus theirs) and ONS mortality
    _, later = _text(apc_file[1])
    nhs_at = header.split("|").index("NEWNHSNO")
    theirs = [line for line in apc_lines if line.split("|")[nhs_at] == w["nhs"]]
    _check_extract(lake, w, APC, "hes_apc_20261015.txt", [*later[:5], *theirs, *later[5:]], header)
    ons_header, _ = _text(next(iter(sorted((source / "clinical" / "ons_mortality").glob("*")))))
    alive = (
        w["registry"]
        .filter(
            pl.col("participant_id").is_in(sorted(w["ok"]))
            & pl.col("participant_id").is_in(sorted(w["alive"]))
            & (pl.col("participant_id") != w["pid"])
        )
        .sort("participant_reference")
        .head(2)
    )
    people = [(r["nhs_number"], r["date_of_birth"]) for r in alive.iter_rows(named=True)]
    people.insert(1, (w["nhs"], w["dob"]))
    width = len(ons_header.split("|"))
    ons_lines = []
    for nhs, dob in people:
        row = f"{nhs}|{dob.isoformat()}|1|20250110|20250114|I219|I219|I10"
        ons_lines.append(row + "|" * (width - len(row.split("|"))))
    _check_extract(lake, w, ONS, "ons_mortality_20261015.txt", ons_lines, ons_header)
    assert spy.calls == [{w["pid"]}] * 3
    assert withdrawal_batches.read(lake).filter(pl.col("reason") == "redelivery").height == 1
    _assert_nothing_curated(lake, w)

    # a re-sent registration is refused by consent intake the same way
    reg_header, reg_lines = _text(sorted((source / "consent" / "registrations").glob("*"))[0])
    mine = [line for line in reg_lines if line.split(",")[0] == w["ref"]]
    assert mine
    key = "consent/registrations/registrations_resent.csv"
    land(lake, key, ("\n".join([reg_header, mine[0]]) + "\n").encode())
    summary = consent_intake.run(lake, "consent-resent", NOW)
    assert summary.registrations.rejects_by_rule == {RULE: 1}
    assert _quarantine(lake, "consent_registrations", key)["rule"].to_list() == [RULE]
    assert _ledger(lake, key) == ("processed", 1, 0, 1)
    assert w["ref"] not in lake.read(PARTICIPANT_REGISTRY)["participant_reference"].to_list()
    assert w["pid"] not in lake.read(CONSENT_STATUS)["participant_id"].to_list()
    _assert_nothing_curated(lake, w)
    _assert_reasons_safe(lake, w)

    # the redelivery batch is propagated like any withdrawal: the re-delivered objects
    # (their gVCF and index, their lines in the new manifest, extracts and registration)
    # are purged, the other lines keep their numbers, nothing of them is left anywhere
    batch = str(redelivery["batch_id"][0])
    targets = erasure_targets(build_definitions(lake).resolve_asset_graph())
    assert propagate.propagate(lake, batch, targets).completed
    folder = f"{seq_intake.PREFIX}/{REDELIVERY}"
    assert not objects.exists(lake.landing(f"{folder}/{w['sample']['gvcf_path']}"))
    assert not objects.exists(lake.landing(f"{folder}/{w['sample']['tbi_path']}"))
    text = objects.read_bytes(lake.landing(f"{folder}/manifest.tsv")).decode()
    assert [r["sample_id"] for r in manifest_rows(text)] == [r["sample_id"] for r in others]
    assert text.splitlines()[2] == ""  # their line blanked, the others keep their numbers
    needles = [w["ref"], w["pid"], w["nhs"], w["sample"]["sample_id"]]
    findings, scanned = propagate.residue_scan(lake, needles)
    assert findings == [], sorted({f.uri for f in findings})[:10]
    assert scanned > 20


def test_after_a_completed_withdrawal_no_landing_file_keeps_the_participant(where, tmp_path):
    """The issue: after every batch reported ``complete``, the withdrawn participant's
    reference and NHS number were still in landing, in a notice re-sent after the
    withdrawal and in a registrations file re-sent after it (their redelivery batch knew
    only the internal id, so its purge and its residue scan looked for nothing else). Only
    the tombstone may remain: the re-sent files are rewritten without their lines (the
    other lines keep their numbers), on versioned S3 with every old version deleted, and
    the erasure scan (``ngrl erasure-scan``) of the reference is clean."""
    lake = where
    if lake.root_uri.startswith("s3://"):
        client = objects.s3_client()
        bucket, _ = objects.split_s3(lake.zone("landing"))
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ann, bo, cy = "P000000301", "P000000302", "P000000303"
    nhs = {ann: "9434765919", bo: "4010232137", cy: "9434765870"}
    registrations = registrations_file(*(registration(r, nhs=n) for r, n in nhs.items()))
    land(lake, "consent/registrations/registrations_20260101.csv", registrations)
    consent_intake.run(lake, "consent-1", NOW)
    land(
        lake,
        "consent/withdrawals/withdrawals_20260201.csv",
        withdrawals_file(f"{ann},full,2026-02-01"),
    )
    consent_intake.run(lake, "consent-2", NOW)
    [withdrawal] = withdrawal_batches.read(lake)["batch_id"].to_list()
    targets = erasure_targets(build_definitions(lake).resolve_asset_graph())
    assert propagate.propagate(lake, withdrawal, targets).completed

    # re-sent after the withdrawal: the registrations (all three) and the notice (with a
    # "no further contact" of another participant on its next line)
    resent = {
        "consent/registrations/registrations_20260301_resent.csv": registrations,
        "consent/withdrawals/withdrawals_20260301_resent.csv": withdrawals_file(
            f"{ann},full,2026-02-01", f"{bo},no_further_contact,2026-03-01"
        ),
    }
    for key, data in resent.items():
        land(lake, key, data)
    summary = consent_intake.run(lake, "consent-3", NOW)
    assert summary.registrations.rejects_by_rule == {RULE: 1}
    assert summary.withdrawals.rejects_by_rule == {RULE: 1}
    pending = propagate.participants_pending(lake)
    assert len(pending) == 1 and pending != [withdrawal]
    assert propagate.propagate(lake, pending[0], targets).completed
    assert set(withdrawal_batches.read(lake)["status"].to_list()) == {"complete"}

    # the re-sent files hold the others' lines at their numbers, theirs blanked
    for key, data in resent.items():
        lines = objects.read_bytes(lake.landing(key)).decode().split("\n")
        before = data.decode().split("\n")
        assert lines == ["" if ann in line else line for line in before], key
    # the erasure scan of the reference (with the NHS number the DPO holds) is clean,
    # landing included, old S3 versions included
    needles, kinds = needles_for(lake, ann, None, [("NHS number", nhs[ann])])
    assert {"participant reference", "internal id", "NHS number"} <= set(kinds)
    findings, scanned = propagate.residue_scan(lake, needles)
    assert findings == [], sorted({f.uri for f in findings})
    assert scanned > 10
    assert lake.read(PARTICIPANT_REGISTRY)["participant_reference"].sort().to_list() == [bo, cy]
