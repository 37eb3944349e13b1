"""Pictures for printed reports, drawn on the server as SVG: a map excerpt and a timeline.

Reports must work without internet access and print crisply, so there are no tiles and no
browser-side map: shapely geometries in the (metric) storage CRS become SVG paths inside a
fixed ``viewBox``, with a scale bar and a north arrow; planned time windows become a Gantt-like
chart. Every text that reaches the SVG (titles, names, labels) is XML-escaped here, because the
SVG is inlined into the HTML report as markup.

This module knows nothing of projects or cases: the report service decides what is drawn in
which colour (``Shape``, ``Bar``) and this module only draws it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import shapely
from markupsafe import Markup, escape
from shapely.geometry.base import BaseGeometry

MAP_WIDTH = 800  # px of the viewBox; the page scales it to the paper's width
MAP_MAX_HEIGHT = 720
MAP_MIN_HEIGHT = 300
TIMELINE_WIDTH = 800
TIMELINE_LABEL_WIDTH = 250
TIMELINE_ROW = 22
TIMELINE_AXIS = 26
LABEL_CHARS = 38

Extent = tuple[float, float, float, float]
Box = tuple[float, float, float, float]  # left, top, right, bottom in viewBox pixels

LABEL_GAP = 2.0  # px kept free around a label's box
# Candidate centres of a label around its anchor, in units of the label's own half width and
# half height (plus the shape's radius): above, below, right, left, the corners; then the
# same further out, joined to the anchor by a leader line.
NEAR = ((0, -1), (0, 1), (1, 0), (-1, 0), (1, -1), (-1, -1), (1, 1), (-1, 1))
FAR = tuple((dx * 2.6, dy * 3.2) for dx, dy in NEAR)


@dataclass(frozen=True)
class LabelStyle:
    """How a label is set; ``rank`` orders the placement (lower first: it wins the space).

    The box a label needs is estimated from its characters (``char_width`` em each), with no
    font at hand on the server; the widths suit DejaVu Sans, the widest of the fonts the
    report's stack names, so the estimate errs on the large side.
    """

    size: float
    bold: bool = False
    italic: bool = False
    rank: int = 0
    char_width: float = 0.66


STRONG_LABEL = LabelStyle(12, bold=True, char_width=0.72)
QUIET_LABEL = LabelStyle(14, italic=True, rank=1)


@dataclass(frozen=True)
class Shape:
    """One geometry to draw, with its style; points are drawn as circles of ``radius`` px."""

    geometry: BaseGeometry
    stroke: str
    width: float = 2.0
    fill: str | None = None
    fill_opacity: float = 0.3
    opacity: float = 1.0
    dash: str | None = None
    radius: float = 4.0
    title: str = ""  # tooltip: an SVG <title> child
    label: str | None = None  # placed near a point inside the shape (or inside ``label_at``)
    label_at: BaseGeometry | None = None
    label_style: LabelStyle = STRONG_LABEL
    attrs: Mapping[str, str] = field(default_factory=dict)  # class, data-* for tests and CSS


@dataclass(frozen=True)
class Overlap:
    """A marked stretch of a timeline bar: the period two windows share."""

    start: date
    end: date
    color: str
    title: str


@dataclass(frozen=True)
class Bar:
    """One timeline row: a window from ``start`` to ``end`` (None: open on that side)."""

    key: str
    label: str
    start: date | None
    end: date | None
    color: str
    emphasised: bool = False
    title: str = ""
    overlaps: tuple[Overlap, ...] = ()


# ------------------------------------------------------------------------------------ map


def padded_extent(geometries: Iterable[BaseGeometry], margin: float = 0.12) -> Extent:
    """The bounds of the geometries with a margin (share of the larger side, at least 60 m)."""
    bounds = shapely.total_bounds([g for g in geometries if g is not None and not g.is_empty])
    if not all(math.isfinite(v) for v in bounds):
        raise ValueError("nothing to draw")
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    pad = max(max(maxx - minx, maxy - miny) * margin, 60.0)
    return (minx - pad, miny - pad, maxx + pad, maxy + pad)


class _Frame:
    """Map coordinates (metres, y up) to viewBox pixels (y down), same scale on both axes."""

    def __init__(self, extent: Extent, width: int) -> None:
        minx, miny, maxx, maxy = extent
        span_x, span_y = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
        height = width * span_y / span_x
        if height > MAP_MAX_HEIGHT or height < MAP_MIN_HEIGHT:  # widen the extent to fit
            height = min(max(height, MAP_MIN_HEIGHT), MAP_MAX_HEIGHT)
            if span_y / span_x > height / width:
                grow = span_y * width / height - span_x
                minx, maxx = minx - grow / 2, maxx + grow / 2
            else:
                grow = span_x * height / width - span_y
                miny, maxy = miny - grow / 2, maxy + grow / 2
        self.extent = (minx, miny, maxx, maxy)
        self.width, self.height = width, round(height)
        self.scale = width / (maxx - minx)  # px per metre

    def xy(self, x: float, y: float) -> tuple[float, float]:
        minx, _miny, _maxx, maxy = self.extent
        return (x - minx) * self.scale, (maxy - y) * self.scale

    def clip(self, geometry: BaseGeometry) -> BaseGeometry:
        return shapely.clip_by_rect(geometry, *self.extent)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _attrs(values: Mapping[str, object]) -> str:
    return "".join(f' {k}="{escape(str(v))}"' for k, v in values.items() if v is not None)


def _ring(coords: Sequence[Sequence[float]], frame: _Frame, close: bool) -> str:
    points = [frame.xy(x, y) for x, y, *_ in coords]
    text = "M" + " L".join(f"{_num(x)},{_num(y)}" for x, y in points)
    return text + (" Z" if close else "")


def _circle(x: float, y: float, r: float) -> str:
    return (
        f"M{_num(x - r)},{_num(y)} a{_num(r)},{_num(r)} 0 1,0 {_num(2 * r)},0 "
        f"a{_num(r)},{_num(r)} 0 1,0 {_num(-2 * r)},0 Z"
    )


def path_data(geometry: BaseGeometry, frame: _Frame, radius: float) -> tuple[str, bool]:
    """SVG path data of a geometry and whether it has an area (fill) or not."""
    kind = geometry.geom_type
    if geometry.is_empty:
        return "", False
    if kind == "Point":
        return _circle(*frame.xy(geometry.x, geometry.y), radius), True
    if kind in ("LineString", "LinearRing"):
        return _ring(geometry.coords, frame, close=False), False
    if kind == "Polygon":
        rings = [geometry.exterior, *geometry.interiors]
        return " ".join(_ring(r.coords, frame, close=True) for r in rings), True
    parts = [path_data(part, frame, radius) for part in geometry.geoms]
    return " ".join(d for d, _ in parts if d), any(area for _, area in parts)


def _shape(shape: Shape, frame: _Frame) -> str:
    """The shape's path (empty when it lies outside the frame)."""
    geometry = frame.clip(shape.geometry)
    data, area = path_data(geometry, frame, shape.radius)
    if not data:
        return ""
    style: dict[str, object] = {
        "d": data,
        "stroke": shape.stroke,
        "stroke-width": _num(shape.width),
        "stroke-opacity": shape.opacity if shape.opacity < 1 else None,
        "stroke-dasharray": shape.dash,
        "stroke-linejoin": "round",
        "stroke-linecap": "round",
        "fill": (shape.fill or shape.stroke) if area and shape.fill != "none" else "none",
        "fill-opacity": shape.fill_opacity if area else None,
        "fill-rule": "evenodd" if area else None,
    }
    title = f"<title>{escape(shape.title)}</title>" if shape.title else ""
    return f"<path{_attrs(dict(shape.attrs))}{_attrs(style)}>{title}</path>"


@dataclass(frozen=True)
class _Label:
    text: str
    x: float  # the anchor, in the frame
    y: float
    gap: float  # free space around the anchor: the shape's point radius
    style: LabelStyle
    kind: str  # the shape's class, for CSS

    def box(self, dx: float, dy: float) -> Box:
        """The box of the label set with its centre at the anchor plus (dx, dy)."""
        half_w = len(self.text) * self.style.char_width * self.style.size / 2 + LABEL_GAP
        half_h = self.style.size * 0.6 + LABEL_GAP
        cx = self.x + dx * (half_w + self.gap)
        cy = self.y + dy * (half_h + self.gap)
        return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def _anchor(shape: Shape, frame: _Frame) -> _Label | None:
    """Where a shape's label belongs: a point inside the shape's part within the frame."""
    if not shape.label:
        return None
    within = frame.clip(shape.label_at or shape.geometry)
    if within.is_empty:
        return None
    point = within.point_on_surface()
    x, y = frame.xy(point.x, point.y)
    kind = shape.attrs.get("class", "")
    return _Label(shape.label, x, y, shape.radius, shape.label_style, kind)


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(
    labels: Sequence[_Label], frame: _Frame, obstacles: Sequence[Box]
) -> tuple[list[tuple[_Label, Box, bool]], list[str]]:
    """Greedy placement, by rank then in drawing order: the first candidate position whose
    box stays inside the frame and clear of every placed label and of ``obstacles`` wins;
    a far one gets a leader line (the bool). Labels with no free position are returned by
    text, for a list beside the map."""
    placed: list[tuple[_Label, Box, bool]] = []
    taken = list(obstacles)
    unplaced: list[str] = []
    for label in sorted(labels, key=lambda item: item.style.rank):
        for index, (dx, dy) in enumerate(NEAR + FAR):
            box = label.box(dx, dy)
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= frame.width
            if inside and box[3] <= frame.height and not any(_overlaps(box, t) for t in taken):
                placed.append((label, box, index >= len(NEAR)))
                taken.append(box)
                break
        else:
            unplaced.append(label.text)
    return placed, unplaced


def _label_svg(label: _Label, box: Box, leader: bool) -> str:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    line = ""
    if leader:  # from the anchor to the nearest point of the box
        ex, ey = min(max(label.x, box[0]), box[2]), min(max(label.y, box[1]), box[3])
        line = (
            f'<path class="leader" d="M{_num(label.x)},{_num(label.y)} L{_num(ex)},{_num(ey)}" '
            'stroke="#000" stroke-width="1"/>'
        )
    style = {
        "class": f"map-label {label.kind}".strip(),
        "x": _num(cx),
        "y": _num(cy),
        "text-anchor": "middle",
        "dominant-baseline": "central",
        "font-size": _num(label.style.size),
        "font-weight": "bold" if label.style.bold else None,
        "font-style": "italic" if label.style.italic else None,
    }
    return f"{line}<text{_attrs(style)}>{escape(label.text)}</text>"


def _nice_length(metres: float) -> float:
    """1, 2 or 5 × 10^n metres, at most ``metres``."""
    power = 10 ** math.floor(math.log10(metres))
    return max(step * power for step in (1, 2, 5) if step * power <= metres)


def _scale_bar(frame: _Frame) -> tuple[str, Box]:
    """The scale bar and the box it covers (no label may hide it)."""
    length_m = _nice_length(frame.width / 5 / frame.scale)
    px = length_m * frame.scale
    x, y = 16.0, frame.height - 16.0
    shown = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    svg = (
        f'<g class="scale-bar" data-metres="{length_m:g}">'
        f'<rect x="{_num(x - 6)}" y="{_num(y - 20)}" width="{_num(px + 12)}" height="28" '
        'fill="#fff" fill-opacity="0.8"/>'
        f'<path d="M{_num(x)},{_num(y - 6)} V{_num(y)} H{_num(x + px)} V{_num(y - 6)}" '
        'stroke="#000" stroke-width="1.5" fill="none"/>'
        f'<text x="{_num(x + px / 2)}" y="{_num(y - 8)}" text-anchor="middle">{shown}</text></g>'
    )
    return svg, (x - 6, y - 20, x + px + 6, y + 8)


def _north_arrow(frame: _Frame) -> tuple[str, Box]:
    """The north arrow and the box it covers."""
    x, y = frame.width - 26.0, 18.0
    svg = (
        '<g class="north-arrow">'
        f'<path d="M{_num(x)},{_num(y)} L{_num(x + 9)},{_num(y + 26)} L{_num(x)},{_num(y + 20)} '
        f'L{_num(x - 9)},{_num(y + 26)} Z" fill="#000"/>'
        f'<text x="{_num(x)}" y="{_num(y + 40)}" text-anchor="middle">N</text></g>'
    )
    return svg, (x - 11, y - 2, x + 11, y + 44)


@dataclass(frozen=True)
class MapPicture:
    """The SVG, and the labels that found no free place on it (to be listed beside it)."""

    svg: Markup
    unlabelled: tuple[str, ...]


def render_map(
    shapes: Sequence[Shape], extent: Extent, *, label: str, width: int = MAP_WIDTH
) -> MapPicture:
    """An SVG map of the shapes (drawn in order: background first) inside ``extent``.

    Labels go on top of every shape, placed so that none overlaps another, the scale bar or
    the north arrow (``place_labels``). ``label`` becomes the picture's accessible name.
    Grid north is drawn as north; in UTM the difference from true north is well under a
    degree across a city.
    """
    frame = _Frame(extent, width)
    paths = "".join(_shape(s, frame) for s in shapes)
    scale_bar, scale_box = _scale_bar(frame)
    north_arrow, north_box = _north_arrow(frame)
    anchors = [a for a in (_anchor(s, frame) for s in shapes) if a is not None]
    placed, unplaced = place_labels(anchors, frame, [scale_box, north_box])
    labels = "".join(_label_svg(*p) for p in placed)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="report-map" role="img" '
        f'viewBox="0 0 {frame.width} {frame.height}" aria-label="{escape(label)}" '
        'font-family="sans-serif" font-size="12" '
        f'data-extent="{",".join(f"{v:.1f}" for v in frame.extent)}">'
        f'<rect class="map-frame" x="0" y="0" width="{frame.width}" height="{frame.height}" '
        'fill="#fbfbf8" stroke="#444" stroke-width="1"/>'
        f"{paths}{labels}{scale_bar}{north_arrow}</svg>"
    )
    return MapPicture(Markup(svg), tuple(unplaced))


# ------------------------------------------------------------------------------- timeline


def _axis_range(bars: Sequence[Bar], period: tuple[date | None, date | None]) -> tuple[date, date]:
    """Whole years from the earliest to the latest date known (at least one year)."""
    known = [d for b in bars for d in (b.start, b.end) if d is not None]
    known += [d for d in period if d is not None]
    if not known:
        today = date.today()
        return date(today.year, 1, 1), date(today.year + 1, 1, 1)
    first, last = min(known), max(known)
    open_end = any(b.end is None for b in bars)
    return date(first.year, 1, 1), date(last.year + 1 + (1 if open_end else 0), 1, 1)


def _clipped(text: str, chars: int = LABEL_CHARS) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def render_timeline(
    bars: Sequence[Bar],
    *,
    label: str,
    undated: str,
    period: tuple[date | None, date | None] = (None, None),
) -> Markup:
    """A Gantt-like SVG: a row per bar, year ticks, shared periods marked on the bars.

    ``period`` (a report's time range) is shaded behind the rows; ``undated`` is the text
    shown for a row without any date.
    """
    first, last = _axis_range(bars, period)
    days = (last - first).days
    left, right = TIMELINE_LABEL_WIDTH, TIMELINE_WIDTH - 10
    height = TIMELINE_AXIS + TIMELINE_ROW * max(len(bars), 1) + 6

    def x(day: date | None, default: float) -> float:
        if day is None:
            return default
        return left + (right - left) * min(max((day - first).days, 0), days) / days

    parts = []
    if period != (None, None):
        x0, x1 = x(period[0], left), x(period[1] and period[1] + timedelta(days=1), right)
        parts.append(
            f'<rect class="period" x="{_num(x0)}" y="{TIMELINE_AXIS - 4}" width="{_num(x1 - x0)}"'
            f' height="{height - TIMELINE_AXIS}" fill="#fff3b0"/>'
        )
    for year in range(first.year, last.year + 1):
        xy = x(date(year, 1, 1), left)
        parts.append(
            f'<path d="M{_num(xy)},{TIMELINE_AXIS - 6} V{height}" stroke="#ccc" stroke-width="1"/>'
        )
        if year < last.year:
            mid = x(date(year, 7, 1), left)
            parts.append(
                f'<text class="year" x="{_num(mid)}" y="14" text-anchor="middle">{year}</text>'
            )
    for row, bar in enumerate(bars):
        top = TIMELINE_AXIS + row * TIMELINE_ROW
        weight = ' font-weight="bold"' if bar.emphasised else ""
        parts.append(
            f'<text class="bar-label" x="4" y="{top + 15}"{weight}>{escape(_clipped(bar.label))}'
            f"<title>{escape(bar.title or bar.label)}</title></text>"
        )
        if bar.start is None and bar.end is None:
            parts.append(
                f'<text class="undated" x="{left + 4}" y="{top + 15}" fill="#666">'
                f"{escape(undated)}</text>"
            )
            continue
        x0 = x(bar.start, left)
        x1 = x(bar.end and bar.end + timedelta(days=1), right)
        open_end = ' stroke-dasharray="4 3"' if bar.end is None or bar.start is None else ""
        stroke = "#000" if bar.emphasised else bar.color
        parts.append(
            f'<rect class="bar" data-project="{escape(bar.key)}" x="{_num(x0)}" y="{top + 4}" '
            f'width="{_num(max(x1 - x0, 2))}" height="{TIMELINE_ROW - 8}" fill="{bar.color}" '
            f'fill-opacity="0.45" stroke="{stroke}" stroke-width="{2 if bar.emphasised else 1}"'
            f"{open_end}><title>{escape(bar.title or bar.label)}</title></rect>"
        )
        for overlap in bar.overlaps:
            o0, o1 = x(overlap.start, left), x(overlap.end + timedelta(days=1), right)
            parts.append(
                f'<rect class="overlap" data-project="{escape(bar.key)}" x="{_num(o0)}" '
                f'y="{top + 8}" width="{_num(max(o1 - o0, 2))}" height="{TIMELINE_ROW - 16}" '
                f'fill="{overlap.color}"><title>{escape(overlap.title)}</title></rect>'
            )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="report-timeline" role="img" '
        f'viewBox="0 0 {TIMELINE_WIDTH} {height}" aria-label="{escape(label)}" '
        'font-family="sans-serif" font-size="12">'
        f"{''.join(parts)}</svg>"
    )
    return Markup(svg)


def shared_period(
    a: tuple[date | None, date | None], b: tuple[date | None, date | None]
) -> tuple[date, date] | None:
    """The days two windows share, when both are bounded there; None when they do not meet."""
    starts = [d for d in (a[0], b[0]) if d is not None]
    ends = [d for d in (a[1], b[1]) if d is not None]
    if not starts or not ends:
        return None
    start, end = max(starts), min(ends)
    return (start, end) if start <= end else None


# ------------------------------------------------------------------------------ bar chart

BARS_WIDTH = 800
BARS_LABEL_WIDTH = 240
BARS_VALUE_WIDTH = 90  # room for the printed value after the longest bar
BAR_HEIGHT = 13
BAR_GAP = 10  # between two groups
BARS_LEGEND = 24


@dataclass(frozen=True)
class Series:
    """One kind of bar in every group (potential, planned, built, …)."""

    key: str
    label: str
    color: str


@dataclass(frozen=True)
class BarGroup:
    """A row label (a city, a catchment) and one value per series, with its printed text."""

    label: str
    values: tuple[float, ...]
    texts: tuple[str, ...]


def render_bar_chart(groups: Sequence[BarGroup], series: Sequence[Series], *, label: str) -> Markup:
    """Horizontal grouped bars on one linear scale from zero, a legend above, each bar's value
    printed after it; NaN values draw no bar. ``label`` is the picture's accessible name."""
    top = BARS_LEGEND + 6
    group_height = BAR_HEIGHT * len(series) + BAR_GAP
    height = top + group_height * max(len(groups), 1)
    left, right = BARS_LABEL_WIDTH, BARS_WIDTH - BARS_VALUE_WIDTH
    finite = [v for g in groups for v in g.values if math.isfinite(v)]
    largest = max(finite, default=0.0) or 1.0
    parts = []
    x = 4.0
    for s in series:
        parts.append(
            f'<g class="legend-item" data-series="{escape(s.key)}">'
            f'<rect x="{_num(x)}" y="6" width="12" height="12" fill="{escape(s.color)}"/>'
            f'<text x="{_num(x + 16)}" y="16">{escape(s.label)}</text></g>'
        )
        x += 28 + len(s.label) * 6.6
    for row, group in enumerate(groups):
        y0 = top + row * group_height
        parts.append(
            f'<text class="group-label" x="{left - 8}" y="{_num(y0 + group_height / 2 - 2)}" '
            f'text-anchor="end" dominant-baseline="central">{escape(_clipped(group.label, 34))}'
            f"<title>{escape(group.label)}</title></text>"
        )
        for index, s in enumerate(series):
            value, text = group.values[index], group.texts[index]
            y = y0 + index * BAR_HEIGHT
            width = (right - left) * max(value, 0.0) / largest if math.isfinite(value) else 0.0
            parts.append(
                f'<rect class="bar-value" data-series="{escape(s.key)}" '
                f'data-group="{escape(group.label)}" data-value="{value:g}" x="{left}" '
                f'y="{_num(y + 1)}" width="{_num(width)}" height="{BAR_HEIGHT - 2}" '
                f'fill="{escape(s.color)}"><title>{escape(s.label)}: {escape(text)}</title></rect>'
                f'<text class="bar-text" x="{_num(left + width + 4)}" '
                f'y="{_num(y + BAR_HEIGHT - 3)}" font-size="10">{escape(text)}</text>'
            )
    parts.append(
        f'<path d="M{left},{top - 2} V{height}" stroke="#444" stroke-width="1" fill="none"/>'
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="bar-chart" role="img" '
        f'viewBox="0 0 {BARS_WIDTH} {height}" aria-label="{escape(label)}" '
        'font-family="sans-serif" font-size="12">'
        f"{''.join(parts)}</svg>"
    )
    return Markup(svg)
