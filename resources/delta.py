"""Delta table helpers, in one place: one ``write`` with a mode (append, overwrite, replace by
predicate; a frame or a stream of frames), merge, delete, vacuum.

Every write takes an explicit polars schema (columns are cast and ordered to it, so a
table's schema never drifts by accident) and is wrapped in an application-level retry on
commit conflicts: delta-rs retries a conflicting commit 15 times internally, but
concurrent writers on S3 can still exhaust that (docs/stack.md). Reads go through
``pl.scan_delta`` (reading through pyarrow datasets crashes the process at exit).
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

T = TypeVar("T")

Schema = Mapping[str, pl.DataType | type[pl.DataType]]

COMMIT_ATTEMPTS = 8


def with_commit_retry(fn: Callable[[], T], attempts: int = COMMIT_ATTEMPTS) -> T:
    """Run a Delta commit, retrying with jittered backoff when another writer won the race."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except CommitFailedError:
            if attempt == attempts:
                raise
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


def conform(df: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """Cast and order ``df`` to ``schema``; a missing or unexpected column is an error."""
    missing = [c for c in schema if c not in df.columns]
    extra = [c for c in df.columns if c not in schema]
    if missing or extra:
        raise ValueError(f"frame does not match table schema: missing={missing} extra={extra}")
    return df.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def empty(schema: Schema) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(schema))


def exists(uri: str, storage_options: dict[str, str] | None = None) -> bool:
    return DeltaTable.is_deltatable(uri, storage_options=storage_options or None)


def scan(uri: str, storage_options: dict[str, str] | None = None) -> pl.LazyFrame:
    return pl.scan_delta(uri, storage_options=storage_options or None)


def read(uri: str, schema: Schema, storage_options: dict[str, str] | None = None) -> pl.DataFrame:
    """The whole table, or an empty frame of ``schema`` when the table does not exist yet."""
    if not exists(uri, storage_options):
        return empty(schema)
    return scan(uri, storage_options).collect()


def table(uri: str, storage_options: dict[str, str] | None = None) -> DeltaTable:
    return DeltaTable(uri, storage_options=storage_options or None)


def commit_properties(metadata: Mapping[str, str] | None) -> CommitProperties | None:
    """Custom ``commitInfo`` entries for one commit (e.g. a batch id that makes a rewrite
    idempotent); :func:`commit_metadata_values` reads them back from the history."""
    return CommitProperties(custom_metadata=dict(metadata)) if metadata else None


def commit_metadata_values(
    uri: str, key: str, storage_options: dict[str, str] | None = None
) -> set[str]:
    """Every value the table's history records under the custom commit entry ``key``
    (empty when the table does not exist). Only the log that is kept is seen: a log
    cleanup (``cleanup_metadata``) forgets the commits it removes."""
    if not exists(uri, storage_options):
        return set()
    history = table(uri, storage_options).history()
    return {str(h[key]) for h in history if h.get(key) is not None}


WriteMode = Literal["append", "overwrite"]


@dataclass(frozen=True)
class Layout:
    """How a table's files are laid out: partition columns, writer properties (row-group
    size) and the Delta table configuration."""

    partition_by: list[str] | None = None
    writer_properties: WriterProperties | None = None
    configuration: Mapping[str, str | None] | None = None


NO_LAYOUT = Layout()


def write(
    uri: str,
    data: pl.DataFrame | Iterable[pl.DataFrame],
    schema: Schema,
    *,
    mode: WriteMode,
    predicate: str | None = None,
    storage_options: dict[str, str] | None = None,
    layout: Layout = NO_LAYOUT,
    commit_metadata: Mapping[str, str] | None = None,
) -> None:
    """The one way rows are written, as delta-rs' ``write_deltalake``: ``mode="append"``
    adds rows (creating the table on first write); ``mode="overwrite"`` replaces the whole
    table in one commit, or with ``predicate`` only the rows matching it (a table that does
    not exist yet is created). ``predicate`` must come from :mod:`resources.predicates`
    (never pasted text); ``commit_metadata``: custom entries the commit records.

    A frame is written with the commit retry. An iterable of frames goes into one commit,
    with no retry (a stream cannot be replayed, so callers serialise the writers of one
    table: a Dagster pool per table); delta-rs (1.6) holds the stream's rows until it
    commits, so a stream saves the caller's copies, not the commit's size: a writer that
    must stay within a memory bound splits its rows into several commits. The iterable is
    consumed in a thread of its own (``_Feed``), so producing a frame may read Delta
    tables; an exception it raises is raised here, unchanged."""
    if predicate is not None and mode != "overwrite":
        raise ValueError("a predicate replaces rows: it needs mode='overwrite'")
    if predicate is not None and not exists(uri, storage_options):
        mode, predicate = "append", None
    kwargs: dict[str, Any] = {
        "mode": mode,
        "partition_by": layout.partition_by,
        "writer_properties": layout.writer_properties,
        "configuration": layout.configuration,
        "storage_options": storage_options or None,
        "commit_properties": commit_properties(commit_metadata),
    }
    if predicate is not None:
        kwargs["predicate"] = predicate
    if isinstance(data, pl.DataFrame):
        table = conform(data, schema).to_arrow()
        with_commit_retry(lambda: write_deltalake(uri, table, **kwargs))
        return
    feed = _Feed(data)
    try:
        write_deltalake(uri, _stream(feed, schema), **kwargs)
    except Exception:
        if feed.error is not None:
            raise feed.error from None
        raise
    finally:
        feed.close()


def _stream(frames: Iterable[pl.DataFrame], schema: Schema) -> pa.RecordBatchReader:
    names = list(schema)
    polars_schema = pl.Schema(schema)
    return pa.RecordBatchReader.from_batches(
        empty(schema).to_arrow().schema,
        (rb for f in frames for rb in f.select(names).cast(polars_schema).to_arrow().to_batches()),
    )


class _Feed:
    """Frames produced by a thread of their own, handed over one at a time (a queue of
    one: at most two frames held). The writer pulls from a thread of delta-rs' runtime,
    where a producer that reads a Delta table would start a runtime inside a runtime."""

    _END = object()

    def __init__(self, frames: Iterable[pl.DataFrame]) -> None:
        self.error: BaseException | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(frames,), daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, frames: Iterable[pl.DataFrame]) -> None:
        try:
            for frame in frames:
                if not self._put(frame):
                    return
        except BaseException as error:  # handed to the writer's thread, raised there
            self.error = error
        self._put(self._END)

    def __iter__(self) -> Iterator[pl.DataFrame]:
        while True:
            item = self._queue.get()
            if item is self._END:
                if self.error is not None:
                    raise RuntimeError("the frames' producer failed")
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def merge(
    uri: str,
    df: pl.DataFrame,
    schema: Schema,
    keys: list[str],
    storage_options: dict[str, str] | None = None,
    update_predicate: str | None = None,
    layout: Layout = NO_LAYOUT,
) -> dict[str, Any]:
    """Upsert ``df`` on ``keys``: update matched rows (optionally only where
    ``update_predicate`` over aliases ``s``/``t`` holds), insert the rest."""
    if not exists(uri, storage_options):
        write(uri, df, schema, mode="append", storage_options=storage_options, layout=layout)
        return {"num_target_rows_inserted": df.height, "num_target_rows_updated": 0}
    data = conform(df, schema).to_arrow()

    def commit() -> dict[str, Any]:
        merger = _merger(uri, data, keys, storage_options, layout.writer_properties)
        return dict(
            merger.when_matched_update_all(predicate=update_predicate)
            .when_not_matched_insert_all()
            .execute()
        )

    return with_commit_retry(commit)


def _merger(
    uri: str,
    source: pa.Table,
    keys: list[str],
    storage_options: dict[str, str] | None,
    writer_properties: WriterProperties | None,
    within: str | None = None,
) -> Any:
    """A merge of ``source`` (alias ``s``) into the table (alias ``t``) on equal ``keys``:
    the predicate names columns only; values travel as the source's data (``within``: a
    rendered target predicate ANDed on, see :func:`delete_matching`)."""
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    if within is not None:
        on = f"{on} AND {within}"
    return table(uri, storage_options).merge(
        source, predicate=on, source_alias="s", target_alias="t",
        writer_properties=writer_properties,
    )  # fmt: skip


def delete(
    uri: str, predicate: str, storage_options: dict[str, str] | None = None
) -> dict[str, Any]:
    """Logically delete rows (rewrites the files holding them; see :func:`vacuum`).

    The DELETE commit records ``predicate`` in the log: for values that must not survive
    (erasure) use :func:`delete_matching`."""
    if not exists(uri, storage_options):
        return {"num_deleted_rows": 0}
    return dict(with_commit_retry(lambda: table(uri, storage_options).delete(predicate)))


def delete_matching(
    uri: str,
    keys: pl.DataFrame,
    storage_options: dict[str, str] | None = None,
    writer_properties: WriterProperties | None = None,
    within: str | None = None,
) -> dict[str, Any]:
    """Delete every row whose values in ``keys``' columns equal one of its rows.

    A merge with ``keys`` as the source: the values travel as data, never as predicate
    text, so the commit records only column names. ``within``: a predicate over the target
    (alias ``t``, from :mod:`resources.predicates`) that prunes the files the merge reads,
    typically partition values; the commit records it, so it must name no identifier
    (delta-rs 1.6 does not prune partitions from the source's values alone)."""
    if not exists(uri, storage_options) or keys.is_empty():
        return {"num_target_rows_deleted": 0}
    data = keys.unique().to_arrow()

    def commit() -> dict[str, Any]:
        merger = _merger(uri, data, keys.columns, storage_options, writer_properties, within)
        return dict(merger.when_matched_delete().execute())

    return with_commit_retry(commit)


def vacuum(uri: str, storage_options: dict[str, str] | None = None) -> list[str]:
    """Physically remove every file no longer referenced by the current version."""
    try:
        dt = table(uri, storage_options)
    except TableNotFoundError:
        return []
    return list(dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False))


def ensure(
    uri: str,
    schema: Schema,
    storage_options: dict[str, str] | None = None,
    layout: Layout = NO_LAYOUT,
) -> None:
    """Create an empty table with ``schema`` if none exists yet (readers can rely on it)."""
    if not exists(uri, storage_options):
        write(uri, empty(schema), schema, mode="append", storage_options=storage_options,
              layout=layout)  # fmt: skip
