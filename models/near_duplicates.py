"""Near-duplicate texts: MinHash over word-bigram shingles, LSH banding, then the exact Jaccard
check on each candidate pair, so the answer is found in about linear time with no false
positives. Copies that straddle the split inflate test scores."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_NUM_PERM = 64
_CHUNK_SHINGLES = 1 << 15
UInt64Array = npt.NDArray[np.uint64]


def near_duplicates(
    tokens: Sequence[Sequence[str]], labels: Sequence[str], threshold: float
) -> tuple[set[int], int]:
    """Indices to drop because an earlier text with the same label has word-bigram Jaccard
    similarity >= ``threshold``, and the number of such pairs whose labels differ (kept).

    MinHash + LSH finds candidates in about linear time; each candidate pair is then checked
    with the exact Jaccard, so the answer has no false positives."""
    shingles, offsets = _shingles(tokens)
    sizes = np.diff(offsets)
    present = np.flatnonzero(sizes)
    if present.size < 2:
        return set(), 0
    signatures = _minhash(shingles, offsets[present], sizes[present])
    candidates = _lsh_candidates(signatures, present, _band_rows(threshold))

    sets: dict[int, set[int]] = {}

    def as_set(index: int) -> set[int]:
        if index not in sets:
            sets[index] = set(shingles[offsets[index] : offsets[index + 1]].tolist())
        return sets[index]

    removed: set[int] = set()
    cross_label = 0
    for first, second in sorted(candidates, key=lambda pair: (pair[1], pair[0])):
        a, b = as_set(first), as_set(second)
        if len(a & b) < threshold * len(a | b):
            continue
        if labels[first] != labels[second]:
            cross_label += 1
        elif first not in removed:
            removed.add(second)
    return removed, cross_label


def _shingles(tokens: Sequence[Sequence[str]]) -> tuple[UInt64Array, npt.NDArray[np.int64]]:
    """Word bigrams (a one-word text keeps its word) of every text, flattened, with the offset
    of each text's first shingle. Words become ids in order of appearance, so the result does
    not depend on Python's per-process string hashing."""
    vocab: defaultdict[str, int] = defaultdict(itertools.count().__next__)
    ids = np.array([vocab[word] for words in tokens for word in words], dtype=np.uint64)
    lengths = np.array([len(words) for words in tokens], dtype=np.int64)
    ends = np.cumsum(lengths)
    last = np.zeros(ids.size, dtype=bool)
    last[ends[lengths > 0] - 1] = True
    doc = np.repeat(np.arange(len(tokens)), lengths)
    starts_bigram = np.flatnonzero(~last)
    bigrams = ((ids[starts_bigram] + np.uint64(1)) << np.uint64(32)) | ids[starts_bigram + 1]
    single = np.flatnonzero(last & (np.repeat(lengths, lengths) == 1))
    values = np.concatenate([bigrams, ids[single]])
    owners = np.concatenate([doc[starts_bigram], doc[single]])
    order = np.argsort(owners, kind="stable")
    counts = np.bincount(owners, minlength=len(tokens))
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return values[order], offsets


def _minhash(
    shingles: UInt64Array, starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]
) -> UInt64Array:
    """(n, _NUM_PERM) MinHash signatures of the texts at ``starts``/``sizes`` (all non-empty),
    with multiply-shift hashes; uint64 arithmetic wraps, which the scheme relies on."""
    rng = np.random.default_rng(0)
    mult = rng.integers(1, 2**63, size=(_NUM_PERM, 1), dtype=np.uint64) * np.uint64(2) + 1
    add = rng.integers(0, 2**63, size=(_NUM_PERM, 1), dtype=np.uint64)
    ends = starts + sizes
    out = np.empty((_NUM_PERM, starts.size), dtype=np.uint64)
    first = 0
    while first < starts.size:
        stop = int(np.searchsorted(ends, starts[first] + _CHUNK_SHINGLES, side="right"))
        stop = max(stop, first + 1)
        chunk = _mix(shingles[starts[first] : ends[stop - 1]])
        hashed = (chunk[None, :] * mult + add) >> np.uint64(32)
        out[:, first:stop] = np.minimum.reduceat(hashed, starts[first:stop] - starts[first], axis=1)
        first = stop
    return np.ascontiguousarray(out.T)


def _lsh_candidates(
    signatures: UInt64Array, index: npt.NDArray[np.intp], rows: int
) -> set[tuple[int, int]]:
    """Pairs (i < j, as positions in ``index``'s values) that agree on a whole band."""
    weights = _band_weights(rows)
    candidates: set[tuple[int, int]] = set()
    for start in range(0, _NUM_PERM - rows + 1, rows):
        keys = (signatures[:, start : start + rows] * weights).sum(axis=1, dtype=np.uint64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        same_as_next = sorted_keys[1:] == sorted_keys[:-1]
        if not same_as_next.any():
            continue
        group = np.concatenate(([0], np.cumsum(~same_as_next)))
        shared = np.flatnonzero(np.bincount(group) > 1)
        for g in shared.tolist():
            members = sorted(index[order[group == g]].tolist())
            for position, first in enumerate(members):
                for second in members[position + 1 :]:
                    candidates.add((first, second))
    return candidates


def _mix(values: UInt64Array) -> UInt64Array:
    """splitmix64 finaliser: spreads sequential ids over all 64 bits before hashing."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _band_weights(rows: int) -> UInt64Array:
    rng = np.random.default_rng(1)
    return rng.integers(1, 2**63, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _band_rows(threshold: float) -> int:
    """The most MinHash rows per LSH band that still flag a pair at ``threshold`` with
    probability >= 0.995: more rows per band means fewer false candidates to check."""
    best = 1
    for rows in (1, 2, 4, 8, 16, 32):
        bands = _NUM_PERM // rows
        if 1 - (1 - threshold**rows) ** bands >= 0.995:
            best = rows
    return best
