"""The `maintbot` command: demo-data, ask and eval, driven as a user would."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from maintbot.cli import cli, render_table

GREETING = "Hello there"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, demo_database: Path) -> dict[str, str]:
    """The service's configuration as environment variables: its own data folder, the shared demo DB."""
    values = {"MAINTBOT_DATA_DIR": str(tmp_path / "data"), "MAINTBOT_DATABASE_URL": str(demo_database)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_demo_data_writes_the_database_and_prints_row_counts(tmp_path: Path) -> None:
    target = tmp_path / "demo.sqlite3"

    code, out, _ = run("demo-data", str(target), "--seed", "7", "--as-of", "2026-01-31", "--scale", "0.05")

    assert code == 0
    assert target.is_file()
    counts = dict(line.split() for line in out.splitlines())
    assert counts["sites"] == "5"
    assert int(counts["work_orders"].replace(",", "")) > 0


def test_demo_data_refuses_a_malformed_date(tmp_path: Path) -> None:
    code, _, err = run("demo-data", str(tmp_path / "x.sqlite3"), "--as-of", "31/01/2026")

    assert code == 2
    assert "--as-of" in err


def test_demo_data_reports_an_unwritable_target_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run("demo-data", str(blocker / "demo.sqlite3"), "--scale", "0.05")

    assert code == 1
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("environment")
def test_ask_prints_the_answer_and_the_session() -> None:
    code, out, _ = run("ask", GREETING)

    assert code == 0
    assert out.strip().splitlines()[-1].startswith("session: ")
    assert "SQL:" not in out


@pytest.mark.usefixtures("environment")
def test_ask_prints_the_sql_and_the_table_of_a_data_answer() -> None:
    code, out, _ = run("ask", "count the sites", "--language", "en")

    assert code == 0
    assert "SQL: SELECT" in out
    assert "----" in out


@pytest.mark.usefixtures("environment")
def test_ask_continues_a_session() -> None:
    _, first, _ = run("ask", GREETING)
    session_id = first.strip().splitlines()[-1].removeprefix("session: ")

    code, second, _ = run("ask", "Thanks", "--session", session_id)

    assert code == 0
    assert second.strip().endswith(f"session: {session_id}")


@pytest.mark.usefixtures("environment")
def test_ask_in_an_unknown_session_fails_in_one_line() -> None:
    code, _, err = run("ask", GREETING, "--session", "nope")

    assert code == 1
    assert err.strip() == "error: HTTP 404 NotFound: There is no session with this id."


def test_render_table_shows_the_first_rows_and_how_many_more() -> None:
    table = render_table(["tag", "hours"], [[f"PMP-{i:04d}", i * 1.5] for i in range(25)], limit=20)

    lines = table.splitlines()
    assert lines[0].split() == ["tag", "hours"]
    assert lines[2].split() == ["PMP-0000", "0.0"]
    assert len(lines) == 2 + 20 + 1
    assert lines[-1] == "… 5 more"


@pytest.fixture
def golden_file(tmp_path: Path) -> Path:
    """Two items whose outcome does not depend on the engine: a greeting is never a data answer."""
    items = [
        {"id": "greeting", "lang": "en", "turns": [GREETING], "expect": "no_data"},
        {"id": "greeting-as-data", "lang": "en", "turns": [GREETING], "sql": "SELECT COUNT(*) FROM sites"},
    ]
    path = tmp_path / "golden.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in items) + "\n", encoding="utf-8")
    return path


def assert_eval_output(out: str) -> None:
    assert "MISS greeting-as-data: wrong intent: expected data, got " in out
    assert f"  question: {GREETING}" in out
    before = next(line for line in out.splitlines() if line.startswith("database sha256 before:"))
    after = next(line for line in out.splitlines() if line.startswith("database sha256 after:"))
    assert before.split()[-1] == after.split()[-1]
    assert out.strip().endswith("accuracy: 0.50 (1/2)")


@pytest.mark.usefixtures("environment")
def test_eval_in_process_reports_misses_accuracy_and_an_unchanged_database(golden_file: Path) -> None:
    code, out, _ = run("eval", str(golden_file))

    assert code == 0
    assert_eval_output(out)


@pytest.mark.usefixtures("environment")
def test_eval_exits_1_below_the_minimum_accuracy(golden_file: Path) -> None:
    assert run("eval", str(golden_file), "--min-accuracy", "0.5")[0] == 0
    assert run("eval", str(golden_file), "--min-accuracy", "0.9")[0] == 1


@pytest.mark.usefixtures("environment")
def test_eval_refuses_a_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "x", "turns": ["q"]}\n', encoding="utf-8")

    code, _, err = run("eval", str(path))

    assert code == 2
    assert "line 1" in err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def running_server(environment: dict[str, str]) -> Iterator[str]:
    """`maintbot serve` in its own process on a loopback port, stopped by its pid afterwards."""
    port = _free_port()
    command = [str(Path(sys.executable).parent / "maintbot"), "serve", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not become ready")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)


@pytest.mark.slow
def test_eval_against_a_running_server(running_server: str, golden_file: Path) -> None:
    code, out, _ = run("eval", str(golden_file), "--url", running_server)

    assert code == 0
    assert_eval_output(out)


@pytest.mark.usefixtures("environment")
def test_eval_fails_in_one_line_when_the_server_is_unreachable(golden_file: Path) -> None:
    code, _, err = run("eval", str(golden_file), "--url", f"http://127.0.0.1:{_free_port()}")

    assert code == 1
    assert err.startswith("error: could not reach the service")
