// Desk (/desk): counter staff call, recall, start, finish, transfer tickets.
//
// Session: cookie from POST /api/v1/login; the CSRF token from its answer is
// kept only in the variable `csrf` (never in storage) and sent as
// X-CSRF-Token on every POST. A reload therefore asks for the login again.
// The chosen counter is kept in the URL hash (#counter=c1), not in storage.
// Findings of the counter's office scanner arrive over a staff-only event stream
// (/api/v1/counters/{id}/findings/stream); names of an ID document are shown only
// while they wait for the desk to confirm the visitor's consent, and never stored here.

import { ALL_LANGUAGES, languageName, loadCatalogs, translator } from "/js/i18n.js";
import { ApiError, api } from "/js/api.js";
import { connectEvents } from "/js/events.js";
import { el, minutesSince, serviceName } from "/js/util.js";

const HEALTH_EVERY_MS = 15000;
const MINUTES_EVERY_MS = 15000;
const REFRESH_DEBOUNCE_MS = 250;
const MAX_EVENT_ALERTS = 5;
const LONG_WAIT_MINUTES = 45;

const STATUS_DE = {
  waiting: "wartet",
  called: "aufgerufen",
  serving: "in Beratung",
  done: "abgeschlossen",
  no_show: "nicht erschienen",
  cancelled: "storniert",
  transferred: "weitergeleitet",
};
const COMPONENT_DE = {
  database: "Datenbank",
  events: "Live-Ereignisse",
  printer: "Ticketdrucker",
  case_system: "Fachverfahren",
};
const COMPONENT_STATE_DE = {
  ok: "in Ordnung",
  ready: "bereit",
  degraded: "eingeschränkt",
  fault: "gestört",
  paper_near_end: "Papier fast leer",
  paper_out: "Papier leer",
  cover_open: "Deckel offen",
  offline: "nicht erreichbar",
};
const FINE = new Set(["ok", "ready", "not_configured"]);
const FINDING_KIND_DE = {
  appointment: "Termincode",
  visitor_card: "Besucherkarte",
  id_document: "Ausweisdokument",
  unknown: "Code",
};
const DOCUMENT_DE = {
  id_card: "Personalausweis",
  residence_permit: "Aufenthaltstitel",
  passport: "Reisepass",
  visa: "Visum",
};
const REFUSED_DE = {
  "kiosk.qr.error.unknown": "kein Lotse-Code",
  "kiosk.qr.error.invalid": "Code ungültig oder nicht prüfbar",
  "kiosk.qr.error.expired": "Termincode abgelaufen",
  "kiosk.qr.error.other_day": "Termin an einem anderen Tag",
  "kiosk.id.error.unreadable": "MRZ nicht lesbar oder Prüfziffern falsch",
  "kiosk.id.error.disabled": "Ausweis-Scan für diese Dokumentart nicht freigeschaltet",
};
const ACTIVE = new Set(["called", "serving"]);

const $ = (id) => document.getElementById(id);
const tDe = translator("de");

let csrf = null; // only here, never persisted
let user = null;
let events = null;
let findingsSource = null;
let findingsCounter = null;
let healthTimer = null;
let minutesTimer = null;
let refreshTimer = null;
let busy = false;

const state = {
  counters: [],
  services: [],
  tickets: [],
  waiting: {},
  counterId: null,
  current: null,
  health: null, // last /healthz body, or {unreachable: true}
  sseLost: false,
  eventAlerts: [], // [{id, level, text, at}], newest first, bounded
  findings: [], // this counter's office-scanner findings (server's list)
};

// -------------------------------------------------------------------- API

function isCsrfProblem(e) {
  const p = e.problem || {};
  return e.status === 403 && /csrf/i.test(`${p.type || ""} ${p.title || ""} ${p.detail || ""}`);
}

async function staff(path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (opts.method && opts.method !== "GET") headers["X-CSRF-Token"] = csrf || "";
  try {
    return await api(path, { ...opts, headers });
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || isCsrfProblem(e))) {
      showLogin("Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.");
    }
    throw e;
  }
}

function problemText(e) {
  if (!(e instanceof ApiError)) return String(e);
  if (e.status === 0) return "Server nicht erreichbar. Bitte erneut versuchen.";
  const p = e.problem;
  if (p && (p.detail || p.title)) return `${p.title || "Fehler"}${p.detail ? `: ${p.detail}` : ""}`;
  return `Fehler (HTTP ${e.status}).`;
}

// ------------------------------------------------------------------ login

function showLogin(message = "") {
  stopLive();
  csrf = null;
  user = null;
  $("app-view").hidden = true;
  $("desk-counter-box").hidden = true;
  $("desk-user-box").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message;
  $("login-password").value = "";
  $("login-username").focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const username = $("login-username").value.trim();
  const password = $("login-password").value;
  if (!username || !password) {
    $("login-error").textContent = "Bitte Benutzername und Passwort eingeben.";
    return;
  }
  $("login-submit").disabled = true;
  try {
    const res = await api("/api/v1/login", { method: "POST", body: { username, password } });
    if (!res || !res.csrf_token) throw new ApiError(500, null, "Antwort ohne CSRF-Token");
    csrf = res.csrf_token;
    user = { name: res.username || username, role: res.role || "" };
    $("login-password").value = "";
    $("login-error").textContent = "";
    await startApp();
  } catch (e) {
    $("login-password").value = "";
    $("login-error").textContent =
      e instanceof ApiError && (e.status === 401 || e.status === 403)
        ? "Anmeldung fehlgeschlagen: Benutzername oder Passwort ist falsch."
        : problemText(e);
  } finally {
    $("login-submit").disabled = false;
  }
}

async function onLogout() {
  try {
    await api("/api/v1/logout", { method: "POST", headers: { "X-CSRF-Token": csrf || "" } });
  } catch {
    // The session ends on our side anyway.
  }
  showLogin("Sie haben sich abgemeldet.");
}

// ------------------------------------------------------------------ start

async function startApp() {
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("desk-counter-box").hidden = false;
  $("desk-user-box").hidden = !user; // no logout without a login
  $("desk-user").textContent = user ? `Angemeldet: ${user.name}` : "";
  await refresh();
  startLive();
  readHash();
}

function startLive() {
  stopLive();
  events = connectEvents({
    onEvent,
    onOpen: () => {
      state.sseLost = false;
      renderAlerts();
      scheduleRefresh();
    },
    onLost: () => {
      state.sseLost = true;
      renderAlerts();
    },
    extraKinds: ["alert"],
  });
  checkHealth();
  healthTimer = setInterval(checkHealth, HEALTH_EVERY_MS);
  minutesTimer = setInterval(updateMinutes, MINUTES_EVERY_MS);
}

function stopLive() {
  if (events) events.close();
  events = null;
  closeFindings();
  clearInterval(healthTimer);
  clearInterval(minutesTimer);
  clearTimeout(refreshTimer);
  healthTimer = minutesTimer = refreshTimer = null;
}

// ---------------------------------------------------------------- loading

async function refresh() {
  const [counters, services, queue] = await Promise.allSettled([
    staff("/api/v1/counters"),
    staff("/api/v1/services"),
    staff("/api/v1/queue"),
  ]);
  if (counters.status === "fulfilled" && Array.isArray(counters.value)) state.counters = counters.value;
  if (services.status === "fulfilled" && Array.isArray(services.value)) state.services = services.value;
  if (queue.status === "fulfilled" && queue.value) {
    state.tickets = Array.isArray(queue.value.tickets) ? queue.value.tickets : [];
    if (queue.value.waiting) state.waiting = queue.value.waiting;
  }
  const failed = [counters, services, queue].find((r) => r.status === "rejected");
  if (failed && !(failed.reason instanceof ApiError && failed.reason.status === 401)) {
    setStatus(`Daten konnten nicht geladen werden. ${problemText(failed.reason)}`, true);
  }
  syncCurrent();
  renderAll();
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    if (!$("app-view").hidden) refresh(); // not behind the login form
  }, REFRESH_DEBOUNCE_MS);
}

function myCounter() {
  return state.counters.find((c) => c.id === state.counterId) || null;
}

/** The ticket this counter is working on: the server's current_ticket, else an open one at this counter. */
function syncCurrent() {
  const c = myCounter();
  let cur = c && c.current_ticket && ACTIVE.has(c.current_ticket.status) ? c.current_ticket : null;
  if (!cur && c) {
    const open = state.tickets.filter((t) => t.counter === c.id && ACTIVE.has(t.status));
    open.sort((a, b) => (Date.parse(b.called_at) || 0) - (Date.parse(a.called_at) || 0));
    cur = open[0] || null;
  }
  state.current = cur;
}

// ---------------------------------------------------------------- counter

function readHash() {
  const m = /^#(?:counter=)?([^&]+)/.exec(location.hash);
  const id = m ? decodeURIComponent(m[1]) : "";
  state.counterId = state.counters.some((c) => c.id === id) ? id : null;
  syncCurrent();
  if (!$("app-view").hidden) openFindings();
  renderAll();
}

// ---------------------------------------------------------------- findings

function closeFindings() {
  if (findingsSource) findingsSource.close();
  findingsSource = null;
  findingsCounter = null;
  state.findings = [];
}

/** Follows the chosen counter's findings; the server sends the whole list on every change. */
function openFindings() {
  const id = state.counterId;
  if (id === findingsCounter && findingsSource) return;
  closeFindings();
  if (!id) {
    renderFindings();
    return;
  }
  findingsCounter = id;
  findingsSource = new EventSource(`/api/v1/counters/${encodeURIComponent(id)}/findings/stream`);
  findingsSource.addEventListener("findings", (ev) => {
    try {
      const list = JSON.parse(ev.data);
      state.findings = Array.isArray(list) ? list : [];
    } catch {
      state.findings = [];
    }
    renderFindings();
  });
}

async function confirmFinding(f) {
  const r = await act(
    "Übernahme",
    `/api/v1/counters/${encodeURIComponent(f.counter)}/findings/${encodeURIComponent(f.id)}/confirm`,
    { consent: true },
  );
  if (r.ok) setStatus(`Name und Geburtsdatum bei ${f.ticket ? f.ticket.number : "dem Vorgang"} gespeichert.`);
}

async function dismissFinding(f) {
  const r = await act(
    "Verwerfen",
    `/api/v1/counters/${encodeURIComponent(f.counter)}/findings/${encodeURIComponent(f.id)}/dismiss`,
  );
  if (r.ok) setStatus(f.state === "needs_consent" ? "Ausweisdaten verworfen, nichts gespeichert." : "Hinweis ausgeblendet.");
}

function birthDe(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
  return m ? `${m[3]}.${m[2]}.${m[1]}` : iso || "–";
}

function findingText(f) {
  const kind = FINDING_KIND_DE[f.kind] || "Code";
  const num = f.ticket ? f.ticket.number : "";
  switch (f.state) {
    case "attached":
      return `${kind} übernommen für ${num}.`;
    case "needs_consent":
      return `${DOCUMENT_DE[f.document] || kind} für ${num} gelesen – wartet auf Ihre Bestätigung der Einwilligung.`;
    case "no_current_visit":
      return `${kind} gescannt, aber an diesem Schalter ist kein Vorgang aufgerufen – nichts übernommen.`;
    default:
      return `${kind} nicht verwendbar: ${REFUSED_DE[f.message_key] || "unbekannter Grund"}.`;
  }
}

function renderFinding(f) {
  const time = new Date(f.at).toLocaleTimeString("de-DE", { timeZone: "Europe/Berlin", hour: "2-digit", minute: "2-digit" });
  const parts = [el("p", { class: "finding-text" }, `${time} · ${findingText(f)}`)];
  if (f.state === "needs_consent" && f.person) {
    const p = f.person;
    const consentId = `consent-${f.id}`;
    const confirm = el(
      "button",
      { type: "button", class: "btn btn-primary", disabled: true, dataset: { testid: "desk-finding-confirm" }, onclick: () => confirmFinding(f) },
      "Übernehmen",
    );
    parts.push(
      el(
        "dl",
        { class: "finding-person" },
        el("dt", {}, "Name"),
        el("dd", { dataset: { testid: "desk-finding-name" } }, `${p.surname}, ${p.given_names}`),
        el("dt", {}, "Geburtsdatum"),
        el("dd", {}, birthDe(p.birth_date)),
        p.nationality ? el("dt", {}, "Staatsangehörigkeit") : null,
        p.nationality ? el("dd", {}, p.nationality) : null,
      ),
      el(
        "label",
        { class: "check", for: consentId },
        el("input", {
          type: "checkbox",
          id: consentId,
          dataset: { testid: "desk-finding-consent" },
          onchange: (ev) => {
            confirm.disabled = busy || !ev.target.checked;
          },
        }),
        " Die Person hat eingewilligt, dass Name und Geburtsdatum gespeichert und an das Fachverfahren übermittelt werden.",
      ),
      el(
        "div",
        { class: "finding-actions" },
        confirm,
        el("button", { type: "button", class: "btn", dataset: { testid: "desk-finding-dismiss" }, onclick: () => dismissFinding(f) }, "Verwerfen"),
      ),
    );
  } else {
    parts.push(
      el(
        "div",
        { class: "finding-actions" },
        el("button", { type: "button", class: "btn-plain", dataset: { testid: "desk-finding-dismiss" }, onclick: () => dismissFinding(f) }, "Ausblenden"),
      ),
    );
  }
  return el(
    "li",
    { class: `finding finding-${f.state}`, dataset: { testid: "desk-finding", state: f.state, kind: f.kind, findingId: f.id } },
    ...parts,
  );
}

function renderFindings() {
  const list = state.findings.filter((f) => f.counter === state.counterId);
  $("finding-list").replaceChildren(...list.map(renderFinding));
  $("findings").hidden = list.length === 0;
}

function onCounterChange() {
  const id = $("counter-select").value;
  if (id) location.hash = `counter=${encodeURIComponent(id)}`;
  else history.replaceState(null, "", location.pathname + location.search);
  readHash();
}

// ---------------------------------------------------------------- actions

function setStatus(text, isError = false) {
  $("desk-status").textContent = text;
  $("desk-status").classList.toggle("error", isError);
}

async function act(label, path, body) {
  if (busy) return;
  busy = true;
  updateButtons();
  try {
    const res = await staff(path, { method: "POST", body });
    return { ok: true, res };
  } catch (e) {
    setStatus(`${label} nicht möglich. ${problemText(e)}`, true);
    return { ok: false };
  } finally {
    busy = false;
    updateButtons();
  }
}

async function callNext() {
  const c = myCounter();
  if (!c) return;
  const r = await act("Aufruf", `/api/v1/counters/${encodeURIComponent(c.id)}/call-next`);
  if (!r.ok) return;
  if (r.res) {
    state.current = r.res;
    setStatus(`${r.res.number} wurde aufgerufen.`);
  } else {
    setStatus("Niemand wartet für diesen Schalter.");
  }
  renderAll();
  scheduleRefresh();
}

async function ticketAction(action, label, okText, body) {
  const cur = state.current;
  if (!cur) return;
  const r = await act(label, `/api/v1/tickets/${encodeURIComponent(cur.id)}/${action}`, body);
  if (!r.ok) return;
  const t = r.res;
  if (action === "transfer") state.current = null;
  else state.current = t && ACTIVE.has(t.status) ? t : null;
  setStatus(okText(cur, t));
  renderAll();
  scheduleRefresh();
}

const recall = () => ticketAction("recall", "Erneuter Aufruf", (c) => `${c.number} wurde erneut aufgerufen.`);
const start = () => ticketAction("start", "Beginn", (c) => `Beratung mit ${c.number} begonnen.`);
const done = () => ticketAction("done", "Abschluss", (c) => `${c.number} abgeschlossen.`);
const noShow = () => ticketAction("no-show", "Nicht erschienen", (c) => `${c.number} als nicht erschienen markiert.`);

function transfer() {
  const target = $("transfer-target").value;
  if (!target) {
    setStatus("Bitte zuerst das Ziel-Anliegen wählen.", true);
    $("transfer-target").focus();
    return;
  }
  const name = serviceName(state.services.find((s) => s.id === target) || target, "de", tDe);
  return ticketAction(
    "transfer",
    "Weiterleitung",
    (c, t) => `${c.number} weitergeleitet an ${name}${t && t.number ? ` (neue Nummer ${t.number})` : ""}.`,
    { service: target },
  ).then(() => {
    $("transfer-target").value = "";
  });
}

async function togglePause() {
  const c = myCounter();
  if (!c) return;
  const action = c.paused ? "resume" : "pause";
  const r = await act(c.paused ? "Fortsetzen" : "Pause", `/api/v1/counters/${encodeURIComponent(c.id)}/${action}`);
  if (!r.ok) return;
  if (r.res && r.res.id === c.id) Object.assign(c, r.res);
  else c.paused = !c.paused;
  setStatus(c.paused ? "Schalter pausiert." : "Schalter wieder geöffnet.");
  renderAll();
  scheduleRefresh();
}

const SHORTCUTS = {
  n: "act-call-next",
  r: "act-recall",
  s: "act-start",
  d: "act-done",
  x: "act-no-show",
  t: "act-transfer",
  p: "act-pause",
};

function onKey(ev) {
  if ($("app-view").hidden || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
  const tag = ev.target && ev.target.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || (ev.target && ev.target.isContentEditable)) return;
  const id = SHORTCUTS[ev.key.toLowerCase()];
  if (!id) return;
  ev.preventDefault();
  const b = $(id);
  if (!b.disabled) b.click();
}

// ----------------------------------------------------------------- events

function pushAlert(level, text) {
  const id = `${Date.now()}-${Math.random().toString(36).slice(2, 7)}`;
  state.eventAlerts = [{ id, level, text, at: new Date() }, ...state.eventAlerts].slice(0, MAX_EVENT_ALERTS);
  renderAlerts();
}

function onEvent(kind, data) {
  if (data.waiting) state.waiting = data.waiting;
  if (kind === "alert") {
    pushAlert(data.level === "error" ? "error" : "warn", data.message || data.detail || "Hinweis vom Server");
    return;
  }
  if (kind === "ticket.created" && data.ticket && data.ticket.printed === false) {
    pushAlert("warn", `Ticket ${data.ticket.number} wurde nicht gedruckt (Drucker). Die Person kennt nur ihre Nummer.`);
  }
  if (data.counter && data.counter.id) {
    const i = state.counters.findIndex((c) => c.id === data.counter.id);
    if (i >= 0) state.counters[i] = { ...state.counters[i], ...data.counter };
  }
  scheduleRefresh();
}

// ----------------------------------------------------------------- health

async function checkHealth() {
  let body = null;
  try {
    body = await api("/healthz", { timeoutMs: 5000 });
  } catch (e) {
    // 503 with a JSON body still tells us which component is at fault.
    body = e instanceof ApiError && e.problem && e.problem.components ? e.problem : { unreachable: true };
  }
  state.health = body;
  renderAlerts();
}

// ---------------------------------------------------------------- render

/** Visitor language as "Українська (uk)", isolated so that RTL names do not reorder the cell. */
function langLabel(code) {
  if (!code) return "–";
  const name = languageName(code);
  if (!name || name === code) return code;
  return el("span", {}, el("bdi", { lang: code }, name), ` (${code})`);
}

function serviceLabel(id) {
  return serviceName(state.services.find((s) => s.id === id) || id, "de", tDe);
}

function renderAlerts() {
  const items = [];
  if (state.sseLost) {
    items.push(["warn", "Live-Verbindung unterbrochen – wird automatisch wiederhergestellt. Angaben können veraltet sein."]);
  }
  const h = state.health;
  if (h && h.unreachable) items.push(["error", "Server-Status nicht abrufbar (/healthz)."]);
  if (h && h.components && typeof h.components === "object") {
    for (const [name, comp] of Object.entries(h.components)) {
      const st = comp && comp.status;
      if (!st || FINE.has(st)) continue;
      const label = COMPONENT_DE[name] || name;
      const stText = COMPONENT_STATE_DE[st] || st;
      items.push([
        st === "degraded" || st === "paper_near_end" ? "warn" : "error",
        `${label}: ${stText}${comp.detail ? ` – ${comp.detail}` : ""}`,
      ]);
    }
  }
  const nodes = items.map(([level, text]) =>
    el("li", { class: `alert alert-${level}`, dataset: { testid: "desk-alert" } }, el("span", { class: "alert-text" }, text)),
  );
  for (const a of state.eventAlerts) {
    const time = a.at.toLocaleTimeString("de-DE", { timeZone: "Europe/Berlin", hour: "2-digit", minute: "2-digit" });
    nodes.push(
      el(
        "li",
        { class: `alert alert-${a.level}`, dataset: { testid: "desk-alert" } },
        el("span", { class: "alert-text" }, `${time} · ${a.text}`),
        el(
          "button",
          {
            type: "button",
            "aria-label": `Hinweis ausblenden: ${a.text}`,
            onclick: () => {
              state.eventAlerts = state.eventAlerts.filter((x) => x.id !== a.id);
              renderAlerts();
            },
          },
          "Ausblenden",
        ),
      ),
    );
  }
  if (!nodes.length && h && !h.unreachable) {
    nodes.push(el("li", { class: "alert alert-ok" }, el("span", { class: "alert-text" }, "Keine Störungen.")));
  }
  $("alert-list").replaceChildren(...nodes);
}

function renderCounterSelect() {
  const sel = $("counter-select");
  const opts = [el("option", { value: "" }, "– bitte wählen –")];
  for (const c of state.counters) {
    const label = [c.name || c.id, c.room].filter(Boolean).join(" · ") + (c.paused ? " (pausiert)" : "");
    opts.push(el("option", { value: c.id }, label));
  }
  sel.replaceChildren(...opts);
  sel.value = state.counterId || "";
}

function renderCurrent() {
  const box = $("current");
  const cur = state.current;
  if (!cur) {
    if (myCounter()) box.replaceChildren(el("p", { class: "hint" }, "Kein Vorgang. Rufen Sie die nächste Nummer auf."));
    else box.replaceChildren();
    return;
  }
  const facts = [
    el("span", {}, "Anliegen: ", el("strong", {}, serviceLabel(cur.service))),
    el("span", {}, "Sprache: ", el("strong", {}, langLabel(cur.language))),
    cur.call_count > 1 ? el("span", {}, `Aufrufe: ${cur.call_count}`) : null,
    cur.appointment ? el("span", { class: "mark mark-appointment" }, "Termin") : null,
    cur.transferred_from != null ? el("span", { class: "mark mark-transferred" }, "weitergeleitet") : null,
  ];
  box.replaceChildren(
    el("p", { class: "current-number", dataset: { testid: "desk-current-number" } }, cur.number),
    el("p", {}, el("span", { class: "status-badge" }, STATUS_DE[cur.status] || cur.status)),
    el("p", { class: "current-facts" }, ...facts),
  );
}

function renderTransferTargets() {
  const sel = $("transfer-target");
  const keep = sel.value;
  const opts = [el("option", { value: "" }, "– Anliegen wählen –")];
  for (const s of state.services) {
    if (state.current && s.id === state.current.service) continue;
    opts.push(el("option", { value: s.id }, serviceLabel(s.id)));
  }
  sel.replaceChildren(...opts);
  sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "";
}

function waitText(iso) {
  const m = minutesSince(iso);
  return m === null ? "–" : `${m} Min.`;
}

function renderWaiting() {
  const c = myCounter();
  const showAll = $("show-all").checked || !c;
  const mine = (t) => showAll || !Array.isArray(c.services) || c.services.includes(t.service);
  const waiting = state.tickets
    .filter((t) => t.status === "waiting" && mine(t))
    .sort((a, b) => Date.parse(a.arrived_at) - Date.parse(b.arrived_at));
  const rows = waiting.map((t) => {
    const m = minutesSince(t.arrived_at);
    const marks = [
      t.appointment ? el("span", { class: "mark mark-appointment" }, "Termin") : null,
      t.priority ? el("span", { class: "mark mark-priority" }, "Vorrang") : null,
      t.transferred_from != null ? el("span", { class: "mark mark-transferred" }, "weitergeleitet") : null,
    ];
    return el(
      "tr",
      { dataset: { testid: "desk-waiting-row", number: t.number, ticketId: String(t.id) } },
      el("td", { class: "num" }, t.number),
      el("td", {}, serviceLabel(t.service)),
      el("td", {}, langLabel(t.language)),
      el(
        "td",
        { class: `wait${m !== null && m >= LONG_WAIT_MINUTES ? " long" : ""}`, dataset: { arrived: t.arrived_at || "" } },
        waitText(t.arrived_at),
      ),
      el("td", {}, ...marks),
    );
  });
  $("waiting-body").replaceChildren(...rows);
  $("waiting-empty").hidden = rows.length > 0;
  $("waiting-count").textContent = String(rows.length);

  const active = state.tickets.filter((t) => ACTIVE.has(t.status));
  const counterName = (id) => {
    const x = state.counters.find((k) => k.id === id);
    return x ? [x.name, x.room].filter(Boolean).join(" · ") : id || "–";
  };
  $("active-list").replaceChildren(
    ...active.map((t) =>
      el(
        "li",
        { dataset: { testid: "desk-active-row", number: t.number } },
        el("span", { class: "num" }, t.number),
        el("span", {}, STATUS_DE[t.status] || t.status),
        el("span", {}, counterName(t.counter)),
      ),
    ),
  );
  $("active-empty").hidden = active.length > 0;
}

/**
 * Live figures: people waiting per concern (all concerns, not only this counter's),
 * the longest current wait, and the server's estimate for a newcomer. Redrawn after
 * every refresh (which every live event triggers) and with the minute timer.
 */
function renderLive() {
  const now = Date.now();
  const waiting = state.tickets.filter((t) => t.status === "waiting");
  const longest = (list) => {
    const m = list.map((t) => minutesSince(t.arrived_at, now)).filter((x) => x !== null);
    return m.length ? Math.max(...m) : null;
  };
  const rows = state.services.map((s) => {
    const mine = waiting.filter((t) => t.service === s.id);
    const n = Number.isFinite(s.waiting) ? s.waiting : mine.length;
    const l = longest(mine);
    return el(
      "tr",
      { dataset: { testid: "desk-live-row", service: s.id } },
      el("th", { scope: "row" }, serviceLabel(s.id)),
      el("td", { class: "num" }, String(n)),
      el("td", { class: `num${l !== null && l >= LONG_WAIT_MINUTES ? " long" : ""}` }, l === null ? "–" : `${l} Min.`),
      el("td", { class: "num" }, n > 0 || s.estimated_wait_minutes > 0 ? `≈ ${s.estimated_wait_minutes} Min.` : "sofort"),
    );
  });
  $("live-body").replaceChildren(...rows);
  const total = waiting.length;
  const l = longest(waiting);
  $("live-summary").textContent =
    total === 0 ? "Niemand wartet." : `${total} warten · längste Wartezeit ${l === null ? "–" : `${l} Min.`}`;
}

function updateMinutes() {
  renderLive();
  for (const cell of document.querySelectorAll("#waiting-body td[data-arrived]")) {
    cell.textContent = waitText(cell.dataset.arrived);
    const m = minutesSince(cell.dataset.arrived);
    cell.classList.toggle("long", m !== null && m >= LONG_WAIT_MINUTES);
  }
}

function updateButtons() {
  const c = myCounter();
  const st = state.current && state.current.status;
  const set = (id, enabled) => {
    $(id).disabled = busy || !enabled;
  };
  set("act-call-next", c && !c.paused);
  set("act-recall", st === "called");
  set("act-start", st === "called");
  set("act-done", st === "called" || st === "serving");
  set("act-no-show", st === "called");
  set("act-transfer", st === "called" || st === "serving");
  $("transfer-target").disabled = busy || !(st === "called" || st === "serving");
  set("act-pause", Boolean(c));
  $("act-pause").firstChild.textContent = c && c.paused ? "Fortsetzen " : "Pause ";
  $("paused-banner").hidden = !(c && c.paused);
  $("no-counter-hint").hidden = Boolean(c);
}

function renderAll() {
  renderFindings();
  renderCounterSelect();
  renderCurrent();
  renderTransferTargets();
  renderWaiting();
  renderLive();
  renderAlerts();
  updateButtons();
}

// ------------------------------------------------------------------- boot

async function boot() {
  $("login-form").addEventListener("submit", onLogin);
  $("desk-logout").addEventListener("click", onLogout);
  $("counter-select").addEventListener("change", onCounterChange);
  $("show-all").addEventListener("change", renderWaiting);
  $("act-call-next").addEventListener("click", callNext);
  $("act-recall").addEventListener("click", recall);
  $("act-start").addEventListener("click", start);
  $("act-done").addEventListener("click", done);
  $("act-no-show").addEventListener("click", noShow);
  $("act-transfer").addEventListener("click", transfer);
  $("act-pause").addEventListener("click", togglePause);
  window.addEventListener("hashchange", readHash);
  document.addEventListener("keydown", onKey);
  await loadCatalogs(ALL_LANGUAGES); // service and language names
  api("/api/v1/config/ui", { timeoutMs: 5000 })
    .then((cfg) => {
      if (cfg && cfg.site_name) $("desk-site").textContent = cfg.site_name;
    })
    .catch(() => {});
  // The CSRF token is never stored, so every page load starts at the login,
  // unless the server has no logins at all (then the desk works right away).
  if (await serverHasLogin()) showLogin();
  else await startApp();
}

/** False only when the server clearly has no login route (404); when unsure, ask for a login. */
async function serverHasLogin() {
  try {
    await api("/api/v1/login", { timeoutMs: 5000 });
    return true;
  } catch (e) {
    return !(e instanceof ApiError && e.status === 404);
  }
}

boot();
