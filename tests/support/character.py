"""Driving the character domain in tests: character-api's settings and the service in process,
people signed up through auth-api (an admin too), domain events as the platform writes them,
applied as the character worker applies them (or relayed through the outbox to the real worker
process), people in bulk, and waiting for what the worker does."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from bunri.auth import ADMIN_ROLE
from bunri.character.awards import EventOutcome, apply_event
from bunri.character.missions import load_missions
from bunri.character.periods import local_day, week_start
from bunri.character.projections import project
from bunri.character.rules import load_rules
from bunri.character.standing import standings
from bunri.db.base import utcnow
from bunri.db.models import Character, CharacterAward, CharacterWeek, User
from bunri.ids import uuid7
from bunri.messaging.events import DomainEvent
from bunri.messaging.outbox import relay_once
from bunri.messaging.publisher import TaskPublisher
from bunri.messaging.topology import CHAT_ANSWERED, SCAN_COMPLETED, SCAN_FEEDBACK
from bunri.worker.ledger import ScanLedger
from bunri_programs.users import change_role
from character_api.app import create_app
from character_api.settings import CharacterApiSettings
from tests.scans.crash import Supervised
from tests.support.processes import BIN
from tests.support.scans import node_files
from tests.support.users import PASSWORD, bearer

CHARACTER = "/api/v1/character"
T = TypeVar("T")


# character-api -------------------------------------------------------------------------------


def character_settings(env: dict[str, str], **overrides: Any) -> CharacterApiSettings:
    values: dict[str, Any] = {
        name.removeprefix("BUNRI_").lower(): value for name, value in env.items()
    }
    return CharacterApiSettings(**(values | {"log_json": False} | overrides))


@asynccontextmanager
async def character_api_client(
    settings: CharacterApiSettings,
) -> AsyncIterator[httpx.AsyncClient]:
    """character-api in this process (its lifespan run), and a client of it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def error_code(response: httpx.Response, status: int) -> str:
    """The error's code, once the status and the error's shape are checked."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    code: str = body["error"]["code"]
    return code


# People --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """Someone signed up through auth-api: their id, e-mail and bearer header."""

    user_id: uuid.UUID
    email: str
    headers: dict[str, str]


def user_id_of(headers: dict[str, str]) -> uuid.UUID:
    token = headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    return uuid.UUID(claims["sub"])


def roles_of(headers: dict[str, str]) -> list[str]:
    token = headers["Authorization"].removeprefix("Bearer ")
    roles: list[str] = jwt.decode(token, options={"verify_signature": False}).get("roles", [])
    return roles


async def log_in(auth_url: str, email: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        tokens = await auth.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert tokens.status_code == 200, tokens.text
    return bearer(tokens.json()["access_token"])


async def sign_up(auth_url: str, nickname: str = "n") -> Person:
    email = f"character.{uuid.uuid4().hex[:12]}@example.com"
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        created = await auth.post(
            "/api/v1/auth/signup",
            json={"email": email, "password": PASSWORD, "nickname": nickname},
        )
        assert created.status_code == 201, created.text
    headers = await log_in(auth_url, email)
    return Person(user_id_of(headers), email, headers)


async def admin(auth_url: str, engine: AsyncEngine) -> Person:
    """Someone given the admin role (what `bunri users grant-role` does), signed in again so that
    their token carries it."""
    person = await sign_up(auth_url, "관리자")
    async with engine.begin() as connection:
        await change_role(connection, person.email, ADMIN_ROLE, grant=True)
    headers = await log_in(auth_url, person.email)
    assert roles_of(headers) == [ADMIN_ROLE]
    return Person(person.user_id, person.email, headers)


def insert_users(
    sessions: sessionmaker[Session], count: int, nickname: str = "n"
) -> list[uuid.UUID]:
    """`count` accounts written straight into the database (in bulk)."""
    ids = [uuid7() for _ in range(count)]
    now = utcnow()
    with sessions() as session:
        for start in range(0, count, 5000):
            session.execute(
                insert(User),
                [
                    {
                        "id": user_id,
                        "email": f"bulk.{user_id}@example.com",
                        "password_hash": "x",
                        "nickname": nickname,
                        "roles": [],
                        "created_at": now,
                        "updated_at": now,
                    }
                    for user_id in ids[start : start + 5000]
                ],
            )
        session.commit()
    return ids


# Events --------------------------------------------------------------------------------------


def digest(photo: str) -> str:
    """The SHA-256 (hex) a scan's photo named `photo` has."""
    return hashlib.sha256(photo.encode()).hexdigest()


def scan_completed(
    user_id: uuid.UUID,
    *,
    middle: str = "유리병",
    major: str = "재활용폐기물",
    unsure: bool = False,
    photo: str | None = None,
    at: datetime | None = None,
) -> DomainEvent:
    """A scan's completion as the ledger tells of it (a new photo unless `photo` names one)."""
    return DomainEvent(
        SCAN_COMPLETED,
        user_id,
        uuid7(),
        {
            "major": major,
            "middle": middle,
            "minor": None,
            "unsure": unsure,
            "confidence": 0.4 if unsure else 0.93,
            "image_digest": digest(photo or uuid.uuid4().hex),
        },
        occurred_at=at or utcnow(),
    )


def feedback_given(
    user_id: uuid.UUID,
    *,
    first: bool = True,
    predicted_unsure: bool = False,
    scan_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> DomainEvent:
    """Feedback on a scan as scan-api tells of it."""
    return DomainEvent(
        SCAN_FEEDBACK,
        user_id,
        scan_id or uuid7(),
        {
            "correct_major": "재활용폐기물",
            "correct_middle": "금속류",
            "predicted_middle": "유리병",
            "predicted_unsure": predicted_unsure,
            "first": first,
        },
        occurred_at=at or utcnow(),
    )


def chat_answered(
    user_id: uuid.UUID, *, topics: Sequence[str] = (), at: datetime | None = None
) -> DomainEvent:
    """An answered question as chat-api tells of it."""
    return DomainEvent(
        CHAT_ANSWERED,
        user_id,
        uuid7(),
        {"path": "live", "topics": list(topics)},
        occurred_at=at or utcnow(),
    )


def apply(sessions: sessionmaker[Session], event: DomainEvent) -> EventOutcome:
    """`event` applied with the shipped rules and missions in a transaction of its own."""
    with sessions() as session:
        outcome = apply_event(session, load_rules(), load_missions(), event)
        session.commit()
    return outcome


def award(ledger: ScanLedger, event: DomainEvent) -> EventOutcome:
    """`event` applied, then projected into Redis (the read cache, the leaderboards), as the
    character worker does."""
    outcome = apply(ledger.sessions, event)
    week = outcome.week or week_start(local_day(event.occurred_at))
    with ledger.sessions() as session:
        project(ledger.redis, standings(session, [event.user_id], week))
    return outcome


def points_of(sessions: sessionmaker[Session], user_id: uuid.UUID) -> int:
    with sessions() as session:
        points = session.scalar(select(Character.points).where(Character.user_id == user_id))
    return int(points or 0)


def awards_of(sessions: sessionmaker[Session], user_id: uuid.UUID) -> list[CharacterAward]:
    """The person's awards, oldest first."""
    with sessions() as session:
        return list(
            session.scalars(
                select(CharacterAward)
                .where(CharacterAward.user_id == user_id)
                .order_by(CharacterAward.created_at, CharacterAward.id)
            )
        )


def count_awards(sessions: sessionmaker[Session], **where: Any) -> int:
    with sessions() as session:
        found = session.scalar(select(func.count()).select_from(CharacterAward).filter_by(**where))
    return int(found or 0)


def books_disagree(sessions: sessionmaker[Session]) -> list[Any]:
    """Everyone whose character's points are not the sum of their awards, or whose weeks' points
    are not either: (user id, points, awards' sum, weeks' sum). Empty when the books balance."""
    awards = (
        select(CharacterAward.user_id, func.sum(CharacterAward.points).label("total"))
        .group_by(CharacterAward.user_id)
        .subquery()
    )
    weeks = (
        select(CharacterWeek.user_id, func.sum(CharacterWeek.points).label("total"))
        .group_by(CharacterWeek.user_id)
        .subquery()
    )
    with sessions() as session:
        rows = session.execute(
            select(
                Character.user_id,
                Character.points,
                func.coalesce(awards.c.total, 0),
                func.coalesce(weeks.c.total, 0),
            )
            .outerjoin(awards, awards.c.user_id == Character.user_id)
            .outerjoin(weeks, weeks.c.user_id == Character.user_id)
        ).all()
    return [tuple(row) for row in rows if not row[1] == row[2] == row[3]]


# The worker and the outbox relay ---------------------------------------------------------------


def worker_env(env: dict[str, str], folder: Path, **extra: str) -> dict[str, str]:
    """The character worker's environment: `env` (the database, Redis, the broker), a node's own
    journal and heartbeat under `folder`, JSON logs."""
    return (
        env
        | node_files(folder)
        | {
            "BUNRI_STATE_DIR": str(folder / "state"),
            "BUNRI_LOG_JSON": "true",
            "BUNRI_HEARTBEAT_INTERVAL_SECONDS": "0.5",
            "BUNRI_JOURNAL_FLUSH_INTERVAL_SECONDS": "0.5",
        }
        | extra
    )


# The worker's log line for a delivery of a task that a crash interrupted (bunri.worker.journaled).
RESUMED = '"event": "task resumed"'


@contextmanager
def character_worker(env: dict[str, str], folder: Path, **extra: str) -> Iterator[Supervised]:
    """`bunri-character-worker` as a real worker process, restarted whenever it dies (a test
    may SIGKILL it), until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    worker = Supervised(
        [str(BIN / "bunri-character-worker")], worker_env(env, folder, **extra), folder
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


async def relay_all(engine: AsyncEngine, broker_url: str) -> int:
    """Publish everything waiting in the outbox (as `bunri relay` does); how many."""
    publisher = TaskPublisher(broker_url, confirm_timeout=5)
    await publisher.start()
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    published = 0
    try:
        while relayed := await relay_once(sessions, publisher, batch=100):
            published += relayed
    finally:
        await publisher.close()
    return published


async def eventually(
    check: Callable[[], T | None], what: str, seconds: float = 30.0, interval: float = 0.1
) -> T:
    """`check()`'s first truthy answer, asked every `interval` until `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not after {seconds} s"
        await asyncio.sleep(interval)


def backends_waiting_on_a_lock(sessions: sessionmaker[Session]) -> int:
    """Connections to this database blocked on a lock (a row the test holds)."""
    with sessions() as session:
        waiting = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
        )
    return int(waiting or 0)


@contextmanager
def rows_held(sessions: sessionmaker[Session], statement: str, **params: Any) -> Iterator[None]:
    """Rows locked (`statement`, a SELECT ... FOR UPDATE) by a transaction of the test's own
    until the block ends: whoever writes them meanwhile waits, mid-transaction."""
    with sessions() as session:
        held = session.execute(text(statement), params).all()
        assert held, f"nothing to hold: {statement}"
        try:
            yield
        finally:
            with suppress(Exception):
                session.rollback()
