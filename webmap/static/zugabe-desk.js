/* ZUGABE web map: the coordination desk. The inbox (the cases of one's organisation, most
 * urgent first, with the number of new ones in the header) and, in an open case, its work:
 * assignee, due date, the decision proposed and each organisation's vote.
 *
 * ZugabeMap hands over what it shares (start): its API helper, labels, the signed-in
 * account and the server's desk vocabulary — statuses, decision kinds and votes come from
 * GET /api/vocab, never from a copy here. Every string from the server reaches the page
 * through textContent. */
"use strict";

const ZugabeDesk = (() => {
  const TEXTS = {
    de: {
      inbox: "Eingang", new_cases: "{n} neu", inbox_summary: "{n} Fälle, {unread} neu",
      assigned_to_me: "mir zugewiesen", unread_only: "nur neue", waiting_for_us: "wartet auf unsere Stimme",
      due: "Frist", due_any: "alle", due_overdue: "überfällig", due_week: "binnen einer Woche",
      due_month: "binnen eines Monats", all_seen: "Alles als gelesen markieren",
      any: "alle", my_departments: "nur meine Fachbereiche",
      work: "Bearbeitung", assignee: "Zuständig", nobody: "niemand", assign: "Zuweisen",
      due_date: "Frist", due_derived: "(aus den Startterminen)", set_due: "Frist setzen",
      decision: "Entscheidung", proposed_by: "vorgeschlagen von {name} am {at}",
      waiting_for: "wartet auf: {names}", votes: "Stimmen", propose: "Entscheidung vorschlagen",
      kind: "Art", text: "Beschluss", measures: "Vereinbarte Maßnahmen (eine je Zeile)",
      send_proposal: "Vorschlagen", withdraw: "Vorschlag zurückziehen",
      agree: "Zustimmen", object: "Einwand erheben", reason: "Begründung",
      state_waiting: "wartet auf Stimmen", state_agreed: "vereinbart", state_sent_back: "zurückgewiesen",
      state_withdrawn: "zurückgezogen", state_reopened: "wieder geöffnet",
      earlier: "Frühere Vorschläge", contacts: "Ansprechpartner", mail_all: "E-Mail an alle Beteiligten",
      mail_subject: "ZUGABE: Fall {id}",
    },
    en: {
      inbox: "Inbox", new_cases: "{n} new", inbox_summary: "{n} cases, {unread} new",
      assigned_to_me: "assigned to me", unread_only: "new only", waiting_for_us: "waiting for our vote",
      due: "Due", due_any: "any", due_overdue: "overdue", due_week: "within a week",
      due_month: "within a month", all_seen: "Mark all as read",
      any: "any", my_departments: "my departments only",
      work: "Work", assignee: "Assignee", nobody: "nobody", assign: "Assign",
      due_date: "Due date", due_derived: "(from the start dates)", set_due: "Set due date",
      decision: "Decision", proposed_by: "proposed by {name} on {at}",
      waiting_for: "waiting for: {names}", votes: "Votes", propose: "Propose a decision",
      kind: "Kind", text: "Decision", measures: "Agreed measures (one per line)",
      send_proposal: "Propose", withdraw: "Withdraw the proposal",
      agree: "Agree", object: "Object", reason: "Reason",
      state_waiting: "waiting for votes", state_agreed: "agreed", state_sent_back: "sent back",
      state_withdrawn: "withdrawn", state_reopened: "reopened",
      earlier: "Earlier proposals", contacts: "Whom to talk to", mail_all: "E-mail everyone involved",
      mail_subject: "ZUGABE: case {id}",
    },
  };
  const DUE = ["", "overdue", "week", "month"];
  const SEVERITIES = ["high", "medium", "low"];
  let RELATIONS = []; // from the server's palette (GET /api/vocab): every relation it knows
  let app = null; // what ZugabeMap handed over in start()
  let t = TEXTS.de;

  function $(id) { return document.getElementById(id); }

  function vocabLabel(list, key) {
    const entry = app.vocab.case_desk[list].find((item) => item.key === key);
    return entry ? entry[app.lang] || entry.de : key;
  }

  function day(iso) {
    if (!iso) return "–";
    const [y, m, d] = iso.slice(0, 10).split("-");
    return app.lang === "de" ? `${d}.${m}.${y}` : `${y}-${m}-${d}`;
  }

  function signedInWithOrganisation() { return Boolean(app.me && app.me.organisation); }

  function start(shared) {
    app = shared;
    t = TEXTS[app.lang] || TEXTS.de;
    RELATIONS = Object.keys(app.vocab.colors.relations);
    if (!signedInWithOrganisation()) return; // no organisation, no inbox
    $("inbox-title").textContent = t.inbox;
    $("inbox-assigned-label").textContent = t.assigned_to_me;
    $("inbox-unread-label").textContent = t.unread_only;
    $("inbox-waiting-label").textContent = t.waiting_for_us;
    $("inbox-due-label").textContent = t.due;
    $("inbox-all-seen").textContent = t.all_seen;
    const due = $("inbox-due");
    for (const value of DUE) due.append(app.el("option", { value }, t[`due_${value || "any"}`]));
    $("inbox-relation-label").textContent = app.t.relation;
    $("inbox-severity-label").textContent = app.t.severity;
    $("inbox-department-label").textContent = t.my_departments;
    $("inbox-department").parentElement.hidden = !(app.me.departments || []).length;
    for (const [id, values, prefix] of [["inbox-relation", RELATIONS, "relation"], ["inbox-severity", SEVERITIES, "severity"]]) {
      $(id).append(app.el("option", { value: "" }, t.any));
      for (const value of values) $(id).append(app.el("option", { value }, app.t[`${prefix}_${value}`] || value));
    }
    for (const id of ["inbox-assigned", "inbox-unread", "inbox-waiting", "inbox-due", "inbox-relation",
      "inbox-severity", "inbox-department"]) {
      $(id).addEventListener("change", loadInbox);
    }
    $("inbox").addEventListener("toggle", () => { if ($("inbox").open) loadInbox(); });
    $("inbox-count").addEventListener("click", () => {
      $("inbox").open = true;
      $("inbox").scrollIntoView({ block: "nearest" });
    });
    $("inbox-all-seen").addEventListener("click", async () => {
      const response = await app.api("POST", "/api/inbox/seen", { all: true });
      if (response.status >= 400) app.say(app.problemText(response.data));
      await loadInbox();
    });
    $("inbox").hidden = false;
    loadInbox();
  }

  let inboxAsked = 0; // the number of the latest inbox request, so that late answers are dropped

  /** The inbox with its filters; the header's count says how many cases are new. */
  async function loadInbox() {
    const asked = ++inboxAsked;
    const params = new URLSearchParams({ limit: "100" });
    if ($("inbox-assigned").checked) params.set("assigned", "me");
    if ($("inbox-unread").checked) params.set("unread", "true");
    if ($("inbox-waiting").checked) params.set("waiting", "me");
    if ($("inbox-due").value) params.set("due", $("inbox-due").value);
    if ($("inbox-relation").value) params.set("relation", $("inbox-relation").value);
    if ($("inbox-severity").value) params.set("severity", $("inbox-severity").value);
    if ($("inbox-department").checked) params.set("scope", "department");
    const response = await app.api("GET", `/api/inbox?${params}`);
    // Opening the inbox and choosing a filter right after ask twice: the first answer may
    // come last, and must not replace the filtered list.
    if (asked !== inboxAsked || response.status !== 200) return;
    const page = response.data;
    const count = $("inbox-count");
    count.textContent = app.format(t.new_cases, { n: page.unread });
    count.hidden = page.unread === 0;
    $("inbox-summary").textContent = app.format(t.inbox_summary, { n: page.numberMatched, unread: page.unread });
    const list = $("inbox-list");
    list.replaceChildren();
    for (const feature of page.features) {
      const p = feature.properties;
      const item = app.el("li", {
        class: `case ${p.relation}${p.unread ? " unread" : ""}`, tabindex: "0",
        "data-case-id": String(feature.id),
      });
      item.append(app.el("span", { class: "state" }, app.caseStatusLabel(p.status)));
      item.append(app.el("span", { class: "due" }, `${t.due}: ${day(p.due_date)}`));
      item.append(app.el("p", { class: "message" }, p.message[app.lang] || p.message.de));
      const open = () => openFromInbox(feature);
      item.addEventListener("click", open);
      item.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
      list.append(item);
    }
  }

  async function openFromInbox(feature) {
    app.zoomTo(feature.geometry);
    await app.showCase(feature.id);
  }

  /** Called by ZugabeMap whenever a case opens: it is seen now, and its work is shown. */
  function showCase(c, { mayReview }) {
    const box = $("case-work");
    box.replaceChildren();
    if (!app) return;
    if (signedInWithOrganisation()) {
      app.api("POST", "/api/inbox/seen", { cases: [c.id] }).then(loadInbox);
    }
    const p = c.properties;
    box.append(app.el("h3", {}, t.work));
    const data = app.el("dl");
    data.append(app.el("dt", {}, t.assignee), app.el("dd", { id: "case-assignee" }, p.assignee_name || t.nobody));
    data.append(app.el("dt", {}, t.due_date),
      app.el("dd", { id: "case-due" }, `${day(p.due_date)}${p.due_date_set ? "" : ` ${t.due_derived}`}`));
    box.append(data);
    box.append(contacts(c));
    const frozen = p.status === "agreed" || p.status === "obsolete";
    if (mayReview && !frozen) box.append(assignControls(c), dueControls(c));
    if (p.decision) box.append(decisionRecord(p.decision, p.organisations));
    const earlier = (c.decisions || []).filter((d) => !p.decision || d.id !== p.decision.id);
    if (earlier.length) {
      const details = app.el("details");
      details.append(app.el("summary", {}, t.earlier));
      for (const d of earlier) details.append(decisionRecord(d, p.organisations));
      box.append(details);
    }
    if (p.decision && p.decision.state === "waiting") {
      if (mayVote(p.decision)) box.append(voteControls(c));
      if (mayReview) {
        const withdraw = button(t.withdraw, "case-withdraw", () => step(c, "DELETE", "proposal", undefined, withdraw));
        box.append(withdraw);
      }
    } else if (mayReview && !frozen) {
      box.append(proposalForm(c));
    }
  }

  /** Both subjects' organisation, department, contact and e-mail, and one e-mail link
   * to all of them carrying the case's address. */
  function contacts(c) {
    const box = app.el("div", { class: "contacts" });
    box.append(app.el("h4", {}, t.contacts));
    const list = app.el("ul");
    const addresses = [];
    for (const s of c.subjects) {
      const who = s.contact;
      if (!who) continue;
      const parts = [who.organisation && app.organisation(who.organisation), who.department && app.department(who.department),
        who.contact, who.person].filter(Boolean);
      const item = app.el("li", {}, `${s.label[app.lang] || s.label.de}: ${parts.join(", ")}`);
      if (who.email) {
        addresses.push(who.email);
        item.append(" ", app.el("a", { href: `mailto:${encodeURIComponent(who.email)}` }, who.email));
      }
      list.append(item);
    }
    box.append(list);
    if (addresses.length) {
      const subject = app.format(t.mail_subject, { id: c.id });
      const address = `${window.location.origin}/#case=${c.id}`;
      const href = `mailto:${[...new Set(addresses)].map(encodeURIComponent).join(",")}` +
        `?subject=${encodeURIComponent(subject)}&body=${encodeURIComponent(address)}`;
      box.append(app.el("a", { href, id: "case-mail" }, t.mail_all));
    }
    return box;
  }

  function mayVote(decision) {
    return Boolean(app.permissions().vote_cases) && decision.waiting_for.includes(app.me.organisation);
  }

  function button(text, id, onClick) {
    const node = app.el("button", { type: "button", id }, text);
    node.addEventListener("click", onClick);
    return node;
  }

  /** One step on the case: the answer is the case as it is now, shown at once; a refusal
   * is shown right below the controls (``near``) that caused it. */
  async function step(c, method, path, body, near) {
    const headers = method === "POST" && path === "votes" ? {} : { "If-Match": `"v${c.properties.version}"` };
    const response = await app.api(method, `/api/cases/${c.id}/${path}`, body, headers);
    const old = $("case-work-error");
    if (old) old.remove();
    if (response.status >= 400) {
      // The server's words, in the page's language; the field it names is the control above.
      const data = response.data || {};
      const text = [data.detail || data.title, ...(data.errors || []).map((e) => e.detail)].filter(Boolean).join(" ");
      near.after(app.el("p", { id: "case-work-error", role: "alert", class: "error" }, text));
      return;
    }
    await app.showCase(c.id);
    await app.reload();
  }

  function assignControls(c) {
    const row = app.el("div", { class: "row" });
    const select = app.el("select", { id: "case-assignee-select", "aria-label": t.assignee });
    select.append(app.el("option", { value: "" }, t.nobody));
    app.api("GET", `/api/cases/${c.id}/assignees`).then((response) => {
      if (response.status !== 200) return;
      for (const person of response.data) {
        const option = app.el("option", { value: person.username },
          `${person.display_name} (${app.organisation(person.organisation)})`);
        if (person.username === c.properties.assignee) option.selected = true;
        select.append(option);
      }
    });
    row.append(select, button(t.assign, "case-assign", () => step(c, "PUT", "assignee", { assignee: select.value || null }, row)));
    return row;
  }

  function dueControls(c) {
    const row = app.el("div", { class: "row" });
    const input = app.el("input", { type: "date", id: "case-due-input", "aria-label": t.due_date });
    if (c.properties.due_date_set) input.value = c.properties.due_date;
    row.append(input, button(t.set_due, "case-set-due", () => step(c, "PUT", "due-date", { due_date: input.value || null }, row)));
    return row;
  }

  function decisionRecord(decision, organisations) {
    const box = app.el("div", { class: "decision", "data-state": decision.state });
    box.append(app.el("h4", {}, `${t.decision}: ${vocabLabel("decision_kinds", decision.kind)} · ${t[`state_${decision.state}`]}`));
    box.append(app.el("p", { class: "decision-text" }, decision.text));
    if (decision.measures.length) {
      const list = app.el("ul", { class: "measures" });
      for (const m of decision.measures) list.append(app.el("li", {}, m));
      box.append(list);
    }
    box.append(app.el("p", { class: "hint" }, app.format(t.proposed_by, { name: decision.proposed_by_name, at: day(decision.proposed_at) })));
    const votes = app.el("ul", { class: "votes" });
    for (const v of decision.votes) {
      const reason = v.reason ? ` – ${v.reason}` : "";
      votes.append(app.el("li", { "data-organisation": v.organisation },
        `${app.organisation(v.organisation)}: ${vocabLabel("votes", v.choice)} (${v.by_name}, ${day(v.at)})${reason}`));
    }
    box.append(votes);
    if (decision.waiting_for.length) {
      box.append(app.el("p", { class: "waiting" }, app.format(t.waiting_for, {
        names: decision.waiting_for.map(app.organisation).join(", "),
      })));
    }
    return box;
  }

  function voteControls(c) {
    const row = app.el("div", { class: "vote" });
    const reason = app.el("input", { id: "case-vote-reason", maxlength: "5000", placeholder: t.reason, "aria-label": t.reason });
    row.append(
      button(t.agree, "case-agree", () => step(c, "POST", "votes", { vote: "agree", reason: reason.value }, row)),
      reason,
      button(t.object, "case-object", () => step(c, "POST", "votes", { vote: "object", reason: reason.value }, row)),
    );
    return row;
  }

  function proposalForm(c) {
    const form = app.el("form", { id: "case-proposal", novalidate: "" });
    form.append(app.el("h4", {}, t.propose));
    const kind = app.el("select", { name: "kind" });
    for (const k of app.vocab.case_desk.decision_kinds) kind.append(app.el("option", { value: k.key }, k[app.lang] || k.de));
    const text = app.el("textarea", { name: "text", rows: "2", maxlength: "5000" });
    const measures = app.el("textarea", { name: "measures", rows: "2" });
    for (const [caption, control] of [[t.kind, kind], [t.text, text], [t.measures, measures]]) {
      const field = app.el("label");
      field.append(app.el("span", {}, caption), control);
      form.append(field);
    }
    form.append(app.el("button", { type: "submit" }, t.send_proposal));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      step(c, "POST", "proposal", {
        kind: kind.value, text: text.value,
        measures: measures.value.split("\n").map((m) => m.trim()).filter(Boolean),
      }, form);
    });
    return form;
  }

  return { start, showCase, loadInbox };
})();
