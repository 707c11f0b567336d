"""One acked producer for every service: a record counts only once the broker acknowledged it.

The classify worker, the recorder's dead letters, deploys and ``triage correct`` all publish
through :class:`AckedProducer`. Its ack is aiokafka's ``RecordMetadata`` for the record: if the
topic or partition is gone (a broker that restarted empty, a cluster with auto-creation off),
the send raises instead of resolving, and the caller stops before marking anything published.
The profile sets batching: ``acks=all`` always; on the embedded broker one record per batch
(tansu's ListOffsets bug, see ``bus.settings``), on Kafka a short linger so batches fill.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from bus.exceptions import PublishFailed
from bus.security import KafkaSecurity

log = logging.getLogger(__name__)

#: The producer's request size limit; a dead letter is built to fit well inside it.
MAX_REQUEST_BYTES = 1024 * 1024
PUBLISH_TIMEOUT_S = 30.0

#: (topic, key, value) -> an awaitable that resolves when the broker acked the record.
Send = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[Any]]]


@dataclass(frozen=True)
class ProducerConfig:
    """What the profile decides about producing (see ``bus.settings`` for why)."""

    bootstrap: str
    security: KafkaSecurity
    linger_ms: int = 5
    one_record_per_batch: bool = False

    def options(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.bootstrap,
            "acks": "all",
            "linger_ms": 0 if self.one_record_per_batch else self.linger_ms,
            # bytes: a batch of 1 byte holds exactly one record, whatever its size
            "max_batch_size": 1 if self.one_record_per_batch else 64 * 1024,
            "max_request_size": MAX_REQUEST_BYTES,
            "request_timeout_ms": int(PUBLISH_TIMEOUT_S * 1000),
            **self.security.aiokafka_options(),
        }


class AckedProducer:
    """aiokafka's producer, started inside the running loop, with acks checked per record.

    ``recover`` (the topic guard's) runs when a record is refused; the record is then sent once
    more. A broker that came back empty refuses the first sends to the topics it lost; after
    the guard re-created them the second send lands. A second refusal raises: the caller stops.
    """

    def __init__(
        self, config: ProducerConfig, recover: Callable[[], Awaitable[Any]] | None = None
    ) -> None:
        self.config = config
        self.recover = recover
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        if self._producer is None:
            producer = AIOKafkaProducer(**self.config.options())
            try:
                await producer.start()
            except (KafkaConnectionError, OSError) as exc:
                await producer.stop()  # a half-started client would warn "Unclosed" at exit
                raise PublishFailed(unreachable(self.config.bootstrap)) from exc
            self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    @property
    def client(self) -> Any:
        """aiokafka's client (metadata), for :class:`bus.topics.TopicGuard`."""
        if self._producer is None:
            raise PublishFailed("the producer is not started; call start() inside the loop")
        return self._producer.client

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        """Enqueue one record; the returned awaitable resolves to its ack or raises."""
        future = await self._enqueue(topic, key, value)
        return self._acked(topic, key, value, future)

    async def _enqueue(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        if self._producer is None:
            raise PublishFailed("the producer is not started; call start() inside the loop")
        try:
            future: Awaitable[Any] = await self._producer.send(topic, value=value, key=key)
        except KafkaError as exc:
            raise PublishFailed(f"could not enqueue a record for {topic}: {exc!r}") from exc
        return future

    async def _acked(
        self, topic: str, key: bytes | None, value: bytes, future: Awaitable[Any]
    ) -> Any:
        try:
            return await _checked(topic, future)
        except PublishFailed as exc:
            if self.recover is None:
                raise
            log.warning("%s; checking the output topics and sending once more", exc)
            await self.recover()
        return await _checked(topic, await self._enqueue(topic, key, value))

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> Any:
        """Send one record and wait for its ack (bounded)."""
        ack = await self.send(topic, key, value)
        return await asyncio.wait_for(ack, PUBLISH_TIMEOUT_S)


def unreachable(bootstrap: str) -> str:
    """The one line every command prints when no broker answers: the address and its setting."""
    return (
        f"no Kafka broker answers at {bootstrap} (TRIAGE_KAFKA_BOOTSTRAP): start the embedded "
        "one with `triage stack up`, or set TRIAGE_KAFKA_BOOTSTRAP to your brokers' host:port"
    )


async def _checked(topic: str, future: Awaitable[Any]) -> Any:
    try:
        metadata = await future
    except KafkaError as exc:
        raise PublishFailed(
            f"the broker did not acknowledge a record on {topic} ({exc!r}); nothing was marked "
            "published: check the broker and that the topic exists"
        ) from exc
    if metadata is None or metadata.offset < 0 or metadata.topic != topic:
        raise PublishFailed(f"the broker answered a send to {topic} with no offset: {metadata!r}")
    return metadata


def publish_once(config: ProducerConfig, topic: str, key: str, value: str) -> None:
    """Publish one record from synchronous code (a CLI command) and wait for its ack."""
    publish_all(config, topic, [(key.encode("utf-8"), value.encode("utf-8"))])


def publish_all(
    config: ProducerConfig, topic: str, records: Sequence[tuple[bytes | None, bytes]]
) -> None:
    """Publish records from synchronous code and return once every one was acknowledged."""

    async def run() -> None:
        producer = AckedProducer(config)
        try:
            await producer.start()
            acks = [await producer.send(topic, key, value) for key, value in records]
            await asyncio.wait_for(asyncio.gather(*acks), PUBLISH_TIMEOUT_S)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise PublishFailed(
                f"could not publish to {topic} at {config.bootstrap} ({exc!r}); check that the "
                "broker runs (`triage stack up`, TRIAGE_KAFKA_BOOTSTRAP) and try again"
            ) from exc
        finally:
            await producer.stop()

    asyncio.run(run())
