"""The FastAPI application: `create_app()` builds it; the lifespan builds and disposes what it uses.

uvicorn runs it as a factory: `uvicorn maintbot.app:create_app --factory` (or `maintbot serve`).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from maintbot import __version__
from maintbot.api import artifacts, chat, examples, health, metrics, sessions
from maintbot.api.errors import API_ERROR_RESPONSES, install_error_handlers
from maintbot.api.web import install_web_page
from maintbot.artifacts.jobs import open_artifact_jobs
from maintbot.cmms.demo_data import ensure_demo_database
from maintbot.deps import State, enforce_rate_limit, require_api_key
from maintbot.engine.factory import build_answerer
from maintbot.logging import RequestIdMiddleware, configure_logging
from maintbot.metrics import HttpMetricsMiddleware
from maintbot.rate_limit import RateLimiter
from maintbot.settings import Settings, load_settings
from maintbot.shared_redis import open_shared_redis
from maintbot.sql.maintenance import open_maintenance_database
from maintbot.sql.runner import QueryRunner
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
    # The rate limit counts a client by its API key, so it runs after the key is checked.
    api_auth = [Depends(require_api_key), Depends(enforce_rate_limit)]
    api_errors = API_ERROR_RESPONSES
    app.include_router(chat.router, dependencies=api_auth, responses=api_errors)
    app.include_router(sessions.router, dependencies=api_auth, responses=api_errors)
    app.include_router(examples.router, dependencies=api_auth, responses=api_errors)
    app.include_router(artifacts.router, dependencies=api_auth, responses=api_errors)
    app.include_router(health.router)
    app.include_router(metrics.router)
    install_web_page(app)
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    # Added last runs first: request ids are bound before metrics and CORS see the request.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"],
        )
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)


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
        state_engine = await open_state_database(
            settings.state_database_url, timeout_s=settings.state_timeout_s
        )
        stack.push_async_callback(state_engine.dispose)
        state_sessions = make_sessionmaker(state_engine)
        # Stopped before the state DB is disposed: renders in progress store their results first.
        artifact_jobs = await stack.enter_async_context(
            open_artifact_jobs(settings=settings, sessions=state_sessions)
        )
        executor, guard = await stack.enter_async_context(open_maintenance_database(settings))
        # Closed after everything that uses it (the LLM client, below), since the stack closes in reverse.
        redis = await stack.enter_async_context(open_shared_redis(settings))
        answerer = await build_answerer(
            settings=settings, runner=QueryRunner(guard=guard, executor=executor), stack=stack, redis=redis
        )
        log.info("maintbot_started", engine=answerer.mode.value, dialect=executor.dialect)
        # Everything built so far (modules, the domain, prompts, caches' skeletons) lives as long as the
        # process: keep it out of the garbage collector's full passes, which otherwise walk it every time
        # and stall the event loop for tens of milliseconds under load.
        gc.freeze()
        yield State(
            settings=settings,
            state_engine=state_engine,
            state_sessions=state_sessions,
            executor=executor,
            guard=guard,
            answerer=answerer,
            artifact_jobs=artifact_jobs,
            redis=redis,
            rate_limiter=RateLimiter.from_settings(settings, redis=redis),
        )
