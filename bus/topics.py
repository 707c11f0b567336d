"""Topics a service reads raw and writes raw, and the guard that keeps its output topics real.

A broker can come back without the topics it had (tansu keeps nothing across a restart; a
cluster can lose a topic to an operator). :class:`TopicGuard` checks the output topics against
fresh broker metadata at start and every ``interval_s`` while running. At start it creates a
missing one where the profile allows it, else stops the service loudly. Topics that vanish
*while running* mean the broker lost its state, consumer group offsets included, and faust's
in-memory positions no longer match the new logs (measured: a worker kept reading the
recreated ``tickets.incoming`` from its old position and skipped the first 100 tickets sent
after the restart). So the guard re-creates them and raises :class:`BrokerStateLost`: the
service restarts, re-joins with no committed offsets and reads the new logs from the start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from bus.exceptions import BrokerStateLost, TopicMissing
from bus.security import KafkaSecurity

log = logging.getLogger(__name__)


def raw_topic(app: Any, name: str, partitions: int) -> Any:
    """Bytes in, bytes out: parsing is the stage's own, with reasons, not a codec's."""
    return app.topic(
        name,
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )


@dataclass
class TopicGuard:
    """Keeps ``names`` existing on the broker, or refuses to go on without them."""

    bootstrap: str
    security: KafkaSecurity
    names: Sequence[str]
    partitions: int
    replication: int
    create: bool
    interval_s: float = 5.0
    _checked_at: float = field(default=0.0, init=False)
    _all_seen: bool = field(default=False, init=False)
    _admin: AIOKafkaAdminClient | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def ensure(self) -> list[str]:
        """Create (or refuse) whatever is missing now; returns the names created."""
        async with self._lock:
            if self._checked_at and time.monotonic() - self._checked_at < 0.2:
                return []  # another caller checked while this one waited for the lock
            admin = await self._client()
            existing = await self._existing(admin)
            missing = [name for name in self.names if name not in existing]
            if missing and not self.create:
                raise TopicMissing(
                    f"topics {missing} do not exist on {self.bootstrap} and "
                    "TRIAGE_TOPIC_CREATE is off: create them (see the README's topic "
                    "table) or turn topic creation on"
                )
            if missing:
                await self._create(admin, missing)
            self._checked_at = time.monotonic()
            if missing and self._all_seen:
                raise BrokerStateLost(
                    f"output topics {missing} vanished from {self.bootstrap} while this service "
                    "ran: the broker lost its state (a restart without storage?). They were "
                    "re-created; restarting so consumer positions are read afresh"
                )
            self._all_seen = True
            return missing

    async def _client(self) -> AIOKafkaAdminClient:
        """One admin connection, kept: the embedded profile checks before every batch."""
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap, **self.security.aiokafka_options()
            )
            await admin.start()
            self._admin = admin
        return self._admin

    async def close(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            await admin.close()

    async def _create(self, admin: AIOKafkaAdminClient, names: list[str]) -> None:
        log.warning("output topics missing on %s, creating them: %s", self.bootstrap, names)
        try:
            await admin.create_topics(
                [NewTopic(n, self.partitions, self.replication) for n in names]
            )
        except TopicAlreadyExistsError:
            pass  # another worker (or the broker's auto-creation) was first: what we wanted
        except KafkaError as exc:
            raise TopicMissing(
                f"could not create topics {names} on {self.bootstrap} ({exc!r}) with "
                f"{self.partitions} partitions x {self.replication} replicas: check "
                "TRIAGE_TOPIC_REPLICATION against the cluster size and the ACLs"
            ) from exc

    async def _existing(self, admin: AIOKafkaAdminClient) -> set[str]:
        try:
            return set(await admin.list_topics())
        except KafkaError:
            await self.close()  # a broker that went away: reconnect on the next check
            raise

    async def reachable(self) -> str:
        """For readiness probes: the broker answers a metadata request (raises if not)."""
        topics = await self._existing(await self._client())
        return f"{self.bootstrap}, {len(topics)} topics"

    async def recover(self) -> None:
        """After a refused send: check now, unless a check finished in the last second (many
        records of one batch fail together and need one check)."""
        if time.monotonic() - self._checked_at >= 1.0:
            await self.ensure()

    async def ensure_due(self) -> None:
        """:meth:`ensure` if the last check is older than ``interval_s`` (cheap otherwise)."""
        if time.monotonic() - self._checked_at >= self.interval_s:
            await self.ensure()
