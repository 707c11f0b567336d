"""Corrections leave the web through the bus's acked producer: unacked means not recorded."""

from __future__ import annotations

from bus import AckedProducer, BusError, ProducerConfig
from schemas import Correction
from web.exceptions import PublishFailed, clip


class CorrectionPublisher:
    """Publishes corrections and waits for the broker's ack: an unacked one is an error."""

    def __init__(self, config: ProducerConfig, topic: str) -> None:
        self.topic = topic
        self.bootstrap = config.bootstrap
        self._producer = AckedProducer(config)

    async def start(self) -> None:
        """Inside the serving event loop: aiokafka binds its producer to the running loop."""
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, correction: Correction) -> None:
        try:
            await self._producer.publish(
                self.topic,
                correction.ticket_id.encode("utf-8"),
                correction.model_dump_json().encode("utf-8"),
            )
        except (BusError, TimeoutError) as exc:
            raise PublishFailed(
                f"the broker at {self.bootstrap} did not ack the correction of ticket "
                f"{clip(correction.ticket_id)!r} ({exc!r}); nothing was recorded, try again"
            ) from exc
