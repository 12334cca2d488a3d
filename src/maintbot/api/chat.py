"""`POST /api/v1/chat`: one question, one answer."""

from __future__ import annotations

from fastapi import APIRouter

from maintbot.deps import ChatServiceDep
from maintbot.schemas import ChatAnswer, ChatRequest, ErrorBody

router = APIRouter(prefix="/api/v1", tags=["chat"])


@router.post(
    "/chat",
    response_model=ChatAnswer,
    summary="Ask a maintenance question",
    responses={404: {"model": ErrorBody, "description": "Unknown session."}},
)
async def ask(request: ChatRequest, chat: ChatServiceDep) -> ChatAnswer:
    """Answer a question in English or Spanish: the sentence, and for data questions the SQL and its table.

    Pass the `session_id` of an earlier answer to ask a follow-up ("And in Houston?").
    """
    return await chat.answer(request=request)
