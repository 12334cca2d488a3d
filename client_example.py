"""MaintBot from Python: one question, an interactive chat, or a small load test, with `maintbot.client`.

    python client_example.py "¿Cuántos equipos tienen mantenimiento pendiente?"  # answer, table, SQL
    python client_example.py chat                                          # ask, follow up; answers stream in
    python client_example.py batch --count 500 --concurrency 20            # latency percentiles and errors

Options: --url (default $MAINTBOT_URL or http://127.0.0.1:8000), --api-key (default $MAINTBOT_API_KEY),
--language en|es; for batch also --count, --concurrency, --questions FILE (one question a line), --retries.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from maintbot.client import (
    AnswerDeltaEvent,
    AnswerEvent,
    ApiError,
    FinalEvent,
    MaintBotClient,
    MaintBotClientError,
    StageEvent,
)
from maintbot.schemas import ChatAnswer

TABLE_ROWS = 20
CLEAR_LINE = "\r\x1b[2K"
SAMPLE_QUESTIONS = [
    "How many pumps are there at each site?",
    "Top 5 machines by hours of downtime over the past year",
    "¿Cuántos equipos tienen mantenimiento pendiente?",
    "Costo de mantenimiento por planta este año",
    "Open work orders by site",
    "failures per month in the last year",
    "¿Cuántos compresores están parados?",
    "Which spare parts need reordering?",
    "MTTR by equipment type in the last 6 months",
    "Órdenes de trabajo vencidas por prioridad",
]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.words:
        _parser().print_help()
        return 2
    try:
        if args.words == ["chat"]:
            asyncio.run(chat(args))
        elif args.words == ["batch"]:
            return asyncio.run(batch(args))
        else:
            asyncio.run(ask_once(args, " ".join(args.words)))
    except MaintBotClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`… | head`): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Ask MaintBot a question, chat with it, or load-test it.",
        epilog='examples: client_example.py "Open work orders by site" | client_example.py chat | '
        "client_example.py batch --count 200 --concurrency 10",
    )
    parser.add_argument("words", nargs="*", help='a question, or "chat", or "batch"')
    parser.add_argument("--url", default=os.environ.get("MAINTBOT_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--api-key", default=os.environ.get("MAINTBOT_API_KEY"), help="sent as X-API-Key")
    parser.add_argument("--language", choices=["en", "es"], help="answer in this language")
    batch = parser.add_argument_group("batch")
    batch.add_argument("--count", type=int, default=200, help="questions to ask in all")
    batch.add_argument("--concurrency", type=int, default=10, help="questions in flight at once")
    batch.add_argument("--questions", type=Path, help="a file of questions, one a line")
    batch.add_argument("--retries", type=int, default=0, help="retries on 429/503 (default 0: count them)")
    return parser


def _client(args: argparse.Namespace, **options: Any) -> MaintBotClient:
    return MaintBotClient(args.url, api_key=args.api_key, **options)


# One question


async def ask_once(args: argparse.Namespace, question: str) -> None:
    async with _client(args) as maintbot:
        answer = await maintbot.ask(question, language=args.language)
    print(answer.answer)
    print_table(answer)
    if answer.sql:
        print(f"\nSQL:\n{answer.sql}")
    print(
        f"\nsession {answer.session_id} · {answer.engine} engine · {answer.timings_ms.get('total', 0):.0f} ms"
    )


# Interactive chat


async def chat(args: argparse.Namespace) -> None:
    print(
        "MaintBot chat. Ask in English or Spanish; /new starts a new conversation, /quit (or Ctrl-D) leaves."
    )
    session_id: str | None = None
    async with _client(args) as maintbot:
        while True:
            try:
                question = (await asyncio.to_thread(input, "\nyou> ")).strip()
            except EOFError:
                print()
                return
            if question in ("/quit", "/exit"):
                return
            if question == "/new":
                session_id = None
                print("(new conversation)")
                continue
            if not question:
                continue
            try:
                answer = await stream_answer(maintbot, question, session_id, args.language)
            except MaintBotClientError as error:
                print(f"\nerror: {error}")
                continue
            session_id = answer.session_id
            print_table(answer)


async def stream_answer(
    maintbot: MaintBotClient, question: str, session_id: str | None, language: Literal["en", "es"] | None
) -> ChatAnswer:
    """Print the answer as it arrives: the current stage as a status, then the sentence piece by piece."""
    status = sys.stdout.isatty()
    print("bot> ", end="", flush=True)
    written = ""
    async for event in maintbot.stream(question, session_id=session_id, language=language):
        if isinstance(event, StageEvent) and status and not written:
            print(f"{CLEAR_LINE}bot> ({event.stage}…)", end="", flush=True)
        elif isinstance(event, AnswerDeltaEvent):
            if status and not written:
                print(f"{CLEAR_LINE}bot> ", end="")
            written += event.text
            print(event.text, end="", flush=True)
        elif isinstance(event, AnswerEvent):
            # The built-in engine sends no pieces: the whole sentence arrives here at once.
            if not written:
                print(f"{CLEAR_LINE}bot> " if status else "", end="")
                print(event.text, end="")
            print()
        elif isinstance(event, FinalEvent):
            return event.answer
    raise MaintBotClientError(error="IncompleteStream", detail="The stream ended without an answer.")


# Tables


def print_table(answer: ChatAnswer, limit: int = TABLE_ROWS) -> None:
    """The answer's table in aligned columns: numbers on the right, at most `limit` rows."""
    if not answer.columns or answer.rows is None:
        return
    shown = answer.rows[:limit]
    columns = [format_column([row[i] for row in shown]) for i in range(len(answer.columns))]
    numeric = [all(_is_number(row[i]) or row[i] is None for row in shown) for i in range(len(columns))]
    widths = [max([len(name), *map(len, cells)]) for name, cells in zip(answer.columns, columns, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    print()
    print(line(answer.columns))
    print(line(["─" * width for width in widths]))
    for index in range(len(shown)):
        print(line([cells[index] for cells in columns]))
    more = answer.row_count - len(shown)
    if more > 0:
        print(f"… {more:,} more row{'s' if more > 1 else ''}")
    if answer.truncated:
        print("(cut at the row cap)")


def format_column(values: Sequence[Any]) -> list[str]:
    """Cells of one column; a column with any fraction shows two decimals throughout, so that it aligns."""
    decimals = 2 if any(isinstance(v, float) and not v.is_integer() for v in values) else 0
    return [format_cell(value, decimals) for value in values]


def format_cell(value: Any, decimals: int = 2) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if _is_number(value):
        return f"{value:,.{decimals}f}" if isinstance(value, float) else f"{value:,}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Load test


@dataclass
class BatchResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> int:
        return len(self.latencies_ms) + sum(self.errors.values())


async def batch(args: argparse.Namespace) -> int:
    questions = load_questions(args.questions)
    result = BatchResult()
    pending = iter(range(args.count))
    # One pool as wide as the concurrency, so requests wait for the server and not for a connection.
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    http = httpx.AsyncClient(base_url=args.url, limits=limits, timeout=httpx.Timeout(60.0, connect=5.0))
    async with http, _client(args, http_client=http, max_retries=args.retries) as maintbot:

        async def worker() -> None:
            for index in pending:
                started = time.perf_counter()
                try:
                    await maintbot.ask(questions[index % len(questions)], language=args.language)
                except MaintBotClientError as error:
                    result.errors[error_kind(error)] += 1
                else:
                    result.latencies_ms.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        progress = asyncio.create_task(show_progress(result, args.count, started))
        await asyncio.gather(*(worker() for _ in range(max(1, args.concurrency))))
        progress.cancel()
        elapsed = time.perf_counter() - started
    draw_progress(result, args.count, started, final=True)
    print_report(result, elapsed, args)
    return 1 if result.errors else 0


def error_kind(error: MaintBotClientError) -> str:
    return f"{error.status_code} {error.error}" if isinstance(error, ApiError) else error.error


def load_questions(path: Path | None) -> list[str]:
    if path is None:
        return SAMPLE_QUESTIONS
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")] or SAMPLE_QUESTIONS


async def show_progress(result: BatchResult, total: int, started: float) -> None:
    while True:
        draw_progress(result, total, started)
        await asyncio.sleep(0.1 if sys.stderr.isatty() else 5.0)


def draw_progress(result: BatchResult, total: int, started: float, *, final: bool = False) -> None:
    done, width = result.done, 30
    filled = width * done // max(total, 1)
    rate = done / max(time.perf_counter() - started, 1e-9)
    errors = sum(result.errors.values())
    text = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {rate:6.1f} q/s  errors {errors}"
    if sys.stderr.isatty():
        print(f"\r{text}", end="\n" if final else "", file=sys.stderr, flush=True)
    elif final:
        print(text, file=sys.stderr)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(len(ordered) * q / 100))
    return ordered[rank - 1]


def print_report(result: BatchResult, elapsed: float, args: argparse.Namespace) -> None:
    print(
        f"\n{result.done} questions in {elapsed:.1f} s at concurrency {args.concurrency} against {args.url}"
    )
    print(f"throughput  {len(result.latencies_ms) / elapsed:.1f} answers/s")
    if result.latencies_ms:
        p50, p95, p99 = (percentile(result.latencies_ms, q) for q in (50, 95, 99))
        print(
            f"latency ms  p50 {p50:.1f}   p95 {p95:.1f}   p99 {p99:.1f}   max {max(result.latencies_ms):.1f}"
        )
    total_errors = sum(result.errors.values())
    print(f"errors      {total_errors}" + (f" ({total_errors / result.done:.1%})" if total_errors else ""))
    for kind, count in result.errors.most_common():
        print(f"  {count:6}  {kind}")


if __name__ == "__main__":
    sys.exit(main())
