"""Moving a whole instance from one store to another (SQLite to PostGIS): ``zugabe store copy``.

Both stores have the same tables and columns (``sqlite_schema.metadata``), so the copy is
table by table, row by row, ids kept: projects and their versions, layers with every
version and archived feature, cases with comments, history, decisions and votes, accounts,
tokens, sessions, the audit chain, the mail outbox and notifications. Geometry columns of
the target (PostGIS ``geometry``) take the source's WKB through ``ST_GeomFromWKB``.
Everything is written in one transaction of the target, which must be empty; afterwards the
target's id counters are moved past the source's, the row counts of every table are compared
and the target's audit chain is verified, so a copy either is complete and checked or fails.
A checked copy is vacuumed and analysed, as after any bulk load.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from zugabe.domain.audit import ChainCheck, verify_chain
from zugabe.errors import StorageError
from zugabe.storage.postgis import PostgisStore
from zugabe.storage.sqlite import SqliteStore
from zugabe.storage.sqlite_schema import (
    VERSION_TABLE,
    metadata,
    sign_in_attempts_table,
    sqlite_sequence,
    store_changes_table,
    store_revision_table,
)

ROWS_PER_BATCH = 5000

# Not copied: the schema version (each store has its own record), SQLite's R*Tree tables
# (PostGIS has GiST), the revision counter and its change log (the target counts and logs
# its own writes) and the failed sign-ins of the last minutes (the throttle's moving window).
_SKIPPED = frozenset(
    {VERSION_TABLE, store_revision_table.name, store_changes_table.name}
    | {sign_in_attempts_table.name}
) | {name for name in metadata.tables if name.endswith("_rtree")}
COPIED_TABLES: tuple[Table, ...] = tuple(
    table for name, table in metadata.tables.items() if name not in _SKIPPED
)
"""In the order they are defined, which writes every referenced row first."""


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]
    """Rows copied per table (equal in source and target)."""
    audit: ChainCheck


def copy_store(source: SqliteStore, target: PostgisStore) -> CopyReport:
    """Copy everything in ``source`` into the empty ``target`` and check the result."""
    if source.schema_version() != target.schema_version():
        raise StorageError(
            f"the source has schema version {source.schema_version()}, the target "
            f"{target.schema_version()}: open both with this ZUGABE first (zugabe init)"
        )
    try:
        with source._engine.connect() as reader, target._writer.begin() as writer:
            geometry = _geometry_columns(writer)
            for table in COPIED_TABLES:
                if writer.execute(select(func.count()).select_from(table)).scalar_one():
                    raise StorageError(
                        f"the target store is not empty (table {table.name} has rows): "
                        "copy into a new database"
                    )
            for table in COPIED_TABLES:
                _copy_table(reader, writer, table, geometry.get(table.name, ()), target.srid)
            _continue_counters(reader, writer)
    except DBAPIError as exc:
        raise StorageError(f"cannot copy the store: {exc.orig or exc}") from exc
    rows = _compare_counts(source, target)
    audit = verify_chain(target.iter_audit(), target.audit_head())
    if not audit.intact:
        raise StorageError(f"the copied audit chain is broken: {audit.problem}")
    if target.audit_head() != source.audit_head():
        raise StorageError("the copied audit chain ends elsewhere than the source's")
    try:
        target.vacuum()  # a bulk load: statistics and visibility before the first users
    except StorageError as exc:  # the copy is committed: say so, not only what failed
        raise StorageError(
            f"the copy is complete and checked, but {exc}; run VACUUM (ANALYZE) in it"
        ) from exc
    return CopyReport(rows, audit)


def _geometry_columns(conn: Connection) -> dict[str, tuple[str, ...]]:
    """The target's PostGIS columns by table, as PostGIS lists them."""
    listed = conn.execute(
        select(text("f_table_name"), text("f_geometry_column")).select_from(
            text("geometry_columns")
        )
    ).all()
    columns: dict[str, tuple[str, ...]] = {}
    for table_name, column_name in listed:
        columns[table_name] = (*columns.get(table_name, ()), column_name)
    return columns


def _batches(reader: Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    result = reader.execute(select(table).order_by(*table.primary_key.columns))
    while rows := result.fetchmany(ROWS_PER_BATCH):
        yield [row._asdict() for row in rows]


def _copy_table(
    reader: Connection, writer: Connection, table: Table, geometry: tuple[str, ...], srid: int
) -> None:
    statement = insert(table).values(
        {name: func.ST_GeomFromWKB(bindparam(f"{name}_wkb"), srid) for name in geometry}
    )
    for rows in _batches(reader, table):
        for row in rows:
            for name in geometry:
                row[f"{name}_wkb"] = row.pop(name)
        writer.execute(statement, rows)


def _continue_counters(reader: Connection, writer: Connection) -> None:
    """Move each identity past the source's highest id and SQLite's AUTOINCREMENT counter
    (ids of deleted rows are never handed out again, in the target either)."""
    counters = dict(reader.execute(select(sqlite_sequence.c.name, sqlite_sequence.c.seq)).all())
    for table in COPIED_TABLES:
        sequence = writer.execute(
            select(func.pg_get_serial_sequence(table.name, table.primary_key.columns[0].name))
        ).scalar_one_or_none()
        if sequence is None:
            continue
        highest = writer.execute(select(func.max(table.primary_key.columns[0]))).scalar()
        last = max(int(highest or 0), int(counters.get(table.name) or 0))
        if last:
            writer.execute(select(func.setval(sequence, last)))


def _compare_counts(source: SqliteStore, target: PostgisStore) -> dict[str, int]:
    counts: dict[str, int] = {}
    with source._engine.connect() as left, target._engine.connect() as right:
        for table in COPIED_TABLES:
            statement = select(func.count()).select_from(table)
            have, got = left.execute(statement).scalar_one(), right.execute(statement).scalar_one()
            if have != got:
                raise StorageError(
                    f"table {table.name}: {have} rows in the source, {got} in the target"
                )
            counts[table.name] = int(have)
    return counts
