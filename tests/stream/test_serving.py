"""Serving: decisions from a real (TF-IDF) model, the holder swap, the redis model pointer."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from models.artifact import load
from models.bands import ThresholdOverrides
from models.base import Scores
from models.escalation import Escalation
from models.threshold_set import fit_route_thresholds, write_fitted
from ops.stack import StackInfo
from schemas.events import Ticket
from stream.serving import (
    ModelHolder,
    ModelPointer,
    ModelWatcher,
    decide,
    load_serving,
    read_pointer,
    unreachable_escalation,
)


class FixedModel:
    """A stand-in with known probabilities, to pin the band rule at its edges."""

    version = "fixed-1"

    def __init__(self, rows: list[list[float]], novel: list[bool]) -> None:
        self.labels = ["cards", "fx", "top_up"]
        self.rows, self.novel = np.array(rows), np.array(novel)

    def score(self, texts: list[str]) -> Scores:
        return Scores(proba=self.rows, novelty=self.novel.astype(float), novel=self.novel)


def tickets(n: int) -> list[Ticket]:
    return [
        Ticket(ticket_id=f"T-{i}", body=f"text {i}", subject="s" if i else None) for i in range(n)
    ]


def test_bands_follow_thresholds_and_novelty() -> None:
    model = FixedModel(
        [[0.85, 0.1, 0.05], [0.2, 0.6, 0.2], [0.3, 0.3, 0.4], [0.98, 0.01, 0.01]],
        [False, False, False, True],
    )
    when = datetime(2026, 1, 1, tzinfo=UTC)
    out = decide(model, tickets(4), [when] * 4, ThresholdOverrides(0.85, 0.60))  # type: ignore[arg-type]
    assert [(d.label, d.band) for d in out] == [
        ("cards", "routed"),
        ("fx", "shadow"),
        ("top_up", "manual"),
        ("cards", "manual"),  # novel goes to a person whatever its confidence
    ]
    probabilities = [s.probability for s in out[2].top_k]
    assert out[2].top_k[0].label == "top_up"
    assert probabilities == sorted(probabilities, reverse=True)
    assert out[3].novel
    assert out[0].received_at == when
    assert out[0].model_version == "fixed-1"
    assert (out[1].subject, out[1].body) == ("s", "text 1")


def test_real_model_decides_every_ticket(tfidf_model_dir: Path) -> None:
    model = load(tfidf_model_dir, "cpu")
    batch = [Ticket(ticket_id="a", body="I lost my card, please block it")]
    (decision,) = decide(model, batch, [None], ThresholdOverrides())
    assert decision.label == "cards"
    assert decision.model_version == model.version
    assert len(decision.top_k) == 3
    assert decision.confidence == decision.top_k[0].probability


def test_swap_replaces_the_model_whole() -> None:
    first, second = FixedModel([[1, 0, 0]], [False]), FixedModel([[0, 1, 0]], [False])
    holder = ModelHolder(first)  # type: ignore[arg-type]
    assert holder.swap(second) is first  # type: ignore[arg-type]
    assert holder.current is second


@pytest.mark.integration
def test_pointer_in_redis_wins_over_the_default(
    stack_info: StackInfo, tfidf_model_dir: Path, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(stack_info.redis_url)
    namespace = f"{tmp_path.name}."
    model = load_serving(client, namespace, tfidf_model_dir, "cpu").current
    pointer = read_pointer(client, namespace)
    assert pointer == ModelPointer(model.version, tfidf_model_dir.resolve())

    other = shutil.copytree(tfidf_model_dir, tmp_path / "deployed")
    client.set(ModelPointer.key(namespace), ModelPointer("v-deployed", other).to_json())
    missing = tmp_path / "no-such-model"
    served = load_serving(client, namespace, missing, "cpu").current  # pointer set: default unused
    assert served.version == model.version  # same weights, loaded from the pointer's directory


@pytest.mark.integration
def test_watcher_skips_a_model_that_fails_to_load_until_the_pointer_moves(
    stack_info: StackInfo, tfidf_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    holder = ModelHolder(FixedModel([[1, 0, 0]], [False]))  # type: ignore[arg-type]
    namespace = f"{tmp_path.name}."
    pointers = redis.Redis.from_url(stack_info.redis_url)
    broken = tmp_path / "broken"
    broken.mkdir()

    def point_at(version: str, model_dir: Path) -> None:
        pointers.set(ModelPointer.key(namespace), ModelPointer(version, model_dir).to_json())

    async def refreshes() -> list[bool]:
        client = aioredis.Redis.from_url(stack_info.redis_url)
        with ThreadPoolExecutor(max_workers=1) as executor:
            watcher = ModelWatcher(
                holder, client, namespace=namespace, device="cpu", executor=executor
            )
            point_at("v-broken", broken)
            swapped = [await watcher.refresh(), await watcher.refresh()]
            point_at("v-good", tfidf_model_dir)
            swapped.append(await watcher.refresh())
        await client.aclose()
        return swapped

    with caplog.at_level(logging.ERROR, logger="stream.serving"):
        assert asyncio.run(refreshes()) == [False, False, True]
    failures = [r for r in caplog.records if "failed to load" in r.getMessage()]
    assert len(failures) == 1, "a model that failed to load is tried once per pointer change"
    assert "v-broken" in failures[0].getMessage()
    assert holder.current.version == load(tfidf_model_dir).version


@pytest.mark.integration
def test_watcher_reloads_a_refitted_threshold_set_and_keeps_it_over_a_broken_file(
    stack_info: StackInfo, tfidf_model_dir: Path, tmp_path: Path
) -> None:
    model_dir = shutil.copytree(tfidf_model_dir, tmp_path / "served")
    model = load(model_dir)
    holder = ModelHolder(model)
    namespace = f"{tmp_path.name}."
    pointers = redis.Redis.from_url(stack_info.redis_url)
    pointers.set(ModelPointer.key(namespace), ModelPointer(model.version, model_dir).to_json())
    fitted = fit_route_thresholds(
        [0.0, 0.7], {model.labels[0]: [(200, 200), (150, 150)]}, target=0.95, min_reviews=100
    )

    async def refresh_after(write: Callable[[], object]) -> bool:
        write()
        client = aioredis.Redis.from_url(stack_info.redis_url)
        with ThreadPoolExecutor(max_workers=1) as executor:
            watcher = ModelWatcher(
                holder, client, namespace=namespace, device="cpu", executor=executor
            )
            swapped = await watcher.refresh()
        await client.aclose()
        return swapped

    assert not asyncio.run(refresh_after(lambda: write_fitted(model_dir, fitted)))
    assert holder.current is model, "the same model: only its thresholds were reloaded"
    assert holder.fitted == fitted
    broken = model_dir / "thresholds.json"
    assert not asyncio.run(refresh_after(lambda: broken.write_text("{")))
    assert holder.fitted == fitted, "an unreadable refit keeps the set in force"
    served = load_serving(pointers, namespace, tmp_path / "unused", "cpu")
    assert served.fitted is None, "a new start with a broken file bands with the defaults"


def test_a_hierarchy_decides_the_team_and_the_intent_inside_it(hierarchy_model_dir: Path) -> None:
    model = load(hierarchy_model_dir, "cpu")
    batch = [
        Ticket(ticket_id="a", body="I lost my card, please block it"),
        Ticket(ticket_id="b", body="my transfer to a friend has not arrived"),
    ]
    decisions = decide(model, batch, [None, None], ThresholdOverrides())
    parent_of = model.hierarchy.parent_of  # type: ignore[attr-defined]
    for decision in decisions:
        intent = decision.heads["intent"]
        assert intent.parent_head == "label"
        assert parent_of[intent.label] == decision.label
        assert intent.top_k[0].label == intent.label
    assert decisions[0].label == "cards"
    assert decisions[1].label == "transfers"


def test_a_single_head_model_decides_with_no_extra_heads(tfidf_model_dir: Path) -> None:
    model = load(tfidf_model_dir, "cpu")
    (decision,) = decide(
        model, [Ticket(ticket_id="a", body="card lost")], [None], ThresholdOverrides()
    )
    assert decision.heads == {}


def test_an_escalation_rule_sends_a_confident_ticket_to_manual(hierarchy_model_dir: Path) -> None:
    from models.escalation import Escalation

    model = load(hierarchy_model_dir, "cpu")
    batch = [Ticket(ticket_id="a", body="I lost my card, please block it")]
    (plain,) = decide(model, batch, [None], ThresholdOverrides(route=0.2, shadow=0.1))
    assert plain.band == "routed"
    assert plain.escalated is None
    rule = Escalation.parse(f"intent={plain.heads['intent'].label}")
    overrides = ThresholdOverrides(route=0.2, shadow=0.1, escalation=rule)
    (escalated,) = decide(model, batch, [None], overrides)
    assert escalated.band == "manual"
    assert escalated.escalated == f"intent={plain.heads['intent'].label}"
    assert escalated.would_route is False
    (other,) = decide(
        model,
        batch,
        [None],
        ThresholdOverrides(
            route=0.2, shadow=0.1, escalation=Escalation.parse("intent=card_swallowed,label=fx")
        ),
    )
    assert other.band == "routed"


def test_an_escalation_rule_on_a_head_the_model_lacks_is_named_at_load(
    tfidf_model_dir: Path, hierarchy_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A rule on a head the model does not have can never fire: said when the model loads."""
    rule = Escalation.parse("intent=lost_or_stolen_card,urgency=high")
    flat, hierarchy = load(tfidf_model_dir, "cpu"), load(hierarchy_model_dir, "cpu")

    with caplog.at_level(logging.WARNING, logger="stream.serving"):
        assert unreachable_escalation(flat, rule) == ["intent", "urgency"]
        assert unreachable_escalation(hierarchy, rule) == ["urgency"]
        assert (
            unreachable_escalation(hierarchy, Escalation.parse("intent=lost_or_stolen_card")) == []
        )

    warned = [r.getMessage() for r in caplog.records if "TRIAGE_ESCALATE" in r.getMessage()]
    assert len(warned) == 2
    assert "intent, urgency" in warned[0]
    assert flat.version in warned[0]


@pytest.mark.integration
def test_an_escalation_rule_the_swapped_in_model_cannot_fire_is_named_at_the_swap(
    stack_info: StackInfo,
    tfidf_model_dir: Path,
    hierarchy_model_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rule on the intent head holds for the hierarchy served at start; a deploy of a flat
    model drops that head, and the operator hears it when the swap happens."""
    holder = ModelHolder(load(hierarchy_model_dir, "cpu"))
    namespace = f"{tmp_path.name}."
    flat = load(tfidf_model_dir, "cpu")
    pointer = ModelPointer(flat.version, tfidf_model_dir)
    redis.Redis.from_url(stack_info.redis_url).set(ModelPointer.key(namespace), pointer.to_json())

    async def refresh() -> bool:
        client = aioredis.Redis.from_url(stack_info.redis_url)
        with ThreadPoolExecutor(max_workers=1) as executor:
            watcher = ModelWatcher(
                holder,
                client,
                namespace=namespace,
                device="cpu",
                executor=executor,
                escalation=Escalation.parse("intent=lost_or_stolen_card"),
            )
            swapped = await watcher.refresh()
        await client.aclose()
        return swapped

    with caplog.at_level(logging.WARNING, logger="stream.serving"):
        assert asyncio.run(refresh())

    warned = [r.getMessage() for r in caplog.records if "TRIAGE_ESCALATE" in r.getMessage()]
    assert len(warned) == 1
    assert "intent" in warned[0]
    assert flat.version in warned[0]
