"""kombu's filesystem transport (standalone mode without RabbitMQ), with messages written
atomically. kombu writes a message file in place, and a consumer polling at that instant moves
it away and reads it empty: the worker dies on the JSON error and the message is gone. Here the
file is written under a name consumers skip, then renamed into place."""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

ALIAS = "filesystem"


class Channel(filesystem.Channel):
    def _put(self, queue: str, message: Any, **_: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"  # consumers take only names ending in "<queue>.msg"
        with open(partial, "wb") as file:
            file.write(str_to_bytes(dumps(message)))
        os.replace(partial, final)


class Transport(filesystem.Transport):
    Channel = Channel


def use_atomic_filesystem_transport() -> None:
    """Make `filesystem://` mean this transport in this process (idempotent)."""
    TRANSPORT_ALIASES[ALIAS] = f"{__name__}:Transport"
