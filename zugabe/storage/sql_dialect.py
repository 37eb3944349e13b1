"""The few SQL expressions that SQLite and PostgreSQL spell differently, as Core constructs.

The store code shared by both backends (accounts, desk, mail, notifications, CQL2 filters)
builds one statement; each construct here is compiled for the dialect it runs on, so no
backend test leaks into that code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement, GenericFunction
from sqlalchemy.types import Boolean, Date, String


class greatest(GenericFunction[Any]):
    """The larger of its arguments: ``greatest`` in PostgreSQL, scalar ``max`` in SQLite."""

    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


class days_before(FunctionElement[Any]):
    """``days_before(day, n)``: the date n days before a date column."""

    type = Date()
    inherit_cache = True


@compiles(days_before, "sqlite")
def _days_before_sqlite(element: days_before, compiler: SQLCompiler, **kw: Any) -> str:
    day, days = element.clauses
    # date(day, '-N days'): the modifier built in SQL from the bound number.
    modifier = literal("-").concat(days).concat(literal(" days"))
    return f"date({compiler.process(day, **kw)}, {compiler.process(modifier, **kw)})"


@compiles(days_before, "postgresql")
def _days_before_postgresql(element: days_before, compiler: SQLCompiler, **kw: Any) -> str:
    day, days = element.clauses
    return f"({compiler.process(day, **kw)} - CAST({compiler.process(days, **kw)} AS integer))"


class casefold(FunctionElement[Any]):
    """Unicode case folding for CQL2's ``CASEI``: SQLite's ``lower`` knows ASCII only, so
    there the store's registered ``zugabe_fold``; PostgreSQL's ``lower`` under ICU's root
    collation (the database's own may be ``C``, which folds ASCII only too)."""

    type = String()
    inherit_cache = True


@compiles(casefold, "sqlite")
def _casefold_sqlite(element: casefold, compiler: SQLCompiler, **kw: Any) -> str:
    return f"zugabe_fold({compiler.process(element.clauses, **kw)})"


@compiles(casefold, "postgresql")
def _casefold_postgresql(element: casefold, compiler: SQLCompiler, **kw: Any) -> str:
    return f'lower(({compiler.process(element.clauses, **kw)}) COLLATE "und-x-icu")'


class json_member(FunctionElement[Any]):
    """``json_member(document, name)``: one member of a JSON object stored as text, the
    name a bound parameter; JSON null is SQL NULL. In SQLite an SQL value (numbers as
    numbers, text as text), in PostgreSQL a ``jsonb`` value, compared with ``json_scalar``s."""

    inherit_cache = True


@compiles(json_member, "sqlite")
def _json_member_sqlite(element: json_member, compiler: SQLCompiler, **kw: Any) -> str:
    document, name = element.clauses
    path = literal("$.").concat(name)
    return f"json_extract({compiler.process(document, **kw)}, {compiler.process(path, **kw)})"


@compiles(json_member, "postgresql")
def _json_member_postgresql(element: json_member, compiler: SQLCompiler, **kw: Any) -> str:
    document, name = element.clauses
    member = f"CAST({compiler.process(document, **kw)} AS jsonb) -> {compiler.process(name, **kw)}"
    return f"NULLIF({member}, 'null'::jsonb)"


class json_text(FunctionElement[Any]):
    """A ``json_member`` as text, for case-insensitive comparisons (SQLite's member is
    text already; PostgreSQL's ``jsonb`` scalar is unwrapped with ``#>> '{}'``)."""

    type = String()
    inherit_cache = True


@compiles(json_text, "sqlite")
def _json_text_sqlite(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(({compiler.process(element.clauses, **kw)}) #>> '{{}}')"


class json_scalar(FunctionElement[Any]):
    """A value to compare with a ``json_member``: the bound value itself in SQLite, the
    ``jsonb`` of it in PostgreSQL (numbers compare as numbers, text as text)."""

    inherit_cache = True

    def __init__(self, value: Any) -> None:
        super().__init__(literal(value))
        self.value = value


_JSONB_CASTS = ((bool, "boolean"), ((int, float), "double precision"))


@compiles(json_scalar, "sqlite")
def _json_scalar_sqlite(element: json_scalar, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(json_scalar, "postgresql")
def _json_scalar_postgresql(element: json_scalar, compiler: SQLCompiler, **kw: Any) -> str:
    kind = next((name for kinds, name in _JSONB_CASTS if isinstance(element.value, kinds)), "text")
    return f"to_jsonb(CAST({compiler.process(element.clauses, **kw)} AS {kind}))"


def like_to_glob(pattern: str) -> str:
    """A CQL2 LIKE pattern (``%``, ``_``, ``\\`` escapes) as a case-sensitive GLOB.

    SQLite's LIKE ignores the case of ASCII letters, CQL2's LIKE does not; GLOB
    respects case and matches whole characters, so it is the exact translation.
    """
    out: list[str] = []
    escaped = False
    for char in pattern:
        if escaped or char not in "%_\\":
            out.append(f"[{char}]" if char in "*?[" else char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append("*" if char == "%" else "?")
    return "".join(out)


class cql_like(FunctionElement[Any]):
    """``text LIKE pattern`` with CQL2's meaning: case-sensitive, ``%``, ``_`` and ``\\``
    escapes. SQLite's LIKE ignores ASCII case, so there it is GLOB with the pattern
    translated; PostgreSQL's LIKE is CQL2's (``\\`` is its default escape)."""

    type = Boolean()
    inherit_cache = False  # the pattern is compiled into the bound value

    def __init__(self, text: Any, pattern: str) -> None:
        super().__init__(text)
        self.pattern = pattern


@compiles(cql_like, "sqlite")
def _cql_like_sqlite(element: cql_like, compiler: SQLCompiler, **kw: Any) -> str:
    pattern = compiler.process(literal(like_to_glob(element.pattern)), **kw)
    return f"({compiler.process(element.clauses, **kw)} GLOB {pattern})"


@compiles(cql_like, "postgresql")
def _cql_like_postgresql(element: cql_like, compiler: SQLCompiler, **kw: Any) -> str:
    pattern = compiler.process(literal(element.pattern), **kw)
    return f"(CAST({compiler.process(element.clauses, **kw)} AS text) LIKE {pattern})"


def upsert(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """Insert rows, or update the other columns of those whose ``keys`` exist already."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(list(rows))
    changed = {name: statement.excluded[name] for name in rows[0] if name not in keys}
    conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changed))
