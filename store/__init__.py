"""The one door to SQL: the active-learning store, below the learner and the web.

The learner writes decisions, corrections, training runs and model versions; the web reads the
review queue and the dashboard's numbers and manages corrections; the CLI does a bit of both.
Each of them once reached into the tables on its own, so the schema leaked into three packages
and the web depended on the learner for it. Now they hold a :class:`Store` and call its typed
methods; only this package imports SQLAlchemy or Alembic, and it imports no service (``stream``,
``learner``, ``web``, ``ops``). The names below are the whole face other packages may use.
"""

from store.corrections import AuditEntry, CorrectionRecord, Selection
from store.engine import brief_error, database_unavailable
from store.exceptions import (
    CorrectionsError,
    CorrectionsNotFound,
    NotHeld,
    OwnCorrection,
    QueueError,
    RegistryError,
    ReportError,
    StoreError,
    StoreUnavailable,
)
from store.heads import HeadLabels
from store.holds import (
    FlagRule,
    FlagSettings,
    HeldCorrection,
    HoldRule,
    Judged,
    ReviewerRecord,
    Verdict,
)
from store.labels import DeployedLabels
from store.precision import BandReport, Decided, Precision, parse_window, render_band_report
from store.queue import REVIEW_BANDS, QueueItem
from store.records import CorrectionOutcome, TrainingCorrection
from store.registry import ModelRecord
from store.runs import RunRecord
from store.series import LatencyHistogram, Throughput
from store.store import Store
from store.tables import ACTIONS, BANDS, RUN_OUTCOMES
from store.verdicts import GateRow, gate_rows

__all__ = [
    "ACTIONS",
    "BANDS",
    "REVIEW_BANDS",
    "RUN_OUTCOMES",
    "AuditEntry",
    "BandReport",
    "CorrectionOutcome",
    "CorrectionRecord",
    "CorrectionsError",
    "CorrectionsNotFound",
    "Decided",
    "DeployedLabels",
    "FlagRule",
    "FlagSettings",
    "GateRow",
    "HeadLabels",
    "HeldCorrection",
    "HoldRule",
    "Judged",
    "LatencyHistogram",
    "ModelRecord",
    "NotHeld",
    "OwnCorrection",
    "Precision",
    "QueueError",
    "QueueItem",
    "RegistryError",
    "ReportError",
    "ReviewerRecord",
    "RunRecord",
    "Selection",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Throughput",
    "TrainingCorrection",
    "Verdict",
    "brief_error",
    "database_unavailable",
    "gate_rows",
    "parse_window",
    "render_band_report",
]
