// Display (/display): latest calls, waiting counts, clock; live via SSE only.
//
// Runs for days, so: the calls array is capped at MAX_CALLS and the list is
// rebuilt from it (the DOM cannot grow), the audio queue is capped, there is
// exactly one interval (the clock), and every audio wait has its own timeout
// that is cleared when the sound ends.

import { loadCatalogs, translateTree, translator } from "/js/i18n.js";
import { api } from "/js/api.js";
import { connectEvents } from "/js/events.js";
import { el, serviceName } from "/js/util.js";

const MAX_CALLS = 8;
const MAX_AUDIO_QUEUE = 6;
const GONG_URL = "/sounds/gong.wav";
const GONG_MAX_MS = 5000;
const ANNOUNCEMENT_MAX_MS = 30000;
const TZ = "Europe/Berlin";

const $ = (id) => document.getElementById(id);
const tDe = translator("de");
const tEn = translator("en");

const state = {
  services: [], // [{id, prefix, name}]
  waiting: {}, // service id -> count
  counters: new Map(), // counter id -> {id, name, room}
  calls: [], // newest first, at most MAX_CALLS: {id, number, counter, room, at}
};

// ------------------------------------------------------------------- calls

function counterInfo(call) {
  const c = state.counters.get(call.counter);
  const counterName = (c && c.name) || call.counter || "";
  const room = call.room || (c && c.room) || "";
  return room ? { big: room, small: counterName !== room ? counterName : "" } : { big: counterName, small: "" };
}

function renderCalls(flashId = null) {
  const items = state.calls.map((c, i) => {
    const dest = counterInfo(c);
    const cls = ["d-call", i === 0 ? "latest" : "", c.id === flashId ? "flash" : ""].filter(Boolean).join(" ");
    return el(
      "li",
      { class: cls, dataset: { testid: "display-call", number: c.number, ticketId: String(c.id) } },
      el("span", { class: "d-call-number ltr-code", dir: "ltr" }, c.number),
      el(
        "span",
        { class: "d-call-dest" },
        el("span", { class: "d-call-room" }, dest.big),
        dest.small ? el("span", { class: "d-call-counter" }, dest.small) : null,
      ),
    );
  });
  $("d-call-list").replaceChildren(...items);
  $("d-empty").hidden = state.calls.length > 0;
}

function toCall(ticket, at) {
  return {
    id: ticket.id,
    number: String(ticket.number || ""),
    counter: ticket.counter || null,
    room: ticket.room || null,
    at: Date.parse(ticket.called_at || at || "") || Date.now(),
  };
}

/** Adds or moves a call to the top; returns nothing, keeps at most MAX_CALLS. */
function addCall(call) {
  state.calls = [call, ...state.calls.filter((c) => c.id !== call.id)].slice(0, MAX_CALLS);
}

// ---------------------------------------------------------------- waiting

function renderWaiting() {
  const items = state.services.map((s) => {
    const n = Number(state.waiting[s.id] ?? s.waiting ?? 0);
    const de = serviceName(s, "de", tDe);
    const en = serviceName(s, "en", tEn);
    return el(
      "li",
      { class: "d-waiting-item", dataset: { testid: "display-waiting", service: s.id } },
      el(
        "span",
        { class: "d-waiting-name" },
        el("span", {}, de),
        en && en !== de ? el("span", { class: "en", lang: "en" }, en) : null,
      ),
      el("span", { class: "d-waiting-count" }, String(Number.isFinite(n) ? n : 0)),
    );
  });
  $("d-waiting-list").replaceChildren(...items);
}

function applyWaiting(waiting) {
  if (!waiting || typeof waiting !== "object") return;
  state.waiting = { ...state.waiting, ...waiting };
  renderWaiting();
}

// ------------------------------------------------------------------ audio

const audio = $("d-audio");
const audioQueue = [];
let audioBusy = false;

function playUrl(url, maxMs) {
  return new Promise((resolve) => {
    let timer = null;
    const done = () => {
      clearTimeout(timer);
      audio.onended = null;
      audio.onerror = null;
      resolve();
    };
    audio.onended = done;
    audio.onerror = done; // e.g. 404 while the server has no announcements yet
    timer = setTimeout(() => {
      audio.pause();
      done();
    }, maxMs);
    audio.src = url;
    const p = audio.play();
    if (p && p.catch) {
      p.catch((e) => {
        if (e && e.name === "NotAllowedError") $("d-enable-sound").hidden = false;
        done();
      });
    }
  });
}

function enqueueAnnouncement(call) {
  if (audioQueue.length >= MAX_AUDIO_QUEUE) audioQueue.shift();
  audioQueue.push(call);
  if (!audioBusy) drainAudio();
}

async function drainAudio() {
  audioBusy = true;
  try {
    while (audioQueue.length) {
      const call = audioQueue.shift();
      await playUrl(GONG_URL, GONG_MAX_MS);
      await playUrl(`/api/v1/tickets/${encodeURIComponent(call.id)}/announcement`, ANNOUNCEMENT_MAX_MS);
    }
  } finally {
    audio.removeAttribute("src");
    audioBusy = false;
  }
}

function unlockSound() {
  $("d-enable-sound").hidden = true;
  audio.src = GONG_URL;
  audio.play().catch(() => {
    $("d-enable-sound").hidden = false;
  });
}

// ----------------------------------------------------------------- resync

let resyncing = false;

/** Loads the full picture once (start, reconnect, new day). Failures keep what we have. */
async function resync() {
  if (resyncing) return;
  resyncing = true;
  try {
    // The staff-only queue and counters are not public; /api/v1/display is their
    // reduction to numbers, counters and rooms.
    const [services, view] = await Promise.allSettled([api("/api/v1/services"), api("/api/v1/display")]);
    if (services.status === "fulfilled" && Array.isArray(services.value)) {
      state.services = services.value.filter((s) => s && s.id);
      const w = {};
      for (const s of state.services) if (Number.isFinite(s.waiting)) w[s.id] = s.waiting;
      state.waiting = { ...state.waiting, ...w };
    }
    const v = view.status === "fulfilled" ? view.value : null;
    if (v && Array.isArray(v.counters)) {
      state.counters = new Map(v.counters.filter((c) => c && c.id).map((c) => [c.id, c]));
    }
    if (v && Array.isArray(v.calls)) {
      const called = v.calls
        .filter((t) => (t.status === "called" || t.status === "serving") && t.called_at)
        .map((t) => toCall(t));
      // Merge with what we showed: keeps recent history, adds calls missed while offline.
      const byId = new Map(state.calls.map((c) => [c.id, c]));
      for (const c of called) byId.set(c.id, c);
      state.calls = [...byId.values()].sort((a, b) => b.at - a.at).slice(0, MAX_CALLS);
      if (v.waiting) state.waiting = { ...state.waiting, ...v.waiting };
    }
    renderCalls();
    renderWaiting();
  } finally {
    resyncing = false;
  }
}

// ----------------------------------------------------------------- events

function onEvent(kind, data) {
  if (data.counter && data.counter.id) {
    const old = state.counters.get(data.counter.id) || {};
    state.counters.set(data.counter.id, { ...old, ...data.counter });
  }
  if (data.waiting) applyWaiting(data.waiting);
  if ((kind === "ticket.called" || kind === "ticket.recalled") && data.ticket && data.ticket.id != null) {
    const call = toCall({ ...data.ticket, called_at: null }, data.at);
    addCall(call);
    renderCalls(call.id);
    enqueueAnnouncement(call);
  } else if (kind === "counter.updated") {
    renderCalls();
  }
}

function setConnected(ok) {
  $("d-connection-lost").hidden = ok;
}

// ------------------------------------------------------------------ clock

const timeFmt = new Intl.DateTimeFormat("de-DE", { timeZone: TZ, hour: "2-digit", minute: "2-digit" });
const dateFmt = new Intl.DateTimeFormat("de-DE", {
  timeZone: TZ,
  weekday: "long",
  day: "numeric",
  month: "long",
  year: "numeric",
});
const dayFmt = new Intl.DateTimeFormat("en-CA", { timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit" });
let lastTime = "";
let lastDay = "";

function tick() {
  const now = new Date();
  const time = timeFmt.format(now);
  if (time === lastTime) return;
  lastTime = time;
  $("d-time").textContent = time;
  $("d-time").setAttribute("datetime", now.toISOString());
  $("d-date").textContent = dateFmt.format(now);
  const day = dayFmt.format(now);
  if (lastDay && day !== lastDay) {
    // A new day: yesterday's calls are meaningless now.
    state.calls = [];
    renderCalls();
    resync();
  }
  lastDay = day;
}

// ------------------------------------------------------------------- boot

function translateEnglish() {
  for (const node of document.querySelectorAll("[data-i18n-en]")) node.textContent = tEn(node.dataset.i18nEn);
}

async function boot() {
  tick();
  setInterval(tick, 1000);
  $("d-enable-sound").addEventListener("click", unlockSound);
  renderCalls();
  await loadCatalogs(["de", "en"]);
  translateTree(document.body, tDe);
  translateEnglish();
  api("/api/v1/config/ui", { timeoutMs: 5000 })
    .then((cfg) => {
      if (cfg && cfg.site_name) $("d-site").textContent = cfg.site_name;
    })
    .catch(() => {});
  connectEvents({
    onEvent,
    onOpen: () => {
      setConnected(true);
      resync(); // on every (re)connect: catch up on what we missed
    },
    onLost: () => setConnected(false),
  });
}

boot();
