"""The conversation store's statements on both databases it runs on: PostgreSQL in production,
SQLite in standalone mode."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bunri import migrations
from bunri.db.models import AnswerState, ChatMessage, Conversation, Scan, ScanStatus, User
from bunri.scans.ownership import ScanNotFound
from chat_api.conversations import ConversationStore, Question
from chat_api.errors import ConversationNotFound, MessageInProgress

RESULT = {"class": {"major": "plastic", "middle": "pet_bottle"}, "confidence": 0.9}


@pytest.fixture(params=["postgresql", "sqlite"])
async def engine(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    if request.param == "postgresql":
        engine = create_async_engine(database_url, poolclass=NullPool)
    else:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
        async with engine.begin() as connection:
            await migrations.upgrade(connection)
    yield engine
    await engine.dispose()


async def _user(engine: AsyncEngine) -> uuid.UUID:
    user_id = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(insert(User).values(id=user_id, nickname="n"))
    return user_id


async def _scan(engine: AsyncEngine, user_id: uuid.UUID, status: ScanStatus) -> uuid.UUID:
    scan_id = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            insert(Scan).values(
                id=scan_id,
                user_id=user_id,
                status=status,
                request_digest=b"\0" * 32,
                media_type="image/jpeg",
                size_bytes=1,
                width=1,
                height=1,
                result=RESULT if status is ScanStatus.COMPLETED else None,
            )
        )
    return scan_id


def _question(user_id: uuid.UUID, text: str, **fields: object) -> Question:
    values: dict[str, object] = {"conversation_id": None, "scan_id": None, "client_msg_id": None}
    return Question(user_id=user_id, text=text, **(values | fields))  # type: ignore[arg-type]


async def test_a_conversation_keeps_its_history_and_moves_up_the_list(
    engine: AsyncEngine,
) -> None:
    store = ConversationStore(engine, history_messages=3)
    user = await _user(engine)
    first = await store.open_turn(_question(user, "  페트병은 어떻게 버려요?  "))
    assert first.history == []
    assert first.scan_result is None
    await store.save_answer(
        first, "비우고 헹궈서", state=AnswerState.COMPLETE, sources=[{"id": "pet"}], usage=None
    )
    async with engine.connect() as connection:
        created = (await connection.execute(select(Conversation))).all()
    mine = [row for row in created if row.user_id == user]
    assert [row.title for row in mine] == ["페트병은 어떻게 버려요?"]

    second = await store.open_turn(
        _question(user, "라벨은요?", conversation_id=first.conversation_id)
    )
    assert second.conversation_id == first.conversation_id
    assert second.history == [
        ("user", "  페트병은 어떻게 버려요?  "),
        ("assistant", "비우고 헹궈서"),
    ]
    await store.save_answer(second, "", state=AnswerState.FAILED, sources=[], error_code="x")

    third = await store.open_turn(_question(user, "뚜껑은?", conversation_id=first.conversation_id))
    # The last three messages, oldest first, without the empty failed answer.
    assert third.history == [("assistant", "비우고 헹궈서"), ("user", "라벨은요?")]
    async with engine.connect() as connection:
        updated = await connection.scalar(
            select(Conversation.updated_at).where(Conversation.id == first.conversation_id)
        )
        answers = (
            await connection.execute(
                select(ChatMessage.state, ChatMessage.sources, ChatMessage.error_code)
                .where(ChatMessage.conversation_id == first.conversation_id)
                .where(ChatMessage.role == "assistant")
                .order_by(ChatMessage.id)
            )
        ).all()
    assert updated is not None
    assert updated > mine[0].updated_at
    assert answers == [
        (AnswerState.COMPLETE, [{"id": "pet"}], None),
        (AnswerState.FAILED, [], "x"),
    ]


async def test_someone_elses_conversation_or_scan_is_not_found(engine: AsyncEngine) -> None:
    store = ConversationStore(engine, history_messages=10)
    owner, stranger = await _user(engine), await _user(engine)
    turn = await store.open_turn(_question(owner, "q"))
    with pytest.raises(ConversationNotFound):
        await store.open_turn(_question(stranger, "q", conversation_id=turn.conversation_id))
    with pytest.raises(ConversationNotFound):
        await store.open_turn(_question(owner, "q", conversation_id=uuid.uuid4()))
    scan = await _scan(engine, owner, ScanStatus.COMPLETED)
    with pytest.raises(ScanNotFound):
        await store.open_turn(_question(stranger, "q", scan_id=scan))
    grounded = await store.open_turn(_question(owner, "q", scan_id=scan))
    assert grounded.scan_result == RESULT
    pending = await _scan(engine, owner, ScanStatus.QUEUED)
    assert (await store.open_turn(_question(owner, "q", scan_id=pending))).scan_result is None


async def test_a_resent_question_gets_its_stored_answer_or_waits_for_it(
    engine: AsyncEngine,
) -> None:
    store = ConversationStore(engine, history_messages=10)
    user = await _user(engine)
    opened = await store.open_turn(_question(user, "q0"))
    asked = _question(user, "q1", conversation_id=opened.conversation_id, client_msg_id="c-1")
    turn = await store.open_turn(asked)
    with pytest.raises(MessageInProgress):
        await store.open_turn(asked)
    await store.save_answer(
        turn, "a1", state=AnswerState.CANCELLED, sources=[{"id": "g"}], usage={"total": 3}
    )
    replay = await store.open_turn(asked)
    assert replay.earlier_answer is not None
    assert replay.answer_id == turn.answer_id
    assert (replay.earlier_answer.text, replay.earlier_answer.state) == (
        "a1",
        AnswerState.CANCELLED,
    )
    assert replay.earlier_answer.sources == [{"id": "g"}]
    assert replay.earlier_answer.usage == {"total": 3}
