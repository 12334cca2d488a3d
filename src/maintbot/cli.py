"""The `maintbot` command: serve the API, write the demo database, ask a question, measure accuracy,
migrate the state DB."""

from __future__ import annotations

import asyncio
import hashlib
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import httpx
import typer
import uvicorn
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from maintbot.app import create_app
from maintbot.cmms.demo_data import ensure_demo_database, write_demo_database
from maintbot.errors import MaintBotError
from maintbot.evaluation import EvalFileError, EvalItem, EvalReport, TurnFailed, evaluate, parse_items
from maintbot.inprocess import in_process_client
from maintbot.logging import configure_logging
from maintbot.metrics import reset_multiprocess_dir
from maintbot.schemas import ChatAnswer
from maintbot.settings import Settings, SettingsError, load_settings
from maintbot.sql.executor import sqlite_file_of
from maintbot.sql.maintenance import open_maintenance_database
from maintbot.sql.types import QueryResult
from maintbot.state.database import open_state_database
from maintbot.state.schema import head_revision, state_revision

cli = typer.Typer(
    help="MaintBot: maintenance (CMMS) questions in English or Spanish, answered from the database.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")
_TABLE_ROWS = 20


class AnswerLanguage(StrEnum):
    EN = "en"
    ES = "es"


def main() -> None:
    """Entry point of the `maintbot` console script."""
    cli()


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run async work from a command; expected failures print one line and exit, never a traceback."""
    try:
        return asyncio.run(work())
    except TurnFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except MaintBotError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    except httpx.HTTPError as exc:
        typer.echo(f"error: could not reach the service: {exc}", err=True)
        raise typer.Exit(1) from None
    except (SQLAlchemyError, OSError) as exc:
        # The driver's first line names the problem; the rest is the statement and its parameters.
        first_line = next(iter(str(exc).splitlines()), type(exc).__name__)
        typer.echo(f"error: {first_line}", err=True)
        raise typer.Exit(1) from None


def _load_settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _quiet(settings: Settings) -> Settings:
    # One-shot commands print their result on stdout; the service's info lines would only clutter it.
    # They print tables, not files: no chart or export, so no render processes to start and stop.
    no_artifacts = {"charts_enabled": False, "exports_enabled": False}
    # The in-process app has a single client, this command: a whole evaluation set must not hit the
    # per-client API rate limit meant for the network.
    no_limit = {"rate_limit": f"{10**9}/second"}
    return settings.model_copy(update={"log_level": "WARNING", **no_artifacts, **no_limit})


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: MAINTBOT_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: MAINTBOT_PORT].")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [default: MAINTBOT_WORKERS].")] = None,
) -> None:
    """Run the HTTP service (writing the demo database first when no database is configured)."""
    settings = _load_settings()
    configure_logging(settings)
    reset_multiprocess_dir()
    if settings.uses_demo_database:
        # Written here, once, so that several workers do not race to create it.
        _run(
            partial(
                ensure_demo_database,
                settings.demo_database_path,
                seed=settings.demo_seed,
                scale=settings.demo_scale,
            )
        )
    # uvicorn stops gracefully on SIGTERM, then raises the signal again once done; a graceful stop is a
    # success, so that second SIGTERM ends the process with status 0 instead of being killed by it.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "maintbot.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_config=None,
        # Behind nginx or an Ingress: the client's address (logs, per-client rate limits) is the one the
        # trusted proxy forwarded in X-Forwarded-For, not the proxy's own.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # With --workers, the supervisor replaces a worker that has not reported within this time. Importing
        # the app (matplotlib, sqlglot, alembic) takes a second or two, and over ten on a busy 2-core node;
        # uvicorn's 5 s default then kills healthy workers as they start.
        timeout_worker_healthcheck=60,
    )


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


@cli.command("demo-data")
def demo_data(
    target: Annotated[str, typer.Argument(help="A SQLite file path or a database URL.")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same rows.")] = 42,
    as_of: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="The data's 'today' [default: today].")
    ] = None,
    scale: Annotated[float, typer.Option(min=0.01, max=100, help="Multiplies the row counts.")] = 1.0,
) -> None:
    """Write the demo CMMS database and print how many rows each table got."""
    as_of_date: date | None = as_of.date() if as_of is not None else None
    counts = _run(partial(write_demo_database, target, seed=seed, as_of=as_of_date, scale=scale))
    for table, rows in counts.items():
        typer.echo(f"{table:<20} {rows:>10,}")


@cli.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in English or Spanish.")],
    session: Annotated[str | None, typer.Option(help="Continue this session (a follow-up).")] = None,
    language: Annotated[AnswerLanguage | None, typer.Option(help="Answer in this language.")] = None,
) -> None:
    """Ask one question through the HTTP API (in this process) and print the answer and its table."""
    settings = _quiet(_load_settings())
    body: dict[str, Any] = {"message": question, "session_id": session}
    if language is not None:
        body["language"] = language.value
    answer = _run(partial(_ask_in_process, settings, body))
    typer.echo(answer.answer)
    if answer.sql is not None:
        typer.echo(f"\nSQL: {answer.sql}\n")
        typer.echo(render_table(answer.columns or [], answer.rows or [], limit=_TABLE_ROWS))
    typer.echo(f"\nsession: {answer.session_id}")


async def _ask_in_process(settings: Settings, body: dict[str, Any]) -> ChatAnswer:
    async with in_process_client(create_app(settings), headers=_auth_headers(settings, None)) as client:
        return await _post_chat(client, body)


async def _post_chat(client: httpx.AsyncClient, body: dict[str, Any]) -> ChatAnswer:
    response = await client.post("/api/v1/chat", json=body)
    if response.status_code != 200:
        raise TurnFailed(_error_line(response))
    return ChatAnswer.model_validate(response.json())


def _error_line(response: httpx.Response) -> str:
    try:
        error = response.json()
        return f"HTTP {response.status_code} {error['error']}: {error['detail']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def _auth_headers(settings: Settings, api_key: str | None) -> dict[str, str]:
    if api_key is None and settings.api_keys:
        api_key = settings.api_keys[0].get_secret_value()
    return {"X-API-Key": api_key} if api_key else {}


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, limit: int) -> str:
    """A plain text table of the first `limit` rows, and how many more there are."""
    shown = [["" if value is None else str(value) for value in row] for row in rows[:limit]]
    widths = [max([len(name)] + [len(row[i]) for row in shown]) for i, name in enumerate(columns)]
    lines = [
        "  ".join(name.ljust(width) for name, width in zip(columns, widths, strict=True)),
        "  ".join("-" * width for width in widths),
    ]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in shown]
    if len(rows) > limit:
        lines.append(f"… {len(rows) - limit} more")
    return "\n".join(line.rstrip() for line in lines)


@cli.command("eval")
def eval_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Golden questions (JSON Lines).")],
    url: Annotated[
        str | None, typer.Option(help="A running service to ask [default: this process, in memory].")
    ] = None,
    database: Annotated[
        str | None, typer.Option(help="Maintenance DB the gold SQL runs on [default: MAINTBOT_DATABASE_URL].")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="X-API-Key to send [default: the first configured].")
    ] = None,
    min_accuracy: Annotated[
        float | None, typer.Option(min=0, max=1, help="Exit with 1 when accuracy is below this.")
    ] = None,
) -> None:
    """Execution accuracy over a golden question set: each item's turns in one new session, its last answer
    compared with the gold SQL's result on the same database."""
    try:
        items = parse_items(file.read_text(encoding="utf-8").splitlines())
    except EvalFileError as exc:
        typer.echo(f"error: {file}: {exc}", err=True)
        raise typer.Exit(2) from None
    settings = _quiet(_load_settings(**({"database_url": database} if database else {})))
    run = _run(partial(_run_evaluation, items=items, settings=settings, url=url, api_key=api_key))
    for outcome in run.report.misses:
        typer.echo(f"MISS {outcome.item.id}: {outcome.verdict.reason}")
        typer.echo(f"  question: {outcome.item.question}")
        typer.echo(f"  sql: {outcome.sql or '-'}")
    if run.hash_before is not None:
        typer.echo(f"database sha256 before: {run.hash_before}")
        typer.echo(f"database sha256 after:  {run.hash_after}")
    report = run.report
    typer.echo(f"accuracy: {report.accuracy:.2f} ({report.passed}/{len(report.outcomes)})")
    if run.hash_before != run.hash_after:
        typer.echo("error: the maintenance database changed during the run", err=True)
        raise typer.Exit(1)
    if min_accuracy is not None and report.accuracy < min_accuracy:
        typer.echo(f"accuracy below --min-accuracy {min_accuracy:g}", err=True)
        raise typer.Exit(1)


@dataclass(frozen=True, slots=True)
class EvaluationRun:
    """A finished evaluation, with the maintenance DB file's hash before and after (None if not a file)."""

    report: EvalReport
    hash_before: str | None
    hash_after: str | None


async def _run_evaluation(
    *, items: list[EvalItem], settings: Settings, url: str | None, api_key: str | None
) -> EvaluationRun:
    async with AsyncExitStack() as stack:
        # The service first: in process, its lifespan may write the demo database the gold SQL reads.
        client = await stack.enter_async_context(_service_client(settings, url=url, api_key=api_key))
        executor, guard = await stack.enter_async_context(open_maintenance_database(settings))
        database_file = sqlite_file_of(settings.maintenance_url)
        before = await file_sha256(database_file) if database_file else None

        async def run_gold(sql: str) -> QueryResult:
            return await executor.run(guard.check(sql))

        report = await evaluate(items, ask=partial(_ask_turns, client), run_gold=run_gold)
        after = await file_sha256(database_file) if database_file else None
    return EvaluationRun(report, before, after)


@asynccontextmanager
async def _service_client(
    settings: Settings, *, url: str | None, api_key: str | None
) -> AsyncIterator[httpx.AsyncClient]:
    headers = _auth_headers(settings, api_key)
    if url is None:
        async with in_process_client(create_app(settings), headers=headers) as client:
            yield client
    else:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
            yield client


async def _ask_turns(client: httpx.AsyncClient, item: EvalItem) -> ChatAnswer:
    """Send an item's turns in order in one new session; the answer to the last one is scored."""
    session_id: str | None = None
    answer: ChatAnswer | None = None
    for turn in item.turns:
        answer = await _post_chat(client, {"message": turn, "session_id": session_id})
        session_id = answer.session_id
    assert answer is not None  # an item has at least one turn
    return answer


async def file_sha256(path: Path) -> str:
    """The file's SHA-256, read off the event loop."""
    return await anyio.to_thread.run_sync(_sha256_of, path)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(partial(stream.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cli.command()
def migrate(
    url: Annotated[str | None, typer.Option(help="The state DB [default: MAINTBOT_STATE_URL].")] = None,
    show: Annotated[bool, typer.Option("--show", help="Only print the revision; change nothing.")] = False,
) -> None:
    """Bring the state DB's schema to the newest revision, as the service does when it starts, and print
    the revision: run it before a rollout so that new replicas start on a migrated database."""
    settings = _load_settings(**({"state_url": url} if url else {}))
    revision = _run(partial(_state_revision, settings.state_database_url, upgrade=not show))
    head = head_revision()
    if revision == head:
        typer.echo(f"state DB at revision {revision} (head)")
    else:
        typer.echo(f"state DB at revision {revision or 'none'}; head is {head}: run `maintbot migrate`")


async def _state_revision(url: str, *, upgrade: bool) -> str | None:
    engine = await open_state_database(url) if upgrade else create_async_engine(url)
    try:
        return await state_revision(engine)
    finally:
        await engine.dispose()
