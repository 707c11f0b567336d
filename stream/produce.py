"""`triage produce`: publish a CSV/JSONL export to ``tickets.incoming`` as Ticket events.

A file without an id column gets deterministic ids (``<file stem>-<row number>``), so publishing
the same file twice is deduplicated by the worker instead of classified twice. A row without
text is reported with its row number, never skipped silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bus import AckedProducer, ProducerConfig
from schemas import Ticket
from stream.exceptions import ProduceError

#: How many sends may wait for their ack at once (bounds memory; keeps the pipe full).
IN_FLIGHT = 2000


@dataclass(frozen=True)
class Columns:
    text: str = "body"
    ticket_id: str = "ticket_id"
    subject: str | None = None


@dataclass
class ProduceReport:
    sent: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RowProblem:
    row: int
    reason: str


def tickets_from_records(
    records: Iterable[dict[str, Any]], columns: Columns, *, stem: str
) -> Iterator[Ticket | RowProblem]:
    """Rows -> Tickets; columns other than id/text/subject travel in ``metadata``."""
    used = {columns.text, columns.ticket_id, columns.subject}
    for row, record in enumerate(records, start=1):
        if columns.text not in record:
            raise ProduceError(
                f"row {row} has no column {columns.text!r} (columns: {sorted(record)}); "
                "pass the column holding the ticket body with --body-col"
            )
        text = record[columns.text]
        if not isinstance(text, str) or not text.strip():
            yield RowProblem(row, f"row {row}: no text in column {columns.text!r}; not sent")
            continue
        raw_id = record.get(columns.ticket_id)
        if columns.ticket_id in record and (raw_id is None or not str(raw_id).strip()):
            yield RowProblem(row, f"row {row}: empty {columns.ticket_id!r}; not sent")
            continue
        ticket_id = str(raw_id) if raw_id is not None else f"{stem}-{row}"
        subject = record.get(columns.subject) if columns.subject else None
        extra = {k: v for k, v in record.items() if k not in used}
        yield Ticket(
            ticket_id=ticket_id,
            body=text,
            subject=str(subject) if subject else None,
            metadata=extra or None,
        )


def produce(
    path: Path,
    *,
    config: ProducerConfig,
    topic: str,
    columns: Columns,
    limit: int | None = None,
    on_sent: Callable[[int], object] = lambda n: None,
) -> ProduceReport:
    """Publish the file; returns once every record is acked by the broker."""
    from models import iter_records

    rows = tickets_from_records(iter_records(path), columns, stem=path.stem)
    return asyncio.run(_publish(rows, config, topic, limit, on_sent))


async def _publish(
    rows: Iterator[Ticket | RowProblem],
    config: ProducerConfig,
    topic: str,
    limit: int | None,
    on_sent: Callable[[int], object],
) -> ProduceReport:
    report = ProduceReport()
    producer = AckedProducer(config)
    await producer.start()
    pending: list[Awaitable[Any]] = []

    async def drain() -> None:
        await asyncio.gather(*pending)
        on_sent(len(pending))
        report.sent += len(pending)
        pending.clear()

    try:
        for item in rows:
            if isinstance(item, RowProblem):
                report.problems.append(item.reason)
                continue
            if limit is not None and report.sent + len(pending) >= limit:
                break
            value = item.model_dump_json(exclude_none=True).encode("utf-8")
            pending.append(await producer.send(topic, item.ticket_id.encode("utf-8"), value))
            if len(pending) >= IN_FLIGHT:
                await drain()
        await drain()
    finally:
        await producer.stop()
    return report
