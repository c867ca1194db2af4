"""Predicates are built from values without pasting them into text: whatever a value holds
(quotes, SQL, LIKE wildcards), replace and delete touch exactly the rows equal to it."""

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resources.lake import Lake
from resources.predicates import UnsafePredicate, literal, render
from resources.tables import TableSpec

SPEC = TableSpec(
    zone="curated",
    name="t",
    description="a test table",
    schema={"participant_id": pl.String, "batch": pl.String, "day": pl.Date, "n": pl.Int64},
    columns={"participant_id": "p", "batch": "b", "day": "d", "n": "n"},
    written_by=("t",),
    participant_column="participant_id",
)

HOSTILE = [
    "x' OR batch <> '",
    "D2026_001",
    "D2026-001",
    "%",
    "_",
    "a''b",
    "b\\'c",
    "');DROP TABLE t;--",
    "é ü 漢",
]


def rows(batches: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "participant_id": [f"p{i}" for i in range(len(batches))],
            "batch": batches,
            "day": [dt.date(2026, 1, 1)] * len(batches),
            "n": list(range(len(batches))),
        },
        schema=dict(SPEC.schema),
    )


def test_hostile_values_replace_and_delete_only_their_rows(tmp_path):
    lake = Lake(root_uri=str(tmp_path))
    lake.append(SPEC, rows(HOSTILE))
    for value in HOSTILE:
        lake.replace(SPEC, rows([value]).with_columns(n=pl.lit(100)), {"batch": value})
        got = lake.read(SPEC)
        assert got.height == len(HOSTILE)
        assert got.filter(pl.col("batch") == value)["n"].to_list() == [100]
    assert lake.delete(SPEC, {"batch": ["D2026_001", "%"]}) == 2
    assert sorted(lake.read(SPEC)["batch"]) == sorted(set(HOSTILE) - {"D2026_001", "%"})


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(
        st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=0, max_size=12),
        min_size=2,
        max_size=5,
        unique=True,
    )
)
def test_any_text_value_matches_exactly_itself(tmp_path_factory, values):
    lake = Lake(root_uri=str(tmp_path_factory.mktemp("lake")))
    lake.append(SPEC, rows(values))
    lake.replace(SPEC, rows(values[:1]).with_columns(n=pl.lit(-1)), {"batch": values[0]})
    got = dict(zip(*lake.read(SPEC).select("batch", "n").to_dict().values(), strict=True))
    assert got[values[0]] == -1
    assert all(got[v] != -1 for v in values[1:])
    assert len(got) == len(values)


def test_unsafe_inputs_are_refused():
    with pytest.raises(UnsafePredicate):
        literal("a\x00b")
    with pytest.raises(UnsafePredicate):
        render({"batch = 'x' OR 1=1 --": "x"}, SPEC.schema.keys())
    with pytest.raises(UnsafePredicate):
        render({"not_a_column": "x"}, SPEC.schema.keys())
    with pytest.raises(UnsafePredicate):
        render({}, SPEC.schema.keys())
    assert render({"batch": []}, SPEC.schema.keys()) == "false"
    assert literal("it's") == "'it''s'"


def test_delete_keeps_values_out_of_the_log(tmp_path):
    """A delete by value goes through a merge: the commit records column names only."""
    lake = Lake(root_uri=str(tmp_path))
    lake.append(SPEC, rows(["keep", "secret-batch"]))
    assert lake.delete(SPEC, {"batch": "secret-batch"}) == 1
    log = tmp_path / "curated" / "t" / "_delta_log"
    last = sorted(log.glob("*.json"))[-1].read_text()
    assert "secret-batch" not in last


def test_an_alias_qualifies_columns_and_must_be_a_plain_name():
    assert render({"sample_batch": [2, 1]}, ["sample_batch"], alias="t") == (
        "t.sample_batch IN (1, 2)"
    )
    with pytest.raises(UnsafePredicate):
        render({"sample_batch": 1}, ["sample_batch"], alias="t; DROP")
