"""The queue topology: definitions.json (what the broker loads at boot), the platform's own
declaration and Celery's are one and the same, arguments included."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aio_pika
import aiormq.exceptions
import pytest
from kombu import Connection

from bunri.messaging.kombu_topology import dead_letter_queues, kombu_queues
from bunri.messaging.kombu_topology import declare_topology as declare_with_kombu
from bunri.messaging.publisher import TaskPublisher, declare_topology
from bunri.messaging.topology import WORK_QUEUES, definitions
from tests.support.backends import fresh_vhost

DEFINITIONS = Path(__file__).parents[2] / "infra" / "rabbitmq" / "definitions.json"


def broker_queues(vhost: str) -> dict[str, dict[str, Any]]:
    listed = subprocess.run(
        [
            "rabbitmqctl",
            "-q",
            "list_queues",
            "-p",
            vhost,
            "name",
            "arguments",
            "durable",
            "--formatter",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {queue["name"]: queue for queue in json.loads(listed.stdout)}


def as_pairs(arguments: Any) -> dict[str, Any]:
    # rabbitmqctl prints arguments as [[name, type, value], ...].
    if isinstance(arguments, dict):
        return arguments
    return {entry[0]: entry[-1] for entry in arguments}


def test_definitions_json_is_the_topology() -> None:
    """Regenerate with `bunri broker definitions > infra/rabbitmq/definitions.json`."""
    assert json.loads(DEFINITIONS.read_text()) == definitions()


def test_the_queues_of_design_section_4() -> None:
    by_name = {queue.name: queue.arguments() for queue in WORK_QUEUES}
    assert by_name["scan.image_upload"]["x-max-length"] == 10_000
    assert by_name["scan.image_upload"]["x-max-length-bytes"] > 0
    assert by_name["scan.ai_analysis"]["x-max-length"] == 5_000
    assert by_name["chat.batch"]["x-max-length"] == 1_000
    assert by_name["chat.batch"]["x-message-ttl"] == 600_000
    for name, arguments in by_name.items():
        assert arguments["x-overflow"] == "reject-publish"
        assert arguments["x-max-priority"] == 10
        assert arguments["x-dead-letter-exchange"] == "bunri.dlx"
        assert arguments["x-dead-letter-routing-key"] == f"dlq.{name}"
        assert arguments["x-queue-type"] == "classic"


async def test_the_broker_holds_what_the_platform_declares() -> None:
    with fresh_vhost("topology") as url:
        connection = await aio_pika.connect(url)
        async with connection:
            await declare_topology(await connection.channel())
            await declare_topology(await connection.channel())  # idempotent
        vhost = url.rsplit("/", 1)[1]
        declared = broker_queues(vhost)
        expected = {queue["name"]: queue for queue in definitions(vhost)["queues"]}
        assert declared.keys() == expected.keys()
        for name, queue in expected.items():
            assert as_pairs(declared[name]["arguments"]) == queue["arguments"], name
            assert declared[name]["durable"] is True

        # Celery's declaration (kombu) agrees: redeclaring raises no PRECONDITION_FAILED.
        with Connection(url) as kombu_connection:
            declare_with_kombu(kombu_connection)
        assert len(kombu_queues()) + len(dead_letter_queues()) == len(expected)


async def test_a_queue_declared_otherwise_is_refused_by_the_broker() -> None:
    """Why one source of truth matters: a different argument is a channel error."""
    with fresh_vhost("precondition") as url:
        connection = await aio_pika.connect(url)
        async with connection:
            await declare_topology(await connection.channel())
            channel = await connection.channel()
            arguments = WORK_QUEUES[0].arguments() | {"x-max-length": 1}
            with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
                await channel.declare_queue(WORK_QUEUES[0].name, durable=True, arguments=arguments)


def test_definitions_json_imports_into_a_broker_and_matches_the_declaration() -> None:
    with fresh_vhost("imported") as url:
        vhost = url.rsplit("/", 1)[1]
        document = definitions(vhost)
        document.pop("vhosts")
        # rabbitmqctl runs as the broker's user, who cannot read pytest's private tmp dirs.
        with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
            file.write(json.dumps(document))
            file.flush()
            os.chmod(file.name, 0o644)
            imported_run = subprocess.run(
                ["rabbitmqctl", "import_definitions", file.name],
                capture_output=True,
                text=True,
                timeout=60,
            )
        assert imported_run.returncode == 0, imported_run.stdout + imported_run.stderr
        deadline = time.monotonic() + 30  # the import runs asynchronously
        while len(imported := broker_queues(vhost)) < len(document["queues"]):
            assert time.monotonic() < deadline, imported
            time.sleep(0.2)
        for queue in document["queues"]:
            assert as_pairs(imported[queue["name"]]["arguments"]) == queue["arguments"]
        with Connection(url) as kombu_connection:
            declare_with_kombu(kombu_connection)  # the workers start fine on it


async def test_a_publisher_refused_by_the_topology_keeps_no_connection_open() -> None:
    """scan-api retries every reconnect interval until the topology is fixed; a connection kept
    from each refused try would pile up (and a robust one reconnects on its own)."""
    with fresh_vhost("refused") as url:
        vhost = url.rsplit("/", 1)[1]
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            arguments = WORK_QUEUES[0].arguments() | {"x-max-length": 1}
            await channel.declare_queue(WORK_QUEUES[0].name, durable=True, arguments=arguments)
        publisher = TaskPublisher(url, reconnect_interval=0.05)
        await publisher.start()
        await asyncio.sleep(0.5)
        assert not publisher.connected
        await publisher.close()  # waits for the broker's close-ok
        assert broker_connections(vhost) == 0


@pytest.mark.parametrize("turns", [0, 1, 2, 3])
async def test_a_close_cancelled_halfway_still_closes_the_connection(turns: int) -> None:
    """A shutdown that cancels the publisher mid-close (a retry closing its failed try, a
    service stopping) must not leave the socket open with nothing left to close it."""
    with fresh_vhost("cancelled-close") as url:
        vhost = url.rsplit("/", 1)[1]
        publisher = TaskPublisher(url)
        await publisher.start()
        assert publisher.connected
        closing = asyncio.create_task(publisher.close())
        for _ in range(turns + 1):
            await asyncio.sleep(0)  # let the close begin, then cancel it at different points
        closing.cancel()
        await asyncio.gather(closing, return_exceptions=True)
        assert broker_connections(vhost) == 0


async def test_a_broker_that_never_answers_keeps_no_connection_open() -> None:
    """A try that times out (a broker host that accepts and then hangs, a half-open network)
    must not leave its robust connection behind, still connecting on its own."""
    open_sockets: set[asyncio.StreamWriter] = set()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_sockets.add(writer)
        await reader.read()  # until the client closes its end
        open_sockets.discard(writer)
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        publisher = TaskPublisher(
            f"amqp://guest:guest@127.0.0.1:{port}/", connect_timeout=0.2, reconnect_interval=0.05
        )
        await publisher.start()
        await asyncio.sleep(1.0)  # several tries, each timed out
        assert not publisher.connected
        await publisher.close()
        await asyncio.sleep(0.3)
        assert not open_sockets, f"{len(open_sockets)} connections left open"


async def test_closing_ends_the_retries_even_when_a_try_swallows_the_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Python 3.11 a wait_for that finishes just as its task is cancelled (aio-pika connects
    with one) returns instead of raising: the retry loop must stop all the same, or scan-api's
    shutdown waits on it for ever."""
    publisher = TaskPublisher("amqp://guest:guest@127.0.0.1:1/", reconnect_interval=0.001)

    async def try_that_swallows_the_cancellation() -> bool:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)
        return False

    monkeypatch.setattr(publisher, "_try_connect", try_that_swallows_the_cancellation)
    await publisher.start()
    await asyncio.sleep(0.1)
    closing = asyncio.create_task(publisher.close())
    done, _ = await asyncio.wait({closing}, timeout=5)
    assert done, "close() is still waiting on the retries"


def broker_connections(vhost: str) -> int:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "vhost", "--formatter", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return sum(1 for connection in json.loads(listed.stdout) if connection["vhost"] == vhost)
