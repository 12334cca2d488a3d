"""`POST /api/v1/chat`: one question, one answer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from maintbot.deps import ChatServiceDep, ChatStreamDep
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

    Pass the `session_id` of an earlier answer to ask a follow-up ("And in Madrid?").
    """
    return await chat.answer(request=request)


@router.post(
    "/chat/stream",
    response_class=StreamingResponse,
    summary="Ask a maintenance question and follow the answer as Server-Sent Events",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Events `stage` ({stage}), `answer` ({text}) and `final` (the answer object); "
            "`error` ({error, detail}) if the answer fails after the stream began.",
        },
        404: {"model": ErrorBody, "description": "Unknown session."},
    },
)
async def ask_streaming(request: ChatRequest, stream: ChatStreamDep, http: Request) -> StreamingResponse:
    """The same answer as `POST /api/v1/chat`, streamed: each stage as it starts and ends (language and
    intent, SQL and rows), the answer's text as the model writes it, then the answer. A `: keep-alive`
    comment comes during long silences; hanging up cancels the answer (it is not stored)."""

    async def client_gone() -> None:
        # The body is read already: the next message the server delivers is the disconnect.
        while (await http.receive())["type"] != "http.disconnect":
            pass

    events = await stream.open(request=request, client_gone=client_gone)
    # No buffering on the way out: proxies (nginx honours X-Accel-Buffering) pass each event at once.
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)
