"""How many chat sockets this process holds open: per person once authenticated, and per address
before that. A socket over either cap is closed at once (4429), so a client opening sockets in a
loop costs a handshake each, not a task and its buffers for as long as it likes."""

from __future__ import annotations

import uuid
from collections import Counter


class SocketCounts:
    def __init__(self, per_user: int, unauthenticated_per_address: int) -> None:
        self._per_user = per_user
        self._per_address = unauthenticated_per_address
        self._users: Counter[uuid.UUID] = Counter()
        self._addresses: Counter[str] = Counter()

    def enter_unauthenticated(self, address: str) -> bool:
        if self._addresses[address] >= self._per_address:
            return False
        self._addresses[address] += 1
        return True

    def leave_unauthenticated(self, address: str) -> None:
        self._addresses[address] -= 1
        if self._addresses[address] <= 0:
            del self._addresses[address]

    def enter_user(self, user_id: uuid.UUID) -> bool:
        if self._users[user_id] >= self._per_user:
            return False
        self._users[user_id] += 1
        return True

    def leave_user(self, user_id: uuid.UUID) -> None:
        self._users[user_id] -= 1
        if self._users[user_id] <= 0:
            del self._users[user_id]
