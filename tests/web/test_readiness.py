"""The web's /readyz answers for its dependencies and names the one that is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.conftest import WebEnv

pytestmark = pytest.mark.integration


def test_readyz_names_the_missing_model_then_is_ready(web_env: WebEnv, tmp_path: Path) -> None:
    with web_env.client() as client:
        assert client.get("/healthz").status_code == 200
        missing = client.get("/readyz")
        assert missing.status_code == 503
        assert missing.json()["failing"] == ["model"]
        assert "triage init" in missing.json()["checks"]["model"]

        web_env.store.register_candidate("v-ready", str(tmp_path / "v-ready"))
        web_env.store.mark_deployed("v-ready")
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.json()
        checks = ready.json()["checks"]
        assert set(checks) == {"database", "redis", "broker", "model"}
        assert checks["model"] == "ok: v-ready"
