"""The topic guard against the real broker: creates what is missing at start, refuses where
creation is off, and reports a broker that lost topics while the service ran."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bus import BrokerStateLost, KafkaSecurity, TopicGuard, TopicMissing
from ops.stack import StackInfo

pytestmark = pytest.mark.integration


def guard(stack: StackInfo, names: list[str], *, create: bool) -> TopicGuard:
    return TopicGuard(
        stack.kafka_bootstrap, KafkaSecurity(), names, partitions=2, replication=1, create=create
    )


def test_missing_topics_are_refused_when_creation_is_off(stack_info: StackInfo) -> None:
    name = f"guard-{uuid.uuid4().hex}"
    with pytest.raises(TopicMissing) as caught:
        asyncio.run(guard(stack_info, [name], create=False).ensure())
    assert name in str(caught.value)
    assert "TRIAGE_TOPIC_CREATE" in str(caught.value)


def test_missing_topics_are_created_at_start_and_a_vanished_one_is_reported(
    stack_info: StackInfo,
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    names = [f"guard-{uuid.uuid4().hex}" for _ in range(2)]

    async def run() -> list[str]:
        watch = guard(stack_info, names, create=True)
        assert await watch.ensure() == names
        assert await watch.ensure() == []
        admin = AIOKafkaAdminClient(bootstrap_servers=stack_info.kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([names[0]])
        finally:
            await admin.close()
        await asyncio.sleep(0.3)
        with pytest.raises(BrokerStateLost):
            await watch.ensure()
        return await guard(stack_info, names, create=False).ensure()

    assert asyncio.run(run()) == []  # re-created before the guard raised
