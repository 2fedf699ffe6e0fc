"""Keyset pagination over (created_at, id): opaque cursors and the one page envelope every list endpoint answers
with (`{items, next_cursor}`)."""

import base64
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, tuple_

from shared.errors import BadRequestError

T = TypeVar("T")
R = TypeVar("R", bound="Keyed")


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created_at, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError("Invalid cursor", code="invalid_cursor") from exc


class Page(BaseModel, Generic[T]):
    """The one list envelope of the API: a page of items and the cursor of the next (null on the last page)."""

    items: list[T]
    next_cursor: str | None = Field(description="Pass as ?cursor= to get the next page; null when this is the last")


class Keyed(Protocol):
    created_at: datetime
    id: uuid.UUID


def page_of(rows: Sequence[R], *, limit: int, item: Callable[[R], T]) -> Page[T]:
    """`rows` fetched with limit + 1: the extra row only says there is a next page."""
    kept = rows[:limit]
    last = kept[-1] if kept else None
    cursor = encode_cursor(last.created_at, last.id) if last is not None and len(rows) > limit else None
    return Page[T](items=[item(row) for row in kept], next_cursor=cursor)


def after_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    return decode_cursor(cursor) if cursor else None


def id_cursor(cursor: str | None) -> int | None:
    """The cursor of a list paged by a growing integer id (an event log's): the id itself, as digits."""
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise BadRequestError("Invalid cursor", code="invalid_cursor")
    return int(cursor)


def keyset(
    query: Select[Any], model: Any, *, after: tuple[datetime, uuid.UUID] | None, limit: int, newest_first: bool
) -> Select[Any]:
    """`query` from just past the previous page's last row, in (created_at, id) order, `limit` rows."""
    key = tuple_(model.created_at, model.id)
    if after is not None:
        query = query.where(key < after if newest_first else key > after)
    order = (model.created_at.desc(), model.id.desc()) if newest_first else (model.created_at, model.id)
    return query.order_by(*order).limit(limit)
