"""Sample batches: the open batch is filled before a new one; the size is a setting."""

import pytest

from ngrl_assets.genomics.batches import ENV, SampleBatching


def test_the_open_batch_is_filled_before_a_new_one():
    batching = SampleBatching(3)
    assert batching.assign([], 7) == [1, 1, 1, 2, 2, 2, 3]
    # batch 2 holds two samples: one place left in it
    assert batching.assign([1, 1, 1, 2, 2], 3) == [2, 3, 3]
    # a batch that lost members to withdrawal is not refilled once a later one is open
    assert batching.assign([1, 2, 2, 2, 3], 2) == [3, 3]
    assert batching.assign([4, 4, 4], 0) == []


@pytest.mark.parametrize("raw", ["0", "10001", "-3", "ten", "1e3"])
def test_a_bad_size_is_refused_with_the_setting_named(monkeypatch, raw):
    monkeypatch.setenv(ENV, raw)
    with pytest.raises(ValueError, match=ENV):
        SampleBatching.from_env()


def test_the_size_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert SampleBatching.from_env().size == 1_000
    monkeypatch.setenv(ENV, " 250 ")
    assert SampleBatching.from_env().size == 250
