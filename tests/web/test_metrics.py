"""/metrics and the dashboard's numbers against a real store and a real broker backlog."""

from __future__ import annotations

import re
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bus import KINDS, reason_kind
from schemas.events import Correction
from store import CorrectionOutcome
from tests.fixtures.stack import ticket_bytes
from tests.web.conftest import WebEnv, sign_in
from tests.web.events import decision

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_metrics_match_the_store_and_the_backlog(web_env: WebEnv) -> None:
    store = web_env.store
    for i, latency in enumerate([0.03, 0.2, 0.4, 3.0]):
        store.add_decision(decision(f"s{i}", latency_s=latency))
    store.add_decision(decision("m1", label="fx", band="manual", latency_s=20.0))
    store.add_decision(decision("r1", band="routed", p1=0.95, p2=0.01, latency_s=0.07))
    stored = Correction(ticket_id="s0", label="fx", reviewer="ana", action="override")
    assert store.add_correction(stored, ["cards", "fx"]) is CorrectionOutcome.stored
    producer: Any = web_env.stream.producer()
    for i in range(7):  # a backlog: nobody consumes tickets.incoming in this test
        producer.produce(web_env.stream.topics.incoming, ticket_bytes(f"q{i}", "hello"), f"q{i}")
    producer.flush(10)

    with web_env.client() as client:
        text = client.get("/metrics").text
        csrf = sign_in(client, "olga")
        board = client.get("/api/dashboard").json()
    assert csrf
    m = samples(text)
    assert m[("triage_decisions_total", (("band", "shadow"), ("label", "cards")))] == 4
    assert m[("triage_decisions_total", (("band", "manual"), ("label", "fx")))] == 1
    assert m[("triage_decisions_total", (("band", "routed"), ("label", "cards")))] == 1
    assert m[("triage_decision_latency_seconds_count", ())] == 6
    assert m[("triage_decision_latency_seconds_bucket", (("le", "0.05"),))] == 1
    assert m[("triage_decision_latency_seconds_bucket", (("le", "0.5"),))] == 4
    assert m[("triage_decision_latency_seconds_bucket", (("le", "5.0"),))] == 5
    assert m[("triage_decision_latency_seconds_bucket", (("le", "+Inf"),))] == 6
    assert m[("triage_decision_latency_seconds_sum", ())] == pytest.approx(23.7, abs=0.01)
    topic = web_env.stream.topics.incoming
    lags = {labels: v for (name, labels), v in m.items() if name == "triage_consumer_lag"}
    assert len(lags) == 4  # one series per partition
    assert sum(lags.values()) == 7
    assert all(dict(labels)["topic"] == topic for labels in lags)
    assert m[("triage_corrections_total", (("action", "override"),))] == 1
    assert m[("triage_corrections_total", (("action", "confirm"),))] == 0
    assert m[("triage_retrains_total", (("outcome", "deployed"),))] == 0
    assert {
        dict(labels)["kind"] for (name, labels) in m if name == "triage_dead_letters_total"
    } == set(KINDS)
    assert not re.search(r"triage_model_info\{", text)  # nothing deployed in this store

    assert board["lag"]["total"] == 7
    assert sorted(p["partition"] for p in board["lag"]["partitions"]) == [0, 1, 2, 3]
    assert board["recent"]["decisions"] == 6
    assert board["recent"]["latency_p50_s"] == pytest.approx(0.2, abs=0.01)
    assert board["recent"]["latency_p95_s"] == pytest.approx(20.0, abs=0.01)
    assert board["precision"]["bands"]["shadow"] == {"reviewed": 1, "correct": 0, "precision": 0.0}
    assert sum(row["shadow"] for row in board["band_shares"]) == 4


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("payload is not JSON (Expecting value at line 1 column 1); send ...", "not_json"),
        ("payload is not valid UTF-8 (byte 0xff at position 0); encode ...", "not_utf8"),
        ("body is 70,000 bytes, over the 65,536-byte limit (TRIAGE_MAX_BODY_BYTES)", "too_large"),
        ("ticket does not match the schema: body is missing", "schema"),
        ("no decision stored for ticket 'nope'; correct a ticket ...", "unknown_ticket"),
        ("label 'x' is not one of the deployed model's labels; use one", "unknown_label"),
        ("<script>alert(1)</script> something new", "other"),
    ],
)
def test_dead_letter_reasons_map_to_a_bounded_set_of_kinds(reason: str, kind: str) -> None:
    assert reason_kind(reason) == kind


def _sample_value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def test_scrapes_reuse_the_store_aggregates_and_report_band_precision(web_env: WebEnv) -> None:
    """A scrape inside TRIAGE_METRICS_REFRESH_S reads no table; routed precision is exported."""
    store = web_env.store
    store.add_decision(decision("p1", band="routed", p1=0.95, p2=0.01))
    store.add_decision(decision("p2", band="routed", p1=0.95, p2=0.01))
    for tid, label in (("p1", "cards"), ("p2", "fx")):  # one confirmed, one overridden
        action = "confirm" if label == "cards" else "override"
        correction = Correction(ticket_id=tid, label=label, reviewer="ana", action=action)
        assert store.add_correction(correction, ["cards", "fx"]) is CorrectionOutcome.stored
    cached = web_env.settings.model_copy(update={"metrics_refresh_s": 300.0})
    with web_env.client(settings=cached) as client:
        first = client.get("/metrics").text
        store.add_decision(decision("p3", band="routed", p1=0.95, p2=0.01))
        again = client.get("/metrics").text
    assert _sample_value(first, "triage_band_precision", band="routed") == 0.5
    assert _sample_value(first, "triage_band_reviewed", band="routed") == 2
    assert again == first  # served from the snapshot: p3 is not counted yet
    fresh = web_env.settings.model_copy(update={"metrics_refresh_s": 0.0})
    with web_env.client(settings=fresh) as client:
        now = client.get("/metrics").text
    assert _sample_value(now, "triage_decisions_total", band="routed", label="cards") == 3
