"""``POST /api/predict`` through FastAPI's TestClient (a real SQLite store, the session's real
redis and broker): the figures `triage predict` prints, any signed-in role, redaction, the
occlusion cap, tried thresholds, registry versions, routed precision and the rate limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from models import read_manifest
from models.cli import predict_command
from models.tfidf import TfidfClassifier
from schemas.events import Correction
from store import CorrectionOutcome
from tests.fixtures.models import read_sample
from tests.web.conftest import API_TOKEN, WebEnv, sign_in
from tests.web.events import decision
from web.try_api import PREDICTS_PER_MINUTE
from web.try_model import MAX_WORDS

pytestmark = pytest.mark.integration

BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
TEXT = "I was charged twice for the same card payment at a shop yesterday"


def triage_predict(model_dir: Path, text: str) -> dict[str, Any]:
    """`triage predict` on one text, every label listed."""
    labels = len(read_manifest(model_dir).labels)
    result = CliRunner().invoke(
        predict_command, [str(model_dir), text, "--top-k", str(labels)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.output.splitlines()[-1])
    return found


def as_printed(answer: dict[str, Any]) -> dict[str, Any]:
    """An /api/predict answer in the shape and rounding `triage predict` prints."""
    return {
        "label": answer["label"],
        "confidence": round(answer["confidence"], 4),
        "band": answer["band"],
        "novel": answer["novel"],
        "novelty": round(answer["novelty"], 4),
        "top_k": [
            {"label": p["label"], "p": round(p["probability"], 4)} for p in answer["probabilities"]
        ],
        "heads": {
            name: {
                "label": head["label"],
                "confidence": round(head["confidence"], 4),
                "band": head["band"],
                "top_k": [
                    {"label": s["label"], "p": round(s["probability"], 4)} for s in head["top_k"]
                ],
            }
            for name, head in answer["heads"].items()
        },
        **({"escalated": answer["escalated"]} if answer["escalated"] else {}),
        "model_version": answer["model_version"],
    }


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """A second TF-IDF version (every other sample row): another registry entry to pick."""
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    out = tmp_path_factory.mktemp("tfidf-other")
    TfidfClassifier().fit(texts[::2], labels[::2]).save(out)
    return out


def test_figures_equal_triage_predict_and_the_schema_has_it(
    web_env: WebEnv, tfidf_model_dir: Path
) -> None:
    with web_env.client() as client:
        answer = client.post("/api/predict", json={"body": TEXT}, headers=BEARER)
        schema = client.get("/api/openapi.json").json()
    assert answer.status_code == 200, answer.text
    assert as_printed(answer.json()) == triage_predict(tfidf_model_dir, TEXT)
    body = answer.json()
    assert body["text"] == TEXT
    assert body["thresholds"] == {"route": 0.85, "shadow": 0.6}
    assert body["novelty_threshold"] is None  # TF-IDF has no novelty detector
    assert body["tried"] is None
    assert sum(p["probability"] for p in body["probabilities"]) == pytest.approx(1.0)
    assert "/api/predict" in schema["paths"]
    assert "post" in schema["paths"]["/api/predict"]
    assert {"/api/predict/band", "/api/predict/versions"} <= set(schema["paths"])
    assert "PredictOut" in schema["components"]["schemas"]


def test_any_signed_in_role_with_the_csrf_token(web_env: WebEnv) -> None:
    with web_env.client() as client:
        assert client.post("/api/predict", json={"body": TEXT}).status_code == 401
        assert client.get("/api/predict/versions").status_code == 401
        csrf = sign_in(client, "olga")  # ops: read-only, yet may try a ticket
        refused = client.post("/api/predict", json={"body": TEXT})
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["message"]
        done = client.post("/api/predict", json={"body": TEXT}, headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200, done.text
        page = client.get("/try")
        assert page.status_code == 200
        assert "/static/try.js" in page.text
    with web_env.client() as client:
        assert client.get("/try", follow_redirects=False).headers["location"] == "/login"


def test_text_is_redacted_and_occlusion_is_capped(web_env: WebEnv) -> None:
    body = "card 4111 1111 1111 1111 mail jo.doe@example.com " + " ".join(
        f"word{i}" for i in range(100)
    )
    with web_env.client() as client:
        answer = client.post("/api/predict", json={"body": body, "subject": "help"}, headers=BEARER)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["text"].startswith("help\ncard [CARD] mail [EMAIL] word0")
    assert "4111" not in answer.text
    assert "example.com" not in answer.text
    assert len(found["words"]) == MAX_WORDS
    assert found["words_total"] == 1 + 2 + 2 + 100
    first = found["words"][0]
    assert (first["word"], first["start"], first["end"]) == ("help", 0, 4)
    assert all(found["text"][w["start"] : w["end"]] == w["word"] for w in found["words"])


def test_tried_thresholds_and_the_band_rule(web_env: WebEnv) -> None:
    with web_env.client() as client:
        base = client.post("/api/predict", json={"body": TEXT}, headers=BEARER).json()
        confidence = base["confidence"]
        above = round(min(1.0, confidence + 0.01), 2)
        below = round(max(0.01, confidence - 0.01), 2)
        tried = client.post(
            "/api/predict", json={"body": TEXT, "route": below, "shadow": below}, headers=BEARER
        ).json()["tried"]
        assert tried == {"route": below, "shadow": below, "band": "routed"}
        band = client.get(
            "/api/predict/band",
            params={"confidence": confidence, "route": above, "shadow": below},
            headers=BEARER,
        )
        assert band.json() == {"route": above, "shadow": below, "band": "shadow"}
        novel = client.get(
            "/api/predict/band",
            params={"confidence": confidence, "route": below, "shadow": below, "novel": True},
            headers=BEARER,
        )
        assert novel.json()["band"] == "manual"
        wrong = client.post(
            "/api/predict", json={"body": TEXT, "route": 0.5, "shadow": 0.7}, headers=BEARER
        )
        assert wrong.status_code == 422
        assert "route=0.5 shadow=0.7" in wrong.json()["message"]
        blank = client.post("/api/predict", json={"body": "   "}, headers=BEARER)
        assert blank.status_code == 422
        assert "whitespace" in blank.json()["message"]


def test_registry_versions_and_routed_precision(
    web_env: WebEnv, tfidf_model_dir: Path, other_model_dir: Path
) -> None:
    store = web_env.store
    deployed = read_manifest(tfidf_model_dir).version
    other = read_manifest(other_model_dir).version
    store.register_candidate(deployed, str(tfidf_model_dir))
    store.mark_deployed(deployed)
    store.register_candidate(other, str(other_model_dir))
    with web_env.client() as client:
        label = client.post("/api/predict", json={"body": TEXT}, headers=BEARER).json()["label"]
        wrong = next(lab for lab in read_manifest(tfidf_model_dir).labels if lab != label)
        # of the deployed version's reviewed decisions naming this label: 0.95 confirmed, 0.75
        # overridden -> precision 1.0 at route 0.85, 0.5 at 0.70
        for ticket, p1 in (("a", 0.95), ("b", 0.75)):
            store.add_decision(decision(ticket, label, p1=p1, p2=0.01, model_version=deployed))
        for ticket, action, named in (("a", "confirm", label), ("b", "override", wrong)):
            event = Correction(ticket_id=ticket, label=named, reviewer="ana", action=action)
            assert store.add_correction(event, {label, wrong}) is CorrectionOutcome.stored

        versions = client.get("/api/predict/versions", headers=BEARER).json()
        assert versions[0] == {"version": deployed, "status": "deployed"}
        assert {"version": other, "status": "candidate"} in versions
        found = client.post("/api/predict", json={"body": TEXT}, headers=BEARER).json()
        picked = client.post(
            "/api/predict", json={"body": TEXT, "model_version": other}, headers=BEARER
        )
        unknown = client.post(
            "/api/predict", json={"body": TEXT, "model_version": "nope"}, headers=BEARER
        )
    assert picked.json()["model_version"] == other
    assert as_printed(picked.json()) == triage_predict(other_model_dir, TEXT)
    assert unknown.status_code == 404
    assert "'nope' is not in the registry" in unknown.json()["message"]
    precision = found["precision"]
    at = {t: i for i, t in enumerate(precision["thresholds"])}
    assert precision["label"][at[0.85]] == {"reviewed": 1, "correct": 1, "precision": 1.0}
    assert precision["label"][at[0.7]] == {"reviewed": 2, "correct": 1, "precision": 0.5}
    assert precision["overall"][at[0.7]]["reviewed"] == 2
    assert picked.json()["precision"]["overall"][at[0.7]]["reviewed"] == 0  # not its decisions


def test_predictions_are_rate_limited_per_caller(web_env: WebEnv) -> None:
    with web_env.client() as client:
        for _ in range(PREDICTS_PER_MINUTE):
            ok = client.post("/api/predict", json={"body": "card"}, headers=BEARER)
            assert ok.status_code == 200, ok.text
        refused = client.post("/api/predict", json={"body": "card"}, headers=BEARER)
        csrf = sign_in(client, "ana")  # another caller has its own count
        other = client.post("/api/predict", json={"body": "card"}, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert f"more than {PREDICTS_PER_MINUTE} predictions a minute" in refused.json()["message"]
    assert other.status_code == 200
