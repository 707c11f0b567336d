"""`triage corrections list|quarantine|release|delete|audit` against the real SQLite and
PostgreSQL stores (issue 10, point 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from learner.corrections_cli import corrections_group
from store import HoldRule, Store, corrections
from tests.learner.events import LABELS, correction, decision


@pytest.fixture
def cli_env(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The commands find ``store``'s database through TRIAGE_DATABASE_URL, as in production."""
    monkeypatch.chdir(tmp_path)  # no var/stack.env from the checkout leaks in
    monkeypatch.setenv("TRIAGE_DATABASE_URL", store.engine.url.render_as_string(False))
    return store


def invoke(*args: str) -> str:
    result = CliRunner().invoke(corrections_group, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_list_quarantine_release_delete_and_audit_from_the_cli(cli_env: Store) -> None:
    store = cli_env
    for i in range(3):
        store.add_decision(decision(f"t{i}", "cards"))
        store.add_correction(correction(f"t{i}", "loans", correction_id=f"c{i}"), LABELS)
    store.add_decision(decision("b0", "cards"))
    store.add_correction(correction("b0", "accounts", correction_id="b0", reviewer="bot"), LABELS)

    listed = json.loads(invoke("list", "--json"))
    assert {r["correction_id"] for r in listed} == {"c0", "c1", "c2", "b0"}
    assert {r["status"] for r in listed} == {"active"}

    out = invoke("quarantine", "c0", "c1", "--reason", "random labels", "--by", "root")
    assert "2 corrections by root" in out
    out = invoke("quarantine", "--reviewer", "bot", "--reason", "a script", "--by", "root")
    assert "1 corrections by root" in out
    held = json.loads(invoke("list", "--status", "quarantined", "--json"))
    assert {r["correction_id"] for r in held} == {"c0", "c1", "b0"}
    assert store.unused_corrections_count() == 1
    table = invoke("list", "--status", "quarantined")
    assert "c0" in table
    assert "c2" not in table

    assert "1 corrections" in invoke("release", "c1", "--reason", "checked", "--by", "root")
    assert store.unused_corrections_count() == 2
    assert "1 corrections" in invoke("delete", "b0", "--reason", "spam", "--by", "root", "--yes")
    assert "b0" not in {r.correction_id for r in corrections.list_corrections(store)}

    audit = json.loads(invoke("audit", "--json"))
    assert [(a["action"], a["actor"], a["reason"], a["correction_ids"]) for a in audit] == [
        ("delete", "root", "spam", ["b0"]),
        ("release", "root", "checked", ["c1"]),
        ("quarantine", "root", "a script", ["b0"]),
        ("quarantine", "root", "random labels", ["c0", "c1"]),
    ]
    assert "random labels" in invoke("audit")


def test_the_cli_refuses_a_change_without_a_selection_or_reason(cli_env: Store) -> None:
    cli_env.add_decision(decision("t1", "cards"))
    cli_env.add_correction(correction("t1", "loans", correction_id="c1"), LABELS)
    no_reason = CliRunner().invoke(corrections_group, ["quarantine", "c1"])
    assert no_reason.exit_code == 2
    assert "--reason" in no_reason.output
    nothing = CliRunner().invoke(corrections_group, ["delete", "--reason", "x", "--yes"])
    assert "no corrections selected" in str(nothing.exception)
    unknown = CliRunner().invoke(corrections_group, ["release", "zz", "--reason", "x"])
    assert "no correction zz" in str(unknown.exception)
    declined = CliRunner().invoke(corrections_group, ["delete", "c1", "--reason", "x"], input="n\n")
    assert declined.exit_code == 1
    assert [r.status for r in corrections.list_corrections(cli_env)] == ["active"]
    assert corrections.audit_log(cli_env) == []


def test_list_shows_corrections_held_for_a_second_reviewer(cli_env: Store) -> None:
    store = cli_env
    store.add_decision(decision("t0", "cards", p1=0.97, p2=0.02, band="routed"))
    store.add_correction(correction("t0", "loans", correction_id="h0"), LABELS, HoldRule())
    held = json.loads(invoke("list", "--status", "held", "--json"))
    assert [(r["correction_id"], r["status"]) for r in held] == [("h0", "held")]
