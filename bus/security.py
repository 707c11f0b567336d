"""Connection security, built once from the settings and handed identically to every client.

faust, aiokafka and redis each want the same facts in their own shape. :class:`KafkaSecurity`
holds them once; :meth:`KafkaSecurity.aiokafka_options` and :meth:`KafkaSecurity.faust_credentials`
are the only two translations, so a consumer can never be configured differently from the
producer beside it. Checks run when the settings are read, so a wrong value stops the service at
start with the setting's name, not with a client traceback at the first connection.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr

from bus.exceptions import ConnectionConfigError


class SecuritySettings(Protocol):
    """The settings these functions read (``bus.settings.ConnectionSettings`` has them all);
    a protocol, so the settings module can import this one without a cycle back."""

    @property
    def kafka_security_protocol(self) -> str: ...
    @property
    def kafka_sasl_mechanism(self) -> str | None: ...
    @property
    def kafka_sasl_username(self) -> str | None: ...
    @property
    def kafka_sasl_password(self) -> SecretStr | None: ...
    @property
    def kafka_ssl_ca_file(self) -> Path | None: ...
    @property
    def kafka_ssl_cert_file(self) -> Path | None: ...
    @property
    def kafka_ssl_key_file(self) -> Path | None: ...
    @property
    def kafka_ssl_key_password(self) -> SecretStr | None: ...
    @property
    def redis_url(self) -> str: ...
    @property
    def redis_ssl_ca_file(self) -> Path | None: ...


_SASL = ("SASL_PLAINTEXT", "SASL_SSL")
_TLS = ("SSL", "SASL_SSL")


def check_security(settings: SecuritySettings) -> None:
    """Refuse an incomplete or contradictory security configuration, naming the fix."""
    protocol = settings.kafka_security_protocol
    if protocol in _SASL:
        missing = [
            name
            for name, value in (
                ("TRIAGE_KAFKA_SASL_MECHANISM", settings.kafka_sasl_mechanism),
                ("TRIAGE_KAFKA_SASL_USERNAME", settings.kafka_sasl_username),
                ("TRIAGE_KAFKA_SASL_PASSWORD", settings.kafka_sasl_password),
            )
            if not value
        ]
        if missing:
            raise ConnectionConfigError(
                f"TRIAGE_KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}; set them "
                "(your cluster's API key and secret) or use SSL/PLAINTEXT"
            )
    elif settings.kafka_sasl_mechanism or settings.kafka_sasl_username:
        raise ConnectionConfigError(
            f"TRIAGE_KAFKA_SASL_* is set but TRIAGE_KAFKA_SECURITY_PROTOCOL={protocol} sends no "
            "credentials; set it to SASL_SSL (or SASL_PLAINTEXT) or unset the SASL settings"
        )
    tls_files = {
        "TRIAGE_KAFKA_SSL_CA_FILE": settings.kafka_ssl_ca_file,
        "TRIAGE_KAFKA_SSL_CERT_FILE": settings.kafka_ssl_cert_file,
        "TRIAGE_KAFKA_SSL_KEY_FILE": settings.kafka_ssl_key_file,
    }
    given = {name: path for name, path in tls_files.items() if path is not None}
    if given and protocol not in _TLS:
        raise ConnectionConfigError(
            f"{', '.join(given)} set but TRIAGE_KAFKA_SECURITY_PROTOCOL={protocol} does not use "
            "TLS; set it to SSL or SASL_SSL"
        )
    for name, path in given.items():
        _readable(name, path)
    if (settings.kafka_ssl_cert_file is None) != (settings.kafka_ssl_key_file is None):
        raise ConnectionConfigError(
            "mutual TLS needs both TRIAGE_KAFKA_SSL_CERT_FILE and TRIAGE_KAFKA_SSL_KEY_FILE; "
            "set both or neither"
        )
    if settings.redis_ssl_ca_file is not None:
        _readable("TRIAGE_REDIS_SSL_CA_FILE", settings.redis_ssl_ca_file)
        if not settings.redis_url.startswith("rediss://"):
            raise ConnectionConfigError(
                "TRIAGE_REDIS_SSL_CA_FILE is set but TRIAGE_REDIS_URL is not rediss://; "
                "use rediss://host:port/0 for TLS"
            )


def _reveal(secret: SecretStr | None) -> str | None:
    """The secret's value, for the client that sends it (never for a log line)."""
    return secret.get_secret_value() if secret is not None else None


def _readable(name: str, path: Path) -> None:
    if not path.is_file():
        raise ConnectionConfigError(f"{name}={path} is not a readable file; check the path")


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client of a service authenticates; passwords never appear in repr."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: str | None = None

    @classmethod
    def from_settings(cls, settings: SecuritySettings) -> KafkaSecurity:
        return cls(
            protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username,
            password=_reveal(settings.kafka_sasl_password),
            ca_file=settings.kafka_ssl_ca_file,
            cert_file=settings.kafka_ssl_cert_file,
            key_file=settings.kafka_ssl_key_file,
            key_password=_reveal(settings.kafka_ssl_key_password),
        )

    def __repr__(self) -> str:
        return (
            f"KafkaSecurity(protocol={self.protocol}, sasl={self.sasl_mechanism}, "
            f"user={self.username})"
        )

    @property
    def uses_tls(self) -> bool:
        return self.protocol in _TLS

    def ssl_context(self) -> ssl.SSLContext | None:
        """Verifying context (hostname included) or None for plaintext."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None
        )
        if self.cert_file is not None and self.key_file is not None:
            try:
                context.load_cert_chain(self.cert_file, self.key_file, self.key_password)
            except (ssl.SSLError, OSError) as exc:
                raise ConnectionConfigError(
                    f"cannot load TRIAGE_KAFKA_SSL_CERT_FILE={self.cert_file} with its key "
                    f"({exc}); check that the key matches the certificate"
                ) from exc
        return context

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer/Consumer/AdminClient."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.protocol in _SASL:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.username,
                sasl_plain_password=self.password,
            )
        return options

    def faust_credentials(self) -> Any:
        """faust's ``broker_credentials`` (faust turns them into the same aiokafka options)."""
        import faust

        if self.protocol in _SASL:
            return faust.SASLCredentials(
                username=self.username,
                password=self.password,
                mechanism=self.sasl_mechanism,
                ssl_context=self.ssl_context(),
            )
        if self.protocol == "SSL":
            return faust.SSLCredentials(self.ssl_context())
        return None


def redis_options(settings: SecuritySettings) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis.from_url`` (sync and asyncio alike)."""
    if settings.redis_ssl_ca_file is not None:
        return {"ssl_ca_certs": str(settings.redis_ssl_ca_file)}
    return {}
