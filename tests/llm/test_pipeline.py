"""The LLM pipeline, as a team with an OpenAI key would see it: answers, corrections, refusals, retries,
fallbacks, follow-ups and caching, against a scripted server driven by the real `openai` SDK."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import REGISTRY

from maintbot.testing.scripted_llm import Queues, Reply, fields

# `async with llm_service(script, **settings) as (client, llm)` (tests/llm/conftest.py)
ServiceFactory = Any

COUNT_SQL = "SELECT COUNT(*) AS pump_count FROM equipment WHERE equipment_type = 'pump'"
SPANISH_QUESTION = "¿Cuántas bombas tenemos en total?"


def translation(language: str = "en", english: str = "How many pumps are there?") -> Reply:
    return fields(language=language, english=english)


def data() -> Reply:
    return fields(intent="data", reply=None)


def draft(
    sql: str | None, template: str | None = "There are {value} pumps.", language: str = "en", **more: Any
) -> Reply:
    values = {"sql": sql, "answer_template": template, "template_language": language, "expects_rows": False}
    return fields(**(values | {"reason": None} | more))


async def ask(client: httpx.AsyncClient, message: str, **more: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/chat", json={"message": message, **more})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def database_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_data_question_is_answered_with_the_models_sql_in_one_round_trip(
    llm_service: ServiceFactory,
) -> None:
    script = Queues(Translation=[translation()], Classification=[data()], SqlDraft=[draft(COUNT_SQL)])
    async with llm_service(script) as (client, llm):
        answer = await ask(client, "How many pumps are there?")

    assert answer["intent"] == "data"
    assert answer["engine"] == "llm"
    assert answer["degraded"] is False
    assert answer["sql"] == COUNT_SQL
    assert answer["columns"] == ["pump_count"]
    count = answer["rows"][0][0]
    assert count > 0
    assert answer["answer"] == f"There are {count:,} pumps."
    # Translation, classification and SQL at once; the template made the sentence: no fourth call.
    assert sorted(seen.step for seen in llm.seen) == ["Classification", "SqlDraft", "Translation"]
    assert answer["timings_ms"]["llm"] > 0


async def test_the_sql_prompt_is_rendered_from_the_domain_description(llm_service: ServiceFactory) -> None:
    script = Queues(Translation=[translation()], Classification=[data()], SqlDraft=[draft(COUNT_SQL)])
    async with llm_service(script) as (client, llm):
        await ask(client, "How many pumps are there?")

    prompt = llm.calls("SqlDraft")[0].text
    assert "work_orders(id: integer" in prompt  # the schema
    assert "work_orders.priority: low: low / baja" in prompt  # allowed values, both languages
    assert "MTTR / MTTR [h]: AVG(w.downtime_hours)" in prompt  # what a measure means
    assert "p.next_due <= date('now')" in prompt  # the glossary's "needs maintenance"
    assert "How many pumps are there at each site?" in prompt  # the most similar built-in example


async def test_a_spanish_question_is_answered_in_spanish_by_the_models_sentence(
    llm_service: ServiceFactory,
) -> None:
    # No template this time: the model writes the sentence (streamed), in the question's language.
    script = Queues(
        Translation=[translation("es")],
        Classification=[data()],
        SqlDraft=[
            draft(
                "SELECT name, equipment_type FROM equipment ORDER BY id LIMIT 3", template=None, language="es"
            )
        ],
        prose=[Reply(content="Estos son los tres primeros equipos registrados.")],
    )
    async with llm_service(script) as (client, llm):
        answer = await ask(client, "Muéstrame los tres primeros equipos")

    assert answer["language"] == "es"
    assert answer["answer"] == "Estos son los tres primeros equipos registrados."
    assert answer["row_count"] == 3
    answer_prompt = llm.calls("prose")[0]
    assert "Spanish" in answer_prompt.text
    assert answer_prompt.body["stream"] is True


async def test_sql_the_guard_refuses_is_corrected_on_the_second_attempt(llm_service: ServiceFactory) -> None:
    fixed_before = metric("maintbot_sql_corrections_total", reason="guard", outcome="fixed")
    script = Queues(
        Translation=[translation()],
        Classification=[data()],
        SqlDraft=[draft("SELECT COUNT(*) FROM pumps"), draft(COUNT_SQL)],
    )
    async with llm_service(script) as (client, llm):
        answer = await ask(client, "How many pumps are there?")

    assert answer["intent"] == "data"
    assert answer["sql"] == COUNT_SQL
    correction = llm.calls("SqlDraft")[1]
    assert "SELECT COUNT(*) FROM pumps" in correction.text
    assert "the SQL guard refused it" in correction.text
    assert metric("maintbot_sql_corrections_total", reason="guard", outcome="fixed") == fixed_before + 1


async def test_a_database_error_is_fed_back_and_corrected(llm_service: ServiceFactory) -> None:
    script = Queues(
        Translation=[translation()],
        Classification=[data()],
        SqlDraft=[
            draft(
                "SELECT COUNT(*) AS n FROM equipment "
                "WHERE julianday(name, 'x', 'y', 'z') > 'q' GROUP BY 1 HAVING x"
            ),
            draft(COUNT_SQL),
        ],
    )
    async with llm_service(script) as (client, llm):
        answer = await ask(client, "How many pumps are there?")

    assert answer["sql"] == COUNT_SQL
    assert len(llm.calls("SqlDraft")) == 2


async def test_an_empty_result_for_a_question_that_expects_rows_is_corrected(
    llm_service: ServiceFactory,
) -> None:
    wrong = "SELECT name FROM equipment WHERE equipment_type = 'Pump' LIMIT 5"
    right = "SELECT name FROM equipment WHERE equipment_type = 'pump' ORDER BY name LIMIT 5"
    script = Queues(
        Translation=[translation()],
        Classification=[data()],
        SqlDraft=[
            draft(wrong, "The first {row_count} pumps:", expects_rows=True),
            draft(right, "The first {row_count} pumps:", expects_rows=True),
        ],
    )
    async with llm_service(script) as (client, llm):
        answer = await ask(client, "Name five pumps")

    assert answer["row_count"] == 5
    assert "no rows" in llm.calls("SqlDraft")[1].text


async def test_corrections_stop_after_the_configured_number_and_the_answer_says_nothing_ran(
    llm_service: ServiceFactory,
) -> None:
    wrong = [draft(f"SELECT nope{attempt} FROM nowhere") for attempt in range(3)]
    script = Queues(Translation=[translation()], Classification=[data()], SqlDraft=wrong)
    async with llm_service(script, llm_max_corrections=2) as (client, llm):
        answer = await ask(client, "How many pumps are there?")

    assert answer["intent"] == "error"
    assert answer["answer"].startswith("I could not write a safe, read-only query")
    assert answer["sql"] is None
    assert len(llm.calls("SqlDraft")) == 3  # the draft and two corrections


async def test_a_model_that_writes_drop_table_is_refused_and_nothing_changes(
    llm_service: ServiceFactory, demo_database: Path
) -> None:
    before = database_hash(demo_database)
    script = Queues(
        Translation=[translation()], Classification=[data()], SqlDraft=[draft("DROP TABLE work_orders")]
    )
    async with llm_service(script) as (client, llm):
        answer = await ask(client, "How many pumps are there?")

    assert answer["intent"] == "refused"
    assert answer["sql"] is None
    assert answer["rows"] is None
    # A write is never "corrected": the request (or an injected one) is refused at once.
    assert len(llm.calls("SqlDraft")) == 1
    assert database_hash(demo_database) == before


async def test_an_update_hidden_in_a_cte_is_refused_and_nothing_changes(
    llm_service: ServiceFactory, demo_database: Path
) -> None:
    before = database_hash(demo_database)
    hidden = (
        "WITH gone AS (UPDATE work_orders SET status = 'cancelled' RETURNING id) SELECT COUNT(*) FROM gone"
    )
    script = Queues(Translation=[translation()], Classification=[data()], SqlDraft=[draft(hidden)])
    async with llm_service(script) as (client, _llm):
        answer = await ask(client, "How many pumps are there?")

    assert answer["intent"] in ("refused", "error")
    assert answer["rows"] is None
    assert database_hash(demo_database) == before


async def test_a_429_with_retry_after_is_waited_out_then_answered(llm_service: ServiceFactory) -> None:
    retries_before = metric(
        "maintbot_llm_retries_total", step="generate_sql", model="scripted-model", reason="http_429"
    )
    script = Queues(
        Translation=[translation()],
        Classification=[data()],
        SqlDraft=[Reply(status=429, headers={"Retry-After": "1"}, content="slow down"), draft(COUNT_SQL)],
    )
    async with llm_service(script) as (client, llm):
        started = time.monotonic()
        answer = await ask(client, "How many pumps are there?")
        elapsed = time.monotonic() - started

    assert answer["engine"] == "llm"
    assert answer["intent"] == "data"
    assert elapsed >= 1.0  # the server's Retry-After was honoured
    drafts = llm.calls("SqlDraft")
    assert drafts[1].arrived - drafts[0].answered >= 0.95
    assert (
        metric("maintbot_llm_retries_total", step="generate_sql", model="scripted-model", reason="http_429")
        == retries_before + 1
    )


async def test_timeouts_until_the_deadline_fall_back_to_the_local_engine(llm_service: ServiceFactory) -> None:
    slow = Reply(content="{}", delay_s=5)
    script = Queues(Translation=[slow], Classification=[slow], SqlDraft=[slow])
    async with llm_service(script, llm_timeout_s=0.3, llm_deadline_s=1.0) as (client, llm):
        started = time.monotonic()
        answer = await ask(client, "How many compressors are there at each site?")
        elapsed = time.monotonic() - started

    assert answer["engine"] == "local"
    assert answer["degraded"] is True
    assert answer["intent"] == "data"
    assert answer["rows"]
    assert elapsed < 3.0  # the deadline, not the model, decided when to stop waiting
    assert len(llm.seen) > 3  # timed-out calls were retried


async def test_when_neither_the_model_nor_the_local_engine_can_answer_the_client_gets_a_503(
    llm_service: ServiceFactory,
) -> None:
    script = Queues(
        Translation=[Reply(status=503)], Classification=[Reply(status=503)], SqlDraft=[Reply(status=503)]
    )
    async with llm_service(script, llm_max_retries=1) as (client, _llm):
        response = await client.post("/api/v1/chat", json={"message": "What is the MTBF of the pumps?"})

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "language model is not reachable" in response.json()["detail"]


async def test_invalid_json_from_the_model_is_sent_back_for_correction(llm_service: ServiceFactory) -> None:
    script = Queues(
        Translation=[Reply(content="not json at all")],
        Classification=[Reply(content='{"intent": "data"')],
        SqlDraft=[Reply(content="SELECT COUNT(*) FROM equipment"), draft(COUNT_SQL)],
    )
    async with llm_service(script) as (client, llm):
        answer = await ask(client, "How many pumps are there?")

    assert answer["intent"] == "data"
    assert answer["sql"] == COUNT_SQL
    assert "not valid JSON" in llm.calls("SqlDraft")[1].text


async def test_a_model_that_never_returns_valid_json_falls_back_to_the_local_engine(
    llm_service: ServiceFactory,
) -> None:
    script = Queues(
        Translation=[translation()], Classification=[data()], SqlDraft=[Reply(content="```sql SELECT 1```")]
    )
    async with llm_service(script, llm_max_corrections=1) as (client, _llm):
        answer = await ask(client, "How many compressors are there at each site?")

    assert answer["engine"] == "local"
    assert answer["degraded"] is True
    assert answer["rows"]


async def test_a_follow_up_carries_the_conversation_to_the_model(llm_service: ServiceFactory) -> None:
    houston = COUNT_SQL + " AND site_id = (SELECT id FROM sites WHERE city = 'Houston')"
    script = Queues(
        Translation=[translation(), translation(english="And in Monterrey?")],
        Classification=[data()],
        SqlDraft=[draft(COUNT_SQL), draft(houston)],
    )
    async with llm_service(script) as (client, llm):
        first = await ask(client, "How many pumps are there?")
        follow_up = await ask(client, "And in Monterrey?", session_id=first["session_id"])

    assert follow_up["sql"] == houston
    second_prompt = llm.calls("SqlDraft")[1].messages
    contents = [message["content"] for message in second_prompt]
    # The earlier question and its SQL, in order, before the follow-up itself.
    assert contents.index("How many pumps are there?") < contents.index(COUNT_SQL) < len(contents) - 1
    assert contents[-1] == "And in Monterrey?"
    assert "How many pumps are there?" in llm.calls("Classification")[1].text


async def test_translation_and_classification_run_at_the_same_time(llm_service: ServiceFactory) -> None:
    script = Queues(
        Translation=[translation("es")],
        Classification=[data()],
        SqlDraft=[draft(COUNT_SQL, "Hay {value} bombas.", "es")],
    )
    async with llm_service(script, latency_s=0.3) as (client, llm):
        started = time.monotonic()
        answer = await ask(client, SPANISH_QUESTION)
        elapsed = time.monotonic() - started

    translated, classified, drafted = (
        llm.calls(step)[0] for step in ("Translation", "Classification", "SqlDraft")
    )
    # Each call was in flight while the others were: they overlap in time.
    for one, other in ((translated, classified), (translated, drafted), (classified, drafted)):
        assert one.arrived < other.answered
        assert other.arrived < one.answered
    assert answer["answer"].startswith("Hay ")
    assert elapsed < 0.9  # one round trip of 0.3 s, not three


async def test_a_repeated_question_is_answered_from_the_cache_without_calling_the_model(
    llm_service: ServiceFactory,
) -> None:
    script = Queues(Translation=[translation()], Classification=[data()], SqlDraft=[draft(COUNT_SQL)])
    async with llm_service(script) as (client, llm):
        first = await ask(client, "How many pumps are there?")
        calls = len(llm.seen)
        again = await ask(client, "how many PUMPS are there")

    assert first["cached"] is False
    assert again["cached"] is True
    assert len(llm.seen) == calls
    assert again["rows"] == first["rows"]
    assert again["sql"] == first["sql"]
    assert again["session_id"] != first["session_id"]


async def test_the_cache_does_not_serve_an_answer_from_another_conversation_context(
    llm_service: ServiceFactory,
) -> None:
    script = Queues(Translation=[translation()], Classification=[data()], SqlDraft=[draft(COUNT_SQL)])
    async with llm_service(script) as (client, llm):
        first = await ask(client, "And in Houston?")
        other = await ask(client, "How many pumps are there?")
        calls = len(llm.seen)
        follow_up = await ask(client, "And in Monterrey?", session_id=other["session_id"])

    assert first["cached"] is False
    assert follow_up["cached"] is False
    assert len(llm.seen) > calls


async def test_hybrid_mode_answers_what_the_local_engine_understands_without_any_call(
    llm_service: ServiceFactory,
) -> None:
    script = Queues(Translation=[translation()], Classification=[data()], SqlDraft=[draft(COUNT_SQL)])
    async with llm_service(script, engine="hybrid") as (client, llm):
        local = await ask(client, "How many compressors are there at each site?")
        assert llm.seen == []
        model = await ask(client, "What is the MTBF of the pumps?")

    assert local["engine"] == "local"
    assert model["engine"] == "llm"
    assert len(llm.seen) == 3


async def test_small_talk_gets_the_models_reply_and_no_sql(llm_service: ServiceFactory) -> None:
    script = Queues(
        Translation=[translation(english="Good morning, bot")],
        Classification=[fields(intent="smalltalk", reply="Good morning! Ask me about your equipment.")],
        SqlDraft=[draft(COUNT_SQL)],
    )
    async with llm_service(script) as (client, _llm):
        answer = await ask(client, "Good morning, bot")

    assert answer["intent"] == "smalltalk"
    assert answer["answer"] == "Good morning! Ask me about your equipment."
    assert answer["sql"] is None


async def test_llm_metrics_count_calls_tokens_and_the_engine_chosen(llm_service: ServiceFactory) -> None:
    def tokens() -> float:
        return metric("maintbot_llm_tokens_total", step="generate_sql", model="scripted-model", kind="prompt")

    before = tokens()
    script = Queues(Translation=[translation()], Classification=[data()], SqlDraft=[draft(COUNT_SQL)])
    async with llm_service(script) as (client, _llm):
        await ask(client, "How many pumps are there, please?")
        text = (await client.get("/metrics")).text

    assert tokens() > before + 500  # the schema alone is thousands of characters
    for name in (
        'maintbot_llm_calls_total{model="scripted-model",outcome="ok",step="translate"}',
        'maintbot_llm_call_duration_seconds_count{model="scripted-model",step="classify"}',
        'maintbot_engine_choices_total{engine="llm",reason="llm"}',
        'maintbot_cache_misses_total{cache="answer"}',
    ):
        assert name in text


async def test_streaming_carries_the_models_sentence_piece_by_piece(llm_service: ServiceFactory) -> None:
    script = Queues(
        Translation=[translation()],
        Classification=[data()],
        SqlDraft=[draft("SELECT name FROM equipment ORDER BY id LIMIT 2", template=None)],
        prose=[Reply(content="The first two machines are listed below.")],
    )
    async with llm_service(script) as (client, _llm):
        response = await client.post("/api/v1/chat/stream", json={"message": "first two machines"})

    events = [block.split("\n")[0].removeprefix("event: ") for block in response.text.strip().split("\n\n")]
    assert events.count("answer_delta") == len("The first two machines are listed below.".split())
    assert [name for name in events if name != "artifact"][-1] == "final"
    assert events.index("answer_delta") > events.index("stage")
