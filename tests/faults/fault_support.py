"""Real parts for the fault tests: a TCP proxy that can fail on demand, and `maintbot serve` replicas.

`TcpProxy` sits between the service and PostgreSQL (or the LLM endpoint) on a loopback port, in a thread
of its own so that it keeps forwarding whatever the test's event loop is doing. It can cut every connection,
close its port, stall every byte (or only the connection that sends a marker), and be restored.

`Replica` is `maintbot serve` in a process group of its own: it can be sent real signals, and its whole group
(the server, its forkserver and render workers) is killed by its id when the test ends, however it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

MAINTBOT = Path(sys.executable).with_name("maintbot")
T = TypeVar("T")
# High enough that no test here meets the per-client rate limit.
NO_RATE_LIMIT = "1000000/minute"

_CHUNK = 65536


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    # Cleared while this connection is stalled on its own (it sent the marker).
    going: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        """Reset both connections at once (a cut)."""
        self.close(reset=True)

    def close(self, *, reset: bool = False) -> None:
        for writer in (self.client, self.upstream):
            if writer is None:
                continue
            if reset:
                _reset(writer)
            else:
                writer.close()
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset, as a crashed server or a dropped route does (no orderly FIN)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    """`with TcpProxy(port) as proxy:` a loopback port forwarding to `127.0.0.1:port`, until told to fail.

    - `cut()`: every open connection is reset, and every new one is reset as soon as it is accepted;
    - `close_port()`: every open connection is reset and the port stops listening (connection refused);
    - `stall()`: no byte goes through in either direction; connections stay open, new ones hang;
    - `stall_on(marker)`: only a connection whose client sends `marker` stalls, from that moment on;
    - `restore()`: forwarding again (on the same port); stalled connections go on where they stopped.
    """

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._mode = "forward"
        self._marker: bytes | None = None
        # Set unless the whole proxy is stalled; used only in the proxy's thread (made there).
        self._open: asyncio.Event | None = None
        self.port = 0

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def __exit__(self, *_: object) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- what a test does ---------------------------------------------------------------------------------

    def cut(self) -> None:
        self._call(self._set(mode="cut", drop=True))

    def close_port(self) -> None:
        self._call(self._set(mode="closed", drop=True))

    def stall(self) -> None:
        self._call(self._set(mode="stall", drop=False))

    def stall_on(self, marker: bytes) -> None:
        self._marker = marker

    def restore(self) -> None:
        self._marker = None
        self._call(self._set(mode="forward", drop=False))

    # -- inside the proxy's thread ------------------------------------------------------------------------

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        if self._open is None:
            self._open = asyncio.Event()
            self._open.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _set(self, *, mode: str, drop: bool) -> None:
        self._mode = mode
        if drop:
            for link in list(self._links):
                link.abort()
            self._links.clear()
        if mode == "closed" and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        elif mode != "closed" and self._server is None:
            await self._listen()
        assert self._open is not None
        if mode == "stall":
            self._open.clear()
        else:
            self._open.set()
        if mode == "forward":
            for link in self._links:
                link.going.set()

    async def _shutdown(self) -> None:
        for link in list(self._links):
            link.abort()
        self._links.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._mode == "cut":
            _reset(writer)
            return
        link = _Link(client=writer)
        link.going.set()
        self._links.add(link)
        try:
            await self._may_flow(link)  # a new connection to a stalled server hangs before it connects
            upstream_reader, link.upstream = await asyncio.open_connection(*self._target)
        except OSError:
            link.abort()
            self._links.discard(link)
            return
        link.tasks = [
            asyncio.create_task(self._pump(reader, link.upstream, link, from_client=True)),
            asyncio.create_task(self._pump(upstream_reader, writer, link, from_client=False)),
        ]

    async def _may_flow(self, link: _Link) -> None:
        """Return once neither the proxy nor this connection is stalled."""
        assert self._open is not None
        while not (self._open.is_set() and link.going.is_set()):
            await self._open.wait()
            await link.going.wait()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link, *, from_client: bool
    ) -> None:
        try:
            while data := await reader.read(_CHUNK):
                if from_client and self._marker is not None and self._marker in data:
                    link.going.clear()
                await self._may_flow(link)
                writer.write(data)
                await writer.drain()
        except (OSError, RuntimeError):
            pass
        finally:
            # Either side hanging up ends the connection for both (the protocols here never half-close).
            link.close()
            self._links.discard(link)


@dataclass
class Replica:
    """`maintbot serve` on a loopback port with exactly `environment`, in a process group of its own."""

    environment: Mapping[str, str]
    log: Path
    port: int = 0
    process: asyncio.subprocess.Process | None = None
    started: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, *, timeout_s: float = 120) -> Replica:
        """Start it (again, on the same data) and wait until `/health/live` answers."""
        for _ in range(3):
            self.port = free_port()
            command = [str(MAINTBOT), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
            with self.log.open("ab") as output:
                output.write(f"\n===== start on port {self.port} =====\n".encode())
                output.flush()
                self.process = await asyncio.create_subprocess_exec(
                    *command,
                    env=dict(self.environment),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: its render workers die with it
                )
            self.started.append(self.process.pid)
            if await self._live(timeout_s):
                return self
            if "address already in use" not in self.tail().lower():
                break
        raise AssertionError(f"maintbot serve did not start:\n{self.tail()}")

    async def _live(self, timeout_s: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    return False
                try:
                    if (await client.get(f"{self.url}/health/live")).status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"maintbot serve was not live within {timeout_s} s:\n{self.tail()}")

    def send(self, signum: signal.Signals) -> None:
        """A real signal to the server process (not to its workers)."""
        os.kill(self.pid, signum)

    async def crash(self) -> None:
        """SIGKILL for the whole replica at once, as when its container or machine dies."""
        assert self.process is not None
        _kill_group(self.pid)
        await asyncio.wait_for(self.process.wait(), timeout=10)

    async def exit_code(self, *, timeout_s: float) -> int:
        """Wait for the server process to exit; its return code (negative: killed by that signal)."""
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout=timeout_s)
        except TimeoutError:
            raise AssertionError(
                f"maintbot serve did not exit within {timeout_s} s:\n{self.tail()}"
            ) from None

    async def stop_all(self) -> None:
        """Kill every process group this replica started (each by its leader's id), whatever is left."""
        for leader in self.started:
            _kill_group(leader)
        if self.process is not None and self.process.returncode is None:
            await asyncio.wait_for(self.process.wait(), timeout=10)

    def tail(self, characters: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-characters:] if self.log.exists() else ""


ReplicaFactory = Callable[..., Replica]
# `name = await new_postgres_database()` (the fixture in conftest.py)
DatabaseFactory = Callable[[], Awaitable[str]]


def _kill_group(leader: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, signal.SIGKILL)


def service_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any MaintBot or OpenAI setting, plus `settings` (MAINTBOT_*)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("MAINTBOT_", "OPENAI_"))}
    return inherited | {"PYTHONUNBUFFERED": "1"} | settings


def postgres_url(dsn: str, name: str, *, port: int | None = None) -> str:
    """`dsn` pointed at database `name` (and at `port`, e.g. a proxy's, when given)."""
    base = dsn.rsplit("/", 1)[0]
    if port is not None:
        base = base.replace(":5432", f":{port}")
    return f"{base}/{name}"


@asynccontextmanager
async def replicas_in(folder: Path, demo_database: Path) -> AsyncIterator[ReplicaFactory]:
    """`make(**MAINTBOT_settings)`: a `Replica` of the service (not started) on `folder`'s data, reading the
    demo maintenance DB unless told otherwise; every process any of them started is killed at the end."""
    made: list[Replica] = []

    def make(**settings: str) -> Replica:
        values = {
            "MAINTBOT_DATA_DIR": str(folder / "data"),
            "MAINTBOT_DATABASE_URL": str(demo_database),
            "MAINTBOT_RATE_LIMIT": NO_RATE_LIMIT,
            "MAINTBOT_LOG_LEVEL": "INFO",
        }
        server = Replica(
            environment=service_environment(**(values | settings)), log=folder / f"replica-{len(made)}.log"
        )
        made.append(server)
        return server

    try:
        yield make
    finally:
        for server in made:
            await server.stop_all()
