// Live updates from GET /api/v1/events (Server-Sent Events).
// EventSource reconnects by itself (sending Last-Event-ID) after network errors;
// but when the server answers with a non-200 status or a wrong content type
// (e.g. a proxy's 502 while the server restarts) it gives up for good
// (readyState CLOSED). Then we open a fresh one after a short back-off.

export const EVENT_KINDS = [
  "ticket.created",
  "ticket.called",
  "ticket.recalled",
  "ticket.started",
  "ticket.done",
  "ticket.no_show",
  "ticket.cancelled",
  "ticket.transferred",
  "counter.updated",
];

/**
 * @param {object} o
 * @param {(kind: string, data: object) => void} o.onEvent
 * @param {() => void} [o.onOpen] called on every (re)connect, also the first
 * @param {() => void} [o.onLost] called when the connection drops
 * @param {string[]} [o.extraKinds] further event names to listen for
 * @param {string} [o.url] the stream (the kiosk's scans come from /api/v1/kiosk/scans)
 */
export function connectEvents({
  onEvent,
  onOpen = () => {},
  onLost = () => {},
  extraKinds = [],
  url = "/api/v1/events",
}) {
  let es = null;
  let retryTimer = null;
  let delay = 2000;
  let connected = false;

  const kinds = [...EVENT_KINDS, ...extraKinds];

  function handle(ev) {
    let data = null;
    try {
      data = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!data || typeof data !== "object") return;
    try {
      onEvent(ev.type === "message" ? data.kind || "message" : ev.type, data);
    } catch (e) {
      console.error("event handler failed", e);
    }
  }

  function open() {
    retryTimer = null;
    es = new EventSource(url);
    es.onopen = () => {
      delay = 2000;
      connected = true;
      onOpen();
    };
    es.onerror = () => {
      if (connected) {
        connected = false;
      }
      onLost();
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        es = null;
        if (retryTimer === null) {
          retryTimer = setTimeout(open, delay);
          delay = Math.min(delay * 2, 30000);
        }
      }
    };
    for (const k of kinds) es.addEventListener(k, handle);
    es.onmessage = handle;
  }

  open();
  return {
    close() {
      if (retryTimer !== null) clearTimeout(retryTimer);
      retryTimer = null;
      if (es) es.close();
      es = null;
    },
  };
}
