"""QGIS layer styles (QML) built from ZUGABE's own colours, for the GeoPackage export.

QGIS opens a GeoPackage layer with the style its ``layer_styles`` table marks as default for
it; these functions write that style so the export looks like the web map: projects by
department and cases by relation in the colours of ``zugabe.domain.palette`` (the web map's,
kept in step by a test), thematic layers by the classes and colours of their definitions in
``layers/``. The QML holds the renderer and the German field aliases only; QGIS fills in the
rest with its defaults.

A QGIS layer has one geometry type, so a style is written for one family: ``points``
(marker symbols), ``lines`` or ``polygons`` (fill symbols).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from zugabe.domain.layers import LayerDefinition, StyleSpec
from zugabe.domain.palette import RELATION_COLORS, department_colors

FAMILIES = ("points", "lines", "polygons")
QGIS_VERSION = "3.28.0-Firenze"  # the long-term release the QML is written for; newer read it

OTHER_VALUES = "#999999"  # features whose value has no class
# How the web map draws projects and cases (zugabe-map.js: projectStyle, caseStyle).
PROJECT_LOOK = StyleSpec(
    stroke_width=4, stroke_opacity=0.9, fill_opacity=0.25, point_radius=7, stroke_color="#333333"
)
CASE_LOOK = StyleSpec(
    stroke_width=5, stroke_opacity=0.9, fill_opacity=0.35, point_radius=9, stroke_color="#333333"
)
# The web map shows base layers (districts, streets) fainter, behind the planning data.
BASE_THEME_FADE = 0.45


@dataclass(frozen=True)
class Symbol:
    """One symbol: a colour and the look of a ``StyleSpec``; ``dashed`` outlines/lines."""

    stroke_color: str
    fill_color: str
    look: StyleSpec
    dashed: bool = False
    fade: float = 1.0


@dataclass(frozen=True)
class Category:
    value: str | int | float
    label: str
    symbol: Symbol


@dataclass(frozen=True)
class Range:
    """A class [lower, upper) as the layer definitions mean it; None: open-ended."""

    lower: float | None
    upper: float | None
    label: str
    symbol: Symbol


def categorized_qml(
    family: str,
    attribute: str,
    categories: Sequence[Category],
    other: Symbol | None = None,
    aliases: Mapping[str, str] | None = None,
) -> str:
    """A categorized renderer on ``attribute``; ``other`` draws values of no category."""
    renderer = _renderer("categorizedSymbol", attr=attribute)
    listed = ET.SubElement(renderer, "categories")
    symbols = [c.symbol for c in categories]
    for index, category in enumerate(categories):
        ET.SubElement(
            listed,
            "category",
            value=str(category.value),
            label=category.label,
            symbol=str(index),
            render="true",
        )
    if other is not None:
        # QGIS's "all other values" category has the empty value.
        ET.SubElement(
            listed, "category", value="", label="übrige", symbol=str(len(symbols)), render="true"
        )
        symbols.append(other)
    _symbols(renderer, family, symbols)
    return _document(renderer, family, aliases)


def graduated_qml(
    family: str,
    attribute: str,
    ranges: Sequence[Range],
    aliases: Mapping[str, str] | None = None,
) -> str:
    """A graduated renderer on ``attribute`` whose classes keep the [lower, upper) meaning.

    QGIS puts a value equal to a boundary into the lower class (lower <= v <= upper), the
    layer definitions into the upper one; each upper bound is therefore written as the
    largest double below it, and open ends as the largest finite doubles.
    """
    renderer = _renderer("graduatedSymbol", attr=attribute, graduatedMethod="GraduatedColor")
    listed = ET.SubElement(renderer, "ranges")
    for index, item in enumerate(ranges):
        lower = -math.inf if item.lower is None else float(item.lower)
        upper = math.inf if item.upper is None else float(item.upper)
        ET.SubElement(
            listed,
            "range",
            lower=repr(max(lower, -_LARGEST)),
            upper=repr(min(math.nextafter(upper, -math.inf), _LARGEST)),
            label=item.label,
            symbol=str(index),
            render="true",
        )
    _symbols(renderer, family, [r.symbol for r in ranges])
    ET.SubElement(renderer, "classificationMethod", id="Fixed")
    return _document(renderer, family, aliases)


def single_qml(family: str, symbol: Symbol, aliases: Mapping[str, str] | None = None) -> str:
    """One symbol for every feature."""
    renderer = _renderer("singleSymbol")
    _symbols(renderer, family, [symbol])
    return _document(renderer, family, aliases)


# --------------------------------------------------------------------------- ZUGABE's styles


def project_qml(family: str, departments: Mapping[str, str], aliases: Mapping[str, str]) -> str:
    """Projects coloured by department as on the web map; ``departments``: key → label,
    in vocabulary order (the order the web map assigns its colours in)."""
    colors = department_colors(departments)
    categories = [
        Category(key, label, _colored(colors[key], PROJECT_LOOK))
        for key, label in departments.items()
    ]
    return categorized_qml(
        family, "department", categories, _colored(OTHER_VALUES, PROJECT_LOOK), aliases
    )


def case_qml(family: str, relations: Mapping[str, str], aliases: Mapping[str, str]) -> str:
    """Cases coloured by relation, notes dashed, as on the web map."""
    categories = [
        Category(
            relation,
            relations.get(relation, relation),
            _colored(color, CASE_LOOK, dashed=relation == "note"),
        )
        for relation, color in RELATION_COLORS.items()
    ]
    return categorized_qml(
        family, "relation", categories, _colored(OTHER_VALUES, CASE_LOOK), aliases
    )


def layer_qml(definition: LayerDefinition, family: str) -> str:
    """A thematic layer in its declared style, classified like the web map's legend."""
    style = definition.style
    fade = BASE_THEME_FADE if definition.theme == "base" else 1.0
    aliases = {spec.name: spec.label.de for spec in definition.attributes}
    classify = definition.classify

    def symbol(color: str | None) -> Symbol:
        # As the web map: points keep their outline colour, lines and polygons take the
        # class colour for their outline too when the layer is classified.
        fill = color or style.fill_color
        stroke = style.stroke_color if family == "points" or color is None else color
        return Symbol(stroke, fill, style, fade=fade)

    if classify is None:
        return single_qml(family, symbol(None), aliases)
    if classify.classes and classify.classes[0].is_range:
        ranges = [Range(c.min, c.max, c.label.de, symbol(c.color)) for c in classify.classes]
        return graduated_qml(family, classify.attribute, ranges, aliases)
    categories = [
        Category(c.value, c.label.de, symbol(c.color))
        for c in classify.classes
        if c.value is not None
    ]
    return categorized_qml(family, classify.attribute, categories, symbol(None), aliases)


def synergy_qml(ranges: Sequence[tuple[float, float, str, str]], aliases: Mapping[str, str]) -> str:
    """The synergy grid graduated by score: ``(lower, upper, label, colour)`` per class."""
    look = StyleSpec(stroke_width=0.5, stroke_opacity=0.6, fill_opacity=0.6)
    return graduated_qml(
        "polygons",
        "score",
        [Range(lo, hi, label, Symbol("#636363", color, look)) for lo, hi, label, color in ranges],
        aliases,
    )


def _colored(color: str, look: StyleSpec, dashed: bool = False) -> Symbol:
    return Symbol(color, color, look, dashed=dashed)


# --------------------------------------------------------------------------- XML

_LARGEST = 1.7976931348623157e308
_GEOMETRY_TYPE = {"points": "0", "lines": "1", "polygons": "2"}
_SYMBOL_TYPE = {"points": "marker", "lines": "line", "polygons": "fill"}


def _renderer(kind: str, **attributes: str) -> ET.Element:
    return ET.Element(
        "renderer-v2",
        type=kind,
        symbollevels="0",
        forceraster="0",
        enableorderby="0",
        referencescale="-1",
        **attributes,
    )


def _symbols(renderer: ET.Element, family: str, symbols: Sequence[Symbol]) -> None:
    parent = ET.SubElement(renderer, "symbols")
    for index, symbol in enumerate(symbols):
        element = ET.SubElement(
            parent,
            "symbol",
            type=_SYMBOL_TYPE[family],
            name=str(index),
            alpha="1",
            clip_to_extent="1",
            force_rhr="0",
        )
        layer_class, options = _symbol_layer(family, symbol)
        layer = ET.SubElement(
            element, "layer", {"class": layer_class, "enabled": "1", "locked": "0", "pass": "0"}
        )
        option_map = ET.SubElement(layer, "Option", type="Map")
        for name, value in options.items():
            ET.SubElement(option_map, "Option", name=name, value=value, type="QString")


def _symbol_layer(family: str, symbol: Symbol) -> tuple[str, dict[str, str]]:
    look = symbol.look
    stroke = _rgba(symbol.stroke_color, look.stroke_opacity * symbol.fade)
    width = _number(look.stroke_width)
    pen = "dash" if symbol.dashed else "solid"
    if family == "points":
        return "SimpleMarker", {
            "name": "circle",
            "color": _rgba(symbol.fill_color, look.fill_opacity),
            "outline_color": stroke,
            "outline_style": pen,
            "outline_width": width,
            "outline_width_unit": "Pixel",
            "size": _number(2 * look.point_radius),
            "size_unit": "Pixel",
        }
    if family == "lines":
        return "SimpleLine", {
            "line_color": stroke,
            "line_style": pen,
            "line_width": width,
            "line_width_unit": "Pixel",
            "capstyle": "round",
            "joinstyle": "round",
        }
    return "SimpleFill", {
        "color": _rgba(symbol.fill_color, look.fill_opacity),
        "style": "solid",
        "outline_color": stroke,
        "outline_style": pen,
        "outline_width": width,
        "outline_width_unit": "Pixel",
        "joinstyle": "round",
    }


def _document(renderer: ET.Element, family: str, aliases: Mapping[str, str] | None) -> str:
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="Symbology|Fields")
    root.append(renderer)
    if aliases:
        listed = ET.SubElement(root, "aliases")
        for field, alias in aliases.items():
            ET.SubElement(listed, "alias", field=field, name=alias)
    ET.SubElement(root, "layerGeometryType").text = _GEOMETRY_TYPE[family]
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(
        root, encoding="unicode"
    )


def _rgba(color: str, opacity: float) -> str:
    """``#rrggbb`` (or ``#rgb``) and an opacity as QGIS writes colours: ``r,g,b,a``."""
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    alpha = round(255 * min(max(opacity, 0.0), 1.0))
    return f"{red},{green},{blue},{alpha}"


def _number(value: float) -> str:
    return f"{value:g}"
