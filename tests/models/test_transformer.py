"""The LoRA backend: encoding, save/load identity through the one loader, novelty, scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from models.artifact import load, read_manifest
from models.exceptions import ArtifactError
from models.settings import default_base_model
from models.transformer import TransformerClassifier


@pytest.fixture(scope="module")
def encoder_only() -> TransformerClassifier:
    """A classifier with a real tokenizer and no network: enough to test encoding."""
    return TransformerClassifier(
        model=torch.nn.Identity(),
        tokenizer=AutoTokenizer.from_pretrained(default_base_model()),
        labels=["a", "b"],
        base_model=default_base_model(),
        max_length=12,
    )


def test_encode_wraps_in_special_tokens_and_cuts_to_max_length(
    encoder_only: TransformerClassifier,
) -> None:
    long_text = " ".join(f"w{i}" for i in range(50))
    short, long_ids = encoder_only.encode(["hello", long_text])
    cls_id, sep_id = encoder_only.tokenizer.cls_token_id, encoder_only.tokenizer.sep_token_id
    assert short[0] == cls_id
    assert short[-1] == sep_id
    assert len(short) == 3
    assert len(long_ids) == 12


def test_head_tail_keeps_the_end_of_long_texts(encoder_only: TransformerClassifier) -> None:
    encoder_only.truncation = "head_tail"
    try:
        ids = encoder_only.encode(["start " + "filler " * 40 + "refund"])[0]
    finally:
        encoder_only.truncation = "head"
    words = encoder_only.tokenizer.decode(ids[1:-1]).split()
    assert words[0] == "start"
    assert words[-1] == "refund"
    assert len(ids) == 12


def test_encode_cleans_and_redacts_like_training(encoder_only: TransformerClassifier) -> None:
    ids = encoder_only.encode(["mail me at jane.doe@example.com"])[0]
    assert "jane" not in encoder_only.tokenizer.decode(ids)


@pytest.mark.slow
def test_save_load_reproduces_probabilities(lora_trained: tuple[Any, Path]) -> None:
    result, saved = lora_trained
    probe = result.split.test.texts[:16]
    loaded = load(saved, device="cpu")
    assert isinstance(loaded, TransformerClassifier)
    assert loaded.version == result.classifier.version
    assert loaded.labels == result.classifier.labels
    assert np.allclose(
        loaded.predict_proba(probe), result.classifier.predict_proba(probe), atol=1e-5
    )
    scores, again = loaded.score(probe), result.classifier.score(probe)
    assert np.allclose(scores.novelty, again.novelty, rtol=1e-4)


@pytest.mark.slow
def test_manifest_records_what_a_reader_needs(lora_model_dir: Path) -> None:
    manifest = read_manifest(lora_model_dir)
    assert manifest.kind == "lora-transformer"
    assert manifest.heads["label"].temperature > 0
    assert manifest.backend["base_model"] == default_base_model()
    assert manifest.novelty is not None
    assert manifest.novelty["threshold"] > 0
    assert manifest.data["rows"]["train"] > 0
    assert len(manifest.data["hash"]) == 64
    assert {"accuracy", "macro_f1", "baseline", "training"} <= set(manifest.metrics)
    assert "passed" in manifest.gates
    assert (lora_model_dir / "report" / "confusion.png").is_file()
    metrics = json.loads((lora_model_dir / "report" / "metrics.json").read_text())
    assert metrics["macro_f1"] == pytest.approx(manifest.metrics["macro_f1"])


@pytest.mark.slow
def test_scores_are_probabilities_and_gibberish_is_less_familiar(lora_model_dir: Path) -> None:
    model = load(lora_model_dir, device="cpu")
    familiar = ["I lost my card", "How do I top up my account?", "My transfer has not arrived"]
    strange = ["qzx vbn plk wrt", "ðŸ¦„ðŸ¦„ðŸ¦„ ??? ###", "zxcvbnm asdfghjkl qwertyuiop"]
    scores = model.score(familiar + strange)
    assert np.allclose(scores.proba.sum(axis=1), 1.0)
    assert scores.novelty[3:].mean() > scores.novelty[:3].mean()


@pytest.mark.slow
def test_incomplete_model_dir_is_refused(lora_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(lora_model_dir, broken)
    shutil.rmtree(broken / "adapter")
    with pytest.raises(ArtifactError, match="adapter"):
        load(broken, device="cpu")


@pytest.mark.slow
def test_empty_batch_scores_to_empty_arrays(lora_model_dir: Path) -> None:
    model = load(lora_model_dir, device="cpu")
    scores = model.score([])
    assert scores.proba.shape == (0, len(model.labels))
    assert scores.novel.shape == (0,)


@pytest.mark.gpu
@pytest.mark.slow
def test_cuda_load_matches_cpu(lora_model_dir: Path) -> None:
    probe = ["I lost my card", "How do I top up my account?", "My transfer has not arrived"]
    on_cpu = load(lora_model_dir, device="cpu").predict_proba(probe)
    on_gpu = load(lora_model_dir, device="cuda").predict_proba(probe)
    assert np.allclose(on_cpu, on_gpu, atol=1e-4)
