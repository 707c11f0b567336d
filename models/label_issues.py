"""Label errors in an export: rows whose given label the out-of-fold predictions contradict.

Confident learning (Northcutt et al., 2021; the ``cleanlab`` package is its standard
implementation) needs, for every row, class probabilities from a model that never saw that
row's label. A model scored on its own training rows agrees with their labels, wrong ones
included, so the probabilities here are out of fold: stratified K-fold splits (scikit-learn),
a fresh classifier fitted on the other folds through its public ``fit``/``predict_proba``, the
held fold scored. The TF-IDF backend is the default because K fits of it take seconds where the
transformer takes an hour; its probabilities are what the confident joint is estimated from,
and the confident joint (not a fixed cut-off) decides how many rows of each given/true pair
are suspect, so a class the model is generally unsure of is not flooded with false alarms.

Rows are those of the file as read (no de-duplication): a row number here is the row number a
person opens the file at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from models.base import FloatArray
from models.data import LabelledData
from models.exceptions import DataError
from models.tfidf import TfidfClassifier

#: Folds of the out-of-fold predictions: five is cleanlab's and scikit-learn's default; each
#: model then trains on 80 % of the rows, close to what the final model sees.
FOLDS = 5


class ProbaModel(Protocol):
    """What the folds need of a backend: a fresh one can ``fit``, then ``predict_proba``."""

    @property
    def labels(self) -> list[str]: ...

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> Any: ...

    def predict_proba(self, texts: Sequence[str]) -> FloatArray: ...


@dataclass(frozen=True)
class LabelIssue:
    """One suspect row: ``row`` is 1-based among the data rows (the header is not a row)."""

    row: int
    text: str
    given: str
    suggested: str
    #: out-of-fold probability of the given label, and of the suggested one
    given_probability: float
    suggested_probability: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LabelIssueReport:
    rows: int
    folds: int
    issues: list[LabelIssue]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "folds": self.folds,
            "issues": [issue.as_dict() for issue in self.issues],
        }

    def render(self, limit: int = 50) -> str:
        share = len(self.issues) / self.rows if self.rows else 0.0
        lines = [
            f"label issues: {len(self.issues)} of {self.rows} rows ({share:.1%}) have a given "
            f"label the {self.folds}-fold out-of-fold predictions contradict, most certain first"
        ]
        for issue in self.issues[:limit]:
            text = issue.text.replace("\n", " ")
            lines.append(
                f"  row {issue.row}: given {issue.given!r} ({issue.given_probability:.2f}), "
                f"suggested {issue.suggested!r} ({issue.suggested_probability:.2f}): "
                f"{text[:80]}"
            )
        if len(self.issues) > limit:
            lines.append(f"  ... and {len(self.issues) - limit} more (--json lists every one)")
        return "\n".join(lines)


def out_of_fold_probabilities(
    data: LabelledData,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    new_model: Callable[[], ProbaModel] = TfidfClassifier,
) -> tuple[FloatArray, list[str]]:
    """Probabilities of every row from a model fitted without it; columns in ``classes`` order."""
    from sklearn.model_selection import StratifiedKFold

    classes = data.classes
    counts = {label: data.labels.count(label) for label in classes}
    thin = sorted(label for label, n in counts.items() if n < folds)
    if thin:
        raise DataError(
            f"{data.source}: classes {thin[:5]} have fewer than {folds} rows, too few for "
            f"{folds}-fold out-of-fold predictions; add rows or drop those classes"
        )
    texts = np.asarray(data.texts, dtype=object)
    labels = np.asarray(data.labels, dtype=object)
    probabilities = np.zeros((len(data), len(classes)), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, held in splitter.split(texts, labels):
        model = new_model()
        model.fit(list(texts[train]), list(labels[train]))
        columns = [classes.index(label) for label in model.labels]
        probabilities[np.ix_(held, columns)] = model.predict_proba(list(texts[held]))
    return probabilities, classes


def find_label_issues(
    data: LabelledData,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    new_model: Callable[[], ProbaModel] = TfidfClassifier,
) -> LabelIssueReport:
    """The rows confident learning flags, most certain first (lowest given-label probability)."""
    probabilities, classes = out_of_fold_probabilities(
        data, folds=folds, seed=seed, new_model=new_model
    )
    return issues_from_probabilities(data, probabilities, classes, folds=folds)


def issues_from_probabilities(
    data: LabelledData, probabilities: FloatArray, classes: list[str], *, folds: int = FOLDS
) -> LabelIssueReport:
    """Confident learning on out-of-fold ``probabilities`` (columns in ``classes`` order)."""
    from cleanlab.filter import find_label_issues as cleanlab_issues

    given = np.asarray([classes.index(label) for label in data.labels])
    ranked = cleanlab_issues(
        labels=given, pred_probs=probabilities, return_indices_ranked_by="self_confidence"
    )
    issues = []
    for index in (int(i) for i in ranked):
        suggested = int(np.argmax(probabilities[index]))
        issues.append(
            LabelIssue(
                row=index + 1,
                text=data.texts[index],
                given=data.labels[index],
                suggested=classes[suggested],
                given_probability=round(float(probabilities[index, given[index]]), 4),
                suggested_probability=round(float(probabilities[index, suggested]), 4),
            )
        )
    return LabelIssueReport(rows=len(data), folds=folds, issues=issues)
