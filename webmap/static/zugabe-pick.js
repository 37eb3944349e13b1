/* ZUGABE web map: what lies under the pointer, for hovering and clicking.
 *
 * The map draws into one canvas per pane (thematic layers < projects < cases < highlight), and
 * a canvas takes every pointer event over its whole area: the topmost would hide everything
 * below it. So the canvases take no pointer events at all (zugabe-map.css), and this module
 * asks every drawn shape whether it lies under the pointer, in the order the caller gives
 * (projects first: their line is the narrowest target; then cases, whose overlaps are drawn
 * above the projects; then the thematic layers). Hovering shows the first one's tooltip;
 * a click opens the first one and, when more lie there, lists the others in a popup, each one
 * click away, so nothing drawn is ever out of reach.
 *
 * Contents come from the caller as DOM nodes (never HTML strings): user text stays text. */
"use strict";

const ZugabePick = (() => {
  let options = null;
  let drawing = false;
  let tooltip = null;
  let pending = null;

  /** options: map; sources() -> [{ kind, group, layer }] in order of priority;
   * label(hit) -> text; tooltip(hit) -> Node; details(hit) -> Node | null (shown in the
   * popup); activate(hit) (opens it, e.g. in the panel); el(tag, attributes, text); t. */
  function start(given) {
    options = given;
    const map = options.map;
    tooltip = L.tooltip({ direction: "top", offset: [0, -8], className: "zugabe-pick" });
    map.on("mousemove", (event) => {
      if (pending) return;
      pending = window.requestAnimationFrame(() => { pending = null; hover(event); });
    });
    map.on("mouseout", () => { tooltip.remove(); map.getContainer().style.cursor = ""; });
    map.on("click", click);
    if (L.Draw) {
      map.on(L.Draw.Event.DRAWSTART, () => { drawing = true; tooltip.remove(); });
      map.on(L.Draw.Event.DRAWSTOP, () => { drawing = false; });
    }
  }

  /** Every drawn shape under the point (Leaflet's layer point), in the sources' order. */
  function under(layerPoint) {
    const hits = [];
    for (const source of options.sources()) {
      for (const shape of leaves(source.group)) {
        // _containsPoint is Leaflet 1.9's own hit test of a drawn path (vendored, pinned).
        if (shape._map && shape._containsPoint && shape._containsPoint(layerPoint)) {
          hits.push({ ...source, shape });
        }
      }
    }
    return hits;
  }

  function* leaves(group) {
    if (!group || !group._map) return;
    const stack = [group];
    while (stack.length) {
      const layer = stack.pop();
      if (layer.eachLayer && !layer._containsPoint) layer.eachLayer((child) => stack.push(child));
      else yield layer;
    }
  }

  function hover(event) {
    const map = options.map;
    if (drawing) return;
    const [first] = under(event.layerPoint);
    map.getContainer().style.cursor = first ? "pointer" : "";
    if (!first) { tooltip.remove(); return; }
    tooltip.setContent(options.tooltip(first)).setLatLng(event.latlng);
    if (!map.hasLayer(tooltip)) map.openTooltip(tooltip);
  }

  function click(event) {
    if (drawing) return;
    const hits = under(event.layerPoint);
    if (!hits.length) return;
    tooltip.remove();
    choose(hits[0], hits.slice(1), event.latlng);
  }

  /** Open a hit; the popup holds its details (if any) and the others under the pointer. */
  function choose(hit, others, latlng) {
    const { el, t, map } = options;
    options.activate(hit);
    const content = el("div", { class: "zugabe-pick-popup" });
    const details = options.details(hit);
    if (details) content.append(details);
    if (others.length) {
      content.append(el("p", { class: "also" }, t.also_here));
      const list = el("ul", { class: "also-here" });
      for (const other of others) {
        const button = el("button", { type: "button", class: "link" }, options.label(other));
        button.addEventListener("click", () => {
          choose(other, [hit, ...others.filter((o) => o !== other)], latlng);
        });
        const item = el("li");
        item.append(button);
        list.append(item);
      }
      content.append(list);
    }
    if (content.childNodes.length) L.popup({ maxWidth: 320 }).setLatLng(latlng).setContent(content).openOn(map);
    else map.closePopup();
  }

  return { start };
})();
