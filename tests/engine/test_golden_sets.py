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


def test_the_projects_own_questions_are_all_answered_right(full_demo_database: Path, tmp_path: Path) -> None:
    output = run_eval(GOLDEN / "questions.jsonl", database=full_demo_database, data_dir=tmp_path, minimum=1.0)
    assert "accuracy: 1.00" in output


def test_held_out_questions_written_without_seeing_the_engine(
    full_demo_database: Path, tmp_path: Path
) -> None:
    output = run_eval(GOLDEN / "heldout.jsonl", database=full_demo_database, data_dir=tmp_path, minimum=1.0)
    assert "accuracy:" in output


def test_a_second_held_out_set_in_a_busier_style(full_demo_database: Path, tmp_path: Path) -> None:
    # Known miss (1 of 80): "equipos … en servicios (utilities)" reads "en servicio(s)" as the operational
    # status, because plural and singular share one canonical form.
    output = run_eval(GOLDEN / "heldout2.jsonl", database=full_demo_database, data_dir=tmp_path, minimum=0.98)
    assert "accuracy:" in output


def test_a_third_held_out_set_from_managers_and_reliability_engineers(
    full_demo_database: Path, tmp_path: Path
) -> None:
    output = run_eval(GOLDEN / "heldout3.jsonl", database=full_demo_database, data_dir=tmp_path, minimum=1.0)
    assert "accuracy: 1.00" in output


def test_a_fourth_held_out_set_of_everyday_planner_questions(
    full_demo_database: Path, tmp_path: Path
) -> None:
    output = run_eval(GOLDEN / "heldout4.jsonl", database=full_demo_database, data_dir=tmp_path, minimum=1.0)
    assert "accuracy: 1.00" in output


def test_a_fifth_held_out_set_from_new_planners_and_technicians(
    full_demo_database: Path, tmp_path: Path
) -> None:
    output = run_eval(GOLDEN / "heldout5.jsonl", database=full_demo_database, data_dir=tmp_path, minimum=1.0)
    assert "accuracy: 1.00" in output


def test_a_sixth_held_out_set_from_plant_engineers(full_demo_database: Path, tmp_path: Path) -> None:
    output = run_eval(GOLDEN / "heldout6.jsonl", database=full_demo_database, data_dir=tmp_path, minimum=1.0)
    assert "accuracy: 1.00" in output


def test_a_seventh_held_out_set_of_terse_and_rambling_questions(
    full_demo_database: Path, tmp_path: Path
) -> None:
    # Known miss (1 of 49): "for the budget meeting next week … last year" takes "next week" as the period.
    output = run_eval(GOLDEN / "heldout7.jsonl", database=full_demo_database, data_dir=tmp_path, minimum=0.97)
    assert "accuracy:" in output


def test_an_eighth_held_out_set_mostly_in_spanish(full_demo_database: Path, tmp_path: Path) -> None:
    # Known miss (1 of 50): "¿qué tal andan las bombas … en paros?" means stoppages (failures); the engine
    # reads "paros" as downtime hours, since singular and plural share one form.
    output = run_eval(GOLDEN / "heldout8.jsonl", database=full_demo_database, data_dir=tmp_path, minimum=0.98)
    assert "accuracy:" in output


def test_a_ninth_held_out_set_with_varied_openings(full_demo_database: Path, tmp_path: Path) -> None:
    output = run_eval(GOLDEN / "heldout9.jsonl", database=full_demo_database, data_dir=tmp_path, minimum=1.0)
    assert "accuracy: 1.00" in output


@pytest.mark.skipif(
    not DEV_SET.exists() and os.environ.get("CI") != "true",
    reason="the development set lives in ../shared/eval, which is not beside this checkout",
)
def test_the_development_set_scores_at_least_95_percent(full_demo_database: Path, tmp_path: Path) -> None:
    output = run_eval(DEV_SET, database=full_demo_database, data_dir=tmp_path, minimum=0.95)
    assert "accuracy:" in output
