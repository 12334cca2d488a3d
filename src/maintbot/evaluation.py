"""Execution accuracy over a golden question set (the format of `eval/dev.jsonl`).

An answer passes when its rows equal the gold SQL's rows on the same database, with lenient columns:
every gold column must match a distinct answer column (extra answer columns are fine), values compared
after rounding numbers to 2 decimals and trimming and lower-casing strings, as a multiset of rows (as a
sequence when the item is `ordered`). `expect` items check the intent instead.

Scoring is pure; `evaluate` runs a set with the asking and the gold queries passed in.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from maintbot.errors import MaintBotError
from maintbot.schemas import ChatAnswer
from maintbot.sql.types import QueryResult


class EvalItem(BaseModel):
    """One golden question: the turns of a session, and for the last turn the gold SQL or an expectation."""

    id: str
    lang: Literal["en", "es"] | None = None
    turns: list[str] = Field(min_length=1)
    sql: str | None = None
    ordered: bool = False
    expect: Literal["no_data", "refused"] | None = None

    @model_validator(mode="after")
    def _sql_or_expect(self) -> EvalItem:
        if (self.sql is None) == (self.expect is None):
            raise ValueError("an item needs either 'sql' or 'expect'")
        return self

    @property
    def question(self) -> str:
        """The scored question: the last turn."""
        return self.turns[-1]


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one item went: the verdict, and what the service answered to its last turn."""

    item: EvalItem
    verdict: Verdict
    sql: str | None = None


@dataclass(frozen=True, slots=True)
class EvalReport:
    outcomes: list[Outcome]

    @property
    def passed(self) -> int:
        return sum(outcome.verdict.passed for outcome in self.outcomes)

    @property
    def accuracy(self) -> float:
        return self.passed / len(self.outcomes) if self.outcomes else 0.0

    @property
    def misses(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if not outcome.verdict.passed]


class TurnFailed(Exception):
    """The service answered a turn with an error status; the item is a miss, the run goes on."""


class EvalFileError(ValueError):
    """A line of the question set is not a valid item; the message names the line."""


def parse_items(lines: Iterable[str]) -> list[EvalItem]:
    """Read JSON Lines items, skipping blank lines."""
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(EvalItem.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as exc:
            raise EvalFileError(f"line {number}: {exc}") from None
    return items


def normalize(value: Any) -> Hashable:
    """What a value is compared as: numbers rounded to 2 decimals, strings trimmed and lower-cased."""
    if isinstance(value, bool):
        return round(float(value), 2)
    if isinstance(value, int | float | Decimal):
        return round(float(value), 2)
    if isinstance(value, str):
        return value.strip().lower()
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, default=str)


def score(item: EvalItem, answer: ChatAnswer, gold: QueryResult | None) -> Verdict:
    """Score the answer to an item's last turn (`gold` is the gold SQL's result, None for `expect` items)."""
    intent = answer.intent.value
    if item.expect == "no_data":
        return _verdict(intent != "data", f"wrong intent: expected no data answer, got {intent}")
    if item.expect == "refused":
        return _verdict(intent == "refused", f"wrong intent: expected refused, got {intent}")
    if intent != "data":
        return Verdict(False, f"wrong intent: expected data, got {intent}")
    if gold is None:
        raise ValueError(f"item {item.id} has gold SQL but no gold result was given")
    problem = compare_results(gold.rows, answer.rows or [], ordered=item.ordered, gold_columns=gold.columns)
    return _verdict(problem is None, problem or "")


def _verdict(passed: bool, reason: str) -> Verdict:
    return Verdict(True) if passed else Verdict(False, reason)


def compare_results(
    gold_rows: Sequence[Sequence[Any]],
    answer_rows: Sequence[Sequence[Any]],
    *,
    ordered: bool,
    gold_columns: Sequence[str] = (),
) -> str | None:
    """None when the answer's rows hold the gold rows (lenient columns); else why not, in a phrase."""
    if len(gold_rows) != len(answer_rows):
        return f"row count: expected {len(gold_rows)}, got {len(answer_rows)}"
    if not gold_rows:
        return None
    gold = [[normalize(value) for value in row] for row in gold_rows]
    answer = [[normalize(value) for value in row] for row in answer_rows]
    answer_width = len(answer[0])
    candidates = []
    for g in range(len(gold[0])):
        gold_values = [row[g] for row in gold]
        matching = [
            a for a in range(answer_width) if _same_values(gold_values, [r[a] for r in answer], ordered)
        ]
        if not matching:
            name = gold_columns[g] if g < len(gold_columns) else f"#{g + 1}"
            return f"column mismatch: no answer column has the values of gold column {name!r}"
        candidates.append(matching)
    if _find_alignment(gold, answer, candidates, ordered=ordered, chosen=[]):
        return None
    return "column mismatch: the columns match one by one but the rows do not line up"


def _same_values(gold: list[Hashable], answer: list[Hashable], ordered: bool) -> bool:
    return gold == answer if ordered else Counter(gold) == Counter(answer)


def _find_alignment(
    gold: list[list[Hashable]],
    answer: list[list[Hashable]],
    candidates: list[list[int]],
    *,
    ordered: bool,
    chosen: list[int],
) -> bool:
    """Whether some assignment of distinct answer columns to gold columns makes whole rows equal."""
    if len(chosen) == len(candidates):
        projected = [[row[a] for a in chosen] for row in answer]
        if ordered:
            return projected == gold
        return Counter(map(tuple, projected)) == Counter(map(tuple, gold))
    for column in candidates[len(chosen)]:
        if column not in chosen and _find_alignment(
            gold, answer, candidates, ordered=ordered, chosen=[*chosen, column]
        ):
            return True
    return False


AskTurns = Callable[[EvalItem], Awaitable[ChatAnswer]]
RunGold = Callable[[str], Awaitable[QueryResult]]


async def evaluate(items: Sequence[EvalItem], *, ask: AskTurns, run_gold: RunGold) -> EvalReport:
    """Ask each item's turns in a new session, run its gold SQL right after, and score the last answer.

    A turn the service answers with an error status (`TurnFailed`), or a gold statement that cannot run,
    counts as a miss that says so; anything else (the service unreachable) stops the run.
    """
    outcomes = []
    for item in items:
        try:
            answer = await ask(item)
        except TurnFailed as exc:
            outcomes.append(Outcome(item, Verdict(False, f"request failed: {exc}")))
            continue
        gold = None
        if item.sql is not None:
            try:
                gold = await run_gold(item.sql)
            except MaintBotError as exc:
                reason = f"gold SQL could not run ({exc.code}): {exc.detail}"
                outcomes.append(Outcome(item, Verdict(False, reason), answer.sql))
                continue
        outcomes.append(Outcome(item, score(item, answer, gold), answer.sql))
    return EvalReport(outcomes)
