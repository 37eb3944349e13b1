/* ZUGABE web map: the import panel. A data steward uploads a file as a thematic layer's
 * new version, a planner a list of projects (dry run first, if they like); the upload is
 * answered at once with a job (Prefer: respond-async), whose progress shows as a bar until
 * the server says it is done or why it failed.
 *
 * ZugabeMap hands over what it shares: its API helper (session cookie, CSRF token), texts,
 * labels, permissions and a callback that reloads the map after an import. Every string
 * from the server reaches the page through textContent. */
"use strict";

const ZugabeImport = (() => {
  const POLL_MS = 400;
  const PROJECTS = "projects"; // the target value of a project list
  let app = null; // what ZugabeMap handed over in start()

  function $(id) { return document.getElementById(id); }

  function start(shared) {
    app = shared;
    const may = app.permissions();
    const targets = [];
    if (may.create_projects) targets.push([PROJECTS, app.t.import_projects]);
    if (may.import_layers) {
      for (const layer of app.layers) targets.push([layer.key, app.label(layer.title)]);
    }
    if (!targets.length) return; // nothing this account may import: the panel stays hidden
    const select = $("import-target");
    for (const [value, text] of targets) select.append(app.el("option", { value }, text));
    select.addEventListener("change", () => { $("import-dry-run-label").hidden = select.value !== PROJECTS; });
    select.dispatchEvent(new Event("change"));
    $("import-form").addEventListener("submit", (event) => { event.preventDefault(); upload(); });
    $("import").hidden = false;
  }

  async function upload() {
    const file = $("import-file").files[0];
    if (!file) { status(app.t.import_need_file); return; }
    const target = $("import-target").value;
    const form = new FormData();
    form.append("file", file);
    const crs = $("import-crs").value.trim();
    if (crs) form.append("source_crs", crs);
    let path = `/api/layers/${encodeURIComponent(target)}`;
    if (target === PROJECTS) {
      path = "/api/projects/import";
      if ($("import-dry-run").checked) form.append("dry_run", "true");
    }
    $("import-start").disabled = true;
    progress(0, 0);
    status(app.t.import_sent);
    try {
      const response = await app.api("POST", path, form, { Prefer: "respond-async" });
      if (response.status !== 202) { failed(response.data); return; }
      await follow(response.location, target);
    } finally {
      $("import-start").disabled = false;
    }
  }

  async function follow(location, target) {
    for (;;) {
      const response = await app.api("GET", location);
      if (response.status !== 200) { failed(response.data); return; }
      const job = response.data;
      if (job.state === "done") { done(job.result, target); return; }
      if (job.state === "failed") { failed(job.problem); return; }
      progress(job.progress.done, job.progress.total);
      status(app.format(job.state === "queued" ? app.t.import_queued : app.t.import_running, job.progress));
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  function done(result, target) {
    $("import-progress").hidden = true;
    if (target === PROJECTS) {
      const template = result.stored ? app.t.import_projects_done : app.t.import_projects_dry;
      status(app.format(template, result));
    } else {
      status(app.format(app.t.import_layer_done, {
        layer: app.label(result.title), version: result.stored.version,
        count: result.stored.feature_count, refused: result.report.refused,
      }));
    }
    if (result.stored !== false) app.reload();
  }

  function failed(problem) {
    $("import-progress").hidden = true;
    status(app.format(app.t.error, { detail: app.problemText(problem) }));
  }

  function progress(done, total) {
    const bar = $("import-progress");
    bar.hidden = false;
    if (total) { bar.max = total; bar.value = done; } else bar.removeAttribute("value");
  }

  function status(text) { $("import-status").textContent = text; }

  return { start };
})();
