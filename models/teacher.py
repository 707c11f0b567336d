"""The optional teacher: an OpenAI-compatible chat endpoint that writes class-balance fill rows.

A language model writes more varied new complaints than recombining and misspelling old ones,
but using one sends example rows of the class to whoever runs the endpoint. So it is off unless
the owner sets ``TRIAGE_TEACHER_URL`` (a local server or a provider they trust): with it unset
nothing here opens a connection, and :func:`configured_teacher` returns None. The API key is a
``SecretStr`` without a default, sent only as the bearer header, never logged or shown.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.data import LabelledData
from models.exceptions import ModelError
from models.fill import Generated, Rows, Synthetic

#: Example rows of the class shown in each request: enough for its style, few enough to be short
EXAMPLES = 4
#: Characters of each example kept in the prompt (complaints run to thousands)
EXAMPLE_CHARS = 1200
PROMPT = (
    "You write realistic customer support tickets for a classifier's training data. Here are "
    "tickets filed under the category {label!r}:\n\n{examples}\n\nWrite ONE new, different "
    "ticket of the same category, in the same style and length. Reply with the ticket text only."
)


class TeacherSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_TEACHER_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    url: str = ""
    """OpenAI-compatible endpoint for fill rows (base URL, /v1/chat/completions is added);
    unset: fill stays on this machine"""
    model: str = ""
    """model name the endpoint serves (needed once the URL is set)"""
    api_key: SecretStr | None = None
    """bearer token for the endpoint, if it wants one (never logged)"""
    timeout: float = Field(60.0, gt=0)
    """seconds to wait for one completion"""


def configured_teacher(settings: TeacherSettings | None = None) -> Teacher | None:
    """The teacher the environment configures, or None when ``TRIAGE_TEACHER_URL`` is unset."""
    settings = settings or TeacherSettings()
    if not settings.url:
        return None
    if not settings.model:
        raise ModelError(
            f"TRIAGE_TEACHER_URL is set ({settings.url}) but TRIAGE_TEACHER_MODEL is not: name the"
            " model the endpoint serves, or unset the URL to fill from the class's own rows"
        )
    return Teacher(settings)


class Teacher:
    """Asks the endpoint for one new row per request, from a few seeded examples of the class."""

    def __init__(self, settings: TeacherSettings, seed: int = 13) -> None:
        self.settings = settings
        self.seed = seed

    def __repr__(self) -> str:  # the key stays out of every repr and log line
        return f"Teacher(url={self.settings.url!r}, model={self.settings.model!r})"

    @property
    def endpoint(self) -> str:
        base = self.settings.url.rstrip("/")
        if base.endswith("/chat/completions"):
            return base
        return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")

    def generate(self, data: LabelledData, plan: dict[str, int]) -> Generated:
        """``plan[label]`` new rows per label, each marked with the example rows it was shown."""
        rng = random.Random(self.seed)  # noqa: S311 - which examples to show, not a secret
        made = Rows()
        for label, need in plan.items():
            rows = [i for i, x in enumerate(data.labels) if x == label]
            for _ in range(need):
                shown = sorted(rng.sample(rows, min(EXAMPLES, len(rows))))
                text = self.complete(label, [data.texts[i] for i in shown])
                made.add(text, label, Synthetic("teacher", "+".join(str(i + 1) for i in shown)))
        return made.done(f"synthetic: teacher {self.endpoint}")

    def complete(self, label: str, examples: Sequence[str]) -> str:
        shown = "\n\n".join(f"- {text[:EXAMPLE_CHARS]}" for text in examples)
        body = {
            "model": self.settings.model,
            "messages": [{"role": "user", "content": PROMPT.format(label=label, examples=shown)}],
            "temperature": 0.9,
        }
        return _answer(self._post(body), self.endpoint)

    def _post(self, body: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key is not None:
            headers["Authorization"] = f"Bearer {self.settings.api_key.get_secret_value()}"
        request = urllib.request.Request(  # noqa: S310 - the owner's configured http(s) URL
            self.endpoint, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        fix = "check TRIAGE_TEACHER_URL/MODEL/API_KEY, or unset the URL to fill locally"
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:  # noqa: S310
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise ModelError(
                f"teacher endpoint {self.endpoint} answered HTTP {exc.code} {exc.reason}; {fix}"
            ) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ModelError(
                f"teacher endpoint {self.endpoint} is unreachable ({exc}); {fix}"
            ) from exc
        except ValueError as exc:
            raise ModelError(
                f"teacher endpoint {self.endpoint} did not answer JSON; {fix}"
            ) from exc


def _answer(payload: Any, endpoint: str) -> str:
    """The first choice's text, refusing an answer that is not a chat completion."""
    try:
        text = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ModelError(
            f"teacher endpoint {endpoint} answered {str(payload)[:200]!r}, not a chat completion "
            "(choices[0].message.content); point TRIAGE_TEACHER_URL at an OpenAI-compatible API"
        ) from exc
    if not isinstance(text, str) or not text.strip():
        raise ModelError(f"teacher endpoint {endpoint} answered an empty completion; try again")
    return text.strip()
