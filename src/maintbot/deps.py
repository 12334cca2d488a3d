"""What route handlers receive: `Annotated` aliases over the objects the lifespan built."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, TypedDict, cast

from fastapi import Depends, Request, Response, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from maintbot.answering import Answerer
from maintbot.artifacts.jobs import ArtifactJobs
from maintbot.artifacts.service import ArtifactService
from maintbot.auth import key_fingerprint, matching_key
from maintbot.chat import ChatService, ChatStream
from maintbot.errors import Unauthorized
from maintbot.examples import ExampleService
from maintbot.rate_limit import RateLimiter
from maintbot.schemas import ARTIFACTS_PATH
from maintbot.settings import Settings
from maintbot.shared_redis import SharedRedis
from maintbot.sql.executor import ReadOnlyExecutor
from maintbot.sql.guard import SqlGuard


class State(TypedDict):
    """Everything long-lived, built once by the lifespan and disposed when the app stops."""

    settings: Settings
    state_engine: AsyncEngine
    state_sessions: async_sessionmaker[AsyncSession]
    executor: ReadOnlyExecutor
    guard: SqlGuard
    answerer: Answerer
    artifact_jobs: ArtifactJobs
    redis: SharedRedis | None
    rate_limiter: RateLimiter


# Dependencies are `async def` although they do no I/O: FastAPI runs plain `def` ones in a thread pool,
# which cost a thread hop each on every request.
def _state(request: Request) -> State:
    return cast(State, request.scope["state"])


async def lifespan_state(request: Request) -> State:
    """The lifespan's state, which the server copies into every request's scope."""
    return _state(request)


async def get_settings(request: Request) -> Settings:
    return _state(request)["settings"]


async def get_state_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A state-DB session that commits when the handler succeeds and rolls back when it fails."""
    async with _state(request)["state_sessions"]() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


async def get_answerer(request: Request) -> Answerer:
    return _state(request)["answerer"]


async def get_executor(request: Request) -> ReadOnlyExecutor:
    return _state(request)["executor"]


async def get_guard(request: Request) -> SqlGuard:
    return _state(request)["guard"]


SettingsDep = Annotated[Settings, Depends(get_settings)]
# "function" scope: the commit happens before the response is sent, so an acknowledged message is stored.
StateSessionDep = Annotated[AsyncSession, Depends(get_state_session, scope="function")]
AnswererDep = Annotated[Answerer, Depends(get_answerer)]
ExecutorDep = Annotated[ReadOnlyExecutor, Depends(get_executor)]
GuardDep = Annotated[SqlGuard, Depends(get_guard)]
LifespanStateDep = Annotated[State, Depends(lifespan_state)]


async def get_artifact_jobs(request: Request) -> ArtifactJobs:
    return _state(request)["artifact_jobs"]


ArtifactJobsDep = Annotated[ArtifactJobs, Depends(get_artifact_jobs)]


# Declared as a security scheme so that Swagger UI offers an "Authorize" button for it.
_API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Needed on /api/ routes when the service has API keys."
)


async def require_api_key(
    request: Request,
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Security(_API_KEY_HEADER)] = None,
) -> str | None:
    """When API keys are configured, refuse requests without one of them in `X-API-Key`.

    Returns the caller's owner name: the key's fingerprint, or None when the service has no keys. It is
    also kept on `request.state.owner` for the rate limiter and the logs.
    """
    owner: str | None = None
    if settings.api_keys:
        key = matching_key(x_api_key, settings.api_keys)
        if key is None:
            raise Unauthorized("A valid API key is required in the X-API-Key header.")
        owner = key_fingerprint(key)
    request.state.owner = owner
    return owner


# Resolved once per request (FastAPI caches a dependency within a request), so routes that declare it
# after the router-level check get the same value without comparing keys again.
OwnerDep = Annotated[str | None, Depends(require_api_key)]


async def enforce_rate_limit(request: Request, response: Response, owner: OwnerDep) -> None:
    """Count the request against its client's allowance (`MAINTBOT_RATE_LIMIT`); past it, a 429 with
    `Retry-After`. It needs the caller's key, so it runs after `require_api_key` (and never for a 401).

    Reading an artifact is not counted: a client waiting for a chart polls its state, which costs a row
    lookup, and must not spend the allowance its next question needs (nginx's per-address flood guard
    still bounds it)."""
    if request.method == "GET" and request.url.path.startswith(ARTIFACTS_PATH + "/"):
        return
    address = request.client.host if request.client is not None else None
    headers = await _state(request)["rate_limiter"].admit(owner=owner, address=address)
    response.headers.update(headers)


async def get_chat_service(
    settings: SettingsDep,
    db: StateSessionDep,
    answerer: AnswererDep,
    artifacts: ArtifactJobsDep,
    owner: OwnerDep,
) -> ChatService:
    return ChatService(
        db=db,
        answerer=answerer,
        max_message_chars=settings.max_message_chars,
        owner=owner,
        artifacts=artifacts,
    )


ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]


async def get_example_service(db: StateSessionDep, answerer: AnswererDep) -> ExampleService:
    return ExampleService(db=db, runner=answerer.runner, library=answerer.examples)


ExampleServiceDep = Annotated[ExampleService, Depends(get_example_service)]


async def get_chat_stream(settings: SettingsDep, request: Request, owner: OwnerDep) -> ChatStream:
    state = _state(request)
    return ChatStream(
        sessions=state["state_sessions"],
        answerer=state["answerer"],
        max_message_chars=settings.max_message_chars,
        owner=owner,
        artifacts=state["artifact_jobs"],
        keepalive_s=settings.stream_keepalive_s,
    )


ChatStreamDep = Annotated[ChatStream, Depends(get_chat_stream)]


async def get_artifact_service(
    db: StateSessionDep, jobs: ArtifactJobsDep, owner: OwnerDep
) -> ArtifactService:
    return ArtifactService(db=db, store=jobs.store, owner=owner)


ArtifactServiceDep = Annotated[ArtifactService, Depends(get_artifact_service)]
