"""A scripted OpenAI-compatible server, for tests and benchmarks: `/v1/chat/completions` (JSON and
streaming) and `/v1/models`, answering from a script instead of a model, over real HTTP.

Each request is told apart by its structured-output schema name (`Translation`, `Classification`,
`SqlDraft`) or `prose` when it asks for free text. A script is a function from the request to a `Reply`;
`Queues` is the usual one: replies per step, consumed in order. Every request is recorded with when it
arrived and when it was answered, so tests can check what the service sent and what overlapped.

Run alone (for benchmarks and demos): `python -m maintbot.testing.scripted_llm --port 8701 --latency 0.3
--database data/maintenance_demo.sqlite3` answers SQL questions with the local engine's SQL.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PROSE = "prose"


@dataclass(frozen=True, slots=True)
class Reply:
    """What the server answers: a completion with `content`, or an HTTP error `status` with `headers`."""

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # Extra seconds before answering (on top of the server's fixed latency).
    delay_s: float = 0.0
    # Close the connection without answering (a server that went away mid-call).
    drop: bool = False


def fields(**values: Any) -> Reply:
    """A structured-output reply with these fields."""
    return Reply(content=json.dumps(values, ensure_ascii=False))


@dataclass(slots=True)
class Seen:
    """One request as received."""

    step: str
    body: dict[str, Any]
    arrived: float
    answered: float = 0.0
    # The client hung up before the reply (the service cancelled the call).
    cancelled: bool = False

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def text(self) -> str:
        """Every message's content, joined (for checks on what the prompt carried)."""
        return "\n".join(str(message.get("content", "")) for message in self.messages)


Script = Callable[[Seen], Reply | Awaitable[Reply]]


class Queues:
    """Replies per step, consumed in order; a step with none left repeats its last reply."""

    def __init__(self, **steps: list[Reply]) -> None:
        self._steps = {name: list(replies) for name, replies in steps.items()}
        self._last: dict[str, Reply] = {}

    def __call__(self, seen: Seen) -> Reply:
        queue = self._steps.get(seen.step)
        if queue:
            self._last[seen.step] = queue.pop(0)
        if seen.step not in self._last:
            return Reply(status=500, content=f"no reply scripted for step {seen.step}")
        return self._last[seen.step]


class ScriptedLlm:
    """The server: `async with ScriptedLlm(script) as llm:` then point the service at `llm.base_url`."""

    def __init__(
        self, script: Script, *, latency_s: float = 0.0, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.script = script
        self.latency_s = latency_s
        self.seen: list[Seen] = []
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> ScriptedLlm:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}/v1"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def calls(self, step: str | None = None) -> list[Seen]:
        return [seen for seen in self.seen if step is None or seen.step == step]

    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        schema = (body.get("response_format") or {}).get("json_schema") or {}
        seen = Seen(step=str(schema.get("name") or PROSE), body=body, arrived=time.monotonic())
        self.seen.append(seen)
        reply = self.script(seen)
        if inspect.isawaitable(reply):
            reply = await reply
        try:
            await asyncio.sleep(self.latency_s + reply.delay_s)
        except asyncio.CancelledError:
            seen.cancelled = True
            raise
        seen.answered = time.monotonic()
        if reply.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if reply.status != 200:
            error = {
                "error": {"message": reply.content or "scripted error", "type": "scripted", "code": None}
            }
            return web.json_response(error, status=reply.status, headers=reply.headers)
        usage = _usage(body, reply.content)
        if body.get("stream"):
            return await _stream(request, body, reply.content, usage)
        return web.json_response(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.content, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            }
        )


def _usage(body: dict[str, Any], content: str) -> dict[str, int]:
    """Token counts as a tokenizer would roughly give them (four characters a token)."""
    prompt = sum(len(str(message.get("content", ""))) for message in body.get("messages", [])) // 4 + 1
    completion = len(content) // 4 + 1
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _stream(
    request: web.Request, body: dict[str, Any], content: str, usage: dict[str, int]
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
    }
    base["model"] = body.get("model", "scripted")
    words = content.split(" ")
    for position, word in enumerate(words):
        piece = word if position == 0 else " " + word
        chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
    done = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    await response.write(f"data: {json.dumps(done)}\n\n".encode())
    if (body.get("stream_options") or {}).get("include_usage"):
        await response.write(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def local_engine_script(database: str, *, templated: bool = True) -> Script:
    """A script that plays a competent model: SQL from the local engine, a template, an intent."""
    from maintbot.engine.local.engine import LocalEngine  # imported here: only the standalone server needs it
    from maintbot.settings import load_settings
    from maintbot.sql.maintenance import open_maintenance_database

    engine: LocalEngine | None = None

    async def script(seen: Seen) -> Reply:
        nonlocal engine
        if engine is None:
            settings = load_settings(database_url=database)
            async with open_maintenance_database(settings) as (executor, guard):
                engine = await LocalEngine.create(guard=guard, executor=executor)
        question = str(seen.messages[-1].get("content", ""))
        if seen.step == "Translation":
            return fields(language="en", english=question)
        if seen.step == "Classification":
            return fields(intent="data", reply=None)
        if seen.step == "SqlDraft":
            understood = await engine.understand(question=question, language=None, context=None)
            return fields(
                sql=understood.sql,
                answer_template="Here is what I found: {row_count} rows." if templated else None,
                template_language="en",
                expects_rows=False,
                reason=None if understood.sql else "not in the database",
            )
        return Reply(content="Here is what I found.")

    return script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds before each reply")
    parser.add_argument("--database", required=True, help="the maintenance DB the local engine reads")
    parser.add_argument("--no-templates", action="store_true", help="let the model write every sentence")
    arguments = parser.parse_args()

    async def serve() -> None:
        script = local_engine_script(arguments.database, templated=not arguments.no_templates)
        async with ScriptedLlm(
            script, latency_s=arguments.latency, host=arguments.host, port=arguments.port
        ) as llm:
            print(f"scripted LLM on {llm.base_url}", flush=True)
            await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
