"""chat-api's application: its routes, and what its lifespan opens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bunri.chat.grounding import guide_index
from bunri.logging import configure_logging
from bunri.messaging.outbox import publishing
from bunri.ratelimit import FixedWindowLimiter, TokenBucket
from bunri.web.app import attach_resources, create_service_app
from bunri.web.openapi import document_schemas
from bunri.web.resources import open_resources
from chat_api import endpoints
from chat_api.conversations import ConversationStore
from chat_api.deps import ChatDependencies
from chat_api.frames import FRAME_SCHEMAS
from chat_api.responders import OpenAIResponder, create_responder
from chat_api.settings import ChatApiSettings
from chat_api.sockets import SocketCounts


def create_app(settings: ChatApiSettings | None = None) -> FastAPI:
    settings = settings or ChatApiSettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_resources(settings) as resources,
            publishing(settings, resources.sessionmaker) as publisher,
        ):
            attach_resources(app, resources)
            app.state.publisher = publisher
            app.state.batch_bucket = TokenBucket(
                resources.redis,
                "chat-batch",
                capacity=settings.chat_batch_burst,
                per_second=settings.chat_batch_per_minute / 60,
            )
            responder = create_responder(settings)
            app.state.chat = ChatDependencies(
                settings=settings,
                verifier=resources.verifier,
                store=ConversationStore(resources.engine, settings.chat_history_messages),
                responder=responder,
                limiter=FixedWindowLimiter(
                    resources.redis,
                    "chat-messages",
                    limit=settings.chat_messages_per_minute,
                    window_seconds=60,
                ),
                guides=guide_index(),
                starts=asyncio.Semaphore(settings.chat_concurrent_starts),
                sockets=SocketCounts(
                    settings.chat_sockets_per_user,
                    settings.chat_unauthenticated_sockets_per_address,
                ),
            )
            try:
                yield
            finally:
                if isinstance(responder, OpenAIResponder):
                    await responder.close()

    app = create_service_app(
        settings=settings,
        title="Bunri chat-api",
        description="Answers recycling questions over a WebSocket, grounded in the guides.",
        docs_prefix=endpoints.CHAT_PATH,
        routers=[endpoints.router],
        lifespan=lifespan,
    )
    # FastAPI documents no WebSocket; its frames go in the OpenAPI all the same.
    document_schemas(app, FRAME_SCHEMAS)
    return app
