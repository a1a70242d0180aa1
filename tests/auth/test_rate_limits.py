"""Login attempts are limited per client address and failures per account, in Redis."""

from __future__ import annotations

from tests.support.auth import assert_error, running_client
from tests.support.users import PASSWORD, log_in, sign_up

LOGIN = "/api/v1/auth/login"


async def test_failures_on_one_account_lock_it_with_retry_after(
    make_auth_settings, redis, clean_database
) -> None:
    settings = make_auth_settings(login_failures_per_account=3, login_window_seconds=120)
    async with running_client(settings) as client:
        await sign_up(client)
        wrong = {"email": "user@example.com", "password": "not the password at all"}
        for _ in range(3):
            assert_error(await client.post(LOGIN, json=wrong), 401, "invalid_credentials")
        locked = await client.post(LOGIN, json=wrong)
        assert_error(locked, 429, "rate_limited")
        assert 0 < int(locked.headers["retry-after"]) <= 120
        # Even the right password waits: the lock is on the account, not on the guess.
        right = await client.post(LOGIN, json={"email": "user@example.com", "password": PASSWORD})
        assert_error(right, 429, "rate_limited")


async def test_a_success_clears_the_account_failures(
    make_auth_settings, redis, clean_database
) -> None:
    settings = make_auth_settings(login_failures_per_account=3)
    async with running_client(settings) as client:
        await sign_up(client)
        wrong = {"email": "user@example.com", "password": "not the password at all"}
        for _ in range(2):
            await client.post(LOGIN, json=wrong)
        await log_in(client)
        for _ in range(2):
            assert_error(await client.post(LOGIN, json=wrong), 401, "invalid_credentials")


async def test_unknown_emails_count_as_failures_too(
    make_auth_settings, redis, clean_database
) -> None:
    """Otherwise the 429 would reveal which e-mails have accounts."""
    settings = make_auth_settings(login_failures_per_account=2)
    async with running_client(settings) as client:
        ghost = {"email": "ghost@example.com", "password": "whatever it may be"}
        for _ in range(2):
            assert_error(await client.post(LOGIN, json=ghost), 401, "invalid_credentials")
        assert_error(await client.post(LOGIN, json=ghost), 429, "rate_limited")


async def test_attempts_per_address_are_limited_across_accounts(
    make_auth_settings, redis, clean_database
) -> None:
    settings = make_auth_settings(login_attempts_per_ip=5)
    async with running_client(settings, client_ip="198.51.100.1") as attacker:
        for index in range(5):
            body = {"email": f"victim{index}@example.com", "password": "guessing guessing"}
            assert_error(await attacker.post(LOGIN, json=body), 401, "invalid_credentials")
        body = {"email": "victim9@example.com", "password": "guessing guessing"}
        assert_error(await attacker.post(LOGIN, json=body), 429, "rate_limited")
    # Another address is not affected.
    async with running_client(settings, client_ip="198.51.100.2") as other:
        body = {"email": "victim9@example.com", "password": "guessing guessing"}
        assert_error(await other.post(LOGIN, json=body), 401, "invalid_credentials")
