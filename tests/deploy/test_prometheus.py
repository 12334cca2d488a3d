"""prometheus/: the configuration and the alert rules are valid, the alerts fire when they should, and a real
Prometheus scrapes a real `maintbot serve` with them.

Needs `prometheus` and `promtool` (Debian: `apt-get install -y --no-install-recommends prometheus`); the
tests that run them are skipped without them, except in CI (`CI=true`), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from maintbot import metrics

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "alerts.yml"
EXPECTED_ALERTS = {
    "MaintBotTargetDown",
    "MaintBotTargetMissing",
    "MaintBotHighErrorRate",
    "MaintBotHighChatLatency",
    "MaintBotSqlGuardRejections",
    "MaintBotDegradedAnswers",
}
QUESTION = "How many compressors are down?"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"`{name}` is not installed (apt-get install -y --no-install-recommends prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    return _tool("prometheus")


def _run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def _alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


# Static checks.


def test_promtool_accepts_the_config_and_its_rule_files(promtool: str) -> None:
    checked = _run(promtool, "check", "config", str(CONFIG))

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout


def test_promtool_accepts_the_rules(promtool: str) -> None:
    checked = _run(promtool, "check", "rules", str(RULES))

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_has_a_duration_a_severity_and_a_summary() -> None:
    rules = _alert_rules()

    assert {rule["alert"] for rule in rules} == EXPECTED_ALERTS
    for rule in rules:
        name = rule["alert"]
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), f"{name} has no `for:`"
        assert rule.get("labels", {}).get("severity") in {"critical", "warning"}, name
        assert rule.get("annotations", {}).get("summary"), f"{name} has no summary"
        assert rule.get("annotations", {}).get("description"), f"{name} has no description"


def _exported_sample_names() -> set[str]:
    """Every sample name maintbot.metrics exports: `_total` counters, `_bucket/_count/_sum` histograms."""
    names: set[str] = set()
    for value in vars(metrics).values():
        if not isinstance(value, Counter | Gauge | Histogram):
            continue
        for family in value.describe():
            if family.type == "counter":
                names.add(f"{family.name}_total")
            elif family.type == "histogram":
                names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum")}
            else:
                names.add(family.name)
    return names


def test_the_alerts_use_only_metrics_the_service_exports() -> None:
    exported = _exported_sample_names()

    for rule in _alert_rules():
        used = set(re.findall(r"\bmaintbot_[a-z_]+", rule["expr"]))
        assert used <= exported, f"{rule['alert']} uses {sorted(used - exported)}"


# promtool's unit tests: synthetic series, one sample a minute, and which alerts fire. Their copy of the rules
# has no annotations (promtool would compare their rendered text); `promtool check rules` checks those.
_SERIES = 'job="maintbot", instance="10.0.0.5:8000"'
_CHAT = f'{_SERIES}, method="POST", route="/api/v1/chat"'
# Counters grow by the given amount a minute; out of 100 chat requests a minute, how many took under 1 s, 2 s.
_HEALTHY = {
    "up": "1x40",
    "errors": "0+1x40",  # 1 in 91 requests
    "under_1s": "0+95x40",
    "under_2s": "0+100x40",
    "rejections": "0x40",
    "degraded": "0x40",
}
_IN_TROUBLE = {
    "up": "0x40",
    "errors": "0+10x40",  # 10 in 100 requests
    "under_1s": "0+10x40",
    "under_2s": "0+10x40",
    "rejections": "0+5x40",
    "degraded": "0+5x40",  # half the answers
}


def _series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def _alert_tests(*, healthy: bool) -> dict[str, Any]:
    """A healthy service (no alert fires) or one in trouble (every alert but MaintBotTargetMissing fires)."""
    v = _HEALTHY if healthy else _IN_TROUBLE
    duration = "maintbot_http_request_duration_seconds_bucket"
    series = [
        _series("up", _SERIES, v["up"]),
        _series("maintbot_http_requests_total", f'{_CHAT}, status="200"', "0+90x40"),
        _series("maintbot_http_requests_total", f'{_CHAT}, status="500"', v["errors"]),
        _series(duration, f'{_CHAT}, le="1"', v["under_1s"]),
        _series(duration, f'{_CHAT}, le="2"', v["under_2s"]),
        _series(duration, f'{_CHAT}, le="5"', "0+100x40"),
        _series(duration, f'{_CHAT}, le="+Inf"', "0+100x40"),
        _series("maintbot_sql_guard_rejections_total", _SERIES, v["rejections"]),
        _series("maintbot_answers_total", f'{_SERIES}, intent="data", engine="local"', "0+10x40"),
        _series("maintbot_degraded_answers_total", _SERIES, v["degraded"]),
    ]
    critical = {"severity": "critical", "service": "maintbot"}
    warning = {"severity": "warning", "service": "maintbot"}
    firing: dict[str, list[dict[str, Any]]] = {
        "MaintBotTargetDown": [{"exp_labels": critical | {"job": "maintbot", "instance": "10.0.0.5:8000"}}],
        "MaintBotTargetMissing": [],
        "MaintBotHighErrorRate": [{"exp_labels": critical}],
        "MaintBotHighChatLatency": [{"exp_labels": warning}],
        "MaintBotSqlGuardRejections": [{"exp_labels": warning}],
        "MaintBotDegradedAnswers": [{"exp_labels": warning}],
    }
    checks = [
        {"eval_time": "30m", "alertname": name, "exp_alerts": [] if healthy else expected}
        for name, expected in firing.items()
    ]
    # `for:` holds an alert back: one minute of failed scrapes is not yet enough for MaintBotTargetDown.
    checks.append({"eval_time": "1m", "alertname": "MaintBotTargetDown", "exp_alerts": []})
    return {"interval": "1m", "input_series": series, "alert_rule_test": checks}


def test_the_alerts_fire_in_trouble_and_stay_quiet_otherwise(promtool: str, tmp_path: Path) -> None:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(document), encoding="utf-8")
    tests = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [_alert_tests(healthy=False), _alert_tests(healthy=True)],
    }
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(tests), encoding="utf-8")

    tested = _run(promtool, "test", "rules", "alerts_test.yml", cwd=tmp_path)

    assert tested.returncode == 0, tested.stdout + tested.stderr


# A real Prometheus with the repository's configuration, scraping a real `maintbot serve`.


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until(ready: Any, what: str, *, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{what} exited with {process.returncode}"
        try:
            if ready():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{what} was not ready after {timeout:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def maintbot_url(tmp_path_factory: pytest.TempPathFactory, demo_database: Path) -> Iterator[str]:
    """`maintbot serve` on a loopback port (reading the shared demo DB), with one question answered."""
    folder = tmp_path_factory.mktemp("maintbot")
    port = _free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MAINTBOT_", "OPENAI_", "PROMETHEUS_"))
    }
    env |= {
        "MAINTBOT_DATABASE_URL": str(demo_database),
        "MAINTBOT_DATA_DIR": str(folder / "data"),
        "MAINTBOT_LOG_LEVEL": "WARNING",
    }
    command = [str(Path(sys.executable).parent / "maintbot"), "serve", "--host", "127.0.0.1"]
    with (folder / "maintbot.log").open("wb") as log:
        server = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(
            lambda: httpx.get(f"{url}/health/ready", timeout=1).status_code == 200,
            "maintbot serve",
            timeout=60,
            process=server,
        )
        answer = httpx.post(f"{url}/api/v1/chat", json={"message": QUESTION}, timeout=30)
        assert answer.status_code == 200, answer.text
        yield url
    finally:
        _stop(server)


@pytest.fixture(scope="session")
def prometheus_url(
    prometheus_binary: str, maintbot_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Prometheus on a copy of prometheus.yml (and alerts.yml) that scrapes `maintbot_url` every second.

    Targets reach the scrapes about 5 s after start (Prometheus batches discovery updates)."""
    folder = tmp_path_factory.mktemp("prometheus")
    port = _free_port()
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config["global"] |= {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"maintbot", "prometheus"}
    # The repository scrapes the compose service `api:8000`; the copy scrapes the loopback server instead.
    maintbot_job = jobs["maintbot"]
    assert maintbot_job["dns_sd_configs"] == [
        {"names": ["api"], "type": "A", "port": 8000, "refresh_interval": "30s"}
    ]
    del maintbot_job["dns_sd_configs"]
    maintbot_job["static_configs"] = [{"targets": [maintbot_url.removeprefix("http://")]}]
    jobs["prometheus"]["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    shutil.copy(RULES, folder / "alerts.yml")
    command = [
        prometheus_binary,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with (folder / "prometheus.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(
            lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200,
            "prometheus",
            timeout=20,
            process=server,
        )
        yield url
    finally:
        _stop(server)


def _query(prometheus_url: str, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _eventually(prometheus_url: str, promql: str, *, timeout: float = 15) -> list[dict[str, Any]]:
    """The query's result once it is not empty (the first scrapes take a second or two)."""
    deadline = time.monotonic() + timeout
    while True:
        result = _query(prometheus_url, promql)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.25)


def test_prometheus_scrapes_the_service(prometheus_url: str) -> None:
    up = _eventually(prometheus_url, 'up{job="maintbot"} == 1')

    assert len(up) == 1, up
    assert _eventually(prometheus_url, 'up{job="prometheus"} == 1')


def test_the_answered_question_is_counted_in_prometheus(prometheus_url: str) -> None:
    answers = _eventually(prometheus_url, "maintbot_answers_total")

    assert answers, "maintbot_answers_total has no series"
    data = [s for s in answers if s["metric"].get("intent") == "data"]
    assert data, answers
    assert data[0]["metric"]["job"] == "maintbot"
    assert float(data[0]["value"][1]) >= 1
    chat = _eventually(prometheus_url, 'maintbot_http_requests_total{route="/api/v1/chat", status="200"}')
    assert chat
    assert _eventually(prometheus_url, "maintbot_build_info == 1")


def test_prometheus_evaluates_every_alert_rule_without_error(prometheus_url: str) -> None:
    # On a loaded machine a scrape can time out now and then, which briefly makes `up` 0 and an alert
    # pending: wait for every rule to be evaluated and quiet, then check (a firing rule stays firing).
    deadline = time.monotonic() + 45
    while True:
        response = httpx.get(f"{prometheus_url}/api/v1/rules", params={"type": "alert"}, timeout=5)
        rules = [rule for group in response.json()["data"]["groups"] for rule in group["rules"]]
        settled = all(rule["health"] == "ok" and rule["state"] == "inactive" for rule in rules)
        if (rules and settled) or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    assert {rule["name"] for rule in rules} == EXPECTED_ALERTS
    assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
    # The service is up and healthy: nothing fires, not even MaintBotTargetMissing.
    assert all(rule["state"] == "inactive" for rule in rules), [(r["name"], r["state"]) for r in rules]
