/* ZUGABE web map: the planner's client of the JSON API, started on a folium/Leaflet map.
 *
 * Data is loaded by bounding box whenever the view changes: projects (as clustered points
 * when more than CLUSTER_ABOVE are in view, else their geometries), coordination cases
 * (overlap shapes, coloured by relation) and the thematic layers switched on.
 *
 * Every user-supplied string reaches the page through textContent (the el() helper) or as
 * a DOM node handed to Leaflet; never through innerHTML or an HTML string, so a title like
 * <img src=x onerror=alert(1)> shows as text.
 *
 * Who is signed in comes from GET /api/me: the display name, what the panel may offer
 * (its "permissions": the server still checks every request) and the CSRF token that every
 * write of this session sends as X-CSRFToken. A 401 (the session ended) leads to the
 * login page and back here; a 403 shows the server's reason in the message box. */
"use strict";

const ZugabeMap = (() => {
  const TEXTS = {
    de: {
      switch: "English", api_docs: "API", strategies: "Strategien", sign_out: "Abmelden",
      sign_in: "Anmelden", good_practice: "Gute Beispiele", good_practice_propose: "Vorschlagen",
      signed_in_as: "Angemeldet als {username}", not_signed_in: "Nicht angemeldet",
      reload: "Neu laden", close: "Schließen", filters: "Filter", layers: "Themenkarten",
      organisation: "Organisation", department: "Fachbereich", status: "Status",
      measure_type: "Maßnahmenart", year_from: "ab Jahr", year_to: "bis Jahr", all: "alle",
      title: "Titel", start: "Beginn", end: "Ende", contact: "Kontakt",
      cost_eur: "Kosten (EUR)", description: "Beschreibung", save: "Speichern",
      edit: "Bearbeiten", edit_geometry: "Geometrie bearbeiten", delete: "Löschen",
      cancel: "Abbrechen", cases: "Koordinierungsfälle", no_cases: "Keine Koordinierungsfälle.",
      new_status: "Neuer Status", change_status: "Status ändern",
      comments: "Kommentare", comment: "Kommentar", add_comment: "Kommentar hinzufügen",
      history: "Verlauf", legend: "Legende", fact_sheet: "Projektkennblatt",
      checklist: "Checkliste",
      draw_hint: "Zeichnen Sie eine Maßnahme mit den Werkzeugen links oben auf der Karte " +
        "(Linie, Fläche oder Punkt) oder klicken Sie eine Maßnahme an.",
      view_hint: "Klicken Sie eine Maßnahme oder einen Koordinierungsfall an, um Einzelheiten zu sehen.",
      new_project: "Neue Maßnahme", edit_project: "Maßnahme bearbeiten",
      projects_in_view: "{n} Maßnahmen im Ausschnitt", clustered: " (zusammengefasst)",
      zoom_in: "(hineinzoomen: {n} von {total})", saved: "Gespeichert: {title}.",
      cases_appeared: "Neue Fälle: {list}.", cases_gone: "Entfallene Fälle: {list}.",
      outputs: "Berichte und Export", organisation_report: "Bericht der Organisation",
      export_gpkg: "GeoPackage für QGIS", export_projects: "Maßnahmen als CSV",
      export_cases: "Koordinierungsfälle als CSV",
      checklist_overview: "Wassersensible Bebauungspläne der Region",
      deleted: "Gelöscht: {title}.", confirm_delete: "Maßnahme „{title}“ wirklich löschen?",
      stale: "Diese Maßnahme wurde inzwischen von jemand anderem geändert. Laden Sie die " +
        "aktuelle Fassung neu und tragen Sie Ihre Änderung erneut ein.",
      stale_case: "Der Fall wurde inzwischen geändert; er wurde neu geladen.",
      error: "Fehler: {detail}", network: "Der Server ist nicht erreichbar.",
      forbidden: "Nicht erlaubt: {detail}",
      need_title: "Bitte einen Titel eingeben.", need_choice: "Bitte auswählen.",
      end_before_start: "Das Ende liegt vor dem Beginn.", negative: "Darf nicht negativ sein.",
      need_geometry: "Bitte zuerst eine Geometrie auf der Karte zeichnen.",
      relation_conflict: "Konflikt", relation_synergy: "Synergie", relation_note: "Hinweis",
      relation: "Beziehung", case_status: "Fallstatus", live_cases: "noch nicht vereinbart",
      cases_in_view: "{n} Koordinierungsfälle im Ausschnitt",
      severity: "Schwere", severity_low: "gering", severity_medium: "mittel",
      severity_high: "hoch", involved: "Beteiligte", window: "Zeitraum",
      overlap_area_m2: "Überlagerung (m²)", overlap_length_m: "Überlagerung (m)",
      distance_m: "Abstand (m)", overlap_days: "gemeinsame Tage", gap_months: "Abstand (Monate)",
      case_of: "Fall {id}",
      version: "Version",
      updated: "Geändert", by: "von",
      import: "Daten importieren", import_target: "Ziel", import_projects: "Maßnahmenliste",
      import_file: "Datei", source_crs: "Koordinatensystem (falls die Datei keines nennt)",
      dry_run: "nur prüfen", start_import: "Importieren",
      import_need_file: "Bitte eine Datei wählen.", import_sent: "Datei wird hochgeladen …",
      import_queued: "Wartet auf einen laufenden Import …",
      import_running: "In Arbeit: {done} von {total} …",
      import_layer_done: "{layer}: Version {version} mit {count} Objekten gespeichert " +
        "({refused} Zeilen abgewiesen).",
      import_projects_done: "Gespeichert: {imported} neue, {updated} geänderte Maßnahmen " +
        "({unchanged_rows} unverändert).",
      import_projects_dry: "Prüfung: {new_rows} neu, {changed_rows} geändert, " +
        "{unchanged_rows} unverändert, {invalid_rows} Zeilen mit Fehlern; nichts gespeichert.",
      also_here: "Hier liegt auch:", search_placeholder: "Straße, Stadtteil oder Maßnahme suchen",
      search_none: "Nichts gefunden.", kind_street: "Straße", kind_district: "Stadtteil",
      kind_project: "Maßnahme", show_map: "Karte", show_list: "Liste",
    },
    en: {
      switch: "Deutsch", api_docs: "API", strategies: "Strategies", sign_out: "Sign out",
      sign_in: "Sign in", good_practice: "Good practice", good_practice_propose: "Propose",
      signed_in_as: "Signed in as {username}", not_signed_in: "Not signed in",
      reload: "Reload", close: "Close", filters: "Filters", layers: "Thematic layers",
      organisation: "Organisation", department: "Department", status: "Status",
      measure_type: "Measure type", year_from: "from year", year_to: "to year", all: "all",
      title: "Title", start: "Start", end: "End", contact: "Contact",
      cost_eur: "Cost (EUR)", description: "Description", save: "Save",
      edit: "Edit", edit_geometry: "Edit geometry", delete: "Delete",
      cancel: "Cancel", cases: "Coordination cases", no_cases: "No coordination cases.",
      new_status: "New status", change_status: "Change status",
      comments: "Comments", comment: "Comment", add_comment: "Add comment",
      history: "History", legend: "Legend", fact_sheet: "Fact sheet",
      checklist: "Checklist",
      draw_hint: "Draw a project with the tools at the top left of the map (line, area or " +
        "point), or click a project.",
      view_hint: "Click a project or a coordination case to see its details.",
      new_project: "New project", edit_project: "Edit project",
      projects_in_view: "{n} projects in view", clustered: " (clustered)",
      zoom_in: "(zoom in: {n} of {total})", saved: "Saved: {title}.",
      cases_appeared: "New cases: {list}.", cases_gone: "Cases gone: {list}.",
      outputs: "Reports and exports", organisation_report: "Report of the organisation",
      export_gpkg: "GeoPackage for QGIS", export_projects: "Projects as CSV",
      export_cases: "Coordination cases as CSV",
      checklist_overview: "Water-sensitive development plans of the region",
      deleted: "Deleted: {title}.", confirm_delete: "Really delete the project “{title}”?",
      stale: "Someone else changed this project in the meantime. Reload the current " +
        "version and enter your change again.",
      stale_case: "The case was changed in the meantime; it has been reloaded.",
      error: "Error: {detail}", network: "The server cannot be reached.",
      forbidden: "Not allowed: {detail}",
      need_title: "Please enter a title.", need_choice: "Please choose.",
      end_before_start: "The end is before the start.", negative: "Must not be negative.",
      need_geometry: "Please draw a geometry on the map first.",
      relation_conflict: "Conflict", relation_synergy: "Synergy", relation_note: "Note",
      relation: "Relation", case_status: "Case status", live_cases: "not yet agreed",
      cases_in_view: "{n} coordination cases in view",
      severity: "Severity", severity_low: "low", severity_medium: "medium",
      severity_high: "high", involved: "Involved", window: "Period",
      overlap_area_m2: "Overlap (m²)", overlap_length_m: "Overlap (m)",
      distance_m: "Distance (m)", overlap_days: "Shared days", gap_months: "Gap (months)",
      case_of: "Case {id}",
      version: "Version",
      updated: "Changed", by: "by",
      import: "Import data", import_target: "Into", import_projects: "Project list",
      import_file: "File", source_crs: "Coordinate system (if the file names none)",
      dry_run: "check only", start_import: "Import",
      import_need_file: "Please choose a file.", import_sent: "Uploading the file …",
      import_queued: "Waiting for a running import …",
      import_running: "Working: {done} of {total} …",
      import_layer_done: "{layer}: version {version} stored with {count} features " +
        "({refused} rows refused).",
      import_projects_done: "Stored: {imported} new, {updated} changed projects " +
        "({unchanged_rows} unchanged).",
      import_projects_dry: "Check: {new_rows} new, {changed_rows} changed, " +
        "{unchanged_rows} unchanged, {invalid_rows} rows with problems; nothing stored.",
      also_here: "Also here:", search_placeholder: "Find a street, district or project",
      search_none: "Nothing found.", kind_street: "Street", kind_district: "District",
      kind_project: "Project", show_map: "Map", show_list: "List",
    },
  };
  // Subject A and subject B of an open case: a solid and a dashed black outline (told apart
  // by their line, not by a colour, which a department or relation may already stand for).
  const SUBJECT_OUTLINES = [
    { color: "#000", weight: 4 },
    { color: "#000", weight: 4, dashArray: "10 6" },
  ];
  const PANES = {
    "zugabe-projects": 410, "zugabe-cases": 420, "zugabe-highlight": 430, "zugabe-labels": 440,
  };
  const NARROW = window.matchMedia("(max-width: 700px)"); // a phone: map and list take turns
  const TOLERANCE = L.Browser.touch ? 10 : 4; // px beside a drawn line that still count as on it
  const CLUSTER_ABOVE = 1500; // projects in view above which they are drawn as clusters
  const PAGE = 1000; // features per request (the API's largest page by default)
  const BASE_LAYERS = ["districts", "streets"]; // shown at start without a base map

  const state = {
    map: null, drawnItems: null, lang: "de", t: TEXTS.de, vocab: null, layers: [],
    labels: {}, colors: null, shown: new Set(), groups: {}, notes: {},
    projects: null, clusters: null, cases: null, highlight: null,
    current: null, draft: null, openCase: null, generation: 0, pending: 0, clustering: false,
    prefetched: null, me: null, drawControl: null, signingIn: false, renderers: {},
  };
  const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
  const CSRF_PROBLEM = "/problems/csrf"; // the problem type of a refused CSRF token

  // ------------------------------------------------------------------ helpers

  function el(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function $(id) { return document.getElementById(id); }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  }

  /** A case status in the page's language, as the server names it (GET /api/vocab). */
  function caseStatusLabel(key) {
    const status = state.vocab.case_desk.statuses.find((s) => s.key === key);
    return status ? status[state.lang] || status.de : key;
  }

  /** The statuses the map shows unless asked for more: live and not yet agreed. */
  function casesNeedingAction() {
    return state.vocab.case_desk.statuses.filter((s) => s.needs_action).map((s) => s.key).join(",");
  }

  function label(kind, key) {
    const entry = state.labels[kind] && state.labels[kind][key];
    return entry ? entry[state.lang] || entry.de : key;
  }

  function busy(delta) {
    state.pending += delta;
    document.body.dataset.loading = state.pending > 0 ? "true" : "false";
  }

  /** A request to the JSON API with the session cookie; writes carry the CSRF token.
   * A 401 (signed out meanwhile) goes to the login page: the promise then never settles.
   * A write refused for its CSRF token is sent once more with the session's current one. */
  async function api(method, path, body, headers, retried) {
    // The server words its problems in the page's language (zugabe.messages).
    const options = {
      method,
      credentials: "same-origin",
      // The page's language: the server words history entries, reasons and problems in it.
      headers: { Accept: "application/json", "Accept-Language": state.lang, ...(headers || {}) },
    };
    if (!SAFE_METHODS.has(method) && state.me && state.me.csrf_token) {
      options.headers["X-CSRFToken"] = state.me.csrf_token;
    }
    if (body instanceof FormData) {
      options.body = body; // an upload: the browser sets the multipart Content-Type
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    busy(1);
    try {
      const response = await fetch(path, options);
      if (response.status === 401) {
        signInAgain();
        return new Promise(() => {});
      }
      const text = await response.text();
      const data = text ? JSON.parse(text) : null;
      if (response.status === 403 && !retried && !SAFE_METHODS.has(method) &&
          data && data.type === CSRF_PROBLEM && await renewToken()) {
        return api(method, path, body, headers, true);
      }
      return {
        status: response.status, data, etag: response.headers.get("ETag"),
        location: response.headers.get("Location"),
      };
    } catch (error) {
      say(state.t.network);
      throw error;
    } finally {
      busy(-1);
    }
  }

  /** The session's CSRF token once more, after the server refused the one this page holds
   * (the session was renewed, say by signing in again in another tab). True when the same
   * person is still signed in; when another one is, the page starts again as them. */
  async function renewToken() {
    const response = await api("GET", "/api/me");
    if (response.status !== 200) return false;
    if (state.me && response.data.username !== state.me.username) {
      window.location.reload();
      return new Promise(() => {});
    }
    state.me = response.data;
    const field = document.querySelector("#sign-out-form input[name=csrf_token]");
    if (field) field.value = state.me.csrf_token || "";
    return Boolean(state.me.csrf_token);
  }

  /** To the login page, and back to this view (path, language and #zoom/lat/lon) after it. */
  function signInAgain() {
    if (state.signingIn) return;
    state.signingIn = true;
    const params = new URLSearchParams({
      next: window.location.pathname + window.location.search + window.location.hash,
    });
    if (state.lang === "en") params.set("lang", "en");
    window.location.assign(`/login?${params}`);
  }

  /** An error answer in the message box: a refusal (403) with the server's reason. */
  function sayProblem(response) {
    const template = response.status === 403 ? state.t.forbidden : state.t.error;
    say(format(template, { detail: problemText(response.data) || String(response.status) }));
  }

  function say(text, withReload) {
    $("message-text").textContent = text;
    $("reload").hidden = !withReload;
    $("message").hidden = false;
  }

  function problemText(data) {
    if (!data) return "";
    const details = (data.errors || []).map((e) => `${e.pointer || "/"}: ${e.detail}`);
    return [data.detail || data.title || "", ...details].filter(Boolean).join(" — ");
  }

  function bboxParam() {
    const b = state.map.getBounds();
    const clamp = (v, low, high) => Math.min(Math.max(v, low), high);
    return [
      clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
      clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90),
    ].map((v) => v.toFixed(6)).join(",");
  }

  function filterParams() {
    const params = new URLSearchParams();
    for (const name of ["organisation", "department", "status"]) {
      const value = $(`filter-${name}`).value;
      if (value) params.set(name, value);
    }
    const from = parseInt($("filter-from").value, 10);
    const to = parseInt($("filter-to").value, 10);
    if (from) params.set("from", `${from}-01-01`);
    if (to) params.set("to", `${to}-12-31`);
    return params;
  }

  function fillSelect(select, entries, withAll) {
    select.replaceChildren();
    if (withAll) select.append(el("option", { value: "" }, state.t.all));
    for (const [value, text] of entries) select.append(el("option", { value }, text));
  }


  // ------------------------------------------------------------------ start

  async function start(map, drawnItems) {
    state.map = map;
    state.drawnItems = drawnItems;
    state.lang = $("panel").dataset.lang === "en" ? "en" : "de";
    state.t = TEXTS[state.lang];
    document.documentElement.lang = state.lang;
    if (state.lang === "de") germanDrawTools();
    for (const node of document.querySelectorAll("[data-t]")) {
      node.textContent = state.t[node.dataset.t] || node.dataset.t;
    }
    // The drawing tools only for those who may create projects (known from /api/me).
    state.drawControl = findDrawControl(drawnItems);
    if (state.drawControl) map.removeControl(state.drawControl);
    else for (const node of document.querySelectorAll(".leaflet-draw")) node.hidden = true;
    busy(0);
    const viewInAddress = restoreView();
    if (!viewInAddress) fitToRegion();
    // Who is signed in (what the panel offers depends on it), the vocabulary and the layers,
    // side by side; the session cookie has carried the CSRF token since the sign-in.
    const requests = [api("GET", "/api/me"), api("GET", "/api/vocab"), api("GET", "/api/layers")];
    // The view is known before the vocabulary: ask for its projects at once (no filters yet).
    if (viewInAddress) prefetchPoints(pointsPath(new URLSearchParams({ bbox: bboxParam() })));
    const [me, vocab, layers] = await Promise.all(requests);
    const failed = [me, vocab, layers].find((r) => r.status !== 200);
    if (failed) { sayProblem(failed); return; }
    state.me = me.data;
    showAccount();
    // Proposing good practice: the rights of commenting a case (the server still checks).
    $("good-practice-propose").hidden = !permissions().comment_cases;
    const mayCreate = Boolean(permissions().create_projects);
    if (mayCreate && state.drawControl) state.drawControl.addTo(map);
    else if (mayCreate) for (const node of document.querySelectorAll(".leaflet-draw")) node.hidden = false;
    $("hint-text").textContent = mayCreate ? state.t.draw_hint : state.t.view_hint;
    state.vocab = vocab.data;
    state.layers = layers.data.layers;
    for (const kind of ["organisations", "departments", "measure_types", "statuses"]) {
      state.labels[kind] = Object.fromEntries(state.vocab[kind].map((v) => [v.key, v.labels]));
    }
    state.colors = state.vocab.colors; // the palette, served with the vocabulary
    buildFilters();
    buildOutputs();
    buildForm();
    buildLegend();
    buildLayerList();
    // Fixed drawing order, whatever loads first: layers (overlayPane, 400) < projects < cases
    // (translucent, so a conflict is never hidden under a project, nor the project under it)
    // < highlights < names. What the pointer reaches is decided by ZugabePick, not by the
    // order of the canvases.
    for (const [pane, z] of Object.entries(PANES)) map.createPane(pane).style.zIndex = z;
    state.projects = L.featureGroup().addTo(map);
    state.clusters = L.markerClusterGroup({
      chunkedLoading: true,
      chunkDelay: 10, // ms between chunks of 200 ms work: the page stays responsive
      showCoverageOnHover: false,
      // Clusters are built in chunks, between frames: loading lasts until the last one.
      chunkProgress: (done, total) => { if (done === total) clustersBuilt(); },
    });
    state.clusters.addTo(map);
    state.cases = L.featureGroup().addTo(map);
    state.highlight = L.featureGroup().addTo(map);
    if (!viewInAddress) fitToData();
    saveView();
    // Wired once the view is set: the first view is loaded once, by the call below.
    map.on("moveend", () => { saveView(); reload(); });
    if (mayCreate) map.on(L.Draw.Event.CREATED, (event) => startDraft(event.layer));
    wireButtons();
    wireViewToggle();
    ZugabePick.start({
      map, el, t: state.t, sources: pickSources, label: pickLabel, tooltip: pickTooltip,
      details: pickDetails, activate: pickActivate,
    });
    ZugabeFind.start({
      map, api, el, t: state.t, groups: () => state.groups, shown: () => state.shown,
      pane: "zugabe-labels", showProject, onChosen: () => showView("map"),
    });
    ZugabeImport.start({
      api, el, format, problemText, permissions, reload, t: state.t, layers: state.layers,
      label: (text) => text[state.lang] || text.de,
    });
    ZugabeDesk.start({
      api, el, format, say, problemText, permissions, reload, showCase, caseStatusLabel,
      lang: state.lang, me: state.me, vocab: state.vocab, t: state.t,
      organisation: (key) => label("organisations", key),
      department: (key) => label("departments", key),
      zoomTo: (geometry) => { if (geometry) map.fitBounds(L.geoJSON(geometry).getBounds(), { maxZoom: 18 }); },
    });
    ZugabeNotifications.start({
      api, el, format, problemText, map, lang: state.lang, vocab: state.vocab, layers: state.layers,
      label: (text) => text[state.lang] || text.de, showCase, showProject,
    });
    await reload();
  }

  /** folium's Leaflet.draw control of this map: a page global whose feature group is ours. */
  function findDrawControl(drawnItems) {
    for (const key of Object.keys(window)) {
      if (!key.startsWith("draw_control_")) continue;
      const control = window[key];
      if (control instanceof L.Control.Draw && control.options.edit.featureGroup === drawnItems) {
        return control;
      }
    }
    return null;
  }

  // ------------------------------------------------------------------ who is signed in

  function permissions() { return (state.me && state.me.permissions) || {}; }

  /** Within a permission's list; null means every one (a region admin). */
  function within(allowed, key) { return allowed === null || (Array.isArray(allowed) && allowed.includes(key)); }

  function mayChangeProject(properties) {
    const m = permissions();
    return Boolean(m.create_projects) && within(m.project_organisations, properties.organisation) &&
      within(m.project_departments, properties.department);
  }

  /** Case review and comments: cases that involve one's organisation (a region admin: all). */
  function caseInvolvesMe(properties) {
    if (permissions().project_organisations === null) return true;
    const mine = state.me && state.me.organisation;
    return Boolean(mine) && properties.organisations.includes(mine);
  }

  function mayReviewCase(properties) { return Boolean(permissions().review_cases) && caseInvolvesMe(properties); }

  function mayCommentCase(properties) { return Boolean(permissions().comment_cases) && caseInvolvesMe(properties); }

  /** The signed-in name and a sign-out button (a POST form carrying the CSRF token). */
  function showAccount() {
    const me = state.me;
    const box = $("account");
    box.replaceChildren();
    const langQuery = state.lang === "en" ? "?lang=en" : "";
    if (me.authenticated && me.via === "session") {
      const name = el("span", { id: "account-name", class: "name", title: format(state.t.signed_in_as, { username: me.username }) }, me.display_name || me.username);
      const form = el("form", { id: "sign-out-form", method: "post", action: `/logout${langQuery}` });
      form.append(el("input", { type: "hidden", name: "csrf_token", value: me.csrf_token || "" }));
      form.append(el("button", { type: "submit", id: "sign-out" }, state.t.sign_out));
      box.append(name, form);
    } else if (me.authenticated) {
      box.append(el("span", { id: "account-name", class: "name" }, me.display_name || me.username));
    } else {
      // Public reading (setting public_read): nobody signed in, and a way to do so.
      box.append(el("span", { id: "account-name", class: "name" }, state.t.not_signed_in));
      const link = el("a", { id: "sign-in", href: "/login" }, state.t.sign_in);
      link.addEventListener("click", (event) => { event.preventDefault(); signInAgain(); });
      box.append(link);
    }
    box.hidden = false;
  }

  /** Leaflet.draw speaks English only: the German texts of the tools used here. */
  function germanDrawTools() {
    const draw = L.drawLocal.draw;
    Object.assign(draw.toolbar.buttons, {
      polyline: "Linie zeichnen", polygon: "Fläche zeichnen", marker: "Punkt setzen",
    });
    Object.assign(draw.toolbar.actions, { title: "Zeichnen abbrechen", text: "Abbrechen" });
    Object.assign(draw.toolbar.finish, { title: "Zeichnen beenden", text: "Fertig" });
    Object.assign(draw.toolbar.undo, { title: "Letzten Punkt löschen", text: "Letzten Punkt löschen" });
    draw.handlers.marker.tooltip.start = "Klicken Sie auf die Karte, um den Punkt zu setzen.";
    Object.assign(draw.handlers.polyline.tooltip, {
      start: "Klicken Sie, um die Linie zu beginnen.",
      cont: "Klicken Sie, um die Linie fortzusetzen.",
      end: "Klicken Sie auf den letzten Punkt, um die Linie zu beenden.",
    });
    draw.handlers.polyline.error = "<strong>Fehler:</strong> Linien dürfen sich nicht kreuzen.";
    Object.assign(draw.handlers.polygon.tooltip, {
      start: "Klicken Sie, um die Fläche zu beginnen.",
      cont: "Klicken Sie, um die Fläche fortzusetzen.",
      end: "Klicken Sie auf den ersten Punkt, um die Fläche zu schließen.",
    });
  }

  /** The view in the address (#zoom/lat/lon), kept across reloads and the language switch. */
  function restoreView() {
    const match = /^#(\d+)\/(-?[\d.]+)\/(-?[\d.]+)$/.exec(window.location.hash);
    if (match) state.map.setView([+match[2], +match[3]], +match[1], { animate: false });
    return Boolean(match);
  }

  /** Open on the configured region (region_bbox, west,south,east,north in the panel). */
  function fitToRegion() {
    const [w, s, e, n] = $("panel").dataset.region.split(",").map(Number);
    state.map.fitBounds([[s, w], [n, e]], { animate: false });
  }

  /** Narrow the start view to the districts (or else any stored layer) once they are known. */
  function fitToData() {
    const stored = state.layers.filter((l) => l.stored && l.stored.extent);
    const layer = stored.find((l) => l.key === "districts") || stored[0];
    if (layer) {
      const [w, s, e, n] = layer.stored.extent;
      state.map.fitBounds([[s, w], [n, e]], { animate: false });
    }
  }

  function saveView() {
    const c = state.map.getCenter();
    const hash = `#${state.map.getZoom()}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`;
    history.replaceState(null, "", hash);
    $("lang-switch").href = `?lang=${state.lang === "en" ? "de" : "en"}${hash}`;
  }

  function buildFilters() {
    const v = state.vocab;
    fillSelect($("filter-organisation"), v.organisations.map((o) => [o.key, label("organisations", o.key)]), true);
    fillSelect($("filter-department"), v.departments.map((d) => [d.key, label("departments", d.key)]), true);
    fillSelect($("filter-status"), v.statuses.map((s) => [s.key, label("statuses", s.key)]), true);
    const relations = Object.keys(state.colors.relations);
    fillSelect($("filter-relation"), relations.map((r) => [r, state.t[`relation_${r}`] || r]), true);
    fillSelect($("filter-case-status"), [
      [casesNeedingAction(), state.t.live_cases],
      ...state.vocab.case_desk.statuses.map((s) => [s.key, caseStatusLabel(s.key)]),
    ], false);
    const ids = ["filter-organisation", "filter-department", "filter-status", "filter-from",
      "filter-to", "filter-relation", "filter-case-status"];
    for (const id of ids) $(id).addEventListener("change", () => reload());
  }

  /** Links to the reports and exports: the organisation's report (the user's own first). */
  function buildOutputs() {
    const select = $("report-organisation");
    fillSelect(select, state.vocab.organisations.map((o) => [o.key, label("organisations", o.key)]), false);
    if (state.me && state.me.organisation) select.value = state.me.organisation;
    const update = () => {
      $("report-link").href = `/reports/organisations/${encodeURIComponent(select.value)}?lang=${state.lang}`;
    };
    select.addEventListener("change", update);
    update();
    $("checklist-overview").href = `/reports/checklists?lang=${state.lang}`;
  }

  /** The case filters: relation, status and the years, which apply to cases too. */
  function caseParams(bbox) {
    const params = new URLSearchParams({ bbox, status: $("filter-case-status").value, limit: PAGE });
    const relation = $("filter-relation").value;
    if (relation) params.set("relation", relation);
    const years = filterParams();
    for (const name of ["from", "to"]) if (years.has(name)) params.set(name, years.get(name));
    return params;
  }

  function buildLegend() {
    const departments = $("legend-departments");
    for (const d of state.vocab.departments) {
      const item = el("li");
      item.append(el("span", { class: "swatch", style: `background:${state.colors.departments[d.key]}` }));
      item.append(document.createTextNode(label("departments", d.key)));
      departments.append(item);
    }
    const relations = $("legend-relations");
    for (const [relation, color] of Object.entries(state.colors.relations)) {
      const item = el("li");
      item.append(el("span", { class: "swatch case", style: `border-color:${color}` }));
      item.append(document.createTextNode(state.t[`relation_${relation}`]));
      relations.append(item);
    }
  }

  // ------------------------------------------------------------------ thematic layers

  function count(layer) { return layer.stored ? layer.stored.feature_count : 0; }

  function buildLayerList() {
    const list = $("layer-list");
    const themes = {};
    for (const layer of state.layers) (themes[layer.theme] ||= []).push(layer);
    const withoutBasemap = $("panel").dataset.basemap !== "yes";
    for (const [theme, layers] of Object.entries(themes)) {
      const group = el("fieldset", { class: "theme" });
      group.append(el("legend", {}, theme));
      for (const layer of layers) {
        const id = `layer-${layer.key}`;
        const row = el("div", { class: "layer" });
        const box = el("input", { type: "checkbox", id, "data-layer": layer.key });
        if (!count(layer)) box.disabled = true;
        if (count(layer) && withoutBasemap && BASE_LAYERS.includes(layer.key)) {
          box.checked = true;
          state.shown.add(layer.key);
        }
        box.addEventListener("change", () => {
          if (box.checked) state.shown.add(layer.key);
          else state.shown.delete(layer.key);
          reload();
        });
        const text = el("label", { for: id }, layer.title[state.lang] || layer.title.de);
        const note = el("span", { class: "note" }, count(layer) ? "" : " (–)");
        state.notes[layer.key] = note;
        row.append(box, text, note);
        if (layer.classify) {
          const legend = el("ul", { class: "classes" });
          for (const c of layer.classify.classes) {
            const item = el("li");
            item.append(el("span", { class: "swatch", style: `background:${c.color}` }));
            item.append(document.createTextNode(c.label[state.lang] || c.label.de));
            legend.append(item);
          }
          row.append(legend);
        }
        group.append(row);
      }
      list.append(group);
    }
    const themeTitles = { base: { de: "Grundlagen", en: "Base" }, drainage: { de: "Entwässerung", en: "Drainage" }, green: { de: "Grün und Klima", en: "Green and climate" } };
    for (const legend of list.querySelectorAll("legend")) {
      const titles = themeTitles[legend.textContent];
      if (titles) legend.textContent = titles[state.lang];
    }
  }

  /** One canvas per pane, each with the pointer's tolerance (ZugabePick asks the shapes). */
  function renderer(pane) {
    state.renderers[pane] ||= L.canvas({ pane, tolerance: TOLERANCE });
    return state.renderers[pane];
  }

  function layerStyle(layer, properties) {
    const style = layer.style;
    let color = style.fill_color;
    if (layer.classify) {
      const value = properties[layer.classify.attribute];
      for (const c of layer.classify.classes) {
        const hit = "value" in c ? c.value === value
          : value !== null && value !== undefined && (c.min === null || value >= c.min) && (c.max === null || value < c.max);
        if (hit) { color = c.color; break; }
      }
    }
    // Base layers (districts, streets) stay in the background: fainter, so that the red of
    // a main road is not taken for the red of a conflict.
    const faint = layer.theme === "base" ? 0.45 : 1;
    return {
      color: layer.geometry_types.includes("Point") ? style.stroke_color : (layer.classify ? color : style.stroke_color),
      weight: style.stroke_width, opacity: style.stroke_opacity * faint,
      fillColor: color, fillOpacity: style.fill_opacity, radius: style.point_radius,
      renderer: renderer("overlayPane"),
    };
  }

  async function loadLayer(layer, bbox, generation) {
    const path = `/api/layers/${encodeURIComponent(layer.key)}/features?bbox=${bbox}&limit=${PAGE}`;
    const response = await api("GET", path);
    if (generation !== state.generation || response.status !== 200) return;
    const group = state.groups[layer.key] || (state.groups[layer.key] = L.featureGroup());
    group.clearLayers();
    L.geoJSON(response.data, {
      style: (f) => layerStyle(layer, f.properties),
      pointToLayer: (f, latlng) => L.circleMarker(latlng, layerStyle(layer, f.properties)),
    }).addTo(group);
    group.addTo(state.map);
    group.bringToBack();
    const { numberMatched: total, numberReturned: n } = response.data;
    state.notes[layer.key].textContent = total > n ? ` ${format(state.t.zoom_in, { n, total })}` : "";
  }

  // ------------------------------------------------------------------ projects and cases

  async function reload() {
    if (!state.vocab) return;
    const generation = ++state.generation;
    const bbox = bboxParam();
    const filters = filterParams();
    const jobs = [loadProjects(bbox, filters, generation), loadCases(bbox, generation)];
    for (const layer of state.layers) {
      if (state.shown.has(layer.key)) jobs.push(loadLayer(layer, bbox, generation));
      else if (state.groups[layer.key]) state.groups[layer.key].remove();
    }
    await Promise.all(jobs);
    if (generation === state.generation) ZugabeFind.label();
  }

  function projectStyle(properties) {
    const color = state.colors.departments[properties.department] ?? state.colors.other;
    return {
      color, weight: 4, opacity: 0.9, fillColor: color, fillOpacity: 0.25, radius: 7,
      pane: "zugabe-projects", renderer: renderer("zugabe-projects"),
    };
  }

  async function loadProjects(bbox, filters, generation) {
    filters.set("bbox", bbox);
    const path = pointsPath(filters);
    const early = state.prefetched;
    state.prefetched = null;
    const points = await (early && early.path === path ? early.response : api("GET", path));
    if (generation !== state.generation || points.status !== 200) return;
    const rows = points.data.points;
    const clustered = rows.length > CLUSTER_ABOVE;
    $("project-count").textContent = format(state.t.projects_in_view, { n: rows.length }) +
      (clustered ? state.t.clustered : "");
    if (clustered) {
      state.projects.clearLayers();
      state.clusters.clearLayers();
      if (!state.clustering) { state.clustering = true; busy(1); }
      state.clusters.addLayers(rows.map(([id, lon, lat, , department]) => {
        const marker = L.circleMarker([lat, lon], projectStyle({ department }));
        marker.feature = { id, properties: {} }; // what ZugabePick opens
        return marker;
      }));
      return;
    }
    const features = [];
    let next = `/api/projects?${filters}&limit=${PAGE}`;
    while (next) {
      const page = await api("GET", next);
      if (generation !== state.generation || page.status !== 200) return;
      features.push(...page.data.features);
      const link = page.data.links.find((l) => l.rel === "next");
      next = link ? link.href : null;
    }
    state.clusters.clearLayers();
    state.projects.clearLayers();
    L.geoJSON({ type: "FeatureCollection", features }, {
      pane: "zugabe-projects",
      style: (f) => projectStyle(f.properties),
      pointToLayer: (f, latlng) => L.circleMarker(latlng, projectStyle(f.properties)),
    }).addTo(state.projects);
  }

  function pointsPath(params) { return `/api/projects/points?${params}`; }

  function prefetchPoints(path) { state.prefetched = { path, response: api("GET", path) }; }

  function clustersBuilt() {
    if (state.clustering) { state.clustering = false; busy(-1); }
  }

  async function loadCases(bbox, generation) {
    const response = await api("GET", `/api/cases?${caseParams(bbox)}`);
    if (generation !== state.generation || response.status !== 200) return;
    state.cases.clearLayers();
    drawCases(response.data.features, state.cases, false);
    $("case-count").textContent = format(state.t.cases_in_view, { n: response.data.numberMatched });
  }

  function drawCases(features, group, emphasised) {
    L.geoJSON({ type: "FeatureCollection", features: features.filter((f) => f.geometry) }, {
      pane: emphasised ? "zugabe-highlight" : "zugabe-cases",
      style: (f) => caseStyle(f.properties.relation, emphasised),
      pointToLayer: (f, latlng) => L.circleMarker(latlng, caseStyle(f.properties.relation, emphasised)),
    }).addTo(group);
  }

  function relationColor(relation) {
    return state.colors.relations[relation] ?? state.colors.other;
  }

  /** Above the projects, wider and translucent: the project's own line shows through. */
  function caseStyle(relation, emphasised) {
    const color = relationColor(relation);
    return {
      color, weight: emphasised ? 10 : 8, opacity: 0.6, dashArray: relation === "note" ? "6 6" : null,
      fillColor: color, fillOpacity: 0.2, radius: 9,
      pane: emphasised ? "zugabe-highlight" : "zugabe-cases",
      renderer: renderer(emphasised ? "zugabe-highlight" : "zugabe-cases"),
    };
  }

  // ------------------------------------------------------------------ under the pointer

  /** What ZugabePick looks for, first things first: projects (the narrowest lines), cases,
   * then the thematic layers, the one drawn last (on top) first. */
  function pickSources() {
    const sources = [
      { kind: "project", group: state.projects }, { kind: "project", group: state.clusters },
      { kind: "case", group: state.cases },
    ];
    for (const layer of [...state.layers].reverse()) {
      if (state.shown.has(layer.key)) sources.push({ kind: "feature", group: state.groups[layer.key], layer });
    }
    return sources;
  }

  function pickLabel({ kind, shape, layer }) {
    const f = shape.feature;
    if (kind === "project") return f.properties.title ?? format(state.t.project_ref, { id: f.id });
    if (kind === "case") {
      const p = f.properties;
      return `${state.t[`relation_${p.relation}`]}: ${p.rule_name ? p.rule_name[state.lang] : p.rule}`;
    }
    const name = f.properties.name ?? f.properties[layer.id_attribute] ?? f.id;
    return `${layer.title[state.lang] || layer.title.de}: ${name}`;
  }

  /** A project's or case's name; a layer feature's name with its key attributes. */
  function pickTooltip(hit) {
    if (hit.kind !== "feature") return el("span", {}, pickLabel(hit));
    const box = el("div", { class: "feature-tip" });
    box.append(el("strong", {}, pickLabel(hit)));
    for (const [name, value] of featureRows(hit).slice(0, 3)) box.append(el("div", {}, `${name}: ${value}`));
    return box;
  }

  /** A layer feature's attributes (projects and cases open in the panel instead). */
  function pickDetails(hit) {
    if (hit.kind !== "feature") return null;
    const box = el("div", { class: "feature-details" });
    box.append(el("h3", {}, pickLabel(hit)));
    const list = el("dl");
    for (const [name, value] of featureRows(hit)) list.append(el("dt", {}, name), el("dd", {}, value));
    box.append(list);
    return box;
  }

  function pickActivate({ kind, shape }) {
    if (kind === "project") showProject(shape.feature.id).then(() => showView("list"));
    else if (kind === "case") showCase(shape.feature.id).then(() => showView("list"));
  }

  /** A feature's non-empty attributes as [label, value], the classifying one first, with the
   * labels of the layer's definition (layers/*.toml) in the page's language. */
  function featureRows({ shape, layer }) {
    const p = shape.feature.properties;
    const number = new Intl.NumberFormat(state.lang === "en" ? "en-GB" : "de-DE", { maximumFractionDigits: 2 });
    const key = layer.classify ? layer.classify.attribute : null;
    const specs = [...layer.attributes].sort((a, b) => (b.name === key) - (a.name === key));
    const rows = [];
    for (const spec of specs) {
      const value = p[spec.name];
      if (value === null || value === undefined || value === "" || spec.name === "name") continue;
      const classLabel = key === spec.name && layer.classify.classes.find((c) => c.value === value);
      let shown = classLabel ? (classLabel.label[state.lang] || classLabel.label.de)
        : typeof value === "number" && spec.name !== layer.id_attribute ? number.format(value) : String(value);
      if (spec.unit) shown += ` ${spec.unit}`;
      rows.push([spec.label[state.lang] || spec.label.de, shown]);
    }
    return rows;
  }

  // ------------------------------------------------------------------ on a phone

  /** On a narrow screen the panel and the map take turns, switched by one button. */
  function wireViewToggle() {
    $("view-toggle").addEventListener("click", () => {
      showView(document.body.dataset.view === "list" ? "map" : "list");
    });
    showView("map");
  }

  function showView(which) {
    if (which === "list" && !NARROW.matches) return;
    document.body.dataset.view = which;
    $("view-toggle").textContent = which === "list" ? state.t.show_map : state.t.show_list;
    if (which === "map") state.map.invalidateSize();
  }

  // ------------------------------------------------------------------ viewing a project

  function show(...ids) {
    for (const id of ["hint", "project-form", "project-view", "cases-section", "case-detail"]) {
      $(id).hidden = !ids.includes(id);
    }
  }

  async function showProject(id) {
    const response = await api("GET", `/api/projects/${id}`);
    if (response.status !== 200) { sayProblem(response); return; }
    state.current = response.data;
    renderProject(response.data);
  }

  function renderProject(feature) {
    const p = feature.properties;
    $("project-title").textContent = p.title;
    $("fact-sheet").href = `/reports/projects/${feature.id}?lang=${state.lang}`;
    // A development plan has the water-sensitive planning checklist.
    $("checklist-link").hidden = p.measure_type !== "development_plan";
    $("checklist-link").href = `/checklists/projects/${feature.id}?lang=${state.lang}`;
    const data = $("project-data");
    data.replaceChildren();
    const rows = [
      ["organisation", label("organisations", p.organisation)],
      ["department", label("departments", p.department)],
      ["measure_type", label("measure_types", p.measure_type)],
      ["status", label("statuses", p.status)],
      ["start", p.start || "–"], ["end", p.end || "–"],
      ["contact", p.contact || "–"],
      ["cost_eur", p.cost_eur === null || p.cost_eur === undefined ? "–" : Number(p.cost_eur).toLocaleString(state.lang)],
      ["description", p.description || "–"],
      ["updated", `${p.updated_at.slice(0, 10)} ${state.t.by} ${p.updated_by_name || p.updated_by} (${state.t.version} ${p.version})`],
    ];
    for (const [key, value] of rows) data.append(el("dt", {}, state.t[key]), el("dd", {}, value));
    $("edit").hidden = !mayChangeProject(p);
    show("project-view", "cases-section");
    renderCases(feature.cases || []);
    state.highlight.clearLayers();
    L.geoJSON(feature.geometry, {
      pane: "zugabe-highlight",
      style: { color: "#000", weight: 3, dashArray: "4 4", fill: false },
    })
      .addTo(state.highlight);
  }

  function renderCases(cases) {
    const list = $("cases");
    list.replaceChildren();
    $("cases-empty").hidden = cases.length > 0;
    for (const c of cases) {
      const p = c.properties;
      const item = el("li", {
        class: `case ${p.relation}`, "data-case-id": String(c.id), tabindex: "0",
        style: `border-color:${relationColor(p.relation)}`,
      });
      item.append(el("span", { class: "badge" }, state.t[`relation_${p.relation}`]));
      item.append(el("span", { class: "rule" }, p.rule_name ? p.rule_name[state.lang] : p.rule));
      item.append(el("span", { class: "state" }, caseStatusLabel(p.status)));
      item.append(el("p", { class: "message" }, p.message[state.lang] || p.message.de));
      item.addEventListener("click", () => showCase(c.id));
      item.addEventListener("keydown", (e) => { if (e.key === "Enter") showCase(c.id); });
      list.append(item);
    }
    const emphasised = L.featureGroup();
    drawCases(cases, emphasised, true);
    emphasised.eachLayer((layer) => layer.addTo(state.highlight));
  }

  // ------------------------------------------------------------------ a case

  async function showCase(id) {
    const response = await api("GET", `/api/cases/${id}`);
    if (response.status !== 200) { sayProblem(response); return; }
    state.openCase = response.data;
    const c = response.data;
    const p = c.properties;
    $("case-title").textContent = `${format(state.t.case_of, { id: c.id })} · ` +
      `${state.t[`relation_${p.relation}`]}: ${p.rule_name ? p.rule_name[state.lang] : p.rule}`;
    $("case-message").textContent = p.message[state.lang] || p.message.de;
    const data = $("case-data");
    data.replaceChildren();
    // Both subjects by name, as the server words them: a project's title, a layer feature
    // with its street ("Haltungen HE-H00605, Bahnhofstraße").
    const subject = (s) => s.label[state.lang] || s.label.de;
    const rows = [
      ["status", caseStatusLabel(p.status) + (p.status_reason ? ` – ${p.status_reason}` : "")],
      ["severity", state.t[`severity_${p.severity}`]],
      ["involved", [...p.organisations.map((o) => label("organisations", o)), ...p.departments.map((d) => label("departments", d))].join(", ")],
      ["window", `${p.window_start || "–"} – ${p.window_end || "–"}`],
    ];
    // Measures that say something, as people of the page's language write numbers.
    const number = new Intl.NumberFormat(state.lang === "en" ? "en-GB" : "de-DE", { maximumFractionDigits: 1 });
    for (const [key, value] of Object.entries(p.measures)) {
      if (typeof value === "number" && value !== 0 && state.t[key]) rows.push([key, number.format(value)]);
    }
    for (const [key, value] of rows) data.append(el("dt", {}, state.t[key]), el("dd", {}, value));
    const subjects = el("dd", { class: "subjects" });
    c.subjects.forEach((s, side) => {
      const link = el("button", { type: "button", class: `link subject-${side}` }, subject(s));
      if (s.kind === "project") link.addEventListener("click", () => showProject(Number(s.ref)));
      else link.disabled = true;
      subjects.append(link);
    });
    data.append(el("dt", {}, state.t.involved), subjects);
    // The steps by hand the server allows from this status (the others: proposal and votes).
    const manual = state.vocab.case_desk.statuses.find((s) => s.key === p.status).manual_to;
    fillSelect($("case-status"), manual.map((s) => [s, caseStatusLabel(s)]), false);
    $("case-comment").value = "";
    $("case-review").hidden = !mayReviewCase(p) || manual.length === 0;
    $("case-commenting").hidden = !mayCommentCase(p);
    // Who: the server's display name when it sends one, else the username it stored.
    const when = (entry) => `${entry.at.slice(0, 16).replace("T", " ")} ${entry.by_name || entry.by}`;
    const comments = $("case-comments");
    comments.replaceChildren(...c.comments.map((m) => el("li", {}, `${when(m)}: ${m.text}`)));
    const history = $("case-history");
    history.replaceChildren(...c.history.map((h) => el("li", {}, `${when(h)}: ${h.text}`)));
    ZugabeDesk.showCase(c, { mayReview: mayReviewCase(p) });
    $("case-detail").hidden = false;
    $("hint").hidden = true;
    state.highlight.clearLayers();
    // The two subjects outlined differently (solid and dashed), as the list marks them.
    c.subjects.forEach((s, side) => {
      const outline = SUBJECT_OUTLINES[side];
      for (const geometry of [s.geometry, s.derived_geometry]) {
        if (!geometry) continue;
        L.geoJSON(geometry, {
          pane: "zugabe-highlight",
          style: { ...outline, fillOpacity: 0.1 },
          pointToLayer: (f, latlng) => L.circleMarker(latlng, { ...outline, radius: 8, pane: "zugabe-highlight" }),
        }).addTo(state.highlight);
      }
    });
    drawCases([c], state.highlight, true);
    $("case-detail").scrollIntoView({ block: "nearest" });
  }

  async function changeCaseStatus() {
    const c = state.openCase;
    const body = { status: $("case-status").value };
    const response = await api("POST", `/api/cases/${c.id}/status`, body, { "If-Match": `"v${c.properties.version}"` });
    if (response.status === 412) say(state.t.stale_case);
    else if (response.status >= 400) sayProblem(response);
    await showCase(c.id);
    await reload();
  }

  async function addComment() {
    const c = state.openCase;
    const response = await api("POST", `/api/cases/${c.id}/comments`, { text: $("case-comment").value });
    if (response.status >= 400) sayProblem(response);
    else await showCase(c.id);
  }

  // ------------------------------------------------------------------ the form

  function buildForm() {
    const form = $("project-form");
    const v = state.vocab;
    // Only the organisations the user may plan for (null: all).
    const allowed = permissions().project_organisations;
    const organisations = v.organisations.filter((o) => within(allowed, o.key));
    fillSelect(form.elements.organisation, organisations.map((o) => [o.key, label("organisations", o.key)]), false);
    fillSelect(form.elements.status, v.statuses.map((s) => [s.key, label("statuses", s.key)]), false);
    form.elements.organisation.addEventListener("change", () => narrowForm());
    form.elements.department.addEventListener("change", () => narrowForm());
    form.addEventListener("submit", (event) => { event.preventDefault(); save(); });
  }

  /** Departments of the chosen organisation (those the user may plan for), measure types of
   * the chosen department. Keeps the department chosen, else takes ``preferred``, else the
   * user's first department, else the first one. */
  function narrowForm(preferred) {
    const form = $("project-form").elements;
    const organisation = state.vocab.organisations.find((o) => o.key === form.organisation.value);
    const allowed = permissions().project_departments;
    const departments = (organisation ? organisation.departments : []).filter((d) => within(allowed, d));
    const keepDepartment = form.department.value;
    fillSelect(form.department, departments.map((d) => [d, label("departments", d)]), false);
    const mine = (state.me && state.me.departments) || [];
    const choice = [preferred, keepDepartment, ...mine].find((d) => d && departments.includes(d));
    if (choice) form.department.value = choice;
    const department = state.vocab.departments.find((d) => d.key === form.department.value);
    const measures = department ? department.measure_types : [];
    const keepMeasure = form.measure_type.value;
    fillSelect(form.measure_type, measures.map((m) => [m, label("measure_types", m)]), false);
    if (measures.includes(keepMeasure)) form.measure_type.value = keepMeasure;
  }

  function openForm(feature) {
    const form = $("project-form");
    const fields = form.elements;
    const p = feature ? feature.properties : {};
    clearErrors();
    $("form-title").textContent = feature ? state.t.edit_project : state.t.new_project;
    fields.title.value = p.title || "";
    fields.organisation.value = p.organisation || startOrganisation();
    fields.department.value = "";
    narrowForm(p.department || null);
    if (p.measure_type) fields.measure_type.value = p.measure_type;
    fields.status.value = p.status || "planning";
    for (const name of ["start", "end", "contact", "description"]) fields[name].value = p[name] || "";
    fields.cost_eur.value = p.cost_eur === null || p.cost_eur === undefined ? "" : p.cost_eur;
    $("delete").hidden = !feature;
    $("edit-geometry").hidden = !feature;
    show("project-form");
    fields.title.focus();
  }

  /** A new project starts at the user's organisation (else the first one offered). */
  function startOrganisation() {
    const select = $("project-form").elements.organisation;
    const offered = [...select.options].map((o) => o.value);
    const mine = state.me && state.me.organisation;
    return offered.includes(mine) ? mine : offered[0] || "";
  }

  function startDraft(layer) {
    state.drawnItems.removeLayer(layer);
    discardDraft();
    state.draft = layer.addTo(state.map);
    if (!state.current || $("project-form").hidden) {
      state.current = null;
      openForm(null);
    }
  }

  function discardDraft() {
    if (state.draft) state.draft.remove();
    state.draft = null;
  }

  function editGeometry() {
    discardDraft();
    const shape = L.geoJSON(state.current.geometry).getLayers()[0];
    state.draft = shape.addTo(state.map);
    if (shape.editing) shape.editing.enable();
    else if (shape.dragging) shape.dragging.enable();
  }

  function clearErrors() {
    $("form-errors").hidden = true;
    $("form-errors").replaceChildren();
    for (const node of document.querySelectorAll("#project-form .field-error")) node.remove();
    for (const node of document.querySelectorAll("#project-form [aria-invalid]")) node.removeAttribute("aria-invalid");
  }

  function showErrors(errors) {
    clearErrors();
    const general = [];
    for (const { pointer, detail } of errors) {
      const name = (pointer || "").replace(/^\/properties\//, "").split("/")[0];
      const field = $("project-form").elements[name];
      if (field && field.tagName) {
        field.setAttribute("aria-invalid", "true");
        field.closest("label").append(el("span", { class: "field-error", "data-field": name }, detail));
      } else {
        general.push(detail);
      }
    }
    if (general.length) {
      $("form-errors").replaceChildren(...general.map((text) => el("p", {}, text)));
      $("form-errors").hidden = false;
    }
  }

  /** The checks the server makes that the form can make too, with the same pointers. */
  function check(properties, geometry) {
    const errors = [];
    if (!properties.title.trim()) errors.push({ pointer: "/properties/title", detail: state.t.need_title });
    for (const name of ["organisation", "department", "measure_type", "status"]) {
      if (!properties[name]) errors.push({ pointer: `/properties/${name}`, detail: state.t.need_choice });
    }
    if (properties.start && properties.end && properties.end < properties.start) {
      errors.push({ pointer: "/properties/end", detail: state.t.end_before_start });
    }
    if (properties.cost_eur !== null && properties.cost_eur < 0) {
      errors.push({ pointer: "/properties/cost_eur", detail: state.t.negative });
    }
    if (!geometry) errors.push({ pointer: "/geometry", detail: state.t.need_geometry });
    return errors;
  }

  async function save() {
    const fields = $("project-form").elements;
    const properties = {
      title: fields.title.value, organisation: fields.organisation.value,
      department: fields.department.value, measure_type: fields.measure_type.value,
      status: fields.status.value, start: fields.start.value || null, end: fields.end.value || null,
      contact: fields.contact.value, description: fields.description.value,
      cost_eur: fields.cost_eur.value === "" ? null : Number(fields.cost_eur.value),
    };
    const existing = state.current;
    // Not in the form: the number in the system a project came from stays as it is.
    properties.external_id = existing ? existing.properties.external_id || "" : "";
    const geometry = state.draft ? state.draft.toGeoJSON().geometry : existing && existing.geometry;
    const problems = check(properties, geometry);
    if (problems.length) { showErrors(problems); return; }
    const feature = { type: "Feature", geometry, properties };
    const response = existing
      ? await api("PUT", `/api/projects/${existing.id}`, feature, { "If-Match": `"v${existing.properties.version}"` })
      : await api("POST", "/api/projects", feature);
    if (response.status === 200 || response.status === 201) {
      discardDraft();
      const before = existing ? existing.cases || [] : [];
      state.current = response.data;
      say([format(state.t.saved, { title: response.data.properties.title }),
        ...casesChanged(before, response.data.cases || [])].join(" "));
      renderProject(response.data);
      await reload();
    } else if (response.status === 412) {
      say(state.t.stale, true);
    } else if (response.status === 422 || response.status === 400) {
      showErrors(response.data.errors && response.data.errors.length ? response.data.errors
        : [{ pointer: "", detail: problemText(response.data) }]);
    } else {
      sayProblem(response);
    }
  }

  /** What a save did to the project's cases: those that appeared and those that went away,
   * each named by its relation and rule. */
  function casesChanged(before, after) {
    const name = (c) => `${state.t[`relation_${c.properties.relation}`]} „${
      c.properties.rule_name ? c.properties.rule_name[state.lang] : c.properties.rule}“`;
    const ids = (cases) => new Set(cases.map((c) => c.id));
    const [was, now] = [ids(before), ids(after)];
    const lines = [];
    const appeared = after.filter((c) => !was.has(c.id)).map(name);
    const gone = before.filter((c) => !now.has(c.id)).map(name);
    if (appeared.length) lines.push(format(state.t.cases_appeared, { list: appeared.join(", ") }));
    if (gone.length) lines.push(format(state.t.cases_gone, { list: gone.join(", ") }));
    return lines;
  }

  async function remove() {
    const existing = state.current;
    if (!existing || !window.confirm(format(state.t.confirm_delete, { title: existing.properties.title }))) return;
    const response = await api("DELETE", `/api/projects/${existing.id}`, undefined, { "If-Match": `"v${existing.properties.version}"` });
    if (response.status === 204) {
      say(format(state.t.deleted, { title: existing.properties.title }));
      state.current = null;
      state.highlight.clearLayers();
      show("hint");
      await reload();
    } else if (response.status === 412) {
      say(state.t.stale, true);
    } else {
      sayProblem(response);
    }
  }

  async function reloadCurrent() {
    $("message").hidden = true;
    if (!state.current) return;
    const response = await api("GET", `/api/projects/${state.current.id}`);
    if (response.status !== 200) { sayProblem(response); return; }
    state.current = response.data;
    discardDraft();
    openForm(response.data);
    await reload();
  }

  function wireButtons() {
    $("edit").addEventListener("click", () => openForm(state.current));
    $("edit-geometry").addEventListener("click", editGeometry);
    $("delete").addEventListener("click", remove);
    $("cancel").addEventListener("click", () => {
      discardDraft();
      if (state.current && state.current.id) renderProject(state.current);
      else show("hint");
    });
    $("reload").addEventListener("click", reloadCurrent);
    $("message-close").addEventListener("click", () => { $("message").hidden = true; });
    $("case-status-save").addEventListener("click", changeCaseStatus);
    $("case-comment-save").addEventListener("click", addComment);
    $("case-close").addEventListener("click", () => { $("case-detail").hidden = true; });
  }

  return { start, showProject };
})();
