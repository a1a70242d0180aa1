"""`bunri`: the command line of operators and users.

For operators: `db` (migrations), `broker` (the queue topology), `journal` (a worker node's
journal), `feedback export`, `users` (accounts' roles: the only way to make someone an admin),
`reaper`, `relay`, `worker alive` (the workers' liveness probe) and `standalone`; for users, the
client: `login`, `scan`, `chat`, `my profile`, `my export`.
Installed workspace packages add their own commands through `bunri.commands` entry points (the
AI worker's `train` and `evaluate`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from bunri.settings import BunriSettings
from bunri_programs.database import in_transaction
from bunri_programs.locations import locations_app
from bunri_programs.rewards import rewards_app
from bunri_programs.users import users_app
from bunri_programs.weekly_reports import weekly_reports_app

# SQLAlchemy and Alembic are imported by the commands that use them: `bunri worker alive` runs as
# a container health check every few seconds, and should not pay a second of imports each time.
if TYPE_CHECKING:
    pass

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Bunri's command line.")
db = typer.Typer(no_args_is_help=True, help="The database: migrations and checks.")
app.add_typer(db, name="db")
broker = typer.Typer(no_args_is_help=True, help="RabbitMQ: the queue topology.")
app.add_typer(broker, name="broker")

worker = typer.Typer(no_args_is_help=True, help="Celery workers: liveness.")
app.add_typer(worker, name="worker")
feedback = typer.Typer(no_args_is_help=True, help="What users said scans really show.")
app.add_typer(feedback, name="feedback")
my = typer.Typer(
    no_args_is_help=True, help="A person's own page: profile and export; the weekly reports."
)
app.add_typer(my, name="my")
my.add_typer(weekly_reports_app, name="weekly-reports")
app.add_typer(users_app, name="users")
app.add_typer(rewards_app, name="rewards")
app.add_typer(locations_app, name="locations")


def _add_journal_commands() -> None:
    from bunri_programs.journal import app as journal_app

    app.add_typer(journal_app, name="journal")


_add_journal_commands()


def add_installed_commands() -> None:
    """Commands that other installed workspace packages bring (their `bunri.commands` entry
    points): the AI worker's `train` and `evaluate` need torch, which only its install has.
    Added when the command line runs, not when this module is imported."""
    from importlib.metadata import entry_points

    if _installed:
        return
    for entry in entry_points(group="bunri.commands"):
        entry.load()(app)
    _installed.append(True)


_installed: list[bool] = []


T = TypeVar("T")


@db.command()
def upgrade(revision: str = typer.Argument("head")) -> None:
    """Create the database if it is missing, then migrate it to REVISION (default: head)."""
    from bunri import migrations

    url = BunriSettings().database_url
    if asyncio.run(migrations.create_database_if_missing(url)):
        typer.echo("created the database")
    in_transaction(lambda connection: migrations.upgrade(connection, revision))
    typer.echo(f"database at {in_transaction(migrations.current_revision)}")


@db.command()
def downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' empties it)."""
    from bunri import migrations

    in_transaction(lambda connection: migrations.downgrade(connection, revision))
    typer.echo(f"database at {in_transaction(migrations.current_revision)}")


@db.command()
def revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    from bunri import migrations

    path = in_transaction(lambda connection: migrations.autogenerate(connection, message))
    typer.echo(f"wrote {path}")


@db.command()
def check() -> None:
    """Fail unless the database is at head and the models match the migrations."""
    from bunri import migrations

    current = in_transaction(migrations.current_revision)
    head = migrations.head_revision()
    if current != head:
        typer.echo(f"database at {current}, migrations at {head}: run 'bunri db upgrade'", err=True)
        raise typer.Exit(1)
    changes = in_transaction(migrations.pending_model_changes)
    if changes:
        typer.echo(
            "models and migrations disagree; 'alembic revision --autogenerate' would emit:",
            err=True,
        )
        for change in changes:
            typer.echo(f"  {change}", err=True)
        raise typer.Exit(1)
    typer.echo(f"database at head ({head}); models and migrations agree")


@broker.command()
def definitions(
    vhost: str = typer.Option("/", help="The vhost to write the topology for."),
) -> None:
    """Print the topology as RabbitMQ definitions (infra/rabbitmq/definitions.json is this)."""
    import json

    from bunri.messaging.topology import definitions as topology_definitions

    typer.echo(json.dumps(topology_definitions(vhost), indent=2, sort_keys=True))


@broker.command()
def declare() -> None:
    """Declare every exchange, queue and binding on BUNRI_BROKER_URL (idempotent)."""
    import aio_pika

    from bunri.messaging.publisher import declare_topology
    from bunri.settings import BrokerSettings

    async def run() -> None:
        connection = await aio_pika.connect(BrokerSettings().broker_url)
        async with connection:
            await declare_topology(await connection.channel())

    asyncio.run(run())
    typer.echo("topology declared")


@app.command()
def reaper() -> None:
    """Consume the dead-letter queues: fail each dead-lettered scan (and batch question, and
    profile photo) with its reason (expired, rejected, poison, queue_full), fail scans stalled
    past every retry, and send again the erasures of accounts deleted long ago and still there."""
    from bunri_programs.reaper.run import run_reaper

    run_reaper()


@app.command()
def relay() -> None:
    """Publish the outbox's waiting task messages to BUNRI_BROKER_URL, until stopped: the same
    relay scan-api and chat-api run beside their publishers, as a process of its own."""
    from bunri_programs.relay import run_relay_process

    run_relay_process()


@worker.command()
def alive(
    heartbeat: Path = typer.Argument(..., help="The worker's BUNRI_HEARTBEAT_PATH."),
    max_age: float = typer.Option(60.0, help="Seconds a heartbeat stays good."),
) -> None:
    """Exit 0 if the worker's loop wrote its heartbeat within MAX_AGE seconds (a busy worker
    does); 1 otherwise. For liveness probes and container health checks."""
    from bunri.worker.liveness import heartbeat_age

    age = heartbeat_age(heartbeat)
    if age is None:
        typer.echo(f"no heartbeat at {heartbeat}", err=True)
        raise typer.Exit(1)
    if age > max_age:
        typer.echo(f"heartbeat {age:.0f} s old (more than {max_age:.0f} s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"alive: heartbeat {age:.1f} s old")


@feedback.command("export")
def export_feedback(
    output: Path = typer.Option(
        ..., "--output", file_okay=False, help="The dataset folder (created; rewritten in place)."
    ),
    since: str | None = typer.Option(
        None, help="Only feedback given or changed since this ISO date or time (UTC if no zone)."
    ),
    only_disagreeing: bool = typer.Option(
        False, "--only-disagreeing", help="Only scans whose middle class the model had wrong."
    ),
) -> None:
    """Write the feedback as a class-folder dataset for `bunri train --data DIR --taxonomy-map
    DIR/taxonomy.json`: each scan's stored photo in its corrected class's folder, taxonomy.json
    and manifest.jsonl (no user ids, no notes). Photos missing from storage are skipped."""
    from botocore.exceptions import BotoCoreError, ClientError
    from sqlalchemy.exc import SQLAlchemyError

    from bunri_programs.feedback_export import describe, parse_since, run_export

    try:
        start = None if since is None else parse_since(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from exc
    try:
        summary = run_export(output, since=start, only_disagreeing=only_disagreeing)
    except (OSError, SQLAlchemyError, BotoCoreError, ClientError) as exc:
        typer.echo(f"export failed, the folder left as it was: {exc}", err=True)
        raise typer.Exit(1) from exc
    for line in describe(summary):
        typer.echo(line)


DEFAULT_BASE_URL = "http://127.0.0.1:8080"


@app.command()
def standalone(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8080, help="Port of the one base URL."),
    state_dir: Path = typer.Option(Path(".bunri"), help="Where embedded parts keep their data."),
) -> None:
    """Run the whole platform on this machine: auth-api, scan-api, chat-api, my-api and
    character-api behind one base URL, the storage, AI and character workers, with embedded
    stand-ins for PostgreSQL, RabbitMQ and S3 where they are not configured."""
    from bunri_programs.standalone.run import PARTS, missing_parts, run_standalone

    missing = missing_parts()
    if missing:
        typer.echo(
            f"bunri standalone runs {', '.join(PARTS)}; this install lacks {', '.join(missing)}: "
            "install bunri-programs[standalone]",
            err=True,
        )
        raise typer.Exit(1)
    run_standalone(state_dir, host, port)


def _client(base_url: str, email: str | None, password: str | None, state_dir: Path) -> Any:
    """A signed-in client: saved tokens, else the given (or standalone's demo) login."""
    import json

    from bunri_programs.client.api import BunriClient
    from bunri_programs.client.credentials import demo_login_path

    client = BunriClient(base_url)
    if email and password:
        client.login(email, password)
    elif not client.check_session():
        demo = demo_login_path(state_dir)
        if demo.exists():
            login = json.loads(demo.read_text())
            client.login(login["email"], login["password"])
        else:
            email = email or typer.prompt("e-mail")
            password = password or typer.prompt("password", hide_input=True)
            client.login(email, password)
    return client


@app.command()
def login(
    email: str = typer.Option(..., prompt=True, envvar="BUNRI_EMAIL"),
    password: str = typer.Option(..., prompt=True, hide_input=True, envvar="BUNRI_PASSWORD"),
    base_url: str = typer.Option(DEFAULT_BASE_URL, envvar="BUNRI_BASE_URL"),
) -> None:
    """Sign in and keep the tokens for later commands."""
    from bunri_programs.client.api import ApiError, BunriClient

    client = BunriClient(base_url)
    try:
        client.login(email, password)
    except ApiError as exc:
        typer.echo(f"login failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"signed in to {base_url}")


@app.command()
def scan(
    photo: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    note: str | None = typer.Option(None, help="A note kept with the scan."),
    base_url: str = typer.Option(DEFAULT_BASE_URL, envvar="BUNRI_BASE_URL"),
    email: str | None = typer.Option(None, envvar="BUNRI_EMAIL"),
    password: str | None = typer.Option(None, envvar="BUNRI_PASSWORD"),
    state_dir: Path = typer.Option(Path(".bunri"), help="Standalone's folder (demo login)."),
) -> None:
    """Scan a photo: upload it, follow its progress, print the class and the disposal guide."""
    import httpx
    from rich.console import Console

    from bunri_programs.client.api import ApiError
    from bunri_programs.client.scan import run_scan

    console = Console()
    try:
        client = _client(base_url, email, password, state_dir)
        code = run_scan(client, photo, note, console)
    except ApiError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    except httpx.TransportError as exc:
        console.print(f"[red]cannot reach {base_url}: {exc}. Is `bunri standalone` running?[/red]")
        raise typer.Exit(1) from exc
    raise typer.Exit(code)


@app.command()
def guide(
    name: str = typer.Argument(
        ..., help="What you hold, as you would type it: 배터리, ㅂㅌㄹ, pizza box"
    ),
) -> None:
    """How to throw something away, found by its name (the search of /api/v1/info/search)."""
    from rich.console import Console

    from bunri_programs.client.guide import show_guide

    raise typer.Exit(show_guide(name, Console()))


@app.command()
def chat(
    scan_id: str | None = typer.Option(None, "--scan", help="Ask about this scan of yours."),
    base_url: str = typer.Option(DEFAULT_BASE_URL, envvar="BUNRI_BASE_URL"),
    email: str | None = typer.Option(None, envvar="BUNRI_EMAIL"),
    password: str | None = typer.Option(None, envvar="BUNRI_PASSWORD"),
    state_dir: Path = typer.Option(Path(".bunri"), help="Standalone's folder (demo login)."),
) -> None:
    """Chat about recycling: answers stream as they are written. Ctrl-C cancels an answer; an
    empty line ends the chat."""
    import sys

    import httpx
    from websockets.exceptions import WebSocketException

    from bunri_programs.client.api import ApiError
    from bunri_programs.client.chat import chat_url, run_chat

    try:
        client = _client(base_url, email, password, state_dir)
        client.check_session()  # a fresh access token for the handshake
        code = run_chat(
            chat_url(base_url),
            client.access_token,
            ask=lambda: input("you> "),
            out=sys.stdout,
            scan_id=scan_id,
        )
    except ApiError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    except (httpx.TransportError, OSError, WebSocketException) as exc:
        typer.echo(f"cannot chat with {base_url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    raise typer.Exit(code)


def main() -> None:
    add_installed_commands()
    app()


@my.command("profile")
def my_profile(
    nickname: str | None = typer.Option(None, help="A new nickname."),
    language: str | None = typer.Option(None, help="ko or en."),
    region: str | None = typer.Option(
        None,
        help="PROVINCE/DISTRICT codes (or PROVINCE alone), e.g. 11/11680 (서울 강남구); "
        "'none' clears it.",
    ),
    base_url: str = typer.Option(DEFAULT_BASE_URL, envvar="BUNRI_BASE_URL"),
    email: str | None = typer.Option(None, envvar="BUNRI_EMAIL"),
    password: str | None = typer.Option(None, envvar="BUNRI_PASSWORD"),
    state_dir: Path = typer.Option(Path(".bunri"), help="Standalone's folder (demo login)."),
) -> None:
    """Show your profile; with options, change it first."""
    import json

    from bunri_programs.client.api import ApiError

    changes: dict[str, Any] = {}
    if nickname is not None:
        changes["nickname"] = nickname
    if language is not None:
        changes["language"] = language
    if region is not None:
        province, _, district = region.partition("/")
        changes["region"] = (
            None if region == "none" else {"province": province, "district": district or None}
        )
    try:
        client = _client(base_url, email, password, state_dir)
        profile = client.update_profile(changes) if changes else client.profile()[0]
    except ApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(profile, ensure_ascii=False, indent=2))


@my.command("export")
def my_export(
    output: Path = typer.Option(
        Path("bunri-export.json"), "--output", "-o", help="Where to write it ('-': stdout)."
    ),
    base_url: str = typer.Option(DEFAULT_BASE_URL, envvar="BUNRI_BASE_URL"),
    email: str | None = typer.Option(None, envvar="BUNRI_EMAIL"),
    password: str | None = typer.Option(None, envvar="BUNRI_PASSWORD"),
    state_dir: Path = typer.Option(Path(".bunri"), help="Standalone's folder (demo login)."),
) -> None:
    """Download everything stored about you as one JSON document."""
    import sys

    from bunri_programs.client.api import ApiError

    try:
        client = _client(base_url, email, password, state_dir)
        if str(output) == "-":
            client.export(sys.stdout.buffer)
            return
        partial = output.with_name(output.name + ".part")
        with partial.open("wb") as into:
            written = client.export(into)
        partial.replace(output)
    except ApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"wrote {written} bytes to {output}", err=True)
