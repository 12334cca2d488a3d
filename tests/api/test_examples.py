"""Verified examples and feedback: people teach MaintBot answers, and the SQL guard checks what they teach."""

from __future__ import annotations

from typing import Any

import httpx

PUMPS = "SELECT COUNT(*) AS pump_count FROM equipment WHERE equipment_type = 'pump'"


async def ask(client: httpx.AsyncClient, message: str, **more: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/chat", json={"message": message, **more})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_stored_example_answers_the_same_question_with_its_sql(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/api/v1/examples", json={"question": "How many pumps do we own?", "sql": PUMPS}
    )
    assert created.status_code == 201
    example = created.json()
    assert example["source"] == "api"

    # Case, accents and punctuation aside, it is the same question.
    answer = await ask(client, "how many pumps do we own")

    assert answer["engine"] == "example"
    assert answer["sql"] == PUMPS
    assert answer["columns"] == ["pump_count"]
    assert answer["answer"] == f"The answer is {answer['rows'][0][0]:,}."


async def test_an_example_whose_sql_the_guard_refuses_is_not_stored(client: httpx.AsyncClient) -> None:
    for sql in ("DELETE FROM equipment", "SELECT secret FROM passwords", "SELECT 1; DROP TABLE sites"):
        response = await client.post("/api/v1/examples", json={"question": "Tidy up", "sql": sql})
        assert response.status_code == 422, sql
        assert response.json()["error"] == "InvalidRequest"
        assert response.json()["detail"].startswith("The SQL was not accepted")
    assert (await client.get("/api/v1/examples")).json()["total"] == 0


async def test_examples_are_listed_newest_first_and_deleted(client: httpx.AsyncClient) -> None:
    first = (await client.post("/api/v1/examples", json={"question": "pumps?", "sql": PUMPS})).json()
    second = (
        await client.post("/api/v1/examples", json={"question": "sites?", "sql": "SELECT name FROM sites"})
    ).json()

    page = (await client.get("/api/v1/examples", params={"limit": 10})).json()
    assert [example["id"] for example in page["examples"]] == [second["id"], first["id"]]
    assert page["total"] == 2

    assert (await client.delete(f"/api/v1/examples/{first['id']}")).status_code == 204
    assert (await client.delete(f"/api/v1/examples/{first['id']}")).status_code == 404
    assert (await client.get("/api/v1/examples")).json()["total"] == 1
    # A deleted example no longer answers: the local engine does.
    assert (await ask(client, "pumps?"))["engine"] != "example"


async def test_the_same_question_stored_twice_keeps_the_newest_sql(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/examples", json={"question": "Our sites", "sql": "SELECT name FROM sites"})
    await client.post("/api/v1/examples", json={"question": "our sites!", "sql": "SELECT code FROM sites"})

    page = (await client.get("/api/v1/examples")).json()
    assert page["total"] == 1
    assert (await ask(client, "Our sites"))["sql"] == "SELECT code FROM sites"


async def test_a_thumbs_up_with_promote_turns_the_answer_into_an_example(client: httpx.AsyncClient) -> None:
    answer = await ask(client, "How many compressors are there at each site?")

    response = await client.post(
        f"/api/v1/chat/{answer['message_id']}/feedback", json={"rating": "up", "promote": True}
    )

    assert response.status_code == 201
    feedback = response.json()
    assert feedback["rating"] == "up"
    assert feedback["example_id"]
    examples = (await client.get("/api/v1/examples")).json()["examples"]
    assert [(e["question"], e["sql"], e["source"]) for e in examples] == [
        ("How many compressors are there at each site?", answer["sql"], "feedback")
    ]
    assert (await ask(client, "How many compressors are there at each site?"))["engine"] == "example"


async def test_a_thumbs_down_with_a_correction_is_stored_and_the_correction_guarded(
    client: httpx.AsyncClient,
) -> None:
    answer = await ask(client, "How many pumps are there?")
    url = f"/api/v1/chat/{answer['message_id']}/feedback"

    refused = await client.post(url, json={"rating": "down", "corrected_sql": "UPDATE sites SET name = 'x'"})
    stored = await client.post(url, json={"rating": "down", "comment": "count only running pumps"})

    assert refused.status_code == 422
    assert stored.status_code == 201
    assert stored.json()["comment"] == "count only running pumps"
    assert stored.json()["example_id"] is None


async def test_feedback_on_an_unknown_answer_is_404_and_bad_ratings_are_422(
    client: httpx.AsyncClient,
) -> None:
    unknown = await client.post("/api/v1/chat/nope/feedback", json={"rating": "up"})
    answer = await ask(client, "Hello there")
    bad = await client.post(f"/api/v1/chat/{answer['message_id']}/feedback", json={"rating": "meh"})
    not_data = await client.post(
        f"/api/v1/chat/{answer['message_id']}/feedback", json={"rating": "up", "promote": True}
    )

    assert unknown.status_code == 404
    assert unknown.json()["error"] == "NotFound"
    assert bad.status_code == 422
    assert not_data.status_code == 422
