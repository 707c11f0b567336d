"""Classifiers: training, calibration, evaluation and the one artifact loader.

Everything outside this package reaches a model only through :func:`models.artifact.load` and
the :class:`models.base.Classifier` protocol.
"""

from models.artifact import load
from models.bands import Thresholds
from models.base import Classifier, Scores

__all__ = ["Classifier", "Scores", "Thresholds", "load"]
