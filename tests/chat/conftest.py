"""chat-api under test, all real: uvicorn serving the app on loopback, auth-api issuing tokens, a
local OpenAI-compatible model server (tests/support/fake_llm.py), PostgreSQL and Redis; driven with
a real WebSocket client (tests/support/chat.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.chat import StartChat, chat_server
from tests.support.fake_llm import FakeLLM
from tests.support.servers import serve_in_thread


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()
    with serve_in_thread(fake.app) as url:
        fake.url = f"{url}/v1"
        yield fake


@pytest.fixture
def llm(fake_llm: FakeLLM) -> FakeLLM:
    """The model server, its script reset for this test."""
    from tests.support.fake_llm import Script

    fake_llm.script = Script()
    fake_llm.calls.clear()
    return fake_llm


@pytest.fixture
def start_chat(
    database_url: str,
    redis_url: str,
    auth_url: str,
    broker_url: str,
    llm: FakeLLM,
    clean_database: AsyncEngine,
    redis: Redis,
) -> StartChat:
    """Starts chat-api with some settings changed; it asks the local model unless
    `llm_base_url=None` (then the guides answer)."""

    def start(**overrides: Any) -> AbstractContextManager[str]:
        settings = {"llm_base_url": llm.url, "database_url": database_url} | overrides
        return chat_server(
            redis_url=redis_url, auth_url=auth_url, broker_url=broker_url, **settings
        )

    return start


@pytest.fixture
def chat_url(start_chat: StartChat) -> Iterator[str]:
    with start_chat() as url:
        yield url
