"""Storage backends behind one contract (``zugabe.storage.contract``)."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from zugabe.errors import ConfigError
from zugabe.storage.contract import ProjectStore, Store

SUPPORTED_SCHEMES = ("sqlite", "postgresql+psycopg")


def open_store(url: str, srid: int | None = None) -> Store:
    """Open the backend the URL's scheme names, so configuration picks it.

    ``srid``: the EPSG code of the storage CRS, for a backend whose geometry columns carry it
    (PostGIS; the SQLite store keeps plain WKB and needs none).
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"invalid storage URL: {exc}; expected e.g. sqlite:////srv/zugabe/zugabe.sqlite"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        # Imported here so that backends load only when chosen.
        from zugabe.storage.sqlite import SqliteStore

        return SqliteStore(url)
    if backend == "postgresql" and parsed.get_driver_name() == "psycopg":
        from zugabe.storage.postgis import PostgisStore

        return PostgisStore(url, srid)
    # Never echo the whole URL: it may carry a password.
    raise ConfigError(
        f"unsupported storage URL scheme '{parsed.drivername}'; "
        f"supported: {', '.join(SUPPORTED_SCHEMES)}"
    )


__all__ = ["ProjectStore", "Store", "open_store"]
