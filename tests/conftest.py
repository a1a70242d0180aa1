"""Fixtures every test can use: a migrated PostgreSQL database and a Redis database of this pytest
worker's own (real servers, real connections), and settings pointing at them; auth-api over real
HTTP; and what the scan pipeline runs against (an S3 server, a tiny CLIP, the environment every
party of it is started with), which the scan and the ops tests share."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from auth_api.app import create_app as create_auth_app
from bunri.db.models import Base
from tests.support.auth import auth_settings
from tests.support.backends import (
    NAMESPACE,
    REDIS_FIRST_DB,
    REDIS_SERVER,
    WORKER,
    fresh_vhost,
    migrated_database,
    worker_number,
)
from tests.support.keys import rsa_pem
from tests.support.models import build_tiny_clip
from tests.support.processes import BIN, worker_process
from tests.support.scans import node_files
from tests.support.servers import free_port, run_process, serve_in_thread
from tests.support.users import new_user

S3_KEYS = {"BUNRI_S3_ACCESS_KEY_ID": "test", "BUNRI_S3_SECRET_ACCESS_KEY": "test"}


@pytest.fixture(autouse=True)
def environment_left_as_found() -> Iterator[None]:
    """A test that changes this process's environment and leaves it changed (monkeypatch's
    changes are undone before this runs) changes every later test in its pytest worker, the
    test that then fails far from the cause: this fails the test that left it."""
    before = dict(os.environ)
    yield
    changed = {
        name: (before.get(name), os.environ.get(name))
        for name in before.keys() | os.environ.keys()
        if before.get(name) != os.environ.get(name) and name != "PYTEST_CURRENT_TEST"
    }
    assert not changed, f"the test left the environment changed (before, after): {changed}"


@pytest.fixture(scope="session")
def database_url() -> str:
    """A database of this pytest worker's own, created empty and migrated to head."""
    return migrated_database(f"bunri_test_{NAMESPACE}{WORKER}")


@pytest.fixture(scope="session")
def redis_url() -> str:
    # Database 0 is left to developers; each pytest worker gets its own from REDIS_FIRST_DB on.
    return f"{REDIS_SERVER}/{(REDIS_FIRST_DB + worker_number()) % 16}"


@pytest.fixture
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest.fixture
async def clean_database(db_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The worker's database, emptied after the test."""
    yield db_engine
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with db_engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} CASCADE"))


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """The worker's Redis database, emptied before the test."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """A vhost of this pytest worker's own, created empty for the session."""
    with fresh_vhost("main") as url:
        yield url


@pytest.fixture(scope="session")
def signing_key() -> str:
    return rsa_pem()


@pytest.fixture(scope="session")
def auth_url(database_url: str, redis_url: str, signing_key: str) -> Iterator[str]:
    """auth-api over real HTTP: scan-api fetches its JWKS, tests sign users up and in."""
    with serve_in_thread(
        create_auth_app(auth_settings(database_url, redis_url, signing_key))
    ) as url:
        yield url


@pytest.fixture
async def user(auth_url: str) -> dict[str, str]:
    """A new user of auth-api (above): its bearer header."""
    return await new_user(auth_url)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    command = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with run_process(command, env={}, ready_url=f"{url}/moto-api/", log_path=log):
        yield url


@pytest.fixture(scope="session")
def s3_bucket(s3_endpoint: str) -> str:
    bucket = "bunri-test-scans"
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="ap-northeast-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"}
    )
    return bucket


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


UNLIMITED_PEOPLE = {
    "BUNRI_SCAN_BURST": "100000",
    "BUNRI_SCANS_IN_FLIGHT_PER_USER": "100000",
    "BUNRI_CHAT_BATCH_BURST": "100000",
}


@pytest.fixture(scope="session")
def pipeline_env(
    database_url: str,
    redis_url: str,
    broker_url: str,
    s3_endpoint: str,
    s3_bucket: str,
    auth_url: str,
) -> dict[str, str]:
    """The settings every party of the pipeline runs with, as environment variables."""
    return {
        "BUNRI_ENVIRONMENT": "test",
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_BROKER_URL": broker_url,
        "BUNRI_S3_BUCKET": s3_bucket,
        "BUNRI_S3_ENDPOINT_URL": s3_endpoint,
        "BUNRI_AUTH_JWKS_URL": f"{auth_url}/.well-known/jwks.json",
        # One person sends many scans in some tests; the per-person limits have tests of their
        # own (tests/scans/test_fair_share.py).
        **UNLIMITED_PEOPLE,
        **S3_KEYS,
    }


@pytest.fixture(scope="session")
def storage_worker(
    pipeline_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[bytes]]:
    """The storage worker (scan images, profile photos, account erasure) as a worker process."""
    folder = tmp_path_factory.mktemp("storage-worker")
    log = folder / "worker.log"
    env = pipeline_env | node_files(folder) | {"BUNRI_STORAGE_WORKER_CONCURRENCY": "20"}
    with worker_process([str(BIN / "bunri-storage-worker")], env=env, log_path=log) as process:
        yield process
