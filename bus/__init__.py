"""The plumbing every service stands on: broker and redis connections, and nothing else.

``stream``, ``learner`` and ``web`` reach Kafka and redis only through what this package
exports; none of them imports another. What lives here: connection settings and their security
(TLS/SASL) applied identically to every client, broker profiles, the faust app factory, raw
topics and the topic guard, the one batch-agent loop, dead letters, the one acked producer,
the redis decision cache, the drift board, the model pointer, and the operator's lag and
dead-letter readers.
"""

from bus.agent import install_batch_agent
from bus.app import (
    async_redis_client,
    faust_app,
    faust_worker,
    producer_config,
    redis_client,
    topic_guard,
)
from bus.deadletter import MAX_PAYLOAD_BYTES, StageOutcome, dead_letter, publish_letters
from bus.decisions import DecisionCache, Stored
from bus.drift import DRIFT_PUBLISH_EVERY_S, DriftBoard, read_board
from bus.exceptions import (
    BrokerStateLost,
    BusError,
    ConnectionConfigError,
    DecisionCacheError,
    PublishFailed,
    TopicMissing,
)
from bus.inspect import KINDS, DeadLetterTail, PartitionLag, consumer_lag, reason_kind
from bus.lock import LockNotAcquired, RedisLock
from bus.logs import LogFormat, logging_config
from bus.pointer import ModelPointer, read_pointer, write_pointer
from bus.probes import Check, install_probes, readiness, redis_ping
from bus.producer import AckedProducer, ProducerConfig, Send, publish_all, publish_once
from bus.security import KafkaSecurity, redis_options
from bus.settings import STACK_ENV, ConnectionSettings, FaustServiceSettings
from bus.topics import TopicGuard, raw_topic

__all__ = [
    "DRIFT_PUBLISH_EVERY_S",
    "KINDS",
    "MAX_PAYLOAD_BYTES",
    "STACK_ENV",
    "AckedProducer",
    "BrokerStateLost",
    "BusError",
    "Check",
    "ConnectionConfigError",
    "ConnectionSettings",
    "DeadLetterTail",
    "DecisionCache",
    "DecisionCacheError",
    "DriftBoard",
    "FaustServiceSettings",
    "KafkaSecurity",
    "LockNotAcquired",
    "LogFormat",
    "ModelPointer",
    "PartitionLag",
    "ProducerConfig",
    "PublishFailed",
    "RedisLock",
    "Send",
    "StageOutcome",
    "Stored",
    "TopicGuard",
    "TopicMissing",
    "async_redis_client",
    "consumer_lag",
    "dead_letter",
    "faust_app",
    "faust_worker",
    "install_batch_agent",
    "install_probes",
    "logging_config",
    "producer_config",
    "publish_all",
    "publish_letters",
    "publish_once",
    "raw_topic",
    "read_board",
    "read_pointer",
    "readiness",
    "reason_kind",
    "redis_client",
    "redis_options",
    "redis_ping",
    "topic_guard",
    "write_pointer",
]
