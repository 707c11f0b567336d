"""`triage init` sets a fresh deployment up once, and twice at the same time changes nothing."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ops.stack import StackInfo
from store import Store

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data/sample/banking77_train.csv"


def init_env(stack: StackInfo, root: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(stack.env())
    env.update(
        TRIAGE_DATABASE_URL=database_url,
        TRIAGE_TOPIC_PREFIX=f"init{uuid.uuid4().hex[:8]}.",
        TRIAGE_GOLD_DIR=str(root / "gold"),
        TRIAGE_REGISTRY_DIR=str(root / "registry"),
        TRIAGE_MODEL_DIR=str(root / "current"),
        TRIAGE_BACKEND="tfidf",
        TRIAGE_DEVICE="cpu",
    )
    return env


def start_init(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-P",
        "-m",
        "ops.cli",
        "init",
        "--gold",
        str(SAMPLE),
        "--label-col",
        "team",
    ]
    return subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_two_inits_at_once_then_a_third_set_up_one_deployment(
    stack_info: StackInfo, database_url: str, tmp_path: Path
) -> None:
    env = init_env(stack_info, tmp_path, database_url)
    first, second = start_init(env, tmp_path), start_init(env, tmp_path)
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs

    again = subprocess.run(
        [sys.executable, "-P", "-m", "ops.cli", "init"],  # no --gold: the gold set exists
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "kept" in again.stdout

    with Store.open(database_url, upgrade=False) as store:
        versions = store.model_versions()
        deployed = store.deployed_model()
    assert len(versions) == 1, versions  # the second init found the first one's model
    assert deployed is not None
    assert deployed.version == versions[0].version
    assert (tmp_path / "gold/train.jsonl").is_file()
    assert (tmp_path / "gold/test.jsonl").is_file()
    current = tmp_path / "current"
    assert current.is_symlink()
    assert current.resolve() == Path(deployed.model_dir).resolve()
    assert (current / "manifest.json").is_file()


def test_init_without_a_gold_set_says_what_to_pass(stack_info: StackInfo, tmp_path: Path) -> None:
    env = init_env(stack_info, tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    result = subprocess.run(
        [sys.executable, "-P", "-m", "ops.cli", "init"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "--gold FILE" in result.stderr, result.stderr


def test_the_gold_set_keeps_the_head_columns_init_was_given(tmp_path: Path) -> None:
    """`triage init --task-col intent`: the gold set labels the head, so retrains train it."""
    from learner import GoldSet
    from models import HeadColumn, HeadOptions
    from ops.init import InitOptions, import_gold

    heads = HeadOptions((HeadColumn("intent"),), {"intent": 0.5})
    options = InitOptions(gold=SAMPLE, label_col="team", heads=heads)

    written, line = import_gold(tmp_path / "gold", options)
    back = GoldSet.read(tmp_path / "gold")

    assert back.heads == (HeadColumn("intent"),)
    assert back.weights == {"intent": 0.5}
    assert back.train.heads["intent"].values == written.train.heads["intent"].values
    assert all(value for value in back.test.heads["intent"].values), "every sample row has one"
    assert "gold set:" in line


def test_init_keeps_a_hierarchy_with_the_extra_heads_beside_it(tmp_path: Path) -> None:
    from learner import GoldSet
    from models import HeadColumn, HeadOptions
    from ops.init import InitOptions, import_gold

    export = tmp_path / "export.csv"
    with SAMPLE.open(newline="") as source, export.open("w", newline="") as out:
        rows = list(csv.DictReader(source))
        writer = csv.DictWriter(out, fieldnames=[*rows[0], "urgency"])
        writer.writeheader()
        for row in rows:  # a rule-made second column: enough to carry a task head
            writer.writerow({**row, "urgency": "high" if "card" in row["text"] else "low"})
    heads = HeadOptions((HeadColumn("urgency"),))
    tree = InitOptions(gold=export, label_col="team", sub_label_col="intent", heads=heads)

    import_gold(tmp_path / "gold", tree)

    gold = GoldSet.read(tmp_path / "gold")
    hierarchy = gold.hierarchy()
    assert hierarchy is not None
    assert hierarchy.child_head == "intent"
    assert hierarchy.parent_of["card_arrival"] == "cards"
    assert [c.column for c in gold.heads] == ["urgency", "intent"]
    assert set(gold.train.heads["urgency"].classes) == {"high", "low"}
