/* ZUGABE web map: notifications and watch areas. A bell in the header counts the unread
 * notifications (GET /api/notifications) and opens their list; a click on one zooms to its
 * case or project and opens it, and marks it read. The "Beobachten"/"Watch" panel chooses
 * districts, one drawn area (Leaflet.draw), organisations, departments and layers, and how
 * mail comes (off, at once, daily digest; German or English): GET/PUT /api/subscriptions.
 *
 * ZugabeMap hands over what it shares (its API helper, el(), the vocabulary, the layers,
 * showCase/showProject). Every string from the server reaches the page through textContent.
 * A link from a mail (/#case=12, /#project=7) opens that case or project. */
"use strict";

const ZugabeNotifications = (() => {
  const POLL_MS = 60000;
  const PAGE = 20;
  const AREA_COLOR = "#6a3d9a";
  const TEXTS = {
    de: {
      bell: "Benachrichtigungen", none: "Keine Benachrichtigungen.", all_read: "Alle gelesen",
      more: "Ältere", watch: "Beobachten", districts: "Stadtteile", area: "Gezeichnetes Gebiet",
      draw_area: "Gebiet zeichnen", clear_area: "Gebiet löschen", no_area: "kein Gebiet",
      area_drawn: "Gebiet gezeichnet", organisations: "Organisationen",
      departments: "Fachbereiche", layers: "Themenkarten", mail: "E-Mail",
      mail_off: "keine", mail_immediate: "sofort", mail_daily: "tägliche Übersicht",
      language: "Sprache der E-Mails", save: "Speichern", saved: "Gespeichert.",
      error: "Nicht gespeichert: {detail}",
    },
    en: {
      bell: "Notifications", none: "No notifications.", all_read: "Mark all read",
      more: "Older", watch: "Watch", districts: "Districts", area: "Drawn area",
      draw_area: "Draw area", clear_area: "Remove area", no_area: "no area",
      area_drawn: "area drawn", organisations: "Organisations", departments: "Departments",
      layers: "Layers", mail: "E-mail", mail_off: "none", mail_immediate: "at once",
      mail_daily: "daily digest", language: "Language of e-mails", save: "Save",
      saved: "Saved.", error: "Not saved: {detail}",
    },
  };
  const openOnStart = /^#(case|project)=(\d+)$/.exec(window.location.hash); // before the map rewrites it
  let app = null;
  let t = null;
  let area = null; // the drawn area as a Leaflet layer, or null
  let older = null; // cursor of the next page of the list

  function $(id) { return document.getElementById(id); }

  async function start(shared) {
    app = shared;
    t = TEXTS[app.lang];
    const response = await app.api("GET", "/api/subscriptions");
    if (response.status !== 200) return; // no account of one's own (a token, public reading)
    buildBell();
    buildWatchPanel(response.data);
    await refresh();
    window.setInterval(refresh, POLL_MS);
    if (openOnStart) open(openOnStart[1], Number(openOnStart[2]));
  }

  // ------------------------------------------------------------------ the bell and the list

  function buildBell() {
    const bell = app.el("button", { type: "button", id: "bell", title: t.bell, "aria-label": t.bell, "aria-expanded": "false" });
    bell.append(app.el("span", { "aria-hidden": "true" }, "\u{1F514}"), app.el("span", { id: "bell-count" }, "0"));
    bell.addEventListener("click", toggleList);
    document.querySelector("#panel header .bar").append(bell);
    const section = app.el("section", { id: "notifications", hidden: "" });
    section.append(app.el("h2", {}, t.bell));
    const readAll = app.el("button", { type: "button", id: "notifications-read-all" }, t.all_read);
    readAll.addEventListener("click", markAllRead);
    const more = app.el("button", { type: "button", id: "notifications-more", hidden: "" }, t.more);
    more.addEventListener("click", () => load(false));
    section.append(readAll, app.el("p", { id: "notifications-empty", class: "hint", hidden: "" }, t.none),
      app.el("ul", { id: "notification-list" }), more);
    document.querySelector("#panel header").after(section);
  }

  async function toggleList() {
    const section = $("notifications");
    section.hidden = !section.hidden;
    $("bell").setAttribute("aria-expanded", String(!section.hidden));
    if (!section.hidden) await load(true);
  }

  async function refresh() {
    const response = await app.api("GET", `/api/notifications?limit=${PAGE}`);
    if (response.status === 200) showCount(response.data.unread);
  }

  function showCount(unread) {
    const count = $("bell-count");
    count.textContent = String(unread);
    count.dataset.unread = unread > 0 ? "true" : "false";
  }

  async function load(fromTop) {
    const after = fromTop ? "" : `&after=${older}`;
    const response = await app.api("GET", `/api/notifications?limit=${PAGE}${after}`);
    if (response.status !== 200) return;
    const list = $("notification-list");
    if (fromTop) list.replaceChildren();
    for (const n of response.data.notifications) list.append(item(n));
    older = response.data.next_after;
    $("notifications-more").hidden = older === null;
    $("notifications-empty").hidden = list.children.length > 0;
    showCount(response.data.unread);
  }

  function item(n) {
    const li = app.el("li", { class: n.read ? "notification" : "notification unread", tabindex: "0", "data-id": String(n.id) });
    li.append(app.el("span", { class: "text" }, n.text), app.el("time", { datetime: n.created_at }, n.created_at.slice(0, 16).replace("T", " ")));
    const go = async () => {
      if (!n.read) {
        const response = await app.api("POST", "/api/notifications/read", { ids: [n.id] });
        if (response.status === 200) showCount(response.data.unread);
        li.classList.remove("unread");
        n.read = true;
      }
      if (n.case_id !== null) await open("case", n.case_id);
      else if (n.project_id !== null) await open("project", n.project_id);
    };
    li.addEventListener("click", go);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
    return li;
  }

  async function markAllRead() {
    const response = await app.api("POST", "/api/notifications/read", { all: true });
    if (response.status !== 200) return;
    showCount(response.data.unread);
    for (const li of document.querySelectorAll("#notification-list .unread")) li.classList.remove("unread");
  }

  /** Zoom to a case or project and open it in the panel. */
  async function open(kind, id) {
    const response = await app.api("GET", kind === "case" ? `/api/cases/${id}` : `/api/projects/${id}`);
    if (response.status === 200 && response.data.geometry) {
      const bounds = L.geoJSON(response.data.geometry).getBounds();
      if (bounds.isValid()) app.map.fitBounds(bounds, { maxZoom: 17, animate: false });
    }
    if (kind === "case") await app.showCase(id);
    else await app.showProject(id);
  }

  // ------------------------------------------------------------------ the watch panel

  async function buildWatchPanel(chosen) {
    const panel = app.el("details", { id: "watch" });
    panel.append(app.el("summary", {}, t.watch));
    const form = app.el("form", { id: "watch-form", novalidate: "" });
    const districts = await app.api("GET", "/api/layers/districts/features?limit=200");
    const districtChoices = districts.status === 200
      ? districts.data.features.map((f) => [String(f.properties.district_id), f.properties.name || String(f.properties.district_id)])
      : [];
    form.append(
      choices("districts", t.districts, districtChoices, chosen.districts),
      areaChooser(chosen.area),
      choices("organisations", t.organisations, app.vocab.organisations.map((o) => [o.key, app.label(o.labels)]), chosen.organisations),
      choices("departments", t.departments, app.vocab.departments.map((d) => [d.key, app.label(d.labels)]), chosen.departments),
      choices("layers", t.layers, app.layers.map((l) => [l.key, app.label(l.title)]), chosen.layers),
      select("mail", t.mail, ["off", "immediate", "daily"].map((m) => [m, t[`mail_${m}`]]), chosen.mail),
      select("language", t.language, [["de", "Deutsch"], ["en", "English"]], chosen.language),
      app.el("button", { type: "submit", id: "watch-save" }, t.save),
      app.el("p", { id: "watch-status", role: "status", class: "hint" }),
    );
    form.addEventListener("submit", (event) => { event.preventDefault(); save(); });
    panel.append(form);
    $("layers").after(panel);
  }

  function choices(name, title, entries, checked) {
    const box = app.el("fieldset", { id: `watch-${name}` });
    box.append(app.el("legend", {}, title));
    for (const [value, text] of entries) {
      const input = app.el("input", { type: "checkbox", name, value });
      input.checked = checked.includes(value);
      const labelNode = app.el("label", {});
      labelNode.append(input, document.createTextNode(` ${text}`));
      box.append(labelNode);
    }
    return box;
  }

  function select(name, title, entries, value) {
    const labelNode = app.el("label", {});
    const node = app.el("select", { id: `watch-${name}`, name });
    for (const [key, text] of entries) node.append(app.el("option", { value: key }, text));
    node.value = value;
    labelNode.append(app.el("span", {}, title), document.createTextNode(" "), node);
    return labelNode;
  }

  function areaChooser(geometry) {
    const box = app.el("fieldset", { id: "watch-area" });
    box.append(app.el("legend", {}, t.area), app.el("span", { id: "watch-area-state" }));
    const drawButton = app.el("button", { type: "button", id: "watch-draw-area" }, t.draw_area);
    const clearButton = app.el("button", { type: "button", id: "watch-clear-area" }, t.clear_area);
    drawButton.addEventListener("click", drawArea);
    clearButton.addEventListener("click", () => setArea(null));
    box.append(drawButton, clearButton);
    window.setTimeout(() => setArea(geometry ? L.geoJSON(geometry, { style: { color: AREA_COLOR, dashArray: "6 4" } }) : null));
    return box;
  }

  function setArea(layer) {
    if (area) app.map.removeLayer(area);
    area = layer;
    if (area) area.addTo(app.map);
    $("watch-area-state").textContent = area ? t.area_drawn : t.no_area;
    $("watch-clear-area").hidden = !area;
  }

  /** A polygon drawn with Leaflet.draw that is handed to us alone: the map's own handler
   * (a new project's draft) never sees it. */
  function drawArea() {
    const WatchPolygon = L.Draw.Polygon.extend({
      _fireCreatedEvent() {
        setArea(new L.Polygon(this._poly.getLatLngs(), { color: AREA_COLOR, dashArray: "6 4" }));
      },
    });
    new WatchPolygon(app.map, { allowIntersection: false, shapeOptions: { color: AREA_COLOR } }).enable();
  }

  function areaGeometry() {
    if (!area) return null;
    const features = area.toGeoJSON();
    const geometry = features.type === "FeatureCollection" ? features.features[0].geometry : features.geometry;
    return geometry;
  }

  async function save() {
    const form = $("watch-form");
    const checked = (name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
    const body = {
      mail: $("watch-mail").value, language: $("watch-language").value,
      districts: checked("districts"), area: areaGeometry(), organisations: checked("organisations"),
      departments: checked("departments"), layers: checked("layers"),
    };
    const response = await app.api("PUT", "/api/subscriptions", body);
    $("watch-status").textContent = response.status === 200 ? t.saved
      : app.format(t.error, { detail: app.problemText(response.data) || String(response.status) });
  }

  return { start };
})();
