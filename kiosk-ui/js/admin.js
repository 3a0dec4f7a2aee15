// Admin screen (/admin): services, counters, accounts, ID scanning, retention,
// privacy notices, case system, audit log.
//
// Session as on the desk: cookie from POST /api/v1/login, the CSRF token only in the
// variable `csrf`, sent as X-CSRF-Token on every change. A change the server wants
// confirmed answers 403 with a problem type containing "reauth_required": the page
// asks for the password, calls POST /api/v1/reauth and retries once.
// Every section loads and saves on its own, so one failing section leaves the
// others usable; the server validates everything and its problem text is shown.

import { ApiError, api } from "/js/api.js";
import { el } from "/js/util.js";

const LANGS = ["de", "en", "uk", "ru", "ar", "fa", "tr", "ro", "bg"];
const RTL = new Set(["ar", "fa"]);
const LANG_DE = {
  de: "Deutsch",
  en: "Englisch",
  uk: "Ukrainisch",
  ru: "Russisch",
  ar: "Arabisch",
  fa: "Persisch (Farsi)",
  tr: "Türkisch",
  ro: "Rumänisch",
  bg: "Bulgarisch",
};
const SCAN_TYPES = ["id_card", "passport", "residence_permit", "visa"];
const ROLE_DE = { desk: "Schalter", admin: "Verwaltung" };

const $ = (id) => document.getElementById(id);

let csrf = null; // only here, never persisted
let user = null;

const state = {
  services: [],
  counters: [],
  savedServiceIds: [],
};

// -------------------------------------------------------------------- API

function problemType(e) {
  return (e && e.problem && typeof e.problem.type === "string" && e.problem.type) || "";
}

function isCsrfProblem(e) {
  const p = e.problem || {};
  return e.status === 403 && /csrf/i.test(`${p.type || ""} ${p.title || ""} ${p.detail || ""}`);
}

function isReauth(e) {
  return e.status === 403 && /reauth_required|reauth-required/.test(problemType(e));
}

/** A staff request: CSRF on changes, password confirmation when asked, login on 401. */
async function call(path, opts = {}, retried = false) {
  const headers = { ...(opts.headers || {}) };
  if (opts.method && opts.method !== "GET") headers["X-CSRF-Token"] = csrf || "";
  try {
    return await api(path, { ...opts, headers });
  } catch (e) {
    if (e instanceof ApiError && isReauth(e) && !retried) {
      if (await askPassword()) return call(path, opts, true);
      throw new ApiError(403, e.problem, "Abgebrochen: Passwort nicht bestätigt.");
    }
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
  return e.message || `Fehler (HTTP ${e.status}).`;
}

function setStatus(id, text, error = false) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle("error", error);
}

/** Runs a save: disables the button, shows the outcome in the section's status line. */
async function saving(button, statusId, work, okText) {
  $(button).disabled = true;
  setStatus(statusId, "Wird gespeichert …");
  try {
    await work();
    setStatus(statusId, okText);
  } catch (e) {
    setStatus(statusId, problemText(e), true);
  } finally {
    $(button).disabled = false;
  }
}

// ---------------------------------------------------------- re-authentication

let reauthWaiter = null;

function askPassword() {
  const dlg = $("reauth-dialog");
  $("reauth-password").value = "";
  $("reauth-error").textContent = "";
  if (typeof dlg.showModal === "function") dlg.showModal();
  else dlg.setAttribute("open", "");
  $("reauth-password").focus();
  return new Promise((resolve) => {
    reauthWaiter = resolve;
  });
}

function closeReauth(ok) {
  const dlg = $("reauth-dialog");
  if (dlg.open) dlg.close();
  $("reauth-password").value = "";
  if (reauthWaiter) reauthWaiter(ok);
  reauthWaiter = null;
}

async function onReauth(ev) {
  ev.preventDefault();
  const password = $("reauth-password").value;
  if (!password) {
    $("reauth-error").textContent = "Bitte das Passwort eingeben.";
    return;
  }
  try {
    await api("/api/v1/reauth", {
      method: "POST",
      body: { password },
      headers: { "X-CSRF-Token": csrf || "" },
    });
    closeReauth(true);
  } catch (e) {
    $("reauth-password").value = "";
    $("reauth-error").textContent =
      e instanceof ApiError && (e.status === 401 || e.status === 403)
        ? "Das Passwort ist falsch."
        : problemText(e);
  }
}

// ------------------------------------------------------------------ login

function showLogin(message = "") {
  csrf = null;
  user = null;
  $("app-view").hidden = true;
  $("admin-user-box").hidden = true;
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
    if (res.role && res.role !== "admin") {
      $("login-error").textContent = "Dieses Konto hat keine Verwaltungsrechte.";
      return;
    }
    csrf = res.csrf_token;
    user = { name: res.username || username, role: res.role || "" };
    $("login-password").value = "";
    $("login-error").textContent = "";
    // Sent here by a page that needs the login (e.g. /admin/stats): go back there.
    const next = loginTarget();
    if (next) {
      location.assign(next);
      return;
    }
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

/** The `next` page of `/admin?next=…`, only when it is a page of this appliance. */
function loginTarget() {
  const next = new URLSearchParams(location.search).get("next");
  if (!next || !next.startsWith("/") || next.startsWith("//")) return null;
  try {
    const url = new URL(next, location.origin);
    return url.origin === location.origin ? url.pathname + url.search : null;
  } catch {
    return null;
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

// --------------------------------------------------------------- services

function textInput(value, onInput, attrs = {}) {
  return el("input", {
    value: value == null ? "" : String(value),
    oninput: (ev) => onInput(ev.target.value),
    ...attrs,
  });
}

function renderServices() {
  const body = $("services-body");
  body.replaceChildren();
  state.services.forEach((s, i) => {
    s.name = s.name || {};
    body.append(
      el(
        "tr",
        { dataset: { testid: "admin-service-row" } },
        el("td", {}, textInput(s.id, (v) => (s.id = v.trim()), { "aria-label": "ID", size: 14, "data-testid": "admin-service-id" })),
        el("td", {}, textInput(s.prefix, (v) => (s.prefix = v.trim().toUpperCase()), { "aria-label": "Kürzel", size: 3, maxlength: 2, "data-testid": "admin-service-prefix" })),
        el("td", {}, textInput(s.icon, (v) => (s.icon = v.trim() || null), { "aria-label": "Symbol", size: 12 })),
        el("td", {}, textInput(s.default_minutes, (v) => (s.default_minutes = v.trim() === "" ? null : Number(v)), { "aria-label": "Minuten", type: "number", min: 1, max: 480, class: "num" })),
        el("td", {}, textInput(s.name.de, (v) => setName(s, "de", v), { "aria-label": "Name deutsch", "data-testid": "admin-service-name-de" })),
        el("td", {}, textInput(s.name.en, (v) => setName(s, "en", v), { "aria-label": "Name englisch", lang: "en" })),
        el("td", {}, el("button", {
          type: "button",
          class: "btn btn-small",
          text: "Entfernen",
          "aria-label": `Anliegen ${s.id || i + 1} entfernen`,
          onclick: () => {
            state.services.splice(i, 1);
            renderServices();
          },
        })),
      ),
    );
  });
}

function setName(s, lang, v) {
  if (v.trim()) s.name[lang] = v;
  else delete s.name[lang];
}

async function loadServices() {
  try {
    state.services = (await call("/api/v1/admin/services")) || [];
    state.savedServiceIds = state.services.map((s) => s.id);
    renderServices();
    renderCounters();
    setStatus("services-status", "");
  } catch (e) {
    setStatus("services-status", problemText(e), true);
  }
}

function saveServices() {
  return saving("services-save", "services-status", async () => {
    state.services = await call("/api/v1/admin/services", { method: "PUT", body: state.services });
    state.savedServiceIds = state.services.map((s) => s.id);
    renderServices();
    renderCounters();
    loadAudit();
  }, "Anliegen gespeichert. Der Kiosk zeigt sie ab sofort.");
}

// --------------------------------------------------------------- counters

function renderCounters() {
  const body = $("counters-body");
  body.replaceChildren();
  state.counters.forEach((c, i) => {
    c.services = c.services || [];
    const checks = el("div", { class: "admin-service-checks" });
    for (const sid of state.savedServiceIds) {
      checks.append(
        el(
          "label",
          { class: "check" },
          el("input", {
            type: "checkbox",
            checked: c.services.includes(sid),
            onchange: (ev) => {
              c.services = ev.target.checked
                ? [...c.services, sid]
                : c.services.filter((x) => x !== sid);
            },
          }),
          ` ${sid}`,
        ),
      );
    }
    body.append(
      el(
        "tr",
        { dataset: { testid: "admin-counter-row" } },
        el("td", {}, textInput(c.id, (v) => (c.id = v.trim()), { "aria-label": "ID", size: 8 })),
        el("td", {}, textInput(c.name, (v) => (c.name = v), { "aria-label": "Name" })),
        el("td", {}, textInput(c.room, (v) => (c.room = v.trim() ? v : null), { "aria-label": "Raum" })),
        el("td", {}, checks),
        el("td", {}, el("button", {
          type: "button",
          class: "btn btn-small",
          text: "Entfernen",
          "aria-label": `Schalter ${c.id || i + 1} entfernen`,
          onclick: () => {
            state.counters.splice(i, 1);
            renderCounters();
          },
        })),
      ),
    );
  });
}

async function loadCounters() {
  try {
    state.counters = (await call("/api/v1/admin/counters")) || [];
    renderCounters();
    setStatus("counters-status", "");
  } catch (e) {
    setStatus("counters-status", problemText(e), true);
  }
}

function saveCounters() {
  return saving("counters-save", "counters-status", async () => {
    state.counters = await call("/api/v1/admin/counters", { method: "PUT", body: state.counters });
    renderCounters();
    loadAudit();
  }, "Schalter gespeichert.");
}

// --------------------------------------------------------------- accounts

function formatTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString("de-DE", { timeZone: "Europe/Berlin", dateStyle: "short", timeStyle: "medium" });
}

async function loadAccounts() {
  let list;
  try {
    list = (await call("/api/v1/admin/accounts")) || [];
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      $("accounts-view").hidden = true;
      $("accounts-unavailable").hidden = false;
      return;
    }
    setStatus("accounts-status", problemText(e), true);
    return;
  }
  $("accounts-view").hidden = false;
  $("accounts-unavailable").hidden = true;
  const body = $("accounts-body");
  body.replaceChildren();
  for (const a of list) {
    const role = el(
      "select",
      { "aria-label": `Rolle von ${a.username}` },
      ...Object.entries(ROLE_DE).map(([v, t]) => el("option", { value: v, selected: a.role === v, text: t })),
    );
    const pw = el("input", { type: "password", autocomplete: "new-password", "aria-label": `Neues Passwort für ${a.username}` });
    body.append(
      el(
        "tr",
        { dataset: { testid: "admin-account-row" } },
        el("td", { text: a.username }),
        el("td", {}, role),
        el("td", { text: formatTime(a.created_at) }),
        el("td", { text: a.locked_until ? formatTime(a.locked_until) : "–" }),
        el("td", {}, pw),
        el(
          "td",
          { class: "admin-row-buttons" },
          el("button", {
            type: "button",
            class: "btn btn-small",
            text: "Speichern",
            onclick: () => updateAccount(a.username, role.value !== a.role ? role.value : null, pw.value),
          }),
          el("button", {
            type: "button",
            class: "btn btn-small",
            text: "Löschen",
            disabled: user && user.name === a.username,
            onclick: () => deleteAccount(a.username),
          }),
        ),
      ),
    );
  }
}

async function updateAccount(username, role, password) {
  const body = {};
  if (role) body.role = role;
  if (password) body.password = password;
  if (!Object.keys(body).length) {
    setStatus("accounts-status", "Nichts geändert.");
    return;
  }
  try {
    await call(`/api/v1/admin/accounts/${encodeURIComponent(username)}`, { method: "PUT", body });
    setStatus("accounts-status", `Konto ${username} geändert.`);
    loadAccounts();
    loadAudit();
  } catch (e) {
    setStatus("accounts-status", problemText(e), true);
  }
}

async function deleteAccount(username) {
  if (!window.confirm(`Konto ${username} wirklich löschen?`)) return;
  try {
    await call(`/api/v1/admin/accounts/${encodeURIComponent(username)}`, { method: "DELETE" });
    setStatus("accounts-status", `Konto ${username} gelöscht.`);
    loadAccounts();
    loadAudit();
  } catch (e) {
    setStatus("accounts-status", problemText(e), true);
  }
}

async function createAccount(ev) {
  ev.preventDefault();
  const username = $("account-username").value.trim();
  const password = $("account-password").value;
  const role = $("account-role").value;
  if (!username || !password) {
    setStatus("accounts-status", "Bitte Benutzername und Passwort eingeben.", true);
    return;
  }
  try {
    await call("/api/v1/admin/accounts", { method: "POST", body: { username, password, role } });
    $("account-username").value = "";
    $("account-password").value = "";
    setStatus("accounts-status", `Konto ${username} angelegt.`);
    loadAccounts();
    loadAudit();
  } catch (e) {
    $("account-password").value = "";
    setStatus("accounts-status", problemText(e), true);
  }
}

// --------------------------------------------------------------- scanning

async function loadScanning() {
  try {
    const s = (await call("/api/v1/admin/scanning")) || {};
    for (const t of SCAN_TYPES) {
      $("scanning-checks").querySelector(`input[name=${t}]`).checked = Boolean(s[t]);
    }
    setStatus("scanning-status", "");
  } catch (e) {
    setStatus("scanning-status", problemText(e), true);
  }
}

function saveScanning() {
  const body = {};
  for (const t of SCAN_TYPES) body[t] = $("scanning-checks").querySelector(`input[name=${t}]`).checked;
  return saving("scanning-save", "scanning-status", async () => {
    await call("/api/v1/admin/scanning", { method: "PUT", body });
    loadAudit();
  }, "Ausweis-Scan gespeichert.");
}

// -------------------------------------------------------------- retention

function fillRetention(r) {
  $("retention-after").value = r.personal_data_days_after_delivery;
  $("retention-max").value = r.max_days;
  $("retention-technical").value = r.technical_days;
}

async function loadRetention() {
  try {
    fillRetention(await call("/api/v1/admin/retention"));
    setStatus("retention-status", "");
  } catch (e) {
    setStatus("retention-status", problemText(e), true);
  }
}

function wholeDays(id) {
  const v = $(id).value.trim();
  return /^\d+$/.test(v) ? Number(v) : null;
}

function saveRetention() {
  const body = {
    personal_data_days_after_delivery: wholeDays("retention-after"),
    max_days: wholeDays("retention-max"),
    technical_days: wholeDays("retention-technical"),
  };
  if (Object.values(body).some((v) => v === null)) {
    setStatus("retention-status", "Bitte in jedes Feld eine ganze Zahl von Tagen eingeben.", true);
    return Promise.resolve();
  }
  return saving("retention-save", "retention-status", async () => {
    fillRetention(await call("/api/v1/admin/retention", { method: "PUT", body }));
    loadAudit();
  }, "Aufbewahrung gespeichert.");
}

function purgeNow() {
  return saving("retention-purge", "retention-status", async () => {
    const r = await call("/api/v1/admin/retention/purge", { method: "POST" });
    setStatus(
      "retention-status",
      `Gelöscht: Daten von ${r.visits} Besuchen, ${r.tickets_deleted} alte Tickets.`,
    );
    loadAudit();
  }, "");
}

// ---------------------------------------------------------------- privacy

async function loadPrivacy() {
  const box = $("privacy-fields");
  try {
    const notices = (await call("/api/v1/admin/privacy-notices")) || {};
    box.replaceChildren(
      ...LANGS.map((l) =>
        el(
          "div",
          { class: "field" },
          el("label", { for: `privacy-${l}`, text: `${LANG_DE[l]} (${l})` }),
          el("textarea", {
            id: `privacy-${l}`,
            lang: l,
            dir: RTL.has(l) ? "rtl" : "ltr",
            rows: 4,
            maxlength: 8000,
            "data-testid": `admin-privacy-${l}`,
            text: notices[l] || "",
          }),
        ),
      ),
    );
    setStatus("privacy-status", "");
  } catch (e) {
    setStatus("privacy-status", problemText(e), true);
  }
}

function savePrivacy() {
  const body = {};
  for (const l of LANGS) {
    const t = $(`privacy-${l}`);
    if (t) body[l] = t.value;
  }
  return saving("privacy-save", "privacy-status", async () => {
    await call("/api/v1/admin/privacy-notices", { method: "PUT", body });
    loadAudit();
  }, "Datenschutzhinweise gespeichert.");
}

// ------------------------------------------------------------ case system

function fillCase(v) {
  $("case-url").value = v.url || "";
  $("case-enabled").checked = Boolean(v.enabled);
  $("case-secret").value = "";
  $("case-secret-state").textContent = v.secret_set
    ? "Ein Geheimnis ist hinterlegt. Leer lassen, um es zu behalten."
    : "Noch kein Geheimnis hinterlegt.";
}

async function loadCase() {
  try {
    fillCase(await call("/api/v1/admin/case-system"));
    setStatus("case-status", "");
  } catch (e) {
    setStatus("case-status", problemText(e), true);
  }
}

function saveCase() {
  const body = { url: $("case-url").value.trim() || null, enabled: $("case-enabled").checked };
  const secret = $("case-secret").value.trim();
  if (secret) body.secret = secret;
  return saving("case-save", "case-status", async () => {
    fillCase(await call("/api/v1/admin/case-system", { method: "PUT", body }));
    loadAudit();
  }, "Fachverfahren gespeichert; gilt ab sofort.");
}

// ------------------------------------------------------------------ audit

async function loadAudit() {
  try {
    const list = (await call("/api/v1/admin/audit?limit=200")) || [];
    $("audit-body").replaceChildren(
      ...list.map((e) =>
        el(
          "tr",
          { dataset: { testid: "admin-audit-row" } },
          el("td", { text: formatTime(e.at) }),
          el("td", { text: e.actor }),
          el("td", { text: e.action }),
          el("td", { text: e.target }),
          el("td", { text: e.detail }),
        ),
      ),
    );
    setStatus("audit-status", list.length ? "" : "Noch keine Einträge.");
  } catch (e) {
    setStatus("audit-status", problemText(e), true);
  }
}

// ------------------------------------------------------------------ start

async function startApp() {
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("admin-user-box").hidden = !user; // no logout without a login
  $("admin-user").textContent = user ? `Angemeldet: ${user.name}` : "";
  await loadServices();
  await Promise.all([
    loadCounters(),
    loadAccounts(),
    loadScanning(),
    loadRetention(),
    loadPrivacy(),
    loadCase(),
    loadAudit(),
  ]);
  document.body.dataset.ready = "1";
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

async function boot() {
  $("login-form").addEventListener("submit", onLogin);
  $("admin-logout").addEventListener("click", onLogout);
  $("services-add").addEventListener("click", () => {
    state.services.push({ id: "", prefix: "", icon: null, default_minutes: null, name: {} });
    renderServices();
  });
  $("services-save").addEventListener("click", saveServices);
  $("counters-add").addEventListener("click", () => {
    state.counters.push({ id: "", name: "", room: null, services: [] });
    renderCounters();
  });
  $("counters-save").addEventListener("click", saveCounters);
  $("account-form").addEventListener("submit", createAccount);
  $("scanning-save").addEventListener("click", saveScanning);
  $("retention-save").addEventListener("click", saveRetention);
  $("retention-purge").addEventListener("click", purgeNow);
  $("privacy-save").addEventListener("click", savePrivacy);
  $("case-save").addEventListener("click", saveCase);
  $("audit-refresh").addEventListener("click", loadAudit);
  $("reauth-form").addEventListener("submit", onReauth);
  $("reauth-cancel").addEventListener("click", () => closeReauth(false));
  $("reauth-dialog").addEventListener("cancel", () => closeReauth(false));
  api("/api/v1/config/ui", { timeoutMs: 5000 })
    .then((cfg) => {
      if (cfg && cfg.site_name) $("admin-site").textContent = cfg.site_name;
    })
    .catch(() => {});
  if (await serverHasLogin()) showLogin();
  else await startApp();
}

boot();
