"""GLnexus conformance cases (tests/fixtures/glnexus, Apache-2.0) through our joint caller."""

from pathlib import Path

from ngrl_assets.cli import main
from ngrl_assets.genomics.conformance import KNOWN_DEVIATIONS, run_dir

CASES = Path(__file__).resolve().parents[1] / "fixtures" / "glnexus"


def test_every_case_we_implement_passes_and_only_documented_deviations_fail():
    results = {r.name: r for r in run_dir(CASES)}
    assert len(results) == 36
    failed = {name for name, r in results.items() if r.status == "fail"}
    assert failed == set(KNOWN_DEVIATIONS), {n: results[n].detail for n in failed}
    passed = [r for r in results.values() if r.status == "pass"]
    assert len(passed) >= 18
    for r in results.values():
        if r.status == "n/a":
            assert r.detail, r.name  # every n/a names the option or input it needs


def test_cli_prints_one_line_per_case_and_a_total(capsys):
    assert main(["conformance", str(CASES)]) == 1  # the documented deviations fail
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 37
    assert all(len(line.split("\t")) == 3 for line in lines[:-1])
    passed = sum(line.split("\t")[1] == "pass" for line in lines[:-1])
    assert lines[-1] == f"{passed} passed, {len(KNOWN_DEVIATIONS)} failed"
