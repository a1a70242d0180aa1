"""kombu's transport options for `BUNRI_BROKER_URL`, as Celery workers and the kombu publisher
use them: confirmed publishing on RabbitMQ; on `filesystem://` (standalone without RabbitMQ), the
atomic folder transport and the folders it reads and writes."""

from __future__ import annotations

from typing import Any

from bunri.settings import BrokerSettings


def broker_transport_options(settings: BrokerSettings) -> dict[str, Any]:
    if settings.uses_amqp:
        # py-amqp publishes without confirms by default: during a broker alarm a message
        # would vanish. With confirms, a publish returns once the broker has the message.
        return {"confirm_publish": True}
    # kombu only where the folder transport is used: a service on RabbitMQ never imports it here.
    from bunri.messaging.filesystem import use_atomic_filesystem_transport

    use_atomic_filesystem_transport()
    folder = settings.broker_folder or settings.state_dir / "broker"
    for part in ("queue", "processed", "control"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    return {
        "control_folder": str(folder / "control"),
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
    }
