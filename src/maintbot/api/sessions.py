"""Conversations and their message history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from maintbot.deps import ChatServiceDep
from maintbot.schemas import ErrorBody, SessionDetail, SessionPage, SessionSummary

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])

_UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "Unknown session."}}


@router.post("", status_code=status.HTTP_201_CREATED, summary="Start a conversation")
async def create_session(chat: ChatServiceDep) -> SessionSummary:
    """Create an empty conversation; its title becomes the first question asked in it."""
    return await chat.create_session()


@router.get("", summary="List conversations")
async def list_sessions(
    chat: ChatServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> SessionPage:
    """Conversations, the most recently active first."""
    return await chat.list_sessions(limit=limit, offset=offset)


@router.get("/{session_id}", summary="Read a conversation", responses=_UNKNOWN)
async def read_session(session_id: str, chat: ChatServiceDep) -> SessionDetail:
    """A conversation with its questions and answers in order (answers carry the full answer object)."""
    return await chat.session_detail(session_id=session_id)


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a conversation",
    responses=_UNKNOWN,
)
async def delete_session(session_id: str, chat: ChatServiceDep) -> None:
    """Delete a conversation and its messages."""
    await chat.delete_session(session_id=session_id)
