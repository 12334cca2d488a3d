"""bench/load.py, run for real in its tiny configuration (`--quick`), so that the benchmark keeps working.

Each run starts real services (`maintbot serve`, the scripted LLM, nginx) on loopback ports and checks the
report the benchmark writes: every scenario ran, without errors, and memory was read for every process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "load.py"
NO_NGINX = "nginx is not installed (apt-get install -y --no-install-recommends nginx)"


def run_quick(*arguments: str, report: Path) -> str:
    """`bench/load.py --quick` with these arguments; its Markdown report once it exited with 0."""
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--report", str(report), *arguments],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
    return report.read_text(encoding="utf-8")


def summary_rows(report: str) -> dict[str, list[str]]:
    """The summary table's rows by scenario: answers, answers/s, p50, p90, p99, overhead, errors, cached."""
    rows = {}
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 10 and cells[1].isdigit():
            rows[cells[0]] = cells[1:]
    return rows


def memory_rows(report: str) -> list[list[str]]:
    lines = report.split("Memory at the end of each scenario:", 1)[1].splitlines()
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("|")]
    return [row for row in cells if len(row) == 5 and row[3].isdigit()]


@pytest.mark.slow
def test_one_service_and_the_llm_pipeline_take_the_load_without_errors(
    demo_database: Path, tmp_path: Path
) -> None:
    report = run_quick("--scenarios", "a,b", "--database", str(demo_database), report=tmp_path / "load.md")

    rows = summary_rows(report)
    computed, hits = rows["a(i) local, computed"], rows["a(ii) local, cache hits"]
    llm = next(row for name, row in rows.items() if name.startswith("b LLM"))
    for row in (computed, hits, llm):
        assert int(row[0]) > 0  # answers
        assert row[6] == "0"  # errors
    assert computed[7] == "0"  # nothing came from the cache with the cache off
    assert int(hits[7]) >= 0.95 * int(hits[0])  # and nearly everything did with it on
    assert llm[5] != "-"  # the pipeline overhead was measured
    assert all(float(row[4]) > 0 for row in memory_rows(report))


@pytest.mark.slow
@pytest.mark.postgres
def test_two_replicas_behind_nginx_share_conversations(
    demo_database: Path, postgres_dsn: str, redis_server_url: str, tmp_path: Path
) -> None:
    if (
        shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
        is None
    ):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{NO_NGINX}; CI=true requires it")
        pytest.skip(NO_NGINX)

    report = run_quick("--scenarios", "d", "--database", str(demo_database), report=tmp_path / "load.md")

    through_nginx = summary_rows(report)["d(i) 2 replicas + nginx, computed"]
    assert int(through_nginx[0]) > 0
    assert through_nginx[6] == "0"
    assert "answered in context on the other replica" in report
    assert "FAILED" not in report
    assert {row[1] for row in memory_rows(report)} == {"replica 1", "replica 2"}
