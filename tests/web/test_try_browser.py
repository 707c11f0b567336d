"""The Try page in a real headless browser (Debian's chromium driven by Playwright) against
`triage web` on a real store, redis and broker: type a ticket, read the decision and the bars,
move the route slider past the confidence, and check every figure against `triage predict` on
the same text and version. ``make screenshots`` writes docs/try-page.png from here.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from models import Thresholds, read_manifest
from models.tfidf import TfidfClassifier
from schemas.events import Correction
from store import CorrectionOutcome, Store
from tests.fixtures.models import read_sample
from tests.fixtures.stack import StreamEnv, free_port
from tests.web.conftest import PASSWORD, SECRET_KEY
from tests.web.events import decision
from tests.web.test_browser import (
    Service,
    browser,  # noqa: F401  (the chromium fixture, shared)
    shoot,
    sign_in,
    wait_until,
)
from web.auth import hash_password

pytestmark = pytest.mark.integration


SUBJECT = "Refund"
BODY = "The shop says they refunded me but I can't see the money back on my card"


def triage_predict(env: dict[str, str], model_dir: Path, text: str) -> dict[str, Any]:
    """`triage predict` as a person runs it, every label listed, each head as the page shows it."""
    labels = str(len(read_manifest(model_dir).labels))
    argv = [sys.executable, "-P", "-m", "ops.cli", "predict", str(model_dir), text, "--top-k"]
    done = subprocess.run(
        [*argv, labels], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return printed(found)


@pytest.fixture
def site(
    stream_env: StreamEnv, tfidf_model_dir: Path, tmp_path: Path, sample_dir: Path
) -> Iterator[dict[str, Any]]:
    """`triage web` on a store whose registry holds two versions (the first deployed), with
    two reviewed decisions of the deployed version naming the label it gives the ticket: one
    at 0.95 confirmed, one at 0.845 overridden (so 1 of 1 right at route 0.85, 1 of 2 below)."""
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    other_dir = tmp_path / "other-model"
    TfidfClassifier().fit(texts[::2], labels[::2]).save(other_dir)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    env = stream_env.worker_env(tfidf_model_dir, TRIAGE_DATABASE_URL=url)
    predicted = triage_predict(env, tfidf_model_dir, f"{SUBJECT}\n{BODY}")
    store = Store.open(url)
    deployed, other = (read_manifest(d).version for d in (tfidf_model_dir, other_dir))
    store.register_candidate(deployed, str(tfidf_model_dir))
    store.mark_deployed(deployed)
    store.register_candidate(other, str(other_dir))
    label = predicted["label"]
    wrong = next(lab for lab in read_manifest(tfidf_model_dir).labels if lab != label)
    reviews = (("a", 0.95, "confirm", label), ("b", 0.845, "override", wrong))
    for ticket, p1, action, named in reviews:
        store.add_decision(decision(ticket, label, p1=p1, p2=0.01, model_version=deployed))
        event = Correction(ticket_id=ticket, label=named, reviewer="ana", action=action)
        assert store.add_correction(event, {label, wrong}) is CorrectionOutcome.stored
    port = free_port()
    users = {"olga": {"password_hash": hash_password(PASSWORD), "role": "ops"}}
    web = Service(
        "web",
        ["web"],
        {
            **env,
            "TRIAGE_SECRET_KEY": SECRET_KEY,
            "TRIAGE_WEB_USERS": json.dumps(users),
            "TRIAGE_PORT": str(port),
            "TRIAGE_WORKER_GROUP_ID": stream_env.group_id,
        },
        tmp_path,
    )
    base_url = f"http://127.0.0.1:{port}"

    def web_up() -> bool:
        web.alive()
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        wait_until(web_up, "triage web to answer")
        yield {
            "url": base_url,
            "env": env,
            "store": store,
            "dirs": {deployed: tfidf_model_dir, other: other_dir},
            "deployed": deployed,
            "other": other,
        }
    finally:
        web.stop()
        store.close()


def page_figures(page: Any) -> dict[str, Any]:
    """What the page shows, in the shape and rounding `triage predict` prints."""
    labels = page.eval_on_selector_all(
        "#p-proba svg text.lbl", "els => els.map(e => e.textContent)"
    )
    values = page.eval_on_selector_all(
        "#p-proba svg rect.bar", "els => els.map(e => e.dataset.value)"
    )
    confidence = float(page.get_attribute("#r-confidence", "data-value"))
    assert page.text_content("#r-confidence") == f"{confidence:.4f}"
    return {
        "label": page.text_content("#r-label"),
        "confidence": round(confidence, 4),
        "band": page.get_attribute("#r-band", "data-band"),
        "novel": "novel" in (page.text_content("#r-novelty") or "").split(),
        "novelty": round(float(page.get_attribute("#r-novelty", "data-value")), 4),
        "top_k": [
            {"label": k, "p": round(float(v), 4)} for k, v in zip(labels, values, strict=True)
        ],
        "heads": {
            el["head"]: {
                "label": el["label"],
                "confidence": round(float(el["confidence"]), 4),
                "band": el["band"],
            }
            for el in page.eval_on_selector_all("#r-heads .head", "els => els.map(e => e.dataset)")
        },
        "model_version": page.text_content("#r-version"),
    }


def printed(predicted: dict[str, Any]) -> dict[str, Any]:
    """`triage predict`'s line as the page shows it: each head without its top_k."""
    heads = {
        name: {k: v for k, v in head.items() if k != "top_k"}
        for name, head in predicted["heads"].items()
    }
    return {**predicted, "heads": heads}


def precision_shown(store: Store, version: str, label: str, route: float) -> str:
    p = store.precision_curve([route], model_version=version).per_class[label][0]
    if not p.reviewed:
        return "none reviewed"
    return f"{p.correct / p.reviewed:.3f} ({p.correct} of {p.reviewed} reviewed)"


def move_route_past(page: Any, confidence: float, route: float, routed: bool) -> float:
    """Arrow keys on the route slider (0.01 a press) until it crosses ``confidence``."""
    target = math.floor(confidence * 100) / 100 + (0.01 if routed else 0.0)
    presses = round((target - route) * 100)
    page.focus("#s-route")
    for _ in range(abs(presses)):
        page.keyboard.press("ArrowRight" if presses > 0 else "ArrowLeft")
    return round(target, 2)


def test_try_page_matches_triage_predict_in_a_browser(
    browser: Any,  # noqa: F811  (the fixture imported above)
    site: dict[str, Any],
) -> None:
    url, store, env = site["url"], site["store"], site["env"]
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    refused: list[str] = []  # any answer but the favicon chromium asks for on its own
    page.on("response", lambda r: refused.append(r.url) if r.status >= 400 else None)
    console: list[str] = []  # a CSP violation is reported here
    page.on(
        "console",
        lambda m: console.append(f"{m.location}: {m.text}") if m.type == "error" else None,
    )
    sign_in(page, url, "olga")  # the ops role: read-only, and still allowed to try
    page.wait_for_url(f"{url}/dashboard")
    page.click("a[href='/try']")
    page.wait_for_selector(f"#f-version option[value='{site['other']}']", state="attached")
    assert page.input_value("#f-version") == site["deployed"]
    page.fill("#f-subject", SUBJECT)
    page.fill("#f-body", BODY)
    page.click("#f-go")
    page.wait_for_selector("#result:not([hidden])")

    # the decision, the bars and the band equal `triage predict` on the same text and version
    text = f"{SUBJECT}\n{BODY}"
    expected = triage_predict(env, site["dirs"][site["deployed"]], text)
    shown = page_figures(page)
    assert shown == expected
    assert len(shown["top_k"]) == len(read_manifest(site["dirs"][site["deployed"]]).labels)
    assert page.text_content("#r-tried-band") == expected["band"]
    assert page.locator("#why-text span.w").count() == len(text.split())
    assert (page.text_content("#why-text") or "") == text
    label, version = expected["label"], site["deployed"]
    before = page.text_content("#r-precision-label")
    assert before == precision_shown(store, version, label, 0.85)

    # the route slider moved past the confidence changes the band, and the precision with it
    confidence = float(page.get_attribute("#r-confidence", "data-value"))
    routed = expected["band"] == "routed"
    route = move_route_past(page, confidence, 0.85, routed)
    shadow = min(0.6, route)
    want = Thresholds(route=route, shadow=shadow).band(confidence, novel=expected["novel"])
    assert want != expected["band"]
    page.wait_for_function(
        "b => document.getElementById('r-tried-band').dataset.band === b", arg=want
    )
    assert page.text_content("#o-route") == f"{route:.2f}"
    after = page.text_content("#r-precision-label")
    assert after == precision_shown(store, version, label, route)
    assert after != before  # the seeded 0.845 decision counts below 0.85 only
    state = {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}
    assert state.keys() == {"version", "route", "shadow"}
    assert (state["version"], float(state["route"]), float(state["shadow"])) == (
        version,
        route,
        shadow,
    )
    assert "refunded" not in page.url
    assert page.text_content("#r-band") == expected["band"]  # in force: unchanged
    shoot(page, "try-page.png")

    # another registry version, picked from the list, is what `triage predict` says it is
    page.select_option("#f-version", site["other"])
    page.wait_for_function(
        "v => document.getElementById('r-version').textContent === v", arg=site["other"]
    )
    assert page_figures(page) == triage_predict(env, site["dirs"][site["other"]], text)

    # the shared URL brings back the version and the thresholds, not the ticket
    shared = page.url
    page.goto(shared)
    page.wait_for_selector(f"#f-version option[value='{site['other']}']", state="attached")
    assert page.input_value("#f-version") == site["other"]
    assert page.input_value("#f-body") == ""
    page.fill("#f-body", BODY)
    page.click("#f-go")
    page.wait_for_selector("#result:not([hidden])")
    assert float(page.input_value("#s-route")) == route
    assert errors == []
    assert [u for u in refused if not u.endswith("/favicon.ico")] == []
    assert [m for m in console if "favicon.ico" not in m] == []
    context.close()
