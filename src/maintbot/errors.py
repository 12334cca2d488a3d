"""One error hierarchy; the API turns each into `{"error": code, "detail": sentence}` with its status."""

from __future__ import annotations


class MaintBotError(Exception):
    """Base of every error the service reports to a client."""

    status_code: int = 500
    code: str = "InternalError"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class InvalidRequest(MaintBotError):
    status_code = 422
    code = "InvalidRequest"


class NotFound(MaintBotError):
    status_code = 404
    code = "NotFound"


NO_SUCH_SESSION = "There is no session with this id."
NO_SUCH_ARTIFACT = "There is no artifact with this id."


class ArtifactNotReady(MaintBotError):
    """The artifact's file is still being made."""

    status_code = 409
    code = "ArtifactNotReady"


class ArtifactFailed(MaintBotError):
    """The artifact's file could not be made; it never will be."""

    status_code = 409
    code = "ArtifactFailed"


class Unauthorized(MaintBotError):
    status_code = 401
    code = "Unauthorized"


class RateLimited(MaintBotError):
    status_code = 429
    code = "RateLimited"


class DependencyUnavailable(MaintBotError):
    """A database or service the answer needs cannot be reached; the client may ask again later."""

    status_code = 503
    code = "ServiceUnavailable"
    # Seconds a client should wait before asking again, unless the raiser's own Retry-After says otherwise.
    retry_after_s = 5

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(self.retry_after_s), **(headers or {})})


class UnsafeSql(MaintBotError):
    """The SQL guard refused a statement; nothing ran."""

    status_code = 422
    code = "UnsafeSql"


class WriteAttempt(UnsafeSql):
    """The statement writes, changes the schema or the session: a request to change data, never a slip."""


class QueryTimeout(MaintBotError):
    """A statement ran past the statement timeout and was cancelled, or the database stopped answering
    mid-query: the database did not answer in time (504); a narrower question, or the same later, may."""

    status_code = 504
    code = "QueryTimeout"


class QueryFailed(MaintBotError):
    """The database refused a statement the guard accepted (the message is safe to show)."""

    status_code = 422
    code = "QueryFailed"
