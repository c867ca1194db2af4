"""``ngrl dq-report`` / ``make dq-report``: validate every suite against the lake as it is
now (the curated tables and each published release's tables) and rebuild the Data Docs.

The same suites as the asset checks, run outside Dagster (for the DQ team's review or a
release manager's go/no-go before a cut); the validations join the Data Docs history
under a run name ``dq-report-<UTC time>``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from expectations import run, summaries
from expectations.suites import curated_suites, release_gate_suites
from ngrl_assets.releases import reading, registry
from resources.lake import Lake


@dataclass
class Report:
    index: str
    curated: list[run.Outcome] = field(default_factory=list)
    releases: dict[str, tuple[list[run.Outcome], str]] = field(default_factory=dict)

    @property
    def failed(self) -> list[run.Outcome]:
        every = [*self.curated, *(o for outs, _ in self.releases.values() for o in outs)]
        return [o for o in every if not o.success]

    def markdown(self) -> str:
        parts = ["## Curated tables", "", summaries.markdown(self.curated)]
        for release_id, (outcomes, index) in self.releases.items():
            parts += ["", f"## Release {release_id} ({index})", "", summaries.markdown(outcomes)]
        return "\n".join(parts)


def build(lake: Lake, release_ids: list[str] | None = None) -> Report:
    """Validate the curated tables and the given releases (default: every published
    one); a release id that is not published is :class:`reading.UnknownRelease`, before
    anything is validated."""
    for release_id in release_ids or []:
        reading.published(lake, release_id)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    report = Report(index=run.docs_root(lake) + "/index.html")
    report.curated = run.validate(lake, curated_suites(), run_name=f"dq-report-{stamp}")
    published = [p.release_id for p in registry.list_published(lake) if p.status != "deleted"]
    for release_id in release_ids if release_ids is not None else published:
        outcomes = run.validate(
            lake, release_gate_suites(release_id), run_name=f"{release_id}-dq-report-{stamp}"
        )
        report.releases[release_id] = (
            outcomes,
            summaries.release_index(lake, release_id, outcomes),
        )
    return report
