// Kiosk (/kiosk): language → concern → optional identification → ticket.
//
// Privacy: everything about the current visitor lives in the `visit` object
// and in the DOM of the steps; reset() replaces the object and wipes the DOM.
// Nothing is written to localStorage, sessionStorage, cookies or the URL.
//
// Double taps: the check-in request is guarded by `visit.inFlight` (and a
// visit that has its ticket never asks again), buttons of a step are disabled
// as soon as one of them is used, a tap is ignored when it lands on a new
// screen within GHOST_TAP_MS and GHOST_TAP_PX of the tap that left the
// previous screen (the second half of a double tap), and every check-in
// carries an Idempotency-Key.

import {
  ALL_LANGUAGES,
  DEFAULT_LANGUAGE,
  applyDocumentLanguage,
  languageDir,
  languageName,
  loadCatalog,
  loadCatalogs,
  translateTree,
  translator,
} from "/js/i18n.js";
import { ApiError, UI_CONFIG_DEFAULTS, api, loadUiConfig } from "/js/api.js";
import { el, peopleAhead, serviceName, uuid4 } from "/js/util.js";
import { connectEvents } from "/js/events.js";

const IDLE_SECONDS = 90; // an abandoned half-finished visit is cleared after this
const GHOST_TAP_MS = 450;
const GHOST_TAP_PX = 48;
const NAVIGABLE = new Set(["language", "service", "qr", "privacy", "id"]);
const STEPS = ["language", "service", "qr", "privacy", "id", "busy", "ticket", "error"];

// Shown if a catalog cannot be loaded; the catalogs' _name is preferred.
const FALLBACK_NAMES = {
  de: "Deutsch",
  en: "English",
  uk: "Українська",
  ru: "Русский",
  ar: "العربية",
  fa: "فارسی",
  tr: "Türkçe",
  ro: "Română",
  bg: "Български",
};

const $ = (id) => document.getElementById(id);

let config = structuredClone(UI_CONFIG_DEFAULTS);
let shownLanguages = [];
let lastServices = null; // last good /services answer (site data, not visitor data)
let t = translator(DEFAULT_LANGUAGE);

let visit = newVisit();
let lastTap = null; // {x, y, t, step} of the last accepted pointer tap
let resetTimer = null;
// While a ticket is printing, the server may still report that printing failed.
let printWatch = null;
let idleTimer = null;

function newVisit() {
  return {
    lang: DEFAULT_LANGUAGE,
    step: "language",
    history: [],
    services: [],
    service: null,
    qr: null, // {scan, kind} of a scanned appointment code or visitor card
    idScan: null, // scan id of an ID document read after consent
    idConsent: false,
    idempotencyKey: uuid4(),
    inFlight: false,
    ticket: null,
    retry: null,
  };
}

// ---------------------------------------------------------------- navigation

function section(step) {
  return $(`step-${step}`);
}

function show(step, { push = true } = {}) {
  if (push && visit.step !== step && NAVIGABLE.has(visit.step)) visit.history.push(visit.step);
  visit.step = step;
  for (const s of STEPS) section(s).hidden = s !== step;
  for (const b of section(step).querySelectorAll("button")) b.disabled = false;
  $("k-back").hidden = !(NAVIGABLE.has(step) && step !== "language") && !(step === "error" && visit.history.length);
  $("k-start-over").hidden = step === "language" || step === "busy";
  window.scrollTo(0, 0);
  $("k-main").focus({ preventScroll: true });
  armIdle();
}

/** Disables the current step's buttons so that a second tap does nothing. */
function lockStep() {
  for (const b of section(visit.step).querySelectorAll("button")) b.disabled = true;
}

/**
 * Wraps a tap handler. Ignores the second tap of a double tap when the first
 * one already changed the screen (same spot, quick succession). Keyboard
 * activations (detail 0) are never filtered.
 */
function tap(fn) {
  return (ev) => {
    if (ev.detail !== 0) {
      const now = performance.now();
      if (
        lastTap &&
        lastTap.step !== visit.step &&
        now - lastTap.t < GHOST_TAP_MS &&
        Math.hypot(ev.clientX - lastTap.x, ev.clientY - lastTap.y) < GHOST_TAP_PX
      ) {
        return;
      }
      lastTap = { x: ev.clientX, y: ev.clientY, t: now, step: visit.step };
    }
    fn(ev);
  };
}

function goBack() {
  const prev = visit.history.pop();
  if (!prev || prev === "language") {
    reset();
    return;
  }
  show(prev, { push: false });
}

function armIdle() {
  clearTimeout(idleTimer);
  idleTimer = null;
  if (visit.step === "language" || visit.step === "ticket" || visit.step === "busy") return;
  idleTimer = setTimeout(reset, IDLE_SECONDS * 1000);
}

// ------------------------------------------------------------------- reset

/** Forgets the visitor completely and shows the language screen. */
function reset() {
  if (printWatch) printWatch.close();
  printWatch = null;
  clearTimeout(resetTimer);
  clearTimeout(idleTimer);
  resetTimer = null;
  idleTimer = null;
  visit = newVisit();

  $("service-list").replaceChildren();
  $("ticket-number").textContent = "";
  $("ticket-service").textContent = "";
  $("ticket-people-ahead").textContent = "";
  $("ticket-wait").textContent = "";
  $("ticket-printing").hidden = true;
  $("ticket-note-number").hidden = true;
  $("error-text").textContent = "";
  $("privacy-retention").textContent = "";
  $("privacy-dpo").textContent = "";
  clearScanMessages();
  $("privacy-site-notice").textContent = "";
  $("privacy-site-notice").hidden = true;
  for (const li of catalogPrivacyItems()) li.hidden = false;

  setLanguage(DEFAULT_LANGUAGE);
  show("language", { push: false });
  visit.history = [];
  if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
  refreshConfig();
}

// ---------------------------------------------------------------- language

function setLanguage(lang) {
  t = translator(lang);
  applyDocumentLanguage(lang);
  translateTree(document.body, t);
}

function renderLanguages() {
  const grid = $("lang-grid");
  grid.replaceChildren(
    ...shownLanguages.map((lang) =>
      el(
        "button",
        {
          type: "button",
          class: "lang-btn",
          lang,
          dir: languageDir(lang),
          dataset: { testid: `lang-${lang}`, lang },
          onclick: tap(() => chooseLanguage(lang)),
        },
        languageName(lang) !== lang ? languageName(lang) : FALLBACK_NAMES[lang] || lang,
      ),
    ),
  );
}

async function chooseLanguage(lang) {
  if (visit.step !== "language") return;
  lockStep();
  const v = visit;
  try {
    await loadCatalog(lang);
  } catch {
    // German fallback texts via translator(); the visitor can still check in.
  }
  if (v !== visit) return;
  v.lang = lang;
  setLanguage(lang);
  await loadServices();
}

// ---------------------------------------------------------------- services

async function loadServices() {
  const v = visit;
  show("busy");
  let services;
  let stale = false;
  try {
    services = await api("/api/v1/services", { timeoutMs: 8000 });
    if (!Array.isArray(services)) throw new ApiError(0, null, "bad services answer");
    lastServices = services;
  } catch (e) {
    if (v !== visit) return;
    if (lastServices) {
      services = lastServices;
      stale = true; // waiting counts would be old: hide them
    } else {
      showError(e, loadServices);
      return;
    }
  }
  if (v !== visit) return;
  v.services = services.filter((s) => s && typeof s.id === "string");
  if (!v.services.length) {
    showError(null, loadServices, t("kiosk.no_services"));
    return;
  }
  renderServices(v.services, stale);
  show("service");
}

function iconUrl(s) {
  const name = String(s.icon || s.id).toLowerCase();
  return /^[a-z0-9_-]+$/.test(name) ? `/icons/${name}.svg` : "/icons/general.svg";
}

function renderServices(services, stale) {
  const lang = visit.lang;
  $("service-list").replaceChildren(
    ...services.map((s) => {
      const hintKey = `service.${s.id}.hint`;
      const hint = t(hintKey);
      const meta = [];
      if (!stale && Number.isFinite(s.waiting)) meta.push(t("kiosk.service_waiting", { n: s.waiting }));
      if (!stale && Number.isFinite(s.estimated_wait_minutes) && s.estimated_wait_minutes > 0)
        meta.push(t("kiosk.service_wait", { minutes: s.estimated_wait_minutes }));
      const img = el("img", { src: iconUrl(s), alt: "", width: 64, height: 64 });
      img.addEventListener("error", () => {
        if (!img.src.endsWith("/icons/general.svg")) img.src = "/icons/general.svg";
      }, { once: true });
      return el(
        "button",
        {
          type: "button",
          class: "service-btn",
          dataset: { testid: `service-${s.id}`, service: s.id },
          onclick: tap(() => chooseService(s)),
        },
        img,
        el(
          "span",
          { class: "service-text" },
          el("span", { class: "service-name" }, serviceName(s, lang, t)),
          hint !== hintKey ? el("span", { class: "service-hint" }, hint) : null,
          meta.length ? el("span", { class: "service-meta" }, ...meta.map((m) => el("span", {}, m))) : null,
        ),
      );
    }),
  );
}

function chooseService(s) {
  if (visit.step !== "service" || visit.inFlight) return;
  lockStep();
  if (!visit.service || visit.service.id !== s.id) visit.idempotencyKey = uuid4();
  visit.service = s;
  show("qr");
}

// ----------------------------------------------------------- identification

/** The catalog's privacy notice (everything in the list but the site's own). */
function catalogPrivacyItems() {
  return document.querySelectorAll("#step-privacy .privacy-list > li:not(#privacy-site-notice)");
}

function afterQr() {
  if (visit.step !== "qr") return;
  lockStep();
  if (config.id_scan.enabled) {
    $("privacy-retention").textContent = t("privacy.retention", { days: config.privacy.retention_days });
    $("privacy-dpo").textContent = config.privacy.dpo
      ? t("privacy.dpo", { dpo: config.privacy.dpo })
      : t("privacy.dpo_reception");
    // The site's own notice from the admin screen, in the visitor's language, replaces
    // the catalog's general notice; languages without one show the catalog's.
    const notice = config.id_scan.privacy_notices[visit.lang] || "";
    $("privacy-site-notice").textContent = notice;
    $("privacy-site-notice").hidden = !notice;
    for (const li of catalogPrivacyItems()) li.hidden = !!notice;
    show("privacy");
  } else {
    submit();
  }
}

function privacyAnswer(consent) {
  if (visit.step !== "privacy") return;
  lockStep();
  visit.idConsent = consent;
  if (consent) show("id");
  else submit();
}

function afterId() {
  if (visit.step !== "id") return;
  lockStep();
  submit();
}

// -------------------------------------------------------------------- scans
//
// Hand scanners, MRZ readers and the camera are read by the appliance; their results
// arrive here as `scan` events. Only ids and what the visitor must see reach the page;
// an ID document's data is shown once, for consent, and wiped with the visit.

function clearScanMessages() {
  for (const id of ["service-message", "qr-message", "id-message"]) {
    $(id).textContent = "";
    $(id).hidden = true;
    $(id).classList.remove("notice-ok", "notice-warn");
  }
  $("id-person").hidden = true;
  $("id-name").textContent = "";
  $("id-birth").textContent = "";
}

function scanMessage(id, text, ok) {
  const m = $(id);
  m.textContent = text;
  m.classList.toggle("notice-ok", ok);
  m.classList.toggle("notice-warn", !ok);
  m.hidden = false;
}

function formatBirthDate(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
  return m ? `${m[3]}.${m[2]}.${m[1]}` : iso || "";
}

function onScan(data) {
  const v = visit;
  if (!data || typeof data !== "object" || v.inFlight || v.ticket) return;
  armIdle();
  const where = v.step === "service" ? "service-message" : v.step === "qr" ? "qr-message" : null;
  if (v.step === "id") {
    if (data.kind === "id_document" && data.scan && data.person) {
      v.idScan = data.scan;
      $("id-message").hidden = true;
      $("id-name").textContent = `${data.person.given_names} ${data.person.surname}`.trim();
      $("id-birth").textContent = t("kiosk.id.birth_date", { date: formatBirthDate(data.person.birth_date) });
      $("id-person").hidden = false;
    } else if (data.kind === "refused" && data.message_key) {
      scanMessage("id-message", t(data.message_key), false);
    }
    return;
  }
  if (!where) return; // scans count only while the visitor is choosing
  if (data.kind === "appointment" && data.scan) {
    const s = v.services.find((x) => x.id === data.service);
    if (!s) {
      scanMessage(where, t("kiosk.qr.error.invalid"), false);
      return;
    }
    if (!v.service || v.service.id !== s.id) v.idempotencyKey = uuid4();
    v.service = s;
    v.qr = { scan: data.scan, kind: data.kind };
    scanMessage(where, t("kiosk.qr.appointment_found"), true);
    if (v.step === "service") show("qr");
    scanMessage("qr-message", t("kiosk.qr.appointment_found"), true);
    setTimeout(() => {
      if (v === visit && v.step === "qr") afterQr();
    }, 1200);
  } else if (data.kind === "visitor_card" && data.scan) {
    v.qr = { scan: data.scan, kind: data.kind };
    scanMessage(where, t("kiosk.qr.card_found"), true);
    if (v.step === "qr") {
      setTimeout(() => {
        if (v === visit && v.step === "qr") afterQr();
      }, 1200);
    }
  } else if (data.kind === "refused" && data.message_key && data.message_key.startsWith("kiosk.qr.")) {
    scanMessage(where, t(data.message_key), false);
  } else if (data.kind === "refused" && data.message_key) {
    scanMessage(where, t(data.message_key), false);
  }
  // An ID document read outside the consent step is not used; the server forgets it.
}

function watchScans() {
  connectEvents({ url: "/api/v1/kiosk/scans", extraKinds: ["scan"], onEvent: (kind, data) => {
    if (kind === "scan") onScan(data);
  } });
}

// ---------------------------------------------------------------- check-in

async function submit() {
  const v = visit;
  if (v.inFlight || v.ticket || !v.service) return;
  v.inFlight = true;
  lockStep();
  show("busy");
  const body = { service: v.service.id, language: v.lang };
  if (v.qr) body.scan = v.qr.scan;
  if (v.idScan) {
    body.id_scan = v.idScan;
    body.consent = v.idConsent;
  }
  let ticket;
  try {
    ticket = await api("/api/v1/checkins", {
      method: "POST",
      body,
      headers: { "Idempotency-Key": v.idempotencyKey },
      timeoutMs: 15000,
    });
    if (!ticket || typeof ticket.number !== "string") throw new ApiError(0, null, "bad ticket answer");
  } catch (e) {
    if (v !== visit) return;
    v.inFlight = false;
    if (e instanceof ApiError && e.status === 410) {
      // The scan expired (or was used): forget it, the visitor can scan again.
      v.qr = null;
      v.idScan = null;
      showError(e, null, t("kiosk.scan.expired"));
      return;
    }
    showError(e, submit); // the retry re-uses the same Idempotency-Key
    return;
  }
  if (v !== visit) return;
  v.ticket = ticket; // stays set: this visit can never ask for a second ticket
  renderTicket(ticket);
  show("ticket");
  if (ticket.printed === true) watchPrinting(v, ticket);
  const factor = ticket.printed === false ? 2 : 1; // more time to note the number
  resetTimer = setTimeout(reset, config.kiosk_reset_seconds * 1000 * factor);
}

// Printing happens after the check-in was answered; if the printer fails (after one
// retry), the server raises a `print_failed` alert and the visitor is told to note
// the number instead.
function watchPrinting(v, ticket) {
  if (printWatch) printWatch.close();
  printWatch = connectEvents({
    extraKinds: ["alert"],
    onEvent: (kind, data) => {
      if (kind !== "alert" || data.code !== "print_failed") return;
      if (!data.ticket || data.ticket.id !== ticket.id || v !== visit) return;
      v.ticket = { ...ticket, printed: false };
      renderTicket(v.ticket);
      clearTimeout(resetTimer);
      resetTimer = setTimeout(reset, config.kiosk_reset_seconds * 1000 * 2);
    },
  });
}

function renderTicket(ticket) {
  const s = visit.services.find((x) => x.id === ticket.service) || visit.service || ticket.service;
  $("ticket-number").textContent = ticket.number;
  $("ticket-service").textContent = t("ticket.service", { service: serviceName(s, visit.lang, t) });

  const ahead = peopleAhead(ticket);
  $("ticket-people-ahead").textContent = ahead === null ? "" : t("ticket.people_ahead", { n: ahead });
  $("ticket-people-ahead").hidden = ahead === null;

  const wait = Number(ticket.estimated_wait_minutes);
  const showWait = ticket.estimated_wait_minutes != null && Number.isFinite(wait) && wait > 0;
  $("ticket-wait").textContent = showWait ? t("ticket.estimated_wait", { minutes: wait }) : "";
  $("ticket-wait").hidden = !showWait;

  // printed: true = printing, false = printer failed (the desk is alerted),
  // null/absent = nothing known, so say neither.
  $("ticket-printing").textContent = t("ticket.printing");
  $("ticket-printing").hidden = ticket.printed !== true;
  $("ticket-note-number").textContent = t("ticket.printer_unavailable");
  $("ticket-note-number").hidden = ticket.printed !== false;
}

// ------------------------------------------------------------------- errors

function showError(err, retryFn, text) {
  const rejected =
    err instanceof ApiError && !err.transient && err.status >= 400 && err.status < 500;
  visit.retry = rejected ? null : retryFn;
  $("error-text").textContent = text || (rejected ? t("kiosk.error.rejected") : t("kiosk.error.text"));
  show("error", { push: false });
  $("error-retry").hidden = !visit.retry;
}

function retry() {
  if (visit.step !== "error" || !visit.retry) return;
  lockStep();
  const fn = visit.retry;
  visit.retry = null;
  fn();
}

// ------------------------------------------------------------------- config

async function refreshConfig() {
  const cfg = await loadUiConfig();
  config = cfg;
  $("k-site").textContent = cfg.site_name;
  const wanted = cfg.languages.filter((l) => ALL_LANGUAGES.includes(l) || FALLBACK_NAMES[l]);
  await loadCatalogs(wanted);
  const list = wanted.length ? wanted : [DEFAULT_LANGUAGE];
  const changed = list.join() !== shownLanguages.join() || !$("lang-grid").children.length;
  shownLanguages = list;
  if (changed && visit.step === "language") renderLanguages();
  if (visit.lang === DEFAULT_LANGUAGE && visit.step === "language") translateTree(document.body, t);
}

// --------------------------------------------------------------------- boot

function wire() {
  $("k-back").addEventListener("click", tap(goBack));
  $("k-start-over").addEventListener("click", tap(reset));
  $("qr-continue").addEventListener("click", tap(afterQr));
  $("qr-skip").addEventListener("click", tap(afterQr));
  $("privacy-consent").addEventListener("click", tap(() => privacyAnswer(true)));
  $("privacy-decline").addEventListener("click", tap(() => privacyAnswer(false)));
  $("id-continue").addEventListener("click", tap(afterId));
  $("id-skip").addEventListener("click", tap(() => {
    visit.idScan = null; // skipping means: do not use what was read
    afterId();
  }));
  $("error-retry").addEventListener("click", tap(retry));
  // The whole ticket screen (including "Done") ends the visit.
  section("ticket").addEventListener("click", tap(() => {
    if (visit.step === "ticket") reset();
  }));
  // Any touch or key keeps a half-finished visit alive.
  document.addEventListener("pointerdown", armIdle, { passive: true });
  document.addEventListener("keydown", armIdle);
  // No long-press menus on a public touch screen.
  document.addEventListener("contextmenu", (e) => e.preventDefault());
}

// The accessible ticket button beside the kiosk issues a ticket without the touch
// screen; the server announces it, and an idle kiosk shows it and speaks it.
function watchButton() {
  connectEvents({
    extraKinds: ["kiosk.button_ticket"],
    onEvent: (kind, data) => {
      if (kind !== "kiosk.button_ticket" || !data.ticket) return;
      if (visit.step !== "language" && visit.step !== "ticket") return; // someone is mid-visit
      reset();
      visit.ticket = data.ticket;
      renderTicket(data.ticket);
      show("ticket");
      resetTimer = setTimeout(reset, config.kiosk_reset_seconds * 1000);
      const audio = new Audio(`/api/v1/tickets/${data.ticket.id}/confirmation`);
      audio.play().catch(() => {});
    },
  });
}

async function boot() {
  wire();
  watchButton();
  watchScans();
  await loadCatalogs([DEFAULT_LANGUAGE, "en"]);
  shownLanguages = ALL_LANGUAGES.slice();
  renderLanguages();
  reset(); // also loads /api/v1/config/ui and all catalogs (kept for offline use)
}

boot();
