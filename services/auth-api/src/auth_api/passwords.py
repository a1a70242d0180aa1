"""Password hashing (argon2id, off the event loop, bounded in memory) and the password policy."""

from __future__ import annotations

import asyncio
import unicodedata
from functools import cache
from importlib import resources

import argon2
from anyio import to_thread

from auth_api.errors import WeakPassword
from auth_api.settings import AuthApiSettings

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


def normalize_password(password: str) -> str:
    # NFKC, as NIST SP 800-63B asks, so the same password typed on two keyboards matches.
    return unicodedata.normalize("NFKC", password)


class PasswordHasher:
    def __init__(self, settings: AuthApiSettings) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
            type=argon2.Type.ID,
        )
        self._slots = asyncio.Semaphore(settings.password_hash_concurrency)
        # Verified against when the e-mail is unknown, so that answer takes as long as a wrong
        # password for a real account and does not reveal which e-mails have accounts.
        self._decoy_hash = self._hasher.hash("decoy password that matches no account")

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await to_thread.run_sync(self._hasher.hash, normalize_password(password))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; with no hash (unknown user) it spends the same time."""
        async with self._slots:
            return await to_thread.run_sync(
                self._verify_blocking,
                password_hash or self._decoy_hash,
                password_hash is None,
                normalize_password(password),
            )

    def _verify_blocking(self, password_hash: str, is_decoy: bool, password: str) -> bool:
        try:
            matches = self._hasher.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
        return matches and not is_decoy

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def check_password_policy(password: str, *, email: str, nickname: str) -> None:
    """NIST SP 800-63B: a minimum length, no known-common or context-derived passwords, and no
    composition rules."""
    normalized = normalize_password(password)
    if len(normalized) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(normalized) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    folded = normalized.casefold()
    if len(set(folded)) <= 2:
        raise WeakPassword("The password repeats one or two characters; choose a longer mix.")
    if folded in common_passwords():
        raise WeakPassword("This password is among the most common ones; choose another.")
    local_part = email.split("@", 1)[0].casefold()
    personal = {email.casefold(), local_part, nickname.casefold()}
    if folded in personal or (len(local_part) >= 4 and local_part in folded):
        raise WeakPassword("The password must not contain your e-mail address or nickname.")


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("auth_api.data").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line and not line.startswith("#")
    )
