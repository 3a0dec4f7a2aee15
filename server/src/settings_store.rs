//! Settings changed on the admin screen, kept in SQLite as validated overrides laid
//! over the TOML configuration.
//!
//! The file stays the provisioning source: a key without an override is whatever the
//! file says, and removing an override (not offered yet) would fall back to it. Every
//! change is validated with the same rules as the file, written with its audit entry
//! in one transaction, and applied where it lives:
//! - services and counters go through `queue::store::sync_site`, the start-up path,
//!   so the running queue follows at once; at start the overrides win over the file;
//! - ID scanning, privacy notices and retention are read where they are used;
//! - the case-system endpoint is laid over `[case_system]` ([`effective_case_system`])
//!   at start and at every change, which restarts the delivery worker
//!   (`outbox::Live`), so it applies at once.

use std::collections::{BTreeMap, HashSet};

use rusqlite::{OptionalExtension, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::to_ms;
use crate::config::{CaseSystemSettings, CounterDef, RetentionSettings, ServiceDef, Settings};
use crate::queue::LANGUAGES;
use crate::scanning::settings::DocumentKind;
use crate::storage::{Db, StorageError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The new value breaks a rule; each entry is `field: message`.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The value is fine but the current state forbids it (e.g. tickets still wait).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<crate::queue::QueueError> for SettingsError {
    fn from(e: crate::queue::QueueError) -> Self {
        match e {
            crate::queue::QueueError::Storage(s) => SettingsError::Storage(s),
            other => SettingsError::Conflict(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, SettingsError>;

const SERVICES: &str = "services";
const COUNTERS: &str = "counters";
const SCANNING: &str = "scanning";
const RETENTION: &str = "retention";
const PRIVACY: &str = "privacy_notices";
const CASE_SYSTEM: &str = "case_system";

/// A concern as the admin screen edits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSetting {
    pub id: String,
    /// One or two capital letters, unique.
    pub prefix: String,
    /// Pictogram in `kiosk-ui/icons/` (default: the id).
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub default_minutes: Option<u32>,
    /// Names by language code.
    #[serde(default)]
    pub name: BTreeMap<String, String>,
}

/// A counter as the admin screen edits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterSetting {
    pub id: String,
    pub name: String,
    /// What the display says (default: the name).
    #[serde(default)]
    pub room: Option<String>,
    pub services: Vec<String>,
}

/// Which ID documents the kiosk may scan; all off by default (`[scanning] id_documents`
/// of the file until the admin changes it). The names are those of
/// [`crate::scanning::settings::DocumentKind`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanningSetting {
    /// ID cards (document code `I…`, TD1 or TD2).
    #[serde(default)]
    pub id_card: bool,
    /// Residence permits (`A…`/`C…`, e.g. the German eAT).
    #[serde(default)]
    pub residence_permit: bool,
    /// Passports (TD3).
    #[serde(default)]
    pub passport: bool,
    /// Visas (MRV-A/B).
    #[serde(default)]
    pub visa: bool,
}

impl ScanningSetting {
    /// The enabled document types by name, for the kiosk.
    pub fn documents(&self) -> Vec<String> {
        self.kinds()
            .into_iter()
            .map(|k| k.as_str().to_string())
            .collect()
    }

    /// The enabled types, as the scan hub checks them.
    pub fn kinds(&self) -> std::collections::BTreeSet<DocumentKind> {
        [
            (DocumentKind::IdCard, self.id_card),
            (DocumentKind::ResidencePermit, self.residence_permit),
            (DocumentKind::Passport, self.passport),
            (DocumentKind::Visa, self.visa),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| k)
        .collect()
    }

    pub fn from_kinds(kinds: &std::collections::BTreeSet<DocumentKind>) -> Self {
        Self {
            id_card: kinds.contains(&DocumentKind::IdCard),
            residence_permit: kinds.contains(&DocumentKind::ResidencePermit),
            passport: kinds.contains(&DocumentKind::Passport),
            visa: kinds.contains(&DocumentKind::Visa),
        }
    }
}

/// The case-system endpoint as the admin screen shows it; secrets are never sent back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaseSystemView {
    pub url: Option<String>,
    /// Whether events are pushed to `url`.
    pub enabled: bool,
    /// Whether an HMAC secret is configured (its value is write-only).
    pub secret_set: bool,
    /// Whether the pull feed has a token.
    pub feed_enabled: bool,
    /// Always false: a change restarts the delivery worker at once (kept for clients
    /// of the first version of this API).
    pub applies_after_restart: bool,
}

/// A change of the case-system endpoint.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseSystemUpdate {
    pub url: Option<String>,
    pub enabled: bool,
    /// A new `whsec_…` secret; omitted keeps the current one.
    #[serde(default)]
    pub secret: Option<String>,
}

/// What is stored for the case system (the secret stays in the database).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CaseSystemOverride {
    url: Option<String>,
    enabled: bool,
    secret: Option<String>,
}

/// Longest privacy notice per language, in characters.
pub const PRIVACY_MAX_CHARS: usize = 8000;

fn get<T: DeserializeOwned>(tx: &Tx<'_>, key: &str) -> Result<Option<T>> {
    let raw: Option<String> = tx
        .conn
        .query_row(
            "SELECT value FROM settings_overrides WHERE key = ?1",
            [key],
            |r| r.get(0),
        )
        .optional()
        .map_err(StorageError::from)?;
    match raw {
        None => Ok(None),
        Some(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| StorageError::Malformed(format!("setting {key}: {e}")).into()),
    }
}

fn put<T: Serialize>(tx: &Tx<'_>, key: &str, value: &T, actor: &str, detail: &str) -> Result<()> {
    let json = serde_json::to_string(value)
        .map_err(|e| StorageError::Malformed(format!("setting {key}: {e}")))?;
    tx.conn
        .execute(
            "INSERT INTO settings_overrides (key, value, updated_at, updated_by)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(key) DO UPDATE SET value = ?2, updated_at = ?3, updated_by = ?4",
            params![key, json, to_ms(tx.now), actor],
        )
        .map_err(StorageError::from)?;
    crate::audit::record(
        tx,
        actor,
        "setting.changed",
        &format!("setting {key}"),
        detail,
    )?;
    Ok(())
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn text_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

// ---------- services and counters ----------

fn service_setting(s: &ServiceDef) -> ServiceSetting {
    ServiceSetting {
        id: s.id.clone(),
        prefix: s.prefix.clone(),
        icon: Some(s.icon.clone()),
        default_minutes: s.default_minutes,
        name: s.name.clone(),
    }
}

fn counter_setting(c: &CounterDef) -> CounterSetting {
    CounterSetting {
        id: c.id.clone(),
        name: c.name.clone(),
        room: Some(c.room.clone()),
        services: c.services.clone(),
    }
}

/// The services in effect: the admin's list, or the file's.
pub fn services(tx: &Tx<'_>, settings: &Settings) -> Result<Vec<ServiceSetting>> {
    Ok(get(tx, SERVICES)?
        .unwrap_or_else(|| settings.services.iter().map(service_setting).collect()))
}

/// The counters in effect: the admin's list, or the file's.
pub fn counters(tx: &Tx<'_>, settings: &Settings) -> Result<Vec<CounterSetting>> {
    Ok(get(tx, COUNTERS)?
        .unwrap_or_else(|| settings.counters.iter().map(counter_setting).collect()))
}

/// Checks services with the configuration file's rules; returns the typed list.
pub fn validate_services(list: &[ServiceSetting], settings: &Settings) -> Result<Vec<ServiceDef>> {
    let mut bad = Vec::new();
    if list.is_empty() {
        bad.push("services: at least one service is required".to_string());
    }
    if list.len() > 30 {
        bad.push("services: at most 30 services fit on the kiosk".to_string());
    }
    let mut ids = HashSet::new();
    let mut prefixes = HashSet::new();
    for (i, s) in list.iter().enumerate() {
        if !is_slug(&s.id) {
            bad.push(format!(
                "services[{i}].id: \"{}\" is not a valid id: use lower-case letters, digits, '-' or '_' (at most 40)",
                s.id
            ));
        } else if !ids.insert(s.id.as_str()) {
            bad.push(format!(
                "services[{i}].id: \"{}\" is used by another service",
                s.id
            ));
        }
        let p = &s.prefix;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_uppercase()) {
            bad.push(format!(
                "services[{i}].prefix: \"{p}\" must be one or two capital letters A-Z"
            ));
        } else if !prefixes.insert(p.as_str()) {
            bad.push(format!(
                "services[{i}].prefix: \"{p}\" is used by another service; ticket numbers would collide"
            ));
        }
        if let Some(icon) = &s.icon
            && !is_slug(icon)
        {
            bad.push(format!(
                "services[{i}].icon: \"{icon}\" is not an icon name (lower-case letters, digits, '-', '_')"
            ));
        }
        if let Some(m) = s.default_minutes
            && !(1..=480).contains(&m)
        {
            bad.push(format!(
                "services[{i}].default_minutes: must be between 1 and 480"
            ));
        }
        for (lang, name) in &s.name {
            if !LANGUAGES.contains(&lang.as_str()) {
                bad.push(format!(
                    "services[{i}].name: \"{lang}\" is not a kiosk language ({})",
                    LANGUAGES.join(", ")
                ));
            } else if !text_ok(name, 80) {
                bad.push(format!(
                    "services[{i}].name.{lang}: must be 1 to 80 characters without control characters"
                ));
            }
        }
    }
    if !list.is_empty() && !ids.contains(settings.kiosk.default_service.as_str()) {
        bad.push(format!(
            "services: \"{}\" is the kiosk's default service (kiosk.default_service) and cannot be removed",
            settings.kiosk.default_service
        ));
    }
    if !bad.is_empty() {
        return Err(SettingsError::Invalid(bad));
    }
    Ok(list
        .iter()
        .map(|s| ServiceDef {
            id: s.id.clone(),
            prefix: s.prefix.clone(),
            icon: s.icon.clone().unwrap_or_else(|| s.id.clone()),
            default_minutes: s.default_minutes,
            name: s.name.clone(),
        })
        .collect())
}

/// Checks counters against the services in effect; returns the typed list.
pub fn validate_counters(
    list: &[CounterSetting],
    services: &[ServiceDef],
    settings: &Settings,
) -> Result<Vec<CounterDef>> {
    let mut bad = Vec::new();
    if list.is_empty() {
        bad.push("counters: at least one counter is required".to_string());
    }
    if list.len() > 50 {
        bad.push("counters: at most 50 counters".to_string());
    }
    let known: HashSet<&str> = services.iter().map(|s| s.id.as_str()).collect();
    let mut ids = HashSet::new();
    for (i, c) in list.iter().enumerate() {
        if !is_slug(&c.id) {
            bad.push(format!(
                "counters[{i}].id: \"{}\" is not a valid id: use lower-case letters, digits, '-' or '_' (at most 40)",
                c.id
            ));
        } else if !ids.insert(c.id.as_str()) {
            bad.push(format!(
                "counters[{i}].id: \"{}\" is used by another counter",
                c.id
            ));
        }
        if !text_ok(&c.name, 60) {
            bad.push(format!(
                "counters[{i}].name: must be 1 to 60 characters without control characters"
            ));
        }
        if let Some(room) = &c.room
            && !text_ok(room, 60)
        {
            bad.push(format!(
                "counters[{i}].room: must be 1 to 60 characters without control characters"
            ));
        }
        if c.services.is_empty() {
            bad.push(format!(
                "counters[{i}].services: a counter must serve at least one service"
            ));
        }
        for s in &c.services {
            if !known.contains(s.as_str()) {
                bad.push(format!("counters[{i}].services: unknown service \"{s}\""));
            }
        }
    }
    // Desk buttons and calling lamps are wired to counters in the file.
    for pin in &settings.gpio.pins {
        if let Some(c) = &pin.counter
            && !list.is_empty()
            && !ids.contains(c.as_str())
        {
            bad.push(format!(
                "counters: \"{c}\" has a GPIO pin (BCM {}) in the configuration file and cannot be removed",
                pin.pin
            ));
        }
    }
    if !bad.is_empty() {
        return Err(SettingsError::Invalid(bad));
    }
    Ok(list
        .iter()
        .map(|c| CounterDef {
            id: c.id.clone(),
            name: c.name.clone(),
            room: c.room.clone().unwrap_or_else(|| c.name.clone()),
            services: c.services.clone(),
        })
        .collect())
}

fn typed_services(tx: &Tx<'_>, settings: &Settings) -> Result<Vec<ServiceDef>> {
    validate_services(&services(tx, settings)?, settings)
}

fn typed_counters(tx: &Tx<'_>, settings: &Settings, s: &[ServiceDef]) -> Result<Vec<CounterDef>> {
    validate_counters(&counters(tx, settings)?, s, settings)
}

/// Refuses to drop a service while tickets of it are open: they could not be called.
fn open_tickets_of_removed(tx: &Tx<'_>, keep: &[ServiceDef]) -> Result<()> {
    let mut stmt = tx
        .conn
        .prepare(
            "SELECT service_id, count(*) FROM tickets
              WHERE status IN ('waiting', 'called', 'serving') GROUP BY service_id",
        )
        .map_err(StorageError::from)?;
    let open: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(StorageError::from)?
        .collect::<rusqlite::Result<_>>()
        .map_err(StorageError::from)?;
    for (service, n) in open {
        if !keep.iter().any(|s| s.id == service) {
            return Err(SettingsError::Conflict(format!(
                "service \"{service}\" still has {n} open ticket(s); close or transfer them first"
            )));
        }
    }
    Ok(())
}

/// Replaces the services; counters that served a removed service are refused.
pub fn set_services(
    tx: &mut Tx<'_>,
    settings: &Settings,
    list: &[ServiceSetting],
    actor: &str,
) -> Result<()> {
    let services = validate_services(list, settings)?;
    let counters = typed_counters(tx, settings, &services).map_err(|e| match e {
        SettingsError::Invalid(v) => SettingsError::Invalid(
            v.into_iter()
                .map(|m| format!("{m} (change the counters first)"))
                .collect(),
        ),
        other => other,
    })?;
    open_tickets_of_removed(tx, &services)?;
    let ids: Vec<&str> = services.iter().map(|s| s.id.as_str()).collect();
    put(
        tx,
        SERVICES,
        &list,
        actor,
        &format!("services {}", ids.join(", ")),
    )?;
    crate::queue::store::sync_site(tx, &services, &counters)?;
    Ok(())
}

/// Replaces the counters.
pub fn set_counters(
    tx: &mut Tx<'_>,
    settings: &Settings,
    list: &[CounterSetting],
    actor: &str,
) -> Result<()> {
    let services = typed_services(tx, settings)?;
    let counters = validate_counters(list, &services, settings)?;
    let ids: Vec<&str> = counters.iter().map(|c| c.id.as_str()).collect();
    put(
        tx,
        COUNTERS,
        &list,
        actor,
        &format!("counters {}", ids.join(", ")),
    )?;
    crate::queue::store::sync_site(tx, &services, &counters)?;
    Ok(())
}

// ---------- the other sections ----------

/// The admin's choice, else the configuration file's `[scanning] id_documents`.
pub fn scanning(tx: &Tx<'_>, config: &Settings) -> Result<ScanningSetting> {
    Ok(get(tx, SCANNING)?
        .unwrap_or_else(|| ScanningSetting::from_kinds(&config.scanning.id_documents)))
}

pub fn set_scanning(tx: &mut Tx<'_>, value: &ScanningSetting, actor: &str) -> Result<()> {
    let on = value.documents();
    put(
        tx,
        SCANNING,
        value,
        actor,
        &if on.is_empty() {
            "all document types off".to_string()
        } else {
            format!("on: {}", on.join(", "))
        },
    )
}

/// The retention periods in effect: the admin's, or the file's `[retention]`.
pub fn retention(
    tx: &Tx<'_>,
    config: RetentionSettings,
) -> std::result::Result<RetentionSettings, StorageError> {
    match get(tx, RETENTION) {
        Ok(v) => Ok(v.unwrap_or(config)),
        Err(SettingsError::Storage(e)) => Err(e),
        Err(_) => Ok(config),
    }
}

pub fn set_retention(tx: &mut Tx<'_>, value: &RetentionSettings, actor: &str) -> Result<()> {
    let problems = value.problems();
    if !problems.is_empty() {
        return Err(SettingsError::Invalid(
            problems
                .into_iter()
                .map(|(k, m)| format!("retention.{k}: {m}"))
                .collect(),
        ));
    }
    put(
        tx,
        RETENTION,
        value,
        actor,
        &format!(
            "personal_data_days_after_delivery {}, max_days {}, technical_days {}",
            value.personal_data_days_after_delivery, value.max_days, value.technical_days
        ),
    )
}

/// Privacy notices per language, shown on the kiosk before an ID scan; a language
/// without one uses the notice of the kiosk's catalog.
pub fn privacy_notices(tx: &Tx<'_>) -> Result<BTreeMap<String, String>> {
    Ok(get(tx, PRIVACY)?.unwrap_or_default())
}

pub fn set_privacy_notices(
    tx: &mut Tx<'_>,
    value: &BTreeMap<String, String>,
    actor: &str,
) -> Result<()> {
    let mut bad = Vec::new();
    for (lang, text) in value {
        if !LANGUAGES.contains(&lang.as_str()) {
            bad.push(format!(
                "privacy_notices: \"{lang}\" is not a kiosk language ({})",
                LANGUAGES.join(", ")
            ));
        } else if text.chars().count() > PRIVACY_MAX_CHARS {
            bad.push(format!(
                "privacy_notices.{lang}: at most {PRIVACY_MAX_CHARS} characters"
            ));
        } else if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            bad.push(format!(
                "privacy_notices.{lang}: control characters other than line breaks are not allowed"
            ));
        }
    }
    if !bad.is_empty() {
        return Err(SettingsError::Invalid(bad));
    }
    let kept: BTreeMap<String, String> = value
        .iter()
        .filter(|(_, t)| !t.trim().is_empty())
        .map(|(l, t)| (l.clone(), t.clone()))
        .collect();
    let langs: Vec<&str> = kept.keys().map(String::as_str).collect();
    put(
        tx,
        PRIVACY,
        &kept,
        actor,
        &format!("languages {}", langs.join(", ")),
    )
}

pub fn case_system(tx: &Tx<'_>, settings: &Settings) -> Result<CaseSystemView> {
    let o: Option<CaseSystemOverride> = get(tx, CASE_SYSTEM)?;
    let cs = settings.case_system.as_ref();
    let (url, enabled, secret_set) = match &o {
        Some(o) => (
            o.url.clone(),
            o.enabled,
            o.secret.is_some() || cs.is_some_and(|c| !c.secrets.is_empty()),
        ),
        None => (
            cs.and_then(|c| c.url.clone()),
            cs.is_some_and(|c| c.url.is_some()),
            cs.is_some_and(|c| !c.secrets.is_empty()),
        ),
    };
    Ok(CaseSystemView {
        url,
        enabled,
        secret_set,
        feed_enabled: cs.is_some_and(|c| c.feed_token.is_some()),
        applies_after_restart: false,
    })
}

pub fn set_case_system(
    tx: &mut Tx<'_>,
    settings: &Settings,
    value: &CaseSystemUpdate,
    actor: &str,
) -> Result<CaseSystemView> {
    let mut bad = Vec::new();
    let url = value
        .url
        .as_ref()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    if let Some(u) = &url
        && (!(u.starts_with("https://") || u.starts_with("http://"))
            || u.len() > 2000
            || reqwest::Url::parse(u).is_err())
    {
        bad.push("case_system.url: must be an http:// or https:// URL".to_string());
    }
    if let Some(s) = &value.secret
        && let Err(m) = crate::outbox::sign::parse_secret(s)
    {
        bad.push(format!("case_system.secret: {m}"));
    }
    let old: Option<CaseSystemOverride> = get(tx, CASE_SYSTEM)?;
    let secret = value.secret.clone().or_else(|| old.and_then(|o| o.secret));
    let has_secret = secret.is_some()
        || settings
            .case_system
            .as_ref()
            .is_some_and(|c| !c.secrets.is_empty());
    if value.enabled && url.is_none() {
        bad.push("case_system.url: required when forwarding is enabled".to_string());
    }
    if value.enabled && !has_secret {
        bad.push("case_system.secret: required when forwarding is enabled (whsec_…)".to_string());
    }
    if !bad.is_empty() {
        return Err(SettingsError::Invalid(bad));
    }
    let detail = format!(
        "url {}, enabled {}{}",
        url.as_deref().unwrap_or("-"),
        value.enabled,
        if value.secret.is_some() {
            ", new secret"
        } else {
            ""
        }
    );
    put(
        tx,
        CASE_SYSTEM,
        &CaseSystemOverride {
            url,
            enabled: value.enabled,
            secret,
        },
        actor,
        &detail,
    )?;
    case_system(tx, settings)
}

/// Lays the stored overrides over `settings` before the appliance starts; called by
/// `appliance` so start-up, the queue and the delivery worker see the admin's values.
pub async fn apply_at_start(db: &Db, settings: &mut Settings) -> Result<()> {
    let base = settings.clone();
    let (site, case) = db
        .run(move |tx| -> Result<_> {
            // An override that no longer fits the file (e.g. the kiosk's default
            // service changed there) is reported and the file wins until fixed.
            let site = match typed_services(tx, &base)
                .and_then(|s| typed_counters(tx, &base, &s).map(|c| (s, c)))
            {
                Ok(site) => Some(site),
                Err(SettingsError::Invalid(problems)) => {
                    tracing::warn!(
                        "admin overrides of services/counters do not fit the configuration file, using the file: {}",
                        problems.join("; ")
                    );
                    None
                }
                Err(e) => return Err(e),
            };
            let case: Option<CaseSystemOverride> = get(tx, CASE_SYSTEM)?;
            Ok((site, case))
        })
        .await?;
    if let Some((services, counters)) = site {
        settings.services = services;
        settings.counters = counters;
    }
    let base = settings.clone();
    settings.scanning.id_documents = db.run(move |tx| scanning(tx, &base)).await?.kinds();
    settings.retention = db
        .run({
            let r = settings.retention;
            move |tx| retention(tx, r)
        })
        .await?;
    settings.case_system = overlay_case_system(settings.case_system.take(), case)?;
    Ok(())
}

/// The case-system settings in effect: the file's `[case_system]` (`file`) under the
/// admin's stored override; read after a change on the admin screen.
pub fn effective_case_system(
    tx: &Tx<'_>,
    file: Option<&CaseSystemSettings>,
) -> Result<Option<CaseSystemSettings>> {
    overlay_case_system(file.cloned(), get(tx, CASE_SYSTEM)?)
}

fn overlay_case_system(
    file: Option<CaseSystemSettings>,
    o: Option<CaseSystemOverride>,
) -> Result<Option<CaseSystemSettings>> {
    let Some(o) = o else {
        return Ok(file);
    };
    let mut out = file;
    match (&mut out, o.enabled, o.url) {
        (Some(cs), true, Some(url)) => {
            cs.url = Some(url);
            if let Some(s) = o.secret {
                cs.secrets = vec![crate::outbox::settings::Secret::new(
                    crate::outbox::sign::parse_secret(&s)
                        .map_err(|m| SettingsError::Invalid(vec![m]))?,
                )];
            }
        }
        (None, true, Some(url)) => {
            let secret = o.secret.unwrap_or_default();
            out = Some(
                CaseSystemSettings::for_url(&url, &secret)
                    .map_err(|m| SettingsError::Invalid(vec![m]))?,
            );
        }
        (Some(cs), _, _) => cs.url = None,
        (None, _, _) => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
