"""The AI worker's batch answerer against the local model server: the question goes to the model
with its guide, the model's answer is written once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ai_worker.chat_answers import BatchAnswerer
from ai_worker.settings import AiWorkerSettings
from bunri.chat.prompts import REPORT_SYSTEM
from bunri.db.models import BatchKind, BatchStatus, ChatBatchJob, User
from bunri.worker.ledger import create_ledger
from tests.support.fake_llm import FakeLLM, Script


async def test_a_batch_question_goes_to_the_model_with_its_guide(
    database_url: str,
    redis_url: str,
    broker_url: str,
    llm: FakeLLM,
    clean_database: AsyncEngine,
) -> None:
    llm.script = Script(tokens=["종이팩은 ", "헹궈서 ", "말려 주세요."])
    settings = AiWorkerSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        broker_url=broker_url,
        llm_base_url=llm.url,
    )
    ledger = create_ledger(settings, pool_size=1)
    with ledger.sessions() as session:
        user = User(email=f"{uuid.uuid4()}@example.com", password_hash="x", nickname="n")
        session.add(user)
        session.flush()
        job = ChatBatchJob(user_id=user.id, question="우유팩은 어떻게 버려요?")
        session.add(job)
        session.commit()
        job_id = job.id
    answerer = BatchAnswerer(settings, ledger.sessions)

    assert await asyncio.to_thread(answerer.answer, job_id) == "answered"
    assert await asyncio.to_thread(answerer.answer, job_id) == "skipped:completed"

    with ledger.sessions() as session:
        stored = session.get(ChatBatchJob, job_id)
    assert stored is not None
    assert (stored.status, stored.answer) == (BatchStatus.COMPLETED, "종이팩은 헹궈서 말려 주세요.")
    assert [source["middle"] for source in stored.sources or []] == ["종이팩"]
    assert len(llm.calls) == 1
    assert "종이팩" in llm.calls[0].body["messages"][0]["content"]


def a_report_job(settings: AiWorkerSettings) -> tuple[Any, uuid.UUID]:
    ledger = create_ledger(settings, pool_size=1)
    with ledger.sessions() as session:
        user = User(email=f"{uuid.uuid4()}@example.com", password_hash="x", nickname="n")
        session.add(user)
        session.flush()
        job = ChatBatchJob(
            user_id=user.id,
            kind=BatchKind.WEEKLY_REPORT,
            question="Please write my weekly waste-sorting report, in English:\n- Scans sent: 4",
        )
        session.add(job)
        session.commit()
        return ledger, job.id


async def test_a_weekly_report_is_written_by_the_model_as_a_report(
    database_url: str,
    redis_url: str,
    broker_url: str,
    llm: FakeLLM,
    clean_database: AsyncEngine,
) -> None:
    llm.script = Script(tokens=["You sorted 4 items ", "this week."])
    settings = AiWorkerSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        broker_url=broker_url,
        llm_base_url=llm.url,
    )
    ledger, job_id = a_report_job(settings)
    answerer = BatchAnswerer(settings, ledger.sessions)
    assert await asyncio.to_thread(answerer.answer, job_id) == "answered"
    with ledger.sessions() as session:
        stored = session.get(ChatBatchJob, job_id)
    assert stored is not None
    assert (stored.status, stored.answer) == (
        BatchStatus.COMPLETED,
        "You sorted 4 items this week.",
    )
    system, request = llm.calls[0].body["messages"]
    assert system["content"].startswith(REPORT_SYSTEM)
    assert "Scans sent: 4" in request["content"]


async def test_without_a_model_a_weekly_report_job_fails_and_the_template_stays(
    database_url: str, redis_url: str, broker_url: str, clean_database: AsyncEngine
) -> None:
    settings = AiWorkerSettings(
        environment="test", database_url=database_url, redis_url=redis_url, broker_url=broker_url
    )
    ledger, job_id = a_report_job(settings)
    answerer = BatchAnswerer(settings, ledger.sessions)
    assert await asyncio.to_thread(answerer.answer, job_id) == "failed:no_model"
    with ledger.sessions() as session:
        stored = session.get(ChatBatchJob, job_id)
    assert stored is not None
    assert (stored.status, stored.error_code, stored.answer) == (
        BatchStatus.FAILED,
        "no_model",
        None,
    )
