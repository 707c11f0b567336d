"""The recorder inside the real `triage learner` service, through the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas.events import DeadLetter
from store import Store
from store.tables import CorrectionRow, DecisionRow
from tests.fixtures.stack import StreamEnv
from tests.learner.events import correction, decision


def count(store: Store, table: type[DecisionRow] | type[CorrectionRow]) -> int:
    from sqlalchemy import func, select

    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


@pytest.mark.integration
def test_redelivered_correction_stored_once_bad_ones_dead_lettered(
    stream_env: StreamEnv, tfidf_model_dir: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    env = stream_env.worker_env(
        tfidf_model_dir,
        TRIAGE_DATABASE_URL=url,
        TRIAGE_GROUP_ID=f"learner-{stream_env.group_id}",
        TRIAGE_DATA_DIR=str(tmp_path / "faust"),
        TRIAGE_RETRAIN_AFTER="1000",
        TRIAGE_GOLD_DIR=str(tmp_path / "gold"),
        TRIAGE_REGISTRY_DIR=str(tmp_path / "registry"),
        TRIAGE_HOLD_CONFIDENCE="0.9",
    )
    log = (tmp_path / "learner.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "ops.cli", "learner"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=log,
    )
    store = Store.open(url)
    try:
        producer = stream_env.producer()
        label = "cards"  # one of the sample teams
        producer.produce(  # type: ignore[attr-defined]
            stream_env.topics.shadow, decision("t1", label).model_dump_json().encode(), b"t1"
        )
        sure = decision("t2", label, p1=0.97, p2=0.02, band="routed")  # 0.01 left for "fx"
        producer.produce(stream_env.topics.routed, sure.model_dump_json().encode(), b"t2")  # type: ignore[attr-defined]
        producer.flush(10)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 90
        while count(store, DecisionRow) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "learner.log").read_text()
            time.sleep(0.3)
        good = correction("t1", "transfers", correction_id="same-id").model_dump_json().encode()
        for _ in range(3):  # delivered, then re-delivered twice
            producer.produce(stream_env.topics.corrections, good, b"t1")  # type: ignore[attr-defined]
        unknown_label = correction("t1", "astrology", correction_id="c2").model_dump_json()
        unknown_ticket = correction("nope", "transfers", correction_id="c3").model_dump_json()
        contradicted = correction("t2", "fx", correction_id="held-id").model_dump_json()
        for value in (unknown_label, unknown_ticket, "{not json", contradicted):
            producer.produce(stream_env.topics.corrections, value.encode(), b"k")  # type: ignore[attr-defined]
        producer.flush(10)  # type: ignore[attr-defined]
        letters = stream_env.collect(
            [stream_env.topics.dead_letter], until=lambda r: len(r) >= 3, timeout_s=90, settle_s=2
        )
        deadline = time.monotonic() + 30
        while count(store, CorrectionRow) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert count(store, CorrectionRow) == 2
    # TRIAGE_HOLD_CONFIDENCE reached the recorder: the model gave "fx" 0.01 on t2
    assert [h.correction_id for h in store.held_corrections()] == ["held-id"]
    assert store.unused_corrections_count() == 1
    reasons = sorted(DeadLetter.model_validate_json(v).reason for _, _, v in letters)
    assert len(reasons) == 3
    assert any("astrology" in r for r in reasons)
    assert any("no decision stored for ticket 'nope'" in r for r in reasons)
    assert any(r.startswith("not a Correction") for r in reasons)
    assert len(letters) == 3  # the duplicates were not dead-lettered either
    first = DeadLetter.model_validate_json(letters[0][2])
    assert first.topic == stream_env.topics.corrections
    assert first.offset >= 0
    store.close()
    assert os.path.exists(tmp_path / "store.db")
