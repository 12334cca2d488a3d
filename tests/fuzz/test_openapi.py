"""Every route in `/openapi.json`, fuzzed by schemathesis: no 5xx, and only documented answers.

Requests are generated from the app's own OpenAPI document (valid and invalid bodies, parameters and
headers) and sent to the app in this process, with its lifespan running. Each response must be a non-5xx
with a documented status code, a documented content type and headers, and a body that matches the
documented schema; invalid requests must be refused, valid ones accepted (see `BUSINESS_RULE_422`).

It runs on a service without API keys (random ids: the 404 paths) and on one with keys, where requests
carry a valid key and the path ids name a real conversation, answer and chart, so that the handlers behind
them run (file download and event stream included). On that service, schemathesis' `ignored_auth` check
resends requests without a key and with a wrong one and expects a refusal; separate tests check that every
`/api/` route answers a documented 401 to them, and that a client past the rate limit gets a documented 429.

Every operation of the document is fuzzed; none is excluded. `GET /` and `/static` are not in the
document (they serve the web page) and `/docs`, `/redoc`, `/openapi.json` are FastAPI's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.core.result import Ok
from schemathesis.python.asgi import get_client, shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from maintbot.app import create_app
from maintbot.settings import Settings

API_KEY = "fuzz-key-0123456789"
# Examples per route and phase: enough to find undocumented answers, bounded for the test suite.
MAX_EXAMPLES = 25
CHART_QUESTION = "failures per month in the last year"
SettingsFactory = Callable[..., Settings]
Case = schemathesis.Case[Any]

# Schema-valid requests that the service refuses by a rule a JSON schema cannot state, with a documented
# 422: SQL the guard refuses (in an example, or as the correction in feedback).
BUSINESS_RULE_422 = frozenset({"POST /api/v1/examples", "POST /api/v1/chat/{message_id}/feedback"})

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _fuzz_settings(make_settings: SettingsFactory, **overrides: Any) -> Settings:
    # Thousands of requests from one client: no rate limit in the way, and the longest question allowed.
    return make_settings(rate_limit="1000000/minute", max_message_chars=10_000, **overrides)


def _config(**extra: Any) -> schemathesis.Config:
    # The key is documented on every /api/ route: the tests send it themselves (or deliberately not).
    return schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}, **extra})


def _restore_node_id(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy schemas read `node._nodeid`, which pytest 9.2 renamed; give it one to read.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture
def open_api(
    make_settings: SettingsFactory, request: pytest.FixtureRequest
) -> Iterator[schemathesis.BaseSchema]:
    """The schema of a service without API keys, bound to the app (its lifespan started by schemathesis)."""
    _restore_node_id(request)
    app = create_app(_fuzz_settings(make_settings))
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())
    shutdown_lifespans()


@pytest.fixture
def keyed_api(
    make_settings: SettingsFactory, request: pytest.FixtureRequest
) -> Iterator[schemathesis.BaseSchema]:
    """The schema of a service with API keys, its path ids naming a real answer, chart and conversation."""
    _restore_node_id(request)
    app = create_app(_fuzz_settings(make_settings, api_keys=API_KEY))
    ids = _seed(app)
    operations = [
        # Deleting the conversation that holds the answer would turn every later route into a 404.
        {"include-name": "DELETE /api/v1/sessions/{session_id}", "parameters": {"session_id": ids["spare"]}}
    ]
    parameters = {key: ids[key] for key in ("session_id", "message_id", "artifact_id")}
    config = _config(parameters=parameters, operations=operations)
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    shutdown_lifespans()


@pytest.fixture
def keyed_api_unseeded(
    make_settings: SettingsFactory, request: pytest.FixtureRequest
) -> Iterator[schemathesis.BaseSchema]:
    _restore_node_id(request)
    app = create_app(_fuzz_settings(make_settings, api_keys=API_KEY))
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())
    shutdown_lifespans()


def _seed(app: FastAPI) -> dict[str, str]:
    """Ask a chart question and start a spare conversation; return their ids once the chart is ready."""
    # schemathesis' own ASGI client: the lifespan it starts is the one the fuzzing then uses.
    with get_client(cast(Any, app)) as client:
        client.headers["X-API-Key"] = API_KEY
        answered = client.post("/api/v1/chat", json={"message": CHART_QUESTION})
        created = client.post("/api/v1/sessions")
        assert (answered.status_code, created.status_code) == (200, 201), (answered.text, created.text)
        answer, spare = answered.json(), created.json()
        charts = [ref for ref in answer["artifacts"] if ref["kind"] == "chart"]
        assert charts, answer
        chart = charts[0]
        deadline = time.monotonic() + 60
        while client.get(chart["url"]).json()["status"] == "pending":
            assert time.monotonic() < deadline, "the chart was not drawn within a minute"
            time.sleep(0.1)
    return {
        "session_id": answer["session_id"],
        "message_id": answer["message_id"],
        "artifact_id": chart["id"],
        "spare": spare["id"],
    }


open_schema = schemathesis.pytest.from_fixture("open_api")
keyed_schema = schemathesis.pytest.from_fixture("keyed_api")


def _excluded_checks(case: Case) -> list[Any]:
    return [positive_data_acceptance] if case.operation.label in BUSINESS_RULE_422 else []


@open_schema.parametrize()
@FUZZ_SETTINGS
def test_without_api_keys_every_answer_is_documented(case: Case) -> None:
    # Requests without a key are served here, as they should be: that is not an ignored key.
    case.call_and_validate(excluded_checks=[ignored_auth, *_excluded_checks(case)])


@keyed_schema.parametrize()
@FUZZ_SETTINGS
def test_with_api_keys_every_answer_is_documented(case: Case) -> None:
    case.call_and_validate(headers={"X-API-Key": API_KEY}, excluded_checks=_excluded_checks(case))


@pytest.mark.parametrize(
    "key", [None, "", "wrong-key", API_KEY + "x"], ids=["none", "empty", "wrong", "longer"]
)
def test_without_a_valid_key_every_api_route_is_a_documented_401(
    keyed_api_unseeded: schemathesis.BaseSchema, key: str | None
) -> None:
    checked = []
    for result in keyed_api_unseeded.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if not operation.path.startswith("/api/"):
            continue
        path_parameters = {parameter.name: "x" for parameter in operation.path_parameters}
        case = operation.Case(path_parameters=path_parameters)
        headers = {} if key is None else {"X-API-Key": key}
        response = case.call(headers=headers)

        assert response.status_code == 401, (operation.label, response.status_code, response.text)
        assert response.json()["error"] == "Unauthorized"
        case.validate_response(
            response, checks=[status_code_conformance, content_type_conformance, response_schema_conformance]
        )
        checked.append(operation.label)
    assert len(checked) >= 12, checked


def test_past_the_rate_limit_every_api_route_is_a_documented_429(
    make_settings: SettingsFactory,
) -> None:
    app = create_app(make_settings(rate_limit="1/minute"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())
    try:
        sessions = schema["/api/v1/sessions"]["POST"]
        assert sessions.Case().call().status_code == 201
        response = sessions.Case().call()

        assert response.status_code == 429, response.text
        assert int(response.headers["retry-after"][0]) >= 1
        sessions.Case().validate_response(
            response, checks=[status_code_conformance, content_type_conformance, response_schema_conformance]
        )
    finally:
        shutdown_lifespans()
