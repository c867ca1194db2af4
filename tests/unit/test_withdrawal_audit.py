"""The withdrawal audit ledger and the DPO's erasure report (ngrl_assets.withdrawal.audit)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pytest

from ngrl_assets import cli
from ngrl_assets.withdrawal import audit, batches, progress
from ngrl_assets.withdrawal.audit import AuditRow
from ngrl_assets.withdrawal.report import report_html, report_markdown, write_report
from ngrl_assets.withdrawal.scan import Finding
from ngrl_assets.withdrawal.tables import WITHDRAWAL_AUDIT, WITHDRAWAL_BATCHES
from resources import objects
from resources.lake import Lake

BATCH = "wd-0123456789ab"
PENDING = "wd-00000000beef"
T0 = dt.datetime(2026, 10, 1, 9, 0, 0, tzinfo=dt.UTC)
N_ROWS = 10


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def batch_row(batch_id: str, status: str, completed: dt.datetime | None) -> dict:
    return {
        "batch_id": batch_id,
        "reason": "withdrawal",
        "members": 3,
        "notice_landed_at": T0,
        "opened_at": at(2),
        "status": status,
        "completed_at": completed,
    }


def ledger(batch_id: str = BATCH, findings: list | None = None) -> list[AuditRow]:
    scan = audit.scan_detail(
        ["internal id", "internal id", "NHS number", "sample id", "pseudonym (release v1)"],
        objects_scanned=412,
        findings=findings or [],
    )
    return [
        AuditRow(batch_id, "genomics", "curated/site_qc", rows_removed=0, files_rewritten=2,
                 bytes_vacuumed=2048, version_before=4, version_after=5,
                 started_at=at(5), finished_at=at(6)),
        AuditRow(batch_id, "erase", "curated/consent_status", rows_removed=3,
                 files_rewritten=1, bytes_vacuumed=10_240, version_before=7, version_after=9,
                 started_at=at(6), finished_at=at(7)),
        AuditRow(batch_id, "erase", "curated/clinical_events", rows_removed=1234,
                 files_rewritten=17, bytes_vacuumed=5_242_880, version_before=20,
                 version_after=22, started_at=at(7), finished_at=at(9)),
        AuditRow(batch_id, "release", "releases/v1/participant", release_id="v1",
                 rows_removed=2, files_rewritten=1, bytes_vacuumed=777, version_before=0,
                 version_after=2, started_at=at(10), finished_at=at(11)),
        AuditRow(batch_id, "release genomics", "releases/v1/variant_sites", release_id="v1",
                 rows_removed=6, files_rewritten=3, started_at=at(9), finished_at=at(10),
                 detail={"sites_updated": 40, "sites_dropped": 6, "note": "never shown"}),
        AuditRow(batch_id, "release purge", "releases/v1/variant_sites", release_id="v1",
                 rows_removed=0, files_rewritten=0, bytes_vacuumed=4096, version_before=1,
                 version_after=3, started_at=at(10), finished_at=at(10)),
        AuditRow(batch_id, "landing", "landing", objects_deleted=4, files_rewritten=2,
                 rows_removed=5, started_at=at(12), finished_at=at(13),
                 detail={"lines_blanked": 5, "quarantine_rows_removed": 7}),
        AuditRow(batch_id, "identity", "identity/participant_registry", rows_removed=3,
                 files_rewritten=1, bytes_vacuumed=999, version_before=11, version_after=13,
                 started_at=at(14), finished_at=at(15)),
        AuditRow(batch_id, "scan", "lake", started_at=at(16), finished_at=at(20), detail=scan),
        AuditRow(batch_id, "complete", "identity/withdrawal_work", rows_removed=15,
                 files_rewritten=1, bytes_vacuumed=512, version_before=1, version_after=3,
                 started_at=at(20), finished_at=at(20), detail={"seconds": 900.5}),
    ]  # fmt: skip


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(root_uri=str(tmp_path / "lake"))
    lake.merge(
        WITHDRAWAL_BATCHES,
        pl.DataFrame(
            [batch_row(BATCH, "complete", at(93784 / 60)), batch_row(PENDING, "pending", None)],
            schema=dict(WITHDRAWAL_BATCHES.schema),
        ),
        ["batch_id"],
    )
    audit.record(lake, ledger())
    return lake


def table_row(md: str, first_cell: str) -> list[str]:
    """The cells of the Markdown table row whose first cell is ``first_cell``."""
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0] == first_cell:
                return cells
    raise AssertionError(f"no row {first_cell!r} in\n{md}")


def section(md: str, title: str) -> str:
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_report_puts_each_count_in_its_row(lake):
    md = report_markdown(lake, BATCH)
    assert md.startswith(f"# Withdrawal erasure report: {BATCH}\n")
    assert "INCOMPLETE" not in md

    assert table_row(md, "reason")[1] == "withdrawal"
    assert table_row(md, "participants")[1] == "3"
    assert table_row(md, "notice landed")[1] == "2026-10-01 09:00:00 UTC"
    assert table_row(md, "propagation completed")[1] == "2026-10-02 11:03:04 UTC"
    assert table_row(md, "end to end (notice landed to completed)")[1] == (
        "1 d 2 h 3 min 4 s (93,784 s)"
    )

    tables = section(md, "Tables redacted")
    assert table_row(tables, "`curated/clinical_events`") == [
        "`curated/clinical_events`", "1,234", "17", "5,242,880 (5.0 MiB)", "20 -> 22",
        "2026-10-01 09:09:00 UTC",
    ]  # fmt: skip
    assert table_row(tables, "`curated/consent_status`") == [
        "`curated/consent_status`", "3", "1", "10,240 (10.0 KiB)", "7 -> 9",
        "2026-10-01 09:07:00 UTC",
    ]  # fmt: skip
    assert "2 tables, 1,237 rows removed in all." in tables
    assert table_row(section(md, "Aggregates recomputed"), "`curated/site_qc`")[1:5] == [
        "0", "2", "2,048 (2.0 KiB)", "4 -> 5",
    ]  # fmt: skip
    releases = section(md, "Releases redacted")
    assert [line for line in releases.splitlines() if line.startswith("| v1 |")] == [
        "| v1 | `releases/v1/variant_sites` | aggregates recomputed | 6 | 3 | - | - | "
        "2026-10-01 09:10:00 UTC |",
        "| v1 | `releases/v1/variant_sites` | history purged | 0 | 0 | 4,096 (4.0 KiB) | "
        "1 -> 3 | 2026-10-01 09:10:00 UTC |",
        "| v1 | `releases/v1/participant` | rows redacted | 2 | 1 | 777 | 0 -> 2 | "
        "2026-10-01 09:11:00 UTC |",
    ]
    assert "Releases redacted: v1." in releases
    assert "sites dropped 6, sites updated 40" in releases
    assert "never shown" not in md  # text in a detail is never printed
    landing = section(md, "Landing objects")
    assert table_row(landing, "`landing`") == [
        "`landing`", "4", "2", "5", "2026-10-01 09:13:00 UTC",
    ]  # fmt: skip
    assert "lines blanked 5, quarantine rows removed 7" in landing
    identity = section(md, "Identity")
    assert table_row(identity, "`identity/participant_registry`")[1:6] == [
        "identifiers removed", "3", "1", "999", "11 -> 13",
    ]  # fmt: skip
    assert table_row(identity, "`identity/withdrawal_work`")[1:3] == ["working set erased", "15"]
    assert "tombstone" in identity
    assert "Other steps" not in md

    scan = section(md, "Residue scan")
    assert "- verdict: no residue found" in scan
    assert (
        "- values searched for: 5 (1 NHS number, 2 internal id, 1 pseudonym (release v1), "
        "1 sample id)" in scan
    )
    assert "- objects scanned: 412" in scan

    travel = section(md, "Time travel ended")
    for target, version in [
        ("curated/site_qc", 5),
        ("curated/consent_status", 9),
        ("curated/clinical_events", 22),
        ("releases/v1/participant", 2),
        ("releases/v1/variant_sites", 3),
        ("identity/participant_registry", 13),
        ("identity/withdrawal_work", 3),
    ]:
        assert f"- `{target}`: time travel ended; only version {version} remains" in travel
    assert "`landing`" not in travel  # landing is not a Delta table


def test_pending_batch_is_incomplete(lake):
    audit.record(lake, ledger(PENDING)[:3])  # erased two tables, no scan, not complete
    md = report_markdown(lake, PENDING)
    banner = section(md, "INCOMPLETE")
    assert "propagation has not completed (batch status: pending)" in banner
    assert "no residue scan is recorded" in banner
    assert table_row(md, "end to end (notice landed to completed)")[1] == "not complete"
    assert table_row(md, "propagation completed")[1] == "-"
    assert "No residue scan is recorded" in section(md, "Residue scan")
    assert not audit.is_complete(lake, PENDING)
    assert audit.is_complete(lake, BATCH)


def test_residue_found_is_incomplete_and_names_no_value(lake):
    findings = [
        Finding("/lake/landing/consent/[needle 1]_notice.csv", "key", "object key", 1),
        Finding("/lake/landing/consent/[needle 1]_notice.csv", "text", "text line 3", 2),
    ]
    audit.record(lake, [r for r in ledger(findings=findings) if r.step == "scan"])
    assert audit.rows(lake, BATCH).height == N_ROWS  # replaced, not added
    md = report_markdown(lake, BATCH)
    assert "the residue scan found residue: 2 findings in 1 object" in section(md, "INCOMPLETE")
    scan = section(md, "Residue scan")
    assert "- verdict: RESIDUE FOUND (2 findings in 1 object)" in scan
    row = table_row(scan, "`/lake/landing/consent/[needle 1]_notice.csv`")
    assert row[1:] == ["key", "object key", "internal id"]
    assert "NHS number" in scan


def test_scan_recorded_as_counts_only(lake):
    """Propagation records the scan as counts (findings as a number, kinds folded)."""
    detail = {
        "clean": False,
        "needles": 9,
        "needles_by_kind": {"NHS number": 3, "pseudonym": 6},
        "objects_scanned": 120,
        "findings": 4,
        "objects_with_findings": 2,
    }
    audit.record(lake, [AuditRow(BATCH, "scan", "lake", finished_at=at(21), detail=detail)])
    md = report_markdown(lake, BATCH)
    assert "the residue scan found residue: 4 findings in 2 objects" in section(md, "INCOMPLETE")
    scan = section(md, "Residue scan")
    assert "- verdict: RESIDUE FOUND (4 findings in 2 objects)" in scan
    assert "- values searched for: 9 (3 NHS number, 6 pseudonym)" in scan
    assert "- objects scanned: 120" in scan
    audit.record(
        lake,
        [AuditRow(BATCH, "scan", "lake", finished_at=at(22),
                  detail={**detail, "clean": True, "findings": 0, "objects_with_findings": 0})],
    )  # fmt: skip
    assert "INCOMPLETE" not in report_markdown(lake, BATCH)


def test_unfinished_step_is_incomplete(lake):
    rerun = ledger()[1]
    audit.record(
        lake,
        [AuditRow(BATCH, rerun.step, rerun.target, started_at=at(30), finished_at=None)],
    )
    md = report_markdown(lake, BATCH)
    assert "step erase on `curated/consent_status` has not finished" in section(md, "INCOMPLETE")


def test_record_rerun_replaces_its_rows(lake):
    before = audit.rows(lake, BATCH)
    assert before.height == N_ROWS
    assert before["step"].to_list() == [
        "genomics", "release genomics", "release purge", "release", "erase", "erase",
        "landing", "identity", "scan", "complete",
    ]  # fmt: skip
    rerun = ledger()
    assert rerun[2].target == "curated/clinical_events"
    rerun[2] = AuditRow(BATCH, "erase", "curated/clinical_events", rows_removed=0,
                        files_rewritten=0, bytes_vacuumed=0, version_before=22,
                        version_after=22, started_at=at(40), finished_at=at(41))  # fmt: skip
    audit.record(lake, rerun)
    audit.record(lake, rerun)
    after = audit.rows(lake, BATCH)
    assert after.height == N_ROWS
    assert lake.read(WITHDRAWAL_AUDIT).height == N_ROWS
    events = after.filter(pl.col("target") == "curated/clinical_events").row(0, named=True)
    assert events["rows_removed"] == 0 and events["finished_at"] == at(41)
    # two rows for one key in one call: the last wins
    audit.record(lake, [rerun[0], AuditRow(BATCH, "genomics", "curated/site_qc", rows_removed=9)])
    assert audit.rows(lake, BATCH).filter(pl.col("step") == "genomics")["rows_removed"][0] == 9


def test_rows_are_json_detail_and_validated():
    row = AuditRow(BATCH, "scan", "lake", detail={"b": 1, "a": 2}).as_record()
    assert row["detail"] == '{"a": 2, "b": 1}'
    with pytest.raises(ValueError, match="batch id"):
        AuditRow("participant-42", "erase", "curated/x")
    with pytest.raises(ValueError, match="lower-case words"):
        AuditRow(BATCH, "Erase; drop", "curated/x")
    with pytest.raises(ValueError, match="non-negative"):
        AuditRow(BATCH, "erase", "curated/x", rows_removed=-1)
    with pytest.raises(ValueError):
        AuditRow(BATCH, "scan", "lake", detail="not json")


def test_malformed_and_unknown_batches(lake):
    with pytest.raises(ValueError, match="batch id"):
        report_markdown(lake, "wd-XYZ")
    with pytest.raises(batches.UnknownBatch):
        report_markdown(lake, "wd-ffffffffffff")


def test_html_is_self_contained(lake):
    page = report_html(lake, BATCH)
    assert page.startswith("<!DOCTYPE html>")
    assert f"<title>Withdrawal erasure report {BATCH}</title>" in page
    assert "<td><code>curated/clinical_events</code></td><td>1,234</td>" in page
    assert "<h2>Time travel ended</h2>" in page
    assert not re.search(r"""(src|href)=["']?(?!data:)""", page)  # nothing fetched
    assert "<link" not in page and "<script" not in page


def test_write_report_files_both_in_the_reports_zone(lake):
    md_uri, html_uri = write_report(lake, BATCH)
    assert md_uri == lake.uri("reports", "withdrawals", BATCH, "report.md")
    assert html_uri == lake.uri("reports", "withdrawals", BATCH, "report.html")
    assert objects.read_bytes(md_uri).decode() == report_markdown(lake, BATCH)
    assert objects.read_bytes(html_uri).decode().startswith("<!DOCTYPE html>")


def test_cli_list(lake, monkeypatch, capsys):
    monkeypatch.setenv("NGRL_LAKE_URI", lake.root_uri)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # no instance: judged by the deadline
    assert cli.main(["withdrawal", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("\t") == [
        "batch", "reason", "members", "landed", "status", "completed", "end_to_end_s", "note",
    ]  # fmt: skip
    rows = {line.split("\t")[0]: line.split("\t") for line in out[1:]}
    assert rows[BATCH][1:3] == ["withdrawal", "3"]
    assert rows[BATCH][4:] == ["complete", "2026-10-02T11:03:04+00:00", "93784", "-"]
    # opened in October 2026 and still pending: past its deadline
    assert rows[PENDING][4:] == ["overdue", "-", "-", "open for more than 24 h"]


def test_a_batch_is_overdue_past_its_deadline_or_without_a_live_run():
    opened = T0
    soon, later = T0 + dt.timedelta(minutes=1), T0 + dt.timedelta(hours=1)
    late = T0 + progress.DEADLINE + dt.timedelta(seconds=1)

    def state(runs, now=later, status="pending"):
        return progress.progress(status, opened, runs, now).state

    assert state(progress.Runs(succeeded=1), late, "complete") == "complete"
    assert state(progress.Runs(live=1)) == "running"
    assert state(progress.Runs(live=1), late) == "overdue"  # running, but past the deadline
    assert state(progress.Runs(dead=1)) == "overdue"  # its process is gone
    assert state(progress.Runs(failed=1)) == "overdue"  # no live run (a retry is due)
    assert state(progress.Runs(failed=progress.MAX_ATTEMPTS)) == "overdue"
    assert state(progress.Runs(), soon) == "pending"  # the sensor has not run yet
    assert state(progress.Runs()) == "overdue"  # ... for too long
    assert state(None) == "pending" and state(None, late) == "overdue"  # runs unknown
    reasons = {
        progress.progress("pending", opened, runs, later).reason
        for runs in (progress.Runs(dead=1), progress.Runs(failed=1), progress.Runs())
    }
    assert len(reasons) == 3 and "" not in reasons


def test_cli_report(lake, monkeypatch, capsys):
    monkeypatch.setenv("NGRL_LAKE_URI", lake.root_uri)
    assert cli.main(["withdrawal", "report", BATCH]) == 0
    captured = capsys.readouterr()
    assert captured.out == report_markdown(lake, BATCH)
    md_uri = lake.uri("reports", "withdrawals", BATCH, "report.md")
    assert md_uri in captured.err and md_uri.replace(".md", ".html") in captured.err
    assert objects.exists(md_uri)

    assert cli.main(["withdrawal", "report", BATCH, "--html"]) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")

    assert cli.main(["withdrawal", "report", PENDING]) == 1  # INCOMPLETE
    assert "## INCOMPLETE" in capsys.readouterr().out

    for bad in ("wd-123", "WD-0123456789AB", "nhs-9434765919"):
        assert cli.main(["withdrawal", "report", bad]) == 2
        captured = capsys.readouterr()
        assert "batch id" in captured.err and captured.out == ""
    assert cli.main(["withdrawal", "report", "wd-ffffffffffff"]) == 2
    assert "no withdrawal batch wd-ffffffffffff" in capsys.readouterr().err
    assert not objects.exists(lake.uri("reports", "withdrawals", "wd-ffffffffffff"))


def test_ledger_columns_match_the_row():
    assert [f for f in AuditRow.__dataclass_fields__] == list(WITHDRAWAL_AUDIT.schema)
    assert json.loads(json.dumps(audit.scan_detail([], 0, []))) == {
        "clean": True,
        "needles": 0,
        "needles_by_kind": {},
        "objects_scanned": 0,
        "findings": [],
        "objects_with_findings": 0,
    }


def test_unknown_step_is_reported_not_hidden(lake):
    audit.record(lake, [AuditRow(BATCH, "ledger", "audit/landing_ledger", rows_removed=2)])
    assert table_row(section(report_markdown(lake, BATCH), "Other steps"), "ledger")[1:3] == [
        "`audit/landing_ledger`",
        "2",
    ]


def test_cli_propagate_refuses_a_malformed_batch_and_completes_an_empty_one(
    lake, monkeypatch, capsys
):
    monkeypatch.setenv("NGRL_LAKE_URI", lake.root_uri)
    assert cli.main(["withdrawal", "propagate", "wd-bad"]) == 2
    assert "12 hex digits" in capsys.readouterr().err
    # a batch without members has nothing to erase: it completes and scans nothing
    assert cli.main(["withdrawal", "propagate", "wd-0123456789ab"]) == 0
    assert "0 participant(s)" in capsys.readouterr().out
