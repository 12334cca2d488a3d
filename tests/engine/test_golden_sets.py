"""Execution accuracy of the built-in engine, measured the way users measure it: `maintbot eval`.

Each set goes through the HTTP API (in process), its gold SQL runs on the same demo database, and the
database must be unchanged afterwards. The project's own questions are phrased differently from the
development set, in both languages, with other filters; the development set is measured too when the
shared folder is beside the project (CI has it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maintbot.cli import cli

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
DEV_SET = Path(__file__).resolve().parents[3] / "shared" / "eval" / "dev.jsonl"


def run_eval(path: Path, *, database: Path, data_dir: Path, minimum: float) -> str:
    env = {"MAINTBOT_DATA_DIR": str(data_dir), "MAINTBOT_LOG_LEVEL": "WARNING"}
    result = CliRunner().invoke(
        cli, ["eval", str(path), "--database", str(database), "--min-accuracy", str(minimum)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "database sha256 before" in result.output
    return result.output


GOLDEN_SETS = [
    # (file, the accuracy it must keep, who wrote it and why any miss is known)
    pytest.param("questions.jsonl", 1.0, id="own-questions"),
    pytest.param("heldout.jsonl", 1.0, id="blind-1"),
    # Known miss (1 of 80): "equipos … en servicios (utilities)" reads "en servicio(s)" as the operational
    # status, because plural and singular share one canonical form.
    pytest.param("heldout2.jsonl", 0.98, id="blind-2-busier-style"),
    pytest.param("heldout3.jsonl", 1.0, id="blind-3-managers-and-reliability-engineers"),
    pytest.param("heldout4.jsonl", 1.0, id="blind-4-everyday-planner-questions"),
    pytest.param("heldout5.jsonl", 1.0, id="blind-5-new-planners-and-technicians"),
    pytest.param("heldout6.jsonl", 1.0, id="blind-6-plant-engineers"),
    # Known miss (1 of 49): "for the budget meeting next week … last year" takes "next week" as the period.
    pytest.param("heldout7.jsonl", 0.97, id="blind-7-terse-and-rambling"),
    # Known miss (1 of 50): "¿qué tal andan las bombas … en paros?" means stoppages (failures); the engine
    # reads "paros" as downtime hours, since singular and plural share one form.
    pytest.param("heldout8.jsonl", 0.98, id="blind-8-mostly-spanish"),
    pytest.param("heldout9.jsonl", 1.0, id="blind-9-varied-openings"),
]


@pytest.mark.parametrize(("name", "minimum"), GOLDEN_SETS)
def test_golden_questions_keep_their_accuracy(
    full_demo_database: Path, tmp_path: Path, name: str, minimum: float
) -> None:
    """The project's own questions and the sets written blind (from the schema and glossary only)."""
    output = run_eval(GOLDEN / name, database=full_demo_database, data_dir=tmp_path, minimum=minimum)
    if minimum == 1.0:
        assert "accuracy: 1.00" in output


@pytest.mark.skipif(
    not DEV_SET.exists() and os.environ.get("CI") != "true",
    reason="the development set lives in ../shared/eval, which is not beside this checkout",
)
def test_the_development_set_scores_at_least_95_percent(full_demo_database: Path, tmp_path: Path) -> None:
    output = run_eval(DEV_SET, database=full_demo_database, data_dir=tmp_path, minimum=0.95)
    assert "accuracy:" in output
