"""Leaving: the password again (or a fresh sign-in), every token refused at once, then the
storage worker erases every row, object, Redis key and journal record about the person; the
e-mail can sign up again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as sync_redis
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, sessionmaker

import storage_worker.erasure
from bunri.db.models import Base
from bunri.db.sync import create_sync_engine, create_sync_sessionmaker
from bunri.journal import Journal
from bunri.storage import create_object_store
from my_api.settings import MyApiSettings
from storage_worker.erasure import AccountEraser
from tests.my.test_photo import upload
from tests.scans.crash import Workers, s3_client
from tests.support.my import a_life_of_data, my_api_client, my_settings, wait_for_photo
from tests.support.pictures import photo
from tests.support.users import PASSWORD

PROFILE = "/api/v1/my/profile"
ACCOUNT = "/api/v1/my/account"


async def signed_up(auth_url: str, email: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        created = await auth.post(
            "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "nickname": "떠남"}
        )
        assert created.status_code == 201, created.text
        tokens = await auth.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def rows_naming(
    engine: AsyncEngine, user_id: uuid.UUID, scan_ids: list[uuid.UUID]
) -> dict[str, int]:
    """Rows of every table that name the person or one of their scans, by table."""
    found: dict[str, int] = {}
    ids = [str(user_id), *(str(scan_id) for scan_id in scan_ids)]
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if column.type.python_type is not uuid.UUID:
                    continue
                count = (
                    await connection.execute(
                        text(
                            f'SELECT count(*) FROM "{table.name}" '  # noqa: S608
                            f'WHERE "{column.name}"::text = ANY(:ids)'
                        ),
                        {"ids": ids},
                    )
                ).scalar_one()
                if count:
                    found[f"{table.name}.{column.name}"] = count
            if "task_id" in table.columns:
                count = (
                    await connection.execute(
                        text(
                            f'SELECT count(*) FROM "{table.name}" WHERE '  # noqa: S608
                            "task_id LIKE ANY(:patterns)"
                        ),
                        {"patterns": [f"%{one}%" for one in ids]},
                    )
                ).scalar_one()
                if count:
                    found[f"{table.name}.task_id"] = count
    return found


async def redis_keys_naming(redis: Redis, ids: list[str]) -> list[bytes]:
    return [key async for key in redis.scan_iter(count=1000) if any(i.encode() in key for i in ids)]


async def until_erased(engine: AsyncEngine, user_id: uuid.UUID, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        async with engine.connect() as connection:
            left = (
                await connection.execute(
                    text("SELECT count(*) FROM users WHERE id = :id"), {"id": user_id}
                )
            ).scalar_one()
        if not left:
            return
        assert time.monotonic() < deadline, "the account was never erased"
        await asyncio.sleep(0.1)


async def test_deleting_an_account_leaves_nothing_behind(
    workers: Workers,
    crash_env: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    auth_url: str,
) -> None:
    storage = workers.storage()
    settings = my_settings(crash_env)
    store = create_object_store(settings)
    email = f"leaving.{time.time_ns()}@example.com"
    tokens = await signed_up(auth_url, email)
    user = bearer(tokens)
    async with my_api_client(settings) as my:
        await upload(my, user, photo(seed=31))
        profile = await wait_for_photo(my, user, "ready")
        user_id = uuid.UUID(profile["user_id"])
        scan_ids = await a_life_of_data(clean_database, user_id, store)
        assert (await my.get(PROFILE, headers=user)).status_code == 200  # the cache holds it
        ids = [str(user_id), *(str(scan_id) for scan_id in scan_ids)]
        before = await rows_naming(clean_database, user_id, scan_ids)
        assert set(before) >= {
            "users.id",
            "profiles.user_id",
            "scans.user_id",
            "scan_feedback.scan_id",
            "conversations.user_id",
            "chat_batch_jobs.user_id",
            "weekly_reports.user_id",
            "social_accounts.user_id",
            "refresh_tokens.user_id",
        }, before
        assert len(store.list_keys(f"profiles/{user_id}/")) == 2
        assert await redis_keys_naming(redis, ids)

        wrong = await my.request("DELETE", ACCOUNT, headers=user, json={"password": "not it"})
        assert (wrong.status_code, wrong.json()["error"]["code"]) == (
            403,
            "reauthentication_failed",
        )
        missing = await my.request("DELETE", ACCOUNT, headers=user)
        assert (missing.status_code, missing.json()["error"]["code"]) == (422, "password_required")
        assert (await my.get(PROFILE, headers=user)).status_code == 200  # nothing changed

        deleted = await my.request("DELETE", ACCOUNT, headers=user, json={"password": PASSWORD})
        assert deleted.status_code == 202, deleted.text
        assert deleted.json()["status"] == "erasing"
        # Every token of the person is refused at once: this one, and the refresh token.
        refused = await my.get(PROFILE, headers=user)
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "token_revoked")
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        refreshed = await auth.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 401, refreshed.text

    await until_erased(clean_database, user_id)
    # The erasure's last steps (objects, Redis, journal) follow the rows.
    journal_task = f"my.erase_account:{user_id}"
    deadline = time.monotonic() + 30
    while storage.task(journal_task) is not None or not storage.log_count("account erased"):
        assert time.monotonic() < deadline, "the erasure did not finish"
        await asyncio.sleep(0.1)

    assert await rows_naming(clean_database, user_id, scan_ids) == {}
    # Not a key, not an old version, not a delete marker: the bucket is versioned.
    s3 = s3_client(crash_env["BUNRI_S3_ENDPOINT_URL"])
    for prefix in (f"profiles/{user_id}/", *(f"scans/{scan_id}/" for scan_id in scan_ids)):
        listed = s3.list_object_versions(Bucket=crash_env["BUNRI_S3_BUCKET"], Prefix=prefix)
        assert not listed.get("Versions"), prefix
        assert not listed.get("DeleteMarkers"), prefix
    assert await redis_keys_naming(redis, ids) == []
    journal = storage.journal
    try:
        remembered = [task for task in journal.tasks(limit=1000) if task.subject in ids]
    finally:
        journal.close()
    assert remembered == []
    audit = [line for line in storage.log.read_text().splitlines() if "account erased" in line]
    assert len(audit) == 1
    assert not any(one in audit[0] for one in ids)
    assert email not in audit[0]

    # The e-mail is free again: a new account, with nothing of the old one.
    again = await signed_up(auth_url, email)
    async with my_api_client(settings) as my:
        fresh = (await my.get(PROFILE, headers=bearer(again))).json()
    assert fresh["user_id"] != str(user_id)
    assert (fresh["version"], fresh["photo"]["status"]) == (1, "none")


async def test_an_account_without_a_password_needs_a_recent_sign_in(
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    auth_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = await signed_up(auth_url, f"social.{time.time_ns()}@example.com")
    user = bearer(tokens)
    async with my_api_client(my_settings(pipeline_env)) as my:
        user_id = (await my.get(PROFILE, headers=user)).json()["user_id"]
    # As an account made by a social sign-in: no password.
    async with clean_database.begin() as connection:
        await connection.execute(
            text("UPDATE users SET password_hash = NULL WHERE id = :id"), {"id": user_id}
        )
    # Signed in 10 minutes ago (the session's id is a UUIDv7 of the sign-in):
    stale = my_settings(pipeline_env, recent_sign_in_seconds=30)
    monkeypatch.setattr("my_api.account.time.time", lambda: time.time_ns() / 1e9 + 600)
    async with my_api_client(stale) as my:
        refused = await my.request("DELETE", ACCOUNT, headers=user)
        assert (refused.status_code, refused.json()["error"]["code"]) == (
            403,
            "recent_sign_in_required",
        )
        assert (await my.get(PROFILE, headers=user)).status_code == 200
    monkeypatch.undo()
    async with my_api_client(my_settings(pipeline_env)) as my:
        accepted = await my.request("DELETE", ACCOUNT, headers=user)
        assert accepted.status_code == 202, accepted.text
        again = await my.request("DELETE", ACCOUNT, headers=user)
        assert again.status_code == 401  # its token is already refused


async def test_wrong_passwords_are_limited(
    pipeline_env: dict[str, str], clean_database: AsyncEngine, redis: Redis, auth_url: str
) -> None:
    user = bearer(await signed_up(auth_url, f"guess.{time.time_ns()}@example.com"))
    settings: MyApiSettings = my_settings(pipeline_env, deletion_attempts_per_hour=2)
    async with my_api_client(settings) as my:
        codes = [
            (await my.request("DELETE", ACCOUNT, headers=user, json={"password": "x"})).json()[
                "error"
            ]["code"]
            for _ in range(3)
        ]
        assert codes == ["reauthentication_failed", "reauthentication_failed", "rate_limited"]
        limited = await my.request("DELETE", ACCOUNT, headers=user, json={"password": PASSWORD})
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "body",
    [{"password": 5}, {"password": "x", "reason": "bye"}, [], "leave"],
    ids=["wrong type", "unknown field", "not an object", "a string"],
)
async def test_a_malformed_deletion_is_refused(
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    auth_url: str,
    body: Any,
) -> None:
    user = bearer(await signed_up(auth_url, f"odd.{time.time_ns()}@example.com"))
    async with my_api_client(my_settings(pipeline_env)) as my:
        answer = await my.request("DELETE", ACCOUNT, headers=user, json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "validation_error"
        assert (await my.get(PROFILE, headers=user)).status_code == 200


@contextmanager
def eraser_parts(
    settings: MyApiSettings, folder: Path
) -> Iterator[tuple[sessionmaker[Session], sync_redis.Redis, Journal]]:
    """What the storage worker gives its eraser: database sessions, Redis, a journal."""
    engine = create_sync_engine(settings)
    client = sync_redis.Redis.from_url(settings.redis_url)
    journal = Journal(folder / "journal.sqlite3")
    try:
        yield create_sync_sessionmaker(engine), client, journal
    finally:
        journal.close()
        engine.dispose()
        client.close()


class FailsOnce:
    """An object store or Redis client whose `method` fails the first time, as a crash there would
    end the delivery (the journal keeps what was done before)."""

    def __init__(self, inner: Any, method: str) -> None:
        self._inner = inner
        self._method = method
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self._method or self.failed:
            return attribute

        def failing(*args: Any, **kwargs: Any) -> Any:
            self.failed = True
            raise ConnectionError(f"{name} interrupted")

        return failing


@pytest.mark.parametrize(("broken", "method"), [("store", "purge"), ("redis", "delete")])
async def test_an_erasure_interrupted_midway_finishes_on_the_next_delivery(
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    auth_url: str,
    tmp_path: Path,
    broken: str,
    method: str,
) -> None:
    tokens = await signed_up(auth_url, f"resumed.{time.time_ns()}@example.com")
    settings = my_settings(pipeline_env)
    store = create_object_store(settings)
    async with my_api_client(settings) as my:
        user_id = uuid.UUID((await my.get(PROFILE, headers=bearer(tokens))).json()["user_id"])
    scan_ids = await a_life_of_data(clean_database, user_id, store)
    async with clean_database.begin() as connection:
        await connection.execute(
            text("UPDATE users SET deleted_at = now(), email = NULL WHERE id = :id"),
            {"id": user_id},
        )
    with eraser_parts(settings, tmp_path) as (sessions, client, journal):
        faulty = FailsOnce(store if broken == "store" else client, method)
        eraser = AccountEraser(
            sessions,
            faulty if broken == "store" else store,
            faulty if broken == "redis" else client,  # type: ignore[arg-type]
            client,
            journal,
        )
        task_id = f"my.erase_account:{user_id}"
        record = journal.begin(task_id, "my.erase_account", str(user_id)).record
        with pytest.raises(ConnectionError):
            eraser.erase(record, user_id, "erasure-1")
        assert faulty.failed
        journal.release(task_id, "ConnectionError")
        again = journal.begin(task_id, "my.erase_account", str(user_id)).record
        assert eraser.erase(again, user_id, "erasure-1") == "erased"
        assert journal.get(task_id) is None
    assert await rows_naming(clean_database, user_id, scan_ids) == {}
    for scan_id in scan_ids:
        assert store.list_keys(f"scans/{scan_id}/") == []
    assert await redis_keys_naming(redis, [str(user_id)]) == []


async def test_an_erasure_for_an_account_that_stayed_changes_nothing(
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    auth_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The request that published it failed after the publish (Redis refused the revocations):
    the account was not deleted, and the erasure must not delete it."""
    monkeypatch.setattr(storage_worker.erasure, "VISIBILITY_TIMEOUT_SECONDS", 0.3)
    tokens = await signed_up(auth_url, f"stays.{time.time_ns()}@example.com")
    settings = my_settings(pipeline_env)
    store = create_object_store(settings)
    async with my_api_client(settings) as my:
        user_id = uuid.UUID((await my.get(PROFILE, headers=bearer(tokens))).json()["user_id"])
    scan_ids = await a_life_of_data(clean_database, user_id, store)
    with eraser_parts(settings, tmp_path) as (sessions, client, journal):
        eraser = AccountEraser(sessions, store, client, client, journal)
        task_id = f"my.erase_account:{user_id}"
        record = journal.begin(task_id, "my.erase_account", str(user_id)).record
        assert eraser.erase(record, user_id, "erasure-2") == "not_deleted"
    assert "users.id" in await rows_naming(clean_database, user_id, scan_ids)
    assert store.list_keys(f"scans/{scan_ids[0]}/")


async def test_the_reaper_sends_a_lost_erasure_again(
    workers: Workers,
    crash_env: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    auth_url: str,
) -> None:
    """An account marked deleted whose erasure never ran (its message dead-lettered, or lost
    with a broker): the reaper's sweep finds it and the storage worker erases it."""
    tokens = await signed_up(auth_url, f"lost.{time.time_ns()}@example.com")
    settings = my_settings(crash_env)
    async with my_api_client(settings) as my:
        user_id = uuid.UUID((await my.get(PROFILE, headers=bearer(tokens))).json()["user_id"])
    scan_ids = await a_life_of_data(clean_database, user_id, create_object_store(settings))
    async with clean_database.begin() as connection:
        await connection.execute(
            text(
                "UPDATE users SET deleted_at = now() - interval '2 hours', email = NULL"
                " WHERE id = :id"
            ),
            {"id": user_id},
        )
    workers.storage()
    workers.reaper(BUNRI_REAPER_SWEEP_INTERVAL_SECONDS="1", BUNRI_ERASURE_OVERDUE_MINUTES="60")
    await until_erased(clean_database, user_id)
    assert await rows_naming(clean_database, user_id, scan_ids) == {}


async def test_a_token_outliving_its_account_is_told_so(
    pipeline_env: dict[str, str], clean_database: AsyncEngine, redis: Redis, auth_url: str
) -> None:
    """Its revocation lost (a Redis restarted empty), a token of an erased account still
    verifies: my-api answers that the account is gone, and creates nothing for it."""
    user = bearer(await signed_up(auth_url, f"ghost.{time.time_ns()}@example.com"))
    async with my_api_client(my_settings(pipeline_env)) as my:
        user_id = (await my.get(PROFILE, headers=user)).json()["user_id"]
        async with clean_database.begin() as connection:
            await connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": user_id})
        await redis.flushdb()  # the cached profile and the revocations: gone
        for answer in (
            await my.get(PROFILE, headers=user),
            await my.patch(PROFILE, headers=user | {"If-Match": '"1"'}, json={"language": "en"}),
            await upload(my, user, photo(seed=41)),
        ):
            assert (answer.status_code, answer.json()["error"]["code"]) == (401, "account_deleted")
    assert await rows_naming(clean_database, uuid.UUID(user_id), []) == {}


async def test_a_refresh_token_that_escaped_the_revocation_is_refused(
    clean_database: AsyncEngine, redis: Redis, auth_url: str
) -> None:
    """A refresh racing the deletion mints a token after the request revoked the others: auth-api
    refuses any refresh of an account being deleted."""
    tokens = await signed_up(auth_url, f"raced.{time.time_ns()}@example.com")
    async with clean_database.begin() as connection:
        await connection.execute(
            text(
                "UPDATE users SET deleted_at = now(), email = NULL"
                " WHERE id = (SELECT user_id FROM refresh_tokens LIMIT 1)"
            )
        )
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        refused = await auth.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
    assert refused.status_code == 401, refused.text
