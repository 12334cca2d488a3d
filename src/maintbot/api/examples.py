"""Verified examples (`/api/v1/examples`) and feedback on answers (`/api/v1/chat/{message_id}/feedback`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from maintbot.deps import ExampleServiceDep, OwnerDep
from maintbot.schemas import ErrorBody, ExampleCreate, ExampleOut, ExamplePage, FeedbackCreate, FeedbackOut

router = APIRouter(prefix="/api/v1", tags=["examples and feedback"])


@router.post(
    "/examples",
    response_model=ExampleOut,
    status_code=status.HTTP_201_CREATED,
    summary="Store a verified question → SQL example",
    responses={422: {"model": ErrorBody, "description": "The SQL guard refused the SQL."}},
)
async def add_example(example: ExampleCreate, examples: ExampleServiceDep) -> ExampleOut:
    """The SQL must pass the guard (one read-only SELECT over the CMMS tables). The same question asked
    again is answered with this SQL, and the LLM sees it as a few-shot example for similar questions."""
    return await examples.add(example=example)


@router.get("/examples", response_model=ExamplePage, summary="List verified examples")
async def list_examples(
    examples: ExampleServiceDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ExamplePage:
    """Newest first."""
    return await examples.list(limit=limit, offset=offset)


@router.delete(
    "/examples/{example_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a verified example",
    responses={404: {"model": ErrorBody, "description": "Unknown example."}},
)
async def delete_example(example_id: str, examples: ExampleServiceDep) -> Response:
    await examples.delete(example_id=example_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/chat/{message_id}/feedback",
    response_model=FeedbackOut,
    status_code=status.HTTP_201_CREATED,
    summary="Rate an answer (thumbs up or down), optionally with a correction",
    responses={
        404: {"model": ErrorBody, "description": "Unknown answer."},
        422: {"model": ErrorBody, "description": "Invalid feedback, or a corrected SQL the guard refused."},
    },
)
async def give_feedback(
    message_id: str, feedback: FeedbackCreate, examples: ExampleServiceDep, owner: OwnerDep
) -> FeedbackOut:
    """`message_id` is the answer's id. With `promote`, the question and the answer's SQL (or
    `corrected_sql`) become a verified example."""
    return await examples.feedback(message_id=message_id, feedback=feedback, owner=owner)
