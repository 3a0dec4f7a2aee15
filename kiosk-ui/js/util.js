// Small helpers shared by the three screens.

/**
 * Random RFC 4122 version-4 UUID. crypto.randomUUID exists only in secure
 * contexts (https or localhost); the kiosk may be served over plain http on
 * the local network, so build it from getRandomValues, which is always there.
 */
export function uuid4() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Creates an element: el("p", {class: "x", dataset: {testid: "y"}}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c == null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/**
 * People ahead of a ticket: the server's Ticket.position is already "people
 * ahead in this service" (0 = next; see server/src/queue/mod.rs), set only
 * while the ticket waits. Kept in one place in case that ever changes.
 */
export function peopleAhead(ticket) {
  if (!ticket || ticket.position === null || ticket.position === undefined) return null;
  const p = Number(ticket.position);
  return Number.isFinite(p) && p >= 0 ? p : null;
}

/**
 * Display name of a service: the API's name in that language, else the
 * catalog's service.<id>.name, else the API's German name, else the id.
 */
export function serviceName(service, lang, t) {
  const id = typeof service === "string" ? service : service && service.id;
  const names = (service && typeof service === "object" && service.name) || {};
  if (typeof names === "string") return names;
  if (names[lang]) return names[lang];
  const key = `service.${id}.name`;
  const fromCatalog = t ? t(key) : key;
  if (fromCatalog && fromCatalog !== key) return fromCatalog;
  return names.de || id || "";
}

/** Minutes elapsed since an RFC 3339 timestamp, never negative; null if unparsable. */
export function minutesSince(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.floor((now - t) / 60000));
}
