//! Configuration: a raw TOML shape (with spans, for messages that point at a line),
//! validated into typed [`Settings`]. Loading never writes files.
//!
//! Demo mode starts from [`DEMO_TOML`] and lays the operator's file over it, so a demo
//! can be pointed at a real case system or a different site without repeating the rest.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use crate::outbox::settings::CaseSystemSettings;

/// The seeded site of `lotse demo`.
pub const DEMO_TOML: &str = include_str!("demo.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", format_problems(.0))]
    Invalid(Vec<Problem>),
}

pub type Result<T> = std::result::Result<T, ConfigError>;

/// One thing wrong with a configuration, with the line it is on when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

fn format_problems(p: &[Problem]) -> String {
    let mut s = format!(
        "configuration has {} problem{}:",
        p.len(),
        if p.len() == 1 { "" } else { "s" }
    );
    for x in p {
        s.push_str("\n  - ");
        s.push_str(&x.to_string());
    }
    s
}

// ---------- raw shape ----------

/// What a problem with a secret's type says instead of serde's message, which would
/// quote the value (`invalid type: integer `12345678`, expected a string`).
pub(crate) const SECRET_NOT_TEXT: &str =
    "a secret must be a quoted string, e.g. \"…\" (its value is not repeated here)";

/// A secret as written in a file (Wi-Fi passphrase, admin password, case-system key): a
/// string. Any other type is refused with [`SECRET_NOT_TEXT`], so a passphrase of digits
/// written without quotes never ends up in a message, on screen or in a log.
pub(crate) struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(…)")
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) => Ok(SecretText(s)),
            _ => Err(serde::de::Error::custom(SECRET_NOT_TEXT)),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    site: RawSite,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    queue: RawQueue,
    #[serde(default)]
    services: Vec<RawService>,
    #[serde(default)]
    counters: Vec<RawCounter>,
    /// The municipality's case-management system (`crate::outbox`).
    case_system: Option<Spanned<crate::outbox::settings::RawCaseSystem>>,
    #[serde(default)]
    printer: RawPrinter,
    #[serde(default)]
    announcements: RawAnnouncements,
    #[serde(default)]
    gpio: RawGpio,
    #[serde(default)]
    kiosk: RawKiosk,
    #[serde(default)]
    scanning: crate::scanning::settings::RawScanning,
    #[serde(default)]
    retention: RawRetention,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    personal_data_days_after_delivery: Option<Spanned<i64>>,
    max_days: Option<Spanned<i64>>,
    technical_days: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPrinter {
    backend: Option<Spanned<String>>,
    device: Option<String>,
    address: Option<Spanned<String>>,
    queue: Option<String>,
    paper: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    paper_sensor: Option<Spanned<String>>,
}

/// `[gpio]`: the firmware's shape, with each pin's span for messages.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGpio {
    backend: Option<Spanned<String>>,
    #[serde(default)]
    reserve_i2c: bool,
    #[serde(default)]
    reserve_uart: bool,
    debounce_ms: Option<Spanned<u64>>,
    long_press_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pins: Vec<Spanned<lotse_firmware::gpio::RawPin>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawKiosk {
    default_service: Option<Spanned<String>>,
    reset_seconds: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAnnouncements {
    enabled: Option<bool>,
    espeak: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSite {
    id: Option<Spanned<String>>,
    name: Option<String>,
    device_id: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    data_dir: Option<String>,
    public_url: Option<Spanned<String>>,
    request_timeout: Option<Spanned<String>>,
    max_body_bytes: Option<usize>,
    https_listen: Option<Spanned<String>>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
    checkins_per_minute: Option<Spanned<i64>>,
    max_event_streams: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    appointment_head_start: Option<Spanned<String>>,
    default_service_minutes: Option<Spanned<u32>>,
    recent_services: Option<u32>,
    event_retention: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    id: Spanned<String>,
    prefix: Spanned<String>,
    #[serde(default)]
    name: BTreeMap<String, String>,
    icon: Option<String>,
    default_minutes: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCounter {
    id: Spanned<String>,
    name: String,
    room: Option<String>,
    services: Spanned<Vec<String>>,
}

// ---------- validated shape ----------

#[derive(Debug, Clone)]
pub struct Settings {
    pub site_id: String,
    pub site_name: String,
    pub device_id: String,
    pub listen: SocketAddr,
    pub data_dir: Option<PathBuf>,
    /// Base URL printed into ticket QR codes; derived from `listen` when unset.
    pub public_url: Option<String>,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    /// HTTPS for the LAN; `None` serves plain HTTP only.
    pub tls: Option<TlsSettings>,
    /// Check-ins one kiosk (client address) may make per minute (`429` beyond).
    pub checkins_per_minute: u32,
    /// Live event streams (SSE) served at once (`503` beyond).
    pub max_event_streams: u32,
    pub queue: QueueSettings,
    pub services: Vec<ServiceDef>,
    pub counters: Vec<CounterDef>,
    /// Forwarding of visits; `None` without a `[case_system]` section.
    pub case_system: Option<CaseSystemSettings>,
    pub printer: PrinterSettings,
    pub announcements: AnnouncementSettings,
    /// Buttons, sensors, lamps: the validated pin map (backend `none` by default).
    pub gpio: lotse_firmware::gpio::PinMap,
    pub kiosk: KioskSettings,
    /// ID documents (off by default) and appointment-code keys.
    pub scanning: crate::scanning::settings::ScanSettings,
    /// How long personal data and old tickets are kept (`crate::retention`).
    pub retention: RetentionSettings,
    /// Started by `lotse demo`: simulated hardware and its test routes.
    pub demo: bool,
}

impl Settings {
    /// Served over HTTPS: the session cookie becomes `__Host-lotse_session` + `Secure`.
    pub fn tls_enabled(&self) -> bool {
        self.tls.is_some()
    }
}

/// `[server] tls_cert`, `tls_key`, `https_listen`: HTTPS on the LAN. The files are read
/// at start (and again when they change), not when the configuration is checked, so a
/// configuration can be checked on another machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM: the server certificate first, then any intermediates.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Where HTTPS is served; the `listen` port then redirects LAN clients here.
    pub listen: SocketAddr,
}

/// Default of `checkins_per_minute`: one check-in every two seconds, sustained, is more
/// than a kiosk with a touch screen and a printer can produce.
pub const DEFAULT_CHECKINS_PER_MINUTE: u32 = 30;
/// Default of `max_event_streams`: displays, desks and the kiosk of a large centre.
pub const DEFAULT_MAX_EVENT_STREAMS: u32 = 64;
/// Default of `request_timeout`, also the header timeout while there is no valid config.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where tickets are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterBackend {
    /// No printer: the kiosk shows the number on screen.
    None,
    /// Writes every job into `DATA/printer/` (demo and tests).
    Sim,
    /// ESC/POS to a device file: `/dev/usb/lp0` or a serial tty.
    EscPosDevice(PathBuf),
    /// ESC/POS over raw TCP, usually port 9100.
    EscPosTcp(String),
    /// A CUPS queue, printed as PDF with `lp`.
    Cups(String),
}

/// What the GPIO paper sensor (function `paper_low`) means when it triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaperSensor {
    /// The roll runs low: printing goes on, the desk is told to change it.
    NearEnd,
    /// No paper: the kiosk shows numbers on screen until the roll is changed.
    Out,
}

#[derive(Debug, Clone)]
pub struct PrinterSettings {
    pub backend: PrinterBackend,
    /// Roll width in millimetres: 58 or 80.
    pub paper_mm: u32,
    /// How long one job may take before it counts as failed.
    pub timeout: Duration,
    pub paper_sensor: PaperSensor,
}

#[derive(Debug, Clone)]
pub struct KioskSettings {
    /// The concern of the accessible ticket button.
    pub default_service: String,
    /// Seconds the ticket stays on screen.
    pub reset_seconds: u32,
}

/// The upper bound of `retention.max_days`: personal data is never kept longer.
pub const RETENTION_MAX_DAYS: u32 = 90;

/// How long data is kept; see `crate::retention` for what each period means.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Personal data goes at the end of the Berlin day this many days after the visit
    /// was delivered to the case system (0: the end of the delivery day).
    pub personal_data_days_after_delivery: u32,
    /// Personal data goes after this many days whether delivered or not (1..=90).
    pub max_days: u32,
    /// Tickets (without personal data) and the audit log go after this many days.
    pub technical_days: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            personal_data_days_after_delivery: 1,
            max_days: RETENTION_MAX_DAYS,
            technical_days: 400,
        }
    }
}

impl RetentionSettings {
    /// Every rule a retention setting must follow, as `(key, message)` pairs; shared by
    /// the configuration file and the admin screen.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.max_days == 0 || self.max_days > RETENTION_MAX_DAYS {
            out.push((
                "max_days",
                format!("must be between 1 and {RETENTION_MAX_DAYS} (personal data is never kept longer)"),
            ));
        }
        if self.personal_data_days_after_delivery > self.max_days.min(RETENTION_MAX_DAYS) {
            out.push((
                "personal_data_days_after_delivery",
                "must not be longer than max_days".to_string(),
            ));
        }
        if self.technical_days < self.max_days || self.technical_days > 3650 {
            out.push((
                "technical_days",
                "must be between max_days and 3650".to_string(),
            ));
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct AnnouncementSettings {
    pub enabled: bool,
    /// The espeak-ng program that speaks the calls.
    pub espeak: String,
}

#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// How far ahead of a walk-in an appointment is placed; walk-ins that waited
    /// longer than this go first, so they are never starved.
    pub appointment_head_start: Duration,
    pub default_service_minutes: u32,
    pub recent_services: u32,
    pub event_retention: Duration,
}

#[derive(Debug, Clone)]
pub struct ServiceDef {
    pub id: String,
    pub prefix: String,
    pub name: BTreeMap<String, String>,
    pub icon: String,
    pub default_minutes: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct CounterDef {
    pub id: String,
    pub name: String,
    pub room: String,
    pub services: Vec<String>,
}

/// Parses a duration written like `"90s"`, `"15m"`, `"1h"`, `"7d"` (also `"500ms"`).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| {
        format!("\"{s}\" has no unit; write e.g. \"5s\", \"15m\", \"1h\", \"7d\"")
    })?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("\"{s}\" does not start with a number"))?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" | "min" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => {
            return Err(format!(
                "unknown unit \"{unit}\" in \"{s}\"; use ms, s, m, h or d"
            ));
        }
    };
    Ok(Duration::from_secs(secs))
}

pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src.get(..offset)
        .map(|p| p.bytes().filter(|b| *b == b'\n').count() + 1)
        .unwrap_or(1)
}

pub(crate) fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Settings {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Settings> {
        let src = read(path)?;
        Self::from_toml(&src)
    }

    /// Demo defaults, optionally overlaid with an operator file.
    pub fn demo(overlay: Option<&Path>) -> Result<Settings> {
        match overlay {
            None => Self::from_toml(DEMO_TOML).map(|s| Settings { demo: true, ..s }),
            Some(p) => {
                let src = read(p)?;
                let merged = merge_toml(DEMO_TOML, &src)?;
                Self::from_toml(&merged)
                    .map(|s| Settings { demo: true, ..s })
                    .map_err(|e| overlay_lines(e, &merged, &src))
            }
        }
    }

    pub fn from_toml(src: &str) -> Result<Settings> {
        validate(src, parse_raw(src)?)
    }

    /// Validates a configuration whose `tls_cert` and `tls_key` come from elsewhere
    /// (the `[tls]` table of a provisioning file), as if `[server]` named `cert` and
    /// `key`; setting them in the text as well is a problem at their line.
    pub fn from_toml_with_tls(src: &str, cert: &Path, key: &Path) -> Result<Settings> {
        let mut raw = parse_raw(src)?;
        let mut twice = Vec::new();
        for (v, k) in [
            (&raw.server.tls_cert, "server.tls_cert"),
            (&raw.server.tls_key, "server.tls_key"),
        ] {
            if let Some(v) = v {
                twice.push(Problem {
                    line: Some(line_of(src, v.span().start)),
                    key: k.to_string(),
                    message: "the certificate comes from the [tls] table; remove this key".into(),
                });
            }
        }
        let path = |p: &Path| Some(Spanned::new(0..0, p.to_string_lossy().to_string()));
        raw.server.tls_cert = path(cert);
        raw.server.tls_key = path(key);
        match (validate(src, raw), twice.is_empty()) {
            (Ok(s), true) => Ok(s),
            (Ok(_), false) => Err(ConfigError::Invalid(twice)),
            (Err(ConfigError::Invalid(mut p)), _) => {
                p.extend(twice);
                Err(ConfigError::Invalid(p))
            }
            (Err(e), _) => Err(e),
        }
    }
}

fn parse_raw(src: &str) -> Result<RawConfig> {
    toml::from_str(src).map_err(|e| {
        let line = e.span().map(|s| line_of(src, s.start));
        ConfigError::Invalid(vec![Problem {
            line,
            key: "toml".into(),
            message: e.message().trim().to_string(),
        }])
    })
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Lays `overlay` over `base`: tables merge key by key, everything else is replaced.
fn merge_toml(base: &str, overlay: &str) -> Result<String> {
    fn merge(a: &mut toml::Table, b: toml::Table) {
        for (k, v) in b {
            match (a.get_mut(&k), v) {
                (Some(toml::Value::Table(at)), toml::Value::Table(bt)) => merge(at, bt),
                (_, v) => {
                    a.insert(k, v);
                }
            }
        }
    }
    let mut a: toml::Table = toml::from_str(base).map_err(|e| {
        ConfigError::Invalid(vec![Problem {
            line: None,
            key: "demo defaults".into(),
            message: e.to_string(),
        }])
    })?;
    let b: toml::Table = toml::from_str(overlay).map_err(|e| {
        let line = e.span().map(|s| line_of(overlay, s.start));
        ConfigError::Invalid(vec![Problem {
            line,
            key: "toml".into(),
            message: e.message().trim().to_string(),
        }])
    })?;
    merge(&mut a, b);
    toml::to_string(&a).map_err(|e| {
        ConfigError::Invalid(vec![Problem {
            line: None,
            key: "toml".into(),
            message: e.to_string(),
        }])
    })
}

/// Dotted paths (`services[1].prefix`) of the keys and values of a TOML text, with the
/// line each starts on.
fn paths_by_line(src: &str) -> Vec<(usize, String)> {
    use toml::de::{DeTable, DeValue};
    fn table(src: &str, prefix: &str, t: &DeTable<'_>, out: &mut Vec<(usize, String)>) {
        for (k, v) in t {
            let path = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            out.push((line_of(src, k.span().start), path.clone()));
            value(src, path, v, out);
        }
    }
    fn value(src: &str, path: String, v: &Spanned<DeValue<'_>>, out: &mut Vec<(usize, String)>) {
        out.push((line_of(src, v.span().start), path.clone()));
        match v.get_ref() {
            DeValue::Table(t) => table(src, &path, t, out),
            DeValue::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    value(src, format!("{path}[{i}]"), v, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(doc) = toml::de::DeTable::parse(src) {
        table(src, "", doc.get_ref(), &mut out);
    }
    out
}

/// Problems of the demo defaults merged with an operator's file point at lines of the
/// merged text, which nobody sees: each is moved to the line of the same key in the
/// operator's file, or, when the value is one of the demo defaults, loses its line and
/// says so.
fn overlay_lines(e: ConfigError, merged: &str, overlay: &str) -> ConfigError {
    let ConfigError::Invalid(problems) = e else {
        return e;
    };
    let in_merged = paths_by_line(merged);
    let mut in_overlay = std::collections::HashMap::new();
    for (line, path) in paths_by_line(overlay) {
        in_overlay.entry(path).or_insert(line);
    }
    let moved = problems
        .into_iter()
        .map(|mut p| {
            if let Some(l) = p.line {
                let mut paths: Vec<&String> = in_merged
                    .iter()
                    .filter(|(at, _)| *at == l)
                    .map(|(_, path)| path)
                    .collect();
                // The most specific key on the line decides.
                paths.sort_by_key(|path| std::cmp::Reverse(path.len()));
                p.line = paths.iter().find_map(|path| in_overlay.get(*path).copied());
                if p.line.is_none() {
                    p.message.push_str(" (a demo default; set it in the file)");
                }
            }
            p
        })
        .collect();
    ConfigError::Invalid(moved)
}

type Bad<'a> = &'a mut dyn FnMut(Option<std::ops::Range<usize>>, &str, String);

fn pem_path(v: &Option<Spanned<String>>, key: &str, bad: Bad<'_>) -> Option<PathBuf> {
    let v = v.as_ref()?;
    let p = v.get_ref().trim();
    if p.is_empty() || !Path::new(p).is_absolute() {
        bad(
            Some(v.span()),
            key,
            format!("\"{p}\" must be an absolute path to a PEM file"),
        );
        return None;
    }
    Some(PathBuf::from(p))
}

/// `tls_cert` and `tls_key` come together; `https_listen` only with them and on
/// another port than `listen`.
fn validate_tls(raw: &RawServer, listen: SocketAddr, bad: Bad<'_>) -> Option<TlsSettings> {
    let cert = pem_path(&raw.tls_cert, "server.tls_cert", bad);
    let key = pem_path(&raw.tls_key, "server.tls_key", bad);
    let https = raw
        .https_listen
        .as_ref()
        .and_then(|h| match h.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some((a, h.span())),
            Err(_) => {
                bad(
                    Some(h.span()),
                    "server.https_listen",
                    format!(
                        "\"{}\" is not an address:port such as \"0.0.0.0:8443\"",
                        h.get_ref()
                    ),
                );
                None
            }
        });
    match (&raw.tls_cert, &raw.tls_key) {
        (Some(c), None) => {
            bad(
                Some(c.span()),
                "server.tls_key",
                "is required with tls_cert (the certificate's private key)".into(),
            );
            return None;
        }
        (None, Some(k)) => {
            bad(
                Some(k.span()),
                "server.tls_cert",
                "is required with tls_key (the certificate for that key)".into(),
            );
            return None;
        }
        (None, None) => {
            if let Some(h) = &raw.https_listen {
                bad(
                    Some(h.span()),
                    "server.https_listen",
                    "needs tls_cert and tls_key (or remove it to serve plain HTTP)".into(),
                );
            }
            return None;
        }
        (Some(_), Some(_)) => {}
    }
    let listen_https = match https {
        Some((a, span)) => {
            if a.port() != 0 && a.port() == listen.port() {
                bad(
                    Some(span),
                    "server.https_listen",
                    format!("must use another port than listen ({listen})"),
                );
            }
            a
        }
        None => SocketAddr::new(listen.ip(), DEFAULT_HTTPS_PORT),
    };
    Some(TlsSettings {
        cert: cert?,
        key: key?,
        listen: listen_https,
    })
}

/// `https_listen` when only the certificate is given: the `listen` address, this port.
pub const DEFAULT_HTTPS_PORT: u16 = 8443;

fn validate(src: &str, raw: RawConfig) -> Result<Settings> {
    let mut problems = Vec::new();
    let mut bad = |span: Option<std::ops::Range<usize>>, key: &str, message: String| {
        problems.push(Problem {
            line: span.map(|s| line_of(src, s.start)),
            key: key.to_string(),
            message,
        });
    };

    let site_id = match &raw.site.id {
        Some(id) if is_slug(id.get_ref()) => id.get_ref().clone(),
        Some(id) => {
            bad(
                Some(id.span()),
                "site.id",
                format!(
                    "\"{}\" is not a valid id: use lower-case letters, digits, '-' or '_' (at most 40)",
                    id.get_ref()
                ),
            );
            String::new()
        }
        None => {
            bad(
                None,
                "site.id",
                "is required (e.g. \"kim-musterstadt\")".into(),
            );
            String::new()
        }
    };

    let listen = match &raw.server.listen {
        None => SocketAddr::from(([0, 0, 0, 0], 8080)),
        Some(l) => match l.get_ref().parse() {
            Ok(a) => a,
            Err(_) => {
                bad(
                    Some(l.span()),
                    "server.listen",
                    format!(
                        "\"{}\" is not an address:port such as \"0.0.0.0:8080\"",
                        l.get_ref()
                    ),
                );
                SocketAddr::from(([0, 0, 0, 0], 8080))
            }
        },
    };

    let mut duration = |v: &Option<Spanned<String>>, key: &str, default: Duration| match v {
        None => default,
        Some(s) => match parse_duration(s.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                bad(Some(s.span()), key, "must be longer than zero".into());
                default
            }
            Err(m) => {
                bad(Some(s.span()), key, m);
                default
            }
        },
    };
    let request_timeout = duration(
        &raw.server.request_timeout,
        "server.request_timeout",
        DEFAULT_REQUEST_TIMEOUT,
    );
    let head_start = duration(
        &raw.queue.appointment_head_start,
        "queue.appointment_head_start",
        Duration::from_secs(15 * 60),
    );
    let event_retention = duration(
        &raw.queue.event_retention,
        "queue.event_retention",
        Duration::from_secs(2 * 86_400),
    );
    let printer_timeout = duration(
        &raw.printer.timeout,
        "printer.timeout",
        Duration::from_secs(10),
    );
    let tls = validate_tls(&raw.server, listen, &mut bad);
    let mut count = |v: &Option<Spanned<i64>>, key: &str, default: u32, max: u32| match v {
        None => default,
        Some(n) => match u32::try_from(*n.get_ref()) {
            Ok(x) if (1..=max).contains(&x) => x,
            _ => {
                bad(Some(n.span()), key, format!("must be between 1 and {max}"));
                default
            }
        },
    };
    let checkins_per_minute = count(
        &raw.server.checkins_per_minute,
        "server.checkins_per_minute",
        DEFAULT_CHECKINS_PER_MINUTE,
        1_000_000,
    );
    let max_event_streams = count(
        &raw.server.max_event_streams,
        "server.max_event_streams",
        DEFAULT_MAX_EVENT_STREAMS,
        100_000,
    );

    if let Some(u) = &raw.server.public_url {
        let v = u.get_ref();
        if !(v.starts_with("http://") || v.starts_with("https://")) {
            bad(
                Some(u.span()),
                "server.public_url",
                format!("\"{v}\" must start with http:// or https://"),
            );
        }
    }
    let default_minutes = match &raw.queue.default_service_minutes {
        Some(m) if *m.get_ref() == 0 || *m.get_ref() > 480 => {
            bad(
                Some(m.span()),
                "queue.default_service_minutes",
                "must be between 1 and 480".into(),
            );
            10
        }
        Some(m) => *m.get_ref(),
        None => 10,
    };

    if raw.services.is_empty() {
        bad(
            None,
            "services",
            "at least one [[services]] entry is required".into(),
        );
    }
    let mut ids = HashSet::new();
    let mut prefixes = HashSet::new();
    let mut services = Vec::new();
    for (i, s) in raw.services.iter().enumerate() {
        let id = s.id.get_ref();
        if !is_slug(id) {
            bad(
                Some(s.id.span()),
                &format!("services[{i}].id"),
                format!("\"{id}\" is not a valid id: use lower-case letters, digits, '-' or '_'"),
            );
        } else if !ids.insert(id.clone()) {
            bad(
                Some(s.id.span()),
                &format!("services[{i}].id"),
                format!("\"{id}\" is used by another service"),
            );
        }
        let p = s.prefix.get_ref();
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_uppercase()) {
            bad(
                Some(s.prefix.span()),
                &format!("services[{i}].prefix"),
                format!("\"{p}\" must be one or two capital letters A-Z"),
            );
        } else if !prefixes.insert(p.clone()) {
            bad(
                Some(s.prefix.span()),
                &format!("services[{i}].prefix"),
                format!("\"{p}\" is used by another service; ticket numbers would collide"),
            );
        }
        services.push(ServiceDef {
            id: id.clone(),
            prefix: p.clone(),
            name: s.name.clone(),
            icon: s.icon.clone().unwrap_or_else(|| id.clone()),
            default_minutes: s.default_minutes,
        });
    }

    if raw.counters.is_empty() {
        bad(
            None,
            "counters",
            "at least one [[counters]] entry is required".into(),
        );
    }
    let mut counter_ids = HashSet::new();
    let mut counters = Vec::new();
    for (i, c) in raw.counters.iter().enumerate() {
        let id = c.id.get_ref();
        if !is_slug(id) {
            bad(
                Some(c.id.span()),
                &format!("counters[{i}].id"),
                format!("\"{id}\" is not a valid id: use lower-case letters, digits, '-' or '_'"),
            );
        } else if !counter_ids.insert(id.clone()) {
            bad(
                Some(c.id.span()),
                &format!("counters[{i}].id"),
                format!("\"{id}\" is used by another counter"),
            );
        }
        if c.services.get_ref().is_empty() {
            bad(
                Some(c.services.span()),
                &format!("counters[{i}].services"),
                "a counter must serve at least one service".into(),
            );
        }
        for sid in c.services.get_ref() {
            if !ids.contains(sid) {
                bad(
                    Some(c.services.span()),
                    &format!("counters[{i}].services"),
                    format!("unknown service \"{sid}\""),
                );
            }
        }
        counters.push(CounterDef {
            id: id.clone(),
            name: c.name.clone(),
            room: c.room.clone().unwrap_or_else(|| c.name.clone()),
            services: c.services.get_ref().clone(),
        });
    }

    let backend = match raw
        .printer
        .backend
        .as_ref()
        .map(|b| (b.get_ref().as_str(), b.span()))
    {
        None | Some(("none", _)) => PrinterBackend::None,
        Some(("sim", _)) => PrinterBackend::Sim,
        Some(("escpos-device", span)) => match &raw.printer.device {
            Some(d) if d.starts_with('/') => PrinterBackend::EscPosDevice(PathBuf::from(d)),
            _ => {
                bad(
                    Some(span),
                    "printer.device",
                    "backend \"escpos-device\" needs device = \"/dev/usb/lp0\" (or a serial tty path)".into(),
                );
                PrinterBackend::None
            }
        },
        Some(("escpos-tcp", span)) => match &raw.printer.address {
            Some(a)
                if a.get_ref()
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) =>
            {
                PrinterBackend::EscPosTcp(a.get_ref().clone())
            }
            Some(a) => {
                bad(
                    Some(a.span()),
                    "printer.address",
                    format!(
                        "\"{}\" is not host:port such as \"192.0.2.10:9100\"",
                        a.get_ref()
                    ),
                );
                PrinterBackend::None
            }
            None => {
                bad(
                    Some(span),
                    "printer.address",
                    "backend \"escpos-tcp\" needs address = \"host:9100\"".into(),
                );
                PrinterBackend::None
            }
        },
        Some(("cups", span)) => match &raw.printer.queue {
            Some(q) if !q.trim().is_empty() => PrinterBackend::Cups(q.clone()),
            _ => {
                bad(
                    Some(span),
                    "printer.queue",
                    "backend \"cups\" needs queue = \"<CUPS queue name>\"".into(),
                );
                PrinterBackend::None
            }
        },
        Some((other, span)) => {
            bad(
                Some(span),
                "printer.backend",
                format!(
                    "unknown backend \"{other}\"; use none, sim, escpos-device, escpos-tcp or cups"
                ),
            );
            PrinterBackend::None
        }
    };
    let paper_sensor = match raw
        .printer
        .paper_sensor
        .as_ref()
        .map(|p| (p.get_ref().as_str(), p.span()))
    {
        None | Some(("near_end", _)) => PaperSensor::NearEnd,
        Some(("out", _)) => PaperSensor::Out,
        Some((other, span)) => {
            bad(
                Some(span),
                "printer.paper_sensor",
                format!("\"{other}\" is not a sensor meaning; use \"near_end\" or \"out\""),
            );
            PaperSensor::NearEnd
        }
    };
    let paper_mm = match &raw.printer.paper {
        None => 80,
        Some(p) => match p.get_ref().as_str() {
            "80mm" | "80" => 80,
            "58mm" | "58" => 58,
            other => {
                bad(
                    Some(p.span()),
                    "printer.paper",
                    format!("\"{other}\" is not a roll width; use \"58mm\" or \"80mm\""),
                );
                80
            }
        },
    };

    let case_system = raw
        .case_system
        .as_ref()
        .map(|c| crate::outbox::settings::validate(c.get_ref(), c.span(), &mut bad));
    let scanning = crate::scanning::settings::validate(&raw.scanning, &mut bad);
    for r in raw.scanning.inbox_counters() {
        if !counter_ids.contains(&r.counter) {
            bad(
                Some(r.span),
                &format!("scanning.inbox[{}].counter", r.index),
                format!("unknown counter \"{}\"", r.counter),
            );
        }
    }

    let gpio = {
        use lotse_firmware::gpio::{Backend, RawGpioConfig, validate as validate_pins};
        let backend = match raw
            .gpio
            .backend
            .as_ref()
            .map(|b| (b.get_ref().as_str(), b.span()))
        {
            None | Some(("none", _)) => Backend::None,
            Some(("sim", _)) => Backend::Sim,
            Some(("rpi", _)) => Backend::Rpi,
            Some((other, span)) => {
                bad(
                    Some(span),
                    "gpio.backend",
                    format!("unknown backend \"{other}\"; use rpi, sim or none"),
                );
                Backend::None
            }
        };
        let pins = raw
            .gpio
            .pins
            .iter()
            .map(|p| {
                let mut pin = p.get_ref().clone();
                pin.line = Some(line_of(src, p.span().start));
                pin
            })
            .collect();
        let cfg = RawGpioConfig {
            backend,
            reserve_i2c: raw.gpio.reserve_i2c,
            reserve_uart: raw.gpio.reserve_uart,
            debounce_ms: raw.gpio.debounce_ms.as_ref().map(|v| *v.get_ref()),
            long_press_ms: raw.gpio.long_press_ms.as_ref().map(|v| *v.get_ref()),
            pins,
        };
        match validate_pins(&cfg) {
            Ok(map) => {
                for p in &map.pins {
                    if let Some(c) = &p.counter
                        && !counter_ids.contains(c)
                    {
                        // Pin numbers are unique once the map is valid.
                        let at = raw
                            .gpio
                            .pins
                            .iter()
                            .position(|r| r.get_ref().pin == i64::from(p.pin));
                        problems.push(Problem {
                            line: at.map(|i| line_of(src, raw.gpio.pins[i].span().start)),
                            key: match at {
                                Some(i) => format!("gpio.pins[{i}]"),
                                None => "gpio.pins".into(),
                            },
                            message: format!("unknown counter \"{c}\" (BCM {})", p.pin),
                        });
                    }
                }
                Some(map)
            }
            Err(errors) => {
                // `[gpio]` settings name their key; the line is the key's.
                let setting_line = |e: &lotse_firmware::gpio::PinMapError| {
                    let lotse_firmware::gpio::PinMapErrorKind::Setting { key, .. } = &e.kind else {
                        return None;
                    };
                    let at = match *key {
                        "debounce_ms" => raw.gpio.debounce_ms.as_ref(),
                        _ => raw.gpio.long_press_ms.as_ref(),
                    };
                    at.or(raw.gpio.debounce_ms.as_ref())
                        .map(|v| line_of(src, v.span().start))
                };
                for e in errors {
                    problems.push(Problem {
                        line: e.line.or_else(|| setting_line(&e)),
                        key: match e.index {
                            Some(i) => format!("gpio.pins[{i}]"),
                            None => "gpio".into(),
                        },
                        message: e.kind.to_string(),
                    });
                }
                None
            }
        }
    };
    let kiosk = KioskSettings {
        default_service: match &raw.kiosk.default_service {
            Some(s) if ids.contains(s.get_ref()) => s.get_ref().clone(),
            Some(s) => {
                problems.push(Problem {
                    line: Some(line_of(src, s.span().start)),
                    key: "kiosk.default_service".into(),
                    message: format!("unknown service \"{}\"", s.get_ref()),
                });
                String::new()
            }
            None => services.last().map(|s| s.id.clone()).unwrap_or_default(),
        },
        reset_seconds: match &raw.kiosk.reset_seconds {
            Some(r) if (5..=300).contains(r.get_ref()) => *r.get_ref(),
            Some(r) => {
                problems.push(Problem {
                    line: Some(line_of(src, r.span().start)),
                    key: "kiosk.reset_seconds".into(),
                    message: "must be between 5 and 300".into(),
                });
                20
            }
            None => 20,
        },
    };

    let retention = {
        let d = RetentionSettings::default();
        let day = |v: &Option<Spanned<i64>>, default: u32| -> (u32, Option<usize>) {
            match v {
                None => (default, None),
                Some(n) => {
                    let line = Some(line_of(src, n.span().start));
                    (u32::try_from(*n.get_ref()).unwrap_or(u32::MAX), line)
                }
            }
        };
        let (after, after_line) = day(
            &raw.retention.personal_data_days_after_delivery,
            d.personal_data_days_after_delivery,
        );
        let (max, max_line) = day(&raw.retention.max_days, d.max_days);
        let (technical, technical_line) = day(&raw.retention.technical_days, d.technical_days);
        let r = RetentionSettings {
            personal_data_days_after_delivery: after,
            max_days: max,
            technical_days: technical,
        };
        for (key, message) in r.problems() {
            let line = match key {
                "max_days" => max_line,
                "technical_days" => technical_line,
                _ => after_line,
            };
            problems.push(Problem {
                line,
                key: format!("retention.{key}"),
                message,
            });
        }
        r
    };

    let Some(gpio) = gpio.filter(|_| problems.is_empty()) else {
        return Err(ConfigError::Invalid(problems));
    };
    Ok(Settings {
        printer: PrinterSettings {
            backend,
            paper_mm,
            timeout: printer_timeout,
            paper_sensor,
        },
        gpio,
        kiosk,
        scanning,
        retention,
        demo: false,
        tls,
        checkins_per_minute,
        max_event_streams,
        announcements: AnnouncementSettings {
            enabled: raw.announcements.enabled.unwrap_or(true),
            espeak: raw
                .announcements
                .espeak
                .unwrap_or_else(|| "espeak-ng".to_string()),
        },
        device_id: raw.site.device_id.unwrap_or_else(|| format!("{site_id}-1")),
        site_name: raw
            .site
            .name
            .unwrap_or_else(|| "Integrationszentrum".to_string()),
        site_id,
        listen,
        data_dir: raw.server.data_dir.map(PathBuf::from),
        public_url: raw.server.public_url.map(|u| u.into_inner()),
        request_timeout,
        max_body_bytes: raw.server.max_body_bytes.unwrap_or(16 * 1024),
        queue: QueueSettings {
            appointment_head_start: head_start,
            default_service_minutes: default_minutes,
            recent_services: raw.queue.recent_services.unwrap_or(20).max(1),
            event_retention,
        },
        services,
        counters,
        case_system,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(src: &str) -> Vec<Problem> {
        match Settings::from_toml(src) {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn demo_config_is_valid() {
        let s = Settings::demo(None).unwrap();
        assert!(s.services.len() >= 4);
        assert!(s.counters.len() >= 3);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let src = r#"
[site]
id = "Bad Id"

[[services]]
id = "a"
prefix = "A"

[[services]]
id = "a"
prefix = "a1"

[[counters]]
id = "c1"
name = "Schalter 1"
services = ["a", "nope"]
"#;
        let p = problems(src);
        let text: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 4, "{text:#?}");
        assert_eq!(p[0].line, Some(3));
        assert!(text[0].contains("site.id"));
        assert!(text[1].starts_with("line 10: services[1].id"), "{text:#?}");
        assert!(
            text[2].starts_with("line 11: services[1].prefix"),
            "{text:#?}"
        );
        assert!(text[3].contains("unknown service \"nope\""), "{text:#?}");
    }

    #[test]
    fn unknown_keys_and_syntax_errors_point_at_the_line() {
        let p = problems("[site]\nid = \"x\"\ncolour = \"red\"\n");
        assert_eq!(p[0].line, Some(3));
        assert!(p[0].message.contains("colour"), "{}", p[0].message);
        let p = problems("[site\nid = 1");
        assert_eq!(p[0].line, Some(1));
    }

    #[test]
    fn retention_is_capped_at_90_days_with_the_line() {
        let base = Settings::demo(None).unwrap();
        assert_eq!(base.retention, RetentionSettings::default());
        let site = "[site]\nid = \"x\"\n[[services]]\nid = \"a\"\nprefix = \"A\"\n[[counters]]\nid = \"c\"\nname = \"C\"\nservices = [\"a\"]\n";
        let p = problems(&format!(
            "{site}[retention]\nmax_days = 120\npersonal_data_days_after_delivery = -1\n"
        ));
        let text: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 2, "{text:#?}");
        assert!(
            text[0].starts_with("line 11: retention.max_days"),
            "{text:#?}"
        );
        assert!(
            text[1].starts_with("line 12: retention.personal_data_days_after_delivery"),
            "{text:#?}"
        );
        let ok = Settings::from_toml(&format!(
            "{site}[retention]\nmax_days = 30\npersonal_data_days_after_delivery = 0\n"
        ))
        .unwrap();
        assert_eq!(ok.retention.max_days, 30);
        assert_eq!(ok.retention.personal_data_days_after_delivery, 0);
        assert_eq!(ok.retention.technical_days, 400);
    }

    /// Found by the `config` fuzz target: a key of digits written without quotes came
    /// back in serde's message ("invalid type: integer `…`").
    #[test]
    fn a_case_system_secret_written_as_a_number_is_not_repeated() {
        for key in ["secret", "signing_key", "feed_token"] {
            let p = problems(&format!(
                "[site]\nid = \"x\"\n[case_system]\n{key} = 20250917314159\n"
            ));
            let text: Vec<String> = p.iter().map(|p| p.to_string()).collect();
            assert!(
                text.iter().all(|t| !t.contains("20250917314159")),
                "{text:#?}"
            );
            assert_eq!(p[0].line, Some(4), "{text:#?}");
        }
    }

    /// Found by the `config` fuzz target: the problems of `lotse demo --config FILE`
    /// named lines of the demo defaults merged with FILE, a text nobody sees.
    #[test]
    fn demo_overlay_problems_point_at_lines_of_the_overlay() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("o.toml");
        std::fs::write(
            &f,
            "[site]\nid = \"kreis-test\"\n\n[[services]]\nid = \"residence\"\nprefix = \"a\"\n",
        )
        .unwrap();
        let Err(ConfigError::Invalid(p)) = Settings::demo(Some(&f)) else {
            panic!("the overlay is invalid");
        };
        let text: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("line 6: services[0].prefix")),
            "{text:#?}"
        );
        // The demo's counters serve services the overlay removed: demo defaults, no line.
        let unknown = p
            .iter()
            .find(|p| p.key.starts_with("counters[0].services"))
            .unwrap();
        assert_eq!(unknown.line, None, "{text:#?}");
        assert!(unknown.message.contains("demo default"), "{text:#?}");
    }

    /// Found by the `config` fuzz target: a `[case_system]` with neither `url` nor
    /// `feed_token` was reported without a line.
    #[test]
    fn a_case_system_without_url_or_feed_token_points_at_its_table() {
        let p = problems("[site]\nid = \"x\"\n\n[case_system]\nretry_max = \"1h\"\n");
        let p: Vec<&Problem> = p.iter().filter(|p| p.key == "case_system").collect();
        assert_eq!(p.len(), 1, "{p:#?}");
        assert_eq!(p[0].line, Some(4), "{p:#?}");
    }

    /// Found with the `config` fuzz target's line check: `[gpio]` settings out of range
    /// were reported without a line.
    #[test]
    fn gpio_settings_have_their_lines() {
        let p = problems("[site]\nid = \"x\"\n[gpio]\nlong_press_ms = 20\ndebounce_ms = 0\n");
        let text: Vec<String> = p
            .iter()
            .filter(|p| p.key == "gpio")
            .map(|p| p.to_string())
            .collect();
        assert_eq!(text.len(), 2, "{text:#?}");
        assert!(
            text[0].starts_with("line 5: gpio: gpio.debounce_ms"),
            "{text:#?}"
        );
        assert!(
            text[1].starts_with("line 4: gpio: gpio.long_press_ms"),
            "{text:#?}"
        );
    }

    /// Found by the `config` fuzz target: a desk button wired to an unknown counter was
    /// the one pin problem without a line.
    #[test]
    fn a_pin_of_an_unknown_counter_has_its_line() {
        let p = problems(
            "[site]\nid = \"x\"\n[[services]]\nid = \"a\"\nprefix = \"A\"\n\
             [[counters]]\nid = \"c\"\nname = \"C\"\nservices = [\"a\"]\n\
             [gpio]\nbackend = \"sim\"\n\
             [[gpio.pins]]\npin = 5\nfunction = \"call_button\"\ncounter = \"c9\"\n",
        );
        let text: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            text,
            ["line 12: gpio.pins[0]: unknown counter \"c9\" (BCM 5)"],
            "{text:#?}"
        );
    }

    #[test]
    fn tls_keys_come_together_and_point_at_their_lines() {
        let site = "[site]\nid = \"x\"\n[[services]]\nid = \"a\"\nprefix = \"A\"\n[[counters]]\nid = \"c\"\nname = \"C\"\nservices = [\"a\"]\n";
        let plain = Settings::from_toml(site).unwrap();
        assert!(plain.tls.is_none() && !plain.tls_enabled());
        assert_eq!(plain.checkins_per_minute, DEFAULT_CHECKINS_PER_MINUTE);
        assert_eq!(plain.max_event_streams, DEFAULT_MAX_EVENT_STREAMS);
        let on = Settings::from_toml(&format!(
            "{site}[server]\nlisten = \"0.0.0.0:8080\"\ntls_cert = \"/etc/lotse/tls/cert.pem\"\ntls_key = \"/etc/lotse/tls/key.pem\"\n"
        ))
        .unwrap();
        let tls = on.tls.as_ref().unwrap();
        assert!(on.tls_enabled());
        assert_eq!(tls.listen, "0.0.0.0:8443".parse().unwrap(), "default port");
        assert_eq!(tls.key, PathBuf::from("/etc/lotse/tls/key.pem"));

        let text =
            |src: String| -> Vec<String> { problems(&src).iter().map(|p| p.to_string()).collect() };
        let t = text(format!("{site}[server]\ntls_cert = \"/etc/c.pem\"\n"));
        assert_eq!(t.len(), 1, "{t:#?}");
        assert!(
            t[0].starts_with("line 11: server.tls_key: is required"),
            "{t:#?}"
        );
        let t = text(format!(
            "{site}[server]\nlisten = \"0.0.0.0:8080\"\nhttps_listen = \"0.0.0.0:8080\"\ntls_cert = \"c.pem\"\ntls_key = \"/k.pem\"\n"
        ));
        assert_eq!(t.len(), 2, "{t:#?}");
        assert!(
            t[0].starts_with("line 13: server.tls_cert: \"c.pem\" must be an absolute"),
            "{t:#?}"
        );
        assert!(
            t[1].starts_with("line 12: server.https_listen: must use another port"),
            "{t:#?}"
        );
        let t = text(format!("{site}[server]\nhttps_listen = \"0.0.0.0:8443\"\n"));
        assert!(
            t[0].starts_with("line 11: server.https_listen: needs tls_cert"),
            "{t:#?}"
        );
        let t = text(format!(
            "{site}[server]\ncheckins_per_minute = 0\nmax_event_streams = -3\n"
        ));
        assert!(
            t[0].starts_with("line 11: server.checkins_per_minute: must be between 1"),
            "{t:#?}"
        );
        assert!(
            t[1].starts_with("line 12: server.max_event_streams: must be between 1"),
            "{t:#?}"
        );
    }

    #[test]
    fn overlay_replaces_demo_values() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("o.toml");
        std::fs::write(&f, "[site]\nname = \"Kreis Test\"\n").unwrap();
        let s = Settings::demo(Some(&f)).unwrap();
        assert_eq!(s.site_name, "Kreis Test");
        assert_eq!(s.site_id, "demo");
    }
}
