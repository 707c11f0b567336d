"""The JSON API's contract, fault by fault (issue 18): each fault schemathesis found against
`triage web` is reproduced here first, then the OpenAPI document is checked for what a client
generator or a fuzzer needs (one error model, enums, security schemes, links). Real SQLite
store, the session's redis and broker, as the other web tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from models import read_manifest
from tests.web.conftest import API_TOKEN, WebEnv, sign_in
from tests.web.events import decision
from web.errors import ErrorOut

pytestmark = pytest.mark.integration

BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
ERROR_KEYS = {"code", "message", "field"}


def error(response: Any, status: int, code: str, field: str | None = None) -> str:
    """Asserts ``response`` is the API's error model with this status, code and field; returns
    its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= ERROR_KEYS, body
    ErrorOut.model_validate(body)
    assert (body["code"], body["field"]) == (code, field), body
    message: str = body["message"]
    return message


def no_model(web_env: WebEnv, tmp_path: Path) -> TestClient:
    """A client of the web with an empty registry and TRIAGE_MODEL_DIR pointing nowhere."""
    settings = web_env.settings.model_copy(update={"model_dir": tmp_path / "models" / "current"})
    return web_env.client(settings=settings)


def test_no_model_deployed_is_503_naming_the_fix_never_500(web_env: WebEnv, tmp_path: Path) -> None:
    web_env.store.add_decision(decision("t1"))
    with no_model(web_env, tmp_path) as client:
        labels = client.get("/api/labels", headers=BEARER)
        heads = client.get("/api/heads", headers=BEARER)
        versions = client.get("/api/predict/versions", headers=BEARER)
        decided = client.post(
            "/api/decisions", json={"ticket_id": "t1", "label": "cards"}, headers=BEARER
        )
    for answer in (labels, heads, versions, decided):
        message = error(answer, 503, "model_unavailable")
        assert "does not exist" in message
        assert "TRIAGE_MODEL_DIR" in message
    assert web_env.store.unused_corrections_count() == 0


def test_routed_is_not_a_queue_band_in_the_schema_nor_the_answer(web_env: WebEnv) -> None:
    with web_env.client() as client:
        routed = client.get("/api/queue", params={"band": "routed"}, headers=BEARER)
        band = client.get("/api/openapi.json").json()["paths"]["/api/queue"]["get"]
    message = error(routed, 422, "invalid", "query.band")
    assert "'shadow' or 'manual'" in message
    (param,) = [p for p in band["parameters"] if p["name"] == "band"]
    assert param["schema"]["anyOf"][0]["enum"] == ["shadow", "manual"]


def test_validation_errors_are_the_error_model_naming_the_first_field(web_env: WebEnv) -> None:
    with web_env.client() as client:
        many = client.get("/api/queue", params={"n": 0, "band": "x"}, headers=BEARER)
        missing = client.post("/api/decisions", json={"label": "fx"}, headers=BEARER)
        not_json = client.post(
            "/api/decisions",
            content=b'{"ticket_id": ',
            headers={**BEARER, "Content-Type": "application/json"},
        )
    message = error(many, 422, "invalid", "query.n")
    assert "query.n: Input should be greater than or equal to 1" in message
    assert "query.band:" in message
    assert "body.ticket_id: Field required" in error(missing, 422, "invalid", "body.ticket_id")
    assert "not JSON" in error(not_json, 400, "malformed_body")


def test_a_body_that_is_not_utf8_is_a_documented_400(web_env: WebEnv) -> None:
    with web_env.client() as client:
        bad = client.post(
            "/api/decisions",
            content=b"\xffH\x184",
            headers={**BEARER, "Content-Type": "application/json"},
        )
        schema = client.get("/api/openapi.json").json()
    assert "UTF-8 JSON" in error(bad, 400, "malformed_body")
    for path, verb in [
        ("/api/decisions", "post"),
        ("/api/predict", "post"),
        ("/api/corrections/quarantine", "post"),
    ]:
        assert "400" in schema["paths"][path][verb]["responses"], path


def test_refusals_of_auth_role_and_csrf_carry_their_codes(web_env: WebEnv) -> None:
    web_env.store.add_decision(decision("t1"))
    body = {"ticket_id": "t1", "label": "cards"}
    with web_env.client() as client:
        nobody = client.post("/api/decisions", json=body)
        assert nobody.headers["www-authenticate"] == "Bearer"
        error(nobody, 401, "unauthenticated")
        sign_in(client, "olga")
        no_csrf = client.post("/api/decisions", json=body)
        error(no_csrf, 403, "csrf_failed", "header.X-CSRF-Token")
        nowhere = client.get("/api/nothing-here", headers=BEARER)
        error(nowhere, 404, "not_found")
        wrong_verb = client.put("/api/queue", headers=BEARER)
        error(wrong_verb, 405, "method_not_allowed")
        assert wrong_verb.headers["allow"] == "GET"


def test_domain_refusals_name_their_field(web_env: WebEnv, tfidf_model_dir: Path) -> None:
    label = read_manifest(tfidf_model_dir).labels[0]
    web_env.store.add_decision(decision("t1", label))
    web_env.store.add_decision(decision("auto", label, band="routed"))
    with web_env.client() as client:
        routed = client.post(
            "/api/decisions", json={"ticket_id": "auto", "label": label}, headers=BEARER
        )
        astrology = client.post(
            "/api/decisions", json={"ticket_id": "t1", "label": "astrology"}, headers=BEARER
        )
        crossed = client.get(
            "/api/predict/band",
            params={"confidence": 0.5, "route": 0.5, "shadow": 0.7},
            headers=BEARER,
        )
    assert "not in the review queue" in error(routed, 404, "not_reviewable", "body.ticket_id")
    assert label in error(astrology, 422, "unknown_label", "body.label")
    assert "shadow must not be above route" in error(
        crossed, 422, "thresholds_crossed", "query.shadow"
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"run": 10988094788871202537472}, "body.run"),  # once a 500: past SQL's integers
        ({"run": False}, "body.run"),  # once accepted as run 0
        ({"run": "3"}, "body.run"),
        ({"reviewer": "ana", "reason": " \x1c\u3000"}, "body.reason"),  # blank to str.strip
        ({"correction_ids": []}, "body"),  # selects nothing
    ],
)
def test_a_change_of_corrections_is_read_as_its_schema_says(
    web_env: WebEnv, change: dict[str, Any], field: str
) -> None:
    admin = web_env.settings.web_tokens["helpdesk"].model_copy(update={"role": "admin"})
    settings = web_env.settings.model_copy(update={"web_tokens": {"root": admin}})
    with web_env.client(settings=settings) as client:
        refused = client.post(
            "/api/corrections/quarantine", json={"reason": "why", **change}, headers=BEARER
        )
    error(refused, 422, "invalid", field)


@pytest.mark.parametrize("run", ["10988094788871202537472", "0"])
def test_listing_corrections_of_an_impossible_run_is_422_not_500(web_env: WebEnv, run: str) -> None:
    admin = web_env.settings.web_tokens["helpdesk"].model_copy(update={"role": "admin"})
    settings = web_env.settings.model_copy(update={"web_tokens": {"root": admin}})
    with web_env.client(settings=settings) as client:
        refused = client.get("/api/corrections", params={"run": run}, headers=BEARER)
    error(refused, 422, "invalid", "query.run")


def test_an_integral_float_is_an_integer_as_json_schema_says(web_env: WebEnv) -> None:
    admin = web_env.settings.web_tokens["helpdesk"].model_copy(update={"role": "admin"})
    settings = web_env.settings.model_copy(update={"web_tokens": {"root": admin}})
    with web_env.client(settings=settings) as client:
        done = client.post(
            "/api/corrections/quarantine", json={"run": 34.0, "reason": "why"}, headers=BEARER
        )
    assert done.status_code == 200, done.text
    assert done.json() == {"changed": [], "audit_id": None}


def schema_of(web_env: WebEnv) -> dict[str, Any]:
    with web_env.client() as client:
        found: dict[str, Any] = client.get("/api/openapi.json").json()
    return found


def operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{verb.upper()} {path}", op)
        for path, item in schema["paths"].items()
        for verb, op in item.items()
    ]


def test_every_error_response_documents_the_error_model(web_env: WebEnv) -> None:
    schema = schema_of(web_env)
    assert set(schema["components"]["schemas"]["ErrorOut"]["required"]) == {"code", "message"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for name, op in operations(schema):
        for status, response in op["responses"].items():
            if int(status) < 400 or name == "GET /readyz":
                continue
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in {"ErrorOut", "ReviewedOut"}, (name, status)
    reads_the_model = {
        "GET /api/labels",
        "GET /api/heads",
        "POST /api/decisions",
        "POST /api/predict",
        "GET /api/predict/versions",
    }
    for name, op in operations(schema):
        assert ("503" in op["responses"]) is (name in reads_the_model | {"GET /readyz"}), name


def test_security_schemes_are_declared_and_applied(web_env: WebEnv) -> None:
    schema = schema_of(web_env)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert (schemes["cookie"]["in"], schemes["cookie"]["name"]) == ("cookie", "triage_session")
    open_ops = {"GET /metrics", "GET /healthz", "GET /readyz"}
    for name, op in operations(schema):
        if name in open_ops:
            assert "security" not in op, name
        else:
            assert op["security"] == [{"bearer": []}, {"cookie": []}], name
            assert "401" in op["responses"], name


def test_links_lead_from_listings_to_the_operations_that_act(web_env: WebEnv) -> None:
    schema = schema_of(web_env)
    ids = {op["operationId"] for _, op in operations(schema)}

    def links(path: str) -> dict[str, Any]:
        found: dict[str, Any] = schema["paths"][path]["get"]["responses"]["200"]["links"]
        return found

    confirm = links("/api/queue")["ConfirmFirst"]
    assert confirm["operationId"] == "decide"
    assert confirm["requestBody"]["ticket_id"] == "$response.body#/0/ticket_id"
    assert links("/api/labels")["QueueOfFirst"]["parameters"] == {"label": "$response.body#/0"}
    assert links("/api/predict/versions")["TryFirst"]["operationId"] == "predict"
    acting = {link["operationId"] for link in links("/api/corrections").values()}
    assert acting == {"quarantine", "release", "delete_corrections"}
    every = [
        link["operationId"]
        for _, op in operations(schema)
        for link in op["responses"].get("200", {}).get("links", {}).values()
    ]
    assert set(every) <= ids
