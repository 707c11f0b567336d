"""Length bucketing and dynamic padding (models/runtime.py): pure logic, no model."""

from __future__ import annotations

import numpy as np
import pytest

from models.runtime import (
    CHARS_PER_TOKEN,
    autocast,
    check_runtime,
    cut_chars,
    length_buckets,
    pad_batch,
    run_bucketed,
)


def test_buckets_hold_every_row_once_sorted_by_length() -> None:
    lengths = [5, 300, 7, 6, 250, 8, 40]
    buckets = length_buckets(lengths, batch_size=3, max_tokens=10_000)
    flat = [i for bucket in buckets for i in bucket]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)
    assert all(len(bucket) <= 3 for bucket in buckets)


def test_token_budget_closes_a_bucket_before_long_rows_inflate_it() -> None:
    lengths = [10] * 6 + [200, 200]
    buckets = length_buckets(lengths, batch_size=64, max_tokens=400)
    widths = [max(lengths[i] for i in bucket) * len(bucket) for bucket in buckets]
    assert all(width <= 400 for width in widths)
    assert [len(b) for b in buckets] == [6, 2]


def test_a_single_row_longer_than_the_budget_still_gets_a_bucket() -> None:
    assert length_buckets([5000], batch_size=8, max_tokens=100) == [[0]]


def test_pad_batch_pads_to_the_longest_row_only() -> None:
    ids, mask = pad_batch([[101, 7, 102], [101, 102]], pad_id=0)
    assert ids.tolist() == [[101, 7, 102], [101, 102, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert ids.dtype == np.int64


def test_run_bucketed_returns_rows_in_the_callers_order() -> None:
    seqs = [[1] * n for n in (9, 2, 30, 4, 2)]

    def forward(batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.array([[len(s)] for s in batch], dtype=float)
        return lengths, lengths * 2

    logits, embedding = run_bucketed(seqs, forward, batch_size=2)
    assert logits[:, 0].tolist() == [9, 2, 30, 4, 2]
    assert embedding[:, 0].tolist() == [18, 4, 60, 8, 4]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="batch_size=0"):
        length_buckets([1], batch_size=0)
    with pytest.raises(ValueError, match="'fast'"):
        check_runtime("fast")
    with pytest.raises(ValueError, match="empty"):
        pad_batch([], pad_id=0)


def test_autocast_is_a_no_op_on_cpu() -> None:
    with autocast("cpu"):
        assert np.ones(1).sum() == 1


def test_cut_chars_keeps_what_token_truncation_would_keep() -> None:
    text = "a" * 5000 + "MIDDLE" + "z" * 5000
    head = cut_chars(text, budget=10, truncation="head")
    assert head == text[: 10 * CHARS_PER_TOKEN]
    both = cut_chars(text, budget=10, truncation="head_tail")
    assert both.startswith("a" * 100)
    assert both.endswith("z" * 100)
    assert "MIDDLE" not in both
    assert cut_chars("short ticket", budget=10, truncation="head_tail") == "short ticket"
