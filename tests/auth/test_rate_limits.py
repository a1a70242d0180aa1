"""Login attempts are limited per client address, failures per (account, address), and failures
per account across addresses by a growing delay that spares the addresses the account signed in
from (auth_api.login_guard), in Redis."""

from __future__ import annotations

import asyncio

from tests.support.auth import assert_error, running_client
from tests.support.users import PASSWORD, log_in, sign_up

LOGIN = "/api/v1/auth/login"


async def test_failures_from_one_address_lock_that_address_out_not_the_owner(
    make_auth_settings, redis, clean_database
) -> None:
    settings = make_auth_settings(login_failures_per_account_address=3, login_window_seconds=120)
    right = {"email": "user@example.com", "password": PASSWORD}
    async with running_client(settings, client_ip="203.0.113.7") as stranger:
        await sign_up(stranger)
        wrong = {"email": "user@example.com", "password": "not the password at all"}
        for _ in range(3):
            assert_error(await stranger.post(LOGIN, json=wrong), 401, "invalid_credentials")
        locked = await stranger.post(LOGIN, json=wrong)
        assert_error(locked, 429, "rate_limited")
        assert 0 < int(locked.headers["retry-after"]) <= 120
        # The right password from that address waits too: the lock is on the pair.
        assert_error(await stranger.post(LOGIN, json=right), 429, "rate_limited")
    # The owner, elsewhere, is not locked out by a stranger failing on purpose.
    async with running_client(settings, client_ip="198.51.100.20") as owner:
        assert (await owner.post(LOGIN, json=right)).status_code == 200


async def test_a_guesser_spread_over_addresses_waits_longer_and_longer(
    make_auth_settings, redis, clean_database
) -> None:
    settings = make_auth_settings(login_failures_per_account=3, login_window_seconds=120)
    right = {"email": "user@example.com", "password": PASSWORD}
    wrong = {"email": "user@example.com", "password": "not the password at all"}
    async with running_client(settings, client_ip="198.51.100.50") as home:
        await sign_up(home)
        assert (await home.post(LOGIN, json=right)).status_code == 200  # an address it knows
    for number in range(3):
        async with running_client(settings, client_ip=f"203.0.113.{number}") as guesser:
            assert_error(await guesser.post(LOGIN, json=wrong), 401, "invalid_credentials")
    async with running_client(settings, client_ip="203.0.113.100") as guesser:
        delayed = await guesser.post(LOGIN, json=wrong)
        assert_error(delayed, 429, "rate_limited")
        first_wait = int(delayed.headers["retry-after"])
        assert 0 < first_wait <= 2
        await asyncio.sleep(first_wait + 0.1)
        assert_error(await guesser.post(LOGIN, json=wrong), 401, "invalid_credentials")
        delayed_again = await guesser.post(LOGIN, json=wrong)
        assert_error(delayed_again, 429, "rate_limited")
        assert 2 < int(delayed_again.headers["retry-after"]) <= 4  # it doubled
    # Meanwhile the owner, at an address they signed in from, is not slowed at all.
    async with running_client(settings, client_ip="198.51.100.50") as home:
        assert (await home.post(LOGIN, json=right)).status_code == 200


async def test_a_success_clears_the_account_failures(
    make_auth_settings, redis, clean_database
) -> None:
    settings = make_auth_settings(login_failures_per_account_address=3)
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
    settings = make_auth_settings(login_failures_per_account_address=2)
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
