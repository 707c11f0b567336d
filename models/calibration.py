"""Temperature scaling and expected calibration error.

The bands only mean something if a confidence of 0.9 is right about 90 % of the time. A fine-tuned
encoder is usually over-confident; one temperature fitted on validation logits fixes most of it
without changing any prediction (argmax is invariant to the scale), so it can never cost accuracy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar

from models.base import FloatArray
from models.exceptions import ModelError

IntArray = npt.NDArray[np.int64]

#: Log-temperature search range: T in [e^-3, e^3] ~ [0.05, 20]. Wider means a broken model.
LOG_T_BOUNDS = (-3.0, 3.0)


def softmax(logits: FloatArray, temperature: float = 1.0) -> FloatArray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    out: FloatArray = exp / exp.sum(axis=1, keepdims=True)
    return out


def nll(logits: FloatArray, targets: IntArray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true class, computed in log space (no log(0))."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    shift = scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scaled - shift).sum(axis=1)) + shift[:, 0]
    picked = scaled[np.arange(len(targets)), targets]
    return float(np.mean(log_norm - picked))


def fit_temperature(logits: FloatArray, targets: IntArray) -> float:
    """The temperature minimising validation NLL (a 1-D convex problem in log T)."""
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    if logits.ndim != 2 or logits.shape[0] != targets.shape[0]:
        raise ModelError(
            f"logits {logits.shape} and targets {targets.shape} disagree: need (n, k) and (n,)"
        )
    if logits.shape[0] == 0:
        raise ModelError("cannot fit a temperature on 0 validation rows; give a --val file")
    result = minimize_scalar(
        lambda log_t: nll(logits, targets, float(np.exp(log_t))),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))


def expected_calibration_error(proba: FloatArray, targets: IntArray, n_bins: int = 15) -> float:
    """Top-label ECE with equal-width bins: sum over bins of share * |accuracy - confidence|.

    Bins are (lo, hi] like Guo et al. 2017, so a confidence of exactly 1.0 lands in the last bin.
    """
    proba = np.asarray(proba, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    if proba.shape[0] == 0:
        return 0.0
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == targets).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # index of the bin whose (lo, hi] holds each confidence; 0.0 joins the first bin
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    n = len(confidence)
    for b in range(n_bins):
        mask = bins == b
        count = int(mask.sum())
        if count:
            ece += count / n * abs(float(correct[mask].mean()) - float(confidence[mask].mean()))
    return float(ece)
