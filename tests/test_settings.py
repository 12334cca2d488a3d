"""Settings: bad values name their variable; optional API keys guard every /api/ route."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from typer.testing import CliRunner

from maintbot.app import create_app
from maintbot.cli import cli
from maintbot.inprocess import in_process_client
from maintbot.settings import EngineMode, Settings, SettingsError, load_settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAINTBOT_ROW_CAP", "0"),
        ("MAINTBOT_PORT", "not-a-port"),
        ("MAINTBOT_RATE_LIMIT", "lots"),
        ("MAINTBOT_LOG_FORMAT", "xml"),
        ("MAINTBOT_ENGINE", "quantum"),
    ],
)
def test_a_bad_value_fails_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_the_engine_is_local_without_an_api_key() -> None:
    assert load_settings().engine_mode is EngineMode.LOCAL


def test_an_llm_engine_without_a_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINTBOT_ENGINE", "llm")

    with pytest.raises(SettingsError, match="OPENAI_API_KEY"):
        load_settings()


def test_api_keys_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINTBOT_API_KEYS", " first-key, second-key ,")

    keys = load_settings().api_keys

    assert [key.get_secret_value() for key in keys] == ["first-key", "second-key"]
    assert "first-key" not in repr(keys)


def test_the_cli_prints_the_bad_variable_and_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINTBOT_ROW_CAP", "-5")

    result = CliRunner().invoke(cli, ["ask", "hello"])

    assert result.exit_code == 2
    assert "MAINTBOT_ROW_CAP" in result.output
    assert "Traceback" not in result.output


@pytest.fixture
async def guarded_client(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(api_keys="right-key,other-key"))
    async with in_process_client(app) as client:
        yield client


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong-key"}, {"X-API-Key": ""}])
async def test_api_routes_need_a_valid_key_when_keys_are_set(
    guarded_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for response in (
        await guarded_client.post("/api/v1/chat", json={"message": "Hello"}, headers=headers),
        await guarded_client.get("/api/v1/sessions", headers=headers),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == "Unauthorized"


@pytest.mark.parametrize("key", ["right-key", "other-key"])
async def test_any_configured_key_opens_the_api(guarded_client: httpx.AsyncClient, key: str) -> None:
    response = await guarded_client.post(
        "/api/v1/chat", json={"message": "Hello"}, headers={"X-API-Key": key}
    )

    assert response.status_code == 200


async def test_probes_docs_and_metrics_need_no_key(guarded_client: httpx.AsyncClient) -> None:
    for path in ("/health/live", "/health/ready", "/metrics", "/docs", "/openapi.json"):
        assert (await guarded_client.get(path)).status_code == 200, path


async def test_no_key_is_needed_when_none_is_configured(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/sessions")).status_code == 200


async def test_cors_allows_the_configured_origins_only(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(cors_origins="https://chat.example.com"))
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    async with in_process_client(app) as client:
        allowed = await client.options(
            "/api/v1/chat", headers={"Origin": "https://chat.example.com", **preflight}
        )
        refused = await client.options(
            "/api/v1/chat", headers={"Origin": "https://evil.example", **preflight}
        )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://chat.example.com"
    assert "access-control-allow-origin" not in refused.headers


def test_empty_variables_mean_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # Compose and Kubernetes pass unset variables as empty strings.
    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.setenv("MAINTBOT_ENGINE", "")

    settings = load_settings()

    assert settings.openai_api_key is None
    assert settings.engine_mode.value == "local"


def test_a_kubernetes_service_link_is_not_taken_for_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINTBOT_PORT", "tcp://10.0.0.1:8000")

    assert load_settings().port == 8000
