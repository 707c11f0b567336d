"""A trained model with what decides whether it may ship, and its one way onto disk.

:meth:`TrainResult.save` is the pipeline's last step for every backend, so a `triage train`
model, a learner candidate and a TF-IDF retrain are all written the same way: atomically, with
their data hash, row counts, health report, metrics, gate results and drift reference in the
manifest.
"""

from __future__ import annotations

import shutil
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.base import Classifier
from models.evaluate import Evaluation
from models.exceptions import ModelError
from models.train_config import Split, TrainingRecord

BASELINE_DIR = "baseline"


@dataclass
class TrainResult:
    """A trained model with everything needed to decide whether it may ship."""

    classifier: Any  # the backend's classifier (TransformerClassifier, TfidfClassifier)
    record: TrainingRecord
    evaluation: Evaluation
    #: a TF-IDF model fitted on the same rows (read through the same heads as the classifier)
    baseline: Classifier | None
    split: Split
    data_hash: str
    #: the train part's data-health report (empty when health was skipped)
    health: dict[str, Any] = field(default_factory=dict)
    #: the model's outputs on held-out rows (:mod:`models.reference`), what workers measure
    #: drift against; None when no held-out row was left
    drift_reference: dict[str, Any] | None = None
    #: the evaluation of each head beyond the primary one (a hierarchy's child), by name
    head_metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.evaluation.gates.passed

    def save(self, out: Path, *, health: dict[str, Any] | None = None) -> Path:
        """Write the artifact atomically: a sibling temp dir renamed into place at the end.

        A crash or a full disk mid-save leaves no half model at ``out``.
        """
        from models.report import write_reports

        out = Path(out)
        if out.exists() and any(out.iterdir()):
            raise ModelError(f"{out} already exists and is not empty; choose a new --out directory")
        staging = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            if self.baseline is not None:
                self.baseline.save(staging / BASELINE_DIR)
            write_reports(staging / "report", self.evaluation)
            self.classifier.save(
                staging,
                data={
                    "hash": self.data_hash,
                    "source": self.split.train.source,
                    "rows": {
                        "train": len(self.split.train),
                        "val": len(self.split.val),
                        "test": len(self.split.test),
                    },
                    "class_counts": dict(Counter(self.split.train.labels)),
                    "health": health or self.health,
                },
                metrics={
                    **self.evaluation.metrics_for_manifest(),
                    "training": self.record.to_dict(),
                    **({"heads": self.head_metrics} if self.head_metrics else {}),
                },
                gates={"passed": self.passed, **self.evaluation.gates.to_dict()},
                drift_reference=self.drift_reference,
            )
            if out.exists():
                out.rmdir()
            staging.replace(out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return out
