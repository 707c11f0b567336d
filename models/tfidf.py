"""TF-IDF + logistic regression: the baseline every evaluation is compared against.

It is a full backend (same artifact format, same loader), so it can also serve as a cheap first
stage of a cascade. Weights are stored as JSON + ``.npy``, never pickled: loading a model
directory must not execute code from it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from models.artifact import Head, Manifest, hash_texts, new_version, write_manifest
from models.base import FloatArray, Scores, no_novelty
from models.exceptions import ArtifactError, DataError
from models.train_config import FitContext, Fitted, Split, TrainConfig, TrainingRecord

KIND = "tfidf"


def softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    out: FloatArray = exp / exp.sum(axis=1, keepdims=True)
    return out


class TfidfClassifier:
    """Word 1-2 gram TF-IDF, class-balanced multinomial logistic regression."""

    def __init__(
        self,
        *,
        ngram_max: int = 2,
        min_df: int = 1,
        c: float = 10.0,
        class_weight: str | None = "balanced",
        temperature: float = 1.0,
    ) -> None:
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.c = c
        self.class_weight = class_weight
        self.temperature = temperature
        self._vectorizer: TfidfVectorizer | None = None
        self._coef: FloatArray | None = None
        self._intercept: FloatArray | None = None
        self._labels: list[str] = []
        self._version = ""
        self.manifest: Manifest | None = None

    # -- Classifier protocol -------------------------------------------------------------
    @property
    def version(self) -> str:
        return self._version

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TfidfClassifier:
        if len(texts) != len(labels):
            raise DataError(f"{len(texts)} texts but {len(labels)} labels")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise DataError(f"need at least 2 classes to train, got {classes}")
        self._vectorizer = TfidfVectorizer(
            ngram_range=(1, self.ngram_max), min_df=self.min_df, sublinear_tf=True
        )
        features = self._vectorizer.fit_transform(list(texts))
        model = LogisticRegression(
            C=self.c, max_iter=2000, class_weight=self.class_weight, random_state=0
        )
        model.fit(features, list(labels))
        self._labels = [str(c) for c in model.classes_]
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # binary: sklearn keeps one row; make it a 2-class softmax
            coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
            intercept = np.array([0.0, intercept[0]])
        self._coef, self._intercept = coef, intercept
        self._version = new_version(hash_texts(list(texts), list(labels)))
        return self

    def features(self, texts: Sequence[str]) -> Any:
        """The model's own sparse TF-IDF rows: the space failure clusters are found in."""
        if self._vectorizer is None:
            raise ArtifactError("TfidfClassifier is not fitted; call fit() or load() first")
        return self._vectorizer.transform(list(texts))

    def logits(self, texts: Sequence[str]) -> FloatArray:
        if self._vectorizer is None or self._coef is None or self._intercept is None:
            raise ArtifactError("TfidfClassifier is not fitted; call fit() or load() first")
        features = self._vectorizer.transform(list(texts))
        out: FloatArray = np.asarray(features @ self._coef.T) + self._intercept
        return out

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        return softmax(self.logits(texts) / self.temperature)

    def score(self, texts: Sequence[str]) -> Scores:
        return no_novelty(self.predict_proba(texts))

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: Path, **manifest_extra: Any) -> Path:
        if self._vectorizer is None or self._coef is None or self._intercept is None:
            raise ArtifactError("cannot save an unfitted TfidfClassifier")
        path = Path(path)
        files = path / "tfidf"
        files.mkdir(parents=True, exist_ok=True)
        vocab = {term: int(i) for term, i in self._vectorizer.vocabulary_.items()}
        (files / "vocabulary.json").write_text(json.dumps(vocab), "utf-8")
        np.save(files / "idf.npy", self._vectorizer.idf_)
        np.save(files / "coef.npy", self._coef)
        np.save(files / "intercept.npy", self._intercept)
        manifest = Manifest(
            kind=KIND,
            version=self._version,
            heads={"label": Head(labels=self._labels, temperature=self.temperature)},
            backend={"ngram_max": self.ngram_max, "min_df": self.min_df, "c": self.c},
            **manifest_extra,
        )
        write_manifest(path, manifest)
        self.manifest = manifest
        return path

    @classmethod
    def load(cls, path: Path, manifest: Manifest, device: str = "cpu") -> TfidfClassifier:
        del device  # CPU only
        files = Path(path) / "tfidf"
        head = manifest.heads[manifest.primary_head]
        model = cls(
            ngram_max=int(manifest.backend.get("ngram_max", 2)),
            min_df=int(manifest.backend.get("min_df", 1)),
            c=float(manifest.backend.get("c", 10.0)),
            temperature=head.temperature,
        )
        try:
            vocab = json.loads((files / "vocabulary.json").read_text("utf-8"))
            idf = np.load(files / "idf.npy", allow_pickle=False)
            model._coef = np.load(files / "coef.npy", allow_pickle=False)
            model._intercept = np.load(files / "intercept.npy", allow_pickle=False)
        except FileNotFoundError as exc:
            raise ArtifactError(f"{path} is incomplete: {exc.filename} is missing") from exc
        vectorizer = TfidfVectorizer(
            ngram_range=(1, model.ngram_max), min_df=model.min_df, sublinear_tf=True
        )
        vectorizer.vocabulary_ = vocab
        vectorizer.idf_ = idf
        model._vectorizer = vectorizer
        model._labels = list(head.labels)
        model._version = manifest.version
        model.manifest = manifest
        return model


class TfidfTrainer:
    """The ``tfidf`` backend's pipeline steps: one fit on every training row; no temperature
    and no novelty detector to fit (its scores have neither)."""

    def fit(self, parts: Split, config: TrainConfig, context: FitContext) -> Fitted:
        del context  # no base model, no thresholds of its own (the manifest's defaults apply)
        started = time.perf_counter()
        model = TfidfClassifier().fit(parts.train.texts, parts.train.labels)
        record = TrainingRecord(
            config=asdict(config),
            base_model="",
            labels=model.labels,
            rows={"train": len(parts.train), "val": len(parts.val)},
        )
        record.seconds = time.perf_counter() - started
        return Fitted(classifier=model, record=record)

    def calibrate(self, fitted: Fitted) -> None:
        del fitted

    def novelty(self, fitted: Fitted, config: TrainConfig) -> None:
        del fitted, config
