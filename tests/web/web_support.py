"""The service run for real for browser tests, and a browser tab that remembers what went wrong in it."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from playwright.async_api import Page

MAINTBOT = Path(sys.executable).with_name("maintbot")


@dataclass
class Service:
    """`maintbot serve` in a subprocess with its own data folder, stopped at the end."""

    folder: Path
    database: Path
    environment: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.port = free_port()
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("MAINTBOT_", "OPENAI_"))}
        environment = inherited | {
            "MAINTBOT_DATA_DIR": str(self.folder),
            "MAINTBOT_DATABASE_URL": str(self.database),
            "MAINTBOT_LOG_LEVEL": "WARNING",
            # The page polls artifacts; a stricter default limit must not turn a test into a 429.
            "MAINTBOT_RATE_LIMIT": "100000/minute",
            **self.environment,
        }
        with (self.folder / "server.log").open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(MAINTBOT), "serve", "--port", str(self.port), env=environment, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"maintbot serve exited:\n{self.log_tail()}")
                try:
                    if (await client.get(f"{self.url}/health/ready")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"maintbot serve was not ready within 60 s:\n{self.log_tail()}")

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def log_tail(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")[-4000:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def running_service(folder: Path, database: Path, **environment: str) -> AsyncIterator[Service]:
    """The service on `database`, with more `MAINTBOT_*` settings, while the block runs."""
    service = Service(folder=folder, database=database, environment=environment)
    try:
        await service.start()
        yield service
    finally:
        await service.stop()


@dataclass
class Tab:
    """A page in its own browser context, with what went wrong in it (uncaught errors)."""

    page: Page
    errors: list[str]
    screens: Path
    name: str

    async def shot(self, step: str) -> Path:
        path = self.screens / f"{self.name}-{step}.png"
        await self.page.screenshot(path=str(path))
        return path


OpenTab = Callable[..., Awaitable[Tab]]
