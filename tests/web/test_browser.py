"""The pages in a real headless browser (Debian's chromium driven by Playwright), against the
whole system: tickets produced through the broker, `triage worker` classifying them, the
learner's recorder storing decisions and corrections, and `triage web` serving the pages.

Screenshots of both pages are written to ``$TRIAGE_WEB_SCREENSHOTS`` when it is set
(``make screenshots`` points it at docs/).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas.events import Correction, Decision
from store import Store, queue
from store.tables import CorrectionRow
from tests.fixtures.stack import StreamEnv, free_port, ticket_bytes
from tests.web.conftest import PASSWORD, SECRET_KEY
from tests.web.events import HOSTILE_BODY
from web.auth import hash_password

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TICKETS = 24


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is not installed; `make test` installs it (apt-get install chromium, "
            "as root), or install it yourself"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is missing; `make venv` installs it"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Service:
    """A `triage` subcommand as a subprocess, output to a log file, stopped at teardown."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "ops.cli", *argv],
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.log_path.name} exited:\n{self.log_path.read_text()[-3000:]}"
            )
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture
def system_factory(
    stream_env: StreamEnv, worker_factory: Any, tmp_path: Path, sample_dir: Path
) -> Callable[[Path], AbstractContextManager[dict[str, Any]]]:
    """``system_factory(model_dir)``: worker + learner + web on fresh topics serving that
    model, with sample tickets and one hostile ticket classified and recorded."""

    def make(model_dir: Path) -> AbstractContextManager[dict[str, Any]]:
        return running_system(stream_env, worker_factory, model_dir, tmp_path, sample_dir)

    return make


@pytest.fixture
def system(
    system_factory: Callable[[Path], AbstractContextManager[dict[str, Any]]],
    tfidf_model_dir: Path,
) -> Iterator[dict[str, Any]]:
    with system_factory(tfidf_model_dir) as running:
        yield running


@contextmanager
def running_system(
    stream_env: StreamEnv,
    worker_factory: Any,
    model_dir: Path,
    tmp_path: Path,
    sample_dir: Path,
) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    port = free_port()
    base = stream_env.worker_env(
        model_dir, TRIAGE_DATABASE_URL=url, TRIAGE_DATA_DIR=str(tmp_path / "faust")
    )
    learner = Service(
        "learner",
        ["learner"],
        {
            **base,
            "TRIAGE_GROUP_ID": f"learner-{stream_env.group_id}",
            "TRIAGE_RETRAIN_AFTER": "1000",
            "TRIAGE_GOLD_DIR": str(tmp_path / "gold"),
            "TRIAGE_REGISTRY_DIR": str(tmp_path / "registry"),
        },
        tmp_path,
    )
    users = {
        name: {"password_hash": hash_password(PASSWORD), "role": role}
        for name, role in (("ana", "reviewer"), ("olga", "ops"))
    }
    web = Service(
        "web",
        ["web"],
        {
            **base,
            "TRIAGE_SECRET_KEY": SECRET_KEY,
            "TRIAGE_WEB_USERS": json.dumps(users),
            "TRIAGE_PORT": str(port),
            "TRIAGE_WORKER_GROUP_ID": stream_env.group_id,
        },
        tmp_path,
    )
    services = [learner, web]
    worker = worker_factory(model_dir)
    store = Store.open(url)
    try:
        with (sample_dir / "banking77_test.csv").open(newline="") as fh:
            texts = [row["text"] for row in csv.DictReader(fh)][:TICKETS]
        producer: Any = stream_env.producer()
        for i, text in enumerate(texts):
            producer.produce(
                stream_env.topics.incoming, ticket_bytes(f"s-{i:03d}", text), f"s-{i:03d}"
            )
        hostile = ticket_bytes("evil-1", HOSTILE_BODY, subject="<b onmouseover=alert(1)>hi</b>")
        producer.produce(stream_env.topics.incoming, hostile, b"evil-1")
        producer.produce(stream_env.topics.incoming, b"{not json", b"broken-1")
        assert producer.flush(30) == 0
        worker.wait_ready()
        decided = stream_env.collect(
            list(stream_env.topics.bands), until=lambda r: len(r) >= TICKETS + 1
        )
        assert len(decided) == TICKETS + 1, worker.tail()
        base_url = f"http://127.0.0.1:{port}"

        def recorded() -> bool:
            learner.alive()
            with store.session() as session:
                from sqlalchemy import func, select

                from store.tables import DecisionRow

                return session.scalar(select(func.count()).select_from(DecisionRow)) == TICKETS + 1

        wait_until(recorded, "the recorder to store every decision")

        def web_up() -> bool:
            web.alive()
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_until(web_up, "triage web to answer")
        yield {
            "url": base_url,
            "store": store,
            "stream": stream_env,
            "decisions": [Decision.model_validate_json(v) for _, _, v in decided],
            "band_topics": {
                t: sum(1 for topic, _, _ in decided if topic == t) for t in stream_env.topics.bands
            },
        }
    finally:
        for service in services:
            service.stop()
        store.close()


def shoot(page: Any, name: str) -> None:
    folder = os.environ.get("TRIAGE_WEB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def sign_in(page: Any, url: str, user: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def reviewer_on_queue(browser: Any, url: str) -> tuple[Any, Any, list[str]]:
    """A new browser context signed in as the reviewer ana, on the queue page; the list
    collects every script error the page raises."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, url, "ana")
    page.wait_for_url(f"{url}/queue")
    return context, page, errors


def metric_values(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_review_queue_dashboard_and_metrics_in_a_browser(
    browser: Any, system: dict[str, Any]
) -> None:
    url, store = system["url"], system["store"]
    context, page, errors = reviewer_on_queue(browser, url)
    page.wait_for_selector("#queue li.item")

    # the queue shows the recorded shadow/manual decisions in uncertainty order
    shown = page.eval_on_selector_all("#queue > li.item", "els => els.map(e => e.dataset.ticketId)")
    expected = [item.ticket_id for item in queue.query(store, 50, per_label_cap=5)]
    assert shown == expected
    assert len(shown) >= 2

    # hostile text is shown as text, and never runs
    assert "evil-1" in shown  # nonsense text: the model is unsure, so a person sees it
    text = page.text_content('#queue > li.item[data-ticket-id="evil-1"] .text')
    assert text is not None
    assert "<script>window.__pwned=1</script>" in text
    assert "<b onmouseover=alert(1)>hi</b>" in text
    assert page.evaluate("() => window.__pwned") is None
    assert page.query_selector("#queue img") is None
    shoot(page, "review-queue.png")

    # override the first (most uncertain) ticket from the keyboard: j/k then a digit
    page.keyboard.press("j")
    page.keyboard.press("k")
    first = shown[0]
    labels = page.evaluate("async () => (await fetch('/api/labels')).json()")
    predicted = page.text_content(f'#queue > li.item[data-ticket-id="{first}"] .pred') or ""
    choice = next(i for i, label in enumerate(labels) if not predicted.startswith(label + " "))
    page.keyboard.press(str(choice + 1))
    page.wait_for_function(
        "t => document.getElementById('status').textContent.includes(t)", arg=first
    )
    assert "Overrode" in (page.text_content("#status") or "")
    stream = system["stream"]
    records = stream.collect([stream.topics.corrections], until=lambda r: len(r) >= 1, settle_s=1)
    assert len(records) == 1
    correction = Correction.model_validate_json(records[0][2])
    assert (correction.ticket_id, correction.label, correction.reviewer, correction.action) == (
        first,
        labels[choice],
        "ana",
        "override",
    )

    def stored() -> bool:
        from sqlalchemy import select

        with store.session() as session:
            label = session.scalar(
                select(CorrectionRow.label).where(CorrectionRow.ticket_id == first)
            )
        return bool(label == labels[choice])

    wait_until(stored, "the recorder to store the correction")
    page.wait_for_function(
        "t => !document.querySelector(`#queue > li.item[data-ticket-id='${t}']`)", arg=first
    )

    # unauthenticated writes are refused
    anonymous = browser.new_context()
    refused = anonymous.request.post(
        f"{url}/api/decisions", data={"ticket_id": shown[1], "label": labels[0]}
    )
    assert refused.status == 401
    anonymous.close()

    # the dashboard draws its plots with the live numbers
    page.goto(f"{url}/dashboard")
    page.wait_for_selector("#p-shares svg rect.bar")
    page.wait_for_selector("#p-lag svg rect.bar")
    total = sum(system["band_topics"].values())
    drawn = page.eval_on_selector_all(
        "#p-shares svg rect.bar", "els => els.reduce((s, e) => s + Number(e.dataset.value), 0)"
    )
    assert drawn == total
    assert page.eval_on_selector_all("#p-lag svg rect.bar", "els => els.length") == 4
    model = page.text_content("#t-model")
    assert model == system["decisions"][0].model_version
    wait_until(lambda: page.text_content("#t-lag") == "0", "the dashboard to show no backlog")
    assert page.text_content("#t-dead") == "1"
    assert "not JSON" in (page.text_content("#dead tbody") or "")
    # precision: the one reviewed ticket was overridden, so its band reads 0 and the others n/a
    reviewed_band = next(d.band for d in system["decisions"] if d.ticket_id == first)
    precision = page.eval_on_selector_all(
        "#p-precision svg rect.bar", "els => els.map(e => e.dataset.value)"
    )
    bands = ["routed", "shadow", "manual"]
    assert precision == ["0" if b == reviewed_band else "" for b in bands]
    shoot(page, "ops-dashboard.png")
    assert errors == []
    context.close()

    # /metrics agrees with what went through the broker
    by_band = {t.rsplit(".", 1)[-1]: n for t, n in system["band_topics"].items()}

    def lag_zero() -> bool:
        m = metric_values(url)
        lags = [v for (name, _), v in m.items() if name == "triage_consumer_lag"]
        return len(lags) == 4 and sum(lags) == 0

    wait_until(lag_zero, "/metrics to report no lag")
    m = metric_values(url)
    for band in ("routed", "shadow", "manual"):
        recorded = sum(
            v
            for (name, labels), v in m.items()
            if name == "triage_decisions_total" and dict(labels)["band"] == band
        )
        assert recorded == by_band[band], band
        assert m[("triage_worker_published_total", (("band", band),))] == by_band[band]
    assert m[("triage_decision_latency_seconds_count", ())] == total
    assert m[("triage_corrections_total", (("action", "override"),))] == 1
    assert m[("triage_dead_letters_total", (("kind", "not_json"),))] == 1
    highs = [v for (name, _), v in m.items() if name == "triage_topic_high_watermark"]
    assert sum(highs) == TICKETS + 2
    assert m[("triage_model_info", (("version", model),))] == 1
    assert shutil.which("chromium") or CHROMIUM.exists()


def test_a_reviewer_corrects_the_child_head_by_keyboard(
    browser: Any,
    system_factory: Callable[[Path], AbstractContextManager[dict[str, Any]]],
    hierarchy_model_dir: Path,
    tmp_path: Path,
    sample_dir: Path,
) -> None:
    """A team -> intent model: the queue shows both heads; `h` moves to the intent, a digit
    picks another intent inside the decided team, and the correction lands with its head;
    `c` confirms the team, and a learner run trains the ticket and gates the intent head."""
    with system_factory(hierarchy_model_dir) as running:
        url, store, stream = running["url"], running["store"], running["stream"]
        context, page, errors = reviewer_on_queue(browser, url)
        page.wait_for_selector("#queue li.item .head-chip")
        first = page.get_attribute("#queue > li.item", "data-ticket-id")
        decision = next(d for d in running["decisions"] if d.ticket_id == first)
        chips = page.eval_on_selector_all(
            f'#queue > li.item[data-ticket-id="{first}"] .head-chip',
            "els => els.map(e => e.dataset.head)",
        )
        assert chips == ["label", "intent"]

        page.keyboard.press("h")
        page.wait_for_selector(
            f'#queue > li.item[data-ticket-id="{first}"] .actions[data-head="intent"]'
        )
        offered = page.eval_on_selector_all(
            f'#queue > li.item[data-ticket-id="{first}"] .actions button.override',
            "els => els.map(e => [e.textContent, e.dataset.label])",
        )
        heads = page.evaluate("async () => (await fetch('/api/heads')).json()")
        parent_of = heads["intent"]["parent_of"]
        assert offered
        assert {parent_of[label] for _, label in offered} == {decision.label}
        digit, choice = next(
            (text.split()[0], label) for text, label in offered if text[0].isdigit()
        )
        page.keyboard.press(digit)

        records = stream.collect(
            [stream.topics.corrections], until=lambda r: len(r) >= 1, settle_s=1
        )
        assert len(records) == 1
        correction = Correction.model_validate_json(records[0][2])
        assert (correction.ticket_id, correction.head, correction.label) == (
            first,
            "intent",
            choice,
        )

        def stored() -> bool:
            from sqlalchemy import select

            with store.session() as session:
                row = session.execute(
                    select(CorrectionRow.head, CorrectionRow.label).where(
                        CorrectionRow.ticket_id == first
                    )
                ).first()
            return row is not None and tuple(row) == ("intent", choice)

        wait_until(stored, "the recorder to store the intent correction with its head")
        # the team too (`c` confirms the primary head): the ticket then trains, intent and all
        page.wait_for_selector(f'#queue > li.item.selected[data-ticket-id="{first}"]')
        page.keyboard.press("c")
        wait_until(
            lambda: store.first_reviewer(first) == "ana", "the recorder to store the team review"
        )
        assert errors == []
        context.close()
        retrained = retrain_hierarchy(store, tmp_path, sample_dir)
    sets = retrained.report["sets"]
    trained = retrained.report["training_rows"]
    assert trained == gold_rows(tmp_path) + 1, "the reviewed ticket trained, intent and all"
    assert sets["gold_test:intent"]["no_regression"], "the intent head gated on its own"
    assert any(f.startswith("gold_test:intent: ") for f in retrained.report["failures"])


def gold_rows(tmp_path: Path) -> int:
    from learner.retrain import GoldSet

    return len(GoldSet.read(tmp_path / "gold").train)


def retrain_hierarchy(store: Store, tmp_path: Path, sample_dir: Path) -> Any:
    """One learner run on the hierarchy's gold set (the sample's team and intent columns),
    with the eval pack's intent floor at 1.0, so the gated candidate is rejected, not
    announced."""
    from models.gates import EvalPack
    from tests.learner.test_retrain_heads import sample_hierarchy_gold
    from tests.learner.test_trigger import learner

    sample_hierarchy_gold(tmp_path, sample_dir, skip_test=TICKETS)
    loop = learner(store, tmp_path, retrain_after=1)
    loop.holdout_share = 0.0  # both of the ticket's corrections train
    loop.pack = EvalPack(
        min_macro_f1=0, min_accuracy=0, min_per_class_f1=0, heads={"intent": {"min_macro_f1": 1}}
    )
    return loop.run()


def test_a_reviewer_corrects_a_task_head_and_a_label_set_by_keyboard(
    browser: Any,
    system_factory: Callable[[Path], AbstractContextManager[dict[str, Any]]],
    headed_model_dir: Path,
) -> None:
    """A model with a task head (intent) and a multi-label head (tags): `h` moves to the
    intent and a digit overrides it; `h` moves to the tags, a digit toggles a label in the set
    and `c` sends the set; both land in the store with their heads."""
    with system_factory(headed_model_dir) as running:
        url, store = running["url"], running["store"]
        context, page, errors = reviewer_on_queue(browser, url)
        page.wait_for_selector("#queue li.item .head-chip")
        first = page.get_attribute("#queue > li.item", "data-ticket-id")
        decision = next(d for d in running["decisions"] if d.ticket_id == first)
        on_first = f'#queue > li.item[data-ticket-id="{first}"]'
        chips = page.eval_on_selector_all(
            f"{on_first} .head-chip", "e => e.map(x => x.dataset.head)"
        )
        assert chips == ["label", "intent", "tags"]

        page.keyboard.press("h")
        page.wait_for_selector(f'{on_first} .actions[data-head="intent"]')
        intent = page.get_attribute(f"{on_first} .actions button.override", "data-label")
        page.keyboard.press(page.inner_text(f"{on_first} .actions button.override").split()[0])
        wait_until(lambda: store.first_reviewer(first, "intent") == "ana", "the intent correction")

        page.wait_for_selector(f"{on_first} .head-chip.done")
        page.keyboard.press("h")  # the intent is done: the next head is the tags
        page.wait_for_selector(f'{on_first} .actions[data-head="tags"] button.toggle')
        toggled = page.get_attribute(f"{on_first} .actions button.toggle", "data-label")
        page.keyboard.press("1")
        page.wait_for_selector(f"{on_first} .actions button.toggle[aria-pressed]")
        page.keyboard.press("c")
        wait_until(lambda: store.first_reviewer(first, "tags") == "ana", "the tags correction")
        assert errors == []
        context.close()
    chosen = set(decision.heads["tags"].labels or [])
    expected = sorted(chosen ^ {toggled})
    rows = {c.head: c for c in store.training_corrections(unused_only=False)}
    assert rows["intent"].label == intent
    assert rows["tags"].label == Correction.set_label(expected)
