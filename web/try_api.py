"""``POST /api/predict``: what a model version decides on a typed ticket, for any signed-in role.

The text is redacted as the stream redacts it and lives only in the request: it is not stored,
not cached in redis, not published, and not logged. What redis holds is a count per caller per
minute (:class:`RateLimit`), keyed by a digest of the caller's name.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from models import ModelError, Thresholds
from schemas import Band, HeadDecision
from store import Precision
from web.api import JSON_BODY, SIGNED_IN, WRITE, SomeText, services, signed_in, writer
from web.auth import Principal, token_digest
from web.errors import ApiError, responses
from web.try_model import Trial, Tryout

router = APIRouter(tags=["try"])

#: Model calls one caller may ask for per minute (each is a decision plus one occlusion batch).
PREDICTS_PER_MINUTE = 30
#: The most a typed body may hold: the worker dead-letters larger ones (TRIAGE_MAX_BODY_BYTES).
MAX_BODY_CHARS = 64 * 1024


#: KEYS: the caller's sorted set of call times. ARGV: now (s), window (s), limit, a unique
#: member. Returns the seconds to wait (0: go ahead, and the call is counted).
_TAKE = """
redis.call('zremrangebyscore', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('zrange', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, math.ceil(tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1])))
end
redis.call('zadd', KEYS[1], ARGV[1], ARGV[4])
redis.call('expire', KEYS[1], ARGV[2])
return 0
"""


@dataclass(frozen=True)
class RateLimit:
    """At most ``per_minute`` calls in any 60 s per caller, counted in redis (every web
    replica sees the same count); a refused call is not counted."""

    namespace: str
    per_minute: int = PREDICTS_PER_MINUTE

    async def take(self, redis: aioredis.Redis, caller: str) -> int:
        """Counts one call; the seconds to wait instead if the caller is over the limit."""
        key = f"triage:{self.namespace}web:predict-rate:{token_digest(caller)}"
        wait_s = await redis.eval(
            _TAKE, 1, key, repr(time.time()), 60, self.per_minute, uuid.uuid4().hex
        )
        return int(wait_s)


def tryout(request: Request) -> Tryout:
    found: Tryout = request.app.state.tryout
    return found


async def caller(request: Request, who: Annotated[Principal, Depends(writer)]) -> Principal:
    """Any role. A cookie-borne call carries the session's CSRF token, as every POST does, and
    each call counts against the caller's :data:`PREDICTS_PER_MINUTE`."""
    found = services(request)
    wait_s = await RateLimit(found.topics.prefix).take(found.redis, who.name)
    if wait_s:
        raise ApiError(
            429,
            "rate_limited",
            f"more than {PREDICTS_PER_MINUTE} predictions a minute by {who.name}; "
            f"try again in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        )
    return who


class PredictIn(BaseModel):
    model_config = JSON_BODY

    body: SomeText = Field(
        min_length=1,
        max_length=MAX_BODY_CHARS,
        description="the ticket's text; redacted before the model reads it, never stored",
    )
    subject: str | None = Field(None, max_length=1000)
    model_version: str | None = Field(
        None, max_length=128, description="one of GET /api/predict/versions (default: deployed)"
    )
    route: float | None = Field(None, gt=0, le=1, description="a route threshold to try")
    shadow: float | None = Field(None, gt=0, le=1, description="a shadow threshold to try")


class ThresholdsOut(BaseModel):
    route: float
    shadow: float


class BandOut(ThresholdsOut):
    band: Band


class LabelProbability(BaseModel):
    label: str
    probability: float


class WordOut(BaseModel):
    start: int = Field(description="offset in ``text``")
    end: int
    word: str
    drop: float = Field(description="fall of the label's probability without this word")


class PrecisionAt(BaseModel):
    reviewed: int
    correct: int
    precision: float | None


class PrecisionOut(BaseModel):
    """Routed precision if the route threshold were each of ``thresholds``: reviewed decisions
    of this model version at or above it, and how many people agreed with."""

    thresholds: list[float]
    label: list[PrecisionAt] = Field(description="the predicted label's")
    overall: list[PrecisionAt] = Field(description="every label's")


class PredictOut(BaseModel):
    label: str
    confidence: float
    band: Band = Field(description="at the thresholds in force")
    novel: bool
    novelty: float
    model_version: str
    text: str = Field(description="what the model read: subject and body, redacted")
    novelty_threshold: float | None = Field(description="None: the model has no detector")
    thresholds: ThresholdsOut = Field(description="in force: the manifest's, or TRIAGE_*'s")
    tried: BandOut | None = Field(description="the band at the route/shadow asked for")
    probabilities: list[LabelProbability] = Field(description="every label, most likely first")
    heads: dict[str, HeadDecision] = Field(
        description="every head beyond the primary one (a sub-team, a task head); {} for one"
    )
    escalated: str | None = Field(
        description="the TRIAGE_ESCALATE rule (head=label) that sent it to manual, if one did"
    )
    words: list[WordOut] = Field(description="the first words, each occluded once")
    words_total: int
    precision: PrecisionOut


class VersionOut(BaseModel):
    version: str
    status: str = Field(description="registry status, or model_dir when nothing is registered")


def _thresholds(route: float, shadow: float, where: str) -> Thresholds:
    """422 (``thresholds_crossed``) naming ``where.shadow`` when shadow is above route."""
    try:
        return Thresholds(route=route, shadow=shadow)
    except ModelError as exc:
        raise ApiError(
            422,
            "thresholds_crossed",
            f"route={route} shadow={shadow} cannot be tried: shadow must not be above route",
            field=f"{where}.shadow",
        ) from exc


def _precision(rows: tuple[Precision, ...]) -> list[PrecisionAt]:
    return [PrecisionAt(**p.as_dict()) for p in rows]


def _out(trial: Trial, tried: Thresholds | None) -> PredictOut:
    in_force = trial.thresholds
    return PredictOut(
        model_version=trial.model_version,
        text=trial.text,
        label=trial.label,
        confidence=trial.confidence,
        band=trial.band,
        novel=trial.novel,
        novelty=trial.novelty,
        novelty_threshold=trial.novelty_threshold,
        thresholds=ThresholdsOut(route=in_force.route, shadow=in_force.shadow),
        tried=None
        if tried is None
        else BandOut(
            route=tried.route,
            shadow=tried.shadow,
            band="manual" if trial.escalated else tried.band(trial.confidence, novel=trial.novel),
        ),
        probabilities=[LabelProbability(label=k, probability=p) for k, p in trial.ranked],
        heads=trial.heads,
        escalated=trial.escalated,
        words=[
            WordOut(start=w.start, end=w.end, word=trial.text[w.start : w.end], drop=w.drop)
            for w in trial.words
        ],
        words_total=trial.words_total,
        precision=PrecisionOut(
            thresholds=list(trial.grid),
            label=_precision(trial.label_precision),
            overall=_precision(trial.overall_precision),
        ),
    )


@router.post(
    "/api/predict",
    operation_id="predict",
    response_model=PredictOut,
    responses=responses(*WRITE, 404, 429, 503),
)
async def predict(
    request: Request, body: PredictIn, _who: Annotated[Principal, Depends(caller)]
) -> PredictOut:
    """The decision of the deployed model (or ``model_version``) on a typed ticket: label,
    calibrated confidence, band, novelty, every probability, the words that moved it, and the
    routed precision measured on reviewed traffic at every route threshold of the slider.

    Figures equal `triage predict` on the same text and version. Nothing is stored. 404
    (`unknown_version`) for a version not in the registry; 422 (`thresholds_crossed`) when the
    shadow threshold tried (or in force) is above the route threshold tried (or in force); 503
    when the model's directory cannot be read or TRIAGE_* thresholds are refused.
    """
    routes = [body.route] if body.route is not None else []
    trial = await asyncio.to_thread(
        tryout(request).trial, body.body, body.subject or None, body.model_version, routes
    )
    tried = None
    if body.route is not None or body.shadow is not None:
        in_force = trial.thresholds
        route, shadow = body.route or in_force.route, body.shadow or in_force.shadow
        tried = _thresholds(route, shadow, "body")
    return _out(trial, tried)


@router.get(
    "/api/predict/band",
    operation_id="band",
    response_model=BandOut,
    responses=responses(*SIGNED_IN),
)
async def band(
    _who: Annotated[Principal, Depends(signed_in)],
    confidence: Annotated[float, Query(ge=0, le=1)],
    route: Annotated[float, Query(gt=0, le=1)],
    shadow: Annotated[float, Query(gt=0, le=1)],
    novel: bool = False,
) -> BandOut:
    """The band a decision of this confidence and novelty gets at these thresholds: the
    worker's rule (:meth:`models.Thresholds.band`), for the page's sliders. 422
    (`thresholds_crossed`) when shadow is above route."""
    thresholds = _thresholds(route, shadow, "query")
    return BandOut(route=route, shadow=shadow, band=thresholds.band(confidence, novel=novel))


#: A version listed, tried: the stateful phase of a fuzzer goes from the listing to a trial.
TRY_FIRST = {
    "operationId": "predict",
    "description": "try the first listed version on a ticket",
    "requestBody": {"body": "my card was declined", "model_version": "$response.body#/0/version"},
}


@router.get(
    "/api/predict/versions",
    operation_id="versions",
    response_model=list[VersionOut],
    responses={200: {"links": {"TryFirst": TRY_FIRST}}, **responses(401, 503)},
)
async def versions(
    request: Request, _who: Annotated[Principal, Depends(signed_in)]
) -> list[VersionOut]:
    """The model versions one may try: the deployed one first, then the registry newest first.

    503 when the registry is empty and TRIAGE_MODEL_DIR holds no model."""
    found = await asyncio.to_thread(tryout(request).versions)
    return [VersionOut(version=v.version, status=v.status) for v in found[:50]]
