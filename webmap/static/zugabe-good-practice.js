// The good-practice pages (zugabe/web/good_practice.py): the public map of released
// examples, the print button, and for signed-in users the proposal form and the vote.
// Every user string goes into the page as text (textContent), never as HTML.
(function () {
  "use strict";

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function popup(p, lang) {
    var box = el("div");
    var title = el("a", p.title, { href: p.url + "?lang=" + lang });
    box.appendChild(el("strong")).appendChild(title);
    box.appendChild(el("div", p.organisation_label));
    box.appendChild(el("div", p.measure_types.map(function (m) { return m.label; }).join(", ")));
    if (p.photos.length) {
      box.appendChild(el("img", null, { src: p.photos[0].thumbnail, alt: p.photos[0].caption, width: "160" }));
    }
    return box;
  }

  function startMap(node) {
    var map = L.map(node, { scrollWheelZoom: false });
    map.setView([51.5, 7.2], 11);
    var lang = node.dataset.lang;
    fetch(node.dataset.geojson, { headers: { Accept: "application/geo+json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var layer = L.geoJSON(data, {
          onEachFeature: function (feature, shape) {
            shape.bindPopup(popup(feature.properties, lang));
          },
        }).addTo(map);
        if (data.features.length) map.fitBounds(layer.getBounds(), { maxZoom: 15, padding: [30, 30] });
        node.dataset.loaded = String(data.features.length);
      });
  }

  function csrf() {
    return fetch("/api/me", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (me) { return me.csrf_token; });
  }

  function send(method, url, body, token, headers) {
    var options = { method: method, headers: Object.assign({ "X-CSRFToken": token, Accept: "application/json" }, headers || {}) };
    if (body instanceof FormData) options.body = body;
    else if (body !== undefined) {
      options.body = JSON.stringify(body);
      options.headers["Content-Type"] = "application/json";
    }
    return fetch(url, options).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.detail || r.statusText);
        return data;
      });
    });
  }

  function propose(form) {
    var error = form.querySelector("[data-error]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      error.textContent = "";
      var f = form.elements;
      var body = {
        project_id: parseInt(f.project_id.value, 10),
        title: f.title.value,
        description: f.description.value,
        costs_eur: f.costs_eur.value === "" ? null : Number(f.costs_eur.value),
        costs_note: f.costs_note.value,
        lessons: f.lessons.value,
        contacts: f.contacts.value,
        tags: Array.prototype.filter.call(f.tags.options, function (o) { return o.selected; })
          .map(function (o) { return o.value; }),
      };
      csrf().then(function (token) {
        return send("POST", "/api/good-practice", body, token).then(function (example) {
          if (!f.file.files.length) return example;
          var upload = new FormData();
          upload.append("file", f.file.files[0]);
          upload.append("caption", f.caption.value);
          upload.append("keep_location", f.keep_location.checked ? "true" : "false");
          return send("POST", "/api/good-practice/" + example.id + "/photos", upload, token);
        });
      }).then(function (example) {
        window.location.assign("/good-practice/" + example.id + "/review");
      }).catch(function (e) { error.textContent = e.message; });
    });
  }

  function review(box) {
    var form = box.querySelector("form[data-vote]");
    var error = box.querySelector("[data-error]");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var choice = event.submitter ? event.submitter.value : "agree";
      csrf().then(function (token) {
        return send("POST", "/api/good-practice/" + box.dataset.example + "/votes",
          { vote: choice, reason: form.elements.reason.value }, token);
      }).then(function () { window.location.reload(); })
        .catch(function (e) { error.textContent = e.message; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var map = document.getElementById("gp-map");
    if (map) startMap(map);
    var form = document.getElementById("gp-propose");
    if (form) propose(form);
    var box = document.getElementById("gp-review");
    if (box) review(box);
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
  });
})();
