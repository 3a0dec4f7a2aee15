//! The printed queue ticket: one layout, drawn twice.
//!
//! [`layout::layout_ticket`] turns a [`TicketView`] into a [`layout::Layout`]: shaped,
//! bidi-reordered and wrapped text lines, the QR code, the logo and rules, all
//! positioned in printer dots (203 dpi). Both back-ends draw that same list:
//! - [`raster::render_raster`] → a pure black/white [`image::GrayImage`] for thermal
//!   printers, which [`escpos::encode`] turns into ESC/POS `GS v 0` bytes;
//! - [`pdf::render_pdf`] → a one-page PDF with embedded, subset TrueType fonts where
//!   every glyph is placed by glyph id, so Arabic and Farsi look exactly as printed.
//!
//! Texts come from the kiosk's translation catalogs ([`Catalog`]); fonts are passed in
//! as bytes ([`Fonts`]) so nothing here knows where the appliance keeps its files.

pub mod bench;
pub mod escpos;
pub mod layout;
pub mod pdf;
pub mod qr;
pub mod raster;
pub mod text;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use layout::{Layout, layout_ticket};
pub use lotse_firmware::printer::PrintJob;
pub use pdf::render_pdf;
pub use raster::render_raster;

/// Renders the ticket into everything a printer back-end may need: ESC/POS bytes
/// (with a partial cut), a PNG preview of the same bitmap and, if `with_pdf`, the
/// PDF for CUPS queues. The job is named after the ticket number.
pub fn print_job(
    view: &TicketView<'_>,
    catalog: &Catalog,
    fonts: &Fonts,
    paper: PaperWidth,
    with_pdf: bool,
) -> Result<PrintJob, TicketError> {
    let layout = layout_ticket(view, catalog, fonts, paper)?;
    let bitmap = raster::rasterize(&layout, fonts)?;
    let pdf = if with_pdf {
        let pdf_layout = if paper == PaperWidth::Mm80 {
            layout
        } else {
            layout_ticket(view, catalog, fonts, PaperWidth::Mm80)?
        };
        let title = format!("Lotse {}", view.number.trim());
        Some(pdf::layout_to_pdf(&pdf_layout, fonts, &title)?)
    } else {
        None
    };
    Ok(PrintJob {
        escpos: escpos::encode(&bitmap, true),
        preview_png: Some(raster::to_png(&bitmap)?),
        pdf,
        name: view.number.trim().to_string(),
    })
}

/// Everything printed on one ticket, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct TicketView<'a> {
    /// Queue number as called out, e.g. `"A-007"`.
    pub number: &'a str,
    /// The visitor's concern in the visitor's language.
    pub service_name_local: &'a str,
    /// The same concern in German, for staff.
    pub service_name_de: &'a str,
    /// Catalog language code: `de`, `en`, `uk`, `ru`, `ar`, `fa`, `tr`, `ro`, `bg`.
    pub language: &'a str,
    /// When the ticket was drawn; printed in Europe/Berlin time.
    pub issued_at: chrono::DateTime<chrono_tz::Tz>,
    pub people_ahead: u32,
    pub estimated_wait_minutes: u32,
    /// Encoded as the QR code, e.g. `http://lotse.local:8080/t/<token>`.
    pub status_url: &'a str,
    pub site_name: &'a str,
    /// Optional site logo, any size; scaled to fit.
    pub logo: Option<&'a image::GrayImage>,
}

impl TicketView<'_> {
    /// Whether the visitor's language is written right to left.
    pub fn is_rtl(&self) -> bool {
        is_rtl_language(self.language)
    }
}

/// Languages the kiosk offers that are written right to left.
pub fn is_rtl_language(lang: &str) -> bool {
    matches!(lang, "ar" | "fa" | "he" | "ur" | "ps" | "ckb")
}

/// Errors while rendering or encoding a ticket.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("font {name}: {reason}")]
    Font { name: String, reason: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("translation catalog: {0}")]
    Catalog(String),
    #[error("QR code for the status URL: {0}")]
    Qr(String),
    #[error("PDF: {0}")]
    Pdf(String),
    #[error("invalid ticket: {0}")]
    Input(String),
    #[error("PNG preview: {0}")]
    Png(String),
}

/// Paper roll width of the thermal printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaperWidth {
    /// 58 mm roll, 48 mm printable: 384 dots at 203 dpi.
    Mm58,
    /// 80 mm roll, 72 mm printable: 576 dots at 203 dpi.
    Mm80,
}

impl PaperWidth {
    /// Printable width in dots at 203 dpi.
    pub fn dots(self) -> u32 {
        match self {
            PaperWidth::Mm58 => 384,
            PaperWidth::Mm80 => 576,
        }
    }

    /// Roll width in millimetres (the PDF page width).
    pub fn roll_mm(self) -> f32 {
        match self {
            PaperWidth::Mm58 => 58.0,
            PaperWidth::Mm80 => 80.0,
        }
    }
}

/// Thermal printer resolution; layout units are dots at this density.
pub const DPI: f32 = 203.0;

/// Which of the four faces a glyph comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaceId {
    Regular,
    Bold,
    ArabicRegular,
    ArabicBold,
}

impl FaceId {
    pub const ALL: [FaceId; 4] = [
        FaceId::Regular,
        FaceId::Bold,
        FaceId::ArabicRegular,
        FaceId::ArabicBold,
    ];

    /// File name in the kiosk's font directory.
    pub fn file_name(self) -> &'static str {
        match self {
            FaceId::Regular => "NotoSans-Regular.ttf",
            FaceId::Bold => "NotoSans-Bold.ttf",
            FaceId::ArabicRegular => "NotoSansArabic-Regular.ttf",
            FaceId::ArabicBold => "NotoSansArabic-Bold.ttf",
        }
    }
}

/// The ticket's font files (Noto Sans for Latin and Cyrillic, Noto Sans Arabic for
/// Arabic and Farsi), validated once so rendering cannot fail on a bad file later.
#[derive(Clone)]
pub struct Fonts {
    data: [Vec<u8>; 4],
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sizes: Vec<usize> = self.data.iter().map(Vec::len).collect();
        f.debug_struct("Fonts").field("bytes", &sizes).finish()
    }
}

impl Fonts {
    /// Takes the four TrueType files as bytes and checks that each parses.
    pub fn from_bytes(
        regular: Vec<u8>,
        bold: Vec<u8>,
        arabic_regular: Vec<u8>,
        arabic_bold: Vec<u8>,
    ) -> Result<Self, TicketError> {
        let fonts = Fonts {
            data: [regular, bold, arabic_regular, arabic_bold],
        };
        for id in FaceId::ALL {
            rustybuzz::ttf_parser::Face::parse(fonts.bytes(id), 0).map_err(|e| {
                TicketError::Font {
                    name: id.file_name().to_string(),
                    reason: e.to_string(),
                }
            })?;
        }
        Ok(fonts)
    }

    /// Reads the four files named by [`FaceId::file_name`] from `dir`.
    pub fn load(dir: &Path) -> Result<Self, TicketError> {
        let read = |id: FaceId| {
            let path = dir.join(id.file_name());
            std::fs::read(&path).map_err(|source| TicketError::Io { path, source })
        };
        Self::from_bytes(
            read(FaceId::Regular)?,
            read(FaceId::Bold)?,
            read(FaceId::ArabicRegular)?,
            read(FaceId::ArabicBold)?,
        )
    }

    /// Raw font file bytes of one face.
    pub fn bytes(&self, id: FaceId) -> &[u8] {
        let i = match id {
            FaceId::Regular => 0,
            FaceId::Bold => 1,
            FaceId::ArabicRegular => 2,
            FaceId::ArabicBold => 3,
        };
        &self.data[i]
    }
}

/// German fallbacks, so a ticket still prints when a catalog lacks a key.
const DEFAULT_TEXTS: [(&str, &str); 6] = [
    ("ticket.heading", "Ihre Wartenummer"),
    ("ticket.people_ahead", "Vor Ihnen: {n}"),
    (
        "ticket.estimated_wait",
        "Geschätzte Wartezeit: {minutes} Min.",
    ),
    (
        "ticket.please_wait",
        "Bitte warten Sie, bis Ihre Nummer aufgerufen wird.",
    ),
    (
        "ticket.scan_for_status",
        "Scannen Sie den Code für den aktuellen Stand.",
    ),
    (
        "ticket.privacy_note",
        "Dieses Ticket enthält keine persönlichen Daten.",
    ),
];

/// One language's flat translation catalog (`{"key": "text"}` as in
/// `kiosk-ui/i18n/<lang>.json`), with `{name}` placeholders.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    texts: HashMap<String, String>,
}

impl Catalog {
    pub fn new(texts: HashMap<String, String>) -> Self {
        Catalog { texts }
    }

    /// Parses a flat JSON object; non-string values are rejected rather than guessed.
    pub fn from_json(json: &str) -> Result<Self, TicketError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| TicketError::Catalog(e.to_string()))?;
        let serde_json::Value::Object(map) = value else {
            return Err(TicketError::Catalog("expected a JSON object".into()));
        };
        let mut texts = HashMap::with_capacity(map.len());
        for (key, value) in map {
            match value {
                serde_json::Value::String(s) => {
                    texts.insert(key, s);
                }
                other => {
                    return Err(TicketError::Catalog(format!(
                        "value of {key:?} is not a string: {other}"
                    )));
                }
            }
        }
        Ok(Catalog { texts })
    }

    /// Reads `dir/<lang>.json`.
    pub fn load(dir: &Path, lang: &str) -> Result<Self, TicketError> {
        if lang.is_empty() || !lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(TicketError::Catalog(format!(
                "invalid language code {lang:?}"
            )));
        }
        let path = dir.join(format!("{lang}.json"));
        let json =
            std::fs::read_to_string(&path).map_err(|source| TicketError::Io { path, source })?;
        Self::from_json(&json)
    }

    /// Fills keys missing here from `fallback` (typically the German catalog).
    pub fn with_fallback(mut self, fallback: &Catalog) -> Self {
        for (k, v) in &fallback.texts {
            self.texts.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.texts.get(key).map(String::as_str)
    }

    /// The text for `key` with `{name}` placeholders replaced; falls back to the
    /// built-in German text, then to the key itself, so printing never fails on it.
    pub fn text(&self, key: &str, args: &[(&str, &str)]) -> String {
        let template = self
            .get(key)
            .or_else(|| {
                DEFAULT_TEXTS
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| *v)
            })
            .unwrap_or(key);
        let mut out = template.to_string();
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Fonts and catalogs shared by the unit tests.

    use super::*;

    /// The repository's fonts, or Debian's `fonts-noto-core` copies.
    pub fn fonts() -> Fonts {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kiosk-ui/fonts");
        let system = Path::new("/usr/share/fonts/truetype/noto");
        match Fonts::load(&repo) {
            Ok(f) => f,
            Err(repo_err) => Fonts::load(system).unwrap_or_else(|e| {
                panic!("no Noto fonts: {repo_err}; {e} (apt-get install fonts-noto-core)")
            }),
        }
    }

    /// Small fixed catalogs, so tests do not depend on the kiosk's evolving texts.
    pub fn catalog(lang: &str) -> Catalog {
        let pairs: [(&str, &str); 6] = match lang {
            "uk" => [
                ("ticket.heading", "Ваш номер черги"),
                ("ticket.people_ahead", "Перед вами: {n}"),
                (
                    "ticket.estimated_wait",
                    "Орієнтовний час очікування: {minutes} хв.",
                ),
                (
                    "ticket.please_wait",
                    "Будь ласка, зачекайте, доки викличуть ваш номер.",
                ),
                (
                    "ticket.scan_for_status",
                    "Скануйте код, щоб побачити свій статус.",
                ),
                (
                    "ticket.privacy_note",
                    "Цей талон не містить персональних даних.",
                ),
            ],
            "ar" => [
                ("ticket.heading", "رقم انتظارك"),
                ("ticket.people_ahead", "عدد الأشخاص قبلك: {n}"),
                (
                    "ticket.estimated_wait",
                    "وقت الانتظار المتوقع: {minutes} دقيقة",
                ),
                (
                    "ticket.please_wait",
                    "يرجى الانتظار حتى يتم النداء على رقمك.",
                ),
                ("ticket.scan_for_status", "امسح الرمز لمعرفة حالتك."),
                (
                    "ticket.privacy_note",
                    "لا تحتوي هذه التذكرة على بيانات شخصية.",
                ),
            ],
            "fa" => [
                ("ticket.heading", "شماره نوبت شما"),
                ("ticket.people_ahead", "تعداد افراد جلوی شما: {n}"),
                (
                    "ticket.estimated_wait",
                    "زمان تقریبی انتظار: {minutes} دقیقه",
                ),
                (
                    "ticket.please_wait",
                    "لطفاً منتظر بمانید تا شماره شما اعلام شود.",
                ),
                (
                    "ticket.scan_for_status",
                    "برای دیدن وضعیت، کد را اسکن کنید.",
                ),
                ("ticket.privacy_note", "این برگه هیچ اطلاعات شخصی ندارد."),
            ],
            _ => DEFAULT_TEXTS,
        };
        Catalog::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The kiosk's real catalog for `lang`, over the German one, when present.
    pub fn kiosk_catalog(lang: &str) -> Option<Catalog> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kiosk-ui/i18n");
        let de = Catalog::load(&dir, "de").ok()?;
        Some(Catalog::load(&dir, lang).ok()?.with_fallback(&de))
    }

    /// The concern in the test languages.
    pub fn service_local(lang: &str) -> &'static str {
        match lang {
            "uk" => "Реєстрація місця проживання",
            "ar" => "تسجيل محل السكن",
            "fa" => "ثبت محل سکونت",
            _ => "Wohnsitzanmeldung",
        }
    }

    pub const STATUS_URL: &str = "http://lotse.local:8080/t/Zq3xR8kM2pVt7wLn";

    pub fn view(lang: &str) -> TicketView<'_> {
        use chrono::TimeZone;
        let issued_at = chrono_tz::Europe::Berlin
            .with_ymd_and_hms(2026, 3, 9, 8, 5, 0)
            .single()
            .expect("valid test date");
        TicketView {
            number: "A-007",
            service_name_local: service_local(lang),
            service_name_de: "Wohnsitzanmeldung",
            language: lang,
            issued_at,
            people_ahead: 3,
            estimated_wait_minutes: 25,
            status_url: STATUS_URL,
            site_name: "Integrationszentrum Musterstadt",
            logo: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_fills_placeholders_and_falls_back() {
        let cat = Catalog::from_json(r#"{"ticket.people_ahead":"Ahead of you: {n}"}"#)
            .expect("valid json");
        assert_eq!(
            cat.text("ticket.people_ahead", &[("n", "4")]),
            "Ahead of you: 4"
        );
        assert_eq!(
            cat.text("ticket.estimated_wait", &[("minutes", "10")]),
            "Geschätzte Wartezeit: 10 Min."
        );
        assert_eq!(cat.text("no.such.key", &[]), "no.such.key");
        assert!(Catalog::from_json(r#"{"a": 1}"#).is_err());
        assert!(Catalog::from_json("[]").is_err());
        assert!(Catalog::load(Path::new("/tmp"), "../etc/passwd").is_err());
    }

    #[test]
    fn kiosk_catalogs_have_ticket_keys_when_present() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kiosk-ui/i18n");
        let keys = DEFAULT_TEXTS.map(|(k, _)| k);
        let mut seen = 0;
        for lang in ["de", "en", "uk", "ru", "ar", "fa", "tr", "ro", "bg"] {
            let Ok(cat) = Catalog::load(&dir, lang) else {
                continue;
            };
            seen += 1;
            for key in keys {
                assert!(cat.get(key).is_some(), "{lang}.json lacks {key}");
            }
        }
        if seen == 0 {
            eprintln!("skipped: no catalogs in {}", dir.display());
        }
    }

    #[test]
    fn print_job_has_every_form() {
        let fonts = test_support::fonts();
        let view = test_support::view("uk");
        let job = print_job(
            &view,
            &test_support::catalog("uk"),
            &fonts,
            PaperWidth::Mm58,
            true,
        )
        .expect("renders");
        assert_eq!(job.name, "A-007");
        assert!(job.escpos.starts_with(&escpos::INIT));
        assert!(job.escpos.ends_with(&escpos::PARTIAL_CUT));
        assert!(job.preview_png.is_some_and(|p| p.starts_with(b"\x89PNG")));
        assert!(job.pdf.is_some_and(|p| p.starts_with(b"%PDF-")));
    }

    #[test]
    fn fonts_reject_garbage() {
        let f = test_support::fonts();
        let bad = Fonts::from_bytes(
            b"not a font".to_vec(),
            f.bytes(FaceId::Bold).to_vec(),
            f.bytes(FaceId::ArabicRegular).to_vec(),
            f.bytes(FaceId::ArabicBold).to_vec(),
        );
        assert!(matches!(bad, Err(TicketError::Font { .. })));
        assert!(matches!(
            Fonts::load(Path::new("/nonexistent")),
            Err(TicketError::Io { .. })
        ));
    }
}
