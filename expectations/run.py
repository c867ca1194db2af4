"""Running suites with Great Expectations 1.x and keeping their Data Docs.

One GE context per process and reports location (:func:`context`): its validation
results are stored in the ``reports`` zone (``reports/dq/validations/``; local folder or
S3) and its Data Docs site is ``reports/data_docs/`` (``index.html``), so the history of
every run stays browsable; suites come from code each time (an in-memory suite store).
GE is imported on first use (~10 s), once per process.

Results are kept at GE's ``BASIC`` format with no unexpected values
(``partial_unexpected_count: 0``): neither the Dagster metadata nor Data Docs ever show
a row's value, only counts, percentages and aggregate observations. The pages are
presentation: a page that cannot be built or made offline (e.g. the Data Docs assets
not installed) is a logged warning carried on each outcome (``docs_warning``), never a
failed validation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from expectations import frames, offline
from expectations.spec import Suite
from resources import objects
from resources.lake import Lake

log = logging.getLogger(__name__)

SITE = "dq"
DOCS_FOLDER = "data_docs"
VALIDATIONS_FOLDER = "dq/validations"
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}


@dataclass
class Failed:
    expectation: str
    column: str | None
    observed: str
    why: str = ""
    severity: str = "critical"


@dataclass
class Outcome:
    """One suite's validation: what Dagster metadata, the release gate and the reports
    show (aggregates only)."""

    suite: str
    asset_key: str
    blocking: bool
    validates: str
    rows: int
    success: bool  # every critical expectation met
    warnings: int  # warning-severity (distribution) expectations not met
    evaluated: int
    successful: int
    success_percent: float
    failed: list[Failed] = field(default_factory=list)
    docs_page: str = ""  # URI of this validation's Data Docs page
    docs_warning: str = ""  # why the page is missing or not offline ("" when it is fine)
    run_name: str = ""

    def summary_line(self) -> str:
        verdict = "passed" if self.success else "FAILED"
        if self.success and self.warnings:
            verdict += f" ({self.warnings} distribution warnings)"
        return (
            f"{self.suite}: {verdict} {self.successful}/{self.evaluated} "
            f"({self.success_percent:.1f}%) on {self.rows:,} {self.validates} rows"
        )


def _backend(folder: str) -> dict[str, Any]:
    os.makedirs(folder, exist_ok=True)
    return {"class_name": "TupleFilesystemStoreBackend", "base_directory": folder}


def docs_root(lake: Lake) -> str:
    """The Data Docs site of the lake (``index.html`` under it)."""
    return lake.uri("reports", DOCS_FOLDER)


@dataclass
class Site:
    """A reports location as GE sees it. GE 1.x stores only on a filesystem (its S3
    store backend is gone), so for an S3 reports zone GE works in a local mirror: the
    stored validations are downloaded once per process (the index lists them all) and
    whatever a validation writes is uploaded right after."""

    ctx: Any
    remote: str  # the reports zone: a folder or s3://...
    local: str  # where GE reads and writes (the zone itself when local)
    static_uploaded: bool = False

    @property
    def mirrored(self) -> bool:
        return self.local != self.remote

    def remote_uri(self, local_path: str) -> str:
        if not self.mirrored or not local_path.startswith(self.local + "/"):
            return local_path
        return f"{self.remote}/{local_path[len(self.local) + 1 :]}"

    def upload(self, since: float) -> None:
        """Every file GE or ``offline`` wrote since ``since`` (the site's static files
        once per process: they are the same at every build)."""
        if not self.mirrored:
            return
        root = Path(self.local)
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.stat().st_mtime < since:
                continue
            rel = path.relative_to(root).as_posix()
            if rel.startswith(f"{DOCS_FOLDER}/static/") and self.static_uploaded:
                continue
            objects.write_bytes(f"{self.remote}/{rel}", path.read_bytes())
        self.static_uploaded = True


@functools.cache
def site(reports_uri: str) -> Site:
    """The process's GE context for a reports location (GE imported here, once)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    local = reports_uri
    if objects.is_s3(reports_uri):
        local = tempfile.mkdtemp(prefix="ngrl-dq-")
        stored = f"{reports_uri}/{VALIDATIONS_FOLDER}"
        for obj in objects.list_objects(stored):
            target = Path(local, VALIDATIONS_FOLDER, obj.uri[len(stored) + 1 :])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(objects.read_bytes(obj.uri))
    memory = {"class_name": "InMemoryStoreBackend"}
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        stores={
            "expectations_store": {"class_name": "ExpectationsStore", "store_backend": memory},
            "validation_results_store": {
                "class_name": "ValidationResultsStore",
                "store_backend": _backend(f"{local}/{VALIDATIONS_FOLDER}"),
            },
            "checkpoint_store": {"class_name": "CheckpointStore", "store_backend": memory},
            "validation_definition_store": {
                "class_name": "ValidationDefinitionStore",
                "store_backend": memory,
            },
        },
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        data_docs_sites={
            SITE: {
                "class_name": "SiteBuilder",
                "store_backend": _backend(f"{local}/{DOCS_FOLDER}"),
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
        progress_bars=ProgressBarsConfig(globally=False),
    )
    ctx = gx.get_context(project_config=config, mode="ephemeral")
    ctx.data_sources.add_pandas("ngrl")
    return Site(ctx=ctx, remote=reports_uri, local=local)


def context(reports_uri: str) -> Any:
    """The GE context of :func:`site`."""
    return site(reports_uri).ctx


def _ge_suite(ctx: Any, suite: Suite) -> Any:
    """The GE suite of a :class:`Suite`, built once per process (suites are code; adding
    expectations one by one costs GE a comparison with every earlier one)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    cache: dict[tuple[str, tuple[Any, ...]], Any] = ctx.__dict__.setdefault("_ngrl_suites", {})
    key = (suite.name, tuple(e.describe() + e.severity + e.why for e in suite.expectations))
    if key in cache:
        return cache[key]
    with contextlib.suppress(Exception):  # not added yet in this process
        ctx.suites.delete(suite.name)
    items = [
        getattr(gxe, item.type)(
            **dict(item.kwargs),
            severity=item.severity,
            meta={"notes": item.why} if item.why else None,
        )
        for item in suite.expectations
    ]
    ge = gx.ExpectationSuite(
        name=suite.name,
        expectations=items,
        meta={"validates": suite.validates, "notes": suite.description},
    )
    cache[key] = ctx.suites.add(ge)
    return cache[key]


def _severity(value: Any) -> str:
    return str(getattr(value, "value", value) or "critical").lower()


def _observed(result: Any) -> str:
    """What a failed expectation saw, without row values."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return "error: " + str(info.get("exception_message", ""))[:200]
    r = result.result or {}
    if r.get("unexpected_count") is not None:
        total = r.get("element_count")
        pct = r.get("unexpected_percent")
        out = f"{r['unexpected_count']:,} unexpected"
        if total is not None:
            out += f" of {total:,}"
        if pct is not None:
            out += f" ({pct:.2f}%)"
        return out
    value = r.get("observed_value")
    if isinstance(value, float):
        return f"observed {value:.6g}"
    if isinstance(value, int | str):
        return f"observed {str(value)[:120]}"
    if isinstance(value, list):
        return f"observed {len(value)} values"
    return "failed"


def _page_uri(ctx: Any, identifier: Any, local_root: str) -> str:
    """The local path of a validation's page (under the site GE writes to)."""
    try:
        urls = ctx.get_docs_sites_urls(resource_identifier=identifier, site_name=SITE)
        url = str(urls[0]["site_url"])
    except Exception:
        return f"{local_root}/{DOCS_FOLDER}/index.html"
    if url.startswith("file://"):
        return unquote(urlparse(url).path)
    return url


def validate(
    lake: Lake, suites: list[Suite], run_name: str, build_docs: bool = True
) -> list[Outcome]:
    """Validate each suite's frame, store the results and update the Data Docs (one
    index rebuild for the whole call). ``run_name`` (a Dagster run id or a release id)
    groups the validations in Data Docs; it never holds a participant value."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    where = site(lake.zone("reports"))
    ctx = where.ctx
    source = ctx.data_sources.get("ngrl")
    now = dt.datetime.now(dt.UTC)
    started = time.time() - 1
    outcomes: list[Outcome] = []
    identifiers = []
    for suite in suites:
        frame = suite.frame(lake, suite.table)
        ge_suite = _ge_suite(ctx, suite)
        asset_name = suite.name
        try:
            asset = source.get_asset(asset_name)
        except Exception:  # first use in this process
            asset = source.add_dataframe_asset(asset_name)
        try:
            batch_definition = asset.get_batch_definition("whole")
        except Exception:
            batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        with contextlib.suppress(Exception):
            ctx.validation_definitions.delete(suite.name)
        definition = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=ge_suite)
        )
        run_id = RunIdentifier(run_name=run_name, run_time=now)
        result = definition.run(
            batch_parameters={"dataframe": frames.to_pandas(frame)},
            result_format=RESULT_FORMAT,
            run_id=run_id,
        )
        identifier = _identifier(suite.name, run_id)
        identifiers.append(identifier)
        stats = result.statistics
        failed = [
            Failed(
                expectation=r.expectation_config.type,
                column=r.expectation_config.kwargs.get("column"),
                observed=_observed(r),
                why=str((r.expectation_config.meta or {}).get("notes", "")),
                severity=_severity(r.expectation_config.severity),
            )
            for r in result.results
            if not r.success
        ]
        outcomes.append(
            Outcome(
                suite=suite.name,
                asset_key=suite.asset_key,
                blocking=suite.blocking,
                validates=suite.validates,
                rows=frame.height,
                success=not any(f.severity == "critical" for f in failed),
                warnings=sum(f.severity != "critical" for f in failed),
                evaluated=int(stats["evaluated_expectations"]),
                successful=int(stats["successful_expectations"]),
                success_percent=float(stats["success_percent"] or 0.0),
                failed=failed,
                run_name=run_name,
            )
        )
    if build_docs and identifiers:
        warning = _build_docs(where, suites, outcomes, identifiers)
        if warning:
            log.warning("Data Docs %s; the validations are recorded and decided", warning)
            for outcome in outcomes:
                outcome.docs_warning = warning
    where.upload(started)
    return outcomes


def _reason(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if isinstance(exc, offline.AssetsNotInstalled) else f"{type(exc).__name__}: {text}"


def _build_docs(where: Site, suites: list[Suite], outcomes: list[Outcome], ids: list[Any]) -> str:
    """Build the validations' pages (and their suites' and the index) and make them work
    offline; set each outcome's ``docs_page``. Returns what went wrong, or "". Any error
    here is about pages, not data: it is returned, never raised."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    ctx = where.ctx
    local_root = f"{where.local}/{DOCS_FOLDER}"
    try:
        pages = [ExpectationSuiteIdentifier(name=s.name) for s in suites]
        ctx.build_data_docs(site_names=[SITE], resource_identifiers=[*ids, *pages])
        written = [f"{local_root}/index.html"]
        for outcome, identifier in zip(outcomes, ids, strict=True):
            page = _page_uri(ctx, identifier, where.local)
            written.append(page)
            outcome.docs_page = where.remote_uri(page)
        written += [f"{local_root}/expectations/{s.name.replace('.', '/')}.html" for s in suites]
    except Exception as exc:
        return f"not rendered ({_reason(exc)})"
    try:
        offline.localise(local_root, [p for p in written if os.path.exists(p)])
    except Exception as exc:
        return f"rendered, not made offline ({_reason(exc)})"
    return ""


def _identifier(suite_name: str, run_id: Any) -> Any:
    """The stored result's key, as ValidationDefinition.run stores it (a whole-dataframe
    batch's id is ``<datasource>-<asset>``)."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    return ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
        run_id=run_id,
        batch_identifier=f"ngrl-{suite_name}",
    )
