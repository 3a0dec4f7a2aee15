// Small fetch wrapper for /api/v1: timeouts, JSON, application/problem+json errors.

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 for network failure or timeout
   * @param {object|null} problem parsed problem+json body, if any
   */
  constructor(status, problem, message) {
    super(message || (problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem || null;
  }

  /** True when retrying later may help: offline, timeout, 5xx, 408, 429. */
  get transient() {
    return this.status === 0 || this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

/**
 * Calls the API and returns parsed JSON, or null for 204 and empty bodies.
 * Throws ApiError for every failure, never a raw TypeError.
 */
export async function api(path, { method = "GET", body, headers = {}, timeoutMs = 10000 } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  const h = { Accept: "application/json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal: ctrl.signal,
    });
  } catch (e) {
    throw new ApiError(0, null, e && e.name === "AbortError" ? "timeout" : "network error");
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 204) return null;
  const text = await res.text().catch(() => "");
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) throw new ApiError(res.status, data && typeof data === "object" ? data : null);
  return data;
}

export const UI_CONFIG_DEFAULTS = Object.freeze({
  site_name: "Lotse",
  languages: ["de", "en", "uk", "ru", "ar", "fa", "tr", "ro", "bg"],
  id_scan: { enabled: false, documents: [], privacy_notices: {} },
  privacy: { retention_days: 90, dpo: "" },
  kiosk_reset_seconds: 20,
});

/** GET /api/v1/config/ui merged over defaults; any failure yields the defaults. */
export async function loadUiConfig() {
  let cfg = {};
  try {
    cfg = (await api("/api/v1/config/ui", { timeoutMs: 5000 })) || {};
  } catch {
    cfg = {};
  }
  const d = UI_CONFIG_DEFAULTS;
  const langs = Array.isArray(cfg.languages) && cfg.languages.length ? cfg.languages : d.languages;
  const reset = Number(cfg.kiosk_reset_seconds);
  return {
    site_name: typeof cfg.site_name === "string" && cfg.site_name ? cfg.site_name : d.site_name,
    languages: langs.filter((l) => typeof l === "string"),
    id_scan: {
      enabled: Boolean(cfg.id_scan && cfg.id_scan.enabled),
      documents: (cfg.id_scan && Array.isArray(cfg.id_scan.documents) && cfg.id_scan.documents) || [],
      privacy_notices:
        (cfg.id_scan &&
          cfg.id_scan.privacy_notices &&
          typeof cfg.id_scan.privacy_notices === "object" &&
          cfg.id_scan.privacy_notices) ||
        {},
    },
    privacy: {
      retention_days: Number((cfg.privacy && cfg.privacy.retention_days) || d.privacy.retention_days),
      dpo: (cfg.privacy && typeof cfg.privacy.dpo === "string" && cfg.privacy.dpo) || "",
    },
    kiosk_reset_seconds: Number.isFinite(reset) && reset >= 5 ? reset : d.kiosk_reset_seconds,
  };
}
