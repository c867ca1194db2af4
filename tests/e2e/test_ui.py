"""The Dagster UI over a real demo library, in a real browser (Chromium via Playwright):

- the global asset lineage shows the domains as asset groups, and a group opens onto its
  assets;
- an asset page shows the table's schema (the columns of its catalogue declaration), its
  row count (``dagster/row_count``, equal to the Delta table's rows) and its checks, all
  passed;
- a table tampered with behind intake's back shows its failed check as failed.

Screenshots for docs/ui.md are saved to docs/img/ on every run."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from ngrl_assets import catalogue
from ngrl_assets.definitions import build_definitions
from tests.e2e.conftest import CHROMIUM, UI, screenshot

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing (infra/setup/install-debian-packages.sh installs it)",
    ),
]

DOMAINS = ("consent", "genomics", "clinical", "releases")
ASSET = "hes_apc"  # a curated clinical table, partitioned by delivery file


def _groups_and_checks(ui: UI) -> tuple[set[str], dict[str, list[str]]]:
    """Asset groups, and check names per asset, as the code location defines them."""
    graph = build_definitions(ui.lake).resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    checks: dict[str, list[str]] = {}
    for check in graph.asset_check_keys:
        checks.setdefault(check.asset_key.to_user_string(), []).append(check.name)
    return {g for g in groups if g}, {k: sorted(v) for k, v in checks.items()}


def _graph_node(page: Page, label: str) -> Locator:
    """A node of the lineage graph (group or asset): rendered as HTML inside the SVG."""
    return page.locator("svg foreignObject").get_by_text(label, exact=True)


def _check_row(page: Page, name: str) -> Locator:
    """One check in the list on the left of an asset's Checks tab."""
    return page.locator('[class*="checkRow"]').filter(has=page.locator(f'[title="{name}"]'))


def test_asset_graph_shows_the_domains_as_groups(ui: UI, browser_page: Page) -> None:
    page = browser_page
    groups, _ = _groups_and_checks(ui)
    assert set(DOMAINS) <= groups, groups
    page.goto(ui.url("/asset-groups"))
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    for group in sorted(groups):
        expect(_graph_node(page, group)).to_be_visible()
    # one node per group, nothing else, while the groups are collapsed
    expect(page.locator("svg foreignObject")).to_have_count(len(groups))
    screenshot(page, "asset_graph")
    # a group opens onto its assets
    clinical = page.locator("svg foreignObject").filter(
        has=page.get_by_text("clinical", exact=True)
    )
    clinical.locator('[aria-label="unfold_more"]').click()
    expect(_graph_node(page, ASSET)).to_be_visible()


def test_asset_page_shows_schema_row_count_and_checks(ui: UI, browser_page: Page) -> None:
    page = browser_page
    spec = catalogue.get(ASSET)
    rows = ui.lake.read(spec).height
    assert rows > 0
    _, checks = _groups_and_checks(ui)
    names = checks[ASSET]
    page.goto(ui.url(f"/assets/{ASSET}"))
    expect(page.get_by_role("tab", name="Overview")).to_be_visible()
    # row count: the latest materialization's dagster/row_count, which is the whole table
    row_count = page.get_by_text("Row count", exact=True).locator("xpath=..")
    expect(row_count).to_have_text(f"Row count {rows:,}", use_inner_text=True)
    # every check passed (a green tick and the number of checks)
    latest = page.get_by_text("Latest check results", exact=True).locator("xpath=..")
    expect(latest).to_have_text(f"Latest check results {len(names)}", use_inner_text=True)
    expect(latest.locator('[aria-label="check_circle"]')).to_be_visible()
    # schema: the catalogue's columns, in order, with their descriptions
    columns = page.locator("table").filter(has_text="Column name")
    expect(columns.locator("tbody tr td:first-child")).to_have_text(list(spec.schema))
    expect(columns).to_contain_text(spec.columns["participant_id"])
    screenshot(page, "asset_page")
    # the Checks tab lists each of the asset's checks as succeeded
    page.get_by_role("tab", name="Checks").click()
    expect(page.get_by_text(f"Checks ({len(names)})", exact=True)).to_be_visible()
    for name in names:
        expect(_check_row(page, name)).to_contain_text("Succeeded")


def test_the_tampered_tables_check_shows_as_failed(ui: UI, browser_page: Page) -> None:
    page = browser_page
    asset, failed = ui.demo.corrupted_asset, ui.demo.failed_check
    _, checks = _groups_and_checks(ui)
    page.goto(ui.url(f"/assets/{asset}?view=checks"))
    row = _check_row(page, failed)
    expect(row).to_contain_text("Failed")
    expect(row.locator('[aria-label="cancel"]')).to_be_visible()
    for other in set(checks[asset]) - {failed}:
        expect(_check_row(page, other)).to_contain_text("Succeeded")
    row.click()
    expect(page).to_have_url(f"{ui.base_url}/assets/{asset}?view=checks&checkDetail={failed}")
    result = page.get_by_text("Evaluation result", exact=True).locator("xpath=..")
    expect(result).to_contain_text("Failed")
    # the metadata says why: one row of a delivery the ledger never processed
    metadata = page.locator("table").filter(has_text="rows_unexpected")
    expect(metadata.locator("tr").filter(has_text="rows_unexpected").locator("td")).to_have_text(
        ["rows_unexpected", "1"]
    )
    screenshot(page, "failed_check")


# ---- Data Docs ---------------------------------------------------------------------------
def test_data_docs_index_and_a_validation_page_render(ui: UI, browser_page: Page) -> None:
    """The Great Expectations Data Docs the checks wrote into the lake's reports zone open
    from disk with no network (their scripts and styles are in the site): the index
    lists the validations, a search narrows it to one suite, and that validation's page
    shows its expectations and verdicts."""
    page = browser_page
    offline: list[str] = []
    page.on(
        "request",
        lambda r: offline.append(r.url) if not r.url.startswith(("file:", "data:")) else None,
    )
    index = ui.lake_root / "reports" / "data_docs" / "index.html"
    page.goto(index.as_uri())
    table = page.locator("table#section-1-content-block-2-body-table")
    if not table.count():  # the validations table, whatever GE's block ids are
        table = page.locator("table").filter(has_text="curated.hes_apc").first
    expect(table).to_contain_text("curated.hes_apc")
    expect(table).to_contain_text("curated.variant_sites")
    screenshot(page, "data_docs_index")
    # a validation page: hes_apc's suite, its expectations and verdicts
    page.locator("tbody tr").filter(has_text="ngrl-curated.hes_apc").first.click()
    page.wait_for_load_state()
    assert "/validations/curated/hes_apc/" in page.url, page.url
    body = page.locator("body")
    expect(body).to_contain_text("Overview")
    expect(body).to_contain_text("Succeeded")
    expect(body).to_contain_text("participant_id")
    expect(body).to_contain_text("values must be of type")
    expect(body).to_contain_text("must not match this regular expression")
    screenshot(page, "data_docs_validation")
    # the variant sites' suite, distribution bands included: its page shows them passed
    page.goto(index.as_uri())
    page.locator("tbody tr").filter(has_text="ngrl-curated.variant_sites").first.click()
    page.wait_for_load_state()
    expect(page.locator("body")).to_contain_text("Succeeded")
    assert offline == [], offline[:5]
