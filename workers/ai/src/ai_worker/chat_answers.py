"""Answering a queued chat question (`chat.batch`): the same grounding as the live chat, the model
when one is configured, else the guide-only answer; written once, by compare-and-set. A weekly
report job is the model's to write, from its figures; without a model it fails (`no_model`)."""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam
from sqlalchemy.orm import Session, sessionmaker

from ai_worker.settings import AiWorkerSettings
from bunri.chat.batch import complete_job, fail_job
from bunri.chat.compose import compose_from_guides
from bunri.chat.grounding import Source, guide_index
from bunri.chat.prompts import Prompt, model_messages, report_messages
from bunri.db.models import BatchKind, BatchStatus, ChatBatchJob, Scan, ScanStatus
from bunri.logging import get_logger
from bunri.worker.visibility import read_when_visible

log = get_logger(__name__)

# chat-api publishes just before it commits the job: give the commit a moment.
JOB_VISIBILITY_SECONDS = 5.0


class ModelFailed(Exception):
    """The model refused or failed for good (a connection failure is retried instead)."""


class BatchAnswerer:
    def __init__(self, settings: AiWorkerSettings, sessions: sessionmaker[Session]) -> None:
        self._settings = settings
        self._sessions = sessions

    def answer(self, job_id: uuid.UUID) -> str:
        job = self._wait_for(job_id)
        if job is None:
            log.warning("no batch job for this message; dropping it", job_id=str(job_id))
            return "no_job"
        if job.status is not BatchStatus.QUEUED:
            return f"skipped:{job.status}"
        sources, scan_result = self._grounding(job)
        if job.kind is BatchKind.WEEKLY_REPORT:
            if not self._settings.llm_base_url:
                # The guides alone write no report: the template's text stays the report.
                failed = fail_job(
                    self._sessions, job_id, "no_model", "No model is configured to write it."
                )
                return "failed:no_model" if failed else "already_finished"
            text = self._ask_model(report_messages(job.question, sources))
        elif self._settings.llm_base_url:
            prompt = Prompt(job.question, sources, scan_result=scan_result)
            text = self._ask_model(model_messages(prompt))
        else:
            text = compose_from_guides(sources, Prompt(job.question, sources).english)
        answered = complete_job(
            self._sessions, job_id, text, [source.as_api() for source in sources]
        )
        return "answered" if answered else "already_finished"

    def _wait_for(self, job_id: uuid.UUID) -> ChatBatchJob | None:
        def read() -> ChatBatchJob | None:
            with self._sessions() as session:
                return session.get(ChatBatchJob, job_id)

        return read_when_visible(read, lambda job: job is not None, JOB_VISIBILITY_SECONDS)

    def _grounding(self, job: ChatBatchJob) -> tuple[list[Source], dict[str, Any] | None]:
        """The guide of the asker's scan when the question names one, else by its words."""
        index = guide_index()
        if job.scan_id is not None:
            with self._sessions() as session:
                scan = session.get(Scan, job.scan_id)
            # Someone else's scan grounds nothing: as if it did not exist.
            if (
                scan is not None
                and scan.user_id == job.user_id
                and scan.status is ScanStatus.COMPLETED
                and (source := index.for_result(scan.result)) is not None
            ):
                return [source], scan.result
        return index.search(job.question), None

    @cached_property
    def _model(self) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self._settings.llm_base_url,
            api_key=self._settings.llm_key,
            timeout=openai.Timeout(
                self._settings.llm_read_timeout_seconds,
                connect=self._settings.llm_connect_timeout_seconds,
            ),
            max_retries=0,  # the task retries connection failures, with backoff
        )

    def _ask_model(self, messages: list[ChatCompletionMessageParam]) -> str:
        try:
            completion = self._model.chat.completions.create(
                model=self._settings.llm_model,
                messages=messages,
                max_tokens=self._settings.llm_max_tokens,
            )
        except openai.APIStatusError as exc:
            raise ModelFailed(f"The model refused the question ({exc.status_code}).") from exc
        if not completion.choices or not completion.choices[0].message.content:
            raise ModelFailed("The model gave no answer.")
        return completion.choices[0].message.content
