"""Held corrections on real SQLite and PostgreSQL (issue 16, point 5): a label the deciding
model was confidently against waits for a second reviewer, never trains or counts before a
confirmation, and a reviewer whose holds are mostly overturned is flagged."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import select

from store import (
    CorrectionOutcome,
    CorrectionsNotFound,
    FlagRule,
    HoldRule,
    NotHeld,
    OwnCorrection,
    Selection,
    Store,
    Verdict,
)
from store.engine import alembic_config
from store.holds import label_probability
from store.tables import CorrectionRow
from tests.learner.events import LABELS, correction, decision

RULE = HoldRule(0.95, FlagRule(min_judged=3, overturned_share=0.5))


def confident(store: Store, ticket_id: str) -> None:
    """A routed 'cards' decision at 0.97: 'transfers' has 0.02, the rest share 0.01."""
    store.add_decision(decision(ticket_id, "cards", p1=0.97, p2=0.02, band="routed"))


def status_of(store: Store, correction_id: str) -> str:
    with store.session() as session:
        return str(
            session.scalar(
                select(CorrectionRow.status).where(CorrectionRow.correction_id == correction_id)
            )
        )


def test_a_label_the_model_was_sure_against_is_held_out_of_training(store: Store) -> None:
    confident(store, "t1")
    wrong = correction("t1", "loans")
    assert store.add_correction(wrong, LABELS, RULE) is CorrectionOutcome.held
    assert store.unused_corrections_count() == 0
    assert store.training_corrections(unused_only=False) == []
    [held] = store.held_corrections()
    assert (held.correction_id, held.label, held.hold_label) == (
        wrong.correction_id,
        "loans",
        "cards",
    )
    assert held.hold_against == pytest.approx(0.99)
    assert held.text == "help\nmy card was declined"
    [entry] = store.audit_log()
    assert entry.action == "hold"
    assert "gave 'loans' 0.0100 (it said 'cards')" in entry.reason
    assert "TRIAGE_HOLD_CONFIDENCE" in entry.reason


def test_an_honest_override_to_the_runner_up_is_not_held(store: Store) -> None:
    store.add_decision(decision("t1", "cards", p1=0.7, p2=0.28, runner_up="transfers"))
    assert store.add_correction(correction("t1", "transfers"), LABELS, RULE) is (
        CorrectionOutcome.stored
    )
    assert store.unused_corrections_count() == 1
    assert store.held_corrections() == []


def test_a_label_the_uncertain_model_all_but_ruled_out_is_held(store: Store) -> None:
    """0.7 / 0.28 in the top two leave 0.02 for every other label: 0.98 against 'loans'."""
    store.add_decision(decision("t1", "cards", p1=0.7, p2=0.28, runner_up="transfers"))
    assert store.add_correction(correction("t1", "loans"), LABELS, RULE) is CorrectionOutcome.held


def test_without_a_rule_nothing_is_held(store: Store) -> None:
    confident(store, "t1")
    assert store.add_correction(correction("t1", "loans"), LABELS) is CorrectionOutcome.stored


def test_a_label_outside_the_top_k_gets_the_most_it_could_have() -> None:
    top = [{"label": "a", "probability": 0.5}, {"label": "b", "probability": 0.1}]
    assert label_probability(top, "b") == 0.1
    assert label_probability(top, "c") == 0.1  # not more than the k-th
    top = [{"label": "a", "probability": 0.9}, {"label": "b", "probability": 0.08}]
    assert label_probability(top, "c") == pytest.approx(0.02)  # nor than what is left over
    assert label_probability([], "c") == 1.0


def test_a_second_reviewer_confirms_and_it_trains(store: Store) -> None:
    confident(store, "t1")
    held = correction("t1", "loans", reviewer="ana")
    store.add_correction(held, LABELS, RULE)
    with pytest.raises(OwnCorrection, match=r"'ana' sent correction .* a second reviewer"):
        store.judge_held(held.correction_id, verdict="confirm", reviewer="ana", rule=RULE.flag)
    judged = store.judge_held(
        held.correction_id, verdict="confirm", reviewer="olga", rule=RULE.flag
    )
    assert (judged.reviewer, judged.judged_by, judged.reviewer_flagged) == ("ana", "olga", False)
    entry = judged.audit
    assert (entry.action, entry.actor, entry.correction_ids) == (
        "confirm",
        "olga",
        [held.correction_id],
    )
    assert status_of(store, held.correction_id) == "active"
    assert store.unused_corrections_count() == 1
    assert [c.label for c in store.training_corrections()] == ["loans"]
    assert store.held_corrections() == []
    with pytest.raises(NotHeld, match="is active by 'olga', not held"):
        store.judge_held(held.correction_id, verdict="overturn", reviewer="max", rule=RULE.flag)


def test_an_overturned_correction_never_trains_and_a_resend_stays_a_no_op(store: Store) -> None:
    confident(store, "t1")
    held = correction("t1", "loans")
    store.add_correction(held, LABELS, RULE)
    store.judge_held(held.correction_id, verdict="overturn", reviewer="olga", rule=RULE.flag)
    assert status_of(store, held.correction_id) == "overturned"
    assert store.add_correction(held, LABELS, RULE) is CorrectionOutcome.duplicate
    assert store.unused_corrections_count() == 0
    assert store.training_corrections(unused_only=False) == []
    # an admin's release is for quarantined corrections: it does not skip the verdict
    assert store.release(Selection(reviewer="ana"), actor="olga", reason="x") is None
    assert status_of(store, held.correction_id) == "overturned"


def test_unknown_correction_is_named(store: Store) -> None:
    with pytest.raises(CorrectionsNotFound, match="no correction 'nope'"):
        store.judge_held("nope", verdict="confirm", reviewer="olga", rule=RULE.flag)


def test_release_does_not_skip_a_pending_hold(store: Store) -> None:
    confident(store, "t1")
    held = correction("t1", "loans")
    store.add_correction(held, LABELS, RULE)
    assert store.release(Selection(reviewer="ana"), actor="olga", reason="x") is None
    assert store.quarantine(Selection(reviewer="ana"), actor="olga", reason="x") is None
    assert status_of(store, held.correction_id) == "held"


def test_the_second_review_list_leaves_out_the_reviewers_own(store: Store) -> None:
    for i, who in enumerate(("ana", "bob")):
        confident(store, f"t{i}")
        store.add_correction(correction(f"t{i}", "loans", reviewer=who), LABELS, RULE)
    assert [h.reviewer for h in store.held_corrections(exclude_reviewer="ana")] == ["bob"]
    assert len(store.held_corrections()) == 2


def test_a_reviewer_mostly_overturned_is_flagged_and_then_always_held(store: Store) -> None:
    # bob's honest override of an uncertain ticket, stored active before he is flagged
    store.add_decision(decision("honest", "cards", p1=0.6, p2=0.35, runner_up="transfers"))
    early = correction("honest", "transfers", reviewer="bob")
    assert store.add_correction(early, LABELS, RULE) is CorrectionOutcome.stored
    # ... and one a run already trained on: every retrain learns from all active corrections
    store.add_decision(decision("trained", "cards", p1=0.6, p2=0.35, runner_up="transfers"))
    consumed = correction("trained", "transfers", reviewer="bob")
    assert store.add_correction(consumed, LABELS, RULE) is CorrectionOutcome.stored
    run = store.start_run(gold_rows=10, corrections_used=1)
    assert store.mark_used(run, [consumed.correction_id]) == 1
    verdicts: list[Verdict] = ["overturn", "confirm", "overturn"]
    for i, verdict in enumerate(verdicts):
        confident(store, f"t{i}")
        held = correction(f"t{i}", "loans", reviewer="bob")
        store.add_correction(held, LABELS, RULE)
        before = store.reviewer_records(RULE.flag)
        assert not any(r.flagged for r in before)  # fewer than 3 judged so far
        last = store.judge_held(
            held.correction_id, verdict=verdict, reviewer="olga", rule=RULE.flag
        )
    assert last.reviewer_flagged
    [bob] = store.reviewer_records(RULE.flag)
    assert (bob.reviewer, bob.held, bob.confirmed, bob.overturned, bob.flagged) == (
        "bob",
        5,
        1,
        2,
        True,
    )
    assert bob.as_dict()["pending"] == 2  # the two held once he was flagged
    # his unconfirmed corrections are held now, consumed or not, and so is what he sends next
    assert status_of(store, early.correction_id) == "held"
    assert status_of(store, consumed.correction_id) == "held"
    assert consumed.correction_id not in {
        c.correction_id for c in store.training_corrections(unused_only=False)
    }
    store.add_decision(decision("next", "cards", p1=0.6, p2=0.35, runner_up="transfers"))
    later = correction("next", "transfers", reviewer="bob")
    assert store.add_correction(later, LABELS, RULE) is CorrectionOutcome.held
    assert store.unused_corrections_count() == 1  # the confirmed one only
    reasons = [e.reason for e in store.audit_log() if e.action == "hold"]
    assert any("'bob'" in r and "overturned than the flag rule allows" in r for r in reasons)
    # another reviewer's equal corrections are not affected
    store.add_decision(decision("ana-t", "cards", p1=0.6, p2=0.35, runner_up="transfers"))
    assert store.add_correction(correction("ana-t", "transfers"), LABELS, RULE) is (
        CorrectionOutcome.stored
    )


def test_flag_rule_needs_the_minimum_and_a_majority() -> None:
    rule = FlagRule(min_judged=5, overturned_share=0.5)
    assert not rule.flags(4, 4)
    assert not rule.flags(6, 3)
    assert rule.flags(5, 3)


def test_hold_rule_refuses_a_confidence_that_holds_honest_labels() -> None:
    with pytest.raises(ValueError, match=r"hold confidence 0.4 must lie in \(0.5, 1\]"):
        HoldRule(0.4)


def test_downgrade_past_0003_keeps_held_corrections_out_of_training(store: Store) -> None:
    confident(store, "t1")
    store.add_correction(correction("t1", "loans"), LABELS, RULE)
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(connection=conn), "0002")
    with store.engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "head")
    assert store.unused_corrections_count() == 0
    assert [c.status for c in store.list_corrections()] == ["quarantined"]


def test_an_overturned_correction_is_not_a_review_in_band_precision(store: Store) -> None:
    confident(store, "t1")
    held = correction("t1", "loans")
    store.add_correction(held, LABELS, RULE)
    assert store.band_precision().bands["routed"].reviewed == 1  # held: still a person's word
    store.judge_held(held.correction_id, verdict="overturn", reviewer="olga", rule=RULE.flag)
    assert store.band_precision().bands["routed"].reviewed == 0


def test_one_overturn_holds_the_reviewer_before_the_flag_and_a_confirmation_clears_it(
    store: Store,
) -> None:
    """The poisoned correction that slipped past the model in simulate --poison's first round:
    one overturned hold is enough to hold the reviewer's unconfirmed corrections (not to flag
    them); an honest reviewer's next confirmed hold lifts it."""
    store.add_decision(decision("slipped", "cards", p1=0.6, p2=0.35, runner_up="transfers"))
    slipped = correction("slipped", "transfers", reviewer="eve")
    assert store.add_correction(slipped, LABELS, RULE) is CorrectionOutcome.stored
    confident(store, "caught")
    caught = correction("caught", "loans", reviewer="eve")
    assert store.add_correction(caught, LABELS, RULE) is CorrectionOutcome.held
    judged = store.judge_held(
        caught.correction_id, verdict="overturn", reviewer="olga", rule=RULE.flag
    )
    assert not judged.reviewer_flagged  # one verdict: held, not named
    assert status_of(store, slipped.correction_id) == "held"
    store.add_decision(decision("next", "cards", p1=0.6, p2=0.35, runner_up="transfers"))
    assert store.add_correction(correction("next", "transfers", reviewer="eve"), LABELS, RULE) is (
        CorrectionOutcome.held
    )
    # a second reviewer confirms the slipped one (it was right after all): 1 of 2 overturned
    store.judge_held(slipped.correction_id, verdict="confirm", reviewer="olga", rule=RULE.flag)
    store.add_decision(decision("after", "cards", p1=0.6, p2=0.35, runner_up="transfers"))
    assert store.add_correction(correction("after", "transfers", reviewer="eve"), LABELS, RULE) is (
        CorrectionOutcome.stored
    )
