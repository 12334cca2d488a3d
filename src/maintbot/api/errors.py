"""The one place errors become responses: `{"error": code, "detail": sentence}`, never a stack trace."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from maintbot.errors import MaintBotError
from maintbot.schemas import ErrorBody

log = structlog.get_logger(__name__)

# Error codes for the HTTP errors Starlette raises itself (unknown route, wrong method…).
_HTTP_CODES = {
    404: ("NotFound", "There is nothing at this address."),
    405: ("MethodNotAllowed", "This address does not accept that method."),
}

_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# The errors every `/api/` route may answer, documented once for all of them (a route's own `responses`
# add to these or refine their descriptions). It replaces FastAPI's default 422 schema, which is not ours.
API_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No valid `X-API-Key` (when the service has API keys)."},
    422: {"model": ErrorBody, "description": "The request is not valid (`InvalidRequest`)."},
    429: {"model": ErrorBody, "description": "Too many requests (`RateLimited`); `Retry-After` says when."},
    503: {"model": ErrorBody, "description": "A database the service needs is down; retry later."},
    504: {"model": ErrorBody, "description": "A query ran out of time (`QueryTimeout`); narrow it or retry."},
}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with the same JSON shape and the right status."""
    app.add_exception_handler(MaintBotError, _maintbot_error)
    # The executor turns the maintenance DB's errors into its own; a raw DBAPIError here is the state DB.
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(ConnectionError, _database_unavailable)
    # The state DB stopped answering: asyncpg's connect and statement timeouts (`MAINTBOT_STATE_TIMEOUT_S`)
    # and the pool's wait for a connection. Every other timeout is turned into the service's own errors.
    app.add_exception_handler(TimeoutError, _database_unavailable)
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


def error_response(
    *, status_code: int, error: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON error response in the API's one error shape."""
    body = ErrorBody(error=error, detail=detail).model_dump()
    return JSONResponse(body, status_code=status_code, headers=headers)


async def _maintbot_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MaintBotError)
    return error_response(status_code=exc.status_code, error=exc.code, detail=exc.detail, headers=exc.headers)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The state database (or its server) cannot be reached: the client may retry, so 503, not 500.
    log.error("database_unavailable", method=request.method, path=request.url.path, exc_info=exc)
    return error_response(
        status_code=503,
        error="ServiceUnavailable",
        detail="The service's database is not available right now. Please try again shortly.",
        headers={"Retry-After": "5"},
    )


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(
        status_code=422, error="InvalidRequest", detail=describe_validation_errors(exc.errors())
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode (not UTF-8): bad input, like a body that is not JSON.
        return error_response(
            status_code=422, error="InvalidRequest", detail="The request body is not valid JSON."
        )
    headers = exc.headers
    allowed = _allowed_methods(request) if exc.status_code == 405 else []
    if allowed:
        # Starlette names only the first route matching the path; a path served by several names them all.
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
    code, sentence = _HTTP_CODES.get(exc.status_code, ("HTTPError", str(exc.detail)))
    return error_response(status_code=exc.status_code, error=code, detail=sentence, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at the request's path (each route asked as the router would)."""
    routes = request.app.router.routes
    return [
        method
        for method in _HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The traceback stays in the server's log; the client learns only that something failed.
    log.error("unhandled_error", method=request.method, path=request.url.path, exc_info=exc)
    return error_response(status_code=500, error="InternalError", detail="An unexpected error occurred.")


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """One readable sentence per problem, naming the field: "'message' is required."."""
    sentences = [_describe(error) for error in errors]
    return " ".join(dict.fromkeys(sentences)) or "The request is not valid."


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    where = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
    if kind == "json_invalid":
        return "The request body is not valid JSON."
    if not where:
        if kind in ("missing", "model_attributes_type", "dict_type"):
            return "The request body must be a JSON object."
        return f"The request body is not valid: {error.get('msg', 'invalid value')}."
    field = ".".join(where)
    if kind == "missing":
        return f"'{field}' is required."
    if kind == "string_too_short":
        return f"'{field}' must not be empty."
    if kind in ("literal_error", "enum"):
        return f"'{field}' must be {error.get('ctx', {}).get('expected', 'one of the allowed values')}."
    return f"'{field}' is not valid: {_lower_first(error.get('msg', 'invalid value'))}."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
