"""Everything stored about a person, as one JSON document streamed as it is read (GDPR art. 15
and 20; 개인정보 보호법 제35조): a person with years of scans never makes the service hold their
whole history in memory.

Read in one REPEATABLE READ transaction on PostgreSQL, so the document is one moment's state even
while the person keeps scanning; rows come a page at a time in id order.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bunri.db.base import utcnow
from bunri.db.models import (
    ChatBatchJob,
    ChatMessage,
    Conversation,
    Profile,
    Scan,
    ScanFeedback,
    SocialAccount,
    User,
    WeeklyReport,
)

EXPORT_FORMAT = "bunri-export/1"
SCANS_PATH = "/api/v1/scans"


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=_plain).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | bytes):
        return str(value) if isinstance(value, uuid.UUID) else value.hex()
    raise TypeError(f"cannot export {type(value).__name__}")


def _columns(row: Any, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        column.key: getattr(row, column.key)
        for column in row.__table__.columns
        if column.key not in leave_out
    }


async def export_document(
    engine: AsyncEngine, user_id: uuid.UUID, page_rows: int
) -> AsyncIterator[bytes]:
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execution_options(isolation_level="REPEATABLE READ")
        async with AsyncSession(bind=connection) as session:
            async for chunk in _Exporter(session, user_id, page_rows).chunks():
                yield chunk


class _Exporter:
    def __init__(self, session: AsyncSession, user_id: uuid.UUID, page_rows: int) -> None:
        self._session = session
        self._user_id = user_id
        self._page_rows = page_rows

    async def chunks(self) -> AsyncIterator[bytes]:
        user = await self._one(select(User).where(User.id == self._user_id))
        yield b'{"format": ' + _json(EXPORT_FORMAT)
        yield b', "exported_at": ' + _json(utcnow())
        # The password's hash is a secret of ours, not information about the person.
        yield b', "account": ' + _json(
            None if user is None else _columns(user, leave_out=("password_hash",))
        )
        social = await self._all(
            select(SocialAccount).where(SocialAccount.user_id == self._user_id)
        )
        yield b', "social_accounts": ' + _json([_columns(link) for link in social])
        profile = await self._one(select(Profile).where(Profile.user_id == self._user_id))
        yield b', "profile": ' + _json(None if profile is None else _columns(profile))
        yield b', "scans": ['
        async for chunk in self._list(Scan, Scan.user_id, self._scan_pages):
            yield chunk
        yield b'], "conversations": ['
        async for chunk in self._list(Conversation, Conversation.user_id, self._conversations):
            yield chunk
        yield b'], "chat_batch_questions": ['
        async for chunk in self._list(ChatBatchJob, ChatBatchJob.user_id, self._plain_rows):
            yield chunk
        yield b'], "weekly_reports": ['
        async for chunk in self._list(WeeklyReport, WeeklyReport.user_id, self._plain_rows):
            yield chunk
        # The character domain stores nothing yet; the key is here so the format stays stable.
        yield b'], "character": null}\n'

    async def _list(
        self,
        model: Any,
        owner: Any,
        documents: Callable[[list[Any]], Any],
    ) -> AsyncIterator[bytes]:
        """The person's rows of `model`, page by page in id order, as JSON array members."""
        after: uuid.UUID | None = None
        first = True
        while True:
            query = select(model).where(owner == self._user_id)
            if after is not None:
                query = query.where(model.id > after)
            page = await self._all(query.order_by(model.id).limit(self._page_rows))
            if not page:
                return
            for document in await documents(page):
                yield (b"" if first else b", ") + _json(document)
                first = False
            after = page[-1].id
            # What was written out need not stay in the session: memory stays one page's worth.
            self._session.expunge_all()

    async def _plain_rows(self, rows: list[Any]) -> list[dict[str, Any]]:
        return [_columns(row) for row in rows]

    async def _scan_pages(self, scans: list[Scan]) -> list[dict[str, Any]]:
        feedback = {
            given.scan_id: given
            for given in await self._all(
                select(ScanFeedback).where(ScanFeedback.scan_id.in_([scan.id for scan in scans]))
            )
        }
        documents = []
        for scan in scans:
            document = _columns(scan, leave_out=("request_digest", "original_key", "thumbnail_key"))
            stored = scan.original_key is not None
            document["image_url"] = f"{SCANS_PATH}/{scan.id}/image" if stored else None
            given = feedback.get(scan.id)
            document["feedback"] = (
                None if given is None else _columns(given, leave_out=("scan_id", "image_key"))
            )
            documents.append(document)
        return documents

    async def _conversations(self, conversations: list[Conversation]) -> list[dict[str, Any]]:
        messages: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for message in await self._all(
            select(ChatMessage)
            .where(ChatMessage.conversation_id.in_([c.id for c in conversations]))
            .order_by(ChatMessage.id)
        ):
            messages.setdefault(message.conversation_id, []).append(
                _columns(message, leave_out=("conversation_id",))
            )
        return [
            _columns(conversation) | {"messages": messages.get(conversation.id, [])}
            for conversation in conversations
        ]

    async def _one(self, query: Select[Any]) -> Any:
        return (await self._session.scalars(query)).first()

    async def _all(self, query: Select[Any]) -> list[Any]:
        return list((await self._session.scalars(query)).all())
