"""The store a benchmark fills: the embedded SQLite file, or PostGIS in a throw-away cluster.

Both durable as in production: SQLite as ZUGABE opens it (WAL, ``synchronous=FULL``), and
PostgreSQL with ``fsync``, ``synchronous_commit`` and ``full_page_writes`` on — not the test
cluster's settings, which turn them off for speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STORES = ("sqlite", "postgis")
DURABLE = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "max_connections": "120",  # several workers, each with a pool of connections
}


@contextmanager
def store_url(kind: str, folder: Path) -> Iterator[str]:
    """The URL of an empty store of ``kind`` ("sqlite" or "postgis"), alive for the ``with``."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'zugabe.sqlite'}"
        return
    from zugabe.devtools.pg_cluster import ThrowawayCluster

    with ThrowawayCluster(DURABLE) as cluster:
        yield cluster.url("postgres").render_as_string(hide_password=False)
