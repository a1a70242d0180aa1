"""Driving my-api in tests: its settings from the pipeline's environment, served in process, waiting
for the storage worker to finish a profile photo, a task published as a producer would, and a
person's data to export or erase."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
from celery import Celery
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bunri.db.base import utcnow
from bunri.db.models import (
    ChatBatchJob,
    ChatMessage,
    ChatRole,
    Conversation,
    Scan,
    ScanFeedback,
    ScanStatus,
    SocialAccount,
    WeeklyReport,
)
from bunri.ids import uuid7
from bunri.messaging.protocol import TaskCall
from bunri.messaging.tasks import TASK_QUEUES
from bunri.messaging.topology import DEFAULT_PRIORITY, TASK_EXCHANGE
from bunri.storage import ObjectStore, scan_object_key
from my_api.app import create_app
from my_api.settings import MyApiSettings
from tests.support.pictures import photo


def my_settings(pipeline_env: dict[str, str], **overrides: Any) -> MyApiSettings:
    values: dict[str, Any] = {
        name.removeprefix("BUNRI_").lower(): value for name, value in pipeline_env.items()
    }
    return MyApiSettings(**(values | {"log_json": False} | overrides))


@asynccontextmanager
async def my_api_client(settings: MyApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    """my-api in this process (its lifespan run), and a client of it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def wait_for_photo(
    client: httpx.AsyncClient, headers: dict[str, str], status: str, seconds: float = 30
) -> dict[str, Any]:
    """The profile once its photo reached `status`."""
    deadline = time.monotonic() + seconds
    while True:
        profile: dict[str, Any] = (await client.get("/api/v1/my/profile", headers=headers)).json()
        if profile["photo"]["status"] == status:
            return profile
        assert time.monotonic() < deadline, f"photo still {profile['photo']}"
        await asyncio.sleep(0.1)


def send_task(broker_url: str, call: TaskCall) -> None:
    """Publish `call` as a Celery producer would, to its queue."""
    producer = Celery("test-producer", broker=broker_url)
    producer.conf.broker_transport_options = {"confirm_publish": True}
    producer.conf.task_serializer = "msgpack"
    producer.send_task(
        call.task_name,
        exchange=TASK_EXCHANGE,
        routing_key=TASK_QUEUES[call.task_name].name,
        priority=DEFAULT_PRIORITY,
        **call.send_task_options(),
    )
    producer.close()


async def a_life_of_data(
    engine: AsyncEngine, user_id: uuid.UUID, store: ObjectStore, scans: int = 2
) -> list[uuid.UUID]:
    """What a person leaves behind after a while: scans with stored images and results, feedback,
    a conversation, a queued question, a weekly report and a linked social account. The scans'
    ids."""
    now = utcnow()
    scan_ids = [uuid7() for _ in range(scans)]
    async with AsyncSession(engine) as session:
        for number, scan_id in enumerate(scan_ids):
            original = scan_object_key(scan_id, "original", "image/jpeg")
            thumbnail = scan_object_key(scan_id, "thumbnail", "image/jpeg")
            store.put(original, photo(seed=number), "image/jpeg")
            store.put(thumbnail, photo(64, 48, seed=number), "image/jpeg")
            session.add(
                Scan(
                    id=scan_id,
                    user_id=user_id,
                    status=ScanStatus.COMPLETED,
                    progress=100,
                    version=5,
                    note=f"scan {number}",
                    media_type="image/jpeg",
                    size_bytes=1000,
                    width=640,
                    height=480,
                    original_key=original,
                    thumbnail_key=thumbnail,
                    result={"classification": {"major": "재활용", "middle": "유리병"}},
                    completed_at=now,
                )
            )
        await session.flush()
        session.add(
            ScanFeedback(
                scan_id=scan_ids[0],
                user_id=user_id,
                correct_major="재활용",
                correct_middle="캔류",
                image_key=scan_object_key(scan_ids[0], "original", "image/jpeg"),
                created_at=now,
                updated_at=now,
            )
        )
        conversation = Conversation(user_id=user_id, title="유리병 버리기")
        session.add(conversation)
        await session.flush()
        for role, text in ((ChatRole.USER, "어떻게?"), (ChatRole.ASSISTANT, "헹궈서 버려요")):
            session.add(ChatMessage(conversation_id=conversation.id, role=role, text=text))
        job = ChatBatchJob(user_id=user_id, question="라벨은?")
        session.add(job)
        await session.flush()
        session.add(
            WeeklyReport(
                user_id=user_id,
                week_start=date(2026, 11, 30),
                figures={"scans": 2},
                text="이번 주 2개를 분리했어요.",
                source="template",
                chat_job_id=job.id,
            )
        )
        session.add(
            SocialAccount(user_id=user_id, provider="kakao", provider_user_id=f"k{user_id}")
        )
        await session.commit()
    return scan_ids
