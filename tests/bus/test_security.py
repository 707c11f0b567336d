"""One settings object -> the same security for every Kafka client (faust, aiokafka), and a
clear refusal at start for a configuration that cannot work.

SASL has no integration test: tansu 0.6.0 refuses unauthenticated requests with
``--authentication`` but ``tansu user create`` fails ("early eof"), so no SASL user can exist on
the embedded broker. What can be shown here is that every client gets identical SASL settings
from one place, which is what a managed cluster needs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from bus import ConnectionConfigError, ConnectionSettings, KafkaSecurity, producer_config
from bus.topics import TopicGuard
from stream.settings import WorkerSettings


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    from tests.fixtures.tls import self_signed

    cert, _key = self_signed(tmp_path)
    return cert


def sasl_env(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    for key, value in {
        "TRIAGE_KAFKA_BOOTSTRAP": "broker-1.example:9093",
        "TRIAGE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TRIAGE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TRIAGE_KAFKA_SASL_USERNAME": "svc-triage",
        "TRIAGE_KAFKA_SASL_PASSWORD": "s3cret-value",
        "TRIAGE_KAFKA_SSL_CA_FILE": str(ca_file),
    }.items():
        monkeypatch.setenv(key, value)


def test_every_client_gets_the_same_sasl_settings(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path
) -> None:
    sasl_env(monkeypatch, ca_file)
    settings = WorkerSettings(_env_file=None)  # type: ignore[call-arg]
    security = KafkaSecurity.from_settings(settings)
    direct = security.aiokafka_options()
    via_faust = credentials_to_aiokafka_auth(security.faust_credentials())
    producer = producer_config(settings).options()
    expected = {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc-triage",
        "sasl_plain_password": "s3cret-value",
    }
    for options in (direct, via_faust, producer):
        assert {k: options[k] for k in expected} == expected
        assert options["ssl_context"].verify_mode.name == "CERT_REQUIRED"
        assert options["ssl_context"].check_hostname
    guard = TopicGuard("b:1", security, ["t"], partitions=1, replication=3, create=True)
    assert guard.security.aiokafka_options()["sasl_plain_username"] == "svc-triage"


def test_the_password_is_never_in_a_repr(monkeypatch: pytest.MonkeyPatch, ca_file: Path) -> None:
    sasl_env(monkeypatch, ca_file)
    settings = WorkerSettings(_env_file=None)  # type: ignore[call-arg]
    security = KafkaSecurity.from_settings(settings)
    assert "s3cret-value" not in repr(settings)
    assert "s3cret-value" not in repr(security)
    assert "s3cret-value" not in repr(security.faust_credentials())


@pytest.mark.parametrize(
    ("env", "names"),
    [
        (
            {"TRIAGE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            [
                "TRIAGE_KAFKA_SASL_MECHANISM",
                "TRIAGE_KAFKA_SASL_USERNAME",
                "TRIAGE_KAFKA_SASL_PASSWORD",
            ],
        ),
        (
            {
                "TRIAGE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "TRIAGE_KAFKA_SASL_MECHANISM": "PLAIN",
                "TRIAGE_KAFKA_SASL_USERNAME": "u",
            },
            ["TRIAGE_KAFKA_SASL_PASSWORD"],
        ),
        (
            {"TRIAGE_KAFKA_SASL_USERNAME": "u"},
            ["TRIAGE_KAFKA_SECURITY_PROTOCOL=PLAINTEXT", "SASL_SSL"],
        ),
        ({"TRIAGE_KAFKA_SSL_CA_FILE": "/nope/ca.pem"}, ["SSL or SASL_SSL"]),
        (
            {"TRIAGE_KAFKA_SECURITY_PROTOCOL": "SSL", "TRIAGE_KAFKA_SSL_CA_FILE": "/nope/ca.pem"},
            ["TRIAGE_KAFKA_SSL_CA_FILE=/nope/ca.pem is not a readable file"],
        ),
        ({"TRIAGE_REDIS_SSL_CA_FILE": "__CA__"}, ["rediss://"]),
    ],
)
def test_a_configuration_that_cannot_work_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path, env: dict[str, str], names: list[str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value.replace("__CA__", str(ca_file)))
    with pytest.raises(ConnectionConfigError) as caught:
        ConnectionSettings(_env_file=None)  # type: ignore[call-arg]
    for name in names:
        assert name in str(caught.value)


def test_an_unknown_protocol_or_mechanism_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("TRIAGE_KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ValidationError) as caught:
        ConnectionSettings(_env_file=None)  # type: ignore[call-arg]
    assert "kafka_security_protocol" in str(caught.value)
