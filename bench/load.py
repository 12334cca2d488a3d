"""Load: realistic question mixes and conversations against `maintbot serve`, over real HTTP.

The questions are the project's golden set (tests/golden/questions.jsonl): English and Spanish data
questions, small talk, requests to change data, and conversations whose second turn is a follow-up. A
conversation is one golden item, its turns in order in one chat session; conversations with a follow-up
are drawn three times as often as the others, so that about one question in seven is a follow-up.

a) One `maintbot serve --workers 2`, local engine, `--concurrency` users asking back to back for
   `--duration` s, each conversation in a new session: (i) the answer cache off
   (`MAINTBOT_ANSWER_CACHE_SIZE=0`: every answer is parsed, guarded and run), (ii) the cache on and warmed
   (the answers must say `cached: true`).
b) `--sessions` people at once in `llm` mode, against the scripted OpenAI-compatible server at
   `--llm-latency` s a call, caches off: each opens a session, asks, reads the answer for a while
   (exponential, mean `--think` s) and asks again in the same session, follow-ups included, until
   `--llm-duration` s have passed. Pipeline overhead is the latency minus the time the service waited for
   the model (`timings_ms.llm`). On the SQLite and/or a throwaway PostgreSQL state DB (`--llm-state`).
c) Memory: VmRSS of every process of each service (master, workers, helpers) at the end of each scenario.
d) Two replicas (`maintbot serve` on two ports, one throwaway PostgreSQL state DB, one Redis database, one
   artifact folder) behind nginx/nginx.conf rendered with both upstreams: the mix of (a) through nginx, and
   conversations whose turns are served by different replicas.

Charts and exports are off unless `--artifacts` (bench/chart_latency.py measures them). The load generator
runs on uvloop and spreads its connections over several small httpx pools; through nginx each pool has its
own loopback address, since nginx limits requests per address as it would per user. Prints a summary;
`--report FILE` writes it as Markdown. Exits with 1 when a scenario had errors or a check failed.
Machines here are shared and noisy (2 cores for the service, the scripted model and this generator).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any, TypeVar

import httpx

from http_latency import MAINTBOT, free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "questions.jsonl"
NGINX_CONF = ROOT / "nginx" / "nginx.conf"
POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"
FOLLOW_UP_WEIGHT = 3
T = TypeVar("T")


# --- The question mix ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conversation:
    """One golden item: its turns, asked in order in one session."""

    id: str
    turns: tuple[str, ...]


def golden_conversations() -> list[Conversation]:
    lines = GOLDEN.read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    return [Conversation(item["id"], tuple(item["turns"])) for item in items]


class Deck:
    """Golden conversations in shuffled order, over and over; those with a follow-up drawn more often."""

    def __init__(self, conversations: list[Conversation], *, seed: int) -> None:
        self._cards = [
            conversation
            for conversation in conversations
            for _ in range(FOLLOW_UP_WEIGHT if len(conversation.turns) > 1 else 1)
        ]
        self._rng = Random(seed)
        self._left: list[Conversation] = []

    def draw(self) -> Conversation:
        if not self._left:
            self._left = self._cards[:]
            self._rng.shuffle(self._left)
        return self._left.pop()

    def turns(self) -> Iterator[tuple[str, bool]]:
        """Questions one after another, each with whether it follows up on the one before."""
        while True:
            for position, text in enumerate(self.draw().turns):
                yield text, position > 0


# --- What a run measured ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


@dataclass
class Tally:
    """Answers of one run: latencies, what the service said about them, and every failure by kind."""

    latencies_ms: list[float] = field(default_factory=list)
    overheads_ms: list[float] = field(default_factory=list)
    server_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    intents: Counter[str] = field(default_factory=Counter)
    cached: int = 0
    follow_ups: int = 0
    started: float = 0.0
    ended: float = 0.0

    def record(self, answer: dict[str, Any], elapsed_ms: float, *, follow_up: bool) -> None:
        self.latencies_ms.append(elapsed_ms)
        timings: dict[str, float] = answer.get("timings_ms") or {}
        self.overheads_ms.append(elapsed_ms - timings.get("llm", 0.0))
        for stage in ("session", "persist", "llm", "total"):
            self.server_ms.setdefault(stage, []).append(timings.get(stage, 0.0))
        # Time outside the handler: the event loop's queue, HTTP parsing, the network and this generator.
        self.server_ms.setdefault("outside", []).append(elapsed_ms - timings.get("total", 0.0))
        self.intents[answer["intent"]] += 1
        self.cached += bool(answer["cached"])
        self.follow_ups += follow_up
        if answer["intent"] == "error":
            self.errors["answer with intent error"] += 1
        if answer["degraded"]:
            self.errors["degraded (LLM not used)"] += 1

    @property
    def answers(self) -> int:
        return len(self.latencies_ms)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        return self.answers / max(self.ended - self.started, 1e-9)


# --- The load generator's HTTP side -------------------------------------------------------------------------


def loopback_addresses(count: int) -> list[str]:
    """`count` loopback addresses to send from (127.0.2.1 on), or [] where only 127.0.0.1 can be bound."""
    addresses = [f"127.0.{2 + index // 250}.{1 + index % 250}" for index in range(count)]
    try:
        with socket.socket() as probe:
            probe.bind((addresses[-1], 0))
    except OSError:
        return []
    return addresses


class Clients:
    """Several small httpx pools rather than one large one: a pool's bookkeeping grows with its
    connections, and one pool for hundreds of them made the client, not the server, the bottleneck."""

    def __init__(self, base_url: str, *, pools: int, addresses: list[str] | None = None) -> None:
        # One TLS context for all (plain HTTP needs none, but httpx builds one per client: 25 ms each).
        context = ssl.create_default_context()
        limits = httpx.Limits(max_connections=None, keepalive_expiry=4)  # under uvicorn's 5 s keep-alive
        self.clients = [
            httpx.AsyncClient(
                base_url=base_url,
                timeout=120,
                transport=httpx.AsyncHTTPTransport(
                    verify=context,
                    limits=limits,
                    local_address=addresses[index % len(addresses)] if addresses else None,
                ),
            )
            for index in range(pools)
        ]
        self._turn = 0

    def pick(self, number: int) -> httpx.AsyncClient:
        return self.clients[number % len(self.clients)]

    def next(self) -> httpx.AsyncClient:
        self._turn += 1
        return self.pick(self._turn)

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self.clients))


async def ask(
    client: httpx.AsyncClient,
    tally: Tally,
    *,
    message: str,
    session_id: str | None,
    follow_up: bool,
    headers: dict[str, str] | None = None,
) -> dict[str, Any] | None:
    """POST one question; the answer, or None when it failed (counted in `tally.errors`)."""
    payload = {"message": message} | ({"session_id": session_id} if session_id else {})
    started = time.perf_counter()
    try:
        response = await client.post("/api/v1/chat", json=payload, headers=headers)
    except httpx.HTTPError as error:
        tally.errors[type(error).__name__] += 1
        return None
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        try:
            code = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            code = "(not the API's error shape)"
        tally.errors[f"HTTP {response.status_code} {code}"] += 1
        return None
    answer: dict[str, Any] = response.json()
    tally.record(answer, elapsed_ms, follow_up=follow_up)
    return answer


async def converse(
    client: httpx.AsyncClient,
    conversation: Conversation,
    tally: Tally,
    *,
    headers: dict[str, str] | None = None,
) -> None:
    """One conversation in a new session; it stops at the first failed turn."""
    session_id = None
    for position, text in enumerate(conversation.turns):
        answer = await ask(
            client, tally, message=text, session_id=session_id, follow_up=position > 0, headers=headers
        )
        if answer is None:
            return
        session_id = answer["session_id"]


async def back_to_back(clients: Clients, deck: Deck, *, users: int, duration_s: float) -> Tally:
    """`users` users, each starting a conversation as soon as its previous one ends, for `duration_s`."""
    tally = Tally(started=time.perf_counter())
    deadline = time.monotonic() + duration_s

    async def user() -> None:
        while time.monotonic() < deadline:
            await converse(clients.next(), deck.draw(), tally)

    await asyncio.gather(*(user() for _ in range(users)))
    tally.ended = time.perf_counter()
    return tally


@dataclass
class Crowd:
    """How the people of scenario (b) went: when the last one started, and how many sessions they opened."""

    sessions_opened: int = 0
    last_start_s: float = 0.0


async def people(
    clients: Clients, deck: Deck, *, sessions: int, duration_s: float, think_s: float, seed: int
) -> tuple[Tally, Crowd]:
    """`sessions` people at once, each in one session: ask, read the answer for an exponential while
    (mean `think_s`), ask the next question (the deck's follow-ups in order), until `duration_s` is up.
    They arrive spread over one think time, as people do, and all stay until the end."""
    rng, tally, crowd = Random(seed), Tally(started=time.perf_counter()), Crowd()
    began = time.monotonic()
    deadline = began + duration_s

    async def person(number: int) -> None:
        client, turns, session_id = clients.pick(number), deck.turns(), None
        await asyncio.sleep(rng.uniform(0, think_s))
        while time.monotonic() < deadline:
            text, follow_up = next(turns)
            answer = await ask(client, tally, message=text, session_id=session_id, follow_up=follow_up)
            if answer is not None and session_id is None:
                session_id = answer["session_id"]
                crowd.sessions_opened += 1
                crowd.last_start_s = time.monotonic() - began
            await asyncio.sleep(min(rng.expovariate(1 / think_s), max(0.0, deadline - time.monotonic())))

    await asyncio.gather(*(person(number) for number in range(sessions)))
    tally.ended = time.perf_counter()
    return tally, crowd


@dataclass(frozen=True)
class WarmUp:
    passes: int
    errors: Counter[str]

    def __str__(self) -> str:
        kinds = ", ".join(f"{kind}: {count}" for kind, count in self.errors.items()) or "no errors"
        return f"warm-up: {self.passes} pass(es), {kinds}"


async def warm_up(
    url: str,
    conversations: list[Conversation],
    *,
    passes: int,
    until_cached: int = 0,
    addresses: list[str] | None = None,
) -> WarmUp:
    """Every conversation `passes` times at concurrency 8 (code paths, each worker's caches), or fewer
    once `until_cached` passes in a row came entirely from the cache.

    Each question on a new connection: a worker serves the connections it accepts, so kept-alive ones
    could leave the cache of another worker empty."""
    clients = Clients(url, pools=len(addresses) if addresses else 8, addresses=addresses)
    errors: Counter[str] = Counter()
    cached_passes, close = 0, {"Connection": "close"}
    try:
        for number in range(1, passes + 1):
            tally, queue = Tally(), iter(conversations)

            async def worker(queue: Iterator[Conversation], tally: Tally) -> None:
                for conversation in queue:
                    await converse(clients.next(), conversation, tally, headers=close)

            await asyncio.gather(*(worker(queue, tally) for _ in range(8)))
            errors += tally.errors
            all_cached = tally.cached >= tally.answers - tally.intents["error"]
            cached_passes = cached_passes + 1 if all_cached else 0
            if until_cached and cached_passes == until_cached:
                return WarmUp(number, errors)
        return WarmUp(passes, errors)
    finally:
        await clients.aclose()


# --- Processes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    started_ticks: int
    cpu_s: float


def read_process(pid: int) -> ProcessInfo | None:
    """A process's parent, start time and CPU time from /proc, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return ProcessInfo(pid, int(fields[1]), int(fields[19]), (int(fields[11]) + int(fields[12])) / ticks)


def process_tree(root: int) -> list[tuple[ProcessInfo, int]]:
    """The process and all its descendants, each with its depth (0 for the root)."""
    infos = [info for name in os.listdir("/proc") if name.isdigit() and (info := read_process(int(name)))]
    children: dict[int, list[ProcessInfo]] = {}
    for info in infos:
        children.setdefault(info.ppid, []).append(info)
    top = read_process(root)
    found: list[tuple[ProcessInfo, int]] = [(top, 0)] if top else []
    for info, depth in found:  # grows while it is walked: breadth first
        found += [(child, depth + 1) for child in children.get(info.pid, [])]
    return found


def tree_cpu_s(root: int) -> float:
    return sum(info.cpu_s for info, _ in process_tree(root))


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return float("nan")
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, flags=re.MULTILINE)
    return int(match[1]) / 1024 if match else float("nan")


def role(pid: int, depth: int, *, workers: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return "gone"
    if "resource_tracker" in command:
        return "resource tracker"
    if "forkserver" in command:
        return "render fork server"
    if depth == 0:
        return "master" if workers > 1 else "server"
    return "worker" if depth == 1 and workers > 1 else "render process"


@dataclass(frozen=True)
class Memory:
    """VmRSS of one process of a service."""

    scenario: str
    service: str
    role: str
    pid: int
    rss_mb: float


def memory_of(scenario: str, service: str, root: int, *, workers: int = 1) -> list[Memory]:
    return [
        Memory(scenario, service, role(info.pid, depth, workers=workers), info.pid, rss_mb(info.pid))
        for info, depth in process_tree(root)
    ]


class Child:
    """A subprocess this benchmark started, its output in a log file; stopped by its pid, and any
    descendant still running afterwards (same pid and start time) stopped by its pid too."""

    def __init__(self, name: str, command: list[str], *, log: Path, env: dict[str, str] | None = None):
        self.name, self.command, self.log, self.env = name, command, log, env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Child:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        return self

    def __exit__(self, error_type: object, *_: object) -> None:
        if error_type is not None:
            print(f"--- {self.name} log (end) ---", file=sys.stderr)
            print(self.log.read_text(errors="replace")[-3000:], file=sys.stderr)
        self.stop()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        descendants = [info for info, depth in process_tree(self.pid) if depth > 0]
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for info in descendants:
            now = read_process(info.pid)
            if now is not None and now.started_ticks == info.started_ticks:
                os.kill(info.pid, signal.SIGKILL)


def accepts_connections(port: int, *, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not accept connections within {timeout_s:g} s")


# --- The services -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    name: str
    url: str
    port: int
    pid: int
    workers: int = 1


def service_env(
    home: Path, database: Path, *, answer_cache: bool, artifacts: bool, **extra: str
) -> dict[str, str]:
    """The environment of one `maintbot serve`: this machine's, without any MAINTBOT_/OPENAI_ variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAINTBOT_", "OPENAI_", "PROMETHEUS_"))}
    env |= {
        "MAINTBOT_DATA_DIR": str(home),
        "MAINTBOT_DATABASE_URL": str(database),
        "MAINTBOT_ENGINE": "local",
        "MAINTBOT_LOG_LEVEL": "WARNING",
        # The load comes from few addresses: a per-client quota must not be what is measured.
        "MAINTBOT_RATE_LIMIT": "1000000/minute",
        "PROMETHEUS_MULTIPROC_DIR": str(home / "metrics"),
    }
    if not answer_cache:
        env["MAINTBOT_ANSWER_CACHE_SIZE"] = "0"
    if not artifacts:
        env |= {"MAINTBOT_CHARTS_ENABLED": "false", "MAINTBOT_EXPORTS_ENABLED": "false"}
    return env | extra


@contextmanager
def maintbot_serve(
    name: str, *, env: dict[str, str], workers: int, log: Path, ready: bool = True
) -> Iterator[Service]:
    """`maintbot serve` on a free loopback port; ready when entered unless `ready=False` (then see
    `wait_ready`), so that several services can start at once."""
    port = free_port()
    command = [str(MAINTBOT), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with Child(name, command, env=env, log=log) as child:
        service = Service(name, f"http://127.0.0.1:{port}", port, child.pid, workers)
        if ready:
            wait_ready(service)
        yield service


def worker_pids(service: Service) -> set[int]:
    if service.workers == 1:
        return {service.pid}
    tree = process_tree(service.pid)
    return {info.pid for info, depth in tree if role(info.pid, depth, workers=service.workers) == "worker"}


def wait_ready(service: Service) -> None:
    """Until the service answers `/health/ready` and every worker has started: one worker answering says
    nothing of the others, which may still be importing the app (seconds of CPU, more on a busy machine).
    A worker that has started uses no CPU while nothing is asked of it."""
    if service.workers == 1:
        wait_until_up(service.url, what=service.name, timeout_s=180)
        return
    deadline = time.monotonic() + 180
    seen, replaced = worker_pids(service), 0
    while not (len(seen) == service.workers and is_ready(service) and idle(seen)):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{service.name}: its {service.workers} workers were not all up within 180 s; uvicorn "
                f"replaced {replaced} meanwhile ({load_average()})"
            )
        time.sleep(0.2)
        now = worker_pids(service)
        seen, replaced = now, replaced + len(seen - now)


def idle(pids: set[int], *, seconds: float = 1.0) -> bool:
    """Whether these processes used (nearly) no CPU for `seconds`."""
    before = {pid: read_process(pid) for pid in pids}
    time.sleep(seconds)
    for pid, then in before.items():
        now = read_process(pid)
        if then is None or now is None or now.cpu_s - then.cpu_s > 0.05 * seconds:
            return False
    return True


def is_ready(service: Service) -> bool:
    try:
        return httpx.get(f"{service.url}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def scripted_llm(*, database: Path, latency_s: float, log: Path) -> Iterator[Service]:
    """The scripted OpenAI-compatible server (SQL from the local engine, templated sentences); its `url`
    is the API's base URL. Not waited for: `accepts_connections(service.port)` when it must be up."""
    port = free_port()
    command = [sys.executable, "-m", "maintbot.testing.scripted_llm", "--port", str(port)]
    command += ["--latency", str(latency_s), "--database", str(database)]
    with Child("scripted LLM", command, log=log) as child:
        yield Service("scripted LLM", f"http://127.0.0.1:{port}/v1", port, child.pid)


def run_postgres(dsn: str, statement: str) -> None:
    import asyncpg

    async def execute() -> None:
        connection = await asyncpg.connect(dsn, timeout=5)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(execute())


def postgres_reachable() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        run_postgres(POSTGRES_DSN, "SELECT 1")
    except Exception as error:  # any failure means the same: no PostgreSQL here
        return f"PostgreSQL on 127.0.0.1:5432 is unreachable ({type(error).__name__})"
    return None


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A new empty database on the local PostgreSQL server, dropped afterwards; its URL."""
    name = f"maintbot_load_{uuid.uuid4().hex[:12]}"
    run_postgres(POSTGRES_DSN, f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        run_postgres(POSTGRES_DSN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_reachable() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except (OSError, redis.RedisError) as error:
        return f"Redis on 127.0.0.1:6379 is unreachable ({type(error).__name__})"
    return None


@contextmanager
def redis_database(number: int) -> Iterator[str]:
    """A Redis database for the replicas, emptied before and after; its URL."""
    import redis

    url = f"{REDIS_URL}/{number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def nginx_binary() -> str | None:
    return shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def render_nginx_config(*, prefix: Path, listen_port: int, upstream_ports: list[int]) -> Path:
    """nginx/nginx.conf for this machine, as tests/deploy/test_nginx.py renders it, with one upstream
    `server` line per replica. Each rewritten line must be found as often as expected."""
    servers = "\n".join(f"\\1server 127.0.0.1:{port};" for port in upstream_ports)
    rewrites = [
        (r"^user\s+\S+;", "user root;" if os.geteuid() == 0 else "", 1),
        (r"^pid\s+\S+;", f"pid {prefix}/nginx.pid;", 1),
        (
            r"^(\s*)(client_body|proxy|fastcgi|uwsgi|scgi)_temp_path\s+\S+;",
            rf"\1\2_temp_path {prefix}/\2_temp;",
            5,
        ),
        (r"^(\s*)listen\s+8080;", rf"\1listen 127.0.0.1:{listen_port};", 1),
        (r"^(\s*)server\s+api:8000;", servers, 1),
    ]
    text = NGINX_CONF.read_text(encoding="utf-8")
    for pattern, replacement, expected in rewrites:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        if count != expected:
            raise RuntimeError(f"nginx.conf: expected {expected} line(s) matching {pattern!r}, found {count}")
    path = prefix / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def nginx(*, prefix: Path, upstream_ports: list[int]) -> Iterator[tuple[str, Path, int]]:
    """nginx in the foreground in front of the replicas; its URL, access log and master pid."""
    binary = nginx_binary()
    assert binary is not None
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = render_nginx_config(prefix=prefix, listen_port=port, upstream_ports=upstream_ports)
    access_log = prefix / "access.log"
    command = [binary, "-e", "stderr", "-p", str(prefix), "-c", str(config), "-g", "daemon off;"]
    # The config logs access to stdout and errors to stderr, as in a container: here both go to a file.
    with Child("nginx", command, log=access_log) as child:
        accepts_connections(port, what="nginx")
        yield f"http://127.0.0.1:{port}", access_log, child.pid


def upstreams_by_request_id(access_log: Path) -> dict[str, str]:
    found = {}
    for line in access_log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            found[entry["request_id"]] = entry["upstream_addr"]
    return found


# --- Reporting ----------------------------------------------------------------------------------------------


@dataclass
class Result:
    """One scenario's figures, for the summary table."""

    scenario: str
    tally: Tally
    notes: list[str] = field(default_factory=list)
    llm: bool = False

    def row(self) -> str:
        tally = self.tally
        overhead = (
            f"{percentile(tally.overheads_ms, 0.5):.1f} / {percentile(tally.overheads_ms, 0.99):.1f}"
            if self.llm
            else "-"
        )
        return (
            f"| {self.scenario} | {tally.answers} | {tally.throughput:.1f} | "
            f"{percentile(tally.latencies_ms, 0.5):.1f} | {percentile(tally.latencies_ms, 0.9):.1f} | "
            f"{percentile(tally.latencies_ms, 0.99):.1f} | {overhead} | {tally.error_count} | "
            f"{tally.cached} | {tally.follow_ups} |"
        )


SUMMARY_HEADER = [
    "| scenario | answers | answers/s | p50 ms | p90 ms | p99 ms | LLM overhead p50 / p99 ms | errors "
    "| cached | follow-ups |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]


def scenario_lines(result: Result) -> list[str]:
    """A scenario's figures printed as soon as it ends."""
    tally = result.tally
    lines = [f"{result.scenario}:", *SUMMARY_HEADER, result.row()]
    if tally.errors:
        lines.append("  errors: " + ", ".join(f"{kind}: {count}" for kind, count in tally.errors.items()))
    lines.append(
        "  intents: " + ", ".join(f"{kind} {count}" for kind, count in sorted(tally.intents.items()))
    )
    lines += [f"  {note}" for note in result.notes]
    return lines


def server_breakdown(tally: Tally) -> str:
    """Where the latency goes, from the service's own `timings_ms`: p50 / p99 of each part."""
    parts = []
    for stage in ("session", "persist", "llm", "total", "outside"):
        values = tally.server_ms.get(stage, [])
        if stage == "llm" and not any(values):
            continue
        parts.append(f"{stage} {percentile(values, 0.5):.1f} / {percentile(values, 0.99):.1f}")
    return "service timings ms (p50 / p99): " + ", ".join(parts) + " (outside = latency - total)"


def memory_table(memory: list[Memory]) -> list[str]:
    lines = ["| scenario | service | process | pid | VmRSS MB |", "| --- | --- | --- | ---: | ---: |"]
    lines += [f"| {m.scenario} | {m.service} | {m.role} | {m.pid} | {m.rss_mb:.0f} |" for m in memory]
    return lines


def load_average() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


# --- The scenarios ------------------------------------------------------------------------------------------


@dataclass
class Bench:
    """What every scenario shares: the arguments, the folder, the demo DB, the event loop, the findings."""

    args: argparse.Namespace
    folder: Path
    database: Path
    runner: asyncio.Runner
    conversations: list[Conversation]
    results: list[Result] = field(default_factory=list)
    memory: list[Memory] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(work)

    def deck(self) -> Deck:
        return Deck(self.conversations, seed=self.args.seed)

    def check_workers_kept(self, label: str, service: Service, before: set[int]) -> None:
        if replaced := len(before - worker_pids(service)):
            self.failed_checks.append(f"{label}: uvicorn replaced {replaced} worker(s) during the run")

    def finish(self, result: Result) -> None:
        self.results.append(result)
        print("\n".join(scenario_lines(result)), flush=True)


async def load_phase(url: str, deck: Deck, *, users: int, duration_s: float, addresses: list[str]) -> Tally:
    # Through nginx, many addresses (one pool each); directly, one pool per 8 users.
    clients = Clients(url, pools=len(addresses) or max(1, users // 8), addresses=addresses)
    try:
        return await back_to_back(clients, deck, users=users, duration_s=duration_s)
    finally:
        await clients.aclose()


A_RUNS = {False: "a(i) local, computed", True: "a(ii) local, cache hits"}


def scenario_a(bench: Bench) -> None:
    """One service with `--workers` workers, local engine: answers computed, then answers from the cache.

    With one process each (as with --quick) both services start at once. With several workers each, one
    after the other: four workers importing the app at once on 2 cores take long enough for uvicorn's
    worker health check to kill some of them, depending on its timeout.
    """
    args = bench.args

    def launch(cached: bool) -> AbstractContextManager[Service]:
        home = bench.folder / ("a-cached" if cached else "a-computed")
        env = service_env(home, bench.database, answer_cache=cached, artifacts=args.artifacts)
        return maintbot_serve(
            A_RUNS[cached], env=env, workers=args.workers, log=home / "server.log", ready=False
        )

    together = args.workers == 1
    with ExitStack() as both:
        launched = [both.enter_context(launch(cached)) for cached in (False, True)] if together else []
        for index, cached in enumerate((False, True)):
            with ExitStack() as own:
                service = launched[index] if together else own.enter_context(launch(cached))
                wait_ready(service)
                measure_a(bench, service, cached=cached)


def measure_a(bench: Bench, service: Service, *, cached: bool) -> None:
    args, label = bench.args, A_RUNS[cached]
    warmed = bench.run(
        warm_up(
            service.url,
            bench.conversations,
            passes=12 if cached else 1 if args.quick else 2,
            # With several workers, a pass may come from the cache while one worker's cache is not full.
            until_cached=(1 if service.workers == 1 else 2) if cached else 0,
        )
    )
    cpu_before, workers_before = tree_cpu_s(service.pid), worker_pids(service)
    tally = bench.run(
        load_phase(service.url, bench.deck(), users=args.concurrency, duration_s=args.duration, addresses=[])
    )
    cpu_ms = (tree_cpu_s(service.pid) - cpu_before) * 1000 / max(tally.answers, 1)
    bench.check_workers_kept(label, service, workers_before)
    bench.memory += memory_of(label, f"serve --workers {args.workers}", service.pid, workers=args.workers)
    result = Result(label, tally)
    result.notes += [
        f"{warmed}; service CPU {cpu_ms:.1f} ms / answer; {load_average()}",
        server_breakdown(tally),
    ]
    if cached:
        result.notes.append(f"cached: true in {tally.cached} of {tally.answers} answers")
        if tally.cached < 0.95 * tally.answers:
            bench.failed_checks.append(f"{label}: only {tally.cached} of {tally.answers} answers cached")
    if not cached and tally.cached:
        bench.failed_checks.append(f"{label}: {tally.cached} answers came from the cache")
    bench.finish(result)


def scenario_b(bench: Bench, state: str) -> None:
    """`--sessions` people at once against the scripted LLM at `--llm-latency` s a call."""
    args = bench.args
    label = f"b LLM {args.llm_latency:g} s, {args.sessions} sessions, state {state}"
    home = bench.folder / f"b-{state}"
    with ExitStack() as stack:
        llm = stack.enter_context(
            scripted_llm(database=bench.database, latency_s=args.llm_latency, log=home / "llm.log")
        )
        extra = {
            "MAINTBOT_ENGINE": "llm",
            "OPENAI_API_KEY": "sk-load-bench",
            "OPENAI_BASE_URL": llm.url,
            "MAINTBOT_LLM_CACHE_SIZE": "0",
        }
        if state == "postgres":
            extra["MAINTBOT_STATE_URL"] = stack.enter_context(throwaway_postgres())
        env = service_env(home, bench.database, answer_cache=False, artifacts=args.artifacts, **extra)
        service = stack.enter_context(
            maintbot_serve(label, env=env, workers=args.llm_workers, log=home / "server.log")
        )
        accepts_connections(llm.port, what="the scripted LLM")  # started alongside the service
        bench.run(warm_up(service.url, bench.conversations[:16], passes=1))
        tally, crowd, cpu = measure_people(bench, service, llm.pid)
        bench.memory += memory_of(
            label, f"serve --workers {args.llm_workers}", service.pid, workers=args.llm_workers
        )
        bench.memory += memory_of(label, "scripted LLM", llm.pid)
    result = Result(label, tally, llm=True)
    rate = args.sessions / (args.think + args.llm_latency)
    result.notes += [
        f"{crowd.sessions_opened} sessions opened, the last {crowd.last_start_s:.1f} s after the start; all "
        f"stayed open to the end ({args.llm_duration:g} s); think time mean {args.think:g} s: about "
        f"{60 / (args.think + args.llm_latency):.1f} questions a minute a session, {rate:.0f} questions/s "
        "in all",
        server_breakdown(tally),
        cpu + f"; {load_average()}",
    ]
    if tally.overheads_ms and percentile(tally.overheads_ms, 0.99) > args.overhead_target:
        result.notes.append(
            f"pipeline overhead p99 {percentile(tally.overheads_ms, 0.99):.0f} ms misses the "
            f"{args.overhead_target:g} ms target"
        )
    bench.finish(result)


def measure_people(bench: Bench, service: Service, llm_pid: int) -> tuple[Tally, Crowd, str]:
    args = bench.args
    service_cpu, llm_cpu, workers = tree_cpu_s(service.pid), tree_cpu_s(llm_pid), worker_pids(service)
    own_cpu = resource.getrusage(resource.RUSAGE_SELF)
    clients = Clients(service.url, pools=max(1, args.sessions // 8))

    async def run() -> tuple[Tally, Crowd]:
        try:
            return await people(
                clients,
                bench.deck(),
                sessions=args.sessions,
                duration_s=args.llm_duration,
                think_s=args.think,
                seed=args.seed,
            )
        finally:
            await clients.aclose()

    tally, crowd = bench.run(run())
    bench.check_workers_kept(service.name, service, workers)
    after = resource.getrusage(resource.RUSAGE_SELF)
    answers = max(tally.answers, 1)
    generator_ms = (after.ru_utime + after.ru_stime - own_cpu.ru_utime - own_cpu.ru_stime) * 1000 / answers
    cpu = (
        f"CPU ms / answer: service {(tree_cpu_s(service.pid) - service_cpu) * 1000 / answers:.1f}, "
        f"scripted LLM {(tree_cpu_s(llm_pid) - llm_cpu) * 1000 / answers:.1f}, "
        f"load generator {generator_ms:.1f}"
    )
    return tally, crowd, cpu


def scenario_d(bench: Bench) -> None:
    """Two replicas behind nginx on one PostgreSQL state DB, one Redis database and one artifact folder."""
    args = bench.args
    shared = bench.folder / "d-artifacts"
    addresses = loopback_addresses(args.addresses)
    if not addresses:
        bench.notes.append("d: only 127.0.0.1 can be bound here, so nginx's per-address limit applies to all")
    with throwaway_postgres() as state_url, redis_database(args.redis_db) as redis_url:
        # --quick runs only the first: two more replicas to start would double its time.
        for cached in (False,) if args.quick else (False, True):
            extra = {
                "MAINTBOT_STATE_URL": state_url,
                "MAINTBOT_REDIS_URL": redis_url,
                "MAINTBOT_ARTIFACT_DIR": str(shared),
            }
            with replicas_behind_nginx(bench, cached=cached, extra=extra) as (services, proxy, access_log):
                if not cached:
                    readiness_note(bench, services)
                    check_continuity(bench, services, proxy, access_log)
                else:
                    check_shared_cache(bench, services)
                run_through_nginx(bench, services, proxy, access_log, cached=cached, addresses=addresses)


@contextmanager
def replicas_behind_nginx(
    bench: Bench, *, cached: bool, extra: dict[str, str]
) -> Iterator[tuple[list[Service], str, Path]]:
    args = bench.args
    tag = "cached" if cached else "computed"
    with ExitStack() as stack:
        services = []
        # One after the other: the first brings the state DB's schema up to date, two at once would race.
        for number in (1, 2):
            home = bench.folder / f"d-{tag}-replica{number}"
            env = service_env(home, bench.database, answer_cache=cached, artifacts=args.artifacts, **extra)
            services.append(
                stack.enter_context(
                    maintbot_serve(
                        f"replica {number}", env=env, workers=args.replica_workers, log=home / "server.log"
                    )
                )
            )
        url, access_log, _ = stack.enter_context(
            nginx(prefix=bench.folder / f"d-{tag}-nginx", upstream_ports=[s.port for s in services])
        )
        yield services, url, access_log


def run_through_nginx(
    bench: Bench, services: list[Service], proxy: str, access_log: Path, *, cached: bool, addresses: list[str]
) -> None:
    args = bench.args
    label = "d(ii) 2 replicas + nginx, cache on" if cached else "d(i) 2 replicas + nginx, computed"
    warmed = bench.run(
        warm_up(
            proxy,
            bench.conversations,
            passes=12 if cached else 1,
            until_cached=2 if cached else 0,
            addresses=addresses,
        )
    )
    lines_before = len(access_log.read_text(errors="replace").splitlines())
    tally = bench.run(
        load_phase(proxy, bench.deck(), users=args.concurrency, duration_s=args.duration, addresses=addresses)
    )
    for service in services:
        bench.memory += memory_of(label, service.name, service.pid, workers=args.replica_workers)
    upstreams = Counter(
        json.loads(line)["upstream_addr"]
        for line in access_log.read_text(errors="replace").splitlines()[lines_before:]
        if line.startswith("{")
    )
    result = Result(label, tally)
    result.notes.append(
        f"{warmed}; requests per upstream: "
        + ", ".join(f"{address} {count}" for address, count in sorted(upstreams.items()))
        + f"; {len(addresses) or 1} client addresses; {load_average()}"
    )
    result.notes.append(server_breakdown(tally))
    bench.finish(result)


def check_continuity(bench: Bench, services: list[Service], proxy: str, access_log: Path) -> None:
    """Conversations with a follow-up, each turn on another replica: directly (turn 1 on replica 1, turn 2
    on replica 2) and through nginx (its round robin alternates sequential requests). The follow-up must be
    answered in context: with the SQL it gets when both turns go to one replica, not the SQL it gets alone.
    """
    follow_ups = [c for c in bench.conversations if len(c.turns) == 2]
    outcome = bench.run(continuity(follow_ups, services, proxy))
    seen = upstreams_by_request_id(access_log)
    alternated = sum(
        1 for first, second in outcome.request_ids if seen.get(first) and seen.get(first) != seen.get(second)
    )
    line = (
        f"d: session continuity across replicas: directly {outcome.direct_ok}/{len(follow_ups)} follow-ups "
        f"answered in context on the other replica (history readable from the first: "
        f"{outcome.history_ok}/{len(follow_ups)}); through nginx {outcome.nginx_ok}/{len(follow_ups)} in "
        f"context, {alternated}/{len(follow_ups)} with the two turns on different replicas"
    )
    bench.notes.append(line)
    print(line, flush=True)
    if outcome.direct_ok < len(follow_ups) or outcome.nginx_ok < len(follow_ups) or alternated == 0:
        bench.failed_checks.append(line)


@dataclass
class Continuity:
    direct_ok: int = 0
    history_ok: int = 0
    nginx_ok: int = 0
    request_ids: list[tuple[str, str]] = field(default_factory=list)


async def continuity(conversations: list[Conversation], services: list[Service], proxy: str) -> Continuity:
    outcome, tally = Continuity(), Tally()
    first, second = (httpx.AsyncClient(base_url=s.url, timeout=60) for s in services)
    through = httpx.AsyncClient(base_url=proxy, timeout=60)
    try:
        for conversation in conversations:
            question, follow_up = conversation.turns
            reference = await two_turns(first, first, question, follow_up, tally)
            alone = await ask(second, tally, message=follow_up, session_id=None, follow_up=False)
            crossed = await two_turns(first, second, question, follow_up, tally)
            ids = (f"load-{uuid.uuid4().hex}", f"load-{uuid.uuid4().hex}")
            proxied = await two_turns(through, through, question, follow_up, tally, request_ids=ids)
            outcome.request_ids.append(ids)
            if reference is None or alone is None or reference["sql"] == alone["sql"]:
                continue  # no context to carry over (or a turn failed): counts as a miss
            outcome.direct_ok += crossed is not None and crossed["sql"] == reference["sql"]
            outcome.nginx_ok += proxied is not None and proxied["sql"] == reference["sql"]
            if crossed is not None:
                history = (await first.get(f"/api/v1/sessions/{crossed['session_id']}")).json()
                outcome.history_ok += len(history.get("messages", [])) == 4
    finally:
        await asyncio.gather(first.aclose(), second.aclose(), through.aclose())
    return outcome


async def two_turns(
    one: httpx.AsyncClient,
    other: httpx.AsyncClient,
    question: str,
    follow_up: str,
    tally: Tally,
    request_ids: tuple[str, str] | None = None,
) -> dict[str, Any] | None:
    """The question on `one`, its follow-up in the same session on `other`: the follow-up's answer."""
    headers = [{"X-Request-ID": request_id} for request_id in request_ids] if request_ids else [None, None]
    answer = await ask(one, tally, message=question, session_id=None, follow_up=False, headers=headers[0])
    if answer is None:
        return None
    return await ask(
        other, tally, message=follow_up, session_id=answer["session_id"], follow_up=True, headers=headers[1]
    )


def check_shared_cache(bench: Bench, services: list[Service]) -> None:
    """Whether an answer cached by one replica is a cache hit on the other (the cache in Redis)."""

    async def probe() -> tuple[bool, bool]:
        tally = Tally()
        question = bench.conversations[0].turns[0]
        async with (
            httpx.AsyncClient(base_url=services[0].url, timeout=60) as first,
            httpx.AsyncClient(base_url=services[1].url, timeout=60) as second,
        ):
            await ask(first, tally, message=question, session_id=None, follow_up=False)
            again = await ask(first, tally, message=question, session_id=None, follow_up=False)
            other = await ask(second, tally, message=question, session_id=None, follow_up=False)
        return bool(again and again["cached"]), bool(other and other["cached"])

    own, shared = bench.run(probe())
    line = (
        f"d: answer cache: a repeated question is a hit on the same replica: {'yes' if own else 'no'}; "
        f"on the other replica: {'yes (shared)' if shared else 'no (each replica has its own cache)'}"
    )
    bench.notes.append(line)
    print(line, flush=True)


def readiness_note(bench: Bench, services: list[Service]) -> None:
    for service in services:
        components = httpx.get(f"{service.url}/health/ready", timeout=10).json()["components"]
        states = ", ".join(f"{name} {check['status']}" for name, check in sorted(components.items()))
        bench.notes.append(f"d: {service.name} /health/ready: {states}")


# --- Main ---------------------------------------------------------------------------------------------------

QUICK = {
    "duration": 2.0,
    "concurrency": 8,
    "sessions": 24,
    "llm_duration": 4.0,
    "llm_latency": 0.2,
    "think": 0.5,
    "llm_state": "sqlite",
    "addresses": 16,
    "workers": 1,
}


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--scenarios", default="a,b,d", help="which of a, b, d to run (c, memory, comes with each)")
    add("--duration", type=float, default=20, help="seconds of load in each run of (a) and (d)")
    add("--concurrency", type=int, default=64, help="users asking back to back in (a) and (d)")
    add("--workers", type=int, default=2, help="uvicorn workers of the (a) service")
    add("--sessions", type=int, default=1000, help="people at once in (b)")
    add("--llm-duration", type=float, default=60, help="seconds the people of (b) talk")
    add("--llm-latency", type=float, default=1.0, help="seconds per scripted LLM call in (b)")
    add("--think", type=float, default=30, help="mean seconds a person of (b) reads an answer")
    add("--llm-workers", type=int, default=2, help="uvicorn workers of the (b) service")
    add("--llm-state", choices=["sqlite", "postgres", "both"], default="both", help="state DB of (b)")
    add("--overhead-target", type=float, default=150, help="ms; the (b) pipeline overhead p99 target")
    add("--replica-workers", type=int, default=1, help="uvicorn workers of each (d) replica")
    add("--addresses", type=int, default=256, help="loopback addresses the (d) load comes from")
    add("--redis-db", type=int, default=15, help="the Redis database of (d); emptied before and after")
    add("--scale", type=float, default=1.0, help="demo data scale (ignored with --database)")
    add("--database", type=Path, help="an existing demo maintenance DB (SQLite) instead of a new one")
    add("--artifacts", action="store_true", help="keep charts and exports on")
    add("--seed", type=int, default=7)
    add("--no-uvloop", action="store_true", help="the standard asyncio event loop for the load generator")
    add(
        "--quick",
        action="store_true",
        help="a tiny run of every scenario, for the test that keeps it working",
    )
    add("--report", type=Path, help="also write the results to this Markdown file")
    add("--keep", type=Path, help="keep the services' data and logs in this folder (default: deleted)")
    if parser.parse_args(argv).quick:
        parser.set_defaults(**QUICK)  # options given explicitly still win
    return parser.parse_args(argv)


def loop_factory(args: argparse.Namespace) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if args.no_uvloop:
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def missing_for_d() -> list[str]:
    missing = [reason for reason in (postgres_reachable(), redis_reachable()) if reason]
    if nginx_binary() is None:
        missing.append("nginx is not installed (apt-get install -y nginx)")
    return missing


def run_scenarios(bench: Bench, scenarios: set[str]) -> None:
    args = bench.args
    if "a" in scenarios:
        scenario_a(bench)
    if "b" in scenarios:
        states = ["sqlite", "postgres"] if args.llm_state == "both" else [args.llm_state]
        if "postgres" in states and (reason := postgres_reachable()):
            bench.notes.append(f"b: PostgreSQL state DB skipped: {reason}")
            states = [state for state in states if state != "postgres"] or ["sqlite"]
        for state in states:
            scenario_b(bench, state)
    if "d" in scenarios:
        if missing := missing_for_d():
            bench.notes.append("d skipped: " + "; ".join(missing))
            print(bench.notes[-1], flush=True)
        else:
            scenario_d(bench)


def source_version() -> str:
    """The commit measured, and whether the working tree had changes on top of it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "source version unknown"
    return f"commit {head}" + (" with uncommitted changes" if changes.strip() else "")


def render(bench: Bench, command: str) -> str:
    args = bench.args
    lines = [
        "# Load",
        "",
        f"`{command}` — questions from tests/golden/questions.jsonl ({len(bench.conversations)} "
        f"conversations, follow-ups weighted x{FOLLOW_UP_WEIGHT}); {os.cpu_count()} cores shared by the "
        f"services, the scripted model and the load generator (uvloop: {loop_factory(args) is not None}); "
        f"charts and exports {'on' if args.artifacts else 'off'}. (a)/(d): {args.concurrency} users back "
        f"to back for {args.duration:g} s. (b): {args.sessions} sessions for {args.llm_duration:g} s, think "
        f"time mean {args.think:g} s, L = {args.llm_latency:g} s per LLM call, caches off. Measured on "
        f"{source_version()}.",
        "",
        *SUMMARY_HEADER,
        *(result.row() for result in bench.results),
        "",
    ]
    for result in bench.results:
        details = [*result.notes]
        details.append(", ".join(f"{kind} {count}" for kind, count in sorted(result.tally.intents.items())))
        if result.tally.errors:
            details.append("errors: " + ", ".join(f"{k}: {n}" for k, n in result.tally.errors.items()))
        lines += [f"- **{result.scenario}**: " + "; ".join(details)]
    lines += ["", "Memory at the end of each scenario:", "", *memory_table(bench.memory), ""]
    lines += [f"- {note}" for note in bench.notes]
    lines += [f"- FAILED: {check}" for check in bench.failed_checks]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    scenarios = {name.strip() for name in args.scenarios.split(",") if name.strip()}
    command = "python bench/load.py " + " ".join(sys.argv[1:] if argv is None else argv)
    with ExitStack() as stack:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
        folder = args.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="maintbot-load-"))
        runner = stack.enter_context(asyncio.Runner(loop_factory=loop_factory(args)))
        database = args.database or Path(folder) / "maintenance.sqlite3"
        if args.database is None:
            subprocess.run(
                [str(MAINTBOT), "demo-data", str(database), "--scale", str(args.scale)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        bench = Bench(args, Path(folder), database, runner, golden_conversations())
        run_scenarios(bench, scenarios)
    text = render(bench, command)
    print("\n" + text, flush=True)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n", encoding="utf-8")
    errors = sum(result.tally.error_count for result in bench.results)
    return 1 if errors or bench.failed_checks else 0


if __name__ == "__main__":
    sys.exit(main())
