"""What chat-api's routes depend on, read from the application state set up in its lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from bunri.auth import TokenVerifier
from bunri.chat.grounding import GuideIndex
from bunri.messaging.publisher import Publisher
from bunri.ratelimit import FixedWindowLimiter, TokenBucket
from bunri.web.state import app_state
from chat_api.conversations import ConversationStore
from chat_api.responders import Responder
from chat_api.settings import ChatApiSettings
from chat_api.sockets import SocketCounts


@dataclass(frozen=True)
class ChatDependencies:
    """What a chat connection and its answers need, opened once in the lifespan."""

    settings: ChatApiSettings
    verifier: TokenVerifier
    store: ConversationStore
    responder: Responder
    limiter: FixedWindowLimiter
    guides: GuideIndex
    # Answers being started at once in this process (`chat_concurrent_starts`). Starting one
    # costs milliseconds of CPU in a few long steps (the database, the grounding, the prompt);
    # streaming a token, microseconds: a wave of questions would otherwise hold up every running
    # answer's next tokens. The request to the model goes after the turn: waiting for the model
    # costs nothing here, and a turn held through it would cap how fast answers can start.
    starts: asyncio.Semaphore
    sockets: SocketCounts


ChatDependenciesDep = Annotated[ChatDependencies, Depends(app_state("chat"))]
PublisherDep = Annotated[Publisher, Depends(app_state("publisher"))]
BatchBucketDep = Annotated[TokenBucket, Depends(app_state("batch_bucket"))]
