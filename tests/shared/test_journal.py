"""The journal's bookkeeping on its own: what a delivery is told, crash counting, forwarded
writes, purging, and a journal shared by forked processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bunri.journal import Journal, Outcome, TaskState
from bunri.messaging.dead_letters import DEAD_LETTER_REASON_HEADER, dead_letter_reason
from bunri.messaging.protocol import task_message
from bunri.messaging.tasks import STORE_SCAN_IMAGE
from bunri.worker.slots import Slots
from bunri_programs.reaper.service import read_dead_letter


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.sqlite3", max_crashes=3)


def test_the_file_is_in_wal_mode(journal: Journal) -> None:
    journal.begin("t", "scan.store_image", "s")
    mode = journal._db().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_finished_task_is_a_duplicate_when_it_comes_again(journal: Journal) -> None:
    assert journal.begin("t", "scan.store_image", "s").outcome is Outcome.RUN
    journal.checkpoint("t", "original", "scans/s/original.jpg")
    journal.finish("t", "stored")
    again = journal.begin("t", "scan.store_image", "s")
    assert again.outcome is Outcome.DUPLICATE
    assert again.record.steps == {"original": "scans/s/original.jpg"}


def test_only_deaths_inside_a_hazard_count_and_the_third_is_poison(journal: Journal) -> None:
    journal.begin("t", "scan.analyze", "s")
    # Died outside any hazardous step (killed while waiting on S3): not held against the task.
    start = journal.begin("t", "scan.analyze", "s")
    assert (start.outcome, start.record.crashes, start.record.attempts) == (Outcome.RUN, 0, 2)
    for crashes in (1, 2):
        journal._set_state("t", TaskState.HAZARD)  # a process died in the middle of the model
        start = journal.begin("t", "scan.analyze", "s")
        assert (start.outcome, start.record.crashes) == (Outcome.RUN, crashes)
        assert start.record.suspect
    journal._set_state("t", TaskState.HAZARD)
    assert journal.begin("t", "scan.analyze", "s").outcome is Outcome.POISON
    # Until it is dead-lettered it stays poison; after, a redelivery is a duplicate.
    assert journal.begin("t", "scan.analyze", "s").outcome is Outcome.POISON
    journal.poisoned("t")
    assert journal.begin("t", "scan.analyze", "s").outcome is Outcome.DUPLICATE


def test_a_retry_is_not_a_crash(journal: Journal) -> None:
    journal.begin("t", "scan.store_image", "s")
    with journal.hazard("t"):
        pass
    journal.release("t", "retry")
    start = journal.begin("t", "scan.store_image", "s")
    assert (start.outcome, start.record.crashes) == (Outcome.RUN, 0)


def test_a_forwarded_write_waits_and_the_task_is_not_run_again(journal: Journal) -> None:
    journal.begin("t", "scan.analyze", "s")
    journal.forward("t", "s", "complete", {"result": {"x": 1}})
    journal.finish("t", "forwarded")  # the runner's finish must not hide the waiting write
    assert journal.get("t").state is TaskState.FORWARDING  # type: ignore[union-attr]
    assert journal.begin("t", "scan.analyze", "s").outcome is Outcome.DUPLICATE
    [waiting] = journal.forwards()
    assert (waiting.kind, waiting.payload) == ("complete", {"result": {"x": 1}})
    journal.forwarded("t", "completed")
    assert journal.forwards() == []
    assert journal.get("t").state is TaskState.DONE  # type: ignore[union-attr]


def test_purge_forgets_only_old_finished_tasks(journal: Journal) -> None:
    for task in ("old-done", "old-running", "new-done"):
        journal.begin(task, "scan.store_image", "s")
    journal.finish("old-done", "stored")
    journal.finish("new-done", "stored")
    journal._db().execute(
        "UPDATE tasks SET updated_at = ? WHERE task_id LIKE 'old-%'", (time.time() - 7200,)
    )
    assert journal.purge(3600) == 1
    assert [task.task_id for task in journal.in_flight()] == ["old-running"]
    assert journal.get("new-done") is not None


def test_bulky_checkpoints_go_when_the_task_finishes(journal: Journal) -> None:
    journal.begin("t", "scan.store_image", "s")
    journal.checkpoint("t", "analysis_image", b"x" * 50_000)
    journal.finish("t", "stored")
    assert journal.get("t").steps == {"analysis_image": None}  # type: ignore[union-attr]


def test_a_forked_child_opens_its_own_connection(journal: Journal) -> None:
    journal.begin("parent", "scan.analyze", "s")
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's exit code is the assertion)
        try:
            journal.begin("child", "scan.analyze", "s")
            journal.finish("child", "completed")
        finally:
            os._exit(0)
    _, status = os.waitpid(child, 0)
    assert status == 0
    assert journal.get("child").state is TaskState.DONE  # type: ignore[union-attr]
    journal.finish("parent", "completed")  # the parent's connection still works


def test_dead_letter_reasons() -> None:
    assert dead_letter_reason({"x-death": [{"reason": "expired"}]}) == "expired"
    assert dead_letter_reason({"x-death": [{"reason": b"maxlen"}]}) == "queue_full"
    assert dead_letter_reason({"x-death": [{"reason": "rejected"}]}) == "rejected"
    assert dead_letter_reason({DEAD_LETTER_REASON_HEADER: "poison"}) == "poison"
    assert dead_letter_reason({}) == "rejected"
    dead = read_dead_letter(
        b'[["0194f7c5-0000-7000-8000-000000000001"], {"image": "..."}, {}]',
        {
            "task": "scan.store_image",
            "id": "scan.store_image:x",
            "x-death": [{"reason": "expired"}],
        },
        "application/json",
    )
    assert (dead.subject, dead.reason) == ("0194f7c5-0000-7000-8000-000000000001", "expired")
    scan_id = "0194f7c5-0000-7000-8000-000000000002"
    message = task_message(STORE_SCAN_IMAGE, task_id="scan.store_image:y", args=[scan_id])
    dead = read_dead_letter(message.body, message.headers, message.content_type)
    assert dead.subject == scan_id
    assert read_dead_letter(b"\xc1", message.headers, message.content_type).subject == "y"


def test_a_suspect_waits_for_every_slot_and_holds_them_all() -> None:
    slots = Slots(2)
    order: list[str] = []
    with slots.shared():
        import threading

        def suspect() -> None:
            with slots.exclusive():
                order.append("suspect")

        thread = threading.Thread(target=suspect)
        thread.start()
        time.sleep(0.1)
        assert order == []  # waits for the shared holder
    thread.join(5)
    assert order == ["suspect"]


def test_a_late_writer_never_moves_a_finished_or_forwarded_task(journal: Journal) -> None:
    journal.begin("t", "scan.analyze", "s")
    with journal.hazard("t"):
        # Meanwhile a duplicate's result went to the journal (another process of the node).
        journal.forward("t", "s", "complete", {"result": {}})
    journal.release("t", "Retry")
    assert journal.get("t").state is TaskState.FORWARDING  # type: ignore[union-attr]


def test_a_task_another_live_process_is_running_is_not_started_twice(journal: Journal) -> None:
    journal.begin("t", "scan.analyze", "s")
    other_live_process = os.getppid()  # alive, and started before the row was written
    journal._db().execute(
        "UPDATE tasks SET owner_pid = ? WHERE task_id = 't'", (other_live_process,)
    )
    assert journal.begin("t", "scan.analyze", "s").outcome is Outcome.IN_PROGRESS
    journal._db().execute("UPDATE tasks SET owner_pid = 999999999 WHERE task_id = 't'")
    assert journal.begin("t", "scan.analyze", "s").outcome is Outcome.RUN  # its owner is gone
