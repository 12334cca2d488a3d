"""Scoring of golden questions: execution accuracy with lenient columns."""

from __future__ import annotations

from typing import Any

import pytest

from maintbot.errors import UnsafeSql
from maintbot.evaluation import (
    EvalFileError,
    EvalItem,
    TurnFailed,
    compare_results,
    evaluate,
    normalize,
    parse_items,
    score,
)
from maintbot.schemas import ChatAnswer
from maintbot.sql.types import QueryResult


def answer(
    intent: str = "data", rows: list[list[Any]] | None = None, sql: str | None = "SELECT 1"
) -> ChatAnswer:
    return ChatAnswer(
        session_id="s",
        message_id="m",
        answer="…",
        language="en",
        intent=intent,
        sql=sql if intent == "data" else None,
        columns=[f"c{i}" for i in range(len(rows[0]))] if rows else None,
        rows=rows if intent == "data" else None,
        row_count=len(rows or []),
        truncated=False,
        artifacts=[],
        engine="local",
        cached=False,
        degraded=False,
        timings_ms={},
    )


def item(**fields: Any) -> EvalItem:
    return EvalItem.model_validate({"id": "t-1", "lang": "en", "turns": ["q"], **fields})


def gold(rows: list[list[Any]], columns: list[str] | None = None) -> QueryResult:
    return QueryResult(columns=columns or [f"g{i}" for i in range(len(rows[0]) if rows else 1)], rows=rows)


class TestCompareResults:
    def test_equal_rows_match(self) -> None:
        assert compare_results([["pump", 3]], [["pump", 3]], ordered=False) is None

    def test_extra_answer_columns_are_fine(self) -> None:
        assert compare_results([[3]], [["Pumps", 3]], ordered=False) is None
        assert compare_results([["PMP-0001"]], [["PMP-0001", "Cooling pump", 12.5]], ordered=False) is None

    def test_columns_may_come_in_any_order(self) -> None:
        assert (
            compare_results([["pump", 3], ["motor", 5]], [[5, "motor"], [3, "pump"]], ordered=False) is None
        )

    def test_unordered_results_compare_as_multisets(self) -> None:
        assert compare_results([["a"], ["b"], ["b"]], [["b"], ["a"], ["b"]], ordered=False) is None
        assert compare_results([["a"], ["b"], ["b"]], [["a"], ["a"], ["b"]], ordered=False) is not None

    def test_ordered_results_compare_as_sequences(self) -> None:
        assert compare_results([["a", 2], ["b", 1]], [["a", 2], ["b", 1]], ordered=True) is None
        assert "column mismatch" in (
            compare_results([["a", 2], ["b", 1]], [["b", 1], ["a", 2]], ordered=True) or ""
        )

    def test_numbers_are_rounded_to_two_decimals(self) -> None:
        assert compare_results([[12.3449]], [[12.34]], ordered=False) is None
        assert compare_results([[3]], [[3.0]], ordered=False) is None
        assert compare_results([[12.35]], [[12.34]], ordered=False) is not None

    def test_strings_compare_trimmed_and_case_insensitively(self) -> None:
        assert compare_results([["Monterrey Plant"]], [["  monterrey plant "]], ordered=False) is None
        assert compare_results([["Bogotá"]], [["bogota"]], ordered=False) is not None

    def test_a_different_row_count_is_a_miss(self) -> None:
        assert compare_results([[1], [2]], [[1]], ordered=False) == "row count: expected 2, got 1"

    def test_a_gold_column_without_a_match_is_named(self) -> None:
        problem = compare_results([["pump", 3]], [["pump", 4]], ordered=False, gold_columns=["type", "n"])
        assert problem == "column mismatch: no answer column has the values of gold column 'n'"

    def test_each_gold_column_needs_its_own_answer_column(self) -> None:
        assert compare_results([[7, 7]], [[7]], ordered=False) is not None

    def test_rows_must_line_up_not_only_columns(self) -> None:
        gold_rows = [["pump", 3], ["motor", 5]]
        swapped = [["pump", 5], ["motor", 3]]
        assert "do not line up" in (compare_results(gold_rows, swapped, ordered=False) or "")

    def test_a_consistent_mapping_is_found_among_lookalike_columns(self) -> None:
        # Both answer columns hold {1, 2}; only mapping gold's second column to the last one lines rows up.
        gold_rows = [["a", 1], ["b", 2]]
        answer_rows = [["a", 2, 1], ["b", 1, 2]]
        assert compare_results(gold_rows, answer_rows, ordered=False) is None

    def test_empty_results_match(self) -> None:
        assert compare_results([], [], ordered=False) is None

    def test_nulls_match_nulls(self) -> None:
        assert compare_results([[None, 1]], [[None, 1]], ordered=False) is None


def test_normalize() -> None:
    assert normalize(True) == 1.0
    assert normalize(2) == normalize(2.004) == 2.0
    assert normalize(" Pump ") == "pump"
    assert normalize(None) is None


class TestScore:
    def test_a_data_item_needs_a_data_answer(self) -> None:
        verdict = score(item(sql="SELECT 1"), answer("unsupported"), gold([[1]]))
        assert not verdict.passed
        assert verdict.reason == "wrong intent: expected data, got unsupported"

    def test_a_data_item_passes_on_equal_rows(self) -> None:
        assert score(item(sql="SELECT 1"), answer(rows=[["x", 1]]), gold([[1]])).passed

    def test_a_data_item_fails_on_different_rows(self) -> None:
        verdict = score(item(sql="SELECT 1"), answer(rows=[[2]]), gold([[1]]))
        assert not verdict.passed
        assert verdict.reason is not None
        assert verdict.reason.startswith("column mismatch")

    def test_ordered_items_compare_in_order(self) -> None:
        rows = [["b", 1], ["a", 2]]
        assert score(item(sql="S", ordered=False), answer(rows=rows), gold(rows[::-1])).passed
        assert not score(item(sql="S", ordered=True), answer(rows=rows), gold(rows[::-1])).passed

    @pytest.mark.parametrize(("intent", "passed"), [("smalltalk", True), ("refused", True), ("data", False)])
    def test_no_data_items_pass_unless_the_answer_is_data(self, intent: str, passed: bool) -> None:
        rows = [[1]] if intent == "data" else None
        assert score(item(expect="no_data"), answer(intent, rows=rows), None).passed is passed

    @pytest.mark.parametrize(
        ("intent", "passed"), [("refused", True), ("unsupported", False), ("error", False)]
    )
    def test_refused_items_need_a_refusal(self, intent: str, passed: bool) -> None:
        assert score(item(expect="refused"), answer(intent), None).passed is passed


class TestParseItems:
    def test_reads_json_lines_and_skips_blank_ones(self) -> None:
        items = parse_items(
            [
                '{"id": "a", "lang": "en", "turns": ["How many?"], "sql": "SELECT 1", "ordered": false}',
                "",
                '{"id": "b", "lang": "es", "turns": ["Hola", "¿Y?"], "expect": "no_data"}',
            ]
        )
        assert [i.id for i in items] == ["a", "b"]
        assert items[1].question == "¿Y?"

    @pytest.mark.parametrize(
        "line",
        [
            "not json",
            '{"id": "a", "turns": ["q"]}',
            '{"id": "a", "turns": ["q"], "sql": "SELECT 1", "expect": "no_data"}',
            '{"id": "a", "turns": [], "sql": "SELECT 1"}',
            '{"id": "a", "turns": ["q"], "expect": "maybe"}',
        ],
    )
    def test_a_bad_line_is_reported_with_its_number(self, line: str) -> None:
        with pytest.raises(EvalFileError, match="line 2"):
            parse_items(['{"id": "ok", "turns": ["q"], "expect": "no_data"}', line])


async def test_evaluate_scores_every_item_and_reports_misses() -> None:
    items = [
        item(id="count", turns=["first", "second"], sql="SELECT n"),
        item(id="hello", expect="no_data"),
        item(id="broken", expect="refused"),
        item(id="bad-gold", sql="SELECT broken"),
    ]
    asked: list[list[str]] = []

    async def ask(one: EvalItem) -> ChatAnswer:
        asked.append(one.turns)
        if one.id == "broken":
            raise TurnFailed("HTTP 500 InternalError: An unexpected error occurred.")
        return answer(rows=[[3]]) if one.sql else answer("smalltalk")

    async def run_gold(sql: str) -> QueryResult:
        if sql == "SELECT broken":
            raise UnsafeSql("unknown column 'broken'")
        return gold([[3]])

    report = await evaluate(items, ask=ask, run_gold=run_gold)

    assert asked[0] == ["first", "second"]
    assert [o.verdict.passed for o in report.outcomes] == [True, True, False, False]
    assert (report.passed, report.accuracy) == (2, 0.5)
    assert [o.item.id for o in report.misses] == ["broken", "bad-gold"]
    assert (
        report.misses[0].verdict.reason
        == "request failed: HTTP 500 InternalError: An unexpected error occurred."
    )
    assert report.misses[1].verdict.reason == "gold SQL could not run (UnsafeSql): unknown column 'broken'"
