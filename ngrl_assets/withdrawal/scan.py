"""The residue scanner: read every object in every zone of the lake and report where any
of a withdrawn participant's values (the *needles*) still sits.

It reads objects, not tables: every Parquet file (referenced by the current Delta version
or not: old files an overwrite left behind, ``_change_data/``, checkpoints), every
``_delta_log`` commit JSON and ``.crc`` file, every landing file, report and audit object.
Each object is decoded by its content (magic bytes first, then its name):

- **Parquet** (data files, Delta checkpoints, change-data files): every column's values
  cast to text (nested struct / list / map columns flattened to their leaves, dictionaries
  searched whole, used or not), the footer's row-group column statistics (min/max, decoded
  as values of the column's type), the footer's key-value metadata (the embedded Arrow
  schema decoded too) and the raw footer bytes as text. Read one row group and one column
  at a time.
- **gzip / bgzip** (``.gz``, ``.bgz``, ``.tbi``, ``.csi``; anything starting with the gzip
  magic): every member inflated (bgzip is multi-member gzip; tabix / CSI indexes are
  bgzipped binaries holding sequence names) and the inflated bytes searched as text; the
  compressed bytes are searched too (member headers may carry a file name or comment).
- **PNG**: the raw bytes (``tEXt`` / ``iTXt`` metadata) and every ``zTXt`` / compressed
  ``iTXt`` chunk inflated. Values drawn *into the pixels* of a plot (axis labels rendered
  as glyphs) are out of scope: a scanner cannot read them; plots must not label
  participants in the first place.
- **Everything else** (JSON, newline-delimited Delta commits, CSV / TSV / TXT / MD / HTML,
  crc files, unknown binaries): the raw bytes as UTF-8 (errors replaced).

Every search is case-insensitive (hex ids are written in either case) and streamed in
chunks with an overlap, so no object is ever held whole in memory. The object's key (its
path inside the zone) is searched as well: a landing file name can hold an identifier.

A :class:`Finding` never carries a needle: it points at it by index into the caller's
list, and an object key that holds a needle is reported with the needle masked, so a report
can be printed, logged or filed without re-exposing what was erased.

No Dagster here: lake access is only :meth:`Lake.zone` and
:mod:`resources.objects`, so the same code scans a local folder or ``s3://``.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import re
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from resources import objects
from resources.lake import Lake
from resources.zones import ZONES

if TYPE_CHECKING:  # annotations only: pyarrow is loaded lazily by the readers that need it
    import pyarrow as pa


CHUNK = 1 << 20  # bytes read at a time
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Finding:
    """One needle found in one place of one object.

    ``uri`` is the object's URI with any needle in it masked (``[needle 2]``); ``kind`` the
    decoder that found it (``parquet``, ``gzip``, ``bgzip``, ``png``, ``text``, ``json``,
    ``bytes``, ``key``); ``where`` the place inside the object (``column x values``,
    ``footer statistics of column x``, ``text line 12``); ``needle_index`` the needle's
    position in the list the caller passed. No field holds a needle's text.
    """

    uri: str
    kind: str
    where: str
    needle_index: int


# ---- streaming text search ---------------------------------------------------------------
class _Search:
    """Case-insensitive search of a stream of byte chunks, decoded as UTF-8 (errors
    replaced), with line numbers. A match spanning two chunks is found (the last
    ``len(longest needle) - 1`` characters are kept); none is counted twice."""

    def __init__(self, needles: Sequence[str]) -> None:
        self.lowered = [n.lower() for n in needles]
        self.keep = max((len(n) for n in self.lowered), default=1) - 1
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.tail = ""
        self.tail_line = 1  # line number at the start of ``tail``
        self.first: dict[int, int] = {}  # needle -> first line
        self.lines: dict[int, int] = {}  # needle -> number of distinct lines
        self._last: dict[int, int] = {}

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self.decoder.decode(data, final).lower()
        if not text:
            return
        buffer = self.tail + text
        done = len(self.tail)
        for i, needle in enumerate(self.lowered):
            if not needle:
                continue
            start = buffer.find(needle)
            while start != -1:
                if start + len(needle) > done:  # not wholly inside the kept tail
                    line = self.tail_line + buffer.count("\n", 0, start)
                    self.first.setdefault(i, line)
                    if self._last.get(i) != line:
                        self._last[i] = line
                        self.lines[i] = self.lines.get(i, 0) + 1
                start = buffer.find(needle, start + 1)
        cut = max(len(buffer) - self.keep, 0)
        self.tail_line += buffer.count("\n", 0, cut)
        self.tail = buffer[cut:]

    def finish(self) -> None:
        self.feed(b"", final=True)

    def found(self) -> Iterator[tuple[int, str]]:
        """(needle index, "line N" text) for every needle seen."""
        for i in sorted(self.first):
            more = self.lines[i] - 1
            yield i, f"line {self.first[i]}" + (f" (+{more} more lines)" if more else "")


def _search_text(needles: Sequence[str], text: str) -> list[int]:
    lowered = text.lower()
    return [i for i, n in enumerate(needles) if n and n.lower() in lowered]


def _search_bytes(needles: Sequence[str], data: bytes) -> list[int]:
    return _search_text(needles, data.decode("utf-8", errors="replace"))


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


# ---- decoders ----------------------------------------------------------------------------
Hit = tuple[str, str, int]  # kind, where, needle index


def _text(path: Path, needles: Sequence[str], kind: str, label: str) -> Iterator[Hit]:
    search = _Search(needles)
    with path.open("rb") as handle:
        for chunk in _chunks(handle):
            search.feed(chunk)
    search.finish()
    for i, line in search.found():
        yield kind, f"{label} {line}", i


def _gzip(path: Path, needles: Sequence[str]) -> Iterator[Hit]:
    """Inflate every gzip member in turn (bgzip: many members, the last one empty)."""
    inflated = _Search(needles)
    raw = _Search(needles)
    members = 0
    error = ""
    inflater: Any = None
    with path.open("rb") as handle:
        for chunk in _chunks(handle):
            raw.feed(chunk)
            data = chunk
            try:
                while data:
                    if inflater is None:
                        inflater = zlib.decompressobj(wbits=31)
                        members += 1
                    inflated.feed(inflater.decompress(data))
                    if inflater.eof:
                        data = inflater.unused_data
                        inflater = None
                    else:
                        data = b""
            except zlib.error as exc:  # keep what was inflated; the raw search goes on
                error = type(exc).__name__
                break
        else:
            if inflater is not None:
                inflated.feed(inflater.flush())
        for chunk in _chunks(handle):  # after an error: the rest, raw only
            raw.feed(chunk)
    inflated.finish()
    raw.finish()
    kind = "bgzip" if members > 1 else "gzip"
    note = f" (inflation stopped: {error})" if error else ""
    for i, line in inflated.found():
        yield kind, f"inflated text {line}{note}", i
    for i, line in raw.found():
        yield kind, f"compressed bytes {line}", i


def _png(path: Path, needles: Sequence[str]) -> Iterator[Hit]:
    for _kind, _where, i in _text(path, needles, "png", "raw bytes"):
        yield "png", "raw bytes (metadata chunks)", i
    with path.open("rb") as handle:
        handle.read(len(_PNG_MAGIC))
        while header := handle.read(8):
            if len(header) < 8:
                break
            length, ctype = struct.unpack(">I4s", header)
            if ctype in (b"zTXt", b"iTXt") and length <= 64 * CHUNK:
                body = handle.read(length)
                for i in _png_compressed_text(ctype, body, needles):
                    yield "png", f"{ctype.decode()} chunk (inflated)", i
            else:
                handle.seek(length, 1)
            handle.seek(4, 1)  # crc
            if ctype == b"IEND":
                break


def _png_compressed_text(ctype: bytes, body: bytes, needles: Sequence[str]) -> list[int]:
    _keyword, _, rest = body.partition(b"\x00")
    try:
        if ctype == b"zTXt":
            return _search_bytes(needles, zlib.decompress(rest[1:]))
        compressed, rest = rest[0], rest[2:]  # flag, method
        _language, _, rest = rest.partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        if compressed:
            return _search_bytes(needles, zlib.decompress(text))
    except (zlib.error, IndexError):
        return []
    return []


def _leaves(array: pa.Array, path: str) -> Iterator[tuple[str, pa.Array]]:
    """The leaf arrays of a (possibly nested) column, with dotted paths."""
    import pyarrow as pa

    t = array.type
    if pa.types.is_dictionary(t):
        yield from _leaves(array.dictionary, path)  # every entry, used or not
    elif pa.types.is_struct(t):
        for n in range(t.num_fields):
            yield from _leaves(array.field(n), f"{path}.{t.field(n).name}")
    elif pa.types.is_map(t):
        yield from _leaves(array.keys, f"{path}.key")
        yield from _leaves(array.items, f"{path}.value")
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _leaves(array.flatten(), f"{path}[]")
    elif not pa.types.is_null(t):
        yield path, array


def _as_text(array: pa.Array) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(array, pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = array.to_pylist()
        return pa.array(
            [
                None
                if v is None
                else v.decode("utf-8", errors="replace")
                if isinstance(v, bytes)
                else str(v)
                for v in values
            ],
            type=pa.large_string(),
        )


def _stat_text(stats: Any, which: str) -> str:
    try:
        value = getattr(stats, which)
    except Exception:  # a type pyarrow cannot decode: the raw bytes
        value = getattr(stats, f"{which}_raw")
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _parquet(path: Path, needles: Sequence[str]) -> Iterator[Hit]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    meta = pf.metadata
    any_needle = "|".join(re.escape(n) for n in needles if n)
    found_values: dict[tuple[str, int], int] = {}
    found_stats: dict[tuple[str, int], set[int]] = {}
    names = pf.schema_arrow.names
    for rg in range(meta.num_row_groups):
        for name in names:  # one column of one row group at a time
            column = pf.read_row_group(rg, columns=[name]).column(0)
            for chunk in column.chunks:
                for leaf_path, leaf in _leaves(chunk, name):
                    text = _as_text(leaf)
                    # one pass for all needles first; per needle only where it matched
                    if not pc.any(
                        pc.match_substring_regex(text, any_needle, ignore_case=True)
                    ).as_py():
                        continue
                    for i, needle in enumerate(needles):
                        if not needle:
                            continue
                        hits = pc.sum(pc.match_substring(text, needle, ignore_case=True))
                        n = hits.as_py() or 0
                        if n:
                            key = (leaf_path, i)
                            found_values[key] = found_values.get(key, 0) + n
        group = meta.row_group(rg)
        for c in range(group.num_columns):
            chunk_meta = group.column(c)
            stats = chunk_meta.statistics
            if stats is None or not stats.has_min_max:
                continue
            bounds = _stat_text(stats, "min") + "\n" + _stat_text(stats, "max")
            for i in _search_text(needles, bounds):
                found_stats.setdefault((chunk_meta.path_in_schema, i), set()).add(rg)
    for (leaf_path, i), n in sorted(found_values.items()):
        yield "parquet", f"column {leaf_path} values ({_count(n, 'row')})", i
    for (col, i), groups in sorted(found_stats.items()):
        rgs = _count(len(groups), "row group")
        yield "parquet", f"footer statistics of column {col} (min/max, {rgs})", i
    for key, value in (meta.metadata or {}).items():
        label = key.decode("utf-8", errors="replace")
        blob = key + b"\n" + value
        if key == b"ARROW:schema":  # base64 of the Arrow schema (field metadata inside)
            with contextlib.suppress(ValueError):
                blob += b"\n" + base64.b64decode(value)
        for i in _search_bytes(needles, blob):
            yield "parquet", f"footer key-value metadata {label}", i
    for i in _search_bytes(needles, _footer(path)):
        yield "parquet", "raw footer bytes", i


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _footer(path: Path) -> bytes:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        if size < 12:
            return b""
        handle.seek(size - 8)
        length = struct.unpack("<I", handle.read(4))[0]
        length = min(length, size - 12)
        handle.seek(size - 8 - length)
        return handle.read(length)


def _decode(path: Path, key: str, needles: Sequence[str]) -> Iterator[Hit]:
    with path.open("rb") as handle:
        magic = handle.read(8)
    name = key.rsplit("/", 1)[-1].lower()
    if magic.startswith(_PARQUET_MAGIC):
        try:
            yield from list(_parquet(path, needles))
            return
        except Exception as exc:  # not readable as Parquet: fall back to the raw bytes
            label = f"raw bytes (not readable as parquet: {type(exc).__name__})"
            yield from _text(path, needles, "bytes", label)
            return
    if magic.startswith(_GZIP_MAGIC) or name.endswith((".gz", ".bgz", ".tbi", ".csi")):
        if magic.startswith(_GZIP_MAGIC):
            yield from _gzip(path, needles)
        else:
            yield from _text(path, needles, "bytes", "raw bytes (not gzip)")
        return
    if magic.startswith(_PNG_MAGIC):
        yield from _png(path, needles)
        return
    if name.endswith(".json") or "/_delta_log/" in f"/{key}":
        yield from _text(path, needles, "json", "json")
        return
    yield from _text(path, needles, "text", "text")


# ---- the scan ----------------------------------------------------------------------------
def _mask(text: str, needles: Sequence[str]) -> str:
    """``text`` with every needle (any case) replaced by ``[needle i]``, longest first."""
    for i in sorted(range(len(needles)), key=lambda k: -len(needles[k])):
        if needles[i]:
            text = re.sub(re.escape(needles[i]), f"[needle {i}]", text, flags=re.IGNORECASE)
    return text


def _relative(uri: str, zone_uri: str) -> str:
    return uri[len(zone_uri) :].lstrip("/") if uri.startswith(zone_uri) else uri


def scan(
    lake: Lake,
    needles: Collection[str],
    zones: Iterable[str] = ZONES,
    exclude: Callable[[str], bool] | None = None,
) -> list[Finding]:
    """Every place any of ``needles`` is found in any object of ``zones``.

    ``exclude(uri)`` exempts objects (e.g. the tombstone table, which must keep a
    withdrawn participant's internal id to stop re-ingestion). Objects are read one at a
    time (an S3 object is copied to a temporary file and removed after its scan).
    Findings are ordered by object URI, then kind and place.
    """
    wanted = [str(n) for n in needles]
    if not any(wanted):
        return []
    findings: list[Finding] = []
    seen: set[str] = set()
    workdir = Path(tempfile.mkdtemp(prefix="ngrl-scan-"))
    try:
        for zone in zones:
            zone_uri = lake.zone(zone)
            for info in objects.list_objects(zone_uri):
                if info.uri in seen or (exclude is not None and exclude(info.uri)):
                    continue
                seen.add(info.uri)
                findings.extend(_scan_object(info.uri, zone, zone_uri, wanted, workdir))
            # On a versioned bucket the bytes of overwritten or deleted objects survive as
            # noncurrent versions: scan those too.
            for version in objects.noncurrent_versions(zone_uri):
                if version.delete_marker or (exclude is not None and exclude(version.uri)):
                    continue
                findings.extend(
                    _scan_object(version.uri, zone, zone_uri, wanted, workdir, version.version_id)
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return findings


def _scan_object(
    uri: str,
    zone: str,
    zone_uri: str,
    needles: Sequence[str],
    workdir: Path,
    version_id: str | None = None,
) -> list[Finding]:
    key = _relative(uri, zone_uri)
    shown = _mask(uri, needles)
    if version_id is not None:
        shown += f" (noncurrent version {version_id})"
    out = [Finding(shown, "key", "object key", i) for i in _search_text(needles, f"{zone}/{key}")]
    if version_id is None:
        path = objects.fetch(uri, workdir)
    else:
        path = objects.fetch_version(uri, version_id, workdir)
    try:
        hits = sorted(set(_decode(path, key, needles)))
    finally:
        if path.is_relative_to(workdir):
            path.unlink(missing_ok=True)
    out.extend(Finding(shown, kind, _mask(where, needles), i) for kind, where, i in hits)
    return out


def exclude_prefixes(*prefix_uris: str) -> Callable[[str], bool]:
    """An ``exclude`` for :func:`scan`: objects under any of these URIs (e.g.
    ``lake.uri("identity", "withdrawal_tombstones")``)."""
    prefixes = tuple(p.rstrip("/") + "/" for p in prefix_uris)
    return lambda uri: uri.startswith(prefixes)
