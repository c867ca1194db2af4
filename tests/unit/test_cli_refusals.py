"""Careless commands get a refusal, not a confident answer: one line ``ngrl: <rule>: <why>``
on stderr, nothing on stdout, exit 2 (``ngrl_assets/cli.py:main``, the one error path).
Each request here used to publish, report "clean", exit 0 or end in a traceback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from ngrl_assets import cli
from ngrl_assets.consent import tombstones
from ngrl_assets.consent.tables import PARTICIPANT_REGISTRY, WITHDRAWAL_TOMBSTONES
from ngrl_assets.releases import cut, registry
from ngrl_assets.withdrawal import audit
from ngrl_assets.withdrawal.releases import apply_to_cut
from ngrl_assets.withdrawal.tables import WITHDRAWAL_BATCHES
from resources import objects
from resources.errors import Refused
from resources.lake import Lake

NOW = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.UTC)
KNOWN, GONE, NOBODY = "REF-0001", "REF-0002", "REF-9999"


@pytest.fixture
def env(lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    monkeypatch.setenv("NGRL_LAKE_URI", lake.root_uri)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    for name in ("NGRL_SECRETS_BACKEND", "NGRL_SECRET_TOMBSTONE_KEY"):
        monkeypatch.delenv(name, raising=False)
    return lake


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], rule: str) -> str:
    """Run ``ngrl argv``: exit 2, one line naming ``rule``, nothing on stdout."""
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"ngrl: {rule}: "), err
    return err


def test_a_release_cannot_be_frozen_in_the_future(env: Lake, capsys) -> None:
    err = refused(
        capsys,
        ["release", "cut", "--id", "v1", "--freeze-date", "2099-12-31"],
        "freeze_date_in_future",
    )
    assert "2099-12-31 is after today" in err
    assert registry.list_published(env) == []
    assert not objects.exists(env.uri("releases", "v1"))
    # the rule is the cut's own, so a run launched from the UI refuses too
    with pytest.raises(cut.ReleaseRefused, match="after today"):
        cut.cut_release(
            env, lambda name: b"k" * 32, "v1", dt.date(2099, 12, 31), withdrawals=apply_to_cut
        )
    today = dt.date(2026, 12, 7)
    assert cut.validate_freeze_date(today, today) == today
    with pytest.raises(Refused) as error:
        cut.validate_freeze_date(today + dt.timedelta(days=1), today)
    assert error.value.rule == "freeze_date_in_future"


def _register(lake: Lake) -> None:
    """One registered participant and one whose registry row is gone behind a tombstone."""
    lake.append(
        PARTICIPANT_REGISTRY,
        pl.DataFrame(
            [
                {
                    "participant_id": "p00000000000000aa",
                    "participant_reference": KNOWN,
                    "nhs_number": "9434765919",
                    "date_of_birth": dt.date(1980, 1, 1),
                    "updated_at": NOW,
                }
            ],
            schema=PARTICIPANT_REGISTRY.schema,
        ),
    )
    key = tombstones.tombstone_key(lake)
    lake.append(
        WITHDRAWAL_TOMBSTONES,
        pl.DataFrame(
            [
                {
                    "participant_id": "p00000000000000bb",
                    "withdrawal_type": "full",
                    "withdrawal_date": NOW.date(),
                    "nhs_number_hash": tombstones.keyed_hash(key, "nhs_number", "9434765870"),
                    "reference_hash": tombstones.keyed_hash(key, "reference", GONE),
                    "batch_id": "wd-0123456789ab",
                    "recorded_at": NOW,
                }
            ],
            schema=WITHDRAWAL_TOMBSTONES.schema,
        ),
    )


def test_erasure_scan_of_a_reference_nobody_has_is_refused(env: Lake, capsys) -> None:
    _register(env)
    err = refused(capsys, ["erasure-scan", NOBODY], "participant_reference_unknown")
    assert NOBODY not in err  # the refusal never repeats the identifier
    # a registered reference and a tombstoned one are scanned (and reported by kind)
    for reference in (KNOWN, GONE):
        assert cli.main(["erasure-scan", reference]) in (0, 1)
        out = capsys.readouterr().out
        assert out.startswith("# Residue scan") and "internal id" in out


def test_dq_report_of_an_unpublished_release_is_refused(env: Lake, capsys) -> None:
    refused(capsys, ["dq-report", "--release", "nope"], "release_unknown")
    refused(capsys, ["release", "show", "nope"], "release_unknown")


def test_propagating_an_unknown_or_malformed_batch_is_refused(env: Lake, capsys) -> None:
    env.merge(
        WITHDRAWAL_BATCHES,
        pl.DataFrame(
            [
                {
                    "batch_id": "wd-0123456789ab",
                    "reason": "withdrawal",
                    "members": 0,
                    "notice_landed_at": NOW,
                    "opened_at": NOW,
                    "status": "pending",
                    "completed_at": None,
                }
            ],
            schema=dict(WITHDRAWAL_BATCHES.schema),
        ),
        ["batch_id"],
    )
    err = refused(capsys, ["withdrawal", "propagate", "wd-000000000000"], "batch_unknown")
    assert "no withdrawal batch wd-000000000000" in err
    assert audit.rows(env, "wd-000000000000").is_empty()  # nothing recorded for it
    refused(capsys, ["withdrawal", "propagate", "wd-bad"], "batch_id_malformed")
    refused(capsys, ["withdrawal", "report", "wd-000000000000"], "batch_unknown")


@pytest.mark.parametrize(
    "argv",
    [
        ["materialize"],
        ["erasure-scan", KNOWN],
        ["release", "cut", "--id", "v1", "--freeze-date", "2026-09-30"],
    ],
)
def test_an_unknown_secrets_backend_is_refused(
    env: Lake, capsys, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setenv("NGRL_SECRETS_BACKEND", "bogus")
    err = refused(capsys, argv, "secrets_backend_unknown")
    assert "NGRL_SECRETS_BACKEND must be 'env' or 'aws', not 'bogus'" in err
