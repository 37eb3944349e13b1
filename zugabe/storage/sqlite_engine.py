"""What the parts of the SQLite store share: the connection, its transactions, and
the helpers that write SQLite fast.

Python's own sqlite3 module through SQLAlchemy Core, no SpatiaLite: the bounding boxes
live in R*Tree virtual tables kept in step with their tables in the same transaction,
and the exact spatial test is a shapely function registered on every connection
(``AREA_TESTS``), so filtering, counting and paging all stay in one SQL statement.

Durability and concurrency come from SQLite itself: WAL journal (readers
never block the writer nor each other), ``synchronous=FULL`` (a committed
write survives a power cut), and ``BEGIN IMMEDIATE`` for writes (a writer
takes the write lock up front and waits for it, instead of failing on a
lock upgrade halfway through).

``SqliteBase`` connects to the store file and hands its engines to the connection
plumbing both stores share (``sql_connections``).
"""

from __future__ import annotations

import functools
import itertools
import json
import json.encoder
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql.expression import TableClause

from zugabe.errors import ConfigError, StorageError
from zugabe.storage.sql_connections import StoreConnections
from zugabe.storage.sqlite_area import AREA_TESTS, AreaTest
from zugabe.storage.sqlite_checkpoint import BackgroundCheckpoint, without_automatic_checkpoint
from zugabe.storage.sqlite_schema import sqlite_sequence
from zugabe.storage.sqlite_writer_queue import WriterQueue

BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another writer before giving up."""

_WRITE_OPTION = "zugabe_write"


MMAP_BYTES = 1 << 30
"""How much of the store file a connection reads through a memory map: a map view reads a
thousand rows scattered over the file, and through the map each page is the operating
system's cached page, not a copy in each connection's own small cache (a quarter less time
per view with 50,000 projects). The store must be on a local disk, as WAL needs anyway."""

BULK_CACHE_KIB = 262_144
"""Page cache of a connection during a bulk write (SQLite's default is 2 MiB), filled only
as far as the write needs: the index pages of a big layer import, and the pages of a batch
run's quarter of a million new cases (some 350 MB), then stay in memory until the commit
instead of being spilled to the WAL and written again (the batch run's writing 7.9 →
7.4 s with 256 instead of 64 MiB)."""


# Valid JSON only (no NaN), UTF-8 text as it is: attributes and reports are
# read by people in the database too. One encoder, built once.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False)


def _row_json_encoder() -> Callable[[Any], str]:
    """``_JSON.encode`` without rebuilding its C encoder for every row.

    ``JSONEncoder.encode`` builds CPython's C accelerator anew on each call,
    which for small attribute dicts costs more than the encoding: half of
    the ~1.2 s that 500,000 rows take. The accelerator is an implementation
    detail of the json module, so it is used only if it exists and answers
    exactly like the public encoder (output, key order, NaN refused);
    otherwise rows go through ``_JSON.encode``.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _JSON.encode
    try:
        accelerated = make(
            None,  # no circular check, as check_circular=False
            _JSON.default,
            json.encoder.encode_basestring,  # ensure_ascii=False
            None,  # indent
            _JSON.key_separator,
            _JSON.item_separator,
            False,  # sort_keys
            False,  # skipkeys
            False,  # allow_nan
        )

        def encode(value: Any) -> str:
            return "".join(accelerated(value, 0))

        sample = {"z": [1, 2.5, None, True, -0.0, 1e300], 7: 'Zeile\n"ü" ✓', "a": {}}
        if encode(sample) != _JSON.encode(sample):
            return _JSON.encode
        try:
            encode({"nan": float("nan")})
        except ValueError:
            return encode
    except Exception:  # any change of the private API: use the public one
        pass
    return _JSON.encode


encode_row = _row_json_encoder()


def _fold(text: object) -> object:
    """SQL function ``zugabe_fold(text)``: Unicode case folding (SQLite's ``lower`` knows
    ASCII only), for CQL2's ``CASEI``."""
    return text.casefold() if isinstance(text, str) else text


def _switch_to_wal(cursor: sqlite3.Cursor) -> str:
    """Turn on WAL and return the journal mode now in effect.

    Switching a new file to WAL needs an exclusive lock and SQLite does not
    run the busy handler for it, so processes opening a new store together
    would fail with "database is locked"; retry for the busy timeout instead.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return str(cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    """Set up every new DBAPI connection the same way."""
    # Let SQLAlchemy's "begin" hook emit BEGIN instead of sqlite3's legacy
    # transaction control, which skips BEGIN before SELECT and DDL.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        mode = _switch_to_wal(cursor)
        if str(mode).lower() != "wal":
            raise StorageError(
                f"the store cannot use write-ahead logging (journal mode is '{mode}'); "
                "put the store file on a local file system"
            )
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute(f"PRAGMA mmap_size = {MMAP_BYTES:d}")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
    for name, test in AREA_TESTS.items():
        dbapi_conn.create_function(name, 2, AreaTest(test), deterministic=True)
    dbapi_conn.create_function("zugabe_fold", 1, _fold, deterministic=True)


def _on_begin(conn: Connection) -> None:
    """Writers take the write lock at BEGIN; readers read a snapshot."""
    if conn.get_execution_options().get(_WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def connect_engine(url: URL | str) -> Engine:
    """An engine for a store file, every connection set up by ``_on_connect``.

    Public so that tests and tools (backup, migration checks) talk to the
    file exactly as the store does.
    """
    engine = create_engine(url)
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def writing(engine: Engine) -> Engine:
    """The same engine whose transactions take the write lock at BEGIN."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def database_path(url: str) -> tuple[URL, Path]:
    """Check that the URL names an SQLite file and return it parsed."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid storage URL: {exc}") from exc
    if parsed.get_backend_name() != "sqlite":
        raise ConfigError(
            f"the SQLite store needs a sqlite:/// URL, got scheme '{parsed.drivername}'"
        )
    database = parsed.database or ""
    if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        raise ConfigError(
            "the SQLite store needs a file, e.g. sqlite:////srv/zugabe/zugabe.sqlite; "
            "in-memory databases are not supported"
        )
    if database.startswith("file:"):
        raise ConfigError("SQLite URI file names are not supported; give a plain path")
    return parsed, Path(database)


def driver_sql(statement: Executable) -> str:
    """SQL text of a Core statement, compiled once for ``exec_driver_sql``.

    Bulk writes pass plain tuples to the DBAPI's ``executemany``: through
    ``Connection.execute`` with one dict per row, SQLAlchemy's per-row
    parameter handling takes several times longer than SQLite itself.
    """
    return str(statement.compile(dialect=sqlite_dialect.dialect(paramstyle="qmark")))


PARAMETERS_PER_INSERT = 640
"""Bulk writes put as many rows into one multi-row INSERT as fit this many
parameters (old SQLite builds allow 999): SQLite then steps once per
statement instead of once per row, which makes inserts about a third faster."""


@functools.cache
def _insert_sql(table: TableClause, rows: int) -> str:
    """INSERT of ``rows`` rows of all columns, as SQL text with positional parameters."""
    if rows == 1:
        return driver_sql(insert(table))
    values = [{c.name: bindparam(f"{c.name}_{row}") for c in table.columns} for row in range(rows)]
    return driver_sql(insert(table).values(values))


def insert_rows(conn: Connection, table: TableClause, rows: list[tuple[Any, ...]]) -> None:
    """Insert plain tuples (all columns, in table order) as fast as the DBAPI allows."""
    per_statement = max(1, PARAMETERS_PER_INSERT // len(table.columns))
    whole = len(rows) - len(rows) % per_statement
    if whole:
        conn.exec_driver_sql(
            _insert_sql(table, per_statement),
            [
                tuple(itertools.chain.from_iterable(rows[start : start + per_statement]))
                for start in range(0, whole, per_statement)
            ],
        )
    if whole < len(rows):
        conn.exec_driver_sql(_insert_sql(table, 1), rows[whole:])


@contextmanager
def indexes_rebuilt(conn: Connection, table: TableClause) -> Iterator[None]:
    """Drop the table's own secondary indexes for a bulk insert and build them again after,
    in the same transaction: SQLite builds an index by sorting, several times faster than
    as many inserts at random places (a batch run's quarter of a million cases). UNIQUE
    and PRIMARY KEY constraints stay, so they are still checked row by row."""
    dbapi = conn.connection.driver_connection
    assert isinstance(dbapi, sqlite3.Connection)
    indexes = dbapi.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL",  # indexes behind constraints have none
        (table.name,),
    ).fetchall()
    quote = sqlite_dialect.dialect().identifier_preparer.quote
    for name, _sql in indexes:
        conn.exec_driver_sql(f"DROP INDEX {quote(name)}")
    yield
    for _name, sql in indexes:
        conn.exec_driver_sql(sql)


@contextmanager
def _large_cache(dbapi: sqlite3.Connection) -> Iterator[None]:
    """Give this pooled connection a big page cache for one bulk write only.

    Set on the DBAPI connection, outside any transaction (through SQLAlchemy
    it would begin one), and restored after the commit.
    """
    before = int(dbapi.execute("PRAGMA cache_size").fetchone()[0])
    dbapi.execute(f"PRAGMA cache_size = {-int(BULK_CACHE_KIB):d}")
    try:
        yield
    finally:
        dbapi.execute(f"PRAGMA cache_size = {before:d}")


def encode_json(value: Any, what: str) -> str:
    """JSON text of attributes or a report; non-JSON values are the caller's bug."""
    try:
        return _JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"{what} cannot be stored as JSON ({exc}); pass only str, int, float, bool, "
            "None, lists and dicts with string keys (dates as ISO strings, missing "
            "numbers as None, not NaN)"
        ) from exc


def next_id(conn: Connection, rows: Table) -> int:
    """First free id of an AUTOINCREMENT table; the write lock keeps it free until commit.

    Ids are assigned here, not by SQLite, so the R*Tree rows can be built
    from the same arrays; AUTOINCREMENT's counter in ``sqlite_sequence``
    still rules, so ids of deleted rows are never handed out again
    (explicit ids above the counter move it on).
    """
    counter = conn.execute(
        select(sqlite_sequence.c.seq).where(sqlite_sequence.c.name == rows.name)
    ).scalar_one_or_none()
    highest = conn.execute(select(func.max(rows.c.id))).scalar_one_or_none()
    return max(int(counter or 0), int(highest or 0)) + 1


def geometry_array(geometries: Sequence[BaseGeometry | None]) -> npt.NDArray[np.object_]:
    array = np.empty(len(geometries), dtype=object)
    array[:] = list(geometries)
    return array


class SqliteBase(StoreConnections):
    """The connections of a store file, for the parts of ``SqliteStore`` that are SQLite's.

    Connects to the file (creating its folder) but does not migrate: ``SqliteStore`` does.
    A bulk write gets a big page cache (``_large_cache``), and its pages go from the WAL
    into the file on a thread of their own after the commit (``sqlite_checkpoint``).
    """

    _driver_errors = (sqlite3.Error,)

    def __init__(self, url: str) -> None:
        parsed, self.path = database_path(url)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the folder for the store {self.path}: {exc}"
            ) from exc
        engine = connect_engine(parsed)
        self._connected(engine, writing(engine), str(self.path))
        self._writers = WriterQueue(self.path, BUSY_TIMEOUT_MS / 1000)
        self._checkpoint = BackgroundCheckpoint(self.path, BUSY_TIMEOUT_MS / 1000)

    @contextmanager
    def _bulk(self, conn: Connection) -> Iterator[None]:
        dbapi = conn.connection.driver_connection
        assert isinstance(dbapi, sqlite3.Connection)
        with _large_cache(dbapi), without_automatic_checkpoint(dbapi):
            yield
        self._checkpoint.start()  # committed: its pages go into the file meanwhile

    def _writer_turn(self) -> AbstractContextManager[None]:
        return self._writers.turn()

    def close(self) -> None:
        super().close()
        self._checkpoint.wait()
        self._writers.close()
