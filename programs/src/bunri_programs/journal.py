"""`bunri journal`: look into a worker node's journal and drive it."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Literal

import typer

from bunri.journal import Journal, TaskRecord

app = typer.Typer(no_args_is_help=True, help="A worker node's journal (SQLite, WAL mode).")

Worker = Literal["storage", "ai"]

PATH_OPTION = typer.Option(
    None, "--path", envvar="BUNRI_JOURNAL_PATH", help="The journal file (default: --worker's)."
)
WORKER_OPTION = typer.Option("storage", "--worker", help="storage or ai: whose default journal.")
STATE_DIR_OPTION = typer.Option(Path(".bunri"), envvar="BUNRI_STATE_DIR")


def _journal(path: Path | None, worker: str, state_dir: Path) -> Journal:
    if worker not in ("storage", "ai"):
        raise typer.BadParameter("--worker is storage or ai")
    file = path or state_dir / "journal" / f"{worker}-worker.sqlite3"
    if not file.exists():
        typer.echo(f"no journal at {file}", err=True)
        raise typer.Exit(1)
    return Journal(file)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@app.command("ls")
def list_tasks(
    state: str | None = typer.Option(None, help="Only tasks in this state."),
    limit: int = typer.Option(50, help="At most this many, newest first."),
    path: Path | None = PATH_OPTION,
    worker: str = WORKER_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """The newest tasks, with a count by state."""
    journal = _journal(path, worker, state_dir)
    counts = journal.counts()
    typer.echo(
        f"{journal.path}: " + ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    )
    header = ("TASK", "STATE", "ATTEMPTS", "CRASHES", "OUTCOME", "STEPS", "UPDATED (UTC)")
    rows = [
        (
            task.task_id,
            task.state.value,
            str(task.attempts),
            str(task.crashes),
            task.outcome or "-",
            ",".join(task.steps) or "-",
            _when(task.updated_at),
        )
        for task in journal.tasks(state=state, limit=limit)
    ]
    # Plain aligned columns: never truncated, whatever the terminal, and easy to grep.
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


@app.command()
def show(
    task_id: str,
    path: Path | None = PATH_OPTION,
    worker: str = WORKER_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Everything the journal knows about one task."""
    journal = _journal(path, worker, state_dir)
    task = journal.get(task_id)
    if task is None:
        typer.echo(f"no task {task_id} in {journal.path}", err=True)
        raise typer.Exit(1)
    for label, value in _describe(task):
        typer.echo(f"{label:>10}  {value}")
    for forward in journal.forwards(limit=10_000):
        if forward.task_id == task_id:
            from bunri.worker.durable import describe

            typer.echo(
                f"{'waiting':>10}  {describe(forward)} since {_when(forward.created_at)}"
                f" ({forward.attempts} tries; last error: {forward.last_error or '-'})"
            )


def _describe(task: TaskRecord) -> list[tuple[str, str]]:
    steps = [
        f"{name}" + (f" = {value}" if isinstance(value, str) and len(value) < 120 else "")
        for name, value in task.steps.items()
    ]
    return [
        ("task", task.task_id),
        ("name", task.task_name),
        ("subject", task.subject),
        ("state", task.state),
        ("attempts", str(task.attempts)),
        ("crashes", str(task.crashes)),
        ("outcome", task.outcome or "-"),
        ("started", _when(task.started_at)),
        ("updated", _when(task.updated_at)),
        ("finished", _when(task.finished_at)),
        ("steps", "; ".join(steps) or "-"),
    ]


@app.command()
def flush(
    path: Path | None = PATH_OPTION,
    worker: str = WORKER_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Write the results waiting for PostgreSQL now (BUNRI_DATABASE_URL, BUNRI_REDIS_URL)."""
    from bunri.settings import BunriSettings
    from bunri.worker.durable import DATABASE_UNAVAILABLE, DurableScanWrites
    from bunri.worker.ledger import create_ledger

    journal = _journal(path, worker, state_dir)
    ledger = create_ledger(BunriSettings(), pool_size=1)
    try:
        written, waiting = DurableScanWrites(ledger, journal).flush()
    except DATABASE_UNAVAILABLE as exc:
        typer.echo(f"the database is unavailable: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"written {written}, still waiting {waiting}")
    if waiting:
        raise typer.Exit(1)


@app.command()
def purge(
    older_than_hours: float = typer.Option(48.0, help="Forget finished tasks older than this."),
    path: Path | None = PATH_OPTION,
    worker: str = WORKER_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Forget finished tasks past the retention window (never running or waiting ones)."""
    journal = _journal(path, worker, state_dir)
    typer.echo(f"purged {journal.purge(older_than_hours * 3600)} finished tasks")
