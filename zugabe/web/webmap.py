"""The web map for planners (``/``): a folium page whose data comes from the API.

folium builds the page — the Leaflet map, the base map, the draw tools — and the app
script ``webmap/static/zugabe-map.js`` does the rest in the browser: it loads projects,
thematic layers and coordination cases by bounding box as the user pans and zooms, and
talks to the same JSON API as every other client. Nothing is embedded wholesale.

Every script and stylesheet comes from this app (``webmap/vendor``, pinned versions; see
its README): folium's defaults point at CDNs, which municipal networks often block, so each
default is mapped to a vendored file or dropped (``LOCAL_ASSETS``); a folium element that
asks for anything else fails the page instead of reaching out to the internet.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, ClassVar

import folium
import folium.plugins
from branca.element import Element, MacroElement
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    render_template,
    send_from_directory,
)
from folium.elements import JSCSSMixin
from jinja2 import Template

from zugabe.config import Settings
from zugabe.domain.palette import DRAFT_COLOR
from zugabe.web.auth import current_actor
from zugabe.web.language import page_language

WEBMAP = Path(__file__).resolve().parents[2] / "webmap"
VENDOR = "/static/vendor"
APP = "/static/webmap"
PAGE_SCRIPTS = "/static/page"

# folium resource name -> our URL, or None to drop it (see the module docstring).
LOCAL_ASSETS: dict[str, str | None] = {
    "leaflet": f"{VENDOR}/leaflet-1.9.4/leaflet.js",
    "leaflet_css": f"{VENDOR}/leaflet-1.9.4/leaflet.css",
    "jquery": None,  # only folium.Popup and keep_in_front need it; we use neither
    "bootstrap": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers": None,  # folium.Icon only
    "awesome_markers_css": None,
    "awesome_markers_font_css": None,
    "awesome_rotate_css": None,
    "leaflet_draw_js": f"{VENDOR}/leaflet-draw-1.0.4/leaflet.draw.js",
    "leaflet_draw_css": f"{VENDOR}/leaflet-draw-1.0.4/leaflet.draw.css",
    "markerclusterjs": f"{VENDOR}/leaflet.markercluster-1.5.3/leaflet.markercluster.js",
    "markerclustercss": f"{VENDOR}/leaflet.markercluster-1.5.3/MarkerCluster.css",
    "markerclusterdefaultcss": f"{VENDOR}/leaflet.markercluster-1.5.3/MarkerCluster.Default.css",
    "zugabe_map": f"{APP}/zugabe-map.js",
    "zugabe_import": f"{APP}/zugabe-import.js",
    "zugabe_desk": f"{APP}/zugabe-desk.js",
    "zugabe_pick": f"{APP}/zugabe-pick.js",
    "zugabe_find": f"{APP}/zugabe-find.js",
    "zugabe_notifications": f"{APP}/zugabe-notifications.js",
    "zugabe_notifications_css": f"{APP}/zugabe-notifications.css",
    "zugabe_map_css": f"{APP}/zugabe-map.css",
}

blueprint = Blueprint("webmap", __name__)


class LocalMap(folium.Map):
    """A folium map whose figure loads only this app's files."""

    def render(self, **kwargs: Any) -> None:
        stack: list[Any] = [self.get_root()]
        while stack:
            element = stack.pop()
            if isinstance(element, JSCSSMixin):
                # Instance attributes: folium's class-level lists stay as they are.
                element.default_js = _localized(element.default_js, element)
                element.default_css = _localized(element.default_css, element)
            stack.extend(element._children.values())
        super().render(**kwargs)


def _localized(links: list[tuple[str, str]], owner: object) -> list[tuple[str, str]]:
    result = []
    for name, url in links:
        if name not in LOCAL_ASSETS:
            raise LookupError(f"{type(owner).__name__} would load {name!r} from {url}")
        local = LOCAL_ASSETS[name]
        if local is not None:
            result.append((name, local))
    return result


class ZugabeApp(JSCSSMixin, MacroElement):
    """The app script and stylesheet (plus clustering), started on this folium map."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        ZugabeMap.start({{ this._parent.get_name() }}, drawnItems_{{ this.draw.get_name() }});
        {% endmacro %}
        """
    )
    default_js: ClassVar[list[tuple[str, str | None]]] = [
        ("markerclusterjs", LOCAL_ASSETS["markerclusterjs"]),
        ("zugabe_import", LOCAL_ASSETS["zugabe_import"]),
        ("zugabe_desk", LOCAL_ASSETS["zugabe_desk"]),
        ("zugabe_pick", LOCAL_ASSETS["zugabe_pick"]),
        ("zugabe_find", LOCAL_ASSETS["zugabe_find"]),
        ("zugabe_notifications", LOCAL_ASSETS["zugabe_notifications"]),
        ("zugabe_map", LOCAL_ASSETS["zugabe_map"]),
    ]
    default_css: ClassVar[list[tuple[str, str | None]]] = [
        ("markerclustercss", LOCAL_ASSETS["markerclustercss"]),
        ("markerclusterdefaultcss", LOCAL_ASSETS["markerclusterdefaultcss"]),
        ("zugabe_map_css", LOCAL_ASSETS["zugabe_map_css"]),
        ("zugabe_notifications_css", LOCAL_ASSETS["zugabe_notifications_css"]),
    ]

    def __init__(self, draw: folium.plugins.Draw) -> None:
        super().__init__()
        self._name = "ZugabeApp"
        self.draw = draw  # named at render time: the page numbers its elements first


def build_map(settings: Settings, lang: str) -> str:
    """The whole map page as HTML.

    It is centred on ``region_bbox``; the app script fits the view to it (the panel's
    ``data-region``) unless the address has one, and narrows it to the districts.
    """
    min_lon, min_lat, max_lon, max_lat = settings.region_bbox
    page = LocalMap(
        location=((min_lat + max_lat) / 2, (min_lon + max_lon) / 2),
        tiles=None,
        control_scale=True,
        prefer_canvas=True,
    )
    page.options["maxZoom"] = 19  # without tiles folium sets none; clustering needs one
    if settings.basemap_wms_layers:
        folium.WmsTileLayer(
            url=settings.basemap_url,
            layers=settings.basemap_wms_layers,
            fmt="image/png",
            attr=settings.basemap_attribution,
            name="basemap",
        ).add_to(page)
    elif settings.basemap_url:
        folium.TileLayer(
            tiles=settings.basemap_url, attr=settings.basemap_attribution, name="basemap"
        ).add_to(page)
    draw = folium.plugins.Draw(
        export=False,
        show_geometry_on_click=False,
        draw_options={
            "polyline": {"shapeOptions": {"color": DRAFT_COLOR}},
            "polygon": {"allowIntersection": False, "shapeOptions": {"color": DRAFT_COLOR}},
            "marker": True,
            "rectangle": False,
            "circle": False,
            "circlemarker": False,
        },
        edit_options={"edit": False, "remove": False},
    )
    draw.add_to(page)
    ZugabeApp(draw).add_to(page)
    figure = page.get_root()
    figure.title = "ZUGABE"
    figure.header.add_child(Element('<link rel="icon" href="data:,">'))  # no favicon request
    figure.html.add_child(
        Element(render_template("webmap_panel.html", lang=lang, settings=settings))
    )
    _number_elements(figure)
    return figure.render().replace("<html>", f'<html lang="{lang}">', 1)


def _number_elements(root: Element) -> None:
    """Give folium's elements ids in page order instead of random ones, so the same
    settings and language always give the same page (and page scripts), in any worker."""
    stack, number = [root], 0
    while stack:
        element = stack.pop(0)
        number += 1
        element._id = f"{number:08x}"
        stack.extend(element._children.values())


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL)


def external_scripts(html: str) -> tuple[str, dict[str, str]]:
    """The page with each inline script moved to ``/static/page/<hash>.js``: the
    Content-Security-Policy then forbids inline script altogether."""
    scripts: dict[str, str] = {}

    def move(match: re.Match[str]) -> str:
        body = match.group(1)
        if not body.strip():
            return ""
        name = hashlib.sha256(body.encode("utf-8")).hexdigest()[:20] + ".js"
        scripts[name] = body
        return f'<script src="{PAGE_SCRIPTS}/{name}"></script>'

    return _INLINE_SCRIPT.sub(move, html), scripts


def map_page_html(settings: Settings, lang: str) -> str:
    """The map page of a language, built once per process; its scripts kept for serving."""
    pages: dict[str, str] = current_app.extensions.setdefault("zugabe_map_pages", {})
    if lang not in pages:
        html, scripts = external_scripts(build_map(settings, lang))
        current_app.extensions.setdefault("zugabe_page_scripts", {}).update(scripts)
        pages[lang] = html
    return pages[lang]


@blueprint.get("/")
def map_page() -> Response:
    services = current_app.extensions["zugabe"]
    services.policy.require_read(current_actor())  # signed out: to the login page
    return Response(map_page_html(services.settings, page_language()), mimetype="text/html")


@blueprint.get(f"{PAGE_SCRIPTS}/<name>")
def page_script(name: str) -> Response:
    """A script of the map page (see ``external_scripts``); the same in every worker."""
    settings = current_app.extensions["zugabe"].settings
    scripts: dict[str, str] = current_app.extensions.get("zugabe_page_scripts", {})
    if name not in scripts:
        for lang in ("de", "en"):
            map_page_html(settings, lang)
        scripts = current_app.extensions["zugabe_page_scripts"]
    if name not in scripts:
        abort(404)
    return Response(scripts[name], mimetype="text/javascript")


@blueprint.get("/static/vendor/<path:name>")
def vendor_file(name: str) -> Response:
    return send_from_directory(WEBMAP / "vendor", name, max_age=86400)


@blueprint.get("/static/webmap/<path:name>")
def app_file(name: str) -> Response:
    return send_from_directory(WEBMAP / "static", name, max_age=0)
