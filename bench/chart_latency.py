"""Chat latency with chart rendering on, against the same with it off, and charts made per second.

Starts three `maintbot serve` processes (one uvicorn worker each) on freshly generated scale-1 demo databases:

- none: `MAINTBOT_CHARTS_ENABLED=false MAINTBOT_EXPORTS_ENABLED=false`, no artifact at all;
- off: `MAINTBOT_CHARTS_ENABLED=false`, charts off (each answer still gets its CSV and XLSX);
- on: the defaults (a chart when the table calls for one, CSV and XLSX always);

the last two with `--workers` render processes (`MAINTBOT_ARTIFACT_WORKERS`). "on / off" is the cost of
chart rendering; "on / none" the cost of the whole feature (exports too, and on SQLite a row insert per answer
in the answer's own transaction).

Then, for a few rounds, in turn: `POST /api/v1/chat` with questions whose answers all call for a chart
(line, bars, horizontal bars, grouped bars; English and Spanish), each in a new session, at concurrency 16.
After each run with artifacts it waits until every artifact of the run is ready or failed, and reports
how long the backlog took and how many charts were made per second: over the wall clock from the run's
start to the last chart, and per worker from the render times the service measured (`/metrics`).

Prints p50/p99 latency per round, and over all rounds pooled (the headline: a run's p99 is its 4th slowest
answer of 400, too few to compare alone); `--report FILE` also writes them as Markdown. Machines here are
shared and noisy (2 cores: the server, the client and the render workers share them): read pooled figures
and ratios, not single numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from prometheus_client.parser import text_string_to_metric_families

from http_latency import MAINTBOT, Run, drive, free_port, wait_until_up

CONCURRENCY = 16
QUESTIONS = [
    "failures per month in the last year",
    "cost by site this year",
    "downtime by equipment type",
    "top 5 machines by hours of downtime over the past year",
    "labor and parts cost per month this year",
    "failures by failure mode",
    "costo de mantenimiento por planta este año",
    "fallas por mes en el último año",
    "downtime by technician",
    "open work orders by priority",
    "labor and parts cost by site",
    "failures per month by site",
]
NONE = {"MAINTBOT_CHARTS_ENABLED": "false", "MAINTBOT_EXPORTS_ENABLED": "false"}
OFF = {"MAINTBOT_CHARTS_ENABLED": "false"}


class Service:
    """`maintbot serve` in a subprocess on its own data folder and demo database, stopped on exit."""

    def __init__(self, *, name: str, folder: Path, env: dict[str, str]) -> None:
        self.name = name
        self.folder = folder
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Service:
        database = self.folder / "maintenance.sqlite3"
        subprocess.run([str(MAINTBOT), "demo-data", str(database)], check=True, stdout=subprocess.DEVNULL)
        env = os.environ | self.env
        env |= {
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
        wait_until_up(self.url, what=f"the {self.name} service")
        return self

    def __exit__(self, error_type: object, *_: object) -> None:
        if error_type is not None:
            print((self.folder / "server.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


def asker(
    refs: list[dict[str, Any]], *, expect_chart: bool
) -> Callable[[aiohttp.ClientSession, int], Awaitable[None]]:
    """Ask the chart questions in turn; keep every artifact reference the answers carry."""

    async def ask(client: aiohttp.ClientSession, index: int) -> None:
        question = QUESTIONS[index % len(QUESTIONS)]
        async with client.post("/api/v1/chat", json={"message": question}) as response:
            response.raise_for_status()
            answer = await response.json()
        kinds = [ref["kind"] for ref in answer["artifacts"]]
        if answer["intent"] != "data" or (expect_chart and "chart" not in kinds):
            raise RuntimeError(f"no chart for {question!r}: {answer['intent']}, {kinds}")
        refs.extend(answer["artifacts"])

    return ask


@dataclass(frozen=True)
class Backlog:
    """How the artifacts of one run ended, and how long after the run's start the last one did."""

    charts_ready: int
    charts_failed: int
    others_ready: int
    others_failed: int
    seconds: float
    chart_render_s: float
    charts_rendered: int

    @property
    def charts_per_second(self) -> float:
        return self.charts_ready / self.seconds if self.seconds else 0.0

    @property
    def mean_chart_ms(self) -> float:
        return 1000 * self.chart_render_s / self.charts_rendered if self.charts_rendered else 0.0

    @property
    def charts_per_worker_second(self) -> float:
        return self.charts_rendered / self.chart_render_s if self.chart_render_s else 0.0


async def settle(url: str, refs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Poll each artifact until it is no longer pending; the final statuses by kind."""
    statuses: dict[str, list[str]] = {}
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=60)) as client:
        for ref in refs:
            while True:
                async with client.get(ref["url"]) as response:
                    response.raise_for_status()
                    status = (await response.json())["status"]
                if status != "pending":
                    break
                await asyncio.sleep(0.2)
            statuses.setdefault(ref["kind"], []).append(status)
    return statuses


def chart_render_totals(url: str) -> tuple[float, int]:
    """Seconds the workers spent on charts, and how many they made, as `/metrics` says."""
    seconds, count = 0.0, 0
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        if family.name != "maintbot_artifact_render_duration_seconds":
            continue
        for sample in family.samples:
            if sample.labels.get("kind") == "chart":
                if sample.name.endswith("_sum"):
                    seconds = sample.value
                elif sample.name.endswith("_count"):
                    count = int(sample.value)
    return seconds, count


async def measure_on(service: Service, requests: int) -> tuple[Run, Backlog]:
    refs: list[dict[str, Any]] = []
    before = chart_render_totals(service.url)
    started = time.perf_counter()
    expect_chart = service.name == "on"
    run = await drive(
        service.name, CONCURRENCY, requests, asker(refs, expect_chart=expect_chart), service.url
    )
    statuses = await settle(service.url, refs)
    seconds = time.perf_counter() - started
    after = chart_render_totals(service.url)
    charts = statuses.get("chart", [])
    others = [status for kind, found in statuses.items() if kind != "chart" for status in found]
    backlog = Backlog(
        charts_ready=charts.count("ready"),
        charts_failed=charts.count("failed"),
        others_ready=others.count("ready"),
        others_failed=others.count("failed"),
        seconds=seconds,
        chart_render_s=after[0] - before[0],
        charts_rendered=after[1] - before[1],
    )
    return run, backlog


def line(run: Run, workers: int, round_number: int) -> str:
    return (
        f"| {run.name} | {workers} | {round_number} | {len(run.latencies_ms)} | {run.percentile(0.5):.1f} | "
        f"{run.percentile(0.99):.1f} | {run.throughput:.0f} |"
    )


async def measure_workers(workers: int, args: argparse.Namespace) -> tuple[list[str], list[str], str]:
    rows: list[str] = []
    notes: list[str] = []
    pooled = {name: Run(name, CONCURRENCY, [], 0.0) for name in ("none", "off", "on")}
    backlogs: list[Backlog] = []
    with (
        tempfile.TemporaryDirectory(prefix="maintbot-bench-none-") as none_folder,
        tempfile.TemporaryDirectory(prefix="maintbot-bench-off-") as off_folder,
        tempfile.TemporaryDirectory(prefix="maintbot-bench-on-") as on_folder,
        Service(name="none", folder=Path(none_folder), env=NONE) as none,
        Service(
            name="off", folder=Path(off_folder), env=OFF | {"MAINTBOT_ARTIFACT_WORKERS": str(workers)}
        ) as off,
        Service(name="on", folder=Path(on_folder), env={"MAINTBOT_ARTIFACT_WORKERS": str(workers)}) as on,
    ):
        # Warm all three: code paths, connection pools, and the render processes with their fonts.
        await drive("warm-up", 4, len(QUESTIONS) * 2, asker([], expect_chart=False), none.url)
        await measure_on(off, len(QUESTIONS) * 2)
        await measure_on(on, len(QUESTIONS) * 2)
        for round_number in range(1, args.rounds + 1):
            none_run = await drive(
                "none", CONCURRENCY, args.requests, asker([], expect_chart=False), none.url
            )
            off_run, _exports = await measure_on(off, args.requests)
            on_run, backlog = await measure_on(on, args.requests)
            backlogs.append(backlog)
            for run in (none_run, off_run, on_run):
                pooled[run.name].latencies_ms.extend(run.latencies_ms)
                rows.append(line(run, 0 if run.name == "none" else workers, round_number))
            notes.append(
                f"- workers {workers}, round {round_number}: p99 on / off = "
                f"{on_run.percentile(0.99) / off_run.percentile(0.99):.2f}x, on / none = "
                f"{on_run.percentile(0.99) / none_run.percentile(0.99):.2f}x; "
                f"{backlog.charts_ready} charts ready, {backlog.charts_failed} failed, "
                f"{backlog.others_ready} exports ready, {backlog.others_failed} failed; "
                f"all settled {backlog.seconds:.1f} s after the run began: "
                f"{backlog.charts_per_second:.1f} charts/s over the wall clock, "
                f"{backlog.charts_per_worker_second:.1f} charts/s per busy worker "
                f"(mean chart render {backlog.mean_chart_ms:.0f} ms)"
            )
            print(notes[-1], flush=True)
    p99 = {name: run.percentile(0.99) for name, run in pooled.items()}
    p50 = {name: run.percentile(0.5) for name, run in pooled.items()}
    wall_rate = sum(b.charts_ready for b in backlogs) / sum(b.seconds for b in backlogs)
    worker_rate = sum(b.charts_rendered for b in backlogs) / sum(b.chart_render_s for b in backlogs)
    summary = (
        f"- **workers {workers}, {args.rounds} rounds pooled "
        f"({len(pooled['on'].latencies_ms)} answers each): "
        f"p99 chart rendering on / off = {p99['on'] / p99['off']:.2f}x** "
        f"({p99['on']:.0f} vs {p99['off']:.0f} ms; "
        f"p50 {p50['on']:.1f} vs {p50['off']:.1f} ms); "
        f"everything on / no artifacts: p99 {p99['on'] / p99['none']:.2f}x ({p99['none']:.0f} ms), "
        f"p50 {p50['on'] / p50['none']:.2f}x ({p50['none']:.1f} ms); "
        f"**{wall_rate:.1f} charts/s** from each run's start to its last chart, "
        f"{worker_rate:.1f} charts/s per busy worker"
    )
    print(summary, flush=True)
    return rows, notes, summary


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400, help="answers per run")
    parser.add_argument("--rounds", type=int, default=3, help="none/off/on runs per worker count")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="render processes to measure (each a service)"
    )
    parser.add_argument("--report", type=Path, help="also write the results to this Markdown file")
    args = parser.parse_args()
    rows: list[str] = []
    notes: list[str] = []
    summary: list[str] = []
    for workers in args.workers:
        found_rows, found_notes, found_summary = await measure_workers(workers, args)
        rows += found_rows
        notes += found_notes
        summary.append(found_summary)
    text = "\n".join(
        [
            f"{len(QUESTIONS)} chart questions (each answer: a chart, a CSV and an XLSX when on), each in a "
            f"new session, concurrency {CONCURRENCY}, {args.requests} answers per run; one uvicorn worker "
            f"per service; {os.cpu_count()} cores shared by the client, the server and the render workers.",
            "",
            "| run | render workers | round | requests | p50 ms | p99 ms | req/s |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            *summary,
            *notes,
        ]
    )
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
