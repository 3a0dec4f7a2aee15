//! The files of `kiosk-ui/`, embedded into the binary: served to browsers, and read
//! by the server itself for the texts and fonts of printed tickets and spoken calls,
//! so every visitor-facing text comes from the same catalogs.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use rust_embed::RustEmbed;

use crate::tickets::{Catalog, Fonts};

#[derive(Debug, RustEmbed)]
#[folder = "../kiosk-ui/"]
#[exclude = "*.py"]
pub struct Assets;

/// A file of `kiosk-ui/` and its MIME type.
pub fn file(path: &str) -> Option<(Cow<'static, [u8]>, String)> {
    Assets::get(path).map(|f| (f.data, f.metadata.mimetype().to_string()))
}

/// The raw catalog of a language as a map; `None` for a language without one.
pub fn catalog_map(lang: &str) -> Option<&'static HashMap<String, String>> {
    static CATALOGS: OnceLock<HashMap<String, HashMap<String, String>>> = OnceLock::new();
    CATALOGS
        .get_or_init(|| {
            let mut all = HashMap::new();
            for l in crate::queue::LANGUAGES {
                let Some(f) = Assets::get(&format!("i18n/{l}.json")) else {
                    continue;
                };
                let parsed: Result<HashMap<String, serde_json::Value>, _> =
                    serde_json::from_slice(&f.data);
                match parsed {
                    Ok(m) => {
                        let texts = m
                            .into_iter()
                            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                            .collect();
                        all.insert(l.to_string(), texts);
                    }
                    Err(e) => tracing::error!("catalog i18n/{l}.json is malformed: {e}"),
                }
            }
            all
        })
        .get(lang)
}

/// One catalog text with `{placeholders}` filled in; German when the language lacks
/// the key, the key itself as a last resort.
pub fn text(lang: &str, key: &str, args: &[(&str, &str)]) -> String {
    let raw = catalog_map(lang)
        .and_then(|c| c.get(key))
        .or_else(|| catalog_map("de").and_then(|c| c.get(key)))
        .map(String::as_str)
        .unwrap_or(key);
    let mut s = raw.to_string();
    for (k, v) in args {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// The ticket catalog of a language, with German behind it.
pub fn ticket_catalog(lang: &str) -> Catalog {
    let de = Catalog::new(catalog_map("de").cloned().unwrap_or_default());
    match catalog_map(lang) {
        Some(m) if lang != "de" => Catalog::new(m.clone()).with_fallback(&de),
        _ => de,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the embedded font {0} is missing")]
pub struct MissingFont(&'static str);

/// The Noto fonts shipped in `kiosk-ui/fonts/`.
pub fn fonts() -> Result<Fonts, Box<dyn std::error::Error + Send + Sync>> {
    let get = |name: &'static str| -> Result<Vec<u8>, MissingFont> {
        Assets::get(&format!("fonts/{name}"))
            .map(|f| f.data.into_owned())
            .ok_or(MissingFont(name))
    };
    Ok(Fonts::from_bytes(
        get("NotoSans-Regular.ttf")?,
        get("NotoSans-Bold.ttf")?,
        get("NotoSansArabic-Regular.ttf")?,
        get("NotoSansArabic-Bold.ttf")?,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every visitor-facing text exists in every language, with the same placeholders.
    #[test]
    fn catalogs_are_complete_in_every_language() {
        let de = catalog_map("de").expect("German catalog");
        let placeholders = |s: &str| -> Vec<String> {
            let mut v: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(k, _)| k.to_string()))
                .collect();
            v.sort();
            v
        };
        for lang in crate::queue::LANGUAGES {
            let c = catalog_map(lang).unwrap_or_else(|| panic!("no catalog for {lang}"));
            for (k, v) in de {
                let t = c
                    .get(k)
                    .unwrap_or_else(|| panic!("{lang} lacks the key {k}"));
                assert!(!t.trim().is_empty(), "{lang}: {k} is empty");
                assert_eq!(placeholders(t), placeholders(v), "{lang}: {k} placeholders");
            }
            for k in c.keys() {
                assert!(de.contains_key(k), "{lang} has an unknown key {k}");
            }
        }
        assert_eq!(text("ar", "_dir", &[]), "rtl");
        assert_eq!(text("fa", "_dir", &[]), "rtl");
        assert_eq!(text("uk", "_dir", &[]), "ltr");
    }

    #[test]
    fn texts_fill_placeholders_and_fall_back_to_german() {
        assert_eq!(
            text(
                "de",
                "call.spoken",
                &[("number", "A 42"), ("room", "Raum 3")]
            ),
            "Nummer A 42, bitte zu Raum 3."
        );
        assert_eq!(
            text("xx", "call.spoken", &[]),
            text("de", "call.spoken", &[])
        );
        assert_eq!(text("de", "no.such.key", &[]), "no.such.key");
    }

    #[test]
    fn fonts_are_embedded() {
        assert!(fonts().is_ok());
    }
}
