"""Data Docs that work with no network: their CSS, JavaScript and fonts inside the site.

Great Expectations' Data Docs load jQuery, Bootstrap, bootstrap-table, Font Awesome,
Vega and friends from public CDNs, and their logo from GE's own bucket. Inside a closed
research environment those pages come out unstyled and the index's table (built by
bootstrap-table) empty. :func:`localise` copies the same files, at the same versions,
from the npm packages pinned in ``infra/setup/data-docs-assets/`` (installed by
``infra/setup/install-data-docs-assets.sh``, part of ``make install``) into the site's
``static/vendor/`` once, and rewrites the pages it is given to load them by relative
paths; the logo becomes the site's own ``static/images/logo-long.png``.

The site is a local folder or an S3 prefix (:mod:`resources.objects`); on S3 every object
is written with its content type so the site still serves as a website. Pure Python: no
Great Expectations or Dagster import.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

from resources import objects

log = logging.getLogger(__name__)

ASSETS_ENV = "NGRL_DATA_DOCS_ASSETS"
_DEFAULT_ASSETS = Path(__file__).resolve().parents[1] / "infra/setup/data-docs-assets/node_modules"
# The installed npm packages (``node_modules``) the vendored files are copied from.
ASSETS_DIR = Path(os.environ.get(ASSETS_ENV) or _DEFAULT_ASSETS)
INSTALL_HINT = "run infra/setup/install-data-docs-assets.sh (part of `make install`)"

VENDOR = "static/vendor"
MANIFEST = f"{VENDOR}/MANIFEST.json"
# GE copies its static folder over the site on every build, this stylesheet included,
# whose dark theme draws GE's logo from GE's bucket: patched on every localise.
GE_STYLESHEET = "static/styles/data_docs_default_styles.css"
GE_LOGO = "static/images/logo-long.png"
GE_FAVICON = "static/images/favicon.ico"


@dataclass(frozen=True)
class Package:
    """One npm package: the files of it the pages load (paths inside the package, kept
    as they are so relative references such as Font Awesome's ``../webfonts/`` resolve)
    and its licence file (None where the package ships none; its ``package.json``, copied
    for every package, names the licence and the version)."""

    npm: str
    files: tuple[str, ...]
    license: str | None = "LICENSE"


# static/vendor/<key>/ <- node_modules/<npm>/
PACKAGES: dict[str, Package] = {
    "jquery": Package("jquery", ("dist/jquery.min.js",), "LICENSE.txt"),
    "popper.js": Package("popper.js", ("dist/umd/popper.min.js",), None),
    "bootstrap": Package("bootstrap", ("dist/css/bootstrap.min.css", "dist/js/bootstrap.min.js")),
    "bootstrap-table": Package(
        "bootstrap-table",
        (
            "dist/bootstrap-table.min.css",
            "dist/bootstrap-table.min.js",
            "dist/extensions/filter-control/bootstrap-table-filter-control.css",
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
            "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
        ),
    ),
    "bootstrap-datepicker": Package(
        "bootstrap-datepicker",
        ("dist/css/bootstrap-datepicker.min.css", "dist/js/bootstrap-datepicker.min.js"),
    ),
    "bootstrap-dark": Package(
        "@forevolve/bootstrap-dark", ("dist/css/bootstrap-prefers-dark.min.css",)
    ),
    "fontawesome-free": Package(
        "@fortawesome/fontawesome-free",
        (
            "css/all.min.css",
            *(
                f"webfonts/fa-{face}.{ext}"
                for face in ("brands-400", "regular-400", "solid-900", "v4compatibility")
                for ext in ("woff2", "ttf")
            ),
        ),
        "LICENSE.txt",
    ),
    # vega ships no licence file (package.json: BSD-3-Clause); its bundled vega-* packages'
    # identical BSD-3-Clause texts are in its THIRD-PARTY-LICENSES.txt
    "vega": Package("vega", ("build/vega.min.js",), None),
    "vega-lite": Package("vega-lite", ("build/vega-lite.min.js",)),
    "vega-embed": Package("vega-embed", ("build/vega-embed.min.js",)),
}

_GE_ASSETS = r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/"
_QUERY = r"(?:\?[^\"'\s)<>]*)?"

# What each CDN URL in GE's templates (render/view/templates/) becomes: a path under the
# site. Plain keys are exact URLs; compiled keys match a family (GE loads the
# filter-control CSS of bootstrap-table 1.19.0 beside 1.19.1's JavaScript; the logos
# carry a ``?d=<context id>`` query).
_UNPKG_BT = "https://unpkg.com/bootstrap-table@1.19.1/dist"
_UNPKG_BT_FC = r"https://unpkg\.com/bootstrap-table@1\.19\.[01]/dist/extensions/filter-control"
_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
_BT = f"{VENDOR}/bootstrap-table/dist"
_FC = "extensions/filter-control/bootstrap-table-filter-control"
URL_MAP: dict[str | re.Pattern[str], str] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": f"{VENDOR}/jquery/dist/jquery.min.js",
    f"{_CDNJS}/popper.js/1.12.9/umd/popper.min.js": f"{VENDOR}/popper.js/dist/umd/popper.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        f"{VENDOR}/bootstrap/dist/css/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        f"{VENDOR}/bootstrap/dist/js/bootstrap.min.js"
    ),
    f"{_UNPKG_BT}/bootstrap-table.min.css": f"{_BT}/bootstrap-table.min.css",
    f"{_UNPKG_BT}/bootstrap-table.min.js": f"{_BT}/bootstrap-table.min.js",
    f"{_UNPKG_BT}/{_FC}.min.js": f"{_BT}/{_FC}.min.js",
    re.compile(_UNPKG_BT_FC + r"/bootstrap-table-filter-control\.css"): f"{_BT}/{_FC}.css",
    re.compile(_UNPKG_BT_FC + r"/bootstrap-table-filter-control\.min\.css"): (
        f"{_BT}/{_FC}.min.css"
    ),
    f"{_CDNJS}/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        f"{VENDOR}/bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css"
    ),
    f"{_CDNJS}/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        f"{VENDOR}/bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js"
    ),
    # the same stylesheet minified (jsDelivr serves the unminified one, its source map
    # inlined: 880 kB against 150 kB)
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": (
        f"{VENDOR}/bootstrap-dark/dist/css/bootstrap-prefers-dark.min.css"
    ),
    f"{_CDNJS}/font-awesome/6.6.0/css/all.min.css": f"{VENDOR}/fontawesome-free/css/all.min.css",
    # jsDelivr's bare package URL serves the package's "jsdelivr" file: build/<name>.min.js
    "https://cdn.jsdelivr.net/npm/vega@5": f"{VENDOR}/vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": f"{VENDOR}/vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": f"{VENDOR}/vega-embed/build/vega-embed.min.js",
    # GE's logos: the site's own copy (GE ships no dark variant: the dark theme shows the
    # same logo)
    re.compile(_GE_ASSETS + r"logo-long\.png" + _QUERY): GE_LOGO,
    re.compile(_GE_ASSETS + r"full_logo_dark\.png" + _QUERY): GE_LOGO,
}

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}


class AssetsNotInstalled(FileNotFoundError):
    """A file the vendored Data Docs need is not in the installed npm packages."""


def _assets_dir() -> Path:
    return Path(os.environ.get(ASSETS_ENV) or ASSETS_DIR)


def _content_type(name: str) -> str:
    return _CONTENT_TYPES.get(os.path.splitext(name)[1].lower(), "text/plain; charset=utf-8")


def _norm(uri: str) -> str:
    uri = uri.removeprefix("file://")
    return uri.rstrip("/") if objects.is_s3(uri) else os.path.realpath(uri)


def _put(uri: str, data: bytes) -> None:
    """Write one object of the site (on S3 with its content type, as GE writes them)."""
    if objects.is_s3(uri):
        bucket, key = objects.split_s3(uri)
        objects.s3_client().put_object(
            Bucket=bucket, Key=key, Body=data, ContentType=_content_type(key)
        )
        return
    objects.write_bytes(uri, data)


def _copy(source: Path, uri: str) -> None:
    if objects.is_s3(uri):
        bucket, key = objects.split_s3(uri)
        objects.s3_client().upload_file(
            str(source), bucket, key, ExtraArgs={"ContentType": _content_type(key)}
        )
        return
    Path(uri).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, uri)


def _read(uri: str) -> bytes | None:
    """The object's bytes, or None when there is none."""
    try:
        return objects.read_bytes(uri)
    except FileNotFoundError:
        return None
    except Exception as exc:  # S3: NoSuchKey
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise


def _vendored_files(assets: Path) -> Iterator[tuple[Path, str]]:
    """(installed file, path under the site) for every vendored file, licences and
    ``package.json`` included; AssetsNotInstalled names the first missing one."""
    for key, package in PACKAGES.items():
        root = assets / package.npm
        names = [*package.files, "package.json"]
        if package.license:
            names.append(package.license)
        for name in names:
            source = root / name
            if not source.is_file():
                raise AssetsNotInstalled(
                    f"Data Docs assets not installed: {source} is missing; {INSTALL_HINT}"
                )
            yield source, f"{VENDOR}/{key}/{name}"


def _package_json(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "package.json").read_text())
    return data


def _resolve(name: str, dependent: Path, assets: Path) -> Path | None:
    """Where node would find ``name`` from the package at ``dependent``."""
    folder = dependent
    while True:
        candidate = folder / "node_modules" / name
        if (candidate / "package.json").is_file():
            return candidate
        if folder == assets or assets not in folder.parents:
            break
        folder = folder.parent
    candidate = assets / name
    return candidate if (candidate / "package.json").is_file() else None


def _notices(assets: Path, npm: str) -> bytes | None:
    """The licences of every package ``npm`` depends on (a bundle such as vega.min.js
    holds them: vega-*, d3-*), one after the other, or None when it depends on none."""
    top = assets / npm
    seen: dict[Path, None] = {}
    stack = [top]
    while stack:
        folder = stack.pop()
        if folder in seen:
            continue
        seen[folder] = None
        for dep in sorted(_package_json(folder).get("dependencies") or {}):
            found = _resolve(dep, folder, assets)
            if found is not None:
                stack.append(found)
    parts = []
    for folder in sorted(seen, key=lambda f: str(f.relative_to(assets))):
        if folder == top:
            continue
        meta = _package_json(folder)
        texts = sorted(
            f for f in folder.iterdir() if f.is_file() and f.name.upper().startswith("LICEN")
        )
        body = texts[0].read_text(errors="replace").strip() if texts else "(no licence file)"
        parts.append(
            f"== {meta['name']} {meta['version']} ({meta.get('license', '?')}) ==\n{body}\n"
        )
    return "\n".join(parts).encode() if parts else None


def _generated(assets: Path) -> dict[str, bytes]:
    """The files written rather than copied: each package's THIRD-PARTY-LICENSES.txt."""
    out = {}
    for key, package in PACKAGES.items():
        notices = _notices(assets, package.npm)
        if notices is not None:
            out[f"{VENDOR}/{key}/THIRD-PARTY-LICENSES.txt"] = notices
    return out


def _manifest(assets: Path, paths: list[str]) -> bytes:
    versions = {key: _package_json(assets / p.npm)["version"] for key, p in PACKAGES.items()}
    body = {"packages": versions, "files": sorted(paths)}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def vendor(site_uri: str) -> bool:
    """Make sure ``<site>/static/vendor/`` holds every vendored file at the installed
    versions (copied once: ``static/vendor/MANIFEST.json``, written last, says what is
    there). Returns True when it copied."""
    site = _norm(site_uri)
    assets = _assets_dir()
    files = list(_vendored_files(assets))
    generated = _generated(assets)
    manifest = _manifest(assets, [path for _, path in files] + list(generated))
    if _read(f"{site}/{MANIFEST}") == manifest:
        return False
    for source, path in files:
        _copy(source, f"{site}/{path}")
    for path, data in generated.items():
        _put(f"{site}/{path}", data)
    _put(f"{site}/{MANIFEST}", manifest)
    return True


def _relative(page_path: str, target: str) -> str:
    """``target`` (a path under the site) as seen from the page at ``page_path``."""
    return "../" * page_path.count("/") + target


_FAVICON = re.compile(r"""(href=["'])(?:\./|(?:\.\./)+)static/images/favicon\.ico(?=["'])""")
_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
_SRI = re.compile(r"""\s+(?:integrity|crossorigin)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?""")


def rewrite(text: str, page_path: str) -> str:
    """A page's (or stylesheet's) text with every mapped CDN URL replaced by the relative
    path from ``page_path`` (its path under the site) to the vendored file (and the
    favicon's path made right). The tags that now load a vendored file lose their
    ``integrity``/``crossorigin`` attributes: a page opened from disk has no origin to
    check them against (the vendored files are byte-identical to what GE pinned; the
    tests check the hashes)."""
    for pattern, target in URL_MAP.items():
        local = _relative(page_path, target)
        if isinstance(pattern, str):
            text = text.replace(pattern, local)
        else:
            text = pattern.sub(local.replace("\\", "\\\\"), text)

    # GE's validation pages climb one folder short to the favicon (favicon.j2): fixed too
    text = _FAVICON.sub(lambda m: m.group(1) + _relative(page_path, GE_FAVICON), text)

    def strip(match: re.Match[str]) -> str:
        tag = match.group(0)
        return _SRI.sub("", tag) if f"{VENDOR}/" in tag else tag

    return _TAG.sub(strip, text)


def _localise_file(site: str, uri: str) -> bool:
    data = _read(uri)
    if data is None:
        log.warning("Data Docs page %s not found; not localised", uri)
        return False
    text = data.decode("utf-8")
    new = rewrite(text, uri[len(site) + 1 :])
    if new == text:
        return False
    _put(uri, new.encode("utf-8"))
    return True


def localise(site_uri: str, pages: list[str]) -> None:
    """Make the given Data Docs pages (URIs under ``site_uri``: local paths or
    ``s3://``) work with no network: vendor the assets into the site if they are not
    there yet, then rewrite each page (and GE's stylesheet, which every build copies
    anew) to load them by relative paths. Idempotent; only the pages given are read, and
    only those that change are written. Raises AssetsNotInstalled (naming the missing
    file) when the npm packages are not installed."""
    site = _norm(site_uri)
    targets: list[str] = []
    for page in pages:
        uri = _norm(page)
        if not uri.startswith(site + "/"):
            raise ValueError(f"{page} is not a page of the Data Docs site {site}")
        if uri not in targets:
            targets.append(uri)
    vendor(site)
    for uri in [f"{site}/{GE_STYLESHEET}", *targets]:
        _localise_file(site, uri)


def site_pages(site_uri: str) -> list[str]:
    """Every HTML page of a site (to localise a site built before this module existed)."""
    site = _norm(site_uri)
    return [
        o.uri
        for o in objects.list_objects(site)
        if o.uri.endswith(".html") and not o.uri.startswith(f"{site}/{VENDOR}/")
    ]


class _Resources(HTMLParser):
    ATTRS: ClassVar[dict[str, str]] = {
        "script": "src",
        "img": "src",
        "link": "href",
        "iframe": "src",
        "source": "src",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = self.ATTRS.get(tag)
        for name, value in attrs:
            if value is None:
                continue
            if name == wanted:
                self.urls.append(value.strip())
            elif name == "style":
                self.urls.extend(_css_urls(value))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls.extend(_css_urls(data))


_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)""")


def _css_urls(css: str) -> list[str]:
    return _CSS_URL.findall(css)


def external_urls(html: str) -> list[str]:
    """Every http(s) URL the page loads as a resource (``script src``, ``link href``,
    ``img src``, ``iframe``/``source src``, CSS ``url()`` in ``<style>`` and ``style=``),
    in order, once each. Links (``a href``) are not resources."""
    parser = _Resources()
    parser.feed(html)
    parser.close()
    out: list[str] = []
    for url in parser.urls:
        if url.lower().startswith(("http://", "https://", "//")) and url not in out:
            out.append(url)
    return out


def css_external_urls(css: str) -> list[str]:
    """Every http(s) ``url()`` a stylesheet loads."""
    return [u for u in _css_urls(css) if u.lower().startswith(("http://", "https://", "//"))]
