"""Login attempts: who may try again, and when.

Three limits, each answering 429 with `Retry-After`:
- per address, across accounts (`login_attempts_per_ip` a window): one machine guessing many
  accounts;
- per (account, address) failures (`login_failures_per_account_address` a window): one machine
  guessing one account. The owner at another address is not affected: a stranger cannot
  lock anyone out by failing on purpose;
- per account, across addresses, a growing delay: past `login_failures_per_account` failures in
  the window, an address the account has not signed in from lately waits 2, 4, 8 ... seconds
  (at most `login_delay_max_seconds`) after the account's last failure. A guesser spread over
  many addresses slows to one guess per delay; the owner at an address they used before is
  not slowed at all.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from bunri.ratelimit import FixedWindowLimiter
from bunri.redis import KEY_PREFIX

_FAILURES = KEY_PREFIX + "login:failures:"
_TRUSTED = KEY_PREFIX + "login:trusted:"
TRUSTED_DAYS = 30

# KEYS[1]: the account's failures; ARGV: now, window seconds. Counts one and notes when.
_FAILED = """
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return count
"""


@dataclass(frozen=True, slots=True)
class Refusal:
    retry_after_seconds: int
    message: str


class LoginGuard:
    def __init__(
        self,
        redis: Redis,
        *,
        attempts_per_ip: int,
        failures_per_account_address: int,
        failures_per_account: int,
        window_seconds: int,
        delay_max_seconds: int,
    ) -> None:
        self._redis = redis
        self._per_ip = FixedWindowLimiter(
            redis, "login-ip", limit=attempts_per_ip, window_seconds=window_seconds
        )
        self._per_pair = FixedWindowLimiter(
            redis,
            "login-account-address",
            limit=failures_per_account_address,
            window_seconds=window_seconds,
        )
        self._threshold = failures_per_account
        self._window = window_seconds
        self._delay_max = delay_max_seconds
        self._failed = redis.register_script(_FAILED)

    async def refusal(self, email: str, address: str) -> Refusal | None:
        """Why this attempt may not be made now (None: it may)."""
        account, pair = _keys(email, address)
        per_ip = await self._per_ip.hit(address)
        if per_ip.exceeded:
            return Refusal(per_ip.retry_after_seconds, "Too many login attempts.")
        per_pair = await self._per_pair.peek(pair)
        if per_pair.exceeded:
            return Refusal(
                per_pair.retry_after_seconds,
                "Too many failed logins for this account from this address.",
            )
        wait = await self._delay(account, address)
        if wait > 0:
            return Refusal(wait, "Too many failed logins for this account; wait a little.")
        return None

    async def failed(self, email: str, address: str) -> None:
        account, pair = _keys(email, address)
        await self._per_pair.hit(pair)
        await self._failed(keys=[_FAILURES + account], args=[time.time(), self._window])

    async def succeeded(self, email: str, address: str) -> None:
        account, pair = _keys(email, address)
        await self._per_pair.reset(pair)
        pipe = self._redis.pipeline(transaction=False)
        pipe.sadd(_TRUSTED + account, _digest(address))
        pipe.expire(_TRUSTED + account, TRUSTED_DAYS * 86400)
        await pipe.execute()

    async def _delay(self, account: str, address: str) -> int:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(_FAILURES + account, ["count", "last"])
        pipe.sismember(_TRUSTED + account, _digest(address))
        (count, last), trusted = await pipe.execute()
        failures = int(count or 0)
        if trusted or failures < self._threshold or last is None:
            return 0
        gap = min(2 ** (failures - self._threshold + 1), self._delay_max)
        return max(int(float(last) + gap - time.time() + 0.999), 0)


def _keys(email: str, address: str) -> tuple[str, str]:
    return _digest(email), _digest(f"{email}\0{address}")


def _digest(text: str) -> str:
    # Neither e-mails nor addresses are kept in Redis as they are.
    return hashlib.sha256(text.encode()).hexdigest()
