"""HTTP calls the command line makes, with token refresh, and the SSE stream of a scan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from bunri_programs.client.credentials import load_tokens, save_tokens


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    event: str
    data: dict[str, Any]


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        raise ApiError(response.status_code, error["code"], error["message"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(response.status_code, "http_error", response.text[:200]) from None


class BunriClient:
    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._tokens = load_tokens(self.base_url)

    def close(self) -> None:
        self._http.close()

    @property
    def signed_in(self) -> bool:
        return self._tokens is not None

    def login(self, email: str, password: str) -> None:
        response = self._http.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        _raise_for(response)
        self._keep(response.json())

    def _keep(self, tokens: dict[str, Any]) -> None:
        self._tokens = tokens
        save_tokens(self.base_url, tokens)

    def _refresh(self) -> bool:
        if self._tokens is None:
            return False
        response = self._http.post(
            "/api/v1/auth/refresh", json={"refresh_token": self._tokens["refresh_token"]}
        )
        if not response.is_success:
            self._tokens = None
            return False
        self._keep(response.json())
        return True

    def _authorized(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request with the access token, refreshed once if it has expired."""
        for attempt in range(2):
            if self._tokens is None:
                raise ApiError(401, "token_missing", "Not signed in; run `bunri login`.")
            headers = {"Authorization": f"Bearer {self._tokens['access_token']}"}
            headers |= kwargs.get("headers") or {}
            response = self._http.request(method, path, **(kwargs | {"headers": headers}))
            if response.status_code == 401 and attempt == 0 and self._refresh():
                continue
            return response
        raise AssertionError("unreachable")

    @property
    def access_token(self) -> str:
        if self._tokens is None:
            raise ApiError(401, "token_missing", "Not signed in; run `bunri login`.")
        return str(self._tokens["access_token"])

    def check_session(self) -> bool:
        """Whether the saved tokens still work (refreshing them if needed)."""
        if self._tokens is None:
            return False
        try:
            return self._authorized("GET", "/api/v1/auth/me").is_success
        except ApiError:
            return False

    def submit(self, photo: Path, note: str | None = None) -> dict[str, Any]:
        files = {"image": (photo.name, photo.read_bytes(), "application/octet-stream")}
        data = {"note": note} if note else None
        response = self._authorized("POST", "/api/v1/scans", files=files, data=data)
        _raise_for(response)
        accepted: dict[str, Any] = response.json()
        return accepted

    def scan(self, scan_id: str) -> dict[str, Any]:
        response = self._authorized("GET", f"/api/v1/scans/{scan_id}")
        _raise_for(response)
        body: dict[str, Any] = response.json()
        return body

    def profile(self) -> tuple[dict[str, Any], str]:
        """The profile and its ETag."""
        response = self._authorized("GET", "/api/v1/my/profile")
        _raise_for(response)
        body: dict[str, Any] = response.json()
        return body, response.headers["ETag"]

    def update_profile(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply `changes` (a merge patch) to the profile as it is now; a change made elsewhere
        in between is read again and the patch re-applied on top of it, a few times at most."""
        _, etag = self.profile()
        for _ in range(3):
            response = self._authorized(
                "PATCH", "/api/v1/my/profile", json=changes, headers={"If-Match": etag}
            )
            if response.status_code != 412:
                break
            etag = response.headers["ETag"]
        _raise_for(response)
        body: dict[str, Any] = response.json()
        return body

    def export(self, into: IO[bytes]) -> int:
        """Write everything stored about the person into `into` as it streams; how many bytes."""
        for attempt in range(2):
            if self._tokens is None:
                raise ApiError(401, "token_missing", "Not signed in; run `bunri login`.")
            headers = {"Authorization": f"Bearer {self._tokens['access_token']}"}
            with self._http.stream(
                "GET", "/api/v1/my/export", headers=headers, timeout=None
            ) as response:
                if response.status_code == 401 and attempt == 0 and self._refresh():
                    continue
                if not response.is_success:
                    response.read()
                    _raise_for(response)
                written = 0
                for chunk in response.iter_bytes():
                    into.write(chunk)
                    written += len(chunk)
                return written
        raise AssertionError("unreachable")

    def events(self, scan_id: str) -> Iterator[Event]:
        """The scan's progress events as they happen, resuming after a dropped connection."""
        last_id = 0
        while True:
            assert self._tokens is not None
            headers = {
                "Authorization": f"Bearer {self._tokens['access_token']}",
                "Last-Event-ID": str(last_id),
            }
            try:
                with self._http.stream(
                    "GET", f"/api/v1/scans/{scan_id}/events", headers=headers, timeout=None
                ) as response:
                    if response.status_code == 401 and self._refresh():
                        continue
                    if not response.is_success:
                        response.read()
                        _raise_for(response)
                    for event in parse_sse(response.iter_lines()):
                        last_id = event.id
                        yield event
                        if event.event in ("completed", "failed"):
                            return
            except httpx.TransportError:
                continue  # reconnect and resume after the last event seen


def parse_sse(lines: Iterator[str]) -> Iterator[Event]:
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if "data" in fields:
                yield Event(
                    int(fields.get("id", "0")),
                    fields.get("event", "message"),
                    json.loads(fields["data"]),
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
