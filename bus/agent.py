"""The one batch-agent loop every stream stage runs (the classify worker, the recorder).

``handle(events)`` must return only once everything it produced was acknowledged by the broker
(or made durable); only then are the events acked, so faust commits an offset only for work
that is done. If ``handle`` raises, nothing is acked and the service crashes with a non-zero
exit: a restart re-processes the batch from the last committed offset. Per-message faults are
the stage's to turn into dead letters *inside* ``handle``; what escapes is a fault of the
service (broker, redis, database), and hiding it would lose data.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

#: How long a crashing service may take to stop cleanly before it is ended hard. faust's stop
#: can hang on a broker that came back without the group (commits that never answer); a
#: supervisor restarts the process either way, and nothing of the failed batch was acked.
CRASH_GRACE_S = 15.0
CRASH_EXIT_CODE = 70

Handle = Callable[[Sequence[Any]], Awaitable[Any]]


def install_batch_agent(
    app: Any,
    source: Any,
    *,
    name: str,
    handle: Handle,
    batch_max: int,
    window_s: float,
    before_batch: Callable[[], Awaitable[None]] | None = None,
) -> Any:
    """Register ``handle`` as agent ``name`` on ``source``; returns the faust agent."""

    async def run(stream: Any) -> None:
        async for events in stream.noack_take(batch_max, within=window_s):
            try:
                if before_batch is not None:
                    await before_batch()
                outcome = await handle(events)
            except Exception as exc:
                log.critical("%s batch failed, stopping the service: %r", name, exc, exc_info=True)
                asyncio.get_running_loop().call_later(CRASH_GRACE_S, _hard_exit, name)
                await app.crash(exc)
                raise
            for event in events:  # only now may faust commit these offsets
                await stream.ack(event)
            log.debug("%s: batch of %d: %s", name, len(events), outcome)

    return app.agent(source, name=name)(run)


def _hard_exit(name: str) -> None:
    log.critical(
        "%s: the service did not stop within %.0f s of its crash; exiting", name, CRASH_GRACE_S
    )
    logging.shutdown()
    os._exit(CRASH_EXIT_CODE)
