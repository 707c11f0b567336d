"""Log format for every service: text for a terminal, one JSON object per line for a collector.

``TRIAGE_LOG_FORMAT=json`` makes each record ``{"ts", "level", "service", "logger", "message"}``
plus ``ticket_id``, ``topic``, ``partition``, ``offset`` where a call passes them as ``extra``,
and ``error`` with the traceback. A log line is copied to places with looser access than the
settings, so credentials in URLs (``redis://:pw@host``, ``postgresql://user:pw@host``) are
masked in every record, whatever format; settings hold secrets as ``SecretStr``, which never
prints its value.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

#: Fields a record may carry through ``extra=`` that belong in the JSON object.
CONTEXT_FIELDS = ("ticket_id", "topic", "partition", "offset", "stage", "kind")

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")


def mask_credentials(text: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host``."""
    return _URL_CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)


class MaskCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_credentials(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),  # masked by MaskCredentials on the handler
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = mask_credentials(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(service: str, fmt: LogFormat, level: str = "info") -> dict[str, Any]:
    """The ``dictConfig`` every service runs under (faust's worker, uvicorn): one handler on
    stderr, credentials masked by its filter, in ``fmt``."""
    logging.captureWarnings(True)  # warnings.warn() output becomes a record, not a raw line
    formatters: dict[str, Any] = {
        "text": {"format": "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"},
        "json": {"()": JsonFormatter, "service": service},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask": {"()": MaskCredentials}},
        "formatters": {fmt: formatters[fmt]},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["mask"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
        "loggers": {"py.warnings": {"level": "WARNING"}},
    }
