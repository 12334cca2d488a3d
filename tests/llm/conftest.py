"""The LLM pipeline against a scripted OpenAI-compatible server on a loopback port, through the real SDK."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from maintbot.app import create_app
from maintbot.inprocess import in_process_client
from maintbot.testing.scripted_llm import Script, ScriptedLlm

ServiceFactory = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, ScriptedLlm]]]


@pytest.fixture
def llm_service(make_settings: Any) -> ServiceFactory:
    """`async with llm_service(script, engine="llm", **settings) as (client, llm)`: the service in
    process, its LLM the scripted server."""

    @asynccontextmanager
    async def start(
        script: Script, *, latency_s: float = 0.0, **overrides: Any
    ) -> AsyncIterator[tuple[httpx.AsyncClient, ScriptedLlm]]:
        async with ScriptedLlm(script, latency_s=latency_s) as llm:
            values: dict[str, Any] = {
                "engine": "llm",
                "openai_api_key": "sk-scripted",
                "openai_base_url": llm.base_url,
                "llm_model": "scripted-model",
            }
            app = create_app(make_settings(**(values | overrides)))
            async with in_process_client(app) as client:
                yield client, llm

    return start


@pytest.fixture
def llm_http_service(
    make_settings: Any,
) -> Callable[..., AbstractAsyncContextManager[tuple[str, ScriptedLlm]]]:
    """Like `llm_service`, but the service runs in uvicorn on a loopback port (real HTTP: a client can
    hang up mid-stream); yields its base URL."""

    @asynccontextmanager
    async def start(
        script: Script, *, latency_s: float = 0.0, **overrides: Any
    ) -> AsyncIterator[tuple[str, ScriptedLlm]]:
        async with ScriptedLlm(script, latency_s=latency_s) as llm:
            values: dict[str, Any] = {
                "engine": "llm",
                "openai_api_key": "sk-scripted",
                "openai_base_url": llm.base_url,
                "llm_model": "scripted-model",
            }
            app = create_app(make_settings(**(values | overrides)))
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
            serving = asyncio.create_task(server.serve())
            while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
                await asyncio.sleep(0.02)
            try:
                yield f"http://127.0.0.1:{port}", llm
            finally:
                server.should_exit = True
                await serving

    return start
