"""The LLM pipeline's latency against a model that takes a fixed L seconds per call.

Starts the scripted OpenAI-compatible server (`python -m maintbot.testing.scripted_llm`, a fixed latency L
per call, SQL written by the local engine so that every query runs) and `maintbot serve` with
`MAINTBOT_ENGINE=llm` pointed at it, both caches off so that every question is fresh. Then asks single-turn
questions, each in a new session, at concurrency 1 and 200, in two configurations:

- templated: the SQL step's sentence template words the answer (the usual case: 1 round trip);
- written: no template, so the model writes the sentence (2 round trips, the most the design allows).

At concurrency 1 questions go back to back, each in a new session. The concurrent sessions are people: each
asks, reads the answer for a while (exponential, mean 3 s) and asks again in the same session, so follow-ups
carry their history to the model.

Prints p50 end-to-end latency / L, the pipeline's own overhead (end-to-end minus the time spent waiting
for the model on the critical path, as the service reports it in `timings_ms.llm`) p50 and p99, and LLM
calls and prompt tokens per question (from `/metrics`). `--report FILE` writes them as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
from prometheus_client.parser import text_string_to_metric_families

from http_latency import MAINTBOT, free_port, questions, wait_until_up


@dataclass
class Sample:
    latencies_ms: list[float] = field(default_factory=list)
    overheads_ms: list[float] = field(default_factory=list)
    errors: int = 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


class Processes:
    """The scripted LLM and the service, each a subprocess, stopped on exit."""

    def __init__(
        self, *, folder: Path, latency_s: float, templated: bool, state_url: str | None = None
    ) -> None:
        self.folder, self.latency_s, self.templated = folder, latency_s, templated
        self.state_url = state_url
        self.llm_port, self.port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.children: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Processes:
        database = self.folder / "maintenance.sqlite3"
        if not database.exists():
            subprocess.run([str(MAINTBOT), "demo-data", str(database)], check=True, stdout=subprocess.DEVNULL)
        log = (self.folder / f"llm-{self.templated}.log").open("wb")
        llm_command = [sys.executable, "-m", "maintbot.testing.scripted_llm", "--port", str(self.llm_port)]
        llm_command += ["--latency", str(self.latency_s), "--database", str(database)]
        if not self.templated:
            llm_command.append("--no-templates")
        self.children.append(subprocess.Popen(llm_command, stdout=log, stderr=subprocess.STDOUT))
        env = os.environ | {
            "MAINTBOT_DATA_DIR": str(self.folder / f"state-{self.templated}"),
            "MAINTBOT_DATABASE_URL": str(database),
            "MAINTBOT_ENGINE": "llm",
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{self.llm_port}/v1",
            "MAINTBOT_ANSWER_CACHE_SIZE": "0",
            "MAINTBOT_LLM_CACHE_SIZE": "0",
            # The pipeline is measured here; chart and export rendering has its own benchmark.
            "MAINTBOT_CHARTS_ENABLED": "false",
            "MAINTBOT_EXPORTS_ENABLED": "false",
            "MAINTBOT_LOG_LEVEL": "WARNING",
        }
        if self.state_url:
            env["MAINTBOT_STATE_URL"] = self.state_url
        server_log = (self.folder / f"server-{self.templated}.log").open("wb")
        self.children.append(
            subprocess.Popen(
                [str(MAINTBOT), "serve", "--port", str(self.port)],
                env=env,
                stdout=server_log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_until_up(self.url, what="the service", path="/health/live")
        return self

    def __exit__(self, error_type: object, *_: object) -> None:
        if error_type is not None:
            print(
                (self.folder / f"server-{self.templated}.log").read_text(errors="replace")[-3000:],
                file=sys.stderr,
            )
        for child in reversed(self.children):
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)


async def converse(url: str, texts: list[str], *, sessions: int, duration_s: float, think_s: float) -> Sample:
    """`sessions` people at once, each asking a question in their own session, reading the answer for a
    random while (mean `think_s`), and asking the next, for `duration_s` seconds."""
    sample = Sample()
    rng = random.Random(7)
    connector = aiohttp.TCPConnector(limit=sessions)
    async with aiohttp.ClientSession(
        url, connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as client:
        ends = time.monotonic() + duration_s

        async def person(number: int) -> None:
            session_id = None
            await asyncio.sleep(rng.uniform(0, think_s))  # people do not all start at the same instant
            while time.monotonic() < ends:
                payload: dict[str, str] = {"message": rng.choice(texts)}
                if session_id:
                    payload["session_id"] = session_id
                started = time.perf_counter()
                async with client.post("/api/v1/chat", json=payload) as response:
                    body = await response.json()
                elapsed = (time.perf_counter() - started) * 1000
                if response.status != 200 or body.get("engine") != "llm":
                    sample.errors += 1
                else:
                    session_id = body["session_id"]
                    sample.latencies_ms.append(elapsed)
                    sample.overheads_ms.append(elapsed - body["timings_ms"].get("llm", 0.0))
                await asyncio.sleep(rng.expovariate(1 / think_s))

        await asyncio.gather(*(person(number) for number in range(sessions)))
    return sample


async def ask_all(url: str, texts: list[str], *, concurrency: int) -> Sample:
    sample = Sample()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        url, connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as client:
        pending = iter(texts)

        async def worker() -> None:
            for text in pending:
                started = time.perf_counter()
                async with client.post("/api/v1/chat", json={"message": text}) as response:
                    body = await response.json()
                elapsed = (time.perf_counter() - started) * 1000
                if response.status != 200 or body.get("engine") != "llm":
                    sample.errors += 1
                    continue
                sample.latencies_ms.append(elapsed)
                sample.overheads_ms.append(elapsed - body["timings_ms"].get("llm", 0.0))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sample


async def stream_timings(url: str, texts: list[str], *, count: int) -> dict[str, float]:
    """Median milliseconds from sending a question to `POST /api/v1/chat/stream` until the first event,
    the first piece of the sentence (`answer_delta`, or `answer` when it was templated), and `final`."""
    firsts: dict[str, list[float]] = {"first event": [], "first words": [], "final": []}
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=60)) as client:
        for index in range(count):
            started = time.perf_counter()
            seen: dict[str, float] = {}
            async with client.post(
                "/api/v1/chat/stream", json={"message": texts[index % len(texts)]}
            ) as response:
                async for line in response.content:
                    if not line.startswith(b"event: "):
                        continue
                    name = line[7:].decode().strip()
                    now = (time.perf_counter() - started) * 1000
                    seen.setdefault("first event", now)
                    if name in ("answer_delta", "answer"):
                        seen.setdefault("first words", now)
                    if name == "final":
                        seen["final"] = now
            for key, values in firsts.items():
                values.append(seen.get(key, float("nan")))
    return {key: percentile(values, 0.5) for key, values in firsts.items()}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def llm_totals(url: str) -> tuple[float, float]:
    """LLM calls made and prompt tokens sent so far, from the service's metrics."""
    calls = tokens = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "maintbot_llm_calls_total" and sample.labels["outcome"] == "ok":
                calls += sample.value
            if sample.name == "maintbot_llm_tokens_total" and sample.labels["kind"] == "prompt":
                tokens += sample.value
    return calls, tokens


async def measure(
    url: str, texts: list[str], *, concurrency: int, total: int, think_s: float = 0.0, pid: int = 0
) -> tuple[Sample, float, float, float]:
    calls_before, tokens_before = llm_totals(url)
    cpu_before = cpu_seconds(pid) if pid else 0.0
    if think_s <= 0:
        batch = [texts[index % len(texts)] for index in range(total)]
        sample = await ask_all(url, batch, concurrency=concurrency)
    else:
        sample = await converse(url, texts, sessions=concurrency, duration_s=total, think_s=think_s)
    cpu_ms = ((cpu_seconds(pid) if pid else 0.0) - cpu_before) * 1000
    calls_after, tokens_after = llm_totals(url)
    answered = max(len(sample.latencies_ms), 1)
    return (
        sample,
        (calls_after - calls_before) / answered,
        (tokens_after - tokens_before) / answered,
        cpu_ms / answered,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per LLM call (L)")
    parser.add_argument("--sequential", type=int, default=40, help="questions at concurrency 1")
    parser.add_argument("--concurrent", type=int, default=200, help="concurrent sessions")
    parser.add_argument("--duration", type=float, default=40, help="seconds the concurrent sessions talk")
    parser.add_argument("--think", type=float, default=3.0, help="mean seconds a person reads an answer")
    parser.add_argument("--report", type=Path)
    parser.add_argument("--state-url", help="the state DB (default: SQLite in a temporary folder)")
    arguments = parser.parse_args()
    texts, source = questions()
    latency_ms = arguments.latency * 1000
    header = (
        "| answer sentence | sessions | questions | errors | p50 ms | p50 / L | overhead p50 ms | "
        "overhead p99 ms | LLM calls / q | prompt tokens / q | service CPU ms / q |"
    )
    lines = [header, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    stream_lines: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="maintbot-llm-bench-") as folder:
        for templated in (True, False):
            with Processes(
                folder=Path(folder),
                latency_s=arguments.latency,
                templated=templated,
                state_url=arguments.state_url,
            ) as service:
                # Warm-up: connections, code paths, the local engine's caches.
                await measure(service.url, texts, concurrency=4, total=8)
                timings = await stream_timings(service.url, texts, count=arguments.sequential)
                stream_lines.append(("templated" if templated else "written by the model", timings))
                runs = (
                    (1, arguments.sequential, 0.0),
                    (arguments.concurrent, arguments.duration, arguments.think),
                )
                for concurrency, total, think_s in runs:
                    sample, calls, tokens, cpu_ms = await measure(
                        service.url,
                        texts,
                        concurrency=concurrency,
                        total=int(total),
                        think_s=think_s,
                        pid=service.children[-1].pid,
                    )
                    p50 = percentile(sample.latencies_ms, 0.5)
                    line = (
                        f"| {'templated' if templated else 'written by the model'} | {concurrency} | "
                        f"{len(sample.latencies_ms)} | {sample.errors} | {p50:.0f} | "
                        f"{p50 / latency_ms:.2f} | {percentile(sample.overheads_ms, 0.5):.1f} | "
                        f"{percentile(sample.overheads_ms, 0.99):.1f} | "
                        f"{calls:.2f} | {tokens:.0f} | {cpu_ms:.1f} |"
                    )
                    lines.append(line)
                    print(line, flush=True)
    table = "\n".join(lines)
    streaming = "\n".join(
        f"- {label}: first event {timings['first event']:.0f} ms, first words of the answer "
        f"{timings['first words']:.0f} ms, whole answer (`final`) {timings['final']:.0f} ms"
        for label, timings in stream_lines
    )
    table += "\n\nStreaming (`POST /api/v1/chat/stream`, concurrency 1, medians):\n" + streaming
    print(f"\nL = {latency_ms:.0f} ms per LLM call; questions from {source}\n{table}")
    if arguments.report:
        arguments.report.write_text(
            f"# LLM pipeline latency\n\n`python bench/llm_latency.py --latency {arguments.latency}` — "
            f"L = {latency_ms:.0f} ms per call, questions from {source}, every question fresh (caches off). "
            f"Sessions: concurrency 1 asks back to back; {arguments.concurrent} sessions each ask, read the "
            f"answer for an exponential while (mean {arguments.think:g} s) and ask again, for "
            f"{arguments.duration:g} s.\n\n"
            f"{table}\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    asyncio.run(main())
