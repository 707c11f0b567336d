"""ops/prometheus/alerts.yml and ops/grafana/triage.json speak of metrics that exist (issue 13).

An alert on a metric nobody exports never fires; a test that collects the names the worker,
learner and web really render (from their own registries, not a list kept here) catches a
renamed counter the day it is renamed. promtool (Debian's `prometheus` package, installed by
`make tools`) checks the rules' syntax.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bus import PartitionLag
from learner.metrics import LearnerMetrics
from store import LatencyHistogram
from stream.metrics import WorkerMetrics
from web.metrics import Snapshot, render

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "ops/prometheus/alerts.yml"
ALERT_TESTS = REPO / "ops/prometheus/alerts_test.yml"
DASHBOARD = REPO / "ops/grafana/triage.json"
#: Series Prometheus itself adds to every target.
BUILTIN = {"up"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count")}


def rendered_names(text: str) -> set[str]:
    names: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(name)
        names.update(name + suffix for suffix in SUFFIXES.get(kind, ()))
    return names


def exported() -> set[str]:
    from prometheus_client import generate_latest

    web = Snapshot(
        decisions={("routed", "cards"): 1},
        latency=LatencyHistogram(buckets=((0.1, 1),), count=1, total_s=0.05),
        lag_topic="tickets.incoming",
        lag=[PartitionLag(partition=0, high_watermark=1, committed=1)],
        dead_letters={"schema": 0},
        corrections={"override": 0},
        runs={"deployed": 0},
        model_version="v1",
    )
    names = rendered_names(render(web).decode())
    for registry in (WorkerMetrics().registry, LearnerMetrics().registry):
        names |= rendered_names(generate_latest(registry).decode())
    return names


def metric_names(expression: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}", "", expression)
    return set(re.findall(r"\b(triage_[a-z_]+|up)\b", without_labels))


def alert_expressions() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text("utf-8"))["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text("utf-8"))["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_expression_names_exported_metrics(source: str) -> None:
    expressions = alert_expressions() if source == "alerts" else dashboard_expressions()
    assert expressions
    known = exported() | BUILTIN
    unknown = {name for e in expressions for name in metric_names(e)} - known
    assert not unknown, f"{source} use metrics no service exports: {sorted(unknown)}"


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (`make tools` installs Debian's prometheus package)")
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_behave_as_their_promtool_unit_tests_say() -> None:
    """The drift alert (issue 15): fires once a worker's window stayed drifted for 30 minutes,
    not for a shift that passed sooner."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (`make tools` installs Debian's prometheus package)")
    result = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name],
        cwd=ALERT_TESTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_the_issue_asks_for_exist() -> None:
    groups = yaml.safe_load(ALERTS.read_text("utf-8"))["groups"]
    by_name = {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}
    wanted = {
        "TriageConsumerLagGrowing": "triage_worker_consumer_lag",
        "TriageRoutedPrecisionLow": 'triage_band_precision{band="routed"} < 0.95',
        "TriageDeadLetterRate": "triage_worker_dead_letters_total",
        "TriageNoDecisions": "triage_worker_decisions_total",
        "TriageRetrainFailing": 'triage_learner_runs_total{outcome="failed"}',
        "TriageDriftThresholdsStale": "triage_worker_thresholds_stale",
    }
    for alert, needed in wanted.items():
        assert needed in by_name.get(alert, ""), (alert, by_name.get(alert))
