"""`bunri journal` and the reaper's sweep against a real database."""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from bunri.db.models import Scan, ScanStatus
from bunri.journal import Journal
from bunri.worker.durable import DurableScanWrites
from bunri.worker.ledger import ScanLedger
from bunri_programs.cli import app
from bunri_programs.reaper.service import Reaper
from tests.support.ledger import ledger_on
from tests.support.ledger import new_scan as a_users_scan


@pytest.fixture
def ledger(database_url: str, redis_url: str, clean_database: AsyncEngine) -> ScanLedger:
    return ledger_on(database_url, redis_url)


def new_scan(ledger: ScanLedger, status: ScanStatus, version: int) -> uuid.UUID:
    return a_users_scan(ledger, status, version)[1]


def test_ls_show_flush_and_purge(
    tmp_path: Path, ledger: ScanLedger, database_url: str, redis_url: str
) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Journal(path)
    scan_id = new_scan(ledger, ScanStatus.STORED, version=3)
    task_id = f"scan.analyze:{scan_id}"
    journal.begin(task_id, "scan.analyze", str(scan_id))
    journal.checkpoint(task_id, "result", '{"classification": {"middle": "종이"}}')
    result = {"classification": {"middle": "종이"}, "guide": {}, "model": {}}
    journal.forward(task_id, str(scan_id), "complete", {"result": result})
    runner = CliRunner()
    env = {"BUNRI_DATABASE_URL": database_url, "BUNRI_REDIS_URL": redis_url}

    listed = runner.invoke(app, ["journal", "ls", "--path", str(path)], env=env)
    assert listed.exit_code == 0, listed.output
    assert "forwarding 1" in listed.output
    assert "forwards 1" in listed.output
    assert task_id[:20] in listed.output

    shown = runner.invoke(app, ["journal", "show", task_id, "--path", str(path)], env=env)
    assert shown.exit_code == 0, shown.output
    assert "forwarding" in shown.output
    assert "complete as 종이" in shown.output

    flushed = runner.invoke(app, ["journal", "flush", "--path", str(path)], env=env)
    assert flushed.exit_code == 0, flushed.output
    assert "written 1, still waiting 0" in flushed.output
    scan = ledger.get(scan_id)
    assert scan is not None
    assert (scan.status, scan.result) == (ScanStatus.COMPLETED, result)

    purged = runner.invoke(
        app, ["journal", "purge", "--older-than-hours", "0", "--path", str(path)], env=env
    )
    assert purged.exit_code == 0, purged.output
    assert "purged 1 finished tasks" in purged.output

    missing = runner.invoke(app, ["journal", "ls", "--path", str(tmp_path / "none")], env=env)
    assert missing.exit_code == 1
    assert "no journal at" in missing.output


def test_a_forwarded_failure_keeps_the_stored_keys(tmp_path: Path, ledger: ScanLedger) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    scan_id = new_scan(ledger, ScanStatus.STORING, version=2)
    writes = DurableScanWrites(ledger, journal)
    outcome = writes.fail(
        "t", scan_id, "storage_unavailable", "gone", original_key=f"scans/{scan_id}/original.jpg"
    )
    assert outcome == "failed:storage_unavailable"
    scan = ledger.get(scan_id)
    assert scan is not None
    assert scan.original_key == f"scans/{scan_id}/original.jpg"


def test_the_sweep_fails_scans_that_stopped_moving(ledger: ScanLedger) -> None:
    stalled = new_scan(ledger, ScanStatus.STORED, version=3)
    moving = new_scan(ledger, ScanStatus.ANALYZING, version=4)
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=5)
    with ledger.sessions() as session:
        session.execute(update(Scan).where(Scan.id == stalled).values(updated_at=long_ago))
        session.commit()
    assert Reaper(ledger).sweep(datetime.timedelta(hours=3)) == 1
    swept = ledger.get(stalled)
    assert swept is not None
    assert (swept.status, swept.error_code) == (ScanStatus.FAILED, "stalled")
    untouched = ledger.get(moving)
    assert untouched is not None
    assert untouched.status is ScanStatus.ANALYZING
