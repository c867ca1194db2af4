"""Purge a withdrawn participant from the landing zone, and from the two tables that point
into it (the landing ledger and the quarantine).

Given the participant's identifying values (the *needles*: consent reference, NHS number,
sample ids) and the landing keys known to be theirs (gVCFs and indexes, from
``raw_sequences``), :func:`purge_landing`:

- **deletes** every landing object whose key holds a needle (case-insensitive), every
  listed key, and every binary or compressed object (gzip / bgzip / ``.tbi`` / ``.csi`` /
  anything that is not text) in which the residue scanner (:func:`scan.scan`, with its
  decoders) finds a needle; a deleted ``x.g.vcf.gz`` takes its index ``x.g.vcf.gz.tbi`` /
  ``.csi`` with it;
- **rewrites** every text object (CSV / TSV / pipe-delimited / TXT / JSON, a BOM and CRLF
  line ends kept) with each line that holds a needle replaced by an empty line (its line
  ending kept), so every other line keeps its bytes *and its line number* (quarantine
  records and curated rows point at file + line). A line is blanked when one of its fields
  (split on the delimiter of the first line, ``,`` ``\\t`` or ``|``; whitespace and quotes
  stripped; case-insensitive; a 10-digit NHS number also matched when written with spaces
  or hyphens, ``943 476 5919``) equals a needle, and also when a needle only appears
  inside a larger field (counted apart as ``lines_ambiguous``): the residue scanner would
  find it there, and the scan must end clean;
- **ledger** (``audit/landing_ledger``): the rows of deleted objects (and of any key that
  holds a needle) are removed; the row of a rewritten file gets the new ``size_bytes`` and
  ``sha256`` and its counts reduced by the blanked data lines (``rows_in``, and
  ``rows_quarantined`` or ``rows_accepted`` by whether the line was quarantined: QUARANTINE
  has ``(source_file=key, line=n)``, or the line names an object of the same folder that
  has quarantine records, as a manifest line names its gVCF; every line of a file
  quarantined as a whole). The row stays, so :func:`ledger.pending` never takes a
  rewritten file for a new one, and ``rows_in = accepted + quarantined`` still holds;
- **quarantine**: the records of blanked lines and of deleted objects are removed;
- both tables are then **physically purged** (:func:`erasure.erase_rows_where`,
  :func:`erasure.purge`: no old Parquet file or log entry keeps a removed key or line);
- on a **versioned S3 bucket** every noncurrent version and delete marker of each deleted
  or rewritten object is deleted by version id (exact key: ``a.csv`` never touches
  ``a.csv.bak``).

**Order, idempotency, crashes.** Everything is decided from what is on storage: the plan
(objects to delete, lines to blank, the rewritten bytes and their hash) is computed first,
then the tables are changed, then the objects, then the old S3 versions. A ledger row whose
``sha256`` already is the rewritten file's is not reduced again, so a crash at any point
and a rerun complete the purge without double counting; a second call finds nothing and
changes nothing.

**Nothing identifying leaves.** :class:`LandingPurge` carries counts only; log lines and
exception messages mask every needle (``[needle 2]``).

Must not race intake on the same files (a file being rewritten while a sensor reads it).
No Dagster here.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ngrl_assets.common.ledger import LEDGER, LedgerStatus
from ngrl_assets.common.quarantine import QUARANTINE
from ngrl_assets.withdrawal import erasure
from ngrl_assets.withdrawal.scan import scan
from resources import objects
from resources.lake import Lake
from resources.uris import is_s3

log = logging.getLogger(__name__)

_BOM = b"\xef\xbb\xbf"
_NHS = re.compile(r"[0-9]{10}")
_SEPARATORS = re.compile(r"[\s-]")
_DELIMITERS = (",", "\t", "|")
_ANY_DELIMITER = re.compile(r"[,\t|;]")
_QUOTES = "\"'"
_INDEX_SUFFIXES = (".tbi", ".csi")
# Names that are never line-oriented text (read as binary, deleted when they hold a needle).
_BINARY_SUFFIXES = (
    ".gz", ".bgz", ".tbi", ".csi", ".bai", ".crai", ".bam", ".cram", ".bcf", ".parquet",
    ".png", ".jpg", ".jpeg", ".gif", ".pdf", ".zip", ".xlsx", ".xls", ".docx", ".bz2",
    ".xz", ".zst", ".7z", ".tar", ".h5", ".npy", ".avro", ".orc", ".arrow", ".feather",
)  # fmt: skip
_BINARY_MAGIC = (b"\x1f\x8b", b"PAR1", b"\x89PNG", b"PK\x03\x04", b"CRAM", b"BZh", b"\xfd7zXZ")
_SNIFF_BYTES = 8192
_NONCURRENT = " (noncurrent version "


@dataclass(frozen=True)
class LandingPurge:
    """What one landing purge did: counts only, never values or keys.

    ``lines_blanked`` counts every line replaced by an empty line; ``lines_ambiguous`` the
    part of them where a needle was only found inside a larger field."""

    objects_deleted: int = 0
    files_rewritten: int = 0
    lines_blanked: int = 0
    lines_ambiguous: int = 0
    versions_purged: int = 0
    ledger_rows_removed: int = 0
    ledger_rows_updated: int = 0
    quarantine_rows_removed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def changed(self) -> bool:
        return any(self.as_dict().values())


class LandingPurgeError(RuntimeError):
    """A landing purge failed; the message never holds a needle. Rerun to complete it."""


# ---- matching -----------------------------------------------------------------------------
class _Matcher:
    """Needle tests on keys, lines and fields (case-insensitive)."""

    def __init__(self, needles: Sequence[str]) -> None:
        self.needles = [n for n in needles if n]
        self.lowered = sorted({n.lower() for n in self.needles}, key=len, reverse=True)
        self.fields = set(self.lowered)
        self.digits = {d for n in self.lowered if _NHS.fullmatch(d := _SEPARATORS.sub("", n))}
        # an NHS number written with spaces or hyphens anywhere in a line
        self.spaced = [
            re.compile(r"(?<![0-9])" + r"[ \-]?".join(d) + r"(?![0-9])")
            for d in sorted(self.digits)
        ]

    def in_key(self, key: str) -> bool:
        lowered = key.lower()
        return any(n in lowered for n in self.lowered)

    def field_equal(self, value: str) -> bool:
        v = value.strip().strip(_QUOTES).strip().lower()
        if not v:
            return False
        if v in self.fields:
            return True
        compact = _SEPARATORS.sub("", v)
        return bool(self.digits) and compact in self.digits

    def line(self, text: str, delimiter: str | None) -> str | None:
        """``"field"`` when a field equals a needle, ``"ambiguous"`` when a needle only
        appears inside a field, else None."""
        lowered = text.lower()
        inside = any(n in lowered for n in self.lowered) or any(p.search(text) for p in self.spaced)
        if not inside:
            return None
        parts = text.split(delimiter) if delimiter else _ANY_DELIMITER.split(text)
        return "field" if any(self.field_equal(p) for p in parts) else "ambiguous"

    def mask(self, text: str) -> str:
        for i, n in sorted(enumerate(self.needles), key=lambda p: -len(p[1])):
            text = re.sub(re.escape(n), f"[needle {i}]", text, flags=re.IGNORECASE)
        for p in self.spaced:
            text = p.sub("[needle]", text)
        return text


def _delimiter(header: str) -> str | None:
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


# ---- the plan -----------------------------------------------------------------------------
@dataclass
class _Rewrite:
    key: str
    uri: str
    output: Path
    blanked: list[int]  # 1-based line numbers
    ambiguous: int
    size: int
    sha256: str
    names: dict[int, set[str]] = field(default_factory=dict)  # line -> its field values


@dataclass
class _Plan:
    delete: set[str] = field(default_factory=set)
    rewrites: list[_Rewrite] = field(default_factory=list)
    version_keys: set[str] = field(default_factory=set)  # keys whose old versions go

    @property
    def empty(self) -> bool:
        return not (self.delete or self.rewrites or self.version_keys)


def _binary_name(key: str) -> bool:
    return key.lower().endswith(_BINARY_SUFFIXES)


def _binary_head(head: bytes) -> bool:
    return b"\x00" in head or head.startswith(_BINARY_MAGIC)


def _blank_lines(source: Path, output: Path, matcher: _Matcher) -> tuple[list[int], int, dict]:
    """Copy ``source`` to ``output`` with every needle line emptied (its line ending and,
    on line 1, a BOM kept). Returns (blanked line numbers, ambiguous count, line -> fields)."""
    blanked: list[int] = []
    names: dict[int, set[str]] = {}
    ambiguous = 0
    delimiter: str | None = None
    with source.open("rb") as fin, output.open("wb") as fout:
        for n, raw in enumerate(fin, start=1):
            end = b"\r\n" if raw.endswith(b"\r\n") else b"\n" if raw.endswith(b"\n") else b""
            body = raw[: len(raw) - len(end)]
            bom = _BOM if n == 1 and body.startswith(_BOM) else b""
            text = body[len(bom) :].decode("utf-8", errors="replace")
            if n == 1:
                delimiter = _delimiter(text)
            verdict = matcher.line(text, delimiter)
            if verdict is not None:
                blanked.append(n)
                ambiguous += verdict == "ambiguous"
                parts = text.split(delimiter) if delimiter else _ANY_DELIMITER.split(text)
                names[n] = {p.strip().strip(_QUOTES).strip() for p in parts} - {""}
                raw = bom + end
            fout.write(raw)
    return blanked, ambiguous, names


def _sha256_size(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _head(uri: str) -> bytes:
    if is_s3(uri):
        bucket, key = objects.split_s3(uri)
        resp = objects.s3_client().get_object(
            Bucket=bucket, Key=key, Range=f"bytes=0-{_SNIFF_BYTES - 1}"
        )
        data: bytes = resp["Body"].read()
        return data
    with open(uri, "rb") as fh:
        return fh.read(_SNIFF_BYTES)


def _plan(
    lake: Lake,
    matcher: _Matcher,
    object_keys: Iterable[str],
    workdir: Path,
) -> _Plan:
    zone = lake.zone("landing")
    root = zone.rstrip("/") + "/"
    listing = {o.uri.removeprefix(root): o for o in objects.list_objects(zone)}
    findings = scan(lake, matcher.needles, zones=("landing",))
    content_hits = {f.uri for f in findings if f.kind != "key"}
    old_hits = {f.uri.split(_NONCURRENT, 1)[0] for f in findings if _NONCURRENT in f.uri}
    listed = {k.strip().lstrip("/") for k in object_keys if k and k.strip()}

    plan = _Plan()
    texts: list[str] = []
    for key, info in listing.items():
        if key in listed or matcher.in_key(key):
            plan.delete.add(key)
        elif _binary_name(key) or _binary_head(_head(info.uri)):
            if info.uri in content_hits:
                plan.delete.add(key)
        else:
            texts.append(key)
    for key in list(plan.delete):  # a gVCF takes its index with it
        plan.delete.update(key + s for s in _INDEX_SUFFIXES if key + s in listing)

    for n, key in enumerate(k for k in texts if k not in plan.delete):
        info = listing[key]
        folder = workdir / f"{n:06d}"
        folder.mkdir()
        source = objects.fetch(info.uri, folder)
        output = folder / "rewritten"
        blanked, ambiguous, names = _blank_lines(source, output, matcher)
        if source.is_relative_to(workdir):
            source.unlink(missing_ok=True)
        if not blanked:
            output.unlink()
            continue
        digest, size = _sha256_size(output)
        plan.rewrites.append(
            _Rewrite(key, info.uri, output, blanked, ambiguous, size, digest, names)
        )

    # a blanked line may name objects of its folder (a manifest line: the sample's gVCF and
    # index, which hold only the sample id, e.g. not yet ingested, so no needle of ours):
    # they are the participant's and go too
    for rewrite in plan.rewrites:
        base = posixpath.dirname(rewrite.key)
        for n in rewrite.blanked:
            for value in rewrite.names.get(n, ()):
                named = posixpath.normpath(posixpath.join(base, value))
                if named in listing and named != rewrite.key and _binary_name(named):
                    plan.delete.add(named)
                    plan.delete.update(named + x for x in _INDEX_SUFFIXES if named + x in listing)
    plan.version_keys = set(plan.delete) | {r.key for r in plan.rewrites} | listed
    for version in objects.noncurrent_versions(zone):  # earlier runs, crashes, overwrites
        key = version.uri.removeprefix(root)
        if matcher.in_key(key) or version.uri in old_hits:
            plan.version_keys.add(key)
    return plan


# ---- the tables ---------------------------------------------------------------------------
def _contains_needle(column: str, matcher: _Matcher) -> pl.Expr:
    if not matcher.lowered:
        return pl.lit(False)
    return pl.col(column).str.to_lowercase().str.contains_any(matcher.lowered)


def _quarantined_lines(rewrite: _Rewrite, records: pl.DataFrame) -> set[int]:
    """Blanked data lines of a rewritten file that were quarantined: a record at the line,
    or a record of an object of the same folder the line names (a manifest line names its
    gVCF, whose checks quarantine the sample)."""
    own = set(records.filter(pl.col("source_file") == rewrite.key).get_column("line").to_list())
    others = set(records.get_column("source_file").to_list())
    folder = posixpath.dirname(rewrite.key)
    out = set()
    for n in rewrite.blanked:
        if n < 2:
            continue
        named = {posixpath.normpath(posixpath.join(folder, v)) for v in rewrite.names.get(n, ())}
        if n in own or named & (others - {rewrite.key}):
            out.add(n)
    return out


def _ledger_updates(rows: pl.DataFrame, plan: _Plan, records: pl.DataFrame) -> pl.DataFrame:
    by_key = {r["landing_key"]: r for r in rows.iter_rows(named=True)}
    updated = []
    for rewrite in plan.rewrites:
        row = by_key.get(rewrite.key)
        if row is None or row["sha256"] == rewrite.sha256:
            continue  # not ingested yet, or already updated by an earlier (interrupted) run
        data_lines = [n for n in rewrite.blanked if n >= 2]
        if row["status"] == LedgerStatus.QUARANTINED:
            quarantined, accepted = len(data_lines), 0
        elif row["status"] == LedgerStatus.DUPLICATE:
            quarantined = accepted = 0
        else:
            quarantined = len(_quarantined_lines(rewrite, records))
            accepted = len(data_lines) - quarantined
        updated.append(
            {
                **row,
                "size_bytes": rewrite.size,
                "sha256": rewrite.sha256,
                "rows_in": max(row["rows_in"] - len(data_lines), 0),
                "rows_accepted": max(row["rows_accepted"] - accepted, 0),
                "rows_quarantined": max(row["rows_quarantined"] - quarantined, 0),
            }
        )
    return pl.DataFrame(updated, schema=LEDGER.schema)


def _tables(lake: Lake, plan: _Plan, matcher: _Matcher, listed: set[str]) -> tuple:
    """Ledger and quarantine: updates, removals, then the physical purge of both."""
    gone = plan.delete | listed
    records = lake.read(QUARANTINE) if lake.exists(QUARANTINE) else QUARANTINE.empty()
    blanked = [(r.key, n) for r in plan.rewrites for n in r.blanked]

    ledger_removed = ledger_updated = 0
    if lake.exists(LEDGER):
        rows = lake.read(LEDGER)
        remove = rows.filter(
            pl.col("landing_key").is_in(sorted(gone)) | _contains_needle("landing_key", matcher)
        ).select("landing_key")
        updates = _ledger_updates(rows, plan, records)
        if updates.height:
            lake.merge(LEDGER, updates, ["landing_key"])
            ledger_updated = updates.height
        if remove.height:
            ledger_removed = erasure.erase_rows_where(lake, LEDGER, remove).rows_removed
        else:
            erasure.purge(lake, LEDGER)  # after the update merge, or an interrupted run

    quarantine_removed = 0
    if lake.exists(QUARANTINE):
        pairs = pl.DataFrame(blanked, schema={"source_file": pl.String, "line": pl.Int64},
                             orient="row")  # fmt: skip
        keys = pl.concat(
            [
                records.filter(
                    pl.col("source_file").is_in(sorted(gone))
                    | _contains_needle("source_file", matcher)
                    | _contains_needle("batch", matcher)
                ).select("source_file", "line"),
                records.join(pairs, on=["source_file", "line"], how="semi").select(
                    "source_file", "line"
                ),
            ]
        ).unique()
        if keys.height:
            quarantine_removed = erasure.erase_rows_where(lake, QUARANTINE, keys).rows_removed
        else:
            erasure.purge(lake, QUARANTINE)
    return ledger_removed, ledger_updated, quarantine_removed


# ---- the objects --------------------------------------------------------------------------
def _replace(uri: str, output: Path) -> None:
    if is_s3(uri):
        bucket, key = objects.split_s3(uri)
        objects.s3_client().upload_file(str(output), bucket, key)
        return
    target = Path(uri)
    staging = target.with_name(f".{target.name}.ngrl-purge")
    shutil.copyfile(output, staging)
    os.replace(staging, target)  # atomic: a reader sees the old or the new bytes


def _delete(uri: str) -> None:
    if is_s3(uri):
        bucket, key = objects.split_s3(uri)
        objects.s3_client().delete_object(Bucket=bucket, Key=key)
    else:
        Path(uri).unlink(missing_ok=True)


def _versioned(bucket: str, cache: dict[str, bool]) -> bool:
    if bucket not in cache:
        status = objects.s3_client().get_bucket_versioning(Bucket=bucket).get("Status")
        cache[bucket] = bool(status)
    return cache[bucket]


def _purge_versions(uri: str, cache: dict[str, bool]) -> int:
    """Delete by version id every noncurrent version, then every delete marker, of exactly
    this key (versions first: a crash in between never brings old bytes back)."""
    if not is_s3(uri):
        return 0
    bucket, key = objects.split_s3(uri)
    if not _versioned(bucket, cache):
        return 0
    client = objects.s3_client()
    versions: list[str] = []
    markers: list[str] = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        versions += [v["VersionId"] for v in page.get("Versions", [])
                     if v["Key"] == key and not v["IsLatest"]]  # fmt: skip
        markers += [m["VersionId"] for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    done = 0
    for batch in (versions, markers):
        for i in range(0, len(batch), 1000):
            chunk = [{"Key": key, "VersionId": v} for v in batch[i : i + 1000]]
            resp = client.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
            if resp.get("Errors"):
                raise LandingPurgeError(f"could not delete {len(resp['Errors'])} object versions")
            done += len(chunk)
    return done


# ---- the purge ----------------------------------------------------------------------------
def purge_landing(
    lake: Lake, needles: Sequence[str], object_keys: Sequence[str] = ()
) -> LandingPurge:
    """Remove a withdrawn participant from the landing zone, the ledger and the quarantine
    (see the module docstring). ``needles``: their identifying values; ``object_keys``:
    landing keys (relative to the landing zone) known to be theirs. Returns counts only.
    Idempotent; rerun after a crash to complete."""
    wanted = [str(n).strip() for n in needles if n is not None and str(n).strip()]
    matcher = _Matcher(wanted)
    listed = {k.strip().lstrip("/") for k in object_keys if k and k.strip()}
    if not wanted and not listed:
        return LandingPurge()
    workdir = Path(tempfile.mkdtemp(prefix="ngrl-landing-purge-"))
    try:
        return _run(lake, matcher, listed, workdir)
    except LandingPurgeError:
        raise
    except Exception as exc:  # the message may quote a key or a value: mask it
        message = matcher.mask(f"{type(exc).__name__}: {exc}")
        raise LandingPurgeError(f"landing purge failed (rerun to complete): {message}") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(lake: Lake, matcher: _Matcher, listed: set[str], workdir: Path) -> LandingPurge:
    plan = _plan(lake, matcher, listed, workdir)
    if plan.empty and not _table_residue(lake, matcher, listed):
        log.info("landing purge: nothing to do")
        return LandingPurge()

    ledger_removed, ledger_updated, quarantine_removed = _tables(lake, plan, matcher, listed)

    for rewrite in plan.rewrites:
        _replace(rewrite.uri, rewrite.output)
        log.info(
            "landing purge: rewrote %s (%d lines blanked)",
            matcher.mask(rewrite.key),
            len(rewrite.blanked),
        )
    for key in sorted(plan.delete):
        _delete(lake.landing(key))
        log.info("landing purge: deleted %s", matcher.mask(key))

    versions = 0
    cache: dict[str, bool] = {}
    for key in sorted(plan.version_keys):
        versions += _purge_versions(lake.landing(key), cache)

    result = LandingPurge(
        objects_deleted=len(plan.delete),
        files_rewritten=len(plan.rewrites),
        lines_blanked=sum(len(r.blanked) for r in plan.rewrites),
        lines_ambiguous=sum(r.ambiguous for r in plan.rewrites),
        versions_purged=versions,
        ledger_rows_removed=ledger_removed,
        ledger_rows_updated=ledger_updated,
        quarantine_rows_removed=quarantine_removed,
    )
    log.info("landing purge: %s", result.as_dict())
    return result


def _table_residue(lake: Lake, matcher: _Matcher, listed: set[str]) -> bool:
    """Whether the ledger or the quarantine still has a row naming a key to remove (the
    objects were deleted by an earlier run that stopped before the tables)."""
    checks: list[tuple[Any, pl.Expr]] = [
        (LEDGER, pl.col("landing_key").is_in(sorted(listed))
         | _contains_needle("landing_key", matcher)),
        (QUARANTINE, pl.col("source_file").is_in(sorted(listed))
         | _contains_needle("source_file", matcher) | _contains_needle("batch", matcher)),
    ]  # fmt: skip
    for spec, predicate in checks:
        if (
            lake.exists(spec)
            and lake.scan(spec).filter(predicate).select(pl.len()).collect().item()
        ):
            return True
    return False


__all__ = ["LandingPurge", "LandingPurgeError", "purge_landing"]
