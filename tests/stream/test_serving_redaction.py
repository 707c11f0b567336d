"""`decide` redacts before a decision exists: what redis caches, the band topic carries and the
store keeps is the redacted text, and the model reads the same text it was trained on."""

from __future__ import annotations

import numpy as np

from models.bands import ThresholdOverrides
from models.base import Scores
from schemas.events import Ticket
from stream.serving import decide

#: The issue's table row: a dotted card, an NBSP-separated card, a lowercase IBAN, a US SSN.
SUBJECT = "refund to gb82 west 1234 5698 7654 32"
BODY = (
    "charged twice on 4111.1111.1111.1111 and 5555\u00a05555\u00a05555\u00a04444; "
    "my ssn is 123-45-6789, mail jo@example.com, call 555-123-4567. Order #88231, $41.20."
)
SECRETS = ("4111", "5555", "4444", "gb82", "west", "123-45", "6789", "jo@", "example.com", "4567")


class RecordingModel:
    """Answers with fixed probabilities and keeps the texts it was asked to score."""

    version = "rec-1"

    def __init__(self) -> None:
        self.labels = ["cards", "fx", "top_up"]
        self.seen: list[str] = []

    def score(self, texts: list[str]) -> Scores:
        self.seen += texts
        proba = np.tile([0.7, 0.2, 0.1], (len(texts), 1))
        novel = np.zeros(len(texts), dtype=bool)
        return Scores(proba=proba, novelty=novel.astype(float), novel=novel)


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text.lower()]


def test_decision_and_model_see_only_redacted_text() -> None:
    model = RecordingModel()
    ticket = Ticket(ticket_id="pii-1", subject=SUBJECT, body=BODY)
    (decision,) = decide(model, [ticket], [None], ThresholdOverrides())  # type: ignore[arg-type]
    assert decision.subject == "refund to [ACCOUNT]"
    assert decision.body == (
        "charged twice on [CARD] and [CARD]; my ssn is [SSN], mail [EMAIL], call [PHONE]. "
        "Order #88231, $41.20."
    )
    assert leaked(decision.model_dump_json()) == []
    assert model.seen == [f"{decision.subject}\n{decision.body}"]


def test_ticket_without_subject_keeps_none() -> None:
    (decision,) = decide(
        RecordingModel(),  # type: ignore[arg-type]
        [Ticket(ticket_id="pii-2", body="card 4111 1111 1111 1111")],
        [None],
        ThresholdOverrides(),
    )
    assert (decision.subject, decision.body) == (None, "card [CARD]")
