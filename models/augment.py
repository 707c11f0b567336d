"""Noise augmentation: copies of training rows written the way hurried customers write.

Real tickets come with typos, shouting, "pls" and "ugh!!!"; a model trained on tidy rows only
loses accuracy on them. :func:`augment` makes one noisy copy of every row (the same label), with
noise on about ``rate`` of its words, seeded so the same call gives the same rows. The copies are
returned apart from the originals, so a caller always knows which rows are synthetic: the
pipeline counts them in the manifest (``rows["train_augmented"]``), `triage data augment` writes
an ``augmented`` column. :func:`noisy_test_copy` is the one fixed noisy test set that
`triage evaluate --noisy` and the benchmark both score.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence

from models.data import LabelledData
from models.exceptions import DataError

KINDS = ("typos", "casing", "slang", "punctuation", "emotion")
#: what `triage evaluate --noisy` applies to the test set: fixed, and apart from training's seed
NOISY_TEST_KINDS = KINDS
NOISY_TEST_RATE = 0.2
NOISY_TEST_SEED = 20261

SLANG = {
    "you": "u",
    "your": "ur",
    "you're": "ur",
    "are": "r",
    "please": "pls",
    "thanks": "thx",
    "thank": "thx",
    "account": "acct",
    "because": "bc",
    "with": "w/",
    "without": "w/o",
    "message": "msg",
    "people": "ppl",
    "tomorrow": "tmrw",
    "today": "2day",
    "before": "b4",
    "for": "4",
    "to": "2",
    "about": "abt",
    "really": "rly",
    "okay": "ok",
    "what": "wat",
    "why": "y",
    "know": "kno",
    "don't": "dont",
    "can't": "cant",
    "i'm": "im",
    "information": "info",
    "transfer": "xfer",
    "received": "recvd",
    "minutes": "mins",
    "number": "no.",
    "money": "$$",
}
EMOTION = ("ugh", "seriously??", "!!!", "pls help", "wtf", "argh", ":(", "asap!!")
TRAILING = ".,!?;:"

Noise = Callable[[str, random.Random], str]


def parse_kinds(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"typos,casing"`` (or a list) as kinds, refusing an unknown or empty one by name."""
    names = value.split(",") if isinstance(value, str) else list(value)
    kinds = tuple(dict.fromkeys(name.strip().lower() for name in names if name.strip()))
    unknown = [name for name in kinds if name not in KINDS]
    if unknown or not kinds:
        shown = ", ".join(repr(name) for name in unknown) if unknown else repr(value)
        raise DataError(f"unknown noise kind {shown}: use a comma-separated list of {KINDS}")
    return kinds


def check_rate(rate: float) -> float:
    if not 0 < rate <= 1:
        raise DataError(
            f"noise rate {rate} is invalid: give the share of words to change, 0 < rate <= 1"
            " (0.15 changes about one word in seven)"
        )
    return rate


def typo(word: str, rng: random.Random) -> str:
    """Swap, drop or double adjacent letters: the three slips of fast typing."""
    letters = [i for i, c in enumerate(word) if c.isalpha()]
    if not letters:
        return word + word[-1:]
    i = rng.choice(letters)
    how = rng.choice(("swap", "drop", "double")) if len(word) > 1 else "double"
    if how == "swap" and i + 1 < len(word) and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if how == "drop" and len(word) > 2:
        return word[:i] + word[i + 1 :]
    return word[: i + 1] + word[i] + word[i + 1 :]


def casing(word: str, rng: random.Random) -> str:
    options = [word.upper(), word.lower(), word.capitalize(), word.swapcase()]
    changed = [w for w in options if w != word]
    return rng.choice(changed) if changed else typo(word, rng)


def slang(word: str, rng: random.Random) -> str:
    core = word.rstrip(TRAILING)
    short = SLANG.get(core.lower())
    return short + word[len(core) :] if short is not None else word


def punctuation(word: str, rng: random.Random) -> str:
    core = word.rstrip(TRAILING)
    if core != word and rng.random() < 0.5:
        return core  # dropped
    mark = word[len(core) :][-1:] or rng.choice("!?.")
    return core + mark * rng.randint(2, 4)


def emotion(word: str, rng: random.Random) -> str:
    return f"{word} {rng.choice(EMOTION)}"


NOISES: dict[str, Noise] = {
    "typos": typo,
    "casing": casing,
    "slang": slang,
    "punctuation": punctuation,
    "emotion": emotion,
}


def noisy(text: str, kinds: Sequence[str], rate: float, rng: random.Random) -> str:
    """``text`` with about ``rate`` of its words (at least one) changed by one of ``kinds``.

    Slang changes only the words in its table, so with slang alone fewer words may change.
    """
    words = text.split()
    if not words:
        return text
    count = max(1, round(rate * len(words)))
    for i in sorted(rng.sample(range(len(words)), count)):
        usable = [k for k in kinds if k != "slang" or slang(words[i], rng) != words[i]]
        if usable:
            words[i] = NOISES[rng.choice(usable)](words[i], rng)
    return " ".join(words)


def augment(data: LabelledData, kinds: Iterable[str], rate: float, seed: int) -> LabelledData:
    """One noisy copy of each row of ``data``, same labels, same order; only the copies.

    Their ``source`` names them synthetic, and the caller keeps them apart from real rows (see
    the module docstring); the same arguments give the same copies.
    """
    chosen = parse_kinds(kinds)
    check_rate(rate)
    rng = random.Random(seed)  # noqa: S311 - reproducible noise, not a secret
    texts = [noisy(text, chosen, rate, rng) for text in data.texts]
    tag = f"synthetic: noise {','.join(chosen)} rate {rate} seed {seed} of {data.source}"
    return LabelledData(texts=texts, labels=list(data.labels), source=tag)


def with_augmented(
    data: LabelledData, kinds: Iterable[str], rate: float, seed: int
) -> tuple[LabelledData, list[bool]]:
    """``data`` followed by its noisy copies, and a parallel list: True for each copy."""
    copies = augment(data, kinds, rate, seed)
    # a noisy copy keeps every head's labels of the row it copies
    mixed = data.extended(copies.texts, copies.labels, copied_from=range(len(data)))
    return mixed, [False] * len(data) + [True] * len(copies)


def noisy_test_copy(data: LabelledData) -> LabelledData:
    """The fixed noisy version of a test set (all kinds, rate 0.2, its own seed)."""
    return augment(data, NOISY_TEST_KINDS, NOISY_TEST_RATE, NOISY_TEST_SEED)
