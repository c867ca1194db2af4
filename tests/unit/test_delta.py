"""Delta helpers against a local folder and against S3 (moto_server in its own process)."""

import multiprocessing as mp

import polars as pl
import pytest

from resources import delta

SCHEMA = {"participant_id": pl.String, "batch": pl.String, "value": pl.Int64}


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def where(request):
    lake = request.getfixturevalue("lake" if request.param == "local" else "s3_lake")
    uri = lake.uri("curated", "t")
    return uri, lake.storage_options(uri)


def frame(rows):
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def append(uri, df, schema, opts):
    delta.write(uri, df, schema, mode="append", storage_options=opts)


def stream(uri, frames, opts, predicate=None):
    """A stream of frames, one commit (replace ``predicate``'s rows, or the table)."""
    delta.write(uri, frames, SCHEMA, mode="overwrite", predicate=predicate, storage_options=opts)


def test_append_replace_merge_delete_vacuum(where):
    uri, opts = where
    assert not delta.exists(uri, opts)
    assert delta.read(uri, SCHEMA, opts).height == 0
    append(uri, frame([("a", "b1", 1), ("b", "b1", 2)]), SCHEMA, opts)
    append(uri, frame([("c", "b2", 3)]), SCHEMA, opts)
    delta.write(uri, frame([("a", "b1", 10)]), SCHEMA, mode="overwrite", predicate="batch = 'b1'",
                storage_options=opts)  # fmt: skip
    got = delta.read(uri, SCHEMA, opts).sort("participant_id").rows()
    assert got == [("a", "b1", 10), ("c", "b2", 3)]
    delta.merge(uri, frame([("a", "b1", 11), ("d", "b3", 4)]), SCHEMA, ["participant_id"], opts)
    got = delta.read(uri, SCHEMA, opts).sort("participant_id").rows()
    assert got == [("a", "b1", 11), ("c", "b2", 3), ("d", "b3", 4)]
    delta.merge(
        uri,
        frame([("a", "b1", 5)]),
        SCHEMA,
        ["participant_id"],
        opts,
        update_predicate="s.value > t.value",
    )
    assert delta.read(uri, SCHEMA, opts).filter(pl.col("participant_id") == "a")["value"][0] == 11
    assert delta.delete(uri, "participant_id = 'c'", opts)["num_deleted_rows"] == 1
    removed = delta.vacuum(uri, opts)
    assert removed, "vacuum removed no files after a delete"
    assert sorted(delta.read(uri, SCHEMA, opts)["participant_id"]) == ["a", "d"]


def test_write_batches_streams_one_commit(where):
    uri, opts = where
    batches = (frame([(f"p{i}", "b1", i)]) for i in range(3))
    stream(uri, batches, opts, predicate="batch = 'b1'")  # creates
    stream(uri, iter([frame([("q", "b2", 9)])]), opts, "batch = 'b2'")
    stream(uri, iter([frame([("r", "b1", 7)])]), opts, "batch = 'b1'")
    got = delta.read(uri, SCHEMA, opts).sort("participant_id").rows()
    assert got == [("q", "b2", 9), ("r", "b1", 7)]
    versions = len(delta.table(uri, opts).history())
    stream(uri, iter([frame([("s", "b3", 1)]), frame([("t", "b3", 2)])]), opts)
    assert delta.read(uri, SCHEMA, opts)["participant_id"].sort().to_list() == ["s", "t"]
    assert len(delta.table(uri, opts).history()) == versions + 1


def test_a_stream_may_read_delta_while_it_is_written_and_its_failure_is_raised(where):
    """A stream's frames may come from reads of Delta tables (joint calling reads each
    batch's rows while the genotypes of the previous one are written): the producer runs
    in its own thread, not in delta-rs' runtime. A producer's error is raised as itself
    and the table is left as it was."""
    uri, opts = where
    source = uri + "_source"
    append(source, frame([("a", "b1", 1), ("b", "b2", 2)]), SCHEMA, opts)

    def copied():
        for batch in ("b1", "b2"):
            yield delta.read(source, SCHEMA, opts).filter(pl.col("batch") == batch)

    stream(uri, copied(), opts)
    assert delta.read(uri, SCHEMA, opts).sort("participant_id").rows() == [
        ("a", "b1", 1),
        ("b", "b2", 2),
    ]

    def broken():
        yield frame([("c", "b1", 3)])
        raise KeyError("batch b2 unreadable")

    with pytest.raises(KeyError, match="b2 unreadable"):
        stream(uri, broken(), opts)
    assert delta.read(uri, SCHEMA, opts)["participant_id"].sort().to_list() == ["a", "b"]


def test_schema_is_explicit(where):
    uri, opts = where
    with pytest.raises(ValueError, match="missing=\\['value'\\]"):
        append(uri, pl.DataFrame({"participant_id": ["a"], "batch": ["b"]}), SCHEMA, opts)
    append(uri, pl.DataFrame({"value": [1], "batch": ["b"], "participant_id": ["a"]}), SCHEMA, opts)
    assert delta.scan(uri, opts).collect_schema().names() == list(SCHEMA)


def _writer(args):
    uri, opts, worker = args
    for i in range(5):
        append(uri, frame([(f"w{worker}-{i}", "b", i)]), SCHEMA, opts)
    return worker


@pytest.mark.s3
def test_concurrent_writers_on_s3_lose_no_commit(s3_lake):
    uri = s3_lake.uri("curated", "concurrent")
    opts = s3_lake.storage_options(uri)
    delta.ensure(uri, SCHEMA, opts)
    with mp.get_context("spawn").Pool(3) as pool:
        pool.map(_writer, [(uri, opts, w) for w in range(3)])
    assert delta.read(uri, SCHEMA, opts).height == 15


def test_a_predicate_needs_overwrite(lake):
    uri = lake.uri("curated", "t")
    with pytest.raises(ValueError, match="mode='overwrite'"):
        delta.write(uri, frame([("a", "b1", 1)]), SCHEMA, mode="append", predicate="batch = 'b1'")
    assert not delta.exists(uri)
