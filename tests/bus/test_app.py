"""Broker profiles: tansu's workarounds only under ``embedded``; ``kafka`` gets what a cluster
wants (acks=all, batching, replication 3, no private overrides)."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from bus import faust_app, producer_config, topic_guard
from bus.transport import App as FetchWaitApp
from stream.settings import WorkerSettings


def settings(tmp_path: Path, **env: str) -> WorkerSettings:
    return WorkerSettings(_env_file=None, data_dir=tmp_path, **env)  # type: ignore[arg-type]


def test_kafka_profile_is_what_a_cluster_wants(tmp_path: Path) -> None:
    chosen = settings(tmp_path)
    assert chosen.broker_profile == "kafka"
    app = faust_app("p-kafka", chosen)
    assert type(app) is faust.App  # no private fetch-wait override
    assert app.conf.topic_replication_factor == 3
    assert app.conf.producer_acks == -1
    assert app.conf.producer_max_batch_size > 1
    assert app.conf.broker_session_timeout == 30.0
    options = producer_config(chosen).options()
    assert (options["acks"], options["linger_ms"]) == ("all", 5)
    assert options["max_batch_size"] > 1
    assert topic_guard(chosen, ["x"]).replication == 3


def test_embedded_profile_carries_the_tansu_workarounds(tmp_path: Path) -> None:
    chosen = settings(tmp_path, broker_profile="embedded")
    app = faust_app("p-embedded", chosen)
    assert isinstance(app, FetchWaitApp)
    assert app.conf.topic_replication_factor == 1
    assert app.conf.producer_max_batch_size == 1
    assert app.conf.broker_session_timeout == 6.0
    assert producer_config(chosen).options()["max_batch_size"] == 1


def test_topic_creation_can_be_switched_off(tmp_path: Path) -> None:
    chosen = settings(tmp_path, topic_create=False, topic_replication=5)
    assert faust_app("p-managed", chosen).conf.topic_allow_declare is False
    guard = topic_guard(chosen, ["x"])
    assert (guard.create, guard.replication) == (False, 5)


@pytest.mark.parametrize("profile", ["kafka", "embedded"])
def test_partitions_come_from_settings(tmp_path: Path, profile: str) -> None:
    chosen = settings(tmp_path, broker_profile=profile, partitions=8)
    assert faust_app(f"p-{profile}", chosen).conf.topic_partitions == 8
