"""Real servers for the deployment tests: nginx with the repository's config, `maintbot serve` replicas.

Each starts on a free loopback port (another if that one is taken before it binds), is waited for until it
answers, and is stopped by its pid.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest

NGINX_CONF = Path(__file__).resolve().parents[2] / "nginx" / "nginx.conf"
NGINX = shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
IN_CI = os.environ.get("CI") == "true"
NO_NGINX = "nginx is not installed (apt-get install -y --no-install-recommends nginx)"


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def nginx_binary() -> str:
    if NGINX is None:
        pytest.fail(f"{NO_NGINX}; CI=true requires it")
    return NGINX


def render_config(*, prefix: Path, listen_port: int, api_ports: Sequence[int]) -> Path:
    """A copy of nginx/nginx.conf for this machine: every path under `prefix`, loopback addresses only.

    Each rewritten line must be found exactly as often as expected, so a change to the production file
    that the tests would silently stop covering fails here instead.
    """
    user_line = "user root;" if os.geteuid() == 0 else ""  # workers must reach the 0700 temp dir
    rewrites = [
        (r"^user\s+\S+;", user_line, 1),
        (r"^pid\s+\S+;", f"pid {prefix}/nginx.pid;", 1),
        (
            r"^(\s*)(client_body|proxy|fastcgi|uwsgi|scgi)_temp_path\s+\S+;",
            rf"\1\2_temp_path {prefix}/\2_temp;",
            5,
        ),
        (r"^(\s*)listen\s+8080;", rf"\1listen 127.0.0.1:{listen_port};", 1),
        (r"^(\s*)server\s+api:8000;", "\n".join(rf"\1server 127.0.0.1:{port};" for port in api_ports), 1),
    ]
    text = NGINX_CONF.read_text(encoding="utf-8")
    for pattern, replacement, expected in rewrites:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count == expected, (
            f"nginx.conf: expected {expected} line(s) matching {pattern!r}, found {count}"
        )
    # The image runs `nginx -g 'daemon off;'`, which fails if the file sets `daemon` too.
    assert not re.search(r"^\s*daemon\s", text, flags=re.MULTILINE), "nginx.conf must not set `daemon`"
    path = prefix / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


def nginx_command(prefix: Path, config: Path, *args: str) -> list[str]:
    return [nginx_binary(), "-e", "stderr", "-p", str(prefix), "-c", str(config), *args]


class PortTaken(Exception):
    """The free port found a moment ago was taken before the server could bind it."""


def start_on_free_port(
    launch: Callable[[int], subprocess.Popen[bytes]],
    *,
    ready: Callable[[int], bool],
    log: Path,
    what: str,
    timeout: float,
) -> tuple[subprocess.Popen[bytes], int]:
    """Launch a server on a free loopback port and wait until it answers; another port if that one
    was taken meanwhile. The caller stops the returned process by its pid."""
    for _ in range(3):
        port = free_port()
        process = launch(port)
        try:
            wait_until(partial(ready, port), process=process, timeout=timeout, what=what, log=log)
        except PortTaken:
            continue
        except BaseException:
            stop(process)
            raise
        return process, port
    pytest.fail(f"{what}: three free ports in a row were taken before it could bind them")


def wait_until(
    check: Callable[[], bool], *, process: subprocess.Popen[bytes], timeout: float, what: str, log: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text(errors="replace")
            if "address already in use" in output.lower():
                raise PortTaken
            pytest.fail(f"{what} exited with {process.returncode}:\n{output[-3000:]}")
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"{what} did not start within {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def is_live(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/live", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextmanager
def running_nginx(prefix: Path, *, api_ports: Sequence[int]) -> Iterator[Server]:
    """nginx in the foreground on a free loopback port, proxying to `api_ports` in turn; stopped by pid."""
    prefix.mkdir(parents=True, exist_ok=True)
    access_log, error_log = prefix / "access.log", prefix / "error.log"

    def launch(port: int) -> subprocess.Popen[bytes]:
        config = render_config(prefix=prefix, listen_port=port, api_ports=api_ports)
        # The config logs access to /dev/stdout and errors to stderr, as in a container: files here.
        with access_log.open("wb") as stdout, error_log.open("wb") as stderr:
            return subprocess.Popen(
                nginx_command(prefix, config, "-g", "daemon off;"), stdout=stdout, stderr=stderr
            )

    process, port = start_on_free_port(
        launch, ready=accepts_connections, log=error_log, what="nginx", timeout=10
    )
    try:
        yield Server(url=f"http://127.0.0.1:{port}", log=access_log)
    finally:
        stop(process)


def service_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any MaintBot or OpenAI setting, plus `settings` (MAINTBOT_*)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MAINTBOT_", "OPENAI_"))}
    return environment | {"PYTHONUNBUFFERED": "1"} | settings


@contextmanager
def running_api(
    log: Path, environment: Mapping[str, str], *, what: str = "maintbot serve"
) -> Iterator[Server]:
    """`maintbot serve` on a free loopback port with exactly `environment`; stopped by its pid."""
    maintbot = str(Path(sys.executable).parent / "maintbot")

    def launch(port: int) -> subprocess.Popen[bytes]:
        command = [maintbot, "serve", "--host", "127.0.0.1", "--port", str(port)]
        with log.open("ab") as output:
            return subprocess.Popen(command, env=dict(environment), stdout=output, stderr=subprocess.STDOUT)

    process, port = start_on_free_port(
        launch, ready=lambda port: is_live(f"http://127.0.0.1:{port}"), log=log, what=what, timeout=60
    )
    try:
        yield Server(url=f"http://127.0.0.1:{port}", log=log)
    finally:
        stop(process)
