"""What a set of validations says, for people: the run's expectation report (Markdown, as
Dagster metadata and in ``ngrl dq-report``) and a release's own Data Docs index
(``reports/data_docs/releases/<id>/index.html``, linking to each validation's page)."""

from __future__ import annotations

import html

from expectations.run import Outcome, docs_root
from resources import objects
from resources.lake import Lake


def markdown(outcomes: list[Outcome]) -> str:
    """The expectation report of a run: one row per suite, then each failure."""
    lines = [
        "| suite | validated | result | expectations | success |",
        "|---|---|---|---|---|",
    ]
    for o in outcomes:
        verdict = "passed" if o.success else "**FAILED**"
        if o.warnings:
            verdict += f", {o.warnings} warnings"
        lines.append(
            f"| {o.suite} | {o.rows:,} ({o.validates}) | {verdict} | "
            f"{o.successful}/{o.evaluated} | {o.success_percent:.1f}% |"
        )
    failures = [(o, f) for o in outcomes for f in o.failed]
    if failures:
        lines += ["", "Expectations not met:", ""]
        for o, f in failures:
            where = f" on `{f.column}`" if f.column else ""
            lines.append(f"- {o.suite} ({f.severity}): `{f.expectation}`{where}: {f.observed}")
    for warning in sorted({o.docs_warning for o in outcomes if o.docs_warning}):
        lines += ["", f"Data Docs (warning, not a verdict): {warning}"]
    return "\n".join(lines)


def release_index(lake: Lake, release_id: str, outcomes: list[Outcome]) -> str:
    """``reports/data_docs/releases/<id>/index.html``: the release's validations (each
    linking to its Data Docs page), written beside GE's own site index. Returns its URI."""
    root = docs_root(lake)
    here = f"{root}/releases/{release_id}"
    rows = []
    for o in outcomes:
        link = o.docs_page
        if link.startswith(root + "/"):
            link = "../../" + link[len(root) + 1 :]
        name = html.escape(o.suite)
        if link:  # none when the page could not be built
            name = f"<a href='{html.escape(link)}'>{name}</a>"
        verdict = "passed" if o.success else "FAILED"
        rows.append(
            f"<tr class='{verdict.lower()}'><td>{name}</td><td>{html.escape(o.validates)}</td>"
            f"<td>{o.rows:,}</td><td>{verdict}</td><td>{o.successful}/{o.evaluated}</td>"
            f"<td>{o.success_percent:.1f}%</td></tr>"
        )
    verdict = "go" if all(o.success for o in outcomes if o.blocking) else "no-go"
    run_name = html.escape(outcomes[0].run_name if outcomes else "")
    title = f"Release {html.escape(release_id)}: data quality"
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}"
        "tr.failed td{background:#fdd}tr.passed td{background:#efe}"
    )
    head = "".join(
        f"<th>{h}</th>" for h in ("suite", "validates", "rows", "result", "met", "success")
    )
    page = "\n".join(
        [
            "<!doctype html>",
            f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title>',
            f"<style>{style}</style></head><body>",
            f"<h1>Release {html.escape(release_id)}: expectation suites</h1>",
            f"<p>Verdict of the blocking suites: <strong>{verdict}</strong>. Run: {run_name}.",
            '<a href="../../index.html">All validations (Data Docs index)</a>.</p>',
            *(
                f"<p>Data Docs warning (not a verdict): {html.escape(w)}</p>"
                for w in sorted({o.docs_warning for o in outcomes if o.docs_warning})
            ),
            f"<table><thead><tr>{head}</tr></thead><tbody>",
            *rows,
            "</tbody></table></body></html>",
            "",
        ]
    )
    uri = f"{here}/index.html"
    objects.write_bytes(uri, page.encode())
    return uri
