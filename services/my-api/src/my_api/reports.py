"""The weekly report: `GET /api/v1/my/reports/weekly[?week_start=]` reads it; `bunri my
weekly-reports` writes them (`bunri.reports.weekly`, re-exported here: the generation runs in
the ops image, which does not install my-api)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bunri.db.models import BatchStatus, ChatBatchJob, WeeklyReport
from bunri.reports.stats import StatsOut
from bunri.reports.weekly import (
    GenerationSummary,
    generate_weekly_reports,
    last_complete_week,
    week_start_of,
)
from my_api.errors import ReportNotReady

__all__ = [
    "GenerationSummary",
    "WeeklyReportOut",
    "generate_weekly_reports",
    "weekly_report",
]

ModelStatus = Literal["none", "pending", "completed", "failed"]


class WeeklyReportOut(BaseModel):
    week_start: date = Field(description="The Monday the week starts on (Asia/Seoul).")
    week_end: date = Field(description="Its Sunday.")
    text: str = Field(description="The report, in the person's language; lines end with \\n.")
    source: Literal["template", "model"] = Field(
        description="`model` once the chat model's text is in, `template` until then (or "
        "without a model)."
    )
    model_status: ModelStatus = Field(
        description="The model's text: `none` (not asked), `pending`, `completed` or `failed` "
        "(the template's text stays)."
    )
    figures: StatsOut = Field(description="The week's stats the text was written from.")
    written_at: datetime = Field(description="When the text shown was written.")


async def weekly_report(
    connection: AsyncConnection,
    user_id: uuid.UUID,
    week_start: date | None,
    *,
    now: datetime,
) -> WeeklyReportOut:
    """The report of the week holding `week_start` (any day of it names the week), by default
    the last complete week as of `now`; ReportNotReady (404) when there is none."""
    week = last_complete_week(now) if week_start is None else week_start_of(week_start)
    row = (
        await connection.execute(
            select(
                WeeklyReport.week_start,
                WeeklyReport.figures,
                WeeklyReport.text,
                WeeklyReport.chat_job_id,
                WeeklyReport.created_at,
                ChatBatchJob.status.label("job_status"),
                ChatBatchJob.answer,
                ChatBatchJob.completed_at,
            )
            .outerjoin(ChatBatchJob, ChatBatchJob.id == WeeklyReport.chat_job_id)
            .where(WeeklyReport.user_id == user_id, WeeklyReport.week_start == week)
        )
    ).first()
    if row is None:
        raise ReportNotReady()
    status: ModelStatus = "none"
    if row.job_status is BatchStatus.QUEUED:
        status = "pending"
    elif row.job_status is BatchStatus.FAILED:
        status = "failed"
    elif row.job_status is BatchStatus.COMPLETED:
        status = "completed"
    from_model = status == "completed" and bool((row.answer or "").strip())
    return WeeklyReportOut(
        week_start=row.week_start,
        week_end=row.week_start + timedelta(days=6),
        text=row.answer.strip() if from_model else row.text,
        source="model" if from_model else "template",
        model_status=status,
        figures=StatsOut.model_validate(row.figures),
        written_at=row.completed_at if from_model and row.completed_at else row.created_at,
    )
