"""Query parameters shared by several listings (API and CLI)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from zugabe.errors import BadRequest

BBox = tuple[float, float, float, float]


def parse_bbox(text: str) -> BBox:
    """``min_lon,min_lat,max_lon,max_lat`` as numbers, or a 400 saying what is expected."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not (values[0] < values[2] and values[1] < values[3]):
        raise BadRequest(f"'bbox' must be min_lon,min_lat,max_lon,max_lat, got {text[:200]!r}")
    min_lon, min_lat, max_lon, max_lat = values
    if not (min_lon >= -180 and max_lon <= 180 and min_lat >= -90 and max_lat <= 90):
        raise BadRequest(
            f"'bbox' must lie within longitude -180..180 and latitude -90..90, got {text[:200]!r}"
        )
    return values  # type: ignore[return-value]


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """``FIELD=ATTRIBUTE`` items of a field mapping (``FIELD=`` ignores the field)."""
    mapping = {}
    for item in items:
        source, separator, attribute = item.partition("=")
        if not separator:
            raise BadRequest(f"'map' must be FIELD=ATTRIBUTE, got {item!r}")
        mapping[source.strip()] = attribute.strip()
    return mapping


def matched(
    page: Sequence[object], after: int | None, has_more: bool, count: Callable[[], int]
) -> int:
    """How many match in all: a first page that holds them all counted them already (a map
    view's page usually does), so only a longer listing asks the store to ``count``."""
    return len(page) if after is None and not has_more else count()
