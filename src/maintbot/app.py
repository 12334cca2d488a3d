"""The FastAPI application: `create_app()` builds it; the lifespan builds and disposes what it uses.

uvicorn runs it as a factory: `uvicorn maintbot.app:create_app --factory` (or `maintbot serve`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import structlog
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi_offline import FastAPIOffline

from maintbot import __version__
from maintbot.api import chat, health, metrics, sessions
from maintbot.api.errors import install_error_handlers
from maintbot.cmms.demo_data import ensure_demo_database
from maintbot.deps import State, require_api_key
from maintbot.engine.factory import build_engine
from maintbot.logging import RequestIdMiddleware, configure_logging
from maintbot.metrics import HttpMetricsMiddleware
from maintbot.settings import Settings, load_settings
from maintbot.sql.maintenance import open_maintenance_database
from maintbot.state.database import make_sessionmaker, open_state_database

log = structlog.get_logger(__name__)

_DESCRIPTION = """\
Ask maintenance (CMMS) questions in English or Spanish — *"¿Cuántos equipos críticos hay en Bogotá?"*,
*"Top 3 sites by maintenance cost this year"* — and get the answer in your language, the SQL that produced
it and its table. Conversations keep their context, so follow-ups ("And in Madrid?") work.

When the service is configured with API keys, every `/api/` route needs the `X-API-Key` header.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; settings are read from the environment when not given."""
    settings = settings if settings is not None else load_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        async with open_resources(settings) as state:
            yield state

    app = FastAPIOffline(
        title="MaintBot",
        version=__version__,
        summary="Maintenance questions in English or Spanish, answered from your CMMS database.",
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    _add_middleware(app, settings)
    api_auth = [Depends(require_api_key)]
    app.include_router(chat.router, dependencies=api_auth)
    app.include_router(sessions.router, dependencies=api_auth)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.add_api_route("/", _home, include_in_schema=False)
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    # Added last runs first: request ids are bound before metrics and CORS see the request.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)


async def _home() -> RedirectResponse:
    return RedirectResponse("/docs")


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[State]:
    """Everything the app needs while it runs, closed in reverse order when it stops."""
    async with AsyncExitStack() as stack:
        if settings.uses_demo_database:
            created = await ensure_demo_database(
                settings.demo_database_path, seed=settings.demo_seed, scale=settings.demo_scale
            )
            if created:
                log.info("demo_database_written", path=str(settings.demo_database_path))
        state_engine = await open_state_database(settings.state_database_url)
        stack.push_async_callback(state_engine.dispose)
        await anyio.Path(settings.artifact_path).mkdir(parents=True, exist_ok=True)
        executor, guard = await stack.enter_async_context(open_maintenance_database(settings))
        engine = await build_engine(settings=settings, guard=guard, executor=executor)
        log.info("maintbot_started", engine=engine.name, dialect=executor.dialect)
        yield State(
            settings=settings,
            state_engine=state_engine,
            state_sessions=make_sessionmaker(state_engine),
            executor=executor,
            guard=guard,
            engine=engine,
        )
