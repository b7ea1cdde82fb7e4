/* Coder workspace: plain JS, no build step. All chart data is inserted with textContent (never innerHTML). */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "suggest.token";
  const state = {
    token: null, me: null, model: null,
    suggestions: [],      // [{...suggestion, state: null|"accepted"|"rejected"}]
    current: -1,          // index of the suggestion whose evidence is shown
    chosen: [],           // [{code, description, billable, source: "accepted"|"added"|"saved", confidence}]
    chartId: null, version: null,
    suggestedText: null,  // the text the suggestions (and their offsets) refer to
    sentFeedback: new Set(),
    findPage: 1,
    findings: [],         // the last check's findings
    checkedText: null,    // the text those findings (and their offsets) refer to
    docTypeLabels: {},    // document type id -> readable name
    dirty: false,         // unsaved changes (codes or text)
    work: null,           // the open chart's {status, assignee, priority, due_date}
    workPage: 1,
    templates: null,      // provider query templates (loaded once)
  };
  const STATUS_LABELS = { new: "new", in_progress: "in progress", on_hold: "on hold", coded: "coded", completed: "completed" };

  // ------------------------------------------------------------------ utilities
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }
  function setStatus(msg, bad = false) {
    const s = $("status"); s.textContent = msg || ""; s.classList.toggle("bad", !!bad);
  }
  function debounce(fn, ms) {
    let t = null;
    return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  }
  class ApiError extends Error {
    constructor(status, body) {
      // A FHIR endpoint answers with an OperationOutcome: its first issue's diagnostics and element path.
      const issue = body && body.resourceType === "OperationOutcome" && body.issue && body.issue[0];
      super((body && body.error) || (issue && issue.diagnostics) || `HTTP ${status}`);
      this.status = status;
      this.body = issue ? { error: issue.diagnostics, field: (issue.expression || [])[0] } : body;
    }
  }
  async function api(method, path, body, contentType = "application/json") {
    const headers = { "Authorization": `Bearer ${state.token}` };
    const init = { method, headers };
    if (body !== undefined) { headers["Content-Type"] = contentType; init.body = JSON.stringify(body); }
    let res;
    try { res = await fetch(path, init); } catch (e) { throw new ApiError(0, { error: "cannot reach the server" }); }
    const data = (res.headers.get("Content-Type") || "").includes("json") ? await res.json().catch(() => null) : null;
    if (res.status === 401) { signOut("Your token is not valid any more; sign in again."); throw new ApiError(401, data); }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }
  const fail = (what) => (e) => setStatus(`${what}: ${e.message}${e.body && e.body.field ? ` (${e.body.field})` : ""}`, true);

  // ------------------------------------------------------------------ sign in
  function readTokenFromUrl() {
    const url = new URL(window.location.href);
    const t = url.searchParams.get("token");
    if (t) {
      sessionStorage.setItem(TOKEN_KEY, t);
      url.searchParams.delete("token");
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
  }
  async function signIn(token) {
    state.token = token;
    try {
      state.me = await api("GET", "/v1/me");
    } catch (e) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn(e.status === 401 ? "That token was not accepted." : e.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("signin").hidden = true; $("workspace").hidden = false; $("signout").hidden = false;
    $("who").textContent = `${state.me.user} (${state.me.role})`;
    const provider = state.me.role === "provider";
    // a provider answers the queries addressed to them: no chart, no suggestion, no queue
    for (const id of ["tab-work", "tab-code", "tab-find", "tab-analytics"]) $(id).hidden = provider;
    if (provider) { switchTab("queries"); return; }
    const sel = $("f-doctype");
    sel.replaceChildren(el("option", { value: "", text: `(default: ${state.me.default_document_type.replace(/_/g, " ")})` }));
    for (const t of state.me.document_types) sel.append(el("option", { value: t.id, text: t.label }));
    state.docTypeLabels = Object.fromEntries(state.me.document_types.map((t) => [t.id, t.label]));
    $("w-doctype").replaceChildren(el("option", { value: "", text: "(any)" }),
      ...state.me.document_types.map((t) => el("option", { value: t.id, text: t.label })));
    fillAssignees().catch(() => {});
    api("GET", "/v1/model").then((m) => {
      state.model = m;
      $("model-line").textContent = modelLine(m);
    }).catch(() => {});
    if (state.view && state.view !== "code") switchTab(state.view);
    else $("chart-text").focus();
  }
  function modelLine(m) {
    // The registry's version when the served model is registered; "local" only for a model the registry does not hold.
    const version = m.registry_version ? `version ${m.registry_version}` : `version ${m.version} (not registered)`;
    return `· ${m.name} · ${version}` + (m.codeset_release ? ` · code set ${m.codeset_release}` : "");
  }
  function showSignIn(message) {
    $("workspace").hidden = true; $("signout").hidden = true; $("signin").hidden = false;
    $("who").textContent = "";
    $("signin-error").textContent = message || "";
    $("token-input").focus();
  }
  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY); state.token = null; state.me = null; showSignIn(message);
  }

  // ------------------------------------------------------------------ suggestions
  async function runSuggest() {
    const text = $("chart-text").value;
    if (!text.trim()) { setStatus("Paste or open a chart first.", true); $("chart-text").focus(); return; }
    setStatus("Suggesting…");
    const t0 = performance.now();
    try {
      const specialty = $("f-specialty").value.trim() || null;
      const res = await api("POST", "/v1/suggest", { text, top_k: 20, specialty });
      showSuggestions(res, text, `in ${Math.round(performance.now() - t0)} ms`);
    } catch (e) { fail("Suggest failed")(e); }
  }
  function showSuggestions(res, text, how) {
    // the API's answer (live, or computed in the background) shown as the coder's suggestions
    state.suggestedText = text;
    const chosen = new Set(state.chosen.map((c) => c.code));
    // selected by the model first, each group best first (the server's order)
    state.suggestions = res.suggestions.map((s) => ({ ...s, state: chosen.has(s.code) ? "accepted" : null }))
      .sort((a, b) => Number(b.selected) - Number(a.selected));
    state.current = -1;
    renderChartState();
    renderSuggestions();
    $("warnings").replaceChildren(...res.warnings.map((w) => el("li", { text: w })));
    showView(true);
    setStatus(`${res.suggestions.length} suggestions from ${res.model.name} ${res.model.version} ${how}`);
    const first = $("suggestions").querySelector("li");
    if (first) first.focus();
    runCheck();
  }

  function renderSuggestions() {
    const list = $("suggestions");
    list.replaceChildren();
    state.suggestions.forEach((s, i) => {
      const pct = Math.round(s.confidence * 100);
      const conf = s.confidence.toFixed(2);
      const label = `${s.code} ${s.description}, confidence ${conf}` + (s.selected ? ", selected by the model" : "") +
        (s.state ? `, ${s.state}` : "") + (s.billable ? "" : ", not billable");
      const bar = el("div", { class: "bar", "aria-hidden": "true" }, el("span"));
      bar.firstChild.style.width = `${pct}%`;
      const li = el("li", {
        class: `sugg ${s.state || ""}`, tabindex: i === Math.max(state.current, 0) ? "0" : "-1",
        "data-index": String(i), "data-code": s.code, "data-evidence": String((s.evidence || []).length), "aria-label": label,
        "aria-current": i === state.current ? "true" : null,
        onclick: (ev) => { if (!ev.target.closest("button")) showEvidence(i); },
        onfocus: () => { for (const o of list.children) o.tabIndex = -1; li.tabIndex = 0; },
      },
        s.selected ? el("span", { class: "pick", title: "Selected by the model (confidence at or above its threshold)",
          "aria-hidden": "true", text: "★" }) : el("span", { class: "pick" }),
        el("span", { class: "code", text: s.code }),
        el("span", { class: "desc", title: s.description },
          s.description,
          s.billable ? null : el("span", { class: "badge", title: childrenHint(s), text: "not billable" }),
          ...assertionBadges(s)),
        el("span", { class: "conf", title: "Confidence (0 to 1)", text: conf }),
        el("span", { class: "acts" },
          el("button", { type: "button", class: "accept", tabindex: "-1", "aria-label": `Accept ${s.code}`, title: "Accept (a)", text: "Accept", onclick: () => accept(i) }),
          el("button", { type: "button", class: "reject", tabindex: "-1", "aria-label": `Reject ${s.code}`, title: "Reject (r)", text: "Reject", onclick: () => reject(i) })),
        bar);
      list.append(li);
    });
  }
  function childrenHint(s) {
    const kids = s.billable_children || [];
    return kids.length ? `Billable codes under it: ${kids.join(", ")}` : "Not billable: choose a more specific code";
  }
  function assertionBadges(s) {
    // Flag a suggestion whose every evidence span is negated / family history / hypothetical.
    const ev = s.evidence || [];
    if (!ev.length) return [];
    return ["negated", "family", "hypothetical"].filter((k) => ev.every((e) => e.assertion && e.assertion[k]))
      .map((k) => el("span", { class: `badge badge-${k}`, text: k === "family" ? "family history" : k }));
  }
  function focusSuggestion(i) {
    const items = $("suggestions").children;
    if (i >= 0 && i < items.length) items[i].focus();
  }
  function refreshSuggestion(i) {
    const had = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.index;
    renderSuggestions();
    if (had !== undefined) focusSuggestion(Number(had)); else if (i >= 0) focusSuggestion(i);
  }
  function accept(i) {
    const s = state.suggestions[i];
    s.state = "accepted";
    if (!state.chosen.some((c) => c.code === s.code)) {
      state.chosen.push({ code: s.code, description: s.description, billable: s.billable, source: "accepted", confidence: s.confidence });
    }
    state.sentFeedback.delete(`${s.code}:rejected`);
    state.dirty = true;
    refreshSuggestion(i); renderChosen(); checkSoon();
    setStatus(`Accepted ${s.code}`);
  }
  function reject(i) {
    const s = state.suggestions[i];
    s.state = "rejected";
    state.chosen = state.chosen.filter((c) => c.code !== s.code);
    state.dirty = true;
    refreshSuggestion(i); renderChosen(); checkSoon();
    setStatus(`Rejected ${s.code}`);
  }

  function showEvidence(i) {
    state.current = i;
    const s = state.suggestions[i];
    renderSuggestions();
    focusSuggestion(i);
    renderText(s.evidence || []);
    const n = (s.evidence || []).length;
    setStatus(n ? `${s.code}: ${n} evidence span${n > 1 ? "s" : ""} highlighted` : `${s.code}: no text evidence (${s.sources.join(", ")})`);
  }
  function assertionClasses(a) {
    if (!a) return "";
    return ["negated", "family", "historical", "hypothetical"].filter((k) => a[k]).map((k) => `ev-${k}`).join(" ");
  }
  function renderText(evidence, text = state.suggestedText || $("chart-text").value) {
    const view = $("chart-view");
    const spans = [...evidence].filter((e) => e.end > e.start).sort((a, b) => a.start - b.start);
    view.replaceChildren();
    let pos = 0, first = null;
    for (const e of spans) {
      if (e.start < pos) continue;  // overlapping span: keep the first
      view.append(document.createTextNode(text.slice(pos, e.start)));
      const kinds = assertionClasses(e.assertion);
      const title = e.title || (kinds ? kinds.replace(/ev-/g, "").replace(/ /g, ", ") : `evidence (${e.section})`);
      const mark = el("mark", { class: `ev ${kinds} ${e.kind || ""}`.trim(), title, text: text.slice(e.start, e.end) });
      view.append(mark);
      first = first || mark;
      pos = e.end;
    }
    view.append(document.createTextNode(text.slice(pos)));
    if (first) { first.classList.add("current"); first.scrollIntoView({ block: "center" }); }
  }
  function showView(viewing) {
    $("chart-view").hidden = !viewing;
    $("chart-text").hidden = viewing;
    $("btn-edit").hidden = !viewing;
    if (viewing) renderText(state.current >= 0 ? state.suggestions[state.current].evidence : []);
  }

  function renderChartState() {
    // The saved chart's number and version, and whether the text moved on from the one the suggestions are for.
    const saved = state.chartId ? `Chart #${state.chartId} · version ${state.version}` : "";
    const stale = state.suggestedText !== null && $("chart-text").value !== state.suggestedText;
    $("chart-state").textContent = [saved, stale ? "Text changed: suggest again (Ctrl+Enter)." : ""].filter(Boolean).join(" · ");
  }

  // ------------------------------------------------------------------ chosen codes and code search
  function renderChosen() {
    const list = $("chosen");
    const active = document.activeElement && list.contains(document.activeElement) ? document.activeElement : null;
    const refocus = active && [active.closest("li[data-code]").dataset.code, active.getAttribute("aria-label")];
    list.replaceChildren(...state.chosen.map((c, i) => el("li", { "data-code": c.code },
      el("div", { class: "line" },
      el("span", { class: "code", text: c.code }),
      el("span", { class: "desc", title: c.description || "", text: c.description || "" },
        c.billable === false ? el("span", { class: "badge", text: "not billable" }) : null),
      el("span", { class: "muted", text: c.source }),
      el("button", { type: "button", class: "small", "aria-label": `Move ${c.code} up (sequence)`, title: "Move up: the first code is the principal diagnosis",
        text: "↑", disabled: i === 0, onclick: () => moveUp(i) }),
      el("button", { type: "button", class: "small", "aria-label": `Remove ${c.code}`, text: "Remove", onclick: () => removeCode(c.code) })),
      codeFindings(state.findings.filter((f) => f.code === c.code)))));
    $("codes-count").textContent = state.chosen.length ? `· ${state.chosen.length}` : "";
    if (refocus) {
      const again = [...list.querySelectorAll("button")].find((b) => b.closest("li[data-code]").dataset.code === refocus[0] &&
        b.getAttribute("aria-label") === refocus[1]);
      if (again) again.focus();
    }
  }
  function moveUp(i) {
    if (i <= 0) return;
    [state.chosen[i - 1], state.chosen[i]] = [state.chosen[i], state.chosen[i - 1]];
    state.dirty = true;
    renderChosen();
    const buttons = $("chosen").children[i - 1].querySelectorAll("button");
    (i - 1 > 0 ? buttons[0] : buttons[1]).focus();
    setStatus(`Moved ${state.chosen[i - 1].code} up`);
  }
  function removeCode(code) {
    state.chosen = state.chosen.filter((c) => c.code !== code);
    const i = state.suggestions.findIndex((s) => s.code === code);
    if (i >= 0) { state.suggestions[i].state = "rejected"; renderSuggestions(); }
    state.dirty = true;
    renderChosen(); checkSoon();
    setStatus(`Removed ${code}`);
  }
  function addCode(hit) {
    if (state.chosen.some((c) => c.code === hit.code)) { setStatus(`${hit.code} is already on the chart`); return; }
    const i = state.suggestions.findIndex((s) => s.code === hit.code);
    if (i >= 0) { accept(i); return; }
    state.chosen.push({ code: hit.code, description: hit.description, billable: hit.billable, source: "added", confidence: null });
    state.dirty = true;
    renderChosen(); checkSoon();
    setStatus(`Added ${hit.code}`);
  }

  let searchHits = [], searchActive = -1;
  const searchCodes = debounce(async (q) => {
    if (q.trim().length < 2) { closeListbox(); return; }
    try {
      const res = await api("GET", `/v1/codes/search?q=${encodeURIComponent(q.trim())}&limit=12`);
      if ($("code-search").value !== q) return;
      searchHits = res.results; searchActive = searchHits.length ? 0 : -1;
      renderListbox();
    } catch (e) { fail("Code search failed")(e); }
  }, 150);
  function renderListbox() {
    const box = $("code-results"), input = $("code-search");
    box.replaceChildren(...searchHits.map((h, i) => el("li", {
      id: `code-opt-${i}`, role: "option", "aria-selected": i === searchActive ? "true" : "false", "data-code": h.code,
      onmousedown: (ev) => { ev.preventDefault(); pickHit(i); },
    }, el("span", { class: "code", text: h.code }), el("span", { text: h.description }),
      h.billable ? null : el("span", { class: "badge", text: "not billable" }))));
    box.hidden = !searchHits.length;
    input.setAttribute("aria-expanded", String(!box.hidden));
    if (searchActive >= 0) { input.setAttribute("aria-activedescendant", `code-opt-${searchActive}`); box.children[searchActive].scrollIntoView({ block: "nearest" }); }
    else input.removeAttribute("aria-activedescendant");
  }
  function closeListbox() {
    searchHits = []; searchActive = -1; $("code-results").hidden = true;
    $("code-search").setAttribute("aria-expanded", "false"); $("code-search").removeAttribute("aria-activedescendant");
  }
  function pickHit(i) {
    const hit = searchHits[i];
    if (!hit) return;
    addCode(hit);
    $("code-search").value = ""; closeListbox(); $("code-search").focus();
  }

  // ------------------------------------------------------------------ completeness and code edits
  function checkRequest(codes) {
    // The form's patient ID, encounter, provider and date go with the text: they satisfy the record-number and
    // date checks that would otherwise read them from the text alone.
    const meta = metaValues();
    const body = { text: $("chart-text").value, codes, document_type: meta.document_type };
    for (const k of ["patient_id", "encounter_id", "provider", "signed_by", "document_date"]) if (meta[k]) body[k] = meta[k];
    return api("POST", "/v1/charts/check", body);
  }
  async function runCheck() {
    const text = $("chart-text").value;
    if (!text.trim()) return;
    try {
      const res = await checkRequest(state.chosen.map((c) => c.code));
      state.findings = res.findings; state.checkedText = text;
      const list = $("findings");
      list.replaceChildren(...res.findings.map((f) => findingItem(f, "li")));
      if (!res.findings.length) list.append(el("li", { class: "info", text: "No completeness problems found." }));
      const c = res.counts;
      $("check-counts").textContent = `· ${c.error} errors, ${c.warning} warnings, ${c.info} notes`;
      renderChosen();
    } catch (e) { fail("Check failed")(e); }
  }
  function findingItem(f, tag = "div", withSpan = true) {
    // One finding: severity, message, and (with a position) a button that highlights its span in the text.
    const hasSpan = withSpan && Number.isInteger(f.start) && Number.isInteger(f.end) && f.end > f.start;
    return el(tag, { class: `finding ${f.severity}`, "data-rule": f.rule, "data-code": f.code || null },
      el("span", { class: "sev", text: f.severity }), f.message,
      hasSpan ? el("button", { type: "button", class: "small link show-span", text: "Show in text",
        "aria-label": `Show in the text: ${f.message}`, onclick: () => showFindingSpan(f) }) : null);
  }
  function codeFindings(findings, withSpan = true) {
    return findings.length ? el("div", { class: "findings code-findings", "aria-label": "Findings about this code" },
      ...findings.map((f) => findingItem(f, "div", withSpan))) : null;
  }
  function showFindingSpan(f) {
    if (state.checkedText !== $("chart-text").value) { setStatus("The text changed since the check: check again (Ctrl+Shift+K).", true); return; }
    $("chart-view").hidden = false; $("chart-text").hidden = true; $("btn-edit").hidden = false;
    renderText([{ start: f.start, end: f.end, kind: `finding-${f.severity}`, title: f.message }], state.checkedText);
    setStatus(`${f.code ? `${f.code}: ` : ""}${f.rule} highlighted in the text`);
  }
  function askInDialog(id, fill) {
    // Fill a <dialog> of the page and show it modally; resolves true when the coder confirms (Escape cancels).
    const dialog = $(id);
    fill(dialog.querySelector(".dialog-body"));
    dialog.returnValue = "";
    dialog.showModal();
    (dialog.querySelector(".dialog-body input") || dialog.querySelector("button[value=ok]")).focus();
    return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
  }
  async function acceptTicked() {
    const picks = state.suggestions.filter((s) => s.selected && !s.state);
    if (!picks.length) { setStatus("No model-selected suggestion is left to accept."); return; }
    let res;
    try { res = await checkRequest([...state.chosen.map((c) => c.code), ...picks.map((s) => s.code)]); }
    catch (e) { fail("Check before accepting failed")(e); return; }
    const about = new Map(picks.map((s) => [s.code, res.findings.filter((f) => mentions(f, s.code))]));
    const flagged = (code) => about.get(code).some((f) => f.severity !== "info");
    let take = picks.map((s) => s.code);
    if ([...about.values()].some((fs) => fs.length)) {
      const ok = await askInDialog("bulk-dialog", (body) => body.replaceChildren(...picks.map((s) => el("div", { class: "pick-row" },
        el("label", {}, el("input", { type: "checkbox", value: s.code, checked: !flagged(s.code) }),
          el("span", { class: "code", text: s.code }), ` ${s.description}`),
        codeFindings(about.get(s.code), false)))));
      if (!ok) { setStatus("Nothing accepted."); return; }
      take = [...$("bulk-dialog").querySelectorAll(".dialog-body input:checked")].map((i) => i.value);
    }
    for (const code of take) accept(state.suggestions.findIndex((s) => s.code === code));
    setStatus(take.length ? `Accepted ${take.join(", ")}` : "Nothing accepted.");
  }
  function mentions(f, code) {
    return f.code === code || new RegExp(`(^|[^A-Z0-9.])${code.replace(".", "\\.")}(?![0-9A-Z])`).test(f.message);
  }
  const checkSoon = debounce(runCheck, 400);

  // ------------------------------------------------------------------ save / open / new
  function metaValues() {
    const v = (id) => $(id).value.trim() || null;
    return { patient_id: v("f-patient"), encounter_id: v("f-encounter"), provider: v("f-provider"),
      signed_by: v("f-signed"), document_date: v("f-date"), specialty: v("f-specialty"), document_type: v("f-doctype") };
  }
  async function save(confirmFindings = false) {
    const meta = metaValues();
    const text = $("chart-text").value;
    if (!meta.patient_id) { setStatus("Patient ID is required to save.", true); $("f-patient").focus(); return; }
    if (!text.trim()) { setStatus("The chart text is empty.", true); return; }
    const codes = state.chosen.map((c) => c.code);
    const confirm = confirmFindings ? { confirm_findings: true } : {};
    try {
      let chart;
      if (state.chartId) {
        chart = await api("PATCH", `/v1/charts/${state.chartId}`, { ...meta, text, codes, version: state.version, ...confirm });
      } else {
        const body = { text, codes, ...confirm };
        for (const [k, v] of Object.entries(meta)) if (v !== null) body[k] = v;
        chart = await api("POST", "/v1/charts", body);
      }
      state.chartId = chart.id; state.version = chart.version; setWork(chart);
      const items = [];
      for (const s of state.suggestions) {
        if (s.state && !state.sentFeedback.has(`${s.code}:${s.state}`)) items.push({ code: s.code, action: s.state, confidence: s.confidence });
      }
      for (const c of state.chosen) {
        if (c.source === "added" && !state.sentFeedback.has(`${c.code}:added`)) items.push({ code: c.code, action: "added" });
      }
      if (items.length) {
        const shown = state.suggestions.slice(0, 100).map((s) => ({ code: s.code, confidence: s.confidence, selected: s.selected }));
        const res = await api("POST", `/v1/charts/${chart.id}/feedback`, { items, shown, model_version: state.model ? state.model.version : null });
        state.version = res.chart.version; setWork(res.chart);
        for (const it of items) state.sentFeedback.add(`${it.code}:${it.action}`);
      }
      state.dirty = false;
      renderChartState();
      setStatus(`Saved chart #${chart.id} with ${codes.length} code${codes.length === 1 ? "" : "s"}.`);
    } catch (e) {
      if (e.status === 409 && e.body && Array.isArray(e.body.findings)) {
        if (confirmFindings) fail("Save refused")(e); else await confirmSave(e.body.findings);
      } else if (e.status === 409) setStatus("Someone else changed this chart since you opened it. Reopen it to see their version.", true);
      else fail("Save failed")(e);
    }
  }
  async function confirmSave(findings) {
    // The server refused a save with ERROR findings until the coder confirms them (the override is audited).
    const ok = await askInDialog("save-dialog", (body) => body.replaceChildren(...findings.map((f) => findingItem(f, "div", false))));
    if (ok) await save(true);
    else setStatus(`Not saved: ${findings.length} error finding${findings.length === 1 ? "" : "s"} to resolve or confirm.`, true);
  }
  function resetChart() {
    state.suggestions = []; state.current = -1; state.chosen = []; state.chartId = null; state.version = null;
    state.suggestedText = null; state.sentFeedback = new Set(); state.dirty = false;
    state.findings = []; state.checkedText = null; state.work = null; renderWorkbar();
    for (const id of ["f-patient", "f-encounter", "f-provider", "f-signed", "f-date", "f-specialty", "f-doctype"]) $(id).value = "";
    $("chart-text").value = "";
    renderSuggestions(); renderChosen();
    $("findings").replaceChildren(); $("warnings").replaceChildren(); $("check-counts").textContent = "";
    renderChartState();
    showView(false);
  }
  // A FHIR DocumentReference (or document Bundle) file: the server reads it ($extract) and the form is filled in.
  const FHIR_FIELDS = { patient_id: "f-patient", encounter_id: "f-encounter", provider: "f-provider", signed_by: "f-signed",
    document_date: "f-date", document_type: "f-doctype" };
  async function openFhir(name, content) {
    let resource;
    try { resource = JSON.parse(content); } catch (e) { setStatus(`${name} is not valid JSON.`, true); return; }
    try {
      const params = await api("POST", "/fhir/r4/DocumentReference/$extract", resource, "application/fhir+json");
      resetChart();
      for (const p of params.parameter || []) {
        const value = p.valueString ?? p.valueDate ?? p.valueDecimal;
        if (p.name === "text") $("chart-text").value = value;
        else if (FHIR_FIELDS[p.name]) $(FHIR_FIELDS[p.name]).value = value;
      }
      setStatus(`Opened the FHIR document ${name}. Ctrl+Enter to suggest.`); $("chart-text").focus();
    } catch (e) { fail(`Could not open ${name}`)(e); }
  }
  async function openChart(id) {
    if (state.dirty && !window.confirm("Discard the unsaved changes of the current chart?")) return;
    try {
      const chart = await api("GET", `/v1/charts/${id}`);
      resetChart();
      state.chartId = chart.id; state.version = chart.version; setWork(chart);
      $("f-patient").value = chart.patient_id || ""; $("f-encounter").value = chart.encounter_id || "";
      $("f-provider").value = chart.provider || ""; $("f-date").value = chart.document_date || "";
      $("f-signed").value = chart.signed_by || "";
      $("f-specialty").value = chart.specialty || ""; $("f-doctype").value = chart.document_type || "";
      $("chart-text").value = chart.text;
      state.chosen = chart.codes.map((code) => ({ code, description: "", source: "saved", confidence: null }));
      renderChosen(); renderChartState();
      switchTab("code");
      await Promise.all(state.chosen.map((c) => api("GET", `/v1/codes/${encodeURIComponent(c.code)}`)
        .then((info) => { c.description = info.description; c.billable = info.billable; }).catch(() => {})));
      renderChosen();
      // suggestions computed in the background when the chart was imported, else asked for now
      let stored = null;
      try { stored = await api("GET", `/v1/charts/${chart.id}/suggestions`); } catch (e) { stored = null; }
      if (stored) showSuggestions({ ...stored, suggestions: stored.suggestions.slice(0, 20) }, chart.text, "(computed in the background)");
      else await runSuggest();
      setStatus(`Opened chart #${chart.id} (${chart.codes.length} codes${stored ? ", suggestions ready" : ""}).`);
      return { ready: stored !== null };
    } catch (e) { fail("Open failed")(e); }
  }

  // ------------------------------------------------------------------ find charts
  async function findCharts(page = 1) {
    const params = new URLSearchParams();
    for (const [id, name] of [["s-code", "code"], ["s-patient", "patient_id"], ["s-q", "q"], ["s-from", "from"], ["s-to", "to"]]) {
      const v = $(id).value.trim(); if (v) params.set(name, v);
    }
    const filtered = [...params.keys()].length > 0;
    params.set("page", String(page)); params.set("per_page", "25");
    const body = $("find-results");
    try {
      const res = await api("GET", `/v1/charts?${params}`);
      state.findPage = page;
      body.replaceChildren(...res.items.map((c) => {
        const tr = el("tr", { tabindex: "0", "data-id": String(c.id), "aria-label": `Open chart ${c.id} for patient ${c.patient_id}`,
          onclick: () => openChart(c.id), onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); openChart(c.id); } } },
          el("td", { text: String(c.id) }), el("td", { text: c.patient_id }), el("td", { text: c.document_date || "" }),
          el("td", { text: c.document_type ? (state.docTypeLabels[c.document_type] || c.document_type.replace(/_/g, " ")) : "" }), el("td", { class: "code", text: c.codes.join(" ") }),
          el("td", { text: c.snippet }), el("td", { text: (c.updated_at || "").slice(0, 16).replace("T", " ") }));
        return tr;
      }));
      const last = Math.max(1, Math.ceil(res.total / res.per_page));
      const what = filtered ? `${res.total} chart${res.total === 1 ? "" : "s"}` : `Recent charts (${res.total} in all)`;
      $("find-summary").textContent = res.total ? `${what} · page ${page} of ${last}`
        : (filtered ? "No chart matches this search." : "No charts saved yet.");
      $("find-prev").disabled = page <= 1; $("find-next").disabled = page >= last;
    } catch (e) {
      // never leave the previous search's rows under a failed one
      body.replaceChildren();
      $("find-prev").disabled = true; $("find-next").disabled = true;
      $("find-summary").textContent = "";
      fail("Search failed")(e);
    }
  }

  function switchTab(which) {
    for (const view of ["code", "find", "work", "queries", "analytics"]) {
      $(`view-${view}`).hidden = view !== which;
      $(`tab-${view}`).setAttribute("aria-pressed", String(view === which));
    }
    state.view = which;
    // A tab clicked while the sign-in is still under way is loaded when it completes (signIn switches to it).
    if (!state.me) return;
    if (which === "find") $("s-code").focus();
    if (which === "work") { loadWorklist(state.workPage); loadTeam(); }
    if (which === "queries") loadQueries();
    if (which === "analytics") loadAnalytics();
  }

  // ------------------------------------------------------------------ analytics
  // Each figure: the API's table, a plot of it (Chart.js, vendored) and the table itself, with its CSV.
  const FIGURES = [
    { name: "status", plot: (t) => stacked(t, t.columns.slice(1, -1)) },
    { name: "throughput", plot: throughputPlot },
    { name: "completeness", plot: (t) => bars(t.rows.slice(0, 15), 0, [[3, "share of charts"]], true) },
    { name: "codes", plot: (t) => bars(t.rows.filter((r) => r[0] === "code").slice(0, 15), 1, [[3, "charts"]], true) },
    { name: "quality", plot: (t) => bars(t.rows.slice(0, 20), 0, [[4, "precision"], [5, "recall"], [6, "acceptance"]], false, 1) },
    { name: "calibration", plot: calibrationPlot },
    { name: "misses", plot: (t) => bars(t.rows.filter((r) => r[0] === "missed").slice(0, 15), 1, [[3, "missed"], [4, "correct"]], true) },
  ];
  const COLORS = ["#2f6690", "#d9822b", "#3a7d44", "#b23a3a", "#7b5ea7", "#8c8c8c", "#c9a227"];
  const charts = {};
  function stacked(t, series) {
    return { type: "bar", data: { labels: t.rows.map((r) => STATUS_LABELS[r[0]] || r[0]),
      datasets: series.map((s, i) => ({ label: s, data: t.rows.map((r) => r[i + 1]), backgroundColor: COLORS[i % COLORS.length] })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } } };
  }
  function bars(rows, labelAt, series, horizontal, max) {
    return { type: "bar", data: { labels: rows.map((r) => String(r[labelAt])),
      datasets: series.map(([at, label], i) => ({ label, data: rows.map((r) => r[at]), backgroundColor: COLORS[i % COLORS.length] })) },
      options: { indexAxis: horizontal ? "y" : "x", scales: { [horizontal ? "x" : "y"]: { beginAtZero: true, max } } } };
  }
  function throughputPlot(t) {
    const days = [...new Set(t.rows.map((r) => r[0]))].sort();
    const coders = [...new Set(t.rows.map((r) => r[1]))].sort();
    return { type: "bar", data: { labels: days, datasets: coders.map((c, i) => ({ label: `${c} (completed)`, backgroundColor: COLORS[i % COLORS.length],
      data: days.map((d) => { const r = t.rows.find((x) => x[0] === d && x[1] === c); return r ? r[3] : 0; }) })) },
      options: { scales: { y: { beginAtZero: true } } } };
  }
  function calibrationPlot(t) {
    const points = t.rows.filter((r) => r[1] > 0).map((r) => ({ x: r[2], y: r[3] }));
    return { type: "scatter", data: { datasets: [
      { label: "share of shown suggestions the coder kept", data: points, showLine: true, backgroundColor: COLORS[0], borderColor: COLORS[0] },
      { label: "perfect calibration", data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], showLine: true, pointRadius: 0, borderDash: [4, 4], borderColor: COLORS[5] }] },
      options: { scales: { x: { min: 0, max: 1, title: { display: true, text: "mean confidence" } }, y: { min: 0, max: 1, title: { display: true, text: "kept" } } } } };
  }
  function analyticsParams() {
    const params = new URLSearchParams();
    for (const [id, name] of [["a-from", "from"], ["a-to", "to"], ["a-by", "by"]]) { const v = $(id).value; if (v) params.set(name, v); }
    return params;
  }
  let analyticsLoad = 0;  // a newer load supersedes one still running
  async function loadAnalytics() {
    const load = ++analyticsLoad;
    const params = analyticsParams();
    const plots = typeof window.Chart === "function";
    $("analytics-note").textContent = plots ? "" : "Plots are unavailable (the plotting library is not vendored: run make vendor); the tables follow.";
    const box = $("figures");
    box.replaceChildren();
    for (const fig of FIGURES) {
      let table;
      try { table = await api("GET", `/v1/analytics/${fig.name}?${params}`); }
      catch (e) { if (load === analyticsLoad) fail(`Figure ${fig.name} failed`)(e); continue; }
      if (load !== analyticsLoad) return;
      const canvas = el("canvas", { role: "img", "aria-label": `${table.title}: plot (the table below holds the figures)` });
      const card = el("section", { class: "figure", "data-figure": fig.name, "aria-label": table.title },
        el("h2", {}, table.title, el("button", { type: "button", class: "small", text: "CSV", "aria-label": `Download ${table.title} as CSV`,
          onclick: () => downloadCsv(fig.name, params) })),
        el("p", { class: "muted", text: `${table.start} to ${table.end}` }),
        plots ? el("div", { class: "plot" }, canvas) : null,
        el("details", { open: !plots }, el("summary", { text: "Table" }), figureTable(table)));
      box.append(card);
      if (plots) {
        if (charts[fig.name]) charts[fig.name].destroy();
        const config = fig.plot(table);
        config.options = { ...config.options, animation: false, responsive: true, maintainAspectRatio: false };
        charts[fig.name] = new window.Chart(canvas, config);
      }
    }
  }
  function figureTable(t) {
    return el("table", {}, el("thead", {}, el("tr", {}, ...t.columns.map((c) => el("th", { scope: "col", text: c.replace(/_/g, " ") })))),
      el("tbody", {}, ...t.rows.map((r) => el("tr", {}, ...r.map((v) => el("td", { class: typeof v === "number" ? "num" : null,
        text: v === null ? "" : String(v) }))))));
  }
  async function downloadCsv(name, params) {
    try {
      const res = await fetch(`/v1/analytics/${name}/csv?${params}`, { headers: { "Authorization": `Bearer ${state.token}` } });
      if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
      const url = URL.createObjectURL(await res.blob());
      const a = el("a", { href: url, download: `${name}.csv` });
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (e) { fail("Download failed")(e); }
  }

  // ------------------------------------------------------------------ worklist and workflow
  function setWork(chart) {
    state.work = { status: chart.status, assignee: chart.assignee, priority: chart.priority, due_date: chart.due_date };
    renderWorkbar();
  }
  function renderWorkbar() {
    const w = state.work, bar = $("workbar");
    bar.hidden = !w;
    if (!w) return;
    const mine = w.assignee === state.me.user, admin = state.me.role === "admin";
    const mayMove = mine || admin || !w.assignee;
    $("work-state").textContent = `${STATUS_LABELS[w.status]}` + (w.assignee ? ` · ${w.assignee}` : " · unassigned") +
      ` · ${w.priority}` + (w.due_date ? ` · due ${w.due_date}` : "");
    const show = { "btn-take": w.status === "new", "btn-query": w.status !== "completed",
      "btn-coded": w.status === "in_progress", "btn-complete": w.status === "coded",
      "btn-release": w.status === "in_progress", "btn-reopen": (w.status === "coded") || (w.status === "completed" && admin) };
    for (const [id, visible] of Object.entries(show)) { $(id).hidden = !visible; $(id).disabled = !mayMove && id !== "btn-query"; }
    $("assign-box").hidden = !(admin && (w.status === "new" || w.status === "in_progress"));
  }
  async function fillAssignees() {
    if (state.me.role !== "admin") return;
    const users = (await api("GET", "/v1/users")).users.filter((u) => u.roles.some((r) => r === "coder" || r === "admin"));
    $("assign-to").replaceChildren(el("option", { value: "", text: "(choose a coder)" }),
      ...users.map((u) => el("option", { value: u.user, text: u.display_name ? `${u.display_name} (${u.user})` : u.user })));
  }
  async function assignChart() {
    const who = $("assign-to").value;
    if (!who || !state.chartId) return;
    const status = state.work.status === "new" ? "in_progress" : state.work.status;
    try {
      const chart = await api("POST", `/v1/charts/${state.chartId}/status`, { status, version: state.version, assignee: who });
      state.version = chart.version; setWork(chart); renderChartState();
      setStatus(`Chart #${chart.id} assigned to ${chart.assignee}.`);
    } catch (e) { fail("Could not assign the chart")(e); }
    $("assign-to").value = "";
  }
  async function loadTeam() {
    const team = $("team");
    team.hidden = state.me.role !== "admin";
    if (team.hidden) return;
    try {
      const users = (await api("GET", "/v1/users")).users;
      $("team-rows").replaceChildren(...users.map((u) => {
        const input = el("input", { value: u.specialties.join(", "), "aria-label": `Specialties of ${u.user}`, "data-user": u.user });
        const save = el("button", { type: "button", class: "small", text: "Save", "aria-label": `Save the specialties of ${u.user}`,
          onclick: async () => {
            const specialties = input.value.split(",").map((x) => x.trim()).filter(Boolean);
            try {
              const res = await api("PUT", `/v1/users/${encodeURIComponent(u.user)}/profile`, { specialties, display_name: u.display_name });
              setStatus(`${res.user}: ${res.specialties.length ? res.specialties.join(", ") : "any specialty"}.`);
            } catch (e) { fail(`Could not save ${u.user}'s specialties`)(e); }
          } });
        return el("tr", {}, el("td", { text: u.user }), el("td", { text: u.roles.join(", ") }), el("td", {}, input), el("td", {}, save));
      }));
    } catch (e) { fail("Team failed")(e); }
  }
  async function moveChart(status) {
    if (!state.chartId) return;
    if (state.dirty) {
      await save();
      if (state.dirty) return;  // the save did not go through: its message stays
    }
    try {
      const chart = await api("POST", `/v1/charts/${state.chartId}/status`, { status, version: state.version });
      state.version = chart.version; setWork(chart); renderChartState();
      setStatus(`Chart #${chart.id} is ${STATUS_LABELS[chart.status]}${chart.assignee ? ` (${chart.assignee})` : ""}.`);
      if (status === "completed") { switchTab("work"); }
    } catch (e) {
      if (e.status === 409 && e.body && e.body.field === "version") setStatus("Someone else changed or took this chart meanwhile: reopen it from the worklist.", true);
      else fail("Could not change the status")(e);
    }
  }
  async function refreshWork() {
    // The chart's status and version after a change made elsewhere (a query put it on hold), its text kept.
    const chart = await api("GET", `/v1/charts/${state.chartId}`);
    state.version = chart.version; setWork(chart); renderChartState();
  }
  async function nextChart() {
    if (state.dirty && !window.confirm("Discard the unsaved changes of the current chart?")) return;
    state.dirty = false;
    try {
      const res = await api("POST", "/v1/worklist/next");
      const opened = await openChart(res.chart.id);
      setStatus(`Took chart #${res.chart.id} (${res.chart.priority}${res.chart.due_date ? `, due ${res.chart.due_date}` : ""}` +
        `${opened && opened.ready ? "; suggestions ready" : ""}).`);
    } catch (e) {
      if (e.status === 404) setStatus(e.message + ".");
      else fail("Next chart failed")(e);
    }
  }
  async function loadWorklist(page = 1) {
    const params = new URLSearchParams();
    for (const [id, name] of [["w-status", "status"], ["w-assignee", "assignee"], ["w-specialty", "specialty"],
      ["w-doctype", "document_type"], ["w-age", "min_age_days"]]) { const v = $(id).value.trim(); if (v) params.set(name, v); }
    params.set("page", String(page)); params.set("per_page", "25");
    const body = $("work-results");
    try {
      const res = await api("GET", `/v1/worklist?${params}`);
      state.workPage = page;
      body.replaceChildren(...res.items.map((c) => el("tr", { tabindex: "0", "data-id": String(c.id), "data-status": c.status,
        "aria-label": `Open chart ${c.id}, ${STATUS_LABELS[c.status]}`, onclick: () => openChart(c.id),
        onkeydown: (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); openChart(c.id); } } },
        el("td", { text: String(c.id) }), el("td", { text: c.patient_id }), el("td", { text: STATUS_LABELS[c.status] }),
        el("td", { text: c.assignee || "" }), el("td", {}, el("span", { class: `pill ${c.priority}`, text: c.priority })),
        el("td", { text: c.due_date || "" }), el("td", { text: String(c.age_days) }), el("td", { text: c.specialty || "" }),
        el("td", { text: c.document_type ? (state.docTypeLabels[c.document_type] || c.document_type) : "" }),
        el("td", { text: c.open_queries ? `${c.open_queries} open` : "" }))));
      const counts = $("work-counts");
      counts.replaceChildren(...Object.entries(res.counts).flatMap(([k, n], i) => [i ? " · " : "", el("b", { text: String(n) }), ` ${STATUS_LABELS[k]}`]));
      const last = Math.max(1, Math.ceil(res.total / res.per_page));
      $("work-prev").disabled = page <= 1; $("work-next").disabled = page >= last;
      if (!res.total) body.append(el("tr", {}, el("td", { colspan: "10", class: "muted", text: "No chart matches these filters." })));
    } catch (e) { body.replaceChildren(); fail("Worklist failed")(e); }
  }

  async function importCharts(file) {
    const name = file.name;
    const format = /\.csv$/i.test(name) ? "csv" : /\.jsonl$/i.test(name) ? "jsonl" : "fhir";
    if (file.size > 20000000) { setStatus(`${name} is larger than an import takes (20 MB).`, true); return; }
    let job;
    try {
      const content = await file.text();
      job = (await api("POST", "/v1/imports", { format, filename: name, content })).job;
    } catch (e) { fail(`Import of ${name} refused`)(e); return; }
    const bar = $("import-progress");
    bar.hidden = false; bar.max = job.total; bar.value = 0;
    setStatus(`Imported ${job.total} chart${job.total === 1 ? "" : "s"} from ${name} into the queue.`);
    loadWorklist(1);
    while (job.status !== "done") {
      $("import-state").textContent = `${name}: suggestions ready for ${job.precomputed} of ${job.total}`;
      bar.value = job.precomputed + job.failed;
      await new Promise((r) => setTimeout(r, 1000));
      try { job = await api("GET", `/v1/imports/${job.id}`); } catch (e) { fail("Import progress failed")(e); return; }
    }
    bar.value = job.total;
    $("import-state").textContent = `${name}: ${job.total} charts imported, suggestions ready for ${job.precomputed}` +
      (job.failed ? ` (${job.failed} failed)` : "");
  }

  // ------------------------------------------------------------------ provider queries
  function selectedSpan() {
    // The coder's selection as offsets into the chart text, from the text box or the highlighted view.
    const box = $("chart-text");
    if (!box.hidden) return box.selectionEnd > box.selectionStart ? [box.selectionStart, box.selectionEnd] : null;
    const sel = window.getSelection(), view = $("chart-view");
    if (!sel.rangeCount || sel.isCollapsed || !view.contains(sel.anchorNode)) return null;
    const range = sel.getRangeAt(0), before = document.createRange();
    before.setStart(view, 0); before.setEnd(range.startContainer, range.startOffset);
    const start = before.toString().length;
    return [start, start + range.toString().length];
  }
  async function queryProvider() {
    if (!state.chartId || state.dirty) { setStatus("Save the chart before querying the provider.", true); return; }
    const span = selectedSpan();
    const text = state.suggestedText || $("chart-text").value;
    const excerpt = span ? text.slice(span[0], span[1]) : "";
    let users;
    try {
      if (!state.templates) state.templates = (await api("GET", "/v1/query-templates")).templates;
      users = (await api("GET", "/v1/users")).users.filter((u) => u.roles.includes("provider"));
    } catch (e) { fail("Could not prepare the query")(e); return; }
    if (!users.length) { setStatus("No provider has an account yet: ask an admin to create a provider token.", true); return; }
    const dialog = $("query-dialog");
    $("qd-provider").replaceChildren(...users.map((u) => el("option", { value: u.user, text: u.display_name ? `${u.display_name} (${u.user})` : u.user })));
    $("qd-template").replaceChildren(el("option", { value: "", text: "(free question)" }),
      ...state.templates.map((t) => el("option", { value: t.id, text: t.title })));
    $("qd-excerpt").textContent = excerpt || "(no text selected: select the words the question concerns first)";
    $("qd-question").value = ""; $("qd-options").value = "";
    $("qd-template").onchange = () => {
      const t = state.templates.find((x) => x.id === $("qd-template").value);
      $("qd-question").value = t ? t.question.replace("{finding}", excerpt.trim() || "the condition") : "";
      $("qd-options").value = t ? t.options.join("\n") : "";
    };
    dialog.returnValue = "";
    dialog.showModal();
    $("qd-template").focus();
    const ok = await new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
    if (!ok) { setStatus("No query sent."); return; }
    const body = { provider: $("qd-provider").value, question: $("qd-question").value.trim() || null,
      options: $("qd-options").value.split("\n").map((o) => o.trim()).filter(Boolean) };
    if ($("qd-template").value) body.template = $("qd-template").value;
    if (span) { body.start = span[0]; body.end = span[1]; }
    try {
      const res = await api("POST", `/v1/charts/${state.chartId}/queries`, body);
      await refreshWork();
      setStatus(`Query #${res.query.id} sent to ${res.query.provider}; the chart is ${STATUS_LABELS[res.chart_status]}.`);
    } catch (e) { fail("Query not sent")(e); }
  }
  async function loadQueries() {
    const status = $("q-status").value;
    const list = $("query-list");
    try {
      const res = await api("GET", `/v1/queries?per_page=100${status ? `&status=${status}` : ""}`);
      list.replaceChildren(...res.items.map(queryItem));
      $("queries-summary").textContent = res.total ? `${res.total} quer${res.total === 1 ? "y" : "ies"}` : "No queries.";
    } catch (e) { list.replaceChildren(); fail("Queries failed")(e); }
  }
  function queryItem(q) {
    const provider = state.me.role === "provider";
    const li = el("li", { class: `query ${q.status}`, "data-id": String(q.id), "data-status": q.status },
      el("div", { class: "muted", text: `Query #${q.id} · chart #${q.chart_id} · ${q.status} · from ${q.created_by} to ${q.provider} · ${q.created_at.slice(0, 16).replace("T", " ")}` }),
      el("p", { class: "question", text: q.question }),
      q.excerpt ? el("span", { class: "excerpt", "aria-label": "The text the query concerns", text: q.excerpt }) : null,
      q.answer ? el("p", { class: "answer" }, el("b", { text: "Answer: " }), q.option ? `${q.option}. ` : "", q.answer) : null,
      q.amendment ? el("p", { class: "muted", text: `Addendum added to the chart: ${q.amendment}` }) : null);
    if (provider && q.status === "open") li.append(answerForm(q));
    if (!provider) {
      const acts = el("div", { class: "row" }, el("button", { type: "button", class: "small", text: "Open chart", onclick: () => openChart(q.chart_id) }));
      if (q.status !== "closed") acts.append(el("button", { type: "button", class: "small close-query", text: q.status === "open" ? "Withdraw" : "Close",
        onclick: () => closeQuery(q) }));
      li.append(acts);
    }
    return li;
  }
  function answerForm(q) {
    const name = `opt-${q.id}`;
    const form = el("form", { class: "answer-form", "aria-label": `Answer query ${q.id}` },
      q.options.length ? el("fieldset", {}, el("legend", { text: "Options" }),
        ...q.options.map((o) => el("label", {}, el("input", { type: "radio", name, value: o }), ` ${o}`))) : null,
      el("label", {}, "Answer", el("textarea", { name: "answer", rows: "2", required: true, maxlength: "4000" })),
      el("label", {}, "Amend the chart (addendum, optional)", el("textarea", { name: "amendment", rows: "2", maxlength: "20000" })),
      el("div", { class: "row" }, el("button", { type: "submit", class: "primary", text: "Send answer" })));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const picked = form.querySelector(`input[name="${name}"]:checked`);
      const body = { answer: form.elements.answer.value.trim(), version: q.version };
      if (picked) body.option = picked.value;
      const amendment = form.elements.amendment.value.trim();
      if (amendment) body.amendment = amendment;
      if (!body.answer) { setStatus("Write an answer first.", true); form.elements.answer.focus(); return; }
      try {
        await api("POST", `/v1/queries/${q.id}/answer`, body);
        setStatus(`Answered query #${q.id}.`);
        loadQueries();
      } catch (e) { fail("Answer not sent")(e); }
    });
    return form;
  }
  async function closeQuery(q) {
    try {
      const res = await api("POST", `/v1/queries/${q.id}/close`, { version: q.version });
      setStatus(`Query #${q.id} closed; chart #${q.chart_id} is ${STATUS_LABELS[res.chart_status]}.`);
      loadQueries();
      if (state.chartId === q.chart_id) refreshWork().catch(() => {});
    } catch (e) { fail("Could not close the query")(e); }
  }

  // ------------------------------------------------------------------ wiring
  function wire() {
    $("signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token-input").value.trim()); });
    $("signout").addEventListener("click", () => signOut(""));
    $("tab-code").addEventListener("click", () => switchTab("code"));
    $("tab-find").addEventListener("click", () => { switchTab("find"); findCharts(1); });
    $("tab-work").addEventListener("click", () => switchTab("work"));
    $("tab-queries").addEventListener("click", () => switchTab("queries"));
    $("tab-analytics").addEventListener("click", () => switchTab("analytics"));
    $("analytics-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadAnalytics(); });
    $("btn-next").addEventListener("click", nextChart);
    $("import-input").addEventListener("change", (ev) => {
      const file = ev.target.files[0];
      ev.target.value = "";
      if (file) importCharts(file);
    });
    $("work-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadWorklist(1); });
    $("work-prev").addEventListener("click", () => loadWorklist(Math.max(1, state.workPage - 1)));
    $("work-next").addEventListener("click", () => loadWorklist(state.workPage + 1));
    $("queries-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadQueries(); });
    for (const button of $("workbar").querySelectorAll("button[data-move]")) {
      button.addEventListener("click", () => moveChart(button.dataset.move));
    }
    $("btn-query").addEventListener("click", queryProvider);
    $("assign-to").addEventListener("change", assignChart);
    $("btn-suggest").addEventListener("click", runSuggest);
    $("btn-check").addEventListener("click", runCheck);
    $("btn-save").addEventListener("click", save);
    $("btn-new").addEventListener("click", () => {
      if (state.dirty && !window.confirm("Discard the unsaved changes of this chart?")) return;
      resetChart(); $("chart-text").focus(); setStatus("New chart.");
    });
    $("btn-edit").addEventListener("click", () => { showView(false); $("chart-text").focus(); });
    $("btn-accept-selected").addEventListener("click", acceptTicked);
    for (const id of ["f-doctype", "f-patient", "f-encounter", "f-provider", "f-signed", "f-date"]) $(id).addEventListener("change", checkSoon);
    window.addEventListener("beforeunload", (ev) => { if (state.dirty && state.token) { ev.preventDefault(); ev.returnValue = ""; } });
    $("chart-text").addEventListener("input", () => {
      state.dirty = true;
      renderChartState();
    });
    $("file-input").addEventListener("change", (ev) => {
      const file = ev.target.files[0];
      if (!file) return;
      if (state.dirty && !window.confirm("Discard the unsaved changes of the current chart?")) { ev.target.value = ""; return; }
      const fhirFile = /\.json$/i.test(file.name);  // a FHIR document: its note is in base64, a third larger
      if (file.size > (fhirFile ? 1500000 : 900000)) { setStatus(`That file is too large for one chart (limit about ${fhirFile ? "1.5 MB" : "900 kB"}).`, true); return; }
      const reader = new FileReader();
      reader.onload = () => {
        const content = String(reader.result);
        if (/^\s*\{/.test(content)) { openFhir(file.name, content); return; }
        resetChart(); $("chart-text").value = content; setStatus(`Opened ${file.name}. Ctrl+Enter to suggest.`); $("chart-text").focus();
      };
      reader.onerror = () => setStatus("Could not read that file.", true);
      reader.readAsText(file);
      ev.target.value = "";
    });
    $("suggestions").addEventListener("keydown", (ev) => {
      const li = ev.target.closest("li.sugg");
      if (!li || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const i = Number(li.dataset.index);
      if (ev.key === "ArrowDown") { ev.preventDefault(); focusSuggestion(i + 1); }
      else if (ev.key === "ArrowUp") { ev.preventDefault(); focusSuggestion(i - 1); }
      else if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); showEvidence(i); }
      else if (ev.key === "a") { ev.preventDefault(); accept(i); }
      else if (ev.key === "r") { ev.preventDefault(); reject(i); }
    });
    const search = $("code-search");
    search.addEventListener("input", () => searchCodes(search.value));
    search.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowDown" && searchHits.length) { ev.preventDefault(); searchActive = (searchActive + 1) % searchHits.length; renderListbox(); }
      else if (ev.key === "ArrowUp" && searchHits.length) { ev.preventDefault(); searchActive = (searchActive - 1 + searchHits.length) % searchHits.length; renderListbox(); }
      else if (ev.key === "Enter") { ev.preventDefault(); if (searchActive >= 0) pickHit(searchActive); }
      else if (ev.key === "Escape") { closeListbox(); }
    });
    search.addEventListener("blur", () => setTimeout(closeListbox, 150));
    $("find-form").addEventListener("submit", (ev) => { ev.preventDefault(); findCharts(1); });
    $("find-prev").addEventListener("click", () => findCharts(Math.max(1, state.findPage - 1)));
    $("find-next").addEventListener("click", () => findCharts(state.findPage + 1));
    document.addEventListener("keydown", (ev) => {
      if (!state.token || !state.me || state.me.role === "provider") return;
      const mod = ev.ctrlKey || ev.metaKey;
      if (mod && ev.key === "Enter") { ev.preventDefault(); switchTab("code"); runSuggest(); }
      else if (mod && (ev.key === "s" || ev.key === "S")) { ev.preventDefault(); save(); }
      else if (mod && ev.shiftKey && (ev.key === "k" || ev.key === "K")) { ev.preventDefault(); runCheck(); }
      else if (ev.key === "/" && !mod && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) { ev.preventDefault(); switchTab("code"); search.focus(); }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    wire();
    readTokenFromUrl();
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) signIn(token); else showSignIn("");
  });
})();
