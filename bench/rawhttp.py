"""A lean HTTP/1.1 load client: one request, encoded once, sent over keep-alive connections.

The load generator shares this 2-core machine with the server it measures; httpx spends several
milliseconds of CPU building each 390 KB multipart request, which would be measured as the
server's latency. This client's cost per request is a socket write and a status-line parse.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from urllib.parse import urlsplit


def multipart_request(
    url: str, headers: dict[str, str], field: str, filename: str, data: bytes, media_type: str
) -> bytes:
    boundary = uuid.uuid4().hex
    body = b"".join(
        (
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'.encode(),
            f"Content-Type: {media_type}\r\n\r\n".encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    parts = urlsplit(url)
    head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head += [
        f"Content-Type: multipart/form-data; boundary={boundary}",
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def get_request(url: str, headers: dict[str, str]) -> bytes:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode()


def post_request(
    url: str, headers: dict[str, str], body: bytes = b"", media_type: str = "application/json"
) -> bytes:
    parts = urlsplit(url)
    head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        head.append(f"Content-Type: {media_type}")
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


# A server that has not answered by then never will in a way worth measuring (a baseline past
# its capacity can starve its own connection pool): the request counts as failed.
TIMEOUT_SECONDS = 60.0
TIMED_OUT = 0  # the status `send` returns then


class RawClient:
    """Sends `request` (complete bytes; or the one a call names) and returns the response status
    (and with `exchange`, the body too); connections are reused."""

    def __init__(self, url: str, request: bytes, timeout: float = TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._request = request
        self._timeout = timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def send(self, request: bytes | None = None) -> int:
        status, _ = await self.exchange(request)
        return status

    async def exchange(self, request: bytes | None = None) -> tuple[int, bytes]:
        """(status, body), or (TIMED_OUT, b"") when no answer came in time. `request`: another
        request than the client's own, to the same server (each caller's token, say)."""
        status, body, _ = await self.exchange_reading(request, b"")
        return status, body

    async def exchange_reading(
        self, request: bytes | None, header: bytes
    ) -> tuple[int, bytes, str]:
        """`exchange`, and the value of one response header (lower-case name; "" if absent)."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._exchange(self._request if request is None else request, header)
        except TimeoutError:
            return TIMED_OUT, b"", ""

    async def _exchange(self, request: bytes, header: bytes) -> tuple[int, bytes, str]:
        status_line = b""
        while not status_line:
            if self._idle:
                reader, writer = self._idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self._host, self._port)
            try:
                writer.write(request)
                # Empty: the server had closed this idle connection (its keep-alive timeout)
                # before the request reached it, so sending it again on another one is safe.
                try:
                    status_line = await reader.readline()
                except ConnectionResetError:
                    status_line = b""
                if not status_line:
                    writer.close()
                    continue
                status, body, keep_alive, value = await _response(status_line, reader, header)
            except asyncio.CancelledError:  # timed out: this connection is mid-response
                writer.close()
                raise
        if keep_alive:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return status, body, value

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._idle.clear()


async def _response(
    status_line: bytes, reader: asyncio.StreamReader, header: bytes
) -> tuple[int, bytes, bool, str]:
    """The rest of a response after its status line: (status, body, keep-alive, `header`'s
    value)."""
    status = int(status_line.split(b" ", 2)[1])
    length, keep_alive, wanted = 0, True, ""
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep_alive = False
        elif header and name == header:
            wanted = value.strip().decode()
    return status, await reader.readexactly(length), keep_alive, wanted
