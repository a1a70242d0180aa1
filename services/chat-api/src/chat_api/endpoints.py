"""The chat API: the WebSocket and the conversations (DESIGN.md section 7)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, WebSocket, status

from bunri.web.auth import CurrentUser
from bunri.web.deps import SessionDep
from bunri.web.errors import documented_errors
from bunri.web.pagination import PageRequestDep
from chat_api import repository
from chat_api.connection import ChatConnection
from chat_api.deps import BatchBucketDep, ChatDependenciesDep, PublisherDep
from chat_api.errors import BatchJobNotFound, ConversationNotFound
from chat_api.schemas import (
    BatchAccepted,
    BatchJobOut,
    BatchQuestion,
    ConversationOut,
    ConversationPage,
    ConversationSummary,
    MessageOut,
)
from chat_api.service import admit_question, submit_question

CHAT_PATH = "/api/v1/chat"
router = APIRouter(prefix=CHAT_PATH, tags=["chat"])


@router.websocket("/ws")
async def chat_socket(websocket: WebSocket, chat: ChatDependenciesDep) -> None:
    """Authenticate with `Authorization: Bearer` at the handshake or a first `auth` frame."""
    await ChatConnection(websocket, chat).serve()


@router.get("/conversations", responses=documented_errors(400, 401))
async def list_conversations(
    user: CurrentUser, session: SessionDep, paging: PageRequestDep
) -> ConversationPage:
    """The caller's conversations, newest first; `next_cursor` goes back as `cursor`."""
    found = await repository.list_users_conversations(
        session, user.user_id, before=paging.older_than, limit=paging.fetch
    )
    return paging.page(ConversationPage, found, ConversationSummary.of)


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
    responses=documented_errors(401, 404, 422, 429, 503),
)
async def ask_in_batch(
    question: BatchQuestion,
    user: CurrentUser,
    session: SessionDep,
    publisher: PublisherDep,
    batch_bucket: BatchBucketDep,
    response: Response,
) -> BatchAccepted:
    """Queue a question; the AI worker answers it (poll `status_url`)."""
    priority = await admit_question(batch_bucket, user.user_id)
    job = await submit_question(
        session, publisher, user.user_id, question.text.strip(), question.scan_id, priority
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
