"""Shadow-mode rollout on the real path: the worker's ``decide``, the store's reviews, the
learner's refit and the file workers reload; then `triage thresholds fit` and `report bands`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from learner.cli import report_group
from learner.thresholds import ThresholdPolicy, refit
from learner.thresholds_cli import thresholds_group
from models.bands import ThresholdOverrides
from models.base import Scores
from models.threshold_set import read_fitted
from schemas import DriftSummary
from schemas.events import Correction, Decision, Ticket
from store import CorrectionOutcome, Store
from stream.serving import decide
from tests.fixtures.drift import drift_summary, publish_drift

LABELS = ["cards", "fx", "top_up"]
REDIS_URL = "redis://127.0.0.1:6379/0"


class KeywordModel:
    """Says the label named first in the text, at 0.9: a stand-in whose confidence is known."""

    version = "kw-1"
    labels = LABELS

    def score(self, texts: list[str]) -> Scores:
        proba = np.full((len(texts), 3), 0.05)
        for i, text in enumerate(texts):
            proba[i, LABELS.index(text.split()[0])] = 0.9
        return Scores(proba=proba, novelty=np.zeros(len(texts)), novel=np.zeros(len(texts), bool))


def batch(label: str, n: int, start: int = 0) -> list[Ticket]:
    return [Ticket(ticket_id=f"{label}-{i}", body=f"{label} ticket {i}") for i in range(start, n)]


def reviewed(store: Store, decisions: list[Decision]) -> None:
    """Store each decision, and a person confirming it."""
    for d in decisions:
        store.add_decision(d)
        confirm = Correction(ticket_id=d.ticket_id, label=d.label, reviewer="ana", action="confirm")
        assert store.add_correction(confirm, LABELS) is CorrectionOutcome.stored


def test_shadow_mode_routes_nothing_until_a_class_qualifies(store: Store, tmp_path: Path) -> None:
    """Done-when (issue 15.4): under shadow mode no ticket is routed while no class has
    qualified; once "cards" has 120 confirmed reviews (>= 100, bound 0.978 >= 0.95) its
    tickets route, while "fx" (20 reviews) stays in shadow."""
    model, shadow = KeywordModel(), ThresholdOverrides(shadow_mode=True)
    before = decide(model, batch("cards", 120) + batch("fx", 20), [None] * 140, shadow)  # type: ignore[arg-type]
    assert {d.band for d in before} == {"shadow"}
    assert all(d.would_route for d in before), "routed-worthy: counted as would-route"
    assert {d.threshold_set for d in before} == {"global+shadow"}
    reviewed(store, before)

    fitted = refit(store, ThresholdPolicy(min_reviews=100), tmp_path, model.version)
    assert read_fitted(tmp_path) == fitted
    assert fitted.qualified() == {"cards"}
    assert fitted.classes["cards"].threshold == 0.6
    assert fitted.status("fx").startswith("needs 80 more reviews")

    after = decide(
        model, batch("cards", 130, 120) + batch("fx", 30, 20), [None] * 20, shadow, fitted
    )  # type: ignore[arg-type]
    bands = {d.ticket_id.split("-")[0]: (d.band, d.would_route) for d in after}
    assert bands == {"cards": ("routed", False), "fx": ("shadow", True)}
    assert {d.threshold_set for d in after} == {f"{fitted.version}+shadow"}


def test_cli_fits_the_deployed_model_and_the_report_shows_how_far(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    store.register_candidate("kw-1", str(model_dir))
    store.mark_deployed("kw-1")
    reviewed(store, decide(KeywordModel(), batch("cards", 120), [None] * 120, ThresholdOverrides()))  # type: ignore[arg-type]
    monkeypatch.setenv("TRIAGE_DATABASE_URL", store.engine.url.render_as_string(False))
    monkeypatch.setenv("TRIAGE_THRESHOLD_MIN_REVIEWS", "100")
    monkeypatch.setenv("TRIAGE_TOPIC_PREFIX", f"test-{uuid.uuid4().hex[:12]}.")  # no drift board

    dry = CliRunner().invoke(thresholds_group, ["fit", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "in force: none" in dry.output
    assert read_fitted(model_dir) is None, "a dry run writes nothing"

    fit = CliRunner().invoke(thresholds_group, ["fit", "--json"])
    assert fit.exit_code == 0, fit.output
    written = read_fitted(model_dir)
    assert written is not None
    assert json.loads(fit.output)["classes"]["cards"]["threshold"] == 0.6

    report = CliRunner().invoke(report_group, ["bands", "--all-time"])
    assert report.exit_code == 0, report.output
    assert f"in force: {written.version}" in report.output
    cards = next(line for line in report.output.splitlines() if line.startswith("cards "))
    assert "on at 0.60" in cards
    as_json = CliRunner().invoke(report_group, ["bands", "--all-time", "--json"])
    thresholds = json.loads(as_json.output)["thresholds"]
    assert [(c["label"], c["state"], c["status"]) for c in thresholds["classes"]] == [
        ("cards", "on", "on at 0.60")
    ]
    assert (thresholds["in_force"], thresholds["stale"]) == (written.version, False)


def on_board(namespace: str, *summaries: DriftSummary) -> None:
    publish_drift(REDIS_URL, namespace, *summaries)


@pytest.mark.integration
def test_report_bands_says_stale_when_a_worker_of_the_deployed_model_drifted(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15.5: a drift past the limit marks the thresholds stale. Only a worker serving the
    deployed version counts (one still on an older model speaks for that one)."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    store.register_candidate("kw-1", str(model_dir))
    store.mark_deployed("kw-1")
    prefix = f"test-{uuid.uuid4().hex[:12]}."
    monkeypatch.setenv("TRIAGE_DATABASE_URL", store.engine.url.render_as_string(False))
    monkeypatch.setenv("TRIAGE_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("TRIAGE_TOPIC_PREFIX", prefix)
    bands = ["bands", "--all-time"]

    on_board(
        prefix,
        drift_summary("host-a", "kw-1", "stable"),
        drift_summary("host-old", "kw-0", "drifted"),
    )
    calm = CliRunner().invoke(report_group, bands)
    assert calm.exit_code == 0, calm.output
    assert "STALE" not in calm.output
    assert "host-a" in calm.output
    assert "host-old" not in calm.output

    on_board(prefix, drift_summary("host-b", "kw-1", "drifted"))
    stale = CliRunner().invoke(report_group, bands)
    assert "STALE: drift past the limit on host-b:" in stale.output, stale.output
    as_json = json.loads(CliRunner().invoke(report_group, [*bands, "--json"]).output)
    assert (as_json["thresholds"]["stale"], as_json["thresholds"]["drifted_workers"]) == (
        True,
        ["host-b"],
    )

    monkeypatch.setenv("TRIAGE_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    unknown = CliRunner().invoke(report_group, bands)
    assert unknown.exit_code == 0, unknown.output
    assert "drift: unknown (cannot read the workers' drift summaries" in unknown.output
