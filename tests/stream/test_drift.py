"""Drift watch: a window whose label mix shifts passes the PSI limit and marks the thresholds
stale; one drawn from the reference's own mix does not (issue 15, point 5)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import numpy as np
import pytest
from prometheus_client import generate_latest

from schemas.events import Decision
from stream.drift import DriftReference, DriftStatus, DriftWatch, DriftWindow, psi
from stream.metrics import WorkerMetrics
from stream.worker import install_classify
from tests.fixtures.models import read_sample
from tests.fixtures.stack import StreamEnv, ticket_bytes
from tests.models.test_reference import pipeline_tfidf
from tests.stream.test_agents import Recorder, make_stage
from tests.stream.test_probes import sample as sample_in_order

LABELS = ("cards", "fx", "top_up", "transfers", "cash_atm", "payments", "security")
SHARES = (0.25, 0.2, 0.15, 0.15, 0.1, 0.1, 0.05)
LIMIT = 0.2


def reference_dict(rows: int = 2000) -> dict[str, Any]:
    return {
        "split": "validation",
        "rows": rows,
        "label_shares": dict(zip(LABELS, SHARES, strict=True)),
        "novelty_rate": 0.02,
        "mean_confidence": 0.8,
        "confidence_edges": [0.0, 0.6, 0.75, 0.85, 0.93, 1.0],
        "confidence_shares": [0.2] * 5,
    }


@dataclass
class Manifest:
    drift_reference: dict[str, Any] | None = field(default_factory=reference_dict)


@dataclass
class FakeModel:
    """What the watch reads of a model: its version and its manifest's reference."""

    version: str = "v1"
    manifest: Any = field(default_factory=Manifest)


def decisions(
    rng: np.random.Generator, n: int, shares: Sequence[float], version: str = "v1"
) -> list[Decision]:
    """``n`` decisions whose labels follow ``shares``, confidence and novelty as the reference."""
    labels = rng.choice(len(LABELS), size=n, p=np.asarray(shares) / sum(shares))
    edges = reference_dict()["confidence_edges"]
    bins = rng.integers(0, 5, size=n)
    return [
        Decision(
            ticket_id=f"T{i}",
            label=LABELS[labels[i]],
            confidence=float(rng.uniform(edges[bins[i]], edges[bins[i] + 1])),
            band="shadow",
            top_k=[],
            model_version=version,
            novel=bool(rng.random() < 0.02),
        )
        for i in range(n)
    ]


def status_of(watch: DriftWatch) -> DriftStatus:
    status = watch.status()
    assert status is not None, "the watch has seen no batch"
    return status


SHIFTED = (0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.5)  # an outage: "security" from 5 % to 50 %


def test_psi_is_zero_on_the_same_mix_and_finite_on_an_empty_bin() -> None:
    assert psi(SHARES, SHARES) == 0.0
    assert 0 < psi(SHARES, [0.3, 0.25, 0.15, 0.15, 0.1, 0.05, 0.0]) < 10
    with pytest.raises(ValueError, match="same bins"):
        psi([0.5, 0.5], [1.0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_shifted_label_mix_passes_the_limit_and_a_stable_one_does_not(seed: int) -> None:
    rng = np.random.default_rng(seed)
    stable, shifted = DriftWatch(1000, LIMIT), DriftWatch(1000, LIMIT)
    stable.observe(FakeModel(), decisions(rng, 1000, SHARES))
    shifted.observe(FakeModel(), decisions(rng, 1000, SHIFTED))
    calm, moved = status_of(stable), status_of(shifted)
    assert (calm.state, calm.stale) == ("stable", False)
    assert calm.psi["label"] < LIMIT / 4, calm.psi
    assert (moved.state, moved.stale) == ("drifted", True)
    assert moved.psi["label"] > LIMIT, moved.psi
    assert moved.psi["confidence"] < LIMIT  # only the labels moved


def test_a_window_is_judged_only_once_full_and_forgets_old_decisions() -> None:
    rng = np.random.default_rng(3)
    watch = DriftWatch(500, LIMIT)
    watch.observe(FakeModel(), decisions(rng, 499, SHIFTED))
    assert (status_of(watch).state, status_of(watch).psi) == ("filling", {})
    watch.observe(FakeModel(), decisions(rng, 1, SHIFTED))
    assert status_of(watch).state == "drifted"
    watch.observe(FakeModel(), decisions(rng, 500, SHARES))  # the shift is over
    assert status_of(watch).state == "stable"


def test_a_new_model_version_starts_an_empty_window() -> None:
    rng = np.random.default_rng(4)
    watch = DriftWatch(200, LIMIT)
    watch.observe(FakeModel("v1"), decisions(rng, 200, SHIFTED))
    batch = decisions(rng, 50, SHARES, version="v2")
    watch.observe(FakeModel("v2"), batch)
    status = status_of(watch)
    assert (status.version, status.state, status.decisions) == ("v2", "filling", 50)


def test_a_model_without_a_reference_is_unknown_and_exported_so() -> None:
    metrics = WorkerMetrics(drift=DriftWatch(100, LIMIT))
    old = FakeModel("old", Manifest(drift_reference=None))
    metrics.observe(Outcome(model=old, fresh=decisions(np.random.default_rng(5), 100, SHARES)))
    text = scrape(metrics, "old")
    assert sample(text, "triage_worker_drift_state", version="old", state="unknown") == 1
    assert sample(text, "triage_worker_thresholds_stale", version="old") == 0
    assert "triage_worker_drift_psi{" not in text


def test_a_malformed_reference_is_unknown_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    broken = reference_dict()
    broken["confidence_edges"] = [0.0, 1.0]  # one bin for five shares
    with caplog.at_level(logging.WARNING):
        assert DriftReference.from_manifest(broken) is None
    assert "drift is unknown" in caplog.text


def test_a_window_small_for_the_label_count_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        DriftWatch(20, LIMIT).observe(FakeModel(), [])
    assert "raise TRIAGE_DRIFT_WINDOW" in caplog.text


def test_window_bins_agree_with_the_reference_histogram() -> None:
    """The worker bins confidence as numpy's histogram did at training time, edges included."""
    edges = reference_dict()["confidence_edges"]
    values = [0.0, 0.6, 0.7499, 0.75, 0.93, 0.99, 1.0]
    window = DriftWindow(len(values), edges)
    for value in values:
        window.add("cards", value, False)
    expected, _ = np.histogram(values, bins=np.asarray(edges))
    assert [window.bins[i] for i in range(5)] == list(expected)


@dataclass
class Outcome:
    """The part of a ``stream.agents.BatchOutcome`` the metrics read."""

    model: Any
    fresh: list[Decision]
    labels: dict[tuple[str, str], int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    dead_letters: list[Any] = field(default_factory=list)
    duplicates: int = 0
    size: int = 0


class NoConsumer:
    def assignment(self) -> set[Any]:
        return set()


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value; prometheus_client writes the labels sorted by name."""
    return sample_in_order(text, name, **dict(sorted(labels.items())))


def scrape(metrics: WorkerMetrics, version: str) -> str:
    asyncio.run(metrics.refresh(NoConsumer(), lambda: version))
    return generate_latest(metrics.registry).decode()


# -- through the real worker path: faust agent -> ClassifyStage -> decide -> acks -> metrics ----


@pytest.fixture(scope="module")
def referenced_model_dir(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    return pipeline_tfidf(sample_dir, tmp_path_factory.mktemp("drift") / "model")


def stream_through_worker(
    env: StreamEnv, model_dir: Path, texts: list[str], window: int
) -> tuple[str, str]:
    """Send ``texts`` as tickets through the classify agent; (model version, its /metrics)."""
    app = faust.App(f"drift-{env.group_id}", autodiscover=False)
    stage = make_stage(env, model_dir)
    model = stage.holder.current
    metrics = WorkerMetrics(drift=DriftWatch(window, LIMIT))
    send = Recorder()

    async def run() -> None:
        agent = install_classify(
            app, stage, metrics=metrics, send=send, partitions=1, batch_max=64, window_s=0.01
        )
        async with agent.test_context() as test_agent:
            for i, text in enumerate(texts):
                await test_agent.put(key=f"D{i}".encode(), value=ticket_bytes(f"D{i}", text))
            for _ in range(400):
                if len(send.sent) == len(texts):
                    break
                await asyncio.sleep(0.05)

    asyncio.run(run())
    assert len(send.sent) == len(texts)
    return model.version, scrape(metrics, model.version)


@pytest.mark.integration
@pytest.mark.parametrize("mix", ["stable", "shifted"])
def test_the_worker_exports_drift_past_the_limit_only_for_a_shifted_stream(
    mix: str, stream_env: StreamEnv, referenced_model_dir: Path, sample_dir: Path
) -> None:
    """Stable: the sample's test tickets, every team as in training. Shifted: only the cards
    and fx tickets (two teams of seven), as when an outage floods one queue."""
    texts, teams = read_sample(sample_dir / "banking77_test.csv")
    window = 200
    if mix == "shifted":
        texts = [t for t, team in zip(texts, teams, strict=True) if team in ("cards", "fx")]
    stream = [texts[i % len(texts)] for i in range(window)]
    version, text = stream_through_worker(stream_env, referenced_model_dir, stream, window)

    label_psi = sample(text, "triage_worker_drift_psi", version=version, signal="label")
    stale = sample(text, "triage_worker_thresholds_stale", version=version)
    assert sample(text, "triage_worker_drift_window_decisions", version=version) == window
    if mix == "stable":
        assert label_psi < LIMIT / 2, text
        assert stale == 0
        assert sample(text, "triage_worker_drift_state", version=version, state="stable") == 1
    else:
        assert label_psi > LIMIT, text
        assert stale == 1
        assert sample(text, "triage_worker_drift_state", version=version, state="drifted") == 1
    window_cards = sample(
        text, "triage_worker_label_share", version=version, label="cards", source="window"
    )
    reference_cards = sample(
        text, "triage_worker_label_share", version=version, label="cards", source="reference"
    )
    assert 0 < reference_cards < 0.3
    assert (window_cards > 0.3) == (mix == "shifted")


@pytest.mark.integration
def test_the_worker_puts_its_drift_summary_on_the_board() -> None:
    """What the dashboard and `triage report bands` read (real redis): nothing before the first
    batch, then the window's state, figures and staleness, under this worker's name."""
    import uuid

    import redis.asyncio as aioredis

    from bus import DriftBoard
    from stream.worker import drift_publisher

    rng = np.random.default_rng(5)
    watch = DriftWatch(500, LIMIT)

    async def run() -> tuple[int, list[Any]]:
        client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
        try:
            board = DriftBoard(client, namespace=f"test-{uuid.uuid4().hex}.", ttl_s=30)
            publish = drift_publisher(watch, board)
            await publish()
            before = len(await board.summaries())
            watch.observe(FakeModel("v7"), decisions(rng, 500, SHIFTED, version="v7"))
            await publish()
            return before, await board.summaries()
        finally:
            await client.aclose()

    before, (summary,) = asyncio.run(run())
    assert before == 0
    assert (summary.model_version, summary.state, summary.stale) == ("v7", "drifted", True)
    assert (summary.decisions, summary.window, summary.limit) == (500, 500, LIMIT)
    assert summary.psi["label"] > LIMIT
