"""Standalone's folder queue: a message being written is never taken by a consumer."""

from __future__ import annotations

from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue

from bunri.messaging.transport import broker_transport_options
from bunri.settings import BrokerSettings


def test_a_half_written_message_is_invisible_and_a_whole_one_arrives(tmp_path: Path) -> None:
    settings = BrokerSettings(broker_url="filesystem://", broker_folder=tmp_path)
    connection = Connection(
        settings.broker_url, transport_options=broker_transport_options(settings)
    )
    queue = Queue("scans", Exchange("tasks"), routing_key="scans")
    with connection.SimpleQueue(queue) as consumer:  # type: ignore[arg-type]  # a Queue works too
        # What a producer leaves while it writes: the consumer must not touch it.
        (tmp_path / "queue" / "1_x.scans.msg.part").write_bytes(b'{"half": ')
        with pytest.raises(consumer.Empty):
            consumer.get(timeout=0.2)
        with connection.Producer() as producer:
            producer.publish({"scan": 1}, exchange=queue.exchange, routing_key="scans")
        assert consumer.get(timeout=1).payload == {"scan": 1}
    assert [path.name for path in (tmp_path / "queue").iterdir()] == ["1_x.scans.msg.part"]
