"""The dashboard's per-class thresholds and the workers' drift (issue 15, points 4 and 5): a
real SQLite store with reviewed decisions, the drift board in the session's real redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import Correction, DriftSummary
from store import CorrectionOutcome
from tests.fixtures.drift import drift_summary, publish_drift
from tests.web.conftest import WebEnv, sign_in
from tests.web.events import decision

pytestmark = pytest.mark.integration


def on_board(env: WebEnv, *summaries: DriftSummary) -> None:
    """What the workers' drift publishers write (``stream.worker.drift_publisher``)."""
    publish_drift(env.settings.redis_url, env.stream.topics.prefix, *summaries)


def deployed_with_reviews(env: WebEnv, model_dir: Path) -> None:
    """kw-1 deployed; 120 confirmed "cards" decisions at 0.9 (bound 0.978: switches on) and 30
    "fx" ones (too few reviews)."""
    store = env.store
    model_dir.mkdir()
    store.register_candidate("kw-1", str(model_dir))
    store.mark_deployed("kw-1")
    for label, n in (("cards", 120), ("fx", 30)):
        for i in range(n):
            d = decision(f"{label}-{i}", label, p1=0.9, p2=0.05, model_version="kw-1")
            store.add_decision(d)
            confirm = Correction(
                ticket_id=d.ticket_id, label=label, reviewer="ana", action="confirm"
            )
            assert store.add_correction(confirm, ["cards", "fx"]) is CorrectionOutcome.stored


def test_the_dashboard_shows_per_class_status_and_drift_that_makes_it_stale(
    web_env: WebEnv, tmp_path: Path
) -> None:
    deployed_with_reviews(web_env, tmp_path / "kw-1")
    on_board(
        web_env,
        drift_summary("host-a", "kw-1", "stable"),
        drift_summary("host-old", "kw-0", "drifted"),
    )
    with web_env.client() as client:
        sign_in(client, "olga")
        calm = client.get("/api/dashboard").json()
        on_board(web_env, drift_summary("host-b", "kw-1", "drifted"))
        drifted = client.get("/api/dashboard").json()
        page = client.get("/dashboard").text
        script = client.get("/static/dashboard.js").text
        schema = client.get("/api/openapi.json").json()

    t = calm["thresholds"]
    rows = {c["label"]: (c["state"], c["reviews_needed"], c["threshold"]) for c in t["classes"]}
    assert rows == {"cards": ("on", 0, 0.6), "fx": ("needs_reviews", 70, None)}
    cards = next(c for c in t["classes"] if c["label"] == "cards")
    assert cards["would_route_precision"] == 1.0
    assert 0.95 <= cards["lower_bound"] < 1
    assert (t["model_version"], t["in_force"], t["min_reviews"]) == ("kw-1", None, 100)
    assert t["stale"] is False, "a drifted worker of another version says nothing of kw-1's set"
    assert [(w["worker"], w["state"]) for w in calm["drift"]] == [
        ("host-a", "stable"),
        ("host-old", "drifted"),
    ]

    assert (drifted["thresholds"]["stale"], drifted["thresholds"]["drifted_workers"]) == (
        True,
        ["host-b"],
    )
    assert len(drifted["drift"]) == 3
    assert 'id="thresholds"' in page
    assert 'id="drift"' in page
    assert "drawThresholds(d.thresholds)" in script
    out = schema["paths"]["/api/dashboard"]["get"]["responses"]["200"]["content"]
    ref = out["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"thresholds", "drift"} <= set(schema["components"]["schemas"][ref]["properties"])


def test_with_nothing_deployed_the_thresholds_are_null(web_env: WebEnv) -> None:
    with web_env.client() as client:
        sign_in(client, "olga")
        board = client.get("/api/dashboard").json()
    assert board["thresholds"] is None
    assert board["drift"] == []


def test_the_retrain_view_shows_the_deployed_model_failure_clusters(
    web_env: WebEnv, tmp_path: Path
) -> None:
    """Read from the report training saved beside the deployed model; an old report (no
    clusters key) shows none instead of breaking the dashboard."""
    cluster = {
        "id": 0,
        "size": 4,
        "mix": [{"true": "billing", "predicted": "cards", "count": 4}],
        "representative": {"text": "refund for card fee", "true": "billing", "predicted": "cards"},
    }
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, report in ((old, {"accuracy": 0.9}), (new, {"failure_clusters": [cluster]})):
        (folder / "report").mkdir(parents=True)
        (folder / "report" / "metrics.json").write_text(json.dumps(report))
        web_env.store.register_candidate(folder.name, str(folder))
    with web_env.client() as client:
        sign_in(client, "olga")
        web_env.store.mark_deployed("old")
        before = client.get("/api/dashboard").json()["models"]
        web_env.store.mark_deployed("new")
        after = client.get("/api/dashboard").json()["models"]
        page = client.get("/dashboard").text
        script = client.get("/static/dashboard.js").text
    assert before["failure_clusters"] == []
    assert after["failure_clusters"] == [cluster]
    assert 'id="clusters"' in page
    assert "drawClusters(d.models.failure_clusters" in script
