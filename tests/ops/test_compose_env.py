"""docker-compose.yml and .env.example speak the settings classes' language (issue 13).

A variable the service does not read is a setting the operator believes in and the service
ignores (compose once set TRIAGE_WEB_SECRET_KEY while the web read TRIAGE_SECRET_KEY, so the web
refused to start). The names are derived from the settings classes, not listed here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic_settings import BaseSettings

from learner.settings import LearnerSettings
from stream.settings import WorkerSettings
from web.settings import WebSettings

REPO = Path(__file__).resolve().parents[2]
#: compose service -> the settings class its command reads (init sets up the learner's world)
SERVICES: dict[str, type[BaseSettings]] = {
    "init": LearnerSettings,
    "worker": WorkerSettings,
    "learner": LearnerSettings,
    "web": WebSettings,
}


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def required_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{n}".upper() for n, f in settings.model_fields.items() if f.is_required()}


def compose() -> dict[str, dict[str, object]]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))["services"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_triage_variable_is_read_by_the_service(service: str) -> None:
    given = set(compose()[service].get("environment", {}))  # type: ignore[arg-type]
    unknown = {n for n in given if n.startswith("TRIAGE_")} - env_names(SERVICES[service])
    assert not unknown, f"{service} is given settings it does not read: {sorted(unknown)}"
    missing = required_names(SERVICES[service]) - given
    assert not missing, f"{service} would refuse to start without {sorted(missing)}"


def test_env_example_names_only_what_compose_uses() -> None:
    text = (REPO / "docker-compose.yml").read_text("utf-8")
    referenced = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert example <= referenced, f".env.example sets unused {sorted(example - referenced)}"
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    assert required <= example, f".env.example lacks required {sorted(required - example)}"


def test_compose_shape_for_production() -> None:
    services = compose()
    for name in ("init", "worker", "learner", "web"):
        assert "healthcheck" in services[name] or name == "init", name
    for name in ("worker", "learner", "web"):
        probe = " ".join(services[name]["healthcheck"]["test"])  # type: ignore[index]
        assert "/readyz" in probe, f"{name}'s health check must use its readiness probe"
        assert "stop_grace_period" in services[name]
        assert services[name]["depends_on"]["init"]["condition"] == (  # type: ignore[index]
            "service_completed_successfully"
        )
    kafka_env = services["kafka"]["environment"]
    kafka_volume = services["kafka"]["volumes"][0].split(":")[1]  # type: ignore[index]
    assert kafka_env["KAFKA_LOG_DIRS"] == kafka_volume  # type: ignore[index]
    replicas = services["worker"]["deploy"]["replicas"]  # type: ignore[index]
    assert replicas <= int(services["worker"]["environment"]["TRIAGE_PARTITIONS"])  # type: ignore[index]
    assert services["web"]["environment"]["TRIAGE_SECURE_COOKIES"] == "true"  # type: ignore[index]


def test_the_image_copies_every_package() -> None:
    """The Dockerfile builds the wheel from the whole tree (.dockerignore keeps junk out)."""
    dockerfile = (REPO / "Dockerfile").read_text("utf-8")
    assert "COPY . ." in dockerfile
    assert "pip wheel" in dockerfile
    ignored = (REPO / ".dockerignore").read_text("utf-8").split()
    packages = [p.name for p in REPO.iterdir() if (p / "__init__.py").is_file()]
    assert not set(packages) & set(ignored)


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """`docker-compose config` validates the file against compose's schema (no engine needed)."""
    import shutil
    import subprocess

    compose_cli = shutil.which("docker-compose")
    if compose_cli is None:
        pytest.skip("docker-compose not installed (`make tools` installs Debian's)")
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "REDIS_PASSWORD=r\nPOSTGRES_PASSWORD=p\nTRIAGE_SECRET_KEY=k\nTRIAGE_WEB_USERS={}\n", "utf-8"
    )
    result = subprocess.run(
        [compose_cli, "-f", str(REPO / "docker-compose.yml"), "--env-file", str(dotenv),
         "config", "-q"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
