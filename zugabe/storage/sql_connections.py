"""A store's connections and transactions: the same for the SQLite and the PostGIS store.

Each store connects and migrates its own way in its ``__init__`` and hands its engines to
``StoreConnections._connected``: ``_engine`` for readers and ``_writer``, the same engine
whose transactions take the write lock at BEGIN (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's
advisory lock). From then on every part of a store reads and writes through ``_read`` and
``_write`` here, so a write joins the thread's ``transaction`` wherever it is made, and a
mixin inherits these instead of assuming that the class it is mixed into defines them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError

from zugabe.errors import StorageError
from zugabe.storage.sqlite_schema import read_version, store_revision_table


class StoreConnections:
    """The engines of an open store, its read and write connections and ``transaction``."""

    where: str
    """The store as shown in messages (a file path, or a URL without password)."""

    _driver_errors: tuple[type[Exception], ...] = ()
    """Errors the DBAPI raises past SQLAlchemy (bulk paths on its own cursor)."""

    def _connected(self, engine: Engine, writer: Engine, where: str) -> None:
        """Take the engines a store's ``__init__`` made; the store is open from now on."""
        self.where = where
        self._engine = engine
        self._writer = writer
        self._closed = False
        self._ambient = threading.local()  # the connection of ``transaction``, per thread

    def _bulk(self, conn: Connection) -> AbstractContextManager[None]:
        """What a bulk write sets on its connection until it ends (nothing by default)."""
        return nullcontext()

    def _writer_turn(self) -> AbstractContextManager[None]:
        """Held before a write transaction begins: waits for the store's other writers
        (nothing by default: the database server queues them at the write lock)."""
        return nullcontext()

    @contextmanager
    def transaction(self, *, bulk: bool = False) -> Iterator[None]:
        """This thread's writes and reads in one write transaction (see the contract)."""
        if getattr(self._ambient, "conn", None) is not None:
            yield
            return
        with self._write(bulk) as conn:
            self._ambient.conn = conn
            try:
                yield
            finally:
                self._ambient.conn = None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self._check_open()
        ambient = getattr(self._ambient, "conn", None)
        if ambient is not None:  # inside ``transaction``: see our own writes
            yield ambient
            return
        try:
            with self._engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise StorageError(f"cannot read the store: {exc.orig or exc}") from exc
        except self._driver_errors as exc:
            raise StorageError(f"cannot read the store: {exc}") from exc

    @contextmanager
    def _write(self, bulk: bool = False) -> Iterator[Connection]:
        """A write transaction; ``bulk``: a large one (a layer import, a big case sync).

        Inside ``transaction`` the ambient one is used: it commits (or rolls back) as one.
        """
        self._check_open()
        ambient = getattr(self._ambient, "conn", None)
        if ambient is not None:
            yield ambient
            return
        try:
            with self._writer_turn():
                if not bulk:
                    with self._writer.begin() as conn:
                        yield conn
                    return
                with self._writer.connect() as conn, self._bulk(conn), conn.begin():
                    yield conn
        except DBAPIError as exc:
            raise StorageError(f"cannot write the store: {exc.orig or exc}") from exc
        except self._driver_errors as exc:
            raise StorageError(f"cannot write the store: {exc}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"the store {self.where} has been closed")

    def schema_version(self) -> int:
        with self._read() as conn:
            return read_version(conn)

    def revision(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(store_revision_table.c.revision)).scalar_one())

    def close(self) -> None:
        self._closed = True
        self._engine.dispose()
