"""``ngrl``: one command line for operators. Thin: every subcommand calls the same modules
the assets call. A request the platform refuses (:class:`resources.errors.Refused`: an
unknown release, batch or participant reference, a freeze date in the future, an unknown
secrets backend, ...) ends in one line ``ngrl: <rule>: <why>`` and exit 2, from
:func:`main` alone."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from tqdm import tqdm

from resources.errors import Refused


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a yyyy-mm-dd date") from None


def cmd_eligibility(args: argparse.Namespace) -> int:
    from ngrl_assets.consent.eligibility import evaluate
    from ngrl_assets.consent.eligibility_csv import EligibilityInputError, read_rows

    path = Path(args.csv)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{path}: cannot read: {exc}", file=sys.stderr)
        return 2
    errors = 0
    try:
        for row in read_rows(text, str(path)):
            if row.error is not None or row.facts is None:
                print(str(row.error), file=sys.stderr)
                errors += 1
                continue
            decision = evaluate(row.facts, args.release_date)
            verdict = "eligible" if decision.eligible else "ineligible"
            print(f"{row.participant}\t{verdict}\t{decision.reason}")
    except EligibilityInputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 1 if errors else 0


def _truth_dir(args: argparse.Namespace) -> Path:
    """The synthetic cohort's answer key lives outside the lake (it names synthetic people,
    and a withdrawal must erase people from every object of the lake): ``--truth-dir``,
    else ``NGRL_SYNTH_TRUTH``, else ``synth-truth/`` beside a local lake root (or under
    ``./.ngrl/`` for a lake on S3)."""
    from resources.lake import Lake, is_s3

    if args.truth_dir:
        return Path(args.truth_dir)
    if os.environ.get("NGRL_SYNTH_TRUTH"):
        return Path(os.environ["NGRL_SYNTH_TRUTH"])
    root = Lake.from_env().root_uri
    return Path(".ngrl/synth-truth") if is_s3(root) else Path(root).parent / "synth-truth"


def cmd_synth(args: argparse.Namespace) -> int:
    from ngrl_assets.synth import generate_cohort
    from resources import objects
    from resources.lake import Lake, is_s3

    landing = args.landing or Lake.from_env().zone("landing")
    kwargs = dict(
        participants=args.participants,
        seed=args.seed,
        defect_rate=args.defect_rate,
        batch_size=args.batch_size,
        as_of=args.as_of,
        progress=not args.quiet,
        wave=args.wave,
        earlier_full_withdrawals=args.earlier_full_withdrawals,
        truth_dir=_truth_dir(args),
    )
    if is_s3(landing):
        from tqdm import tqdm

        from resources.uris import join

        with tempfile.TemporaryDirectory(prefix="ngrl-synth-") as tmp:
            before: set[Path] = set()
            if args.wave > 1:  # a later wave reads the earlier ones (all but their gVCFs)
                prefix = landing.rstrip("/") + "/"
                for obj in objects.list_objects(landing):
                    rel = obj.uri.removeprefix(prefix)
                    if "/gvcf/" not in f"/{rel}":
                        local = Path(tmp) / rel
                        local.parent.mkdir(parents=True, exist_ok=True)
                        local.write_bytes(objects.read_bytes(obj.uri))
                        before.add(local)
            summary = generate_cohort(Path(tmp), **kwargs)  # type: ignore[arg-type]
            files = sorted(p for p in Path(tmp).rglob("*") if p.is_file() and p not in before)
            for path in tqdm(files, desc="upload", disable=args.quiet):
                objects.write_bytes(
                    join(landing, path.relative_to(tmp).as_posix()), path.read_bytes()
                )
    else:
        Path(landing).mkdir(parents=True, exist_ok=True)
        summary = generate_cohort(Path(landing), **kwargs)  # type: ignore[arg-type]
    print(f"synthetic landing zone written to {landing}")
    if args.verbose:
        print(json.dumps(summary, indent=2, default=str))
    return 0


def _describe_run(sensor: str, run: Any) -> None:
    """One readable block per run: what ran, its counts, its checks (never row values)."""
    partition = run.dagster_run.tags.get("dagster/partition")
    what = run.job_def.name + (f" [{partition}]" if partition else "")
    status = "ok" if run.success else "FAILED"
    tqdm.write(f"{status:6} {what}  (from {sensor})")
    by_asset: dict[str, list[Any]] = {}
    for mat in run.get_asset_materialization_events():
        key = mat.materialization.asset_key.to_user_string()
        by_asset.setdefault(key, []).append(mat.materialization)
    for key, mats in by_asset.items():
        counts = [
            f"{k.removeprefix('dagster/')}={v.value}"
            for k, v in mats[-1].metadata.items()
            if isinstance(v.value, int) and not isinstance(v.value, bool)
        ]
        parts = f" ({len(mats)} partitions)" if len(mats) > 1 else ""
        tqdm.write(f"         {key}{parts}: {', '.join(counts[:6]) or 'written'}")
    evaluations = run.get_asset_check_evaluations()
    if evaluations:
        failed = [
            f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed
        ]
        line = f"         checks: {len(evaluations) - len(failed)}/{len(evaluations)} passed"
        tqdm.write(line + (f"; FAILED {', '.join(failed)}" if failed else ""))


def cmd_materialize(args: argparse.Namespace) -> int:
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)

    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.pipeline import run_all
    from resources.lake import Lake

    lake = Lake.from_env()
    result = run_all(
        build_definitions(lake),
        lake,
        dg.DagsterInstance.get(),
        on_run=_describe_run,
        progress=sys.stderr.isatty(),
    )
    checks = result.check_evaluations()
    failed = [e for e in checks if not e.passed]
    print(
        f"\n{len(result.runs)} runs ({sum(not r.success for r in result.runs)} failed), "
        f"{len(checks)} check evaluations ({len(failed)} failed)"
    )
    for failure in result.failures():
        print(failure, file=sys.stderr)
    return 0 if result.success else 1


def cmd_joint_call(args: argparse.Namespace) -> int:
    from ngrl_assets.genomics.batches import SampleBatching
    from ngrl_assets.genomics.export import joint_call_files
    from ngrl_assets.genomics.gvcf import GvcfError

    try:
        batching = (
            SampleBatching.from_env()
            if args.batch_size is None
            else SampleBatching(args.batch_size)
        )
        done = joint_call_files(
            [Path(p) for p in args.gvcf],
            Path(args.out_vcf),
            args.min_dp,
            batching,
            Path(args.work_dir) if args.work_dir else None,
            args.workers,
        )
    except (GvcfError, ValueError, OSError) as exc:  # OSError: an input or --work-dir
        print(str(exc), file=sys.stderr)
        return 2
    print(f"{done.samples} samples, {done.sites} biallelic sites -> {args.out_vcf}")
    return 0


def cmd_conformance(args: argparse.Namespace) -> int:
    from ngrl_assets.genomics.conformance import run_dir

    results = run_dir(Path(args.dir))
    for r in results:
        print(f"{r.name}\t{r.status}\t{r.detail}")
    passed = sum(r.status == "pass" for r in results)
    failed = sum(r.status == "fail" for r in results)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_release(args: argparse.Namespace) -> int:
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from ngrl_assets.releases import reading
    from resources.lake import Lake

    lake = Lake.from_env()
    if args.release_command == "list":
        sys.stdout.write(reading.list_text(lake))
    elif args.release_command == "show":
        sys.stdout.write(reading.show_text(lake, args.id))
    elif args.release_command == "diff":
        sys.stdout.write(reading.diff_text(lake, args.a, args.b))
    else:
        return _release_cut(lake, args)
    return 0


def _release_cut(lake: Any, args: argparse.Namespace) -> int:
    """Cut a release the way the UI does: one run of release_cut_job on the instance."""
    import dagster as dg

    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.pipeline import QUIET
    from ngrl_assets.releases import cut, reading
    from ngrl_assets.releases.partitions import RELEASE_PARTITIONS

    cut.validate_release_id(args.id)
    cut.validate_freeze_date(args.freeze_date)
    job = build_definitions(lake).resolve_job_def("release_cut_job")
    instance = dg.DagsterInstance.get()
    if args.id not in instance.get_dynamic_partitions(RELEASE_PARTITIONS):
        instance.add_dynamic_partitions(RELEASE_PARTITIONS, [args.id])
    config = {"freeze_date": args.freeze_date.isoformat(), "label": args.label or ""}
    result = job.execute_in_process(
        instance=instance,
        partition_key=args.id,
        run_config={**QUIET, "ops": {"release_tables": {"config": config}}},
        raise_on_error=False,
    )
    _describe_run("ngrl release cut", result)
    if not result.success:
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE" and event.step_failure_data.error:
                error = event.step_failure_data.error
                while error.cause is not None:  # the user-facing reason is the innermost
                    error = error.cause
                print(error.message.strip(), file=sys.stderr)
        return 1
    sys.stdout.write(reading.show_text(lake, args.id))
    return 0


def cmd_erasure_scan(args: argparse.Namespace) -> int:
    """Search every object of every zone for a participant's identifiers and pseudonyms;
    exit 1 when anything is found outside the tombstones. A reference neither registered
    nor tombstoned is refused: a clean scan for nobody proves nothing."""
    from ngrl_assets.releases.cut import release_key
    from ngrl_assets.withdrawal.needles import needles_for, render_report
    from ngrl_assets.withdrawal.propagate import residue_scan
    from resources.lake import Lake
    from resources.secrets import SecretNotFound, Secrets

    lake = Lake.from_env()
    secrets = Secrets.from_env()

    def key(release_id: str) -> bytes:
        return release_key(secrets.get_bytes, release_id)

    try:
        key("probe")
        keys = key
    except SecretNotFound:
        keys = None
    extra = [("NHS number", v) for v in args.nhs_number] + [
        ("sample id", v) for v in args.sample_id
    ]
    needles, kinds = needles_for(lake, args.participant_reference, keys, extra)
    if "internal id" not in kinds:  # neither the registry nor a tombstone knows it
        raise Refused(
            "the participant reference given is not in the participant registry and has no "
            "withdrawal tombstone: nobody to scan for",
            "participant_reference_unknown",
        )
    if keys is None:
        print(
            "no release keys: release pseudonyms of an erased participant not searched",
            file=sys.stderr,
        )
    findings, scanned = residue_scan(lake, needles)
    print(f"{scanned} objects scanned", file=sys.stderr)
    sys.stdout.write(render_report(findings, len(needles), kinds))
    return 1 if findings else 0


def cmd_withdrawal(args: argparse.Namespace) -> int:
    """List withdrawal batches, or print and file one batch's erasure report (exit 1 when
    the report is INCOMPLETE), or propagate one batch; a malformed or unknown batch id is
    refused (exit 2)."""
    from ngrl_assets.withdrawal import batches, report
    from resources.lake import Lake

    lake = Lake.from_env()
    if args.withdrawal_command == "propagate":
        return _withdrawal_propagate(lake, args.batch)
    if args.withdrawal_command == "list":
        frame = batches.listing(lake)
        if args.reason:
            frame = frame.filter(frame["reason"] == args.reason)
        if args.ids:  # one batch id per line, oldest first (for scripts)
            ids = frame["batch_id"].to_list()[::-1]
            sys.stdout.write("".join(f"{b}\n" for b in ids))
            return 0
        from ngrl_assets.withdrawal.runs import current_progress

        sys.stdout.write(_withdrawal_list(frame, current_progress(frame)))
        return 0
    md, reasons = report.render(lake, args.batch)
    md_uri, html_uri = report.write_report(lake, args.batch, md)
    if args.html:
        from resources import objects

        sys.stdout.write(objects.read_bytes(html_uri).decode("utf-8"))
    else:
        sys.stdout.write(md)
    print(f"report written to {md_uri}", file=sys.stderr)
    print(f"report written to {html_uri}", file=sys.stderr)
    return 1 if reasons else 0


def _withdrawal_propagate(lake: Any, batch: str) -> int:
    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.withdrawal import batches, propagate
    from ngrl_assets.withdrawal.targets import erasure_targets

    batches.get(lake, batch)  # a well-formed id of a batch that was opened
    targets = erasure_targets(build_definitions(lake).resolve_asset_graph())
    try:
        result = propagate.propagate(lake, batch, targets)
    except propagate.ResidueFound as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(
        f"{batch}: {result.members} participant(s), {len(result.tables_redacted)} tables and "
        f"{len(result.releases_redacted)} releases redacted, {result.objects_scanned} objects "
        f"scanned clean, {result.seconds:.1f} s"
    )
    return 0


def _withdrawal_list(df: Any, progress: dict[str, Any]) -> str:
    """One row per batch; ``status``: complete, running, pending or overdue (``note``: why)."""
    header = ("batch", "reason", "members", "landed", "status", "completed", "end_to_end_s")
    out = ["\t".join((*header, "note"))]
    for r in df.iter_rows(named=True):
        seconds = r["end_to_end_seconds"]
        state = progress.get(r["batch_id"])
        out.append(
            "\t".join(
                [
                    r["batch_id"],
                    r["reason"] or "-",
                    str(r["members"]) if r["members"] is not None else "-",
                    r["notice_landed_at"].isoformat() if r["notice_landed_at"] else "-",
                    state.state if state else r["status"] or "-",
                    r["completed_at"].isoformat() if r["completed_at"] else "-",
                    str(int(seconds)) if seconds is not None else "-",
                    state.reason if state and state.reason else "-",
                ]
            )
        )
    return "\n".join(out) + "\n"


def cmd_dictionary(args: argparse.Namespace) -> int:
    from ngrl_assets import catalogue

    text = catalogue.dictionary_markdown()
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_dq_report(args: argparse.Namespace) -> int:
    from ngrl_assets.quality import report
    from resources.lake import Lake

    built = report.build(Lake.from_env(), args.release or None)
    print(built.markdown())
    print()
    for release_id, (_, index) in built.releases.items():
        print(f"Release {release_id} data quality: {index}")
    print(f"Data Docs (every validation, with history): {built.index}")
    return 1 if args.strict and built.failed else 0


def cmd_lake(args: argparse.Namespace) -> int:
    from resources.lake import Lake

    for zone, uri in Lake.from_env().describe().items():
        print(f"{zone}\t{uri}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ngrl_assets.consent.eligibility_csv import COLUMNS

    parser = argparse.ArgumentParser(prog="ngrl", description="NGRL data platform operations")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("eligibility", help="release eligibility for participants in a CSV")
    p.add_argument(
        "csv",
        help="CSV with columns " + ",".join(COLUMNS),
    )
    p.add_argument("--release-date", type=_date, required=True, help="data-freeze date yyyy-mm-dd")
    p.set_defaults(func=cmd_eligibility)

    p = sub.add_parser("synth", help="write a synthetic landing zone (deterministic per seed)")
    p.add_argument("--participants", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument(
        "--defect-rate", type=float, default=0.02, help="share of defective extra rows (0 = clean)"
    )
    p.add_argument("--batch-size", type=int, default=250, help="samples per sequencing delivery")
    p.add_argument(
        "--as-of",
        type=_date,
        help="reference date of the cohort (default 2026-09-30; wave N: wave N-1's + 61 days)",
    )
    p.add_argument(
        "--wave",
        type=int,
        default=1,
        help="1: a fresh landing zone; N>1: a later batch into the landing zone of waves 1..N-1",
    )
    p.add_argument(
        "--truth-dir",
        default=None,
        help="where the answer key (truth.json) goes (default: synth-truth/ beside the lake)",
    )
    p.add_argument(
        "--earlier-full-withdrawals",
        type=int,
        default=0,
        help="wave N>1: how many of its withdrawal notices for wave-1 participants are full "
        "(default 0: all from further contact only)",
    )
    p.add_argument(
        "--landing", help="landing folder or s3:// URI (default: the lake's landing zone)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help="print the generator's summary")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser(
        "materialize",
        help="evaluate every landing sensor and run what it requests (consent, deliveries, "
        "joint calling, clinical extracts), then the automation conditions, in-process on the "
        "Dagster instance ($DAGSTER_HOME)",
    )
    p.set_defaults(func=cmd_materialize)

    p = sub.add_parser("joint-call", help="joint-call gVCFs into a multi-sample VCF")
    p.add_argument("gvcf", nargs="+", help="single-sample bgzipped gVCFs")
    p.add_argument("--out-vcf", required=True, help="output .vcf.gz (bgzipped and indexed)")
    p.add_argument("--min-dp", type=int, default=1, help="minimum depth for a call (default 1)")
    p.add_argument(
        "--batch-size",
        type=int,
        help="samples per sample batch (default: $NGRL_SAMPLE_BATCH_SIZE or 1,000)",
    )
    p.add_argument(
        "--work-dir",
        help="where the scratch lake is made (default: the system's temporary folder); "
        "it holds the inputs' rows, about their gVCFs' size, and is deleted at the end",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes parsing the gVCFs (default: 2, or 1 on a one-core machine)",
    )
    p.set_defaults(func=cmd_joint_call)

    p = sub.add_parser("conformance", help="run GLnexus-format cases (*.yml) in a folder")
    p.add_argument("dir")
    p.set_defaults(func=cmd_conformance)

    p = sub.add_parser("release", help="cut, list, show and compare research releases")
    rel = p.add_subparsers(dest="release_command", required=True)
    c = rel.add_parser("cut", help="cut, gate and publish a release (one Dagster run)")
    c.add_argument("--id", required=True, help="release id, e.g. v1")
    c.add_argument("--freeze-date", type=_date, required=True, help="data-freeze date yyyy-mm-dd")
    c.add_argument("--label", help="human label, e.g. 2026-Q4")
    rel.add_parser("list", help="published releases (from the registry)")
    c = rel.add_parser("show", help="one release: tables, rows, freeze date, gate, notes")
    c.add_argument("id")
    c = rel.add_parser("diff", help="what changed from release A to release B")
    c.add_argument("a")
    c.add_argument("b")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser(
        "erasure-scan",
        help="residue scan: every object of every zone searched for one participant's "
        "identifiers, sample ids and pseudonyms (exit 1 if any is found)",
    )
    p.add_argument("participant_reference")
    p.add_argument(
        "--nhs-number", action="append", default=[], help="also search for this NHS number"
    )
    p.add_argument(
        "--sample-id", action="append", default=[], help="also search for this sample id"
    )
    p.set_defaults(func=cmd_erasure_scan)

    p = sub.add_parser(
        "withdrawal", help="withdrawal batches and their erasure reports (audit ledger)"
    )
    wd = p.add_subparsers(dest="withdrawal_command", required=True)
    wl = wd.add_parser("list", help="every batch: reason, members, landed, status, end-to-end time")
    wl.add_argument("--ids", action="store_true", help="batch ids only, oldest first")
    wl.add_argument("--reason", choices=["withdrawal", "redelivery"], help="only these batches")
    c = wd.add_parser(
        "report",
        help="print a batch's erasure report (Markdown) and file it with its HTML under "
        "reports/withdrawals/BATCH/ (exit 1 if INCOMPLETE)",
    )
    c.add_argument("batch", help="withdrawal batch id (wd- and 12 hex digits)")
    c.add_argument("--html", action="store_true", help="print the HTML page instead")
    c = wd.add_parser(
        "propagate",
        help="run (or complete) one batch's propagation outside Dagster, e.g. after its "
        "sensor gave up; exit 1 if the residue scan finds anything",
    )
    c.add_argument("batch", help="withdrawal batch id (wd- and 12 hex digits)")
    p.set_defaults(func=cmd_withdrawal)

    p = sub.add_parser("dictionary", help="print the data dictionary (from the table catalogue)")
    p.add_argument("--out", help="write it to this file instead of stdout")
    p.set_defaults(func=cmd_dictionary)

    p = sub.add_parser(
        "dq-report",
        help="validate every expectation suite (curated tables, published releases) and "
        "rebuild the Great Expectations Data Docs in the reports zone",
    )
    p.add_argument("--release", action="append", help="only this release (repeatable)")
    p.add_argument("--strict", action="store_true", help="exit 1 if a critical suite fails")
    p.set_defaults(func=cmd_dq_report)

    p = sub.add_parser("lake", help="print where each lake zone lives")
    p.set_defaults(func=cmd_lake)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Refused as exc:
        print(f"ngrl: {exc.rule}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
