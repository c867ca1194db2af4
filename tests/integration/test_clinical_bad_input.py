"""Every kind of bad clinical input, one crafted file each, through the real intake on a
real lake: a clear file-level error or quarantined lines with file, line and rule, the
rest curated, and counts that reconcile. Also re-delivery, re-runs and full refresh."""

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from ngrl_assets.clinical import intake
from ngrl_assets.clinical.sources import SOURCES
from ngrl_assets.common.ledger import LEDGER_TABLE
from ngrl_assets.common.quarantine import QUARANTINE_TABLE
from ngrl_assets.consent import intake as consent_intake
from ngrl_assets.synth import generate_cohort
from resources.lake import LakeResource
from tests.integration.lakes import put_landing, read

APC = SOURCES["hes_apc"]
ONS = SOURCES["ons_mortality"]
TODAY = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, list[str], list[str]]:
    """A lake with consent ingested, and HES APC lines of consenting participants."""
    landing = tmp_path_factory.mktemp("landing")
    generate_cohort(landing, participants=40, seed=8, defect_rate=0.0, real_gvcf_dir=None)
    root = tmp_path_factory.mktemp("lake")
    lake = LakeResource(root_uri=str(root))
    put_landing(lake, landing, "consent")
    consent_intake.run(lake, "setup")
    registry = read(lake, "identity", "participant_registry")
    consent = read(lake, "curated", "consent_status")
    ok = consent.filter(
        pl.col("research_discussed")
        & pl.col("research_agreed")
        & (pl.col("withdrawal_state") != "full")
    )["participant_id"]
    allowed = set(registry.filter(pl.col("participant_id").is_in(ok.implode()))["nhs_number"])
    text = next((landing / "clinical" / "hes_apc").glob("*.txt")).read_text().splitlines()
    header, lines = text[0], text[1:]
    nhs = header.split("|").index("NEWNHSNO")
    good = [line for line in lines if line.split("|")[nhs] in allowed][:30]
    assert len(good) >= 10
    deaths = registry.filter(pl.col("participant_id").is_in(ok.implode())).head(5)
    ons = [
        f"{r['nhs_number']}|{r['date_of_birth'].isoformat()}|1|20250110|20250114|I219|I219|I10"
        + "|" * 13
        for r in deaths.iter_rows(named=True)
    ]
    return root, [header, *good], ons


@pytest.fixture
def lake(base, tmp_path) -> LakeResource:
    root = tmp_path / "lake"
    shutil.copytree(base[0], root, ignore=shutil.ignore_patterns("landing"))
    return LakeResource(root_uri=str(root))


def deliver(lake: LakeResource, source, name: str, data: bytes | str) -> None:
    path = Path(lake.uri("landing", source.feed, name))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def ingest(lake, source, name, data, mode="incremental") -> intake.ExtractResult:
    deliver(lake, source, name, data)
    result = intake.ingest_extract(lake, source, name, "test", mode=mode, today=TODAY)
    assert result.rows_in == result.rows_curated + result.rows_quarantined
    return result


def rejects(lake, name) -> list[tuple[int, str, str]]:
    q = read(lake, "quarantine", QUARANTINE_TABLE).filter(pl.col("source_file").str.ends_with(name))
    return sorted(zip(q["line"], q["rule"], q["reason"], strict=True))


def curated(lake, source, name) -> int:
    return read(lake, "curated", source.table).filter(pl.col("delivery") == name).height


def edit(line: str, header: str, **fields: str) -> str:
    names = header.split("|")
    values = line.split("|")
    for k, v in fields.items():
        values[names.index(k)] = v
    return "|".join(values)


def text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def test_a_clean_file_is_curated_whole(lake, base):
    lines = base[1]
    r = ingest(lake, APC, "hes_apc_20260901.txt", text(lines))
    assert (r.status, r.rows_in, r.rows_curated, r.rows_quarantined) == (
        "processed",
        len(lines) - 1,
        len(lines) - 1,
        0,
    )


@pytest.mark.parametrize(("separator", "word"), [(",", "comma"), ("\t", "tab")])
def test_wrong_delimiter_refuses_the_file(lake, base, separator, word):
    lines = [line.replace("|", separator) for line in base[1]]
    r = ingest(lake, APC, "hes_apc_20260902.txt", text(lines))
    assert r.status == "quarantined" and r.rows_quarantined == r.rows_in == len(lines) - 1
    [(line, rule, reason)] = rejects(lake, "hes_apc_20260902.txt")
    assert (line, rule) == (1, "wrong_delimiter") and word in reason
    assert r.table_rows == 0


def test_missing_required_column_is_named(lake, base):
    header = base[1][0].split("|")
    drop = header.index("EPIKEY")
    lines = ["|".join(v for i, v in enumerate(line.split("|")) if i != drop) for line in base[1]]
    r = ingest(lake, APC, "hes_apc_20260903.txt", text(lines))
    [(line, rule, reason)] = rejects(lake, "hes_apc_20260903.txt")
    assert (line, rule, r.status) == (1, "missing_columns", "quarantined")
    assert "EPIKEY" in reason


def test_unexpected_extra_column_is_named(lake, base):
    lines = [base[1][0] + "|HOMEADD"] + [line + "|x" for line in base[1][1:]]
    ingest(lake, APC, "hes_apc_20260904.txt", text(lines))
    [(line, rule, reason)] = rejects(lake, "hes_apc_20260904.txt")
    assert (line, rule) == (1, "unexpected_columns") and "HOMEADD" in reason


def test_latin1_line_is_quarantined_and_the_rest_curated(lake, base):
    header, rows = base[1][0], base[1][1:]
    data = text([header, *rows]).encode()
    target = rows[3].encode()
    bad = edit(rows[3], header, PROCODE3="R\u00c9X").encode("latin-1")
    data = data.replace(target, bad)
    r = ingest(lake, APC, "hes_apc_20260905.txt", data)
    assert rejects(lake, "hes_apc_20260905.txt") == [
        (5, "encoding", "line is not UTF-8 (latin-1?)")
    ]
    assert r.rows_curated == len(rows) - 1


def test_malformed_future_and_invalid_code_values(lake, base):
    header, rows = base[1][0], base[1][1:]
    rows = list(rows)
    rows[0] = edit(rows[0], header, EPISTART="2024-13-01")
    rows[1] = edit(rows[1], header, EPIEND="2099-01-01")
    rows[2] = edit(rows[2], header, DIAG_4_03="C5O9")
    rows[3] = edit(rows[3], header, OPERTN_4_01="W40")
    rows[4] = edit(rows[4], header, MYDOB="131990")
    rows[5] = edit(rows[5], header, NEWNHSNO="99912A4567")
    rows[6] = edit(rows[6], header, EPIKEY="")
    rows[7] = edit(rows[7], header, EPIDUR="three")
    r = ingest(lake, APC, "hes_apc_20260906.txt", text([header, *rows]))
    got = rejects(lake, "hes_apc_20260906.txt")
    assert [(line, rule) for line, rule, _ in got] == [
        (2, "invalid_date"),
        (3, "future_date"),
        (4, "invalid_icd10"),
        (5, "invalid_opcs4"),
        (6, "invalid_date"),
        (7, "nhs_number_non_digit"),
        (8, "missing_required"),
        (9, "invalid_number"),
    ]
    reasons = [reason for *_, reason in got]
    for field, reason in zip(
        ["EPISTART", "EPIEND", "DIAG_4_03", "OPERTN_4_01", "MYDOB", "NEWNHSNO", "EPIKEY", "EPIDUR"],
        reasons,
        strict=True,
    ):
        assert field in reason
    assert r.rows_curated == len(rows) - 8


def test_duplicate_keys_in_the_file_and_across_deliveries(lake, base):
    header, rows = base[1][0], base[1][1:]
    first = ingest(lake, APC, "hes_apc_20260907.txt", text([header, *rows[:10], rows[2]]))
    assert rejects(lake, "hes_apc_20260907.txt") == [
        (12, "duplicate_key", "EPIKEY repeats an earlier line of this file")
    ]
    assert first.rows_curated == 10
    later = ingest(lake, APC, "hes_apc_20260908.txt", text([header, rows[10], rows[4]]))
    assert rejects(lake, "hes_apc_20260908.txt") == [
        (3, "duplicate_key", "EPIKEY was already curated from an earlier delivery")
    ]
    assert later.rows_curated == 1
    assert read(lake, "curated", "hes_apc")["epikey"].is_unique().all()


def test_empty_and_header_only_files(lake, base):
    empty = ingest(lake, APC, "hes_apc_20260909.txt", b"")
    assert (empty.status, empty.rows_in) == ("quarantined", 0)
    assert rejects(lake, "hes_apc_20260909.txt") == [(0, "empty_file", "file is empty (0 bytes)")]
    header_only = ingest(lake, APC, "hes_apc_20260910.txt", text([base[1][0]]))
    assert (header_only.status, header_only.rows_in) == ("processed", 0)
    assert header_only.warnings


def test_header_only_full_refresh_does_not_empty_the_table(lake, base):
    ingest(lake, APC, "hes_apc_20260911.txt", text(base[1]), mode="full")
    before = read(lake, "curated", "hes_apc").height
    r = ingest(lake, APC, "hes_apc_20260912.txt", text([base[1][0]]), mode="full")
    assert r.status == "quarantined"
    assert [rule for _, rule, _ in rejects(lake, "hes_apc_20260912.txt")] == ["header_only"]
    assert read(lake, "curated", "hes_apc").height == before


def test_truncated_last_line_and_ragged_lines(lake, base):
    header, rows = base[1][0], list(base[1][1:])
    rows[2] = rows[2] + "|extra"
    cut = rows[-1][: len(rows[-1]) // 2]
    data = "\n".join([header, *rows[:-1], cut])  # no final newline
    r = ingest(lake, APC, "hes_apc_20260913.txt", data)
    got = [(line, rule) for line, rule, _ in rejects(lake, "hes_apc_20260913.txt")]
    assert got == [(4, "field_count"), (len(rows) + 1, "truncated_line")]
    assert r.rows_in == len(rows) and r.rows_curated == len(rows) - 2


def test_death_before_birth_and_other_ons_rules(lake, base):
    header = "|".join(ONS.columns)
    rows = list(base[2])
    dob = rows[0].split("|")[1]
    before = (dt.date.fromisoformat(dob) - dt.timedelta(days=3)).strftime("%Y%m%d")
    rows[0] = "|".join([*rows[0].split("|")[:3], before, before, *rows[0].split("|")[5:]])
    rows[1] = "|".join([*rows[1].split("|")[:4], "20250101", *rows[1].split("|")[5:]])
    rows[2] = rows[2].replace("|I219|I219|", "|I219|C50.99.1|")
    r = ingest(lake, ONS, "ons_mortality_20260901.txt", text([header, *rows]))
    got = [(line, rule) for line, rule, _ in rejects(lake, "ons_mortality_20260901.txt")]
    assert got == [
        (2, "death_before_birth"),
        (3, "registration_before_death"),
        (4, "invalid_icd10"),
    ]
    assert r.rows_curated == 2


def test_a_later_ons_registration_replaces_the_earlier_one(lake, base):
    header = "|".join(ONS.columns)
    first = ingest(lake, ONS, "ons_mortality_20260901.txt", text([header, *base[2]]))
    assert first.rows_curated == len(base[2])
    correction = base[2][0].replace("20250114", "20250301").replace("|I219|I219|", "|C349|C349|")
    stale = base[2][1].replace("20250114", "20250112")
    r = ingest(lake, ONS, "ons_mortality_20260902.txt", text([header, correction, stale]))
    assert r.rows_replaced == 1 and r.rows_curated == 1
    assert rejects(lake, "ons_mortality_20260902.txt") == [
        (
            3,
            "superseded_registration",
            "a registration of the same death with a later REG_DATE replaces this row",
        )
    ]
    deaths = read(lake, "curated", "mortality")
    assert deaths.height == len(base[2])
    assert deaths.filter(pl.col("reg_date") == dt.date(2025, 3, 1))[
        "s_underlying_cod_icd10"
    ].to_list() == ["C349"]


def test_redelivered_bytes_change_nothing_and_reruns_are_idempotent(lake, base):
    data = text(base[1])
    ingest(lake, APC, "hes_apc_20260914.txt", data)
    table = read(lake, "curated", "hes_apc").sort("epikey")
    again = ingest(lake, APC, "hes_apc_20260915.txt", data)
    assert (again.status, again.duplicate_of) == (
        "duplicate",
        "clinical/hes_apc/hes_apc_20260914.txt",
    )
    assert read(lake, "curated", "hes_apc").sort("epikey").equals(table)
    ledger = read(lake, "audit", LEDGER_TABLE)
    assert ledger.filter(pl.col("landing_key").str.ends_with("20260915.txt"))[
        "status"
    ].to_list() == ["duplicate"]
    rerun = intake.ingest_extract(lake, APC, "hes_apc_20260914.txt", "rerun", today=TODAY)
    assert rerun.rows_curated == table.height and rerun.rows_quarantined == 0
    assert (
        read(lake, "curated", "hes_apc")
        .drop("delivery")
        .sort("epikey")
        .equals(table.drop("delivery"))
    )


def test_full_refresh_replaces_the_table_incremental_adds(lake, base):
    header, rows = base[1][0], base[1][1:]
    ingest(lake, APC, "hes_apc_20260916.txt", text([header, *rows[:10]]))
    ingest(lake, APC, "hes_apc_20260917.txt", text([header, *rows[10:15]]))
    assert read(lake, "curated", "hes_apc").height == 15
    full = ingest(lake, APC, "hes_apc_20260918.txt", text([header, *rows[5:12]]), mode="full")
    assert full.rows_replaced == 15 and full.rows_curated == 7
    table = read(lake, "curated", "hes_apc")
    assert table.height == 7 and set(table["delivery"]) == {"hes_apc_20260918.txt"}


def test_padded_values_and_crlf_line_ends_are_trimmed(lake, base):
    header, rows = base[1][0], base[1][1:6]
    padded = [
        edit(
            r,
            header,
            DIAG_4_01=" K35.8 ",
            EPISTART=" " + r.split("|")[header.split("|").index("EPISTART")],
        )
        for r in rows
    ]
    r = ingest(lake, APC, "hes_apc_20260919.txt", "\r\n".join([header, *padded]) + "\r\n")
    assert (r.rows_curated, r.rows_quarantined) == (5, 0)
    table = read(lake, "curated", "hes_apc")
    assert set(table["diag_4_01"]) == {"K358"}
    assert table["epistart"].null_count() == 0


def test_an_older_full_refresh_cannot_roll_the_table_back(lake, base):
    header, rows = base[1][0], base[1][1:]
    ingest(lake, APC, "hes_apc_20260920.txt", text([header, *rows[:5]]), mode="full")
    deliver(lake, APC, "hes_apc_20260801.txt", text([header, *rows[5:9]]))
    with pytest.raises(intake.StaleDeliveryError, match=r"hes_apc_20260920\.txt"):
        intake.ingest_extract(lake, APC, "hes_apc_20260801.txt", "t", mode="full", today=TODAY)
    assert set(read(lake, "curated", "hes_apc")["delivery"]) == {"hes_apc_20260920.txt"}
    again = intake.ingest_extract(lake, APC, "hes_apc_20260920.txt", "t", mode="full", today=TODAY)
    assert again.rows_curated == 5  # re-running the newest is fine


def test_delivery_modes_come_from_configuration(monkeypatch):
    from resources.clinical_feeds import ClinicalFeedsResource

    monkeypatch.setenv("NGRL_CLINICAL_FULL_REFRESH", "av_tumour, ons_mortality")
    feeds = ClinicalFeedsResource.from_env()
    assert [feeds.mode(s) for s in SOURCES] == [
        "incremental",
        "incremental",
        "incremental",
        "full",
        "full",
    ]
    with pytest.raises(ValueError, match="hes_xyz"):
        ClinicalFeedsResource(full_refresh_sources=["hes_xyz"]).mode("hes_apc")
