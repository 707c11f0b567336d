"""Every event on every topic. This module is the only place a topic's shape is defined.

Integrators get the JSON Schema of these models from ``triage schemas export DIR``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

Band = Literal["routed", "shadow", "manual"]
BANDS: tuple[Band, ...] = ("routed", "shadow", "manual")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Ticket(BaseModel):
    """A support ticket as an integration publishes it to ``tickets.incoming``.

    Unknown fields are kept (``extra="allow"``): integrations send what their helpdesk has, and
    dropping it would lose data that a later stage or a person may need.
    """

    model_config = ConfigDict(extra="allow")

    ticket_id: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    body: StrictStr
    subject: str | None = None
    created_at: datetime | None = None
    source: str | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("ticket_id")
    @classmethod
    def _ticket_id_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("ticket_id is blank; send the helpdesk's ticket id")
        return value

    @field_validator("body")
    @classmethod
    def _body_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("body is empty or whitespace only; nothing to classify")
        return value

    @property
    def text(self) -> str:
        """What the classifier reads: subject and body, the way a person reads a ticket."""
        return f"{self.subject}\n{self.body}" if self.subject else self.body


class LabelScore(BaseModel):
    label: str
    probability: Annotated[float, Field(ge=0.0, le=1.0)]


class HeadDecision(BaseModel):
    """One head beyond the primary one (a sub-team under the team, a task head). The primary
    head's answer is the decision's own label, confidence and band."""

    model_config = ConfigDict(extra="forbid")

    #: a multi-label head's most probable chosen label ("" when it chose none)
    label: str
    #: for a child head, the probability of its label given the predicted parent; for a
    #: multi-label head, its least certain call (a label's probability, or one minus it for a
    #: label left out)
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    #: by the global thresholds; routing and per-class thresholds follow the primary head
    band: Band
    #: the head this one sits under (a child is always inside its parent's label)
    parent_head: str | None = None
    top_k: list[LabelScore] = Field(default_factory=list)
    #: a multi-label head's chosen labels (each at or over its own threshold), most probable
    #: first; None for a single-label head
    labels: list[str] | None = None


class Decision(BaseModel):
    """The classifier's decision, published to exactly one band topic, keyed by ticket_id.

    The ticket's subject and body travel with it so the routing target and the review queue need
    no second lookup.
    """

    model_config = ConfigDict(extra="forbid")

    ticket_id: str
    label: str
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    band: Band
    top_k: list[LabelScore]
    model_version: str
    decided_at: datetime = Field(default_factory=utcnow)
    novel: bool = False
    received_at: datetime | None = None
    subject: str | None = None
    body: str = ""
    #: the threshold set that banded it (``models.ThresholdSet.id``); None: decided before
    #: threshold sets existed
    threshold_set: str | None = None
    #: held in shadow although its confidence would route it: shadow mode, its class not
    #: qualified yet (or held back for missing its precision target)
    would_route: bool = False
    #: every head beyond the primary one, by name (empty for a single-head model); e.g. a
    #: hierarchy's ``{"intent": {"label": "card_arrival", "parent_head": "label", ...}}``
    heads: dict[str, HeadDecision] = Field(default_factory=dict)
    #: the escalation rule (``head=label``, TRIAGE_ESCALATE) that sent it to manual, if one did
    escalated: str | None = None


#: What went wrong with a dead-lettered message, for dashboards and alerts (bounded label set).
DeadLetterKind = Literal[
    "not_utf8",
    "invalid_unicode",
    "not_json",
    "too_large",
    "too_deep",
    "duplicate_key",
    "schema",
    "classify_error",
    "unknown_ticket",
    "unknown_label",
    "unknown_head",
    "contradicts_decision",
    "other",
]
DEAD_LETTER_KINDS: tuple[str, ...] = DeadLetterKind.__args__  # type: ignore[attr-defined]


class DeadLetter(BaseModel):
    """A message a stage could not process, with where it came from and what to do about it.

    ``payload`` holds at most a bounded prefix of the original bytes (``truncated`` says so);
    ``payload_bytes`` and ``payload_sha256`` describe the whole original, so a letter always fits
    the producer's request limit and can still be matched to the sender's copy.
    """

    model_config = ConfigDict(extra="forbid")

    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    payload_bytes: int = 0
    payload_sha256: str = ""
    truncated: bool = False
    key: str | None = None
    topic: str
    partition: int
    offset: int
    stage: str
    kind: DeadLetterKind = "other"
    reason: str
    received_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def from_raw(
        cls,
        raw: bytes | None,
        *,
        key: bytes | None,
        max_payload_bytes: int | None = None,
        **where: Any,
    ) -> DeadLetter:
        """The letter of the message ``raw`` with ``key``: UTF-8 text as is, anything else
        base64; beyond ``max_payload_bytes`` only a prefix. ``where`` is the rest of the letter
        (topic, partition, offset, stage, reason, kind), validated as the fields above."""
        data = raw or b""
        kept = data if max_payload_bytes is None else data[:max_payload_bytes]
        try:
            payload, encoding = kept.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            payload, encoding = base64.b64encode(kept).decode("ascii"), "base64"
        return cls(
            payload=payload,
            payload_encoding=encoding,
            payload_bytes=len(data),
            payload_sha256=hashlib.sha256(data).hexdigest(),
            truncated=len(kept) < len(data),
            key=key[:1024].decode("utf-8", "replace") if key is not None else None,
            **where,
        )

    def original_bytes(self) -> bytes:
        """The original message, or its kept prefix when ``truncated``."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")


#: The head a correction labels when it names none: the primary one (``models.hierarchy.PRIMARY``,
#: a manifest's default ``primary_head``). Part of the idempotency key, so a second head's
#: correction of the same ticket is its own fact.
CORRECTION_HEAD = "label"


def _label_or_labels(schema: dict[str, Any]) -> None:
    """The exported schema says what the model accepts: ``label``, or ``labels`` without it."""
    schema["required"] = [name for name in schema.get("required", []) if name != "label"]
    schema["anyOf"] = [{"required": ["label"]}, {"required": ["labels"]}]


def _derived_correction_id(data: dict[str, Any]) -> str:
    head = data.get("head", CORRECTION_HEAD)
    return Correction.idempotency_key(data["ticket_id"], data["label"], data["reviewer"], head)


class Correction(BaseModel):
    """A triage manager's confirmation or override of a decision, on ``tickets.corrections``.

    ``correction_id`` is the idempotency key: the store keeps one row per key. When a producer
    gives none it is derived from ticket, head, label and reviewer, so the same person sending
    the same label for the same ticket twice (a retry, a double click, a re-run script) is
    stored and counted once, while a changed label is a new correction.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_label_or_labels)

    ticket_id: Annotated[str, Field(min_length=1)]
    label: Annotated[str, Field(min_length=1)]
    reviewer: Annotated[str, Field(min_length=1)]
    head: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        CORRECTION_HEAD,
        description=(
            "the model head the label is for (a manifest head, e.g. a hierarchy's child head "
            "'intent'); omitted, the primary head 'label', the one that bands and routes"
        ),
    )
    labels: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None,
        description=(
            "a multi-label head's whole reviewed set (empty: none of its labels applies); "
            "`label` may then be omitted: it is the set as a sorted JSON array"
        ),
    )
    # After the fields it is derived from: the factory receives them validated.
    correction_id: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        default_factory=_derived_correction_id,
        description=(
            "idempotency key; omitted, it is derived from ticket_id, head, label and reviewer "
            "(Correction.idempotency_key), so a re-send is a no-op"
        ),
    )
    action: Literal["confirm", "override"]
    note: str | None = None
    corrected_at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="before")
    @classmethod
    def _set_as_label(cls, data: Any) -> Any:
        """A label set is also its ``label`` (sorted, as JSON), so every consumer that reads
        one label per correction (the store, the idempotency key) reads the set unchanged."""
        if not isinstance(data, dict) or data.get("labels") is None:
            return data
        given = data["labels"]
        if not isinstance(given, list):
            return data  # field validation names the type
        canonical = Correction.set_label(given)
        if data.get("label") not in (None, canonical):
            raise ValueError(
                f"label {data['label']!r} is not the label set {canonical}: omit label when "
                "sending labels"
            )
        return {**data, "labels": json.loads(canonical), "label": canonical}

    @staticmethod
    def set_label(labels: list[str]) -> str:
        """A label set as one ``label``: the distinct labels, sorted, as a JSON array."""
        return json.dumps(sorted({str(x) for x in labels}), ensure_ascii=False)

    @staticmethod
    def label_set(label: str) -> tuple[str, ...]:
        """The set a multi-label correction's ``label`` holds (:meth:`set_label` undone)."""
        return tuple(json.loads(label))

    @staticmethod
    def idempotency_key(
        ticket_id: str, label: str, reviewer: str, head: str = CORRECTION_HEAD
    ) -> str:
        """A stable hex key of what the correction says; JSON framing keeps ``("a b", "c")``
        and ``("a", "b c")`` apart."""
        framed = json.dumps([ticket_id, head, label, reviewer], ensure_ascii=False)
        return hashlib.sha256(framed.encode("utf-8")).hexdigest()[:32]


class ModelDeployed(BaseModel):
    """Announces the model every worker must serve now (a deploy or a rollback)."""

    model_config = ConfigDict(extra="forbid")

    version: str
    model_dir: str
    previous_version: str | None = None
    reason: Literal["deploy", "rollback", "initial"] = "deploy"
    deployed_at: datetime = Field(default_factory=utcnow)


#: topic suffix -> event model, for schema export and for consumers that validate generically.
TOPIC_EVENTS: dict[str, type[BaseModel]] = {
    "tickets.incoming": Ticket,
    "tickets.routed": Decision,
    "tickets.shadow": Decision,
    "tickets.manual": Decision,
    "tickets.dead-letter": DeadLetter,
    "tickets.corrections": Correction,
    "models.deployed": ModelDeployed,
}
