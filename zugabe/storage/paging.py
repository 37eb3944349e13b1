"""Every listing of the stores pages the same way: in id order, with a cursor."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Select


class ListedRows(NamedTuple):
    """A page of a listing as plain tuples, and how many rows match in all where that was
    learnt while reading it (None: ask ``count``)."""

    rows: list[tuple[Any, ...]]
    matched: int | None = None


def paged(statement: Select[Any], id_column: Any, after_id: int | None, limit: int | None) -> Any:
    """Order by id and page with a cursor: the rows after ``after_id``, at most ``limit``."""
    statement = statement.order_by(id_column)
    if after_id is not None:
        statement = statement.where(id_column > after_id)
    if limit is not None:
        statement = statement.limit(limit)
    return statement
