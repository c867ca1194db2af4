"""Data Docs with no network (expectations.offline): a real site built by Great
Expectations (a tiny suite validated twice, plus its expectation-suite page) is
localised; afterwards no page loads anything from outside the site, every relative path
it loads exists, each vendored package's licence is beside it, the vendored files are
the very bytes GE pinned (its SRI hashes), and a second localise writes nothing. The same
on S3 (moto_server)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import posixpath
import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from expectations import offline, run
from expectations.spec import Suite, expect
from resources import objects
from resources.lake import Lake
from resources.tables import TableSpec

TINY = TableSpec(
    zone="curated",
    name="tiny",
    description="a tiny table for the Data Docs tests",
    schema={"a": pl.Int64, "b": pl.Utf8},
    columns={"a": "a number", "b": "a letter"},
    written_by=("tiny",),
)
SUITE = Suite(
    name="curated.tiny",
    table=TINY,
    validates="rows",
    description="two expectations, one of them failing",
    expectations=(
        expect("ExpectColumnValuesToNotBeNull", "every row has a", column="a"),
        expect("ExpectColumnValuesToBeBetween", "a is small", column="a", min_value=0, max_value=2),
        expect("ExpectColumnValuesToBeInSet", "", column="b", value_set=["x", "y"]),
    ),
    frame=lambda lake, table: pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"]}),
)
RESOURCE = re.compile(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""")


def _ge_dir() -> Path:
    spec = importlib.util.find_spec("great_expectations")
    assert spec and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _build(lake: Lake) -> list[str]:
    """A GE site in the lake's reports zone: two validations of SUITE and the suite's
    own page. Returns the pages: index, both validations, the suite page."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    first = run.validate(lake, [SUITE], run_name="run-1")
    second = run.validate(lake, [SUITE], run_name="run-2")
    ctx = run.context(lake.zone("reports"))
    suite_id = ExpectationSuiteIdentifier(name=SUITE.name)
    ctx.build_data_docs(site_names=[run.SITE], resource_identifiers=[suite_id])
    suite_page = run._page_uri(ctx, suite_id, run.site(lake.zone("reports")).local)
    root = run.docs_root(lake)
    pages = [f"{root}/index.html", first[0].docs_page, second[0].docs_page, suite_page]
    assert all(p.startswith(root + "/validations/") for p in pages[1:3]), pages
    assert suite_page == f"{root}/expectations/curated/tiny.html"
    return pages


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A pristine local site (never localised; tests copy it)."""
    root = tmp_path_factory.mktemp("docs")
    lake = Lake(root_uri=str(root / "lake"))
    pages = _build(lake)
    # validate() localises what it builds; the later suite-page build rewrote the index
    # and GE's stylesheet: drop the vendored files too, so the site is as GE left it
    shutil.rmtree(Path(run.docs_root(lake)) / "static" / "vendor")
    return Path(run.docs_root(lake)), pages


@pytest.fixture
def local_site(built: tuple[Path, list[str]], tmp_path: Path) -> tuple[str, list[str]]:
    original, pages = built
    copy = tmp_path / "data_docs"
    shutil.copytree(original, copy)
    return str(copy), [str(copy / Path(p).relative_to(original)) for p in pages]


class Writes:
    """Counts what localise writes (to see that a second run writes nothing)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.uris: list[str] = []
        put, copy = offline._put, offline._copy

        def counted_put(uri: str, data: bytes) -> None:
            self.uris.append(uri)
            put(uri, data)

        def counted_copy(source: Path, uri: str) -> None:
            self.uris.append(uri)
            copy(source, uri)

        monkeypatch.setattr(offline, "_put", counted_put)
        monkeypatch.setattr(offline, "_copy", counted_copy)


def _join(base_uri: str, relative: str) -> str:
    """The URI that ``relative`` (as written in the object at ``base_uri``) points at."""
    scheme = "s3://" if objects.is_s3(base_uri) else ""
    path = base_uri.removeprefix(scheme)
    return scheme + posixpath.normpath(posixpath.join(posixpath.dirname(path), relative))


def _text(uri: str) -> str:
    return objects.read_bytes(uri).decode("utf-8")


def _check_page(site: str, page: str) -> None:
    html = _text(page)
    assert offline.external_urls(html) == [], page
    assert "integrity=" not in html and "crossorigin" not in html
    local = [u for u in RESOURCE.findall(html) if not u.startswith(("#", "data:"))]
    assert any("static/vendor/jquery/dist/jquery.min.js" in u for u in local) or page.endswith(
        "index.html"
    )
    assert any(u.endswith("static/vendor/bootstrap/dist/css/bootstrap.min.css") for u in local)
    assert any(u.endswith("static/images/logo-long.png") for u in local), page
    for url in local:
        target = _join(page, url.split("?")[0])
        assert target.startswith(site + "/"), (page, url)
        assert objects.exists(target), (page, url, target)


def _check_site(site: str) -> None:
    for key, package in offline.PACKAGES.items():
        if package.license:
            assert objects.exists(f"{site}/static/vendor/{key}/{package.license}"), key
        assert objects.exists(f"{site}/static/vendor/{key}/package.json"), key
    # Font Awesome's stylesheet loads its fonts from ../webfonts/, which must be there
    css_uri = f"{site}/static/vendor/fontawesome-free/css/all.min.css"
    fonts = re.findall(r"url\(([^)]+)\)", _text(css_uri))
    assert fonts
    for font in fonts:
        assert objects.exists(_join(css_uri, font)), font
    # GE's own stylesheet (copied anew by every build) no longer reaches GE's bucket
    assert offline.css_external_urls(_text(f"{site}/{offline.GE_STYLESHEET}")) == []


def test_localise_leaves_no_external_resource_and_is_idempotent(
    built: tuple[Path, list[str]],
    local_site: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pristine = built[1]
    site, pages = local_site
    before = offline.external_urls(_text(pages[0]))
    assert "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js" in before
    assert any(u.startswith("https://great-expectations-web-assets.") for u in before)
    writes = Writes(monkeypatch)
    offline.localise(site, pages)
    assert len(writes.uris) > len(pages) + 20  # vendored files, manifest, stylesheet, pages
    for page in pages:
        _check_page(site, page)
    _check_site(site)
    # a second run (pages passed again, or the index alone) writes nothing, changes nothing
    texts = {p: Path(p).read_bytes() for p in pages}
    writes.uris.clear()
    offline.localise(site, pages)
    offline.localise(site + "/", [pages[0], "file://" + pages[0]])
    assert writes.uris == []
    assert {p: Path(p).read_bytes() for p in pages} == texts
    # a new build rewrites the index and GE's stylesheet: localise fixes exactly those
    shutil.copyfile(pristine[0], pages[0])
    shutil.copyfile(
        _ge_dir() / "render/view/static/styles/data_docs_default_styles.css",
        f"{site}/{offline.GE_STYLESHEET}",
    )
    writes.uris.clear()
    offline.localise(site, [pages[0]])
    assert sorted(writes.uris) == sorted([pages[0], f"{site}/{offline.GE_STYLESHEET}"])


def test_every_cdn_url_of_ge_templates_is_mapped() -> None:
    """Every resource URL in GE's templates and static stylesheet is rewritten (a GE
    upgrade that loads a new library fails here)."""
    view = _ge_dir() / "render/view"
    for template in sorted((view / "templates").glob("*.j2")):
        text = template.read_text()
        assert offline.external_urls(offline.rewrite(text, "index.html")) == [], template.name
    # the navbar's logo is "<images dir>" + "logo-long.png": as rendered
    logo = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1-2"
    assert offline.rewrite(f'<img src="{logo}">', "a/b.html") == (
        '<img src="../static/images/logo-long.png">'
    )
    for css in (view / "static/styles").glob("*.css"):
        rewritten = offline.rewrite(css.read_text(), "static/styles/" + css.name)
        assert offline.css_external_urls(rewritten) == [], css.name
        assert "url('../../static/images/logo-long.png')" in rewritten or "url(" not in (
            css.read_text()
        )


def test_vendored_files_are_the_ones_ge_pins() -> None:
    """GE's templates carry SRI hashes for popper and bootstrap: the installed files
    match them (so the pinned npm versions are GE's)."""
    text = (_ge_dir() / "render/view/templates/js_script_imports.j2").read_text()
    pinned = re.findall(r'src="(https://[^"]+)" integrity="(sha384-[^"]+)"', text)
    assert len(pinned) == 2
    for url, integrity in pinned:
        vendored = offline.URL_MAP[url].removeprefix(offline.VENDOR + "/")
        key, _, path = vendored.partition("/")
        data = (offline.ASSETS_DIR / offline.PACKAGES[key].npm / path).read_bytes()
        assert "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode() == integrity


def test_missing_assets_are_named(
    local_site: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, pages = local_site
    monkeypatch.setenv(offline.ASSETS_ENV, str(tmp_path / "nowhere"))
    before = Path(pages[0]).read_bytes()
    with pytest.raises(offline.AssetsNotInstalled, match=r"nowhere/jquery/dist/jquery\.min\.js"):
        offline.localise(site, pages)
    assert Path(pages[0]).read_bytes() == before
    assert not Path(site, "static/vendor").exists()
    with pytest.raises(ValueError, match="not a page of the Data Docs site"):
        offline.localise(site, [str(tmp_path / "elsewhere.html")])


@pytest.mark.s3
def test_localise_on_s3(
    built: tuple[Path, list[str]], s3_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GE 1.24 has no S3 store backend of its own: the locally built site is put on S3
    # as it is, where the reports zone's Data Docs live
    local, local_pages = built
    site = run.docs_root(s3_lake)
    assert site.startswith("s3://")
    list(objects.upload_tree(local, site))
    pages = [f"{site}/{Path(p).relative_to(local).as_posix()}" for p in local_pages]
    assert offline.external_urls(_text(pages[0]))
    writes = Writes(monkeypatch)
    offline.localise(site, pages)
    assert writes.uris
    for page in pages:
        _check_page(site, page)
    _check_site(site)
    client: Any = objects.s3_client()

    def content_type(uri: str) -> str:
        bucket, key = objects.split_s3(uri)
        return str(client.head_object(Bucket=bucket, Key=key)["ContentType"])

    assert content_type(pages[0]).startswith("text/html")
    assert content_type(f"{site}/static/vendor/jquery/dist/jquery.min.js").startswith(
        "text/javascript"
    )
    assert content_type(f"{site}/static/vendor/fontawesome-free/webfonts/fa-solid-900.woff2") == (
        "font/woff2"
    )
    texts = {p: _text(p) for p in pages}
    writes.uris.clear()
    offline.localise(site, pages)
    assert writes.uris == []
    assert {p: _text(p) for p in pages} == texts
    # a site built before this module: every page of it
    assert set(pages) <= set(offline.site_pages(site))
