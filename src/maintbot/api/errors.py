"""The one place errors become responses: `{"error": code, "detail": sentence}`, never a stack trace."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from maintbot.errors import MaintBotError
from maintbot.schemas import ErrorBody

log = structlog.get_logger(__name__)

# Error codes for the HTTP errors Starlette raises itself (unknown route, wrong method…).
_HTTP_CODES = {
    400: ("BadRequest", "The request could not be read."),
    404: ("NotFound", "There is nothing at this address."),
    405: ("MethodNotAllowed", "This address does not accept that method."),
}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with the same JSON shape and the right status."""
    app.add_exception_handler(MaintBotError, _maintbot_error)
    # The executor turns the maintenance DB's errors into its own; a raw DBAPIError here is the state DB.
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(ConnectionError, _database_unavailable)
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
    code, sentence = _HTTP_CODES.get(exc.status_code, ("HTTPError", str(exc.detail)))
    return error_response(status_code=exc.status_code, error=code, detail=sentence, headers=exc.headers)


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
