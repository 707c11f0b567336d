"""The one threshold rule: manifest defaults, overridden where the operator set a setting; and
the worker, `triage predict` and `triage evaluate` band the same ticket the same way with it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from models.artifact import load
from models.bands import ThresholdOverrides, Thresholds, model_thresholds, resolve_thresholds
from models.cli import evaluate_command, predict_command
from models.exceptions import ModelError
from models.settings import ModelSettings
from models.tfidf import TfidfClassifier
from schemas.events import Ticket
from stream.serving import decide
from stream.settings import WorkerSettings

TEXTS = ["card never arrived", "card still missing", "refund my transfer", "transfer failed"]
LABELS = ["cards", "cards", "transfers", "transfers"]
TICKET = "my card has not arrived"


@pytest.fixture
def model_factory(tmp_path: Path) -> Callable[[dict[str, float] | None], Path]:
    """A saved TF-IDF model whose manifest records ``thresholds`` (None: the defaults)."""

    def make(thresholds: dict[str, float] | None = None) -> Path:
        out = tmp_path / f"model-{len(list(tmp_path.iterdir()))}"
        extra = {"thresholds": thresholds} if thresholds else {}
        TfidfClassifier().fit(TEXTS, LABELS).save(out, **extra)
        return out

    return make


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("TRIAGE_ROUTE_THRESHOLD", "TRIAGE_SHADOW_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRIAGE_DEVICE", "cpu")
    return monkeypatch


def test_defaults_without_manifest_or_settings() -> None:
    assert resolve_thresholds(None) == Thresholds(0.85, 0.60)
    assert resolve_thresholds(None, ModelSettings(_env_file=None)) == Thresholds()


def test_manifest_gives_the_defaults(
    model_factory: Callable[..., Path], clean_env: pytest.MonkeyPatch
) -> None:
    model = load(model_factory({"route": 0.7, "shadow": 0.4}))
    assert model_thresholds(model) == Thresholds(0.7, 0.4)
    # settings left at their defaults do not override the manifest
    assert resolve_thresholds(model, ModelSettings()) == Thresholds(0.7, 0.4)
    assert resolve_thresholds(model, WorkerSettings()) == Thresholds(0.7, 0.4)


def test_only_what_the_operator_set_overrides(
    model_factory: Callable[..., Path], clean_env: pytest.MonkeyPatch
) -> None:
    model = load(model_factory({"route": 0.7, "shadow": 0.4}))
    clean_env.setenv("TRIAGE_ROUTE_THRESHOLD", "0.9")
    assert ThresholdOverrides.from_settings(ModelSettings()) == ThresholdOverrides(route=0.9)
    assert resolve_thresholds(model, ModelSettings()) == Thresholds(0.9, 0.4)
    assert resolve_thresholds(model, ModelSettings(shadow_threshold=0.5)) == Thresholds(0.9, 0.5)


def test_an_override_that_breaks_the_order_names_both_sources(
    model_factory: Callable[..., Path], clean_env: pytest.MonkeyPatch
) -> None:
    model = load(model_factory({"route": 0.7, "shadow": 0.4}))
    with pytest.raises(ModelError, match=r"manifest gives route=0\.7"):
        resolve_thresholds(model, ModelSettings(route_threshold=0.3))


@pytest.mark.parametrize(
    ("manifest", "env"),
    [
        (None, {}),
        ({"route": 0.5, "shadow": 0.2}, {}),
        ({"route": 0.99, "shadow": 0.98}, {}),
        ({"route": 0.99, "shadow": 0.2}, {"TRIAGE_ROUTE_THRESHOLD": "0.3"}),
        ({"route": 0.5, "shadow": 0.2}, {"TRIAGE_SHADOW_THRESHOLD": "0.45"}),
    ],
)
def test_worker_predict_and_evaluate_band_alike(
    model_factory: Callable[..., Path],
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    manifest: dict[str, float] | None,
    env: dict[str, str],
) -> None:
    model_dir = model_factory(manifest)
    for name, value in env.items():
        clean_env.setenv(name, value)
    model = load(model_dir)

    (decision,) = decide(
        model,
        [Ticket(ticket_id="T-1", body=TICKET)],
        [None],
        ThresholdOverrides.from_settings(WorkerSettings()),
    )

    runner = CliRunner()
    predicted = runner.invoke(predict_command, [str(model_dir), TICKET], catch_exceptions=False)
    predict_band = json.loads(predicted.stdout)["band"]

    data = tmp_path / "one.csv"
    # the same ticket twice (a labelled file needs two classes): both rows land in one band
    data.write_text(f"text,label\n{TICKET},cards\n{TICKET},transfers\n", "utf-8")
    evaluated = runner.invoke(
        evaluate_command, [str(model_dir), str(data), "--json"], catch_exceptions=False
    )
    bands = json.loads(evaluated.stdout)["bands"]
    evaluate_band = next(band for band, row in bands.items() if row["share"] == 1.0)

    expected = resolve_thresholds(model, ModelSettings()).band(decision.confidence)
    assert decision.band == predict_band == evaluate_band == expected
