"""The few-shot pool: built-in examples written by the local engine, and finding the examples most like a
question."""

from __future__ import annotations

from maintbot.engine.factory import builtin_examples
from maintbot.engine.llm.examples import BUILTIN_QUESTIONS, ExamplePool, question_key
from maintbot.engine.llm.prompts import Example
from maintbot.engine.local.engine import LocalEngine


async def test_every_built_in_example_gets_its_sql_from_the_local_engine(engine: LocalEngine) -> None:
    examples = await builtin_examples(engine)

    assert [example.question for example in examples] == list(BUILTIN_QUESTIONS)
    assert all(example.sql.upper().startswith(("SELECT", "WITH")) for example in examples)


def test_the_most_similar_examples_come_last_nearest_the_question() -> None:
    pool = ExamplePool(
        [
            Example("How many pumps are there at each site?", "SELECT 1"),
            Example("Maintenance cost per site this year", "SELECT 2"),
            Example("Average vibration of the motors", "SELECT 3"),
        ]
    )

    similar = pool.similar("What did maintenance cost at each site last year?", k=2)

    assert [example.sql for example in similar] == ["SELECT 1", "SELECT 2"]
    assert pool.similar("completely unrelated words", k=2) == []


def test_an_exact_match_ignores_case_accents_and_punctuation() -> None:
    pool = ExamplePool([Example("¿Cuántas bombas hay?", "SELECT 1")])

    found = pool.exact("cuantas BOMBAS hay")

    assert found is not None
    assert found.sql == "SELECT 1"
    assert question_key("¿Cuántas bombas hay?") == question_key("cuantas bombas hay")
