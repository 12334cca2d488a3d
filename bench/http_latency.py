"""Latency and throughput of local-engine answers over real HTTP, against the framework's floor.

Starts `maintbot serve` on a loopback port (one worker) on a freshly generated demo database, then drives
it with an async HTTP client:

- the floor: `GET /health/live` (no I/O) at concurrency 1 and 32;
- answers: `POST /api/v1/chat` with single-turn questions (the development set's when ../shared is
  beside the project, else the project's golden questions), each in a new session, at concurrency 1 and 32;
- data size: the same questions at concurrency 1 on a `--scale 10` database, median against scale 1.

Prints p50/p99 latency, throughput and the ratios; `--report FILE` also writes them as Markdown.
Machines here are shared and noisy: read medians and ratios, not single numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT.parent / "shared" / "eval" / "dev.jsonl"
GOLDEN = ROOT / "tests" / "golden" / "questions.jsonl"
MAINTBOT = Path(sys.executable).with_name("maintbot")


@dataclass(frozen=True)
class Run:
    name: str
    concurrency: int
    latencies_ms: list[float]
    elapsed_s: float

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s

    def line(self) -> str:
        return (
            f"| {self.name} | {self.concurrency} | {len(self.latencies_ms)} | {self.percentile(0.5):.2f} | "
            f"{self.percentile(0.99):.2f} | {self.throughput:.0f} |"
        )


def questions() -> tuple[list[str], str]:
    source = DEV_SET if DEV_SET.exists() else GOLDEN
    items = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [item["turns"][0] for item in items if len(item["turns"]) == 1 and "sql" in item], source.name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, *, what: str, path: str = "/health/ready", timeout_s: float = 60) -> None:
    """Poll `url + path` until it answers 200; `RuntimeError` naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not become ready within {timeout_s:g} s")


class Service:
    """`maintbot serve` in a subprocess on its own data folder, stopped on exit."""

    def __init__(self, *, scale: float, folder: Path) -> None:
        self.scale = scale
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.generation_s = 0.0

    def __enter__(self) -> Service:
        database = self.folder / "maintenance.sqlite3"
        started = time.perf_counter()
        subprocess.run(
            [str(MAINTBOT), "demo-data", str(database), "--scale", str(self.scale)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.generation_s = time.perf_counter() - started
        print(f"demo data at scale {self.scale:g}: {self.generation_s:.1f} s", flush=True)
        env = os.environ | {
            "MAINTBOT_DATA_DIR": str(self.folder),
            "MAINTBOT_DATABASE_URL": str(database),
            "MAINTBOT_LOG_LEVEL": "WARNING",
            # One client sends all the load: the per-client API rate limit would measure itself.
            "MAINTBOT_RATE_LIMIT": "1000000/minute",
        }
        self.log = (self.folder / "server.log").open("wb")
        self.process = subprocess.Popen(
            [str(MAINTBOT), "serve", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until_up(self.url, what="the service")
        return self

    def __exit__(self, error_type: object, *_: object) -> None:
        if error_type is not None:
            print((self.folder / "server.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


async def drive(
    name: str,
    concurrency: int,
    total: int,
    call: Callable[[aiohttp.ClientSession, int], Awaitable[None]],
    url: str,
) -> Run:
    """`total` calls spread over `concurrency` workers sharing one keep-alive connection pool.

    aiohttp rather than httpx: at concurrency 32 httpx's pool, not the server, was the bottleneck.
    """
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        url, connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as client:
        counter = iter(range(total))

        async def worker() -> None:
            for index in counter:
                started = time.perf_counter()
                await call(client, index)
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Run(name, concurrency, latencies, elapsed)


async def live(client: aiohttp.ClientSession, _index: int) -> None:
    async with client.get("/health/live") as response:
        response.raise_for_status()
        await response.read()


def asker(texts: list[str]) -> Callable[[aiohttp.ClientSession, int], Awaitable[None]]:
    async def ask(client: aiohttp.ClientSession, index: int) -> None:
        async with client.post("/api/v1/chat", json={"message": texts[index % len(texts)]}) as response:
            response.raise_for_status()
            if (await response.json())["intent"] != "data":
                raise RuntimeError(f"not a data answer: {texts[index % len(texts)]!r}")

    return ask


async def per_question_medians(url: str, texts: list[str], repeats: int) -> dict[str, float]:
    medians: dict[str, float] = {}
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=60)) as client:
        for text in texts:
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                async with client.post("/api/v1/chat", json={"message": text}) as response:
                    response.raise_for_status()
                    await response.read()
                samples.append((time.perf_counter() - started) * 1000)
            medians[text] = statistics.median(samples)
    return medians


async def measure_scale(
    scale: float, texts: list[str], args: argparse.Namespace, generation_s: dict[float, float]
) -> tuple[list[Run], dict[str, float]]:
    with (
        tempfile.TemporaryDirectory(prefix="maintbot-bench-") as folder,
        Service(scale=scale, folder=Path(folder)) as service,
    ):
        warm = asker(texts)
        await drive("warm-up", 4, len(texts) * 2, warm, service.url)
        runs: list[Run] = []
        if scale == 1:
            for concurrency in (1, 32):
                runs.append(
                    await drive("GET /health/live", concurrency, args.requests * 2, live, service.url)
                )
                runs.append(await drive("POST /api/v1/chat", concurrency, args.requests, warm, service.url))
        medians = await per_question_medians(service.url, texts, args.repeats)
        generation_s[scale] = service.generation_s
    return runs, medians


def report(runs: list[Run], small: dict[str, float], large: dict[str, float] | None, source: str) -> str:
    lines = [
        f"Questions: {len(small)} single-turn data questions from {source}; one uvicorn worker; "
        f"{os.cpu_count()} cores shared with the client.",
        "",
        "| route | concurrency | requests | p50 ms | p99 ms | req/s |",
        "|---|---|---|---|---|---|",
    ]
    lines += [run.line() for run in runs]
    lines.append("")
    for concurrency in (1, 32):
        floor = next(r for r in runs if r.concurrency == concurrency and r.name.startswith("GET"))
        answer = next(r for r in runs if r.concurrency == concurrency and r.name.startswith("POST"))
        lines.append(
            f"- concurrency {concurrency}: answer p50 / floor p50 = "
            f"{answer.percentile(0.5) / floor.percentile(0.5):.2f}x; "
            f"throughput answers / floor = {answer.throughput / floor.throughput:.2f}"
        )
    if large is not None:
        ratios = {text: large[text] / small[text] for text in small}
        worst = max(ratios, key=lambda text: ratios[text])
        lines.append(
            f"- scale 10 vs scale 1 (concurrency 1, median of per-question medians): "
            f"{statistics.median(large.values()):.2f} ms vs {statistics.median(small.values()):.2f} ms = "
            f"{statistics.median(large.values()) / statistics.median(small.values()):.2f}x; "
            f"median per-question ratio {statistics.median(ratios.values()):.2f}x; "
            f"slowest ratio {ratios[worst]:.2f}x ({worst!r}: {small[worst]:.1f} -> {large[worst]:.1f} ms)"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=1000, help="answers per run (the floor gets twice as many)"
    )
    parser.add_argument(
        "--repeats", type=int, default=7, help="samples per question for the scale comparison"
    )
    parser.add_argument("--skip-scale-10", action="store_true", help="only measure scale 1")
    parser.add_argument("--report", type=Path, help="also write the results to this Markdown file")
    args = parser.parse_args()
    texts, source = questions()
    generation_s: dict[float, float] = {}
    runs, small = await measure_scale(1, texts, args, generation_s)
    large = None if args.skip_scale_10 else (await measure_scale(10, texts, args, generation_s))[1]
    text = report(runs, small, large, source)
    text += "\n" + "\n".join(
        f"- `maintbot demo-data --scale {scale:g}` (a subprocess, start-up included): {seconds:.1f} s"
        for scale, seconds in sorted(generation_s.items())
    )
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
