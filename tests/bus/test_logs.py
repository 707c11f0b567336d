"""Log records: credentials in URLs never reach a log line, JSON lines carry their context."""

from __future__ import annotations

import json
import logging

import pytest

from bus.logs import JsonFormatter, MaskCredentials, mask_credentials


def test_url_credentials_are_masked() -> None:
    assert mask_credentials("redis://:hunter2@redis:6379/0") == "redis://:***@redis:6379/0"
    assert (
        mask_credentials("postgresql+psycopg://triage:s3cr%21t@postgres:5432/triage failed")
        == "postgresql+psycopg://triage:***@postgres:5432/triage failed"
    )
    assert mask_credentials("kafka://broker:9092") == "kafka://broker:9092"


def test_json_lines_carry_context_and_no_secret() -> None:
    record = logging.LogRecord(
        "stream.agents", logging.WARNING, __file__, 1, "cannot reach %s", ("redis://:pw@r:1",), None
    )
    record.ticket_id, record.partition = "T-1", 3
    MaskCredentials().filter(record)
    line = JsonFormatter("worker").format(record)
    entry = json.loads(line)
    assert entry["service"] == "worker"
    assert entry["level"] == "warning"
    assert entry["message"] == "cannot reach redis://:***@r:1"
    assert (entry["ticket_id"], entry["partition"]) == ("T-1", 3)
    assert "pw@" not in line


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_both_formats_mask_credentials(fmt: str) -> None:
    """The text format once went through the framework's own handler, which masked nothing."""
    import io
    import logging.config

    from bus.logs import logging_config

    out = io.StringIO()
    config = logging_config("worker", fmt)  # type: ignore[arg-type]
    config["handlers"]["default"]["stream"] = out
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logging.config.dictConfig(config)
        logging.getLogger("stream.worker").error("cannot reach %s", "redis://:hunter2@redis:6379/0")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert "hunter2" not in out.getvalue()
    assert "redis://:***@redis:6379/0" in out.getvalue()
