"""The AI worker's batch answerer against the local model server: the question goes to the model
with its guide, the model's answer is written once."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from ai_worker.chat_answers import BatchAnswerer
from ai_worker.settings import AiWorkerSettings
from bunri.db.models import BatchStatus, ChatBatchJob, User
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
