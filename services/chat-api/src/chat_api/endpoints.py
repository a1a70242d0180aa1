"""The chat API: the WebSocket and the conversations (DESIGN.md section 7)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, WebSocket, status

from bunri.auth import CurrentUser
from bunri.messaging.publisher import Publisher
from bunri.web.deps import SessionDep
from bunri.web.errors import documented_errors
from bunri.web.state import app_state
from chat_api import repository
from chat_api.batch import submit_question
from chat_api.connection import ChatConnection, ChatDependencies
from chat_api.conversations import BatchJobNotFound, ConversationNotFound
from chat_api.schemas import (
    BatchAccepted,
    BatchJobOut,
    BatchQuestion,
    ConversationOut,
    ConversationPage,
    ConversationSummary,
    MessageOut,
)

CHAT_PATH = "/api/v1/chat"
router = APIRouter(prefix=CHAT_PATH, tags=["chat"])


@router.websocket("/ws")
async def chat_socket(websocket: WebSocket) -> None:
    """Authenticate with `Authorization: Bearer` at the handshake or a first `auth` frame."""
    dependencies: ChatDependencies = websocket.app.state.chat
    await ChatConnection(websocket, dependencies).serve()


@router.get("/conversations", responses=documented_errors(401))
async def list_conversations(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: uuid.UUID | None = None,
) -> ConversationPage:
    found = await repository.list_users_conversations(
        session, user.user_id, before=cursor, limit=limit + 1
    )
    page = found[:limit]
    return ConversationPage(
        conversations=[ConversationSummary.of(conversation) for conversation in page],
        next_cursor=str(page[-1].id) if len(found) > limit else None,
    )


@router.get("/conversations/{conversation_id}", responses=documented_errors(401, 404))
async def read_conversation(
    conversation_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> ConversationOut:
    conversation = await repository.get_users_conversation(
        session, user.user_id, conversation_id, messages=True
    )
    if conversation is None:
        raise ConversationNotFound()
    return ConversationOut(
        **ConversationSummary.of(conversation).model_dump(),
        messages=[MessageOut.of(message) for message in conversation.messages],
    )


@router.delete(
    "/conversations/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented_errors(401, 404),
)
async def delete_conversation(
    conversation_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Response:
    conversation = await repository.get_users_conversation(session, user.user_id, conversation_id)
    if conversation is None:
        raise ConversationNotFound()
    await session.delete(conversation)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented_errors(401, 404, 422, 503),
)
async def ask_in_batch(
    question: BatchQuestion,
    user: CurrentUser,
    session: SessionDep,
    publisher: Annotated[Publisher, Depends(app_state("publisher"))],
    response: Response,
) -> BatchAccepted:
    """Queue a question; the AI worker answers it (poll `status_url`)."""
    job = await submit_question(
        session, publisher, user.user_id, question.text.strip(), question.scan_id
    )
    status_url = f"{CHAT_PATH}/batch/{job.id}"
    response.headers["Location"] = status_url
    return BatchAccepted(job_id=job.id, status=job.status, status_url=status_url)


@router.get("/batch/{job_id}", responses=documented_errors(401, 404))
async def read_batch_job(job_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> BatchJobOut:
    job = await repository.get_users_batch_job(session, user.user_id, job_id)
    if job is None:
        raise BatchJobNotFound()
    return BatchJobOut.of(job)
