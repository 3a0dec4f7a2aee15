// Translation catalogs (/i18n/<lang>.json): loading, lookup and placeholders.
// One flat catalog per language serves kiosk, display, spoken call and ticket.

export const ALL_LANGUAGES = ["de", "en", "uk", "ru", "ar", "fa", "tr", "ro", "bg"];
export const DEFAULT_LANGUAGE = "de";

const catalogs = new Map();
const pending = new Map();

/** Fetches a catalog once; later calls return the cached copy (catalogs are not visitor data). */
export function loadCatalog(lang) {
  if (catalogs.has(lang)) return Promise.resolve(catalogs.get(lang));
  if (pending.has(lang)) return pending.get(lang);
  const p = fetch(`/i18n/${encodeURIComponent(lang)}.json`, { cache: "no-cache" })
    .then((r) => {
      if (!r.ok) throw new Error(`catalog ${lang}: HTTP ${r.status}`);
      return r.json();
    })
    .then((data) => {
      catalogs.set(lang, data);
      return data;
    })
    .finally(() => pending.delete(lang));
  pending.set(lang, p);
  return p;
}

/** Loads several catalogs; the ones that fail are left out instead of failing all. */
export async function loadCatalogs(langs) {
  const results = await Promise.allSettled(langs.map((l) => loadCatalog(l)));
  return langs.filter((_, i) => results[i].status === "fulfilled");
}

export function getCatalog(lang) {
  return catalogs.get(lang) || null;
}

/** Replaces {name} placeholders; unknown ones stay visible so mistakes show. */
export function format(template, vars = {}) {
  return String(template).replace(/\{([a-z_]+)\}/g, (m, k) =>
    Object.prototype.hasOwnProperty.call(vars, k) && vars[k] != null ? String(vars[k]) : m,
  );
}

/** Returns t(key, vars) for a language, falling back to German, then to the key. */
export function translator(lang) {
  return (key, vars) => {
    const cat = catalogs.get(lang);
    const de = catalogs.get(DEFAULT_LANGUAGE);
    const text = (cat && cat[key]) ?? (de && de[key]) ?? key;
    return format(text, vars);
  };
}

export function languageName(lang) {
  const cat = catalogs.get(lang);
  return (cat && cat._name) || lang;
}

export function languageDir(lang) {
  const cat = catalogs.get(lang);
  if (cat && (cat._dir === "rtl" || cat._dir === "ltr")) return cat._dir;
  return lang === "ar" || lang === "fa" ? "rtl" : "ltr";
}

/** Sets <html lang dir> so that fonts, hyphenation and the whole layout follow the language. */
export function applyDocumentLanguage(lang) {
  document.documentElement.lang = lang;
  document.documentElement.dir = languageDir(lang);
}

/** Fills every [data-i18n] element below root with its translated text. */
export function translateTree(root, t) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
}
