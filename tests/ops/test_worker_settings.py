"""The two settings docker-compose sets on the workers: BUNRI_METRICS_PORT and
BUNRI_WORKER_TASK_EVENTS (Celery task events for Flower, off unless asked for)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bunri.worker.celery import create_celery_app
from bunri.worker.settings import WorkerSettings


def test_the_workers_read_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BUNRI_METRICS_PORT", "BUNRI_WORKER_TASK_EVENTS"):
        monkeypatch.delenv(name, raising=False)
    assert WorkerSettings().metrics_port is None
    assert WorkerSettings().metrics_multiprocess_dir is None
    assert WorkerSettings().worker_task_events is False
    monkeypatch.setenv("BUNRI_METRICS_PORT", "9101")
    monkeypatch.setenv("BUNRI_WORKER_TASK_EVENTS", "true")
    monkeypatch.setenv("BUNRI_STATE_DIR", "/var/lib/bunri")
    monkeypatch.setenv("BUNRI_SERVICE_NAME", "ai-worker")
    settings = WorkerSettings()
    assert settings.metrics_port == 9101
    assert settings.worker_task_events is True
    assert settings.metrics_multiprocess_dir == Path("/var/lib/bunri/metrics/ai-worker-9101")


@pytest.mark.parametrize("events", [False, True])
def test_task_events_follow_the_setting(events: bool, tmp_path: Path) -> None:
    settings = WorkerSettings(worker_task_events=events, heartbeat_path=tmp_path / "beat.json")
    app = create_celery_app("events-test", settings)
    assert app.conf.worker_send_task_events is events
    assert app.conf.task_send_sent_event is events
