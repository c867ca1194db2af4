"""Physical erasure of rows from a Delta table: the values leave every byte under its folder.

A plain Delta delete only hides rows: the erased value survives in the ``stats`` of the
old file's add action in earlier commits, in checkpoints written before, in the DELETE
commit's own predicate text, in ``_change_data`` and, on a versioned bucket, in the
noncurrent versions of every object that was removed. The recipe measured in the stack
notes ("Erasure on Delta") leaves nothing:

1. delete through a merge whose source frame holds the keys (the commit records column
   names, never values): :meth:`resources.lake.Lake.delete_matching`;
2. set ``delta.logRetentionDuration`` and ``delta.deletedFileRetentionDuration`` to
   ``interval 0 seconds``;
3. ``vacuum(retention_hours=0, enforce_retention_duration=False, full=True)`` (the lite
   vacuum misses ``_change_data``), then remove any other object under the table's folder
   that the current version does not reference;
4. ``create_checkpoint()`` at the latest version;
5. after more than one second, ``cleanup_metadata()``, then remove whatever is still in
   ``_delta_log`` below the checkpoint (older checkpoints, ``.crc``, stray temp commits);
6. on S3, every noncurrent version and delete marker under the table's prefix, by
   version id.

**History is lost.** After an erasure the table's log holds one version: time travel ends
for that table (every earlier version is gone), and :class:`TableErasure` records the
version before and after. The two retention properties stay at zero afterwards, so later
automatic checkpoints also drop older log files and a default vacuum keeps no old files.

**Idempotent and crash-safe.** Each step can be repeated, and whether anything is left to
purge is decided from what is on storage, not from memory of a previous run: a table is
*clean* when its log holds only the current version's commit (and its checkpoint), no
object under its folder is unreferenced by that version and, on S3, no noncurrent version
or delete marker exists under its prefix. A run that removes no row and finds the table
clean does nothing more; any other run purges, so a rerun after a crash at any step
completes the erasure. A participant whose rows only live in history (removed by an
earlier overwrite) is erased the same way: the purge runs whenever the table is not clean.

Erasure must not race the table's writers (vacuum with zero retention deletes the files of
a write in flight): run it where the table's writers are serialised. Results carry counts
only, never the erased values. No Dagster here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import polars as pl

from resources import objects
from resources.lake import Lake
from resources.tables import TableSpec
from resources.uris import is_s3

ZERO_RETENTION = {
    "delta.logRetentionDuration": "interval 0 seconds",
    "delta.deletedFileRetentionDuration": "interval 0 seconds",
}


_LOG = "_delta_log"
_VERSIONED = re.compile(r"^(\d{20})\.")


@dataclass
class TableErasure:
    """What one erasure did to one table: counts only, never ids."""

    table: str
    rows_removed: int
    files_rewritten: int
    bytes_vacuumed: int
    version_before: int | None
    version_after: int | None
    objects_version_purged: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def erase_participants(
    lake: Lake,
    spec: TableSpec,
    participant_ids: Sequence[str],
    column: str | None = None,
    places: pl.DataFrame | None = None,
) -> TableErasure:
    """Physically remove every row whose ``column`` (default ``spec.participant_column``)
    is one of ``participant_ids``, and every trace of those values under the table's folder.

    ``places``: where the participants' rows are, as values of the table's partition
    columns (``column`` plus, for example, ``delivery`` and ``sample_batch`` from
    ``raw_sequences``). A participant with a place is deleted by (id, partition values),
    so the merge reads only those partitions (a sample batch's tiles, not the library);
    participants without one, or whose place lacks a value, by id alone. The caller vouches
    that a participant's rows are only in their places; the residue scan that ends a
    withdrawal reads every object and would find any row left elsewhere.

    Ends time travel for the table (its log keeps one version; see the module docstring).
    Rerun with the same ids after a crash to complete an interrupted erasure. An empty
    ``participant_ids`` does nothing."""
    name = column or spec.participant_column
    if name is None:
        raise ValueError(f"{spec.key}: no participant column; name the column to erase by")
    if name not in spec.schema:
        raise ValueError(f"{spec.key}: unknown column {name!r}")
    keys = pl.DataFrame({name: list(participant_ids)}, schema={name: spec.schema[name]})
    return erase_rows_where(lake, spec, _by_place(spec, name, keys, places))


def _by_place(
    spec: TableSpec, name: str, keys: pl.DataFrame, places: pl.DataFrame | None
) -> list[pl.DataFrame]:
    """The key frames of :func:`erase_participants`: (id, partition values) for the
    participants with a complete place, id alone for the rest."""
    where = [c for c in spec.partition_by or () if places is not None and c in places.columns]
    if places is None or not where or name not in places.columns:
        return [keys]
    rows = places.select(pl.col(name).cast(spec.schema[name]), *where).filter(
        pl.col(name).is_in(keys[name].implode())
    )
    # a place without a value (a sample with no batch: QC-failed, or stored before
    # batches) could hide rows anywhere: that participant is erased by id alone
    unplaced = rows.filter(pl.any_horizontal(pl.col(where).is_null())).select(name)
    placed = rows.join(unplaced, on=name, how="anti").unique()
    rest = keys.join(placed.select(name), on=name, how="anti")
    return [placed, rest]


def erase_rows_where(
    lake: Lake, spec: TableSpec, keys: pl.DataFrame | Sequence[pl.DataFrame]
) -> TableErasure:
    """Physically remove every row equal on ``keys``' columns to one of its rows (e.g. the
    pseudonym map by ``internal_id``), with the same purge as :func:`erase_participants`.
    Several key frames (each with its own columns) delete one after the other, then one
    purge.

    Ends time travel for the table. Empty ``keys`` frames do nothing."""
    frames = [keys] if isinstance(keys, pl.DataFrame) else list(keys)
    for frame in frames:
        unknown = [c for c in frame.columns if c not in spec.schema]
        if unknown or not frame.columns:
            raise ValueError(f"{spec.key}: keys must name table columns (unknown: {unknown})")
    frames = [
        f.select(pl.col(c).cast(spec.schema[c]) for c in f.columns).unique()
        for f in frames
        if not f.is_empty()
    ]
    if not frames or not lake.exists(spec):
        version = lake.version(spec)
        return TableErasure(spec.key, 0, 0, 0, version, version, 0)

    uri = lake.table_uri(spec)
    before = lake.delta_table(spec)
    version_before = before.version()
    files_before = set(before.file_uris())

    # no commit when nothing matches; a frame with partition columns reads those only
    rows_removed = sum(lake.delete_matching(spec, f) for f in frames)
    files_rewritten = len(files_before - set(lake.delta_table(spec).file_uris()))

    if rows_removed == 0 and _is_clean(lake, spec):
        return TableErasure(spec.key, 0, 0, 0, version_before, version_before, 0)

    bytes_vacuumed = _purge(lake, spec)
    purged_versions = purge_noncurrent_versions(uri) if is_s3(uri) else 0
    return TableErasure(
        table=spec.key,
        rows_removed=rows_removed,
        files_rewritten=files_rewritten,
        bytes_vacuumed=bytes_vacuumed,
        version_before=version_before,
        version_after=lake.version(spec),
        objects_version_purged=purged_versions,
    )


def purge(lake: Lake, spec: TableSpec) -> TableErasure:
    """Steps 2-6 of the recipe on a table as it stands, when it is not clean: e.g. after an
    update merge whose replaced rows still sit in old files and earlier commits. A table
    that is clean (or absent) is left alone, so a rerun changes nothing.

    Ends time travel for the table, like :func:`erase_rows_where`."""
    if not lake.exists(spec):
        return TableErasure(spec.key, 0, 0, 0, None, None, 0)
    version_before = lake.delta_table(spec).version()
    if _is_clean(lake, spec):
        return TableErasure(spec.key, 0, 0, 0, version_before, version_before, 0)
    uri = lake.table_uri(spec)
    bytes_vacuumed = _purge(lake, spec)
    purged_versions = purge_noncurrent_versions(uri) if is_s3(uri) else 0
    return TableErasure(
        table=spec.key,
        rows_removed=0,
        files_rewritten=0,
        bytes_vacuumed=bytes_vacuumed,
        version_before=version_before,
        version_after=lake.version(spec),
        objects_version_purged=purged_versions,
    )


# ---- the purge steps (each one repeatable) ----------------------------------------------


def _purge(lake: Lake, spec: TableSpec) -> int:
    """Steps 2-5 of the recipe; returns the bytes removed outside the log."""
    _set_zero_retention(lake, spec)
    removed = _vacuum(lake, spec)
    _checkpoint(lake, spec)
    _cleanup_log(lake, spec)
    return removed


def _set_zero_retention(lake: Lake, spec: TableSpec) -> None:
    dt = lake.delta_table(spec)
    config = dt.metadata().configuration
    if any(config.get(k) != v for k, v in ZERO_RETENTION.items()):
        dt.alter.set_table_properties(dict(ZERO_RETENTION))


def _vacuum(lake: Lake, spec: TableSpec) -> int:
    """Full vacuum with zero retention, then remove every other unreferenced object
    outside the log (hidden files vacuum skips). Returns the bytes removed."""
    uri = lake.table_uri(spec)
    sizes = {o.uri: o.size for o in objects.list_objects(uri)}
    lake.delta_table(spec).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False, full=True
    )
    for info in _unreferenced(lake, spec):
        _delete(info.uri)
    left = {o.uri for o in objects.list_objects(uri)}
    return sum(size for u, size in sizes.items() if u not in left and not _in_log(uri, u))


def _checkpoint(lake: Lake, spec: TableSpec) -> None:
    lake.delta_table(spec).create_checkpoint()


def _cleanup_log(lake: Lake, spec: TableSpec) -> None:
    """``cleanup_metadata()``, then everything else in the log below the newest checkpoint
    (older commits, checkpoints, ``.crc``, temporary commits). The second part is what
    makes the log clean: ``cleanup_metadata`` spares files younger than the retention by
    modification time (the last second's, on S3), so no wait is needed for it."""
    dt = lake.delta_table(spec)
    dt.cleanup_metadata()
    for info in _stale_log_files(lake.table_uri(spec), dt.version()):
        _delete(info.uri)


# ---- what is on storage -----------------------------------------------------------------


def _relative(table_uri: str, uri: str) -> str:
    return unquote(uri[len(table_uri.rstrip("/")) + 1 :])


def _in_log(table_uri: str, uri: str) -> bool:
    return _relative(table_uri, uri).startswith(_LOG + "/")


def _unreferenced(lake: Lake, spec: TableSpec) -> list[objects.ObjectInfo]:
    """Objects under the table's folder, outside the log, the current version does not use."""
    uri = lake.table_uri(spec)
    live = {_relative(uri, f) for f in lake.delta_table(spec).file_uris()}
    return [
        o
        for o in objects.list_objects(uri)
        if not _in_log(uri, o.uri) and _relative(uri, o.uri) not in live
    ]


def _stale_log_files(table_uri: str, version: int) -> list[objects.ObjectInfo]:
    """Log objects other than ``_last_checkpoint`` and the files of versions >= ``version``
    (older commits, older checkpoints, ``.crc``, temp commits, anything else)."""
    out = []
    for o in objects.list_objects(table_uri.rstrip("/") + "/" + _LOG):
        name = _relative(table_uri, o.uri).removeprefix(_LOG + "/")
        if name == "_last_checkpoint":
            continue
        m = _VERSIONED.match(name)
        if m and "/" not in name and int(m.group(1)) >= version:
            continue
        out.append(o)
    return out


def _is_clean(lake: Lake, spec: TableSpec) -> bool:
    """True when nothing could still hold an erased value: the log keeps only the current
    version (its commit and checkpoint), no object is unreferenced and, on S3, there is no
    noncurrent version or delete marker under the table's prefix."""
    uri = lake.table_uri(spec)
    version = lake.delta_table(spec).version()
    if _stale_log_files(uri, version) or _unreferenced(lake, spec):
        return False
    return not (is_s3(uri) and noncurrent_versions(uri))


def _delete(uri: str) -> None:
    if is_s3(uri):
        bucket, key = objects.split_s3(uri)
        objects.s3_client().delete_object(Bucket=bucket, Key=key)
    else:
        Path(uri).unlink(missing_ok=True)


# ---- S3 bucket versioning ---------------------------------------------------------------


def noncurrent_versions(prefix_uri: str) -> list[tuple[str, str, bool]]:
    """``(key, version_id, is_delete_marker)`` of every noncurrent object version and every
    delete marker under a prefix (nothing when the bucket was never versioned)."""
    return [
        (objects.split_s3(v.uri)[1], v.version_id, v.delete_marker)
        for v in objects.noncurrent_versions(prefix_uri)
    ]


def purge_noncurrent_versions(prefix_uri: str) -> int:
    """Permanently delete, by version id, every noncurrent version and then every delete
    marker under a prefix (a plain DELETE on a versioned bucket only adds a marker and the
    old bytes stay). Versions go before markers, so a crash in between never brings an old
    object back. Returns how many versions and markers were deleted."""
    bucket, _ = objects.split_s3(prefix_uri)
    client = objects.s3_client()
    found = noncurrent_versions(prefix_uri)
    done = 0
    for markers in (False, True):
        batch = [{"Key": k, "VersionId": v} for k, v, m in found if m is markers]
        for i in range(0, len(batch), 1000):
            chunk = batch[i : i + 1000]
            resp = client.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
            errors = resp.get("Errors", [])
            if errors:
                raise RuntimeError(f"could not delete {len(errors)} object versions: {errors[0]}")
            done += len(chunk)
    return done


__all__ = [
    "ZERO_RETENTION",
    "TableErasure",
    "erase_participants",
    "erase_rows_where",
    "noncurrent_versions",
    "purge",
    "purge_noncurrent_versions",
]
