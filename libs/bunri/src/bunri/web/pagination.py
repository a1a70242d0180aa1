"""One way to page through a list: newest first, `items` + `next_cursor`, for every list endpoint.

Rows are keyed by their time-ordered UUIDv7 id, so "the page after this id" is a plain index range
scan and a row inserted while a client pages never shifts the pages it has not read yet. The
cursor is the id's bytes in URL-safe base64: opaque, so that clients pass it back rather than
build it, and short enough for a query string.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from bunri.errors import BunriError

Item = TypeVar("Item")


class Identified(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


Row = TypeVar("Row", bound=Identified)

MAX_PAGE_SIZE = 100
# 16 bytes in unpadded base64 is 22 characters; a little room, and nothing longer is ever ours.
MAX_CURSOR_LENGTH = 64


class InvalidCursor(BunriError):
    code = "invalid_cursor"
    message = "The cursor is not one this API handed out."


class Page(BaseModel, Generic[Item]):
    """One page of a list, newest first (subclass it per list, so that the OpenAPI names it)."""

    items: list[Item]
    next_cursor: str | None = Field(
        description="Pass it back as `cursor` for the next page; null on the last page."
    )


PageModel = TypeVar("PageModel", bound=Page[Any])


def encode_cursor(row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(row_id.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> uuid.UUID:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor()
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor() from exc


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What a list endpoint was asked for: at most `limit` rows, older than the row
    `older_than` (the previous page's last) when there is one."""

    limit: int
    older_than: uuid.UUID | None

    @property
    def fetch(self) -> int:
        """How many rows to read: one more than the page, to know whether another page follows."""
        return self.limit + 1

    def page(
        self, model: type[PageModel], rows: Sequence[Row], render: Callable[[Row], Any]
    ) -> PageModel:
        """`rows` (read with `limit=self.fetch`, newest first) as one page of `model`."""
        shown = rows[: self.limit]
        more = len(rows) > self.limit
        return model(
            items=[render(row) for row in shown],
            next_cursor=encode_cursor(shown[-1].id) if more else None,
        )


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page.")] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> PageRequest:
    return PageRequest(limit=limit, older_than=None if cursor is None else decode_cursor(cursor))


PageRequestDep = Annotated[PageRequest, Depends(page_request)]
