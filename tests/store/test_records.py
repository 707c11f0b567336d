"""Decisions and corrections with heads, on real SQLite and PostgreSQL: each head's answer is
kept, a correction is checked against its own head, the queue and precision read heads."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from store import CorrectionOutcome, Store
from store.tables import CorrectionRow, DecisionRow
from tests.learner.events import HEAD_LABELS, LABELS, correction, decision, headed


def test_a_decision_keeps_every_head_and_the_least_certain_margin(store: Store) -> None:
    # team margin 0.7 - 0.2 = 0.5, intent margin 0.6 - 0.4 = 0.2: the intent orders the queue
    assert store.add_decision(headed("t1", "cards", "card_arrival"))
    store.add_decision(decision("t2"))
    with store.session() as session:
        rows = {r.ticket_id: r for r in session.scalars(select(DecisionRow))}
    assert rows["t1"].heads is not None
    assert rows["t1"].heads["intent"]["label"] == "card_arrival"
    assert rows["t1"].heads["intent"]["parent_head"] == "label"
    assert rows["t1"].margin == pytest.approx(0.2)
    assert rows["t2"].heads is None
    assert rows["t2"].margin == pytest.approx(0.5)


def test_a_child_head_correction_lands_with_its_head_and_its_answer(store: Store) -> None:
    store.add_decision(headed("t1", "cards", "card_arrival", intent_band="manual"))
    event = correction("t1", "card_declined", head="intent")
    assert store.add_correction(event, HEAD_LABELS) is CorrectionOutcome.stored
    confirm = correction("t1", "cards", action="confirm")
    assert store.add_correction(confirm, HEAD_LABELS) is CorrectionOutcome.stored
    with store.session() as session:
        rows = {r.head: r for r in session.scalars(select(CorrectionRow))}
    child = rows["intent"]
    assert (child.label, child.decided_label, child.decided_band) == (
        "card_declined",
        "card_arrival",
        "manual",
    )
    assert (rows["label"].label, rows["label"].decided_label) == ("cards", "cards")
    assert [(c.head, c.label) for c in store.training_corrections()] == [
        ("intent", "card_declined"),
        ("label", "cards"),
    ]
    assert store.first_reviewer("t1", "intent") == "ana"
    assert store.decided_head_label("t1", "intent") == "card_arrival"
    assert store.decided_head_label("t1", "urgency") is None


@pytest.mark.parametrize(
    ("event", "outcome", "says"),
    [
        (correction("t1", "high", head="urgency"), "unknown_head", "head 'urgency'"),
        (correction("t1", "cards", head="intent"), "unknown_label", "of head 'intent'"),
        (
            correction("t1", "card_declined", head="intent", action="confirm"),
            "contradicts_decision",
            "of head 'intent'",
        ),
        (correction("flat", "card_declined", head="intent"), "unknown_head", "'flat'"),
    ],
)
def test_a_correction_is_checked_against_its_own_head(
    store: Store, event: object, outcome: str, says: str
) -> None:
    store.add_decision(headed("t1", "cards", "card_arrival"))
    store.add_decision(decision("flat"))  # a single-head model's decision: no intent head
    result = store.add_correction(event, HEAD_LABELS)  # type: ignore[arg-type]
    assert result.value == outcome
    assert says in result.reason(event)  # type: ignore[arg-type]
    assert store.count_corrections() == 0


def test_primary_labels_alone_refuse_any_other_head(store: Store) -> None:
    store.add_decision(headed("t1"))
    event = correction("t1", "card_declined", head="intent")
    assert store.add_correction(event, LABELS) is CorrectionOutcome.unknown_head
    assert store.add_correction(correction("t1", "loans"), LABELS) is CorrectionOutcome.stored


def test_the_queue_shows_heads_and_keeps_a_ticket_until_its_primary_is_reviewed(
    store: Store,
) -> None:
    store.add_decision(headed("sure-team-doubtful-intent", q1=0.51, q2=0.49))
    store.add_decision(decision("doubtful-team", p1=0.5, p2=0.4))
    store.add_decision(decision("flat", p1=0.9, p2=0.05))
    order = [item.ticket_id for item in store.review_queue(10)]
    assert order == ["sure-team-doubtful-intent", "doubtful-team", "flat"]
    first = store.review_queue(1)[0].as_dict()
    assert first["heads"]["intent"]["label"] == "card_arrival"
    assert first["least_certain_head"] == "intent"
    assert first["reviewed_heads"] == []

    child = correction("sure-team-doubtful-intent", "card_declined", head="intent")
    store.add_correction(child, HEAD_LABELS)
    still = store.review_queue(10)[0]
    assert (still.ticket_id, still.reviewed_heads) == ("sure-team-doubtful-intent", ("intent",))
    store.add_correction(correction("sure-team-doubtful-intent", "cards"), HEAD_LABELS)
    assert [i.ticket_id for i in store.review_queue(10)] == ["doubtful-team", "flat"]


def test_band_precision_is_per_head(store: Store) -> None:
    # t1: team right (confirm), intent wrong (manual band). t2: team wrong, intent unreviewed.
    # t3: intent right (shadow band), team unreviewed. The team counts 1/2, the intent 1/2,
    # each in its own head's band, and a child correction never counts for the team.
    store.add_decision(headed("t1", "cards", "card_arrival", band="routed"))
    store.add_decision(headed("t2", "cards", "card_arrival", band="routed"))
    store.add_decision(headed("t3", "loans", "loan_rate", band="shadow", intent_band="shadow"))
    for event in (
        correction("t1", "cards", action="confirm"),
        correction("t1", "card_declined", head="intent"),
        correction("t2", "loans"),
        correction("t3", "loan_rate", head="intent", action="confirm"),
    ):
        assert store.add_correction(event, HEAD_LABELS) is CorrectionOutcome.stored
    reports = store.head_precision()
    assert list(reports) == ["label", "intent"]
    team, intent = reports["label"], reports["intent"]
    assert (team.bands["routed"].reviewed, team.bands["routed"].correct) == (2, 1)
    assert team.bands["shadow"].reviewed == 0
    assert (intent.bands["manual"].reviewed, intent.bands["manual"].correct) == (1, 0)
    assert (intent.bands["shadow"].reviewed, intent.bands["shadow"].correct) == (1, 1)
    assert intent.per_class["shadow"]["loan_rate"].correct == 1
    assert intent.as_dict()["head"] == "intent"
    assert store.band_precision().bands == team.bands
    curve = store.precision_curve([0.5])
    assert curve.overall[0].reviewed == 2, "the curve is the primary head's reviews only"


def test_unreviewed_routed_texts_are_the_newest_routed_decisions_nobody_reviewed(
    store: Store,
) -> None:
    for i in range(5):
        store.add_decision(decision(f"r{i}", "cards", band="routed", body=f"routed {i}"))
    store.add_decision(decision("s1", "cards", band="shadow", body="shadow"))
    store.add_correction(correction("r3", "cards"), LABELS)

    texts = store.unreviewed_routed_texts(3)

    assert [t.rsplit(" ", 1)[-1] for t in texts] == ["4", "2", "1"]
    assert all("routed" in t for t in texts)


def tagged(ticket_id: str, chosen: list[str]) -> object:
    """:func:`decision` of a model with a multi-label head ``tags`` that chose ``chosen``."""
    from schemas.events import HeadDecision, LabelScore

    answer = HeadDecision(
        label=chosen[0] if chosen else "billing",
        labels=chosen,
        confidence=0.6,
        band="manual",
        top_k=[LabelScore(label="billing", probability=0.7)],
    )
    return decision(ticket_id).model_copy(update={"heads": {"tags": answer}})


TAGS = {**HEAD_LABELS, "tags": ("billing", "refund", "fraud")}


def set_correction(ticket_id: str, labels: list[str], **fields: object) -> object:
    from schemas.events import Correction

    return Correction(
        ticket_id=ticket_id,
        head="tags",
        labels=labels,
        reviewer="ana",
        **fields,  # type: ignore[arg-type]
    )


def test_a_multilabel_head_is_corrected_with_its_whole_set(store: Store) -> None:
    store.add_decision(tagged("t1", ["billing"]))  # type: ignore[arg-type]
    store.add_decision(tagged("t2", ["billing", "refund"]))  # type: ignore[arg-type]
    changed = set_correction("t1", ["refund", "billing"], action="override")
    same = set_correction("t2", ["refund", "billing"], action="confirm")

    assert store.add_correction(changed, TAGS) is CorrectionOutcome.stored  # type: ignore[arg-type]
    assert store.add_correction(same, TAGS) is CorrectionOutcome.stored  # type: ignore[arg-type]

    with store.session() as session:
        rows = {r.ticket_id: r for r in session.scalars(select(CorrectionRow))}
    assert (rows["t1"].label, rows["t1"].decided_label) == ('["billing", "refund"]', '["billing"]')
    assert rows["t2"].label == rows["t2"].decided_label
    assert store.decided_head_label("t1", "tags") == '["billing"]'


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        (set_correction("t1", ["billing", "spam"], action="override"), "unknown_label"),
        (correction("t1", "refund", head="tags"), "unknown_label"),  # one label for a set head
        (set_correction("t1", [], action="confirm"), "contradicts_decision"),
    ],
)
def test_a_multilabel_correction_names_known_labels_and_confirms_only_the_decided_set(
    store: Store, event: object, outcome: str
) -> None:
    store.add_decision(tagged("t1", ["billing"]))  # type: ignore[arg-type]
    result = store.add_correction(event, TAGS)  # type: ignore[arg-type]
    assert result.value == outcome
    assert store.count_corrections() == 0


def test_a_label_set_for_a_single_label_head_is_refused(store: Store) -> None:
    from schemas.events import Correction

    store.add_decision(headed("t1", "cards", "card_arrival"))
    event = Correction(
        ticket_id="t1", head="intent", labels=["card_arrival"], reviewer="ana", action="override"
    )
    assert store.add_correction(event, HEAD_LABELS) is CorrectionOutcome.unknown_label
