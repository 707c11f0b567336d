"""What a training run is told (:class:`TrainConfig`), how its rows are split, and what it
records (:class:`TrainingRecord`): plain data shared by every backend's fitting and the pipeline,
kept apart from torch so the learner and the CLI can build a config without loading it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

import numpy as np

from models.cli_options import described
from models.data import LabelledData
from models.exceptions import ModelError
from models.novelty import DEFAULT_QUANTILE

if TYPE_CHECKING:
    from models.bands import Thresholds

Truncation = Literal["head", "head_tail"]
Imbalance = Literal["weighted", "oversample", "none"]
PseudoLabeller = Literal["spread", "self"]
#: Training rows kept as the novelty detector's neighbours (float32, 1.5 KB each at d=384).
NOVELTY_FIT_ROWS = 4000


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters. Defaults are the measured good start (LoRA r=16, lr 2e-3, 64 tokens);
    those `triage train` sets carry its options' help (:func:`models.cli_options.options_from`)."""

    epochs: int = described(3, "passes over the training data")
    lr: float = described(2e-3, "learning rate")
    batch_size: int = described(16, "tickets per step")
    max_length: int = described(64, "tokens per ticket")
    truncation: Truncation = described(
        "head", "long tickets: keep the start, or the start and the end"
    )
    lora_r: int = described(16, "LoRA rank (alpha is twice it)")
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    seed: int = 13
    imbalance: Imbalance = described(
        "weighted", "rare classes: weight their loss, draw their rows more often, or neither"
    )
    augment_noise: float = described(
        0.0,
        "mix in a noisy copy of the train split, noise on this share of words (0: off; "
        "typos, casing, slang, punctuation, emotion)",
    )
    fill: bool = described(
        False,
        "add rows to the classes under --fill-share, made from their own rows (or by "
        "TRIAGE_TEACHER_URL's endpoint when set); the train split only, never validation or test",
    )
    fill_share: float | None = described(
        None, "the share each filled class reaches (default: 0.75 of an even share)"
    )
    hard_negatives: int = described(
        0, "repeat this many rows per most-confused class pair (0: off; 3 TF-IDF folds)"
    )
    pseudo_threshold: float = described(
        0.9,
        "with --unlabelled: the labeller's confidence a row needs to join training as a "
        "pseudo-label (self: calibrated; spread: the share of label mass that reached it)",
    )
    pseudo_rounds: int = described(
        2, "with --unlabelled: rounds of pseudo-labelling, each kept only if validation holds"
    )
    pseudo_labeller: PseudoLabeller = described(
        "spread",
        "with --unlabelled: who labels the rows: spread (labels flow from the labelled rows to "
        "their neighbours in the base encoder's sentence space) or self (the model's own "
        "predictions)",
    )
    patience: int = 2
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    novelty_quantile: float = DEFAULT_QUANTILE
    device: str = "auto"
    #: each head's weight in the joint loss, by head name (the primary head is ``label``); a
    #: head not named weighs 1
    head_weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        positive_ints = (
            "epochs",
            "batch_size",
            "lora_r",
            "lora_alpha",
            "patience",
            "pseudo_rounds",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ModelError(f"TrainConfig.{name}={value!r} is invalid: need an integer >= 1")
        bad = {
            k: w for k, w in self.head_weights.items() if not (isinstance(w, float | int) and w > 0)
        }
        if bad:
            raise ModelError(f"TrainConfig.head_weights {bad} are invalid: give each a weight > 0")
        if not 8 <= self.max_length <= 8192:
            raise ModelError(f"TrainConfig.max_length={self.max_length} is invalid: use 8..8192")
        if not 0 < self.lr < 1:
            raise ModelError(f"TrainConfig.lr={self.lr} is invalid: need 0 < lr < 1 (2e-3)")
        for name in ("lora_dropout", "weight_decay", "warmup_ratio"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ModelError(f"TrainConfig.{name}={value} is invalid: need 0 <= value < 1")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0 <= value < 0.5:
                raise ModelError(f"TrainConfig.{name}={value} is invalid: need 0 <= value < 0.5")
        if not 0 <= self.augment_noise <= 1:
            raise ModelError(
                f"TrainConfig.augment_noise={self.augment_noise} is invalid: use 0 (off) to 1"
                " (0.15 changes about one word in seven)"
            )
        if self.fill_share is not None and not 0 < self.fill_share < 1:
            raise ModelError(
                f"TrainConfig.fill_share={self.fill_share} is invalid: use 0 < share < 1 (0.1)"
            )
        if not 0 < self.pseudo_threshold < 1:
            raise ModelError(
                f"TrainConfig.pseudo_threshold={self.pseudo_threshold} is invalid: use 0 < "
                "threshold < 1 (0.9)"
            )
        if self.hard_negatives < 0:
            raise ModelError(
                f"TrainConfig.hard_negatives={self.hard_negatives} is invalid: use 0 (off) or more"
            )
        self._check_choices()
        if not 0.5 <= self.novelty_quantile < 1:
            raise ModelError(
                f"TrainConfig.novelty_quantile={self.novelty_quantile} is invalid: use 0.5..0.999"
            )
        if self.device not in ("auto", "cpu", "cuda"):
            raise ModelError(f"TrainConfig.device={self.device!r} is invalid: use auto, cpu, cuda")

    def _check_choices(self) -> None:
        """Each Literal field holds one of its values (a config file is not type-checked)."""
        for name, kind in (
            ("imbalance", Imbalance),
            ("truncation", Truncation),
            ("pseudo_labeller", PseudoLabeller),
        ):
            allowed = get_args(kind)
            if getattr(self, name) not in allowed:
                raise ModelError(
                    f"TrainConfig.{name}={getattr(self, name)!r} is invalid: use "
                    f"{', '.join(allowed[:-1])} or {allowed[-1]}"
                )


@dataclass(frozen=True)
class Split:
    train: LabelledData
    val: LabelledData
    test: LabelledData


def split(data: LabelledData, val_fraction: float, test_fraction: float, seed: int) -> Split:
    """Stratified, seeded: every class keeps its share in each part and at least one train row.

    A class too small to spare rows (fewer than 3) stays entirely in train; the gates then only
    judge it if an explicit test file has it.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_class.setdefault(label, []).append(i)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for label in sorted(by_class):
        rows = np.array(by_class[label])
        rng.shuffle(rows)
        n = len(rows)
        n_val = round(n * val_fraction) if n >= 3 else 0
        n_test = round(n * test_fraction) if n >= 3 else 0
        n_val = max(n_val, 1 if val_fraction > 0 and n >= 3 else 0)
        n_test = max(n_test, 1 if test_fraction > 0 and n >= 3 else 0)
        parts["val"] += rows[:n_val].tolist()
        parts["test"] += rows[n_val : n_val + n_test].tolist()
        parts["train"] += rows[n_val + n_test :].tolist()

    def subset(name: str) -> LabelledData:
        return data.take(sorted(parts[name]))

    return Split(train=subset("train"), val=subset("val"), test=subset("test"))


@dataclass
class TrainingRecord:
    """What happened during :func:`fit`, kept in the manifest next to the weights."""

    config: dict[str, Any]
    base_model: str
    labels: list[str]
    rows: dict[str, int]
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    temperature: float = 1.0
    calibration: dict[str, float] = field(default_factory=dict)
    #: each extra head's validation ECE before and after its own calibration (models.heads)
    head_calibration: dict[str, dict[str, float]] = field(default_factory=dict)
    novelty_threshold: float | None = None
    seconds: float = 0.0
    #: models.pseudo's report when the run self-trained on unlabelled rows
    pseudo_labels: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- what the pipeline and a backend's trainer hand each other ------------------------------
@dataclass
class Fitted:
    """A backend's model between steps; ``state`` is the trainer's own (encoded rows, ...)."""

    classifier: Any
    record: TrainingRecord
    state: Any = None


class Trainer(Protocol):
    """A backend's fitting steps; a step a backend does not have is a no-op."""

    def fit(self, parts: Split, config: TrainConfig, context: FitContext) -> Fitted: ...

    def calibrate(self, fitted: Fitted) -> None: ...

    def novelty(self, fitted: Fitted, config: TrainConfig) -> None: ...


@dataclass(frozen=True)
class FitContext:
    base_model: str = ""
    thresholds: Thresholds | None = None
    progress: bool = True
