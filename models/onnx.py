"""ONNX Runtime engine for a trained transformer artifact: export, int8, validate, serve.

On this CPU (AVX2, no VNNI) ONNX Runtime with fused attention and dynamically quantised int8
weights runs MiniLM 1.5-2x faster than eager torch (see the performance section of the README).
Quantisation changes the numbers, so an export is only ever *used* after it agreed with the
torch model on the label of at least :data:`MIN_AGREEMENT` of a held-out set; the result of that
check is written into the artifact's manifest and read back at load time. The artifact stays one
directory with one loader: the export lives in ``<model>/onnx/`` and
``manifest.backend["runtime"]["onnx"]`` says what it is and whether it passed.

One graph gives both outputs the worker needs: the logits and the embedding the novelty detector
scores, exactly as :meth:`TransformerClassifier.forward` computes them.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.agreement import agreement
from models.artifact import Manifest, read_manifest, write_manifest
from models.base import FloatArray
from models.exceptions import ArtifactError, ModelError
from models.novelty import NoveltyDetector, load_detector
from models.runtime import (
    MAX_BATCH_TOKENS,
    Runtime,
    available_cores,
    pad_batch,
    run_bucketed,
)
from models.scoring import EncoderScoring

if TYPE_CHECKING:
    from models.heads import Layout
    from models.transformer import TransformerClassifier

log = logging.getLogger(__name__)

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
#: Share of held-out texts on which the export must give the torch model's label.
MIN_AGREEMENT = 0.995
OPSET = 17
INFERENCE_BATCH = 32


class OnnxEngine:
    """An ONNX Runtime session taking (input_ids, attention_mask) and giving (logits, embedding)."""

    def __init__(self, path: Path, *, threads: int | None = None, pad_id: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ArtifactError(
                f"ONNX Runtime cannot load {path}: {exc}; rebuild it with `triage bench --export`"
                " or run with TRIAGE_RUNTIME=torch"
            ) from exc
        self.path = path
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[Sequence[int]]) -> tuple[FloatArray, FloatArray]:
        input_ids, mask = pad_batch(batch, self.pad_id)
        logits, embedding = self.session.run(
            ["logits", "embedding"], {"input_ids": input_ids, "attention_mask": mask}
        )
        return np.asarray(logits, dtype=np.float64), np.asarray(embedding, dtype=np.float64)


class OnnxClassifier(EncoderScoring):
    """The torch classifier's tokenizer, calibration and novelty detector around an ORT engine.

    Everything but the forward pass is the wrapped :class:`TransformerClassifier`'s, so both
    runtimes clean, redact, truncate and band a ticket identically.
    """

    def __init__(
        self,
        base: TransformerClassifier,
        engine: OnnxEngine,
        *,
        temperature: float | None = None,
        novelty: NoveltyDetector | None = None,
        source: str = "teacher",
        batch_size: int = INFERENCE_BATCH,
    ) -> None:
        self.base = base
        self.engine = engine
        self.batch_size = batch_size
        self.runtime = "onnx"
        self.source = source
        # a distilled student has its own calibration and embedding space
        self.temperature = temperature if temperature is not None else base.temperature
        self.novelty = novelty if novelty is not None else base.novelty

    @property
    def version(self) -> str:
        return self.base.version

    @property
    def labels(self) -> list[str]:
        return self.base.labels

    @property
    def manifest(self) -> Manifest | None:
        return self.base.manifest

    @property
    def layout(self) -> Layout:  # type: ignore[override]
        """The torch model's: the exported layer gives every head's logits the same way."""
        return self.base.layout

    @property
    def max_length(self) -> int:
        return self.base.max_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        self.base.max_length = value

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return self.base.encode(texts)

    def forward_ids(self, ids: Sequence[Sequence[int]]) -> tuple[FloatArray, FloatArray]:
        if not ids:
            return self.base.forward_ids(ids)
        return run_bucketed(ids, self.engine, self.batch_size, MAX_BATCH_TOKENS)

    def save(self, path: Path) -> Path:
        """Saves the torch artifact; the export is derived data, rebuilt by `triage bench`."""
        return self.base.save(path)


# -- export ------------------------------------------------------------------------------------
def export(classifier: TransformerClassifier, out_dir: Path) -> Path:
    """Trace the merged model (logits + novelty embedding) to ``out_dir/model.onnx`` (fp32),
    then let ONNX Runtime's transformer optimiser fuse attention, GELU and layer norms."""
    import torch
    from torch import nn

    out_dir.mkdir(parents=True, exist_ok=True)
    raw = out_dir / "model.raw.onnx"
    target = out_dir / FP32_FILE

    class Graph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = classifier.model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            return classifier.forward({"input_ids": input_ids, "attention_mask": attention_mask})

    sample = classifier.collate(classifier.encode(["export sample ticket", "a second one"]))
    graph = Graph().eval().cpu()
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            graph,
            (sample["input_ids"].cpu(), sample["attention_mask"].cpu()),
            str(raw),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits", "embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "logits": {0: "batch"},
                "embedding": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    config = classifier.model_config
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        optimized = optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0)),
            hidden_size=int(getattr(config, "hidden_size", 0)),
        )
        optimized.save_model_to_file(str(target))
        raw.unlink()
    except Exception as exc:  # the fusions are an optimisation; the plain graph is still right
        log.warning("ONNX transformer optimiser failed (%s); keeping the unfused graph", exc)
        raw.replace(target)
    return target


def quantize(fp32: Path, int8: Path) -> Path:
    """Dynamic int8: weights quantised once, activations per batch; no calibration data needed."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The fused graph has com.microsoft ops that ONNX shape inference cannot type: their outputs
    # are float, say so rather than let the quantiser give up.
    quantize_dynamic(
        str(fp32),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=True,  # per-tensor scales moved 1.4 % of labels on banking77; this 0.2 %
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
    return int8


@dataclass(frozen=True)
class ExportOptions:
    """How an export is made and checked; the teacher's and the student's exports share them."""

    int8: bool = True
    threads: int | None = None
    min_agreement: float = MIN_AGREEMENT


DEFAULT_OPTIONS = ExportOptions()


def export_validated(
    classifier: TransformerClassifier,
    folder: Path,
    texts: Sequence[str],
    labels: Sequence[str] | None = None,
    options: ExportOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """Export ``classifier`` into ``folder``, quantise, and check it against torch on ``texts``.

    int8 is tried first (fastest); when it disagrees too often the fp32 export (fused kernels
    only) is checked and chosen instead, so a quantisation miss still leaves a faster path.
    Returns the record (``file`` relative to ``folder``); written atomically.
    """
    if not texts:
        raise ModelError("ONNX validation needs held-out texts; pass the model's test file")
    started = time.perf_counter()
    staging = folder.parent / f".{folder.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        fp32 = export(classifier, staging)
        ids = classifier.encode(list(texts))
        reference, _ = classifier.forward_ids(ids)
        candidates = [(quantize(fp32, staging / INT8_FILE), "int8-dynamic")] if options.int8 else []
        candidates.append((fp32, "fp32"))
        tried: list[dict[str, Any]] = []
        for served, precision in candidates:
            engine = OnnxEngine(served, threads=options.threads, pad_id=_pad_id(classifier))
            candidate, _ = run_bucketed(ids, engine, INFERENCE_BATCH)
            check = agreement(reference, candidate, labels, classifier.labels, classifier.layout)
            tried.append({"precision": precision, "file": served.name, **check})
            if check["label_agreement"] >= options.min_agreement:
                break
        shutil.rmtree(folder, ignore_errors=True)
        staging.replace(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {
        "file": served.name,
        "precision": precision,
        "opset": OPSET,
        "min_agreement": options.min_agreement,
        "validated": check["label_agreement"] >= options.min_agreement,
        "validation": check,
        "tried": tried,
        "export_seconds": round(time.perf_counter() - started, 1),
    }


def build(
    model_dir: Path,
    texts: Sequence[str],
    labels: Sequence[str] | None = None,
    options: ExportOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """Export ``model_dir``'s transformer to ONNX, quantise, validate on ``texts`` and record it.

    ``texts`` should be held-out tickets (the artifact's test or validation rows). The manifest's
    ``backend.runtime.onnx`` gets the file, the agreement and ``validated``; the loader uses the
    export only when ``validated`` is true. Returns that record.
    """
    from models.transformer import TransformerClassifier

    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    if manifest.kind != "lora-transformer":
        raise ModelError(
            f"{model_dir} holds a {manifest.kind!r} model; only transformer models have an "
            "ONNX export (TF-IDF is already fast)"
        )
    torch_model = TransformerClassifier.load(model_dir, manifest, "cpu")
    record = export_validated(torch_model, model_dir / ONNX_DIR, texts, labels, options)
    record["file"] = f"{ONNX_DIR}/{record['file']}"
    record["source"] = "teacher"
    manifest = read_manifest(model_dir)  # re-read: never write back a stale copy
    runtime = dict(manifest.backend.get("runtime", {}))
    runtime["onnx"] = record
    manifest.backend = {**manifest.backend, "runtime": runtime}
    write_manifest(model_dir, manifest)
    return record


def _pad_id(classifier: TransformerClassifier) -> int:
    return int(classifier.tokenizer.pad_token_id or 0)


# -- load ----------------------------------------------------------------------------------------
def onnx_record(manifest: Manifest) -> dict[str, Any] | None:
    record = manifest.backend.get("runtime", {}).get("onnx")
    return dict(record) if isinstance(record, dict) else None


def attach(
    classifier: TransformerClassifier,
    path: Path,
    manifest: Manifest,
    runtime: Runtime,
    *,
    threads: int | None = None,
) -> TransformerClassifier | OnnxClassifier:
    """The classifier the loader hands out: ONNX-backed when asked for (or ``auto``) and valid.

    ``auto`` falls back to torch, with a log line saying why, when there is no export, when it
    failed validation, or when the model runs on CUDA (half precision there beats int8).
    ``onnx`` makes each of those an error instead.
    """
    if runtime == "torch":
        return classifier
    record = onnx_record(manifest)
    reason = None
    if classifier.device.type != "cpu":
        reason = f"the model runs on {classifier.device.type}"
    elif record is None:
        reason = "the artifact has no ONNX export (build one with `triage bench --export`)"
    elif not record.get("validated"):
        agreed = record.get("validation", {}).get("label_agreement")
        reason = (
            f"its ONNX export agreed with torch on {agreed} of labels, below "
            f"{record.get('min_agreement', MIN_AGREEMENT)}"
        )
    elif not (path / str(record["file"])).is_file():
        reason = f"{path / str(record['file'])} is missing"
    if reason is not None:
        if runtime == "onnx":
            raise ArtifactError(f"TRIAGE_RUNTIME=onnx but {reason}; or use TRIAGE_RUNTIME=torch")
        log.info("serving %s with torch: %s", manifest.version, reason)
        return classifier
    assert record is not None
    engine = OnnxEngine(path / str(record["file"]), threads=threads, pad_id=_pad_id(classifier))
    novelty_entry = record.get("novelty")
    novelty = (
        load_detector(path / str(novelty_entry["path"]), novelty_entry)
        if isinstance(novelty_entry, dict)
        else None
    )
    temperature = record.get("temperature")
    return OnnxClassifier(
        classifier,
        engine,
        temperature=float(temperature) if temperature is not None else None,
        novelty=novelty,
        source=str(record.get("source", "teacher")),
    )
