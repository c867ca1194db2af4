"""Every kind of bad clinical input, one crafted file each, through the real intake on a
real lake: a clear file-level error or quarantined lines with file, line and rule, the
rest curated, and counts that reconcile. Also re-delivery, re-runs and full refresh."""

import datetime as dt
import re
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
from resources.lake import Lake
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
    lake = Lake(root_uri=str(root))
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
def lake(base, tmp_path) -> Lake:
    root = tmp_path / "lake"
    shutil.copytree(base[0], root, ignore=shutil.ignore_patterns("landing"))
    return Lake(root_uri=str(root))


def deliver(lake: Lake, source, name: str, data: bytes | str) -> None:
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
    from resources.clinical_feeds import ClinicalFeeds

    monkeypatch.setenv("NGRL_CLINICAL_FULL_REFRESH", "av_tumour, ons_mortality")
    feeds = ClinicalFeeds.from_env()
    assert [feeds.mode(s) for s in SOURCES] == [
        "incremental",
        "incremental",
        "incremental",
        "full",
        "full",
    ]
    with pytest.raises(ValueError, match="hes_xyz"):
        ClinicalFeeds(full_refresh_sources=["hes_xyz"]).mode("hes_apc")


def test_hes_counts_written_as_5_0_and_the_dash_diagnosis_filler(lake, base):
    """Real HES APC writes DIAG_COUNT as 5.0 and '-' in unused DIAG_4_nn positions: both
    accepted as HES means them (5; no code); real garbage is still rejected."""
    from ngrl_assets.clinical import diagnoses

    header, rows = base[1][0], list(base[1][1:8])
    unused = {f"DIAG_4_{i:02d}": "-" for i in range(3, 21)}
    hes = [
        edit(
            r, header, DIAG_4_01="K358", DIAG_4_02="I10X", DIAG_COUNT="2.0", EPIDUR="3.0", **unused
        )
        for r in rows
    ]
    hes[4] = edit(hes[4], header, DIAG_COUNT="5.5")
    hes[5] = edit(hes[5], header, DIAG_4_02="7999")
    hes[6] = edit(hes[6], header, DIAG_4_03="0000")
    r = ingest(lake, APC, "hes_apc_20260921.txt", text([header, *hes]))
    assert rejects(lake, "hes_apc_20260921.txt") == [
        (6, "invalid_number", "DIAG_COUNT is not a whole number (5 or 5.0)"),
        (7, "invalid_icd10", "DIAG_4_02 is not an ICD-10 code"),
        (8, "invalid_icd10", "DIAG_4_03 is not an ICD-10 code"),
    ]
    assert (r.rows_curated, r.rows_quarantined) == (4, 3)
    table = read(lake, "curated", "hes_apc")
    assert table["diag_count"].to_list() == [2] * 4 and table["epidur"].to_list() == [3] * 4
    assert table["diag_4_02"].to_list() == ["I10"] * 4
    for i in range(3, 21):
        assert table[f"diag_4_{i:02d}"].null_count() == 4
    diagnoses.build(lake)
    codes = read(lake, "curated", diagnoses.TABLE)
    assert sorted(codes["position"].to_list()) == [1] * 4 + [2] * 4
    assert codes["icd10_code"].str.contains(r"^[A-Z][0-9]{2}[0-9]?$").all()


def test_a_required_icd10_field_holding_the_filler_is_missing(lake, base):
    header = "|".join(ONS.columns)
    rows = [base[2][0].replace("|I219|I219|", "|-|I219|"), base[2][1]]
    r = ingest(lake, ONS, "ons_mortality_20260903.txt", text([header, *rows]))
    assert rejects(lake, "ons_mortality_20260903.txt") == [
        (2, "missing_required", "S_UNDERLYING_COD_ICD10 is empty or the '-' filler")
    ]
    assert r.rows_curated == 1


def test_a_1_mib_field_is_rejected_with_file_and_line(lake, base):
    from ngrl_assets.clinical.sources import FIELD_LIMITS

    header, rows = base[1][0], list(base[1][1:6])
    rows[2] = edit(rows[2], header, GPPRAC="A" * (1 << 20))
    rows[3] = edit(rows[3], header, PROCODE3="R" * (FIELD_LIMITS["text"] + 1))
    rows[4] = edit(rows[4], header, GPPRAC="G" * FIELD_LIMITS["text"])  # at the limit: fine
    r = ingest(lake, APC, "hes_apc_20260922.txt", text([header, *rows]))
    limit = FIELD_LIMITS["text"]
    assert rejects(lake, "hes_apc_20260922.txt") == [
        (4, "field_too_long", f"GPPRAC is longer than {limit} bytes"),
        (5, "field_too_long", f"PROCODE3 is longer than {limit} bytes"),
    ]
    q = read(lake, "quarantine", QUARANTINE_TABLE).filter(pl.col("rule") == "field_too_long")
    assert set(q["source_file"]) == set(q["batch"]) == {"clinical/hes_apc/hes_apc_20260922.txt"}
    assert (r.rows_curated, r.rows_quarantined) == (3, 2)
    table = read(lake, "curated", "hes_apc")
    assert table["gpprac"].str.len_bytes().max() == limit


HOSTILE_NAMES = [
    "hes_apc_20260931.txt",  # no such date
    "hes_apc_20260901.TXT",
    "hes_op_20260901.txt",  # another source's name
    "Referral for John Smith 9434765919.csv",
    "x'; DELETE FROM hes_apc; --.txt",
    "line\nbreak.txt",
    "sub/hes_apc_20260901.txt",
]


def test_unrecognised_file_names_are_quarantined_never_ignored(lake, base, caplog):
    """Every landing object ends in the ledger: a name outside the documented pattern is
    quarantined whole (honest rows_in), through a partition key that is a hash of the
    name; the name never reaches a partition key, run key, log line or predicate."""
    import dagster as dg

    from ngrl_assets.clinical.sensors import CLINICAL_SENSORS
    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.pipeline import run_clinical

    good = text(base[1][:4])
    deliver(lake, APC, "hes_apc_20260923.txt", good)
    for name in HOSTILE_NAMES:
        deliver(lake, APC, name, good)
    deliver(lake, APC, "binary.bin", b"\x00\xff\xfe")  # unreadable as an extract: 0 rows
    defs = build_definitions(lake)
    with dg.instance_for_test() as instance:
        sensor = next(s for s in CLINICAL_SENSORS if s.name == "hes_apc_sensor")
        with dg.build_sensor_context(instance=instance, resources={"lake": lake}) as ctx:
            result = sensor(ctx)
        assert isinstance(result, dg.SensorResult) and result.run_requests
        keys = [str(r.partition_key) for r in result.run_requests]
        assert keys[0] == "hes_apc_20260923.txt"
        assert len(keys) == 1 + len(HOSTILE_NAMES) + 1
        assert all(re.fullmatch(r"unrecognised-[0-9a-f]{16}", k) for k in keys[1:])
        assert all(r.run_key == f"clinical/hes_apc/{r.partition_key}" for r in result.run_requests)
        runs = run_clinical(defs, lake, instance)
        assert all(run.success for run in runs)
        logged = (
            "\n".join(
                str(e.dagster_event or "") + (e.user_message or "")
                for run in runs
                for e in instance.all_logs(run.run_id)
            )
            + caplog.text
        )
    ledger = read(lake, "audit", LEDGER_TABLE)
    by_key = {r["landing_key"]: r for r in ledger.iter_rows(named=True)}
    for name in HOSTILE_NAMES:
        row = by_key[f"clinical/hes_apc/{name}"]
        assert (row["status"], row["rows_in"], row["rows_accepted"]) == ("quarantined", 3, 0)
        assert row["rows_quarantined"] == 3
    binary = by_key["clinical/hes_apc/binary.bin"]
    assert (binary["status"], binary["rows_in"], binary["rows_quarantined"]) == (
        "quarantined",
        0,
        0,
    )
    assert by_key["clinical/hes_apc/hes_apc_20260923.txt"]["status"] == "processed"
    q = read(lake, "quarantine", QUARANTINE_TABLE).filter(
        pl.col("rule") == "unrecognised_file_name"
    )
    assert q.height == len(HOSTILE_NAMES) + 1 and set(q["line"]) == {0}
    assert set(q["source_file"]) == {
        f"clinical/hes_apc/{n}" for n in [*HOSTILE_NAMES, "binary.bin"]
    }
    assert all(re.fullmatch(r"clinical/hes_apc/unrecognised-[0-9a-f]{16}", b) for b in q["batch"])
    assert "unrecognised_file_name" in logged  # the logs were read, and say what happened
    for secret in ("John Smith", "9434765919", "DELETE FROM", "line\nbreak", "20260931"):
        assert secret not in logged
    # the curated table holds only the recognised delivery
    assert set(read(lake, "curated", "hes_apc")["delivery"]) == {"hes_apc_20260923.txt"}


def test_intake_refuses_a_name_that_is_neither_a_delivery_nor_a_hash_key(lake):
    for name in ["x'; DROP TABLE hes_apc; --.txt", "../hes_apc_20260901.txt", "unrecognised-XYZ"]:
        with pytest.raises(ValueError, match="not a hes_apc delivery file name"):
            intake.ingest_extract(lake, APC, name, "t", today=TODAY)
    with pytest.raises(FileNotFoundError):
        intake.ingest_extract(lake, APC, "unrecognised-0123456789abcdef", "t", today=TODAY)


def test_ledger_reconciliation_fails_on_a_tampered_table(lake, base):
    """The check that replaced rows_conserved: the table agrees with the ledger delivery by
    delivery, and says so when rows vanish or appear behind intake's back."""
    import dagster as dg

    from ngrl_assets.clinical.reconcile import reconcile
    from ngrl_assets.clinical.tables import EXTRACTS
    from ngrl_assets.definitions import build_definitions

    header, rows = base[1][0], base[1][1:]
    ingest(lake, APC, "hes_apc_20260924.txt", text([header, *rows[:6]]))
    ingest(lake, APC, "hes_apc_20260925.txt", text([header, *rows[6:10], rows[0]]))  # 1 dup
    assert reconcile(lake, APC, "incremental").passed
    spec = EXTRACTS["hes_apc"]
    table = lake.read(spec)
    victim = table.filter(pl.col("delivery") == "hes_apc_20260924.txt")["epikey"][0]
    lake.delete(spec, {"epikey": int(victim)})
    lost = reconcile(lake, APC, "incremental")
    assert not lost.passed and lost.mismatched == ["hes_apc_20260924.txt"]
    assert (lost.rows_missing, lost.rows_unexpected) == (1, 0)
    forged = table.filter(pl.col("epikey") == victim).with_columns(
        pl.lit("hes_apc_20260101.txt").alias("delivery")
    )
    lake.append(spec, forged)
    both = reconcile(lake, APC, "incremental")
    assert sorted(both.mismatched) == ["hes_apc_20260101.txt", "hes_apc_20260924.txt"]
    assert (both.rows_missing, both.rows_unexpected) == (1, 1)
    # the same through Dagster: the standalone check fails, with counts only
    defs = build_definitions(lake)
    job = dg.define_asset_job(
        "reconcile",
        selection=dg.AssetSelection.checks(
            dg.AssetCheckKey(dg.AssetKey("hes_apc"), "ledger_reconciled")
        ),
    ).resolve(asset_graph=defs.resolve_asset_graph(), resource_defs=defs.resources)
    with dg.instance_for_test() as instance:
        run = job.execute_in_process(instance=instance, raise_on_error=False)
    [evaluation] = run.get_asset_check_evaluations()
    assert evaluation.passed is False
    assert evaluation.metadata["rows_missing"].value == 1


def test_ledger_reconciliation_follows_full_refresh_and_ons_semantics(lake, base):
    from ngrl_assets.clinical.reconcile import reconcile
    from ngrl_assets.clinical.tables import EXTRACTS

    header, rows = base[1][0], base[1][1:]
    ingest(lake, APC, "hes_apc_20260926.txt", text([header, *rows[:6]]), mode="full")
    ingest(lake, APC, "hes_apc_20260927.txt", text([header, *rows[3:9]]), mode="full")
    assert reconcile(lake, APC, "full").passed  # the first refresh is gone, as it should be
    assert not reconcile(lake, APC, "incremental").passed  # the same table read as increments
    lake.append(
        EXTRACTS["hes_apc"],
        lake.read(EXTRACTS["hes_apc"])
        .head(1)
        .with_columns(
            pl.lit("hes_apc_20260926.txt").alias("delivery"), pl.lit(10**15).alias("epikey")
        ),
    )
    stale = reconcile(lake, APC, "full")
    assert stale.mismatched == ["hes_apc_20260926.txt"] and stale.rows_unexpected == 1
    ons = "|".join(ONS.columns)
    ingest(lake, ONS, "ons_mortality_20260904.txt", text([ons, *base[2]]))
    correction = base[2][0].replace("20250114", "20250301")
    r = ingest(lake, ONS, "ons_mortality_20260905.txt", text([ons, correction]))
    assert r.rows_replaced == 1
    assert reconcile(lake, ONS, "incremental").passed  # an earlier registration replaced
    lake.delete(EXTRACTS["ons_mortality"], {"delivery": "ons_mortality_20260905.txt"})
    assert reconcile(lake, ONS, "incremental").mismatched == ["ons_mortality_20260905.txt"]


def test_a_utf8_bom_is_not_part_of_the_first_column(lake, base):
    """Exports from Windows tools start with a byte order mark; it used to be reported as
    the first column (FYEAR) missing, quarantining the whole file."""
    _, lines, _ = base
    name = "hes_apc_20260102.txt"
    result = ingest(lake, APC, name, "\ufeff" + "\n".join(lines) + "\n")
    assert result.status == "processed"
    assert (result.rows_in, result.rows_curated, result.rows_quarantined) == (
        len(lines) - 1,
        len(lines) - 1,
        0,
    )
    assert rejects(lake, name) == []
