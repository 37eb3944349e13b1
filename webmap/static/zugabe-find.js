/* ZUGABE web map: finding one's way — street and district names on the map, and a search box.
 *
 * Names come from the stored `districts` and `streets` layers the map has loaded for the view:
 * districts from zoom DISTRICT_ZOOM, streets from STREET_ZOOM, main roads first, each name
 * once, and a label is left out where it would overlap one already placed. The labels take no
 * pointer events: they never stand between the pointer and a project.
 *
 * The search box asks GET /api/search (the store's streets, districts and projects; no outside
 * geocoder) and zooms to the result chosen. Names reach the page as text (textContent). */
"use strict";

const ZugabeFind = (() => {
  const DISTRICT_ZOOM = 12;
  const STREET_ZOOM = 16;
  const STREET_RANK = { main: 0, collector: 1, residential: 2, service: 3, path: 4 };
  const CHAR_PX = 7; // a label's width per character at the labels' font size, generously
  let o = null; // the options given to start
  let labels = null;
  let asked = 0; // the number of the latest search, so that late answers are dropped
  let timer = null;

  /** options: map, api, el, t, groups() -> { key: L.FeatureGroup } of the layers shown,
   * showProject(id), pane (for the labels), shown() -> Set of layer keys on the map. */
  function start(given) {
    o = given;
    labels = L.layerGroup().addTo(o.map);
    const input = document.getElementById("search-input");
    input.placeholder = o.t.search_placeholder;
    input.setAttribute("aria-label", o.t.search_placeholder);
    input.addEventListener("input", () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(search, 250);
    });
    document.getElementById("search").addEventListener("submit", (event) => {
      event.preventDefault();
      const first = document.querySelector("#search-results button");
      if (first) first.click();
      else search();
    });
  }

  async function search() {
    const text = document.getElementById("search-input").value.trim();
    const list = document.getElementById("search-results");
    const number = ++asked;
    if (text.length < 2) { list.replaceChildren(); return; }
    const response = await o.api("GET", `/api/search?${new URLSearchParams({ q: text, limit: 8 })}`);
    if (number !== asked) return;
    if (response.status !== 200) { list.replaceChildren(); return; }
    const found = response.data.features;
    if (!found.length) { list.replaceChildren(o.el("li", { class: "none" }, o.t.search_none)); return; }
    list.replaceChildren(...found.map((place) => {
      const item = o.el("li");
      const button = o.el("button", { type: "button", class: "place" });
      button.append(o.el("span", { class: "label" }, place.properties.label),
        o.el("span", { class: "kind" }, o.t[`kind_${place.properties.kind}`]));
      button.addEventListener("click", () => choose(place));
      item.append(button);
      return item;
    }));
  }

  /** Zoom to a place (a project opens in the panel too); the list closes. */
  function choose(place) {
    const [w, s, e, n] = place.bbox;
    document.getElementById("search-results").replaceChildren();
    document.getElementById("search-input").value = place.properties.label;
    o.onChosen();
    o.map.fitBounds([[s, w], [n, e]], { maxZoom: 17, padding: [24, 24] });
    if (place.properties.kind === "project") o.showProject(Number(place.properties.ref));
  }

  /** The names of the districts and streets in view, placed so that none overlaps another. */
  function label() {
    labels.clearLayers();
    const map = o.map;
    const zoom = map.getZoom();
    const groups = o.groups();
    const candidates = [];
    if (zoom >= DISTRICT_ZOOM && o.shown().has("districts")) {
      for (const shape of shapes(groups.districts)) candidates.push({ shape, kind: "district", rank: -1 });
    }
    if (zoom >= STREET_ZOOM && o.shown().has("streets")) {
      for (const shape of shapes(groups.streets)) {
        const rank = STREET_RANK[shape.feature.properties.category] ?? 5;
        candidates.push({ shape, kind: "street", rank });
      }
    }
    candidates.sort((a, b) => a.rank - b.rank);
    const view = map.getSize();
    const placed = [];
    const named = new Set();
    for (const { shape, kind } of candidates) {
      const name = shape.feature.properties.name;
      if (!name || named.has(`${kind}:${name}`)) continue;
      const at = anchor(shape);
      if (!at) continue;
      const p = map.latLngToContainerPoint(at);
      const half = (name.length * CHAR_PX) / 2 + 4;
      const box = { left: p.x - half, right: p.x + half, top: p.y - 9, bottom: p.y + 9 };
      if (box.left < 0 || box.top < 0 || box.right > view.x || box.bottom > view.y) continue;
      if (placed.some((b) => b.left < box.right && box.left < b.right && b.top < box.bottom && box.top < b.bottom)) continue;
      placed.push(box);
      named.add(`${kind}:${name}`);
      const icon = L.divIcon({ className: `zugabe-label ${kind}`, html: o.el("span", {}, name), iconSize: null });
      L.marker(at, { icon, interactive: false, keyboard: false, pane: o.pane }).addTo(labels);
    }
  }

  function shapes(group) {
    const found = [];
    if (group && group._map) group.eachLayer((geojson) => geojson.eachLayer((shape) => found.push(shape)));
    return found;
  }

  /** Where a name goes: a district's centre, a street's middle, if in view. */
  function anchor(shape) {
    if (!shape.getCenter || !shape._map) return null;
    const at = shape.getCenter();
    return o.map.getBounds().contains(at) ? at : null;
  }

  return { start, label };
})();
