"""Class-balance fill, hard negatives and the teacher endpoint (pure functions, TF-IDF and a
local HTTP server: seconds)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models import pipeline
from models.data import LabelledData
from models.exceptions import DataError, ModelError
from models.fill import (
    FillConfig,
    Synthetic,
    fill_plan,
    fill_rows,
    hard_negative_rows,
    recombined,
    with_fill,
)
from models.gates import EvalPack
from models.teacher import TeacherSettings, configured_teacher
from models.tfidf import TfidfTrainer
from models.train_config import FitContext, Fitted, Split, TrainConfig
from tests.fixtures.models import read_sample

LENIENT = EvalPack(min_macro_f1=0.0, min_accuracy=0.0, min_per_class_f1=0.0)


def skewed(big: int = 80, small: int = 10, long: bool = True) -> LabelledData:
    """One big class and two small ones; long rows have sentences to recombine."""

    def text(label: str, i: int) -> str:
        if not long:
            return f"{label}{i}"
        return f"My {label} problem number {i} started. The bank did nothing. I want it fixed {i}."

    rows = [("cards", i) for i in range(big)] + [
        (label, i) for label in ("fx", "loans") for i in range(small)
    ]
    return LabelledData([text(x, i) for x, i in rows], [x for x, _ in rows], "skewed")


def test_plan_brings_each_small_class_to_the_share_of_the_new_total() -> None:
    data = skewed()
    plan = fill_plan(data.labels)  # default share 0.75 / 3 = 0.25
    assert plan == {"fx": 30, "loans": 30}  # total 80 / (1 - 2 * 0.25) = 160; 40 each
    counts = Counter(data.labels) + Counter(plan)
    assert all(abs(counts[c] / counts.total() - 0.25) < 1e-9 for c in plan)
    assert fill_plan(data.labels, share=0.1) == {}  # 10/100 is not under 0.1
    assert fill_plan(data.labels, share=0.2) == {"fx": 17, "loans": 17}  # 80 / 0.6 * 0.2 = 27
    with pytest.raises(DataError, match=r"fill share 0\.5 is too high for 2 classes"):
        fill_plan(data.labels, share=0.5)
    with pytest.raises(DataError, match=r"fill share 1\.5 is invalid"):
        FillConfig(share=1.5)


def test_fill_rows_are_marked_and_made_from_their_own_class() -> None:
    data = skewed()
    mixed, marks = with_fill(data, FillConfig())
    assert marks[: len(data)] == [None] * len(data)
    extra = [(t, x, m) for t, x, m in zip(mixed.texts, mixed.labels, marks, strict=True) if m]
    assert len(extra) == 60
    assert {m.kind for _, _, m in extra} <= {"recombine", "noise", "oversample"}
    assert any(m.kind == "recombine" for _, _, m in extra)
    for text, label, mark in extra:
        sources = [int(s) - 1 for s in mark.source.split("+")]
        assert all(data.labels[s] == label for s in sources)
        assert text not in data.texts or mark.kind == "oversample"
    assert with_fill(data, FillConfig())[0].texts == mixed.texts  # seeded


def test_recombine_joins_the_opening_of_one_row_to_the_ending_of_another() -> None:
    assert recombined("A one. A two. A three. A four.", "B one. B two.") == "A one. A two. B two."
    assert recombined("short", "B one. B two.") is None


def test_fill_backs_off_to_oversampling_when_noise_cannot_make_a_new_row() -> None:
    data = skewed(long=False)  # one token each, and slang knows none of them
    generated = fill_rows(data, FillConfig(kinds=("slang",)))
    assert len(generated) == 60
    assert generated.counts() == {"oversample": 60}
    for text, mark in zip(generated.data.texts, generated.marks, strict=True):
        assert text == data.texts[int(mark.source) - 1]


def test_hard_negatives_repeat_the_rows_of_a_that_look_most_like_b() -> None:
    labels = ["a"] * 4 + ["b"] * 4
    data = LabelledData([f"t{i}" for i in range(8)], labels, "pairs")
    # out-of-fold probabilities (columns a, b): rows 2 and 3 of "a" are taken for "b"
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]] + [[0.1, 0.9]] * 4)
    generated = hard_negative_rows(data, FillConfig(hard_negatives=2, pairs=1), proba)
    assert generated.data.texts == ["t2", "t3"]
    assert generated.data.labels == ["a", "a"]
    assert generated.marks[0] == Synthetic("hard_negative", "3", "like b")
    assert len(hard_negative_rows(data, FillConfig(), proba)) == 0


def test_pipeline_fills_the_train_part_only_and_counts_it(sample_dir: Path) -> None:
    texts, labels = read_sample(sample_dir / "banking77_train.csv")
    keep = [i for i, x in enumerate(labels) if x != "fx" or i % 10 == 0][:600]
    data = LabelledData([texts[i] for i in keep], [labels[i] for i in keep], "sample")
    seen: list[Split] = []
    real_fit = TfidfTrainer.fit

    def spy(self: TfidfTrainer, parts: Split, config: TrainConfig, ctx: FitContext) -> Fitted:
        seen.append(parts)
        return real_fit(self, parts, config, ctx)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TfidfTrainer, "fit", spy)
        patch.delenv("TRIAGE_TEACHER_URL", raising=False)
        result = pipeline.train(
            pipeline.TrainRequest(
                data=data, config=TrainConfig(fill=True), pack=LENIENT, kind="tfidf", health=None
            )
        )
    real = set(data.texts)
    assert set(result.split.test.texts) <= real
    assert set(seen[0].test.texts) <= real
    assert set(seen[0].val.texts) <= real
    added = len(seen[0].train) - len(result.split.train)
    assert added == result.record.rows["train_fill"] > 0
    assert Counter(seen[0].train.labels)["fx"] > Counter(result.split.train.labels)["fx"]
    with pytest.raises(ModelError, match=r"fill_share=2"):
        TrainConfig(fill=True, fill_share=2)


# -- the teacher ----------------------------------------------------------------------------
Reply = Callable[[dict[str, Any]], tuple[int, Any]]


@pytest.fixture
def teacher_server() -> Iterator[Callable[[Reply], tuple[str, list[dict[str, Any]]]]]:
    """A stand-in for an outside OpenAI-compatible service nobody can run here: a local HTTP
    server answering /v1/chat/completions as ``reply`` says; each request is kept."""
    servers: list[ThreadingHTTPServer] = []

    def start(reply: Reply) -> tuple[str, list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                status, payload = reply(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}", seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def chat(text: str) -> Reply:
    return lambda body: (200, {"choices": [{"message": {"role": "assistant", "content": text}}]})


def test_no_teacher_and_no_connection_unless_the_url_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRIAGE_TEACHER_URL", raising=False)
    assert configured_teacher() is None

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("fill opened a connection without TRIAGE_TEACHER_URL")

    monkeypatch.setattr("urllib.request.urlopen", refuse)
    assert len(fill_rows(skewed(), FillConfig(teacher=configured_teacher()))) == 60


def test_teacher_writes_the_rows_when_set(
    teacher_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = teacher_server(chat("  A brand new complaint about my loan.  "))
    monkeypatch.setenv("TRIAGE_TEACHER_URL", url)
    monkeypatch.setenv("TRIAGE_TEACHER_MODEL", "local-model")
    monkeypatch.setenv("TRIAGE_TEACHER_API_KEY", "sk-secret-123")
    teacher = configured_teacher()
    assert teacher is not None
    assert "sk-secret-123" not in repr(teacher) + repr(FillConfig(teacher=teacher))
    generated = fill_rows(skewed(), FillConfig(teacher=teacher))
    assert len(generated) == len(seen) == 60
    assert set(generated.data.texts) == {"A brand new complaint about my loan."}
    assert generated.counts() == {"teacher": 60}
    assert seen[0]["path"] == "/v1/chat/completions"
    assert seen[0]["model"] == "local-model"
    assert seen[0]["auth"] == "Bearer sk-secret-123"
    assert "fx" in seen[0]["messages"][0]["content"]


def test_teacher_failures_name_the_endpoint_and_the_fix(teacher_server: Any) -> None:
    url, _ = teacher_server(lambda body: (500, {"error": "overloaded"}))
    teacher = configured_teacher(TeacherSettings(url=url + "/v1", model="m"))
    assert teacher is not None
    with pytest.raises(ModelError, match=r"/v1/chat/completions answered HTTP 500.*TRIAGE_TEACHER"):
        fill_rows(skewed(), FillConfig(teacher=teacher))
    wrong, _ = teacher_server(lambda body: (200, {"text": "no choices"}))
    teacher = configured_teacher(TeacherSettings(url=wrong, model="m"))
    assert teacher is not None
    with pytest.raises(ModelError, match=r"not a chat completion"):
        fill_rows(skewed(), FillConfig(teacher=teacher))
    closed = configured_teacher(TeacherSettings(url="http://127.0.0.1:9", model="m", timeout=2))
    assert closed is not None
    with pytest.raises(ModelError, match=r"127\.0\.0\.1:9/v1/chat/completions is unreachable"):
        fill_rows(skewed(), FillConfig(teacher=closed))
    with pytest.raises(ModelError, match=r"TRIAGE_TEACHER_MODEL is not"):
        configured_teacher(TeacherSettings(url=url))


def test_train_offers_fill_and_hard_negatives() -> None:
    from click.testing import CliRunner

    from ops.cli import cli

    shown = CliRunner().invoke(cli, ["train", "--help"]).output
    assert "--fill / --no-fill" in shown
    assert "--fill-share" in shown
    assert "--hard-negatives" in shown
