"""Trying a ticket: what a registry version decides on typed text, and why.

The decision is made the way the worker makes it, by the same code: subject and body redacted
(``models.redact_text``) and joined as :attr:`schemas.Ticket.text`, one ``score`` call, the
thresholds in force by the rule ``models.resolve_thresholds`` applies (the model's manifest,
overridden where the operator set ``TRIAGE_ROUTE_THRESHOLD`` / ``TRIAGE_SHADOW_THRESHOLD``),
the band from :meth:`models.Thresholds.band`, every other head, and ``TRIAGE_ESCALATE``.
``triage predict`` on the same text and version prints the same figures. Nothing typed is
stored, cached in redis or published: it lives in this call.

"Why this label" is occlusion: each of the first :data:`MAX_WORDS` words is dropped in turn and
the texts re-scored in one batch; a word's weight is how much the predicted label's probability
falls without it. It needs no second model and works for every backend.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from models import (
    Classifier,
    ModelSettings,
    ThresholdOverrides,
    Thresholds,
    head_answers,
    head_decisions,
    load,
    read_manifest,
    redact_text,
)
from schemas import Band, HeadDecision, Ticket
from store import Precision, Store
from web.exceptions import WebError

#: Route thresholds the page's slider can take (its step is 0.01): the routed precision is
#: counted at each in one query, so the slider moves without asking the server again.
GRID = tuple(round(step / 100, 2) for step in range(1, 101))
#: Words occluded at most: a ticket of 1,000 words costs one batch of this many texts.
MAX_WORDS = 64
#: Labels listed per head beyond the primary one, as `triage predict` lists by default.
HEAD_TOP_K = 3
#: Loaded models kept (least recently used goes first).
CACHED_MODELS = 3
WORD = re.compile(r"\S+")


class UnknownVersion(WebError):
    """The version asked for is not in the model registry."""


@dataclass(frozen=True)
class Version:
    """A model that can be tried: a registry entry, or ``TRIAGE_MODEL_DIR`` when the registry
    is empty (status ``model_dir``)."""

    version: str
    status: str
    model_dir: Path


@dataclass(frozen=True)
class WordWeight:
    """``text[start:end]`` and how much the predicted label's probability drops without it."""

    start: int
    end: int
    drop: float


@dataclass(frozen=True)
class Trial:
    """One typed ticket's decision, in the terms `triage predict` prints, plus the why."""

    model_version: str
    text: str  # what the model read: subject and body, redacted
    ranked: list[tuple[str, float]]  # every label, most likely first
    novel: bool
    novelty: float
    novelty_threshold: float | None  # None: the model has no novelty detector
    thresholds: Thresholds  # in force for this model
    band: Band  # manual where the escalation rule fired
    heads: dict[str, HeadDecision]  # every head beyond the primary one
    escalated: str | None  # the escalation rule that fired (head=label), if one did
    words: list[WordWeight]
    words_total: int
    grid: tuple[float, ...]  # route thresholds of the two precision rows
    label_precision: tuple[Precision, ...]  # the predicted label's, at each of ``grid``
    overall_precision: tuple[Precision, ...]  # every label's

    @property
    def label(self) -> str:
        return self.ranked[0][0]

    @property
    def confidence(self) -> float:
        return self.ranked[0][1]


def ticket_text(body: str, subject: str | None) -> str:
    """What the worker's model reads for this ticket (redacted first, as the stream does)."""
    ticket = Ticket(ticket_id="try", body=body, subject=subject)
    redacted = ticket.model_copy(
        update={"subject": redact_text(ticket.subject), "body": redact_text(ticket.body)}
    )
    return redacted.text


def occlusion(
    model: Classifier, text: str, column: int, base: float, max_words: int = MAX_WORDS
) -> tuple[list[WordWeight], int]:
    """(weights of the first ``max_words`` words, how many words the text has): one
    ``predict_proba`` call over the texts with one word dropped each."""
    spans = [match.span() for match in WORD.finditer(text)]
    scored = spans[:max_words]
    if not scored:
        return [], 0
    proba = model.predict_proba([text[:start] + text[end:] for start, end in scored])
    weights = [
        WordWeight(start, end, base - float(proba[i, column]))
        for i, (start, end) in enumerate(scored)
    ]
    return weights, len(spans)


class Tryout:
    """The models a person may try, loaded through :func:`models.load` and kept a few at a
    time; blocking (loads weights, runs the model): call it off the event loop."""

    def __init__(
        self,
        store: Store,
        fallback_dir: Path,
        settings: ModelSettings | None = None,
        *,
        capacity: int = CACHED_MODELS,
    ) -> None:
        """``settings``: what `triage predict` reads (device, the operator's threshold
        overrides); None: defaults, the manifests' thresholds alone."""
        self.store = store
        self.fallback_dir = fallback_dir
        self.settings = settings
        # the band rule read once, as `triage predict` reads it: thresholds and escalation
        self.overrides = ThresholdOverrides.from_settings(settings)
        self.capacity = capacity
        self._models: OrderedDict[Path, Classifier] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, store: Store, model_dir: Path) -> Tryout:
        """Reads :class:`models.ModelSettings` (``TRIAGE_*``) once, as `triage predict` does."""
        return cls(store, model_dir, ModelSettings())

    def versions(self) -> list[Version]:
        """The deployed version first, then the registry newest first; the fallback model
        alone while nothing is registered."""
        records = self.store.model_versions()
        if not records:
            version = read_manifest(self.fallback_dir).version
            return [Version(version, "model_dir", self.fallback_dir)]
        found = [Version(r.version, r.status, Path(r.model_dir)) for r in records]
        return sorted(found, key=lambda v: v.status != "deployed")

    def choose(self, version: str | None) -> Version:
        """``version`` from :meth:`versions`; None: the deployed one (else the newest)."""
        known = self.versions()
        if version is None:
            return known[0]
        for candidate in known:
            if candidate.version == version:
                return candidate
        names = ", ".join(v.version for v in known[:5])
        raise UnknownVersion(
            f"model version {version!r} is not in the registry; pick one of "
            f"GET /api/predict/versions (newest: {names})"
        )

    def model(self, choice: Version) -> Classifier:
        with self._lock:
            model = self._models.get(choice.model_dir)
            if model is None:
                model = load(choice.model_dir, self.settings.device if self.settings else "auto")
                self._models[choice.model_dir] = model
                while len(self._models) > self.capacity:
                    self._models.popitem(last=False)
            self._models.move_to_end(choice.model_dir)
            return model

    def trial(
        self,
        body: str,
        subject: str | None = None,
        version: str | None = None,
        routes: Sequence[float] = (),
    ) -> Trial:
        """The decision on this ticket; ``routes``: route thresholds to count the routed
        precision at besides :data:`GRID` and the one in force."""
        model = self.model(self.choose(version))
        text = ticket_text(body, subject)
        scores = model.score([text])
        row = scores.proba[0]
        order = row.argsort()[::-1]  # the order `triage predict` lists them in
        ranked = [(model.labels[j], float(row[j])) for j in order]
        thresholds = self.overrides.for_model(model)
        novel = bool(scores.novel[0])
        heads = head_decisions(scores, 0, thresholds, novel=novel, top_k=HEAD_TOP_K)
        escalated = self.overrides.escalation.fired(ranked[0][0], head_answers(heads))
        words, total = occlusion(model, text, int(order[0]), ranked[0][1])
        grid = (*GRID, thresholds.route, *routes)
        curve = self.store.precision_curve(grid, model_version=model.version)
        unseen = tuple(Precision(0, 0) for _ in curve.thresholds)
        return Trial(
            model_version=model.version,
            text=text,
            ranked=ranked,
            novel=novel,
            novelty=float(scores.novelty[0]),
            novelty_threshold=novelty_threshold(model),
            thresholds=thresholds,
            band="manual" if escalated else thresholds.band(ranked[0][1], novel=novel),
            heads=heads,
            escalated=escalated,
            words=words,
            words_total=total,
            grid=curve.thresholds,
            label_precision=curve.per_class.get(ranked[0][0], unseen),
            overall_precision=curve.overall,
        )


def novelty_threshold(model: Classifier) -> float | None:
    """The threshold the model's novelty detector calibrated (in its manifest), if it has one."""
    entry = getattr(getattr(model, "manifest", None), "novelty", None)
    value = entry.get("threshold") if isinstance(entry, dict) else None
    return float(value) if isinstance(value, int | float) else None
