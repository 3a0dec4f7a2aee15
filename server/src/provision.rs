//! First-boot provisioning from `lotse-provision.toml`, the one file IT staff drop onto
//! the boot (FAT) partition: which role the device has, its name, network, SSH keys,
//! admin password and, on the hub, the site configuration (services, counters, printer,
//! pin map, case system). `lotse provision FILE --root DIR` validates the whole file
//! first (every problem with its line), only then writes into the target root, and
//! afterwards removes the secrets from the boot partition. A bad file changes nothing
//! except the `needs-provisioning` marker, whose text `lotse serve` shows on screen.
//!
//! The file is the provisioning tables (`[device]`, `[network]`, `[ssh]`, `[admin]`)
//! plus, on the hub, the normal configuration sections; those are validated by
//! [`crate::config`] on the same text with the provisioning tables blanked out, so its
//! messages point at the lines of this file.

use std::fs;
use std::io::Write;
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::config::{ConfigError, Problem, SecretText, Settings, line_of};

/// Marker left in the target root while the device has no valid provisioning; holds
/// the problems, one per line.
pub const MARKER: &str = "var/lib/lotse/needs-provisioning";
/// Where the appliance configuration is written (relative to the root).
pub const CONFIG: &str = "etc/lotse/lotse.toml";
/// The admin's Argon2id PHC string (0600).
pub const ADMIN_HASH: &str = "etc/lotse/admin.hash";
/// `LOTSE_KIOSK_URL=…` for the kiosk session unit.
pub const KIOSK_ENV: &str = "etc/lotse/kiosk.env";
/// The hub's HTTPS certificate and key (`[tls]`), relative to the root.
pub const TLS_CERT: &str = "etc/lotse/tls/cert.pem";
pub const TLS_KEY: &str = "etc/lotse/tls/key.pem";

/// Tables that belong to provisioning; everything else is the appliance configuration.
const PROVISION_TABLES: &[&str] = &["device", "network", "ssh", "admin", "tls"];
/// What the redacted copy says instead of a secret.
const REMOVED: &str = "\"(removed after provisioning)\"";

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has {} problem(s):\n{}", .file.display(), .problems.len(), format_problems(.problems))]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot hash the admin password: {0}")]
    Hash(String),
    #[error("HTTPS certificate: {0}")]
    Tls(String),
}

fn format_problems(p: &[Problem]) -> String {
    p.iter()
        .map(|x| format!("  {x}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the device is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Kiosk,
    Display,
    Desk,
    /// Hub with the kiosk screen attached.
    AllInOne,
}

impl Role {
    /// The screen the kiosk session opens.
    pub fn path(self) -> &'static str {
        match self {
            Role::Kiosk | Role::AllInOne => "/kiosk",
            Role::Display => "/display",
            Role::Desk => "/desk",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wifi {
    pub ssid: String,
    pub psk: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticIp {
    pub interface: String,
    /// CIDR, e.g. `192.168.10.20/24`.
    pub address: String,
    pub gateway: Option<String>,
    pub dns: Vec<String>,
}

/// A validated provisioning file, ready to apply.
#[derive(Debug, Clone)]
pub struct Provision {
    pub role: Role,
    pub hostname: String,
    pub site_id: String,
    /// Base URL of the hub; `None` on the hub itself.
    pub hub: Option<String>,
    pub wifi: Option<Wifi>,
    pub static_ip: Option<StaticIp>,
    pub ssh_keys: Vec<String>,
    pub admin: Option<Admin>,
    /// The appliance configuration to write (hub only), secrets included.
    pub config: Option<String>,
    /// The port the hub's server listens on (for the local kiosk URL).
    pub port: u16,
    /// Client certificate files copied from the boot partition to `/etc/lotse/`.
    pub files: Vec<CopiedFile>,
    /// HTTPS on the hub (`[tls]`).
    pub tls: Option<ProvisionTls>,
    /// On a device with an HTTPS hub: the base64 SHA-256 of the hub certificate's
    /// public key, which its browser then accepts although no CA signed it.
    pub hub_spki: Option<String>,
    /// Spans of secret values in the source, replaced in the redacted copy.
    secret_spans: Vec<Range<usize>>,
}

/// Where the hub's HTTPS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionTls {
    /// Generated on the device (kept when one is there already) for the host name,
    /// `<host name>.local`, the static address and these further names.
    SelfSigned { names: Vec<String> },
    /// Copied from the boot partition (in `files`).
    Files,
}

#[derive(Debug, Clone)]
pub enum Admin {
    Password(String),
    /// An Argon2 PHC string (`$argon2id$v=19$…`).
    Hash(String),
}

#[derive(Debug, Clone)]
pub struct CopiedFile {
    pub from: PathBuf,
    /// File name under `/etc/lotse/`.
    pub name: String,
    /// Private keys are wiped from the boot partition after copying.
    pub secret: bool,
}

// ---------- raw shape ----------

#[derive(Debug, Deserialize, Default)]
struct RawFile {
    device: Option<Spanned<RawDevice>>,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    ssh: RawSsh,
    admin: Option<Spanned<RawAdmin>>,
    site: Option<RawSiteId>,
    case_system: Option<RawCaseFiles>,
    tls: Option<Spanned<RawTls>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    self_signed: Option<Spanned<bool>>,
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    #[serde(default)]
    names: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    role: Option<Spanned<String>>,
    hostname: Option<Spanned<String>>,
    hub: Option<Spanned<String>>,
    hub_spki: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    wifi: Option<Spanned<RawWifi>>,
    #[serde(rename = "static")]
    static_ip: Option<Spanned<RawStatic>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWifi {
    ssid: Option<Spanned<String>>,
    psk: Option<Spanned<SecretText>>,
    country: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatic {
    interface: Option<Spanned<String>>,
    address: Option<Spanned<String>>,
    gateway: Option<Spanned<String>>,
    #[serde(default)]
    dns: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSsh {
    #[serde(default)]
    authorized_keys: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    password: Option<Spanned<SecretText>>,
    password_hash: Option<Spanned<SecretText>>,
}

/// Only the site id; the rest of `[site]` is the configuration's business.
#[derive(Debug, Deserialize)]
struct RawSiteId {
    id: Option<Spanned<String>>,
}

/// The secret and file-valued keys of `[case_system]`, by span.
#[derive(Debug, Deserialize)]
struct RawCaseFiles {
    secret: Option<Spanned<toml::Value>>,
    signing_key: Option<Spanned<toml::Value>>,
    feed_token: Option<Spanned<toml::Value>>,
    client_cert: Option<Spanned<String>>,
    client_key: Option<Spanned<String>>,
    ca: Option<Spanned<String>>,
}

struct Problems<'a> {
    src: &'a str,
    list: Vec<Problem>,
}

impl Problems<'_> {
    fn at(&mut self, span: Option<Range<usize>>, key: &str, message: impl Into<String>) {
        self.list.push(Problem {
            line: span.map(|s| line_of(self.src, s.start)),
            key: key.to_string(),
            message: message.into(),
        });
    }
}

/// Reads and validates a provisioning file; relative certificate paths are taken
/// relative to the file's folder (the boot partition).
pub fn load(file: &Path) -> Result<Provision, ProvisionError> {
    let src = fs::read_to_string(file).map_err(|source| ProvisionError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let dir = file.parent().unwrap_or(Path::new("."));
    parse(&src, dir).map_err(|problems| ProvisionError::Invalid {
        file: file.to_path_buf(),
        problems,
    })
}

/// Validates the text of a provisioning file; every problem carries its line.
pub fn parse(src: &str, dir: &Path) -> Result<Provision, Vec<Problem>> {
    let mut p = Problems {
        src,
        list: Vec::new(),
    };
    let raw: RawFile = match toml::from_str(src) {
        Ok(r) => r,
        Err(e) => {
            p.at(e.span(), "toml", e.message().trim());
            return Err(p.list);
        }
    };

    // [device]
    let (role, hostname, hub, hub_spki) = match &raw.device {
        None => {
            p.at(
                None,
                "device",
                "the [device] table is required (role, hostname)",
            );
            (Role::Kiosk, String::new(), None, None)
        }
        Some(d) => {
            let span = d.span();
            let d = d.get_ref();
            let role = match d.role.as_ref().map(|r| (r.get_ref().as_str(), r.span())) {
                Some(("kiosk", _)) => Role::Kiosk,
                Some(("display", _)) => Role::Display,
                Some(("desk", _)) => Role::Desk,
                Some(("all-in-one", _)) => Role::AllInOne,
                Some((other, s)) => {
                    p.at(
                        Some(s),
                        "device.role",
                        format!("unknown role \"{other}\"; use kiosk, display, desk or all-in-one"),
                    );
                    Role::Kiosk
                }
                None => {
                    p.at(
                        Some(span.clone()),
                        "device.role",
                        "is required: kiosk, display, desk or all-in-one",
                    );
                    Role::Kiosk
                }
            };
            let hostname = match &d.hostname {
                Some(h) if is_hostname(h.get_ref()) => h.get_ref().clone(),
                Some(h) => {
                    p.at(
                        Some(h.span()),
                        "device.hostname",
                        format!(
                            "\"{}\" is not a host name: 1 to 63 letters, digits or '-', not starting or ending with '-'",
                            h.get_ref()
                        ),
                    );
                    String::new()
                }
                None => {
                    p.at(Some(span.clone()), "device.hostname", "is required");
                    String::new()
                }
            };
            let hub = match &d.hub {
                None => None,
                Some(h) => {
                    let v = h.get_ref().trim_end_matches('/');
                    if !(v.starts_with("http://") || v.starts_with("https://")) || v.len() < 10 {
                        p.at(
                            Some(h.span()),
                            "device.hub",
                            format!(
                                "\"{}\" must be the hub's URL, e.g. \"http://kim-hub.local:8080\"",
                                h.get_ref()
                            ),
                        );
                    } else if role == Role::AllInOne {
                        p.at(
                            Some(h.span()),
                            "device.hub",
                            "an all-in-one device is the hub itself; remove hub",
                        );
                    }
                    Some(v.to_string())
                }
            };
            let spki = d.hub_spki.as_ref().and_then(|k| {
                use base64::Engine;
                let v = k.get_ref().trim();
                let decoded = base64::engine::general_purpose::STANDARD.decode(v);
                if !matches!(&decoded, Ok(b) if b.len() == 32) {
                    p.at(
                        Some(k.span()),
                        "device.hub_spki",
                        "is not a base64 SHA-256 (44 characters, as `lotse tls self-signed` prints it)",
                    );
                    None
                } else if !hub.as_deref().is_some_and(|h| h.starts_with("https://")) {
                    p.at(
                        Some(k.span()),
                        "device.hub_spki",
                        "only for a hub reached over HTTPS: hub = \"https://…\"",
                    );
                    None
                } else {
                    Some(v.to_string())
                }
            });
            (role, hostname, hub, spki)
        }
    };

    // [site] id, required everywhere so every device knows its site.
    let site_id = match raw.site.as_ref().and_then(|s| s.id.as_ref()) {
        Some(id) if crate::config::is_slug(id.get_ref()) => id.get_ref().clone(),
        Some(id) => {
            p.at(
                Some(id.span()),
                "site.id",
                format!(
                    "\"{}\" is not a valid id: use lower-case letters, digits, '-' or '_'",
                    id.get_ref()
                ),
            );
            String::new()
        }
        None => {
            p.at(None, "site.id", "is required (e.g. \"kim-musterstadt\")");
            String::new()
        }
    };

    // [network]
    let wifi = raw.network.wifi.as_ref().map(|w| {
        let span = w.span();
        let w = w.get_ref();
        let ssid = match &w.ssid {
            Some(s) if !s.get_ref().is_empty() && s.get_ref().len() <= 32 => s.get_ref().clone(),
            Some(s) => {
                p.at(Some(s.span()), "network.wifi.ssid", "must be 1 to 32 bytes");
                String::new()
            }
            None => {
                p.at(Some(span.clone()), "network.wifi.ssid", "is required");
                String::new()
            }
        };
        let psk = match &w.psk {
            Some(s) if (8..=63).contains(&s.get_ref().0.len()) && s.get_ref().0.is_ascii() => {
                s.get_ref().0.clone()
            }
            Some(s) => {
                p.at(
                    Some(s.span()),
                    "network.wifi.psk",
                    "a WPA2 passphrase has 8 to 63 ASCII characters",
                );
                String::new()
            }
            None => {
                p.at(Some(span.clone()), "network.wifi.psk", "is required");
                String::new()
            }
        };
        let country = match &w.country {
            None => "DE".to_string(),
            Some(c)
                if c.get_ref().len() == 2
                    && c.get_ref().bytes().all(|b| b.is_ascii_uppercase()) =>
            {
                c.get_ref().clone()
            }
            Some(c) => {
                p.at(
                    Some(c.span()),
                    "network.wifi.country",
                    "a two-letter country code such as \"DE\"",
                );
                "DE".to_string()
            }
        };
        Wifi { ssid, psk, country }
    });
    let static_ip = raw.network.static_ip.as_ref().map(|s| {
        let span = s.span();
        let s = s.get_ref();
        let interface = match &s.interface {
            None => {
                if wifi.is_some() {
                    "wlan0".into()
                } else {
                    "eth0".into()
                }
            }
            Some(i) if is_ifname(i.get_ref()) => i.get_ref().clone(),
            Some(i) => {
                p.at(
                    Some(i.span()),
                    "network.static.interface",
                    format!("\"{}\" is not an interface name", i.get_ref()),
                );
                String::new()
            }
        };
        let address = match &s.address {
            Some(a) if is_cidr(a.get_ref()) => a.get_ref().clone(),
            Some(a) => {
                p.at(
                    Some(a.span()),
                    "network.static.address",
                    format!(
                        "\"{}\" is not an address with prefix length, e.g. \"192.168.10.20/24\"",
                        a.get_ref()
                    ),
                );
                String::new()
            }
            None => {
                p.at(Some(span.clone()), "network.static.address", "is required");
                String::new()
            }
        };
        let gateway = s.gateway.as_ref().and_then(|g| {
            if g.get_ref().parse::<std::net::IpAddr>().is_ok() {
                Some(g.get_ref().clone())
            } else {
                p.at(
                    Some(g.span()),
                    "network.static.gateway",
                    format!("\"{}\" is not an IP address", g.get_ref()),
                );
                None
            }
        });
        let mut dns = Vec::new();
        for d in &s.dns {
            if d.get_ref().parse::<std::net::IpAddr>().is_ok() {
                dns.push(d.get_ref().clone());
            } else {
                p.at(
                    Some(d.span()),
                    "network.static.dns",
                    format!("\"{}\" is not an IP address", d.get_ref()),
                );
            }
        }
        StaticIp {
            interface,
            address,
            gateway,
            dns,
        }
    });

    // [ssh]
    let mut ssh_keys = Vec::new();
    for k in &raw.ssh.authorized_keys {
        match check_ssh_key(k.get_ref()) {
            Ok(()) => ssh_keys.push(k.get_ref().trim().to_string()),
            Err(m) => p.at(Some(k.span()), "ssh.authorized_keys", m),
        }
    }

    // [admin]
    let mut secret_spans = Vec::new();
    let admin = raw.admin.as_ref().and_then(|a| {
        let span = a.span();
        let a = a.get_ref();
        match (&a.password, &a.password_hash) {
            (Some(pw), None) => {
                secret_spans.push(pw.span());
                if pw.get_ref().0.chars().count() < 12 {
                    p.at(
                        Some(pw.span()),
                        "admin.password",
                        "must have at least 12 characters",
                    );
                    None
                } else {
                    Some(Admin::Password(pw.get_ref().0.clone()))
                }
            }
            (None, Some(h)) => {
                secret_spans.push(h.span());
                match argon2::password_hash::PasswordHash::new(&h.get_ref().0) {
                    Ok(ph) if ph.algorithm.as_str().starts_with("argon2") => {
                        Some(Admin::Hash(h.get_ref().0.clone()))
                    }
                    _ => {
                        p.at(
                            Some(h.span()),
                            "admin.password_hash",
                            "is not an Argon2 PHC string such as \"$argon2id$v=19$m=19456,t=2,p=1$…\"",
                        );
                        None
                    }
                }
            }
            (Some(pw), Some(_)) => {
                secret_spans.push(pw.span());
                p.at(
                    Some(pw.span()),
                    "admin",
                    "give either password or password_hash, not both",
                );
                None
            }
            (None, None) => {
                p.at(Some(span), "admin", "needs password or password_hash");
                None
            }
        }
    });
    if let Some(w) = raw
        .network
        .wifi
        .as_ref()
        .and_then(|w| w.get_ref().psk.as_ref())
    {
        secret_spans.push(w.span());
    }

    // Certificate files named relative to the boot partition are copied to /etc/lotse/.
    let mut files = Vec::new();
    let mut path_edits: Vec<(Range<usize>, String)> = Vec::new();
    if let Some(c) = &raw.case_system {
        for s in [&c.secret, &c.signing_key, &c.feed_token]
            .into_iter()
            .flatten()
        {
            secret_spans.push(s.span());
        }
        for (v, name, secret) in [
            (&c.client_cert, "client.pem", false),
            (&c.client_key, "client.key", true),
            (&c.ca, "case-system-ca.pem", false),
        ] {
            if let Some(v) = v {
                let path = PathBuf::from(v.get_ref());
                let from = if path.is_absolute() {
                    path
                } else {
                    dir.join(path)
                };
                path_edits.push((v.span(), toml_string(&from.to_string_lossy())));
                files.push(CopiedFile {
                    from,
                    name: name.to_string(),
                    secret,
                });
            }
        }
    }

    // [tls]: the hub's HTTPS certificate, generated or from the boot partition.
    let tls = raw.tls.as_ref().and_then(|t| {
        let span = t.span();
        let t = t.get_ref();
        if hub.is_some() {
            p.at(
                Some(span),
                "tls",
                "only the hub serves HTTPS; remove [tls] here (set hub = \"https://…\" and hub_spki instead)",
            );
            return None;
        }
        let self_signed = t.self_signed.as_ref().is_some_and(|b| *b.get_ref());
        let mut names = Vec::new();
        for n in &t.names {
            if !self_signed {
                p.at(Some(n.span()), "tls.names", "only with self_signed = true");
            } else if !crate::tls::is_host_name_or_ip(n.get_ref()) {
                p.at(
                    Some(n.span()),
                    "tls.names",
                    format!("\"{}\" is neither a host name nor an IP address", n.get_ref()),
                );
            } else {
                names.push(n.get_ref().clone());
            }
        }
        match (self_signed, &t.cert, &t.key) {
            (true, None, None) => Some(ProvisionTls::SelfSigned { names }),
            (true, Some(c), _) | (true, None, Some(c)) => {
                p.at(
                    Some(c.span()),
                    "tls",
                    "give either self_signed = true or cert and key, not both",
                );
                None
            }
            (false, Some(c), Some(k)) => {
                let at = |v: &Spanned<String>| {
                    let path = PathBuf::from(v.get_ref());
                    if path.is_absolute() { path } else { dir.join(path) }
                };
                let (cert, key) = (at(c), at(k));
                // Checked now, so a wrong pair is a problem with its line, not a hub
                // that does not start.
                if let Err(e) = crate::tls::load(&cert, &key) {
                    p.at(Some(c.span()), "tls.cert", e.to_string());
                }
                files.push(CopiedFile {
                    from: cert,
                    name: "tls/cert.pem".into(),
                    secret: false,
                });
                files.push(CopiedFile {
                    from: key,
                    name: "tls/key.pem".into(),
                    secret: true,
                });
                Some(ProvisionTls::Files)
            }
            (false, Some(c), None) => {
                p.at(Some(c.span()), "tls.key", "is required with cert (the certificate's private key)");
                None
            }
            (false, None, Some(k)) => {
                p.at(Some(k.span()), "tls.cert", "is required with key");
                None
            }
            (false, None, None) => {
                p.at(
                    Some(span),
                    "tls",
                    "set self_signed = true, or cert and key (PEM files on the boot partition)",
                );
                None
            }
        }
    });

    // The appliance configuration: hub only, validated with this file's line numbers.
    let blanked = blank_tables(src, PROVISION_TABLES);
    let has_config = config_tables(src);
    let mut config = None;
    let mut port = 8080;
    if hub.is_some() {
        for (line, name) in has_config.iter().filter(|(_, n)| n != "site") {
            p.list.push(Problem {
                line: Some(*line),
                key: name.clone(),
                message: "only the hub has a site configuration; remove this section or device.hub"
                    .into(),
            });
        }
    } else {
        let checked = replace_spans(&blanked, &path_edits);
        let (cert, key) = (Path::new("/").join(TLS_CERT), Path::new("/").join(TLS_KEY));
        let validated = match &tls {
            Some(_) => Settings::from_toml_with_tls(&checked, &cert, &key),
            None => Settings::from_toml(&checked),
        };
        match validated {
            Ok(s) => {
                port = s.listen.port();
                // What is written uses the copied certificates' final place.
                let installed: Vec<(Range<usize>, String)> = path_edits
                    .iter()
                    .zip(&files)
                    .map(|((r, _), f)| (r.clone(), toml_string(&format!("/etc/lotse/{}", f.name))))
                    .collect();
                let written = replace_spans(&blanked, &installed);
                config = Some(match &tls {
                    Some(_) => with_server_keys(
                        &written,
                        &format!(
                            "tls_cert = {}\ntls_key = {}",
                            toml_string(&cert.to_string_lossy()),
                            toml_string(&key.to_string_lossy())
                        ),
                    ),
                    None => written,
                });
            }
            Err(ConfigError::Invalid(list)) => p.list.extend(list),
            Err(e) => p.at(None, "configuration", e.to_string()),
        }
    }

    if p.list.is_empty() {
        Ok(Provision {
            role,
            hostname,
            site_id,
            hub,
            wifi,
            static_ip,
            ssh_keys,
            admin,
            config,
            port,
            files,
            tls,
            hub_spki,
            secret_spans,
        })
    } else {
        p.list.sort_by_key(|x| x.line.unwrap_or(0));
        Err(p.list)
    }
}

/// `keys` added to the `[server]` table of a configuration (a new table at the end
/// when there is none).
fn with_server_keys(cfg: &str, keys: &str) -> String {
    let mut lines: Vec<String> = cfg.lines().map(str::to_string).collect();
    let at = lines.iter().position(|l| {
        let t = l.trim_start();
        t.starts_with('[') && !t.starts_with("[[") && header(l).as_deref() == Some("server")
    });
    match at {
        Some(i) => {
            lines.insert(i + 1, keys.to_string());
            lines.join("\n") + "\n"
        }
        None => format!("{}\n\n[server]\n{keys}\n", cfg.trim_end()),
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Replaces byte ranges (which never overlap) from the back, so earlier offsets hold.
fn replace_spans(src: &str, edits: &[(Range<usize>, String)]) -> String {
    let mut sorted: Vec<&(Range<usize>, String)> = edits.iter().collect();
    sorted.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = src.to_string();
    for (r, with) in sorted {
        if r.end <= out.len() && out.is_char_boundary(r.start) && out.is_char_boundary(r.end) {
            out.replace_range(r.clone(), with);
        }
    }
    out
}

/// The table name of a header line (`[a.b]`, `[[a]]`), if the line is one.
fn header(line: &str) -> Option<String> {
    let t = line.trim();
    let t = t.split_once('#').map(|(a, _)| a.trim()).unwrap_or(t);
    let inner = t
        .strip_prefix("[[")
        .and_then(|x| x.strip_suffix("]]"))
        .or_else(|| t.strip_prefix('[').and_then(|x| x.strip_suffix(']')))?;
    let inner = inner.trim();
    let ok = !inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-. ".contains(&b));
    ok.then(|| inner.split('.').next().unwrap_or("").trim().to_string())
}

/// Blanks (keeping the line count) every table whose first key is in `tables`.
fn blank_tables(src: &str, tables: &[&str]) -> String {
    let mut inside = false;
    let mut out = String::with_capacity(src.len());
    for line in src.split_inclusive('\n') {
        if let Some(name) = header(line) {
            inside = tables.contains(&name.as_str());
        }
        if inside {
            out.push_str(if line.ends_with('\n') { "\n" } else { "" });
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The configuration tables in a file, with their lines.
fn config_tables(src: &str) -> Vec<(usize, String)> {
    src.lines()
        .enumerate()
        .filter_map(|(i, l)| header(l).map(|n| (i + 1, n)))
        .filter(|(_, n)| !PROVISION_TABLES.contains(&n.as_str()))
        .collect()
}

fn is_hostname(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_ifname(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, len)) = s.split_once('/') else {
        return false;
    };
    match (ip.parse::<std::net::IpAddr>(), len.parse::<u8>()) {
        (Ok(std::net::IpAddr::V4(_)), Ok(l)) => l <= 32,
        (Ok(std::net::IpAddr::V6(_)), Ok(l)) => l <= 128,
        _ => false,
    }
}

/// An OpenSSH public key line: a known type and a base64 blob that names that type.
fn check_ssh_key(line: &str) -> Result<(), String> {
    use base64::Engine;
    const TYPES: &[&str] = &[
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];
    if line.contains('\n') {
        return Err("one key per string".into());
    }
    let mut parts = line.split_whitespace();
    let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
        return Err("is not an OpenSSH public key (\"ssh-ed25519 AAAA… comment\")".into());
    };
    if !TYPES.contains(&kind) {
        return Err(format!("unknown key type \"{kind}\"; use e.g. ssh-ed25519"));
    }
    if kind.contains("PRIVATE") || line.contains("PRIVATE KEY") {
        return Err("this is a private key; give the public key (.pub)".into());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| "the key data is not base64; was the key cut?".to_string())?;
    // The blob starts with the length-prefixed key type.
    let named = bytes
        .get(..4)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize)
        .and_then(|n| bytes.get(4..4 + n))
        .map(|t| t == kind.as_bytes())
        .unwrap_or(false);
    if !named {
        return Err(format!(
            "the key data is not a {kind} key; was the key cut?"
        ));
    }
    Ok(())
}

// ---------- applying ----------

/// What `apply` wrote, for the report.
#[derive(Debug, Default)]
pub struct Applied {
    pub written: Vec<PathBuf>,
    /// Further lines for the report (the HTTPS certificate's fingerprints).
    pub notes: Vec<String>,
}

fn write_file(
    root: &Path,
    rel: &str,
    body: &[u8],
    mode: u32,
    a: &mut Applied,
) -> Result<(), ProvisionError> {
    let path = root.join(rel);
    let err = |source| ProvisionError::Write {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    crate::atomic_file::write(&path, body, mode).map_err(err)?;
    a.written.push(path);
    Ok(())
}

/// The `lotse` user's and group's ids in the target root's passwd/group files.
fn lotse_ids(root: &Path) -> (Option<u32>, Option<u32>) {
    let id = |file: &str| {
        fs::read_to_string(root.join(file)).ok().and_then(|t| {
            t.lines().find_map(|l| {
                let mut f = l.split(':');
                (f.next() == Some("lotse"))
                    .then(|| f.nth(1).and_then(|x| x.parse().ok()))
                    .flatten()
            })
        })
    };
    (id("etc/passwd"), id("etc/group"))
}

/// Files the appliance reads run as user `lotse`: group `lotse` (and the owner too
/// for `owner`). Without that user in the root (tests) the files stay root's.
fn give_to_lotse(root: &Path, rel: &str, owner: bool) -> Result<(), ProvisionError> {
    let (uid, gid) = lotse_ids(root);
    if gid.is_none() {
        return Ok(());
    }
    let path = root.join(rel);
    std::os::unix::fs::chown(&path, if owner { uid } else { None }, gid)
        .map_err(|source| ProvisionError::Write { path, source })
}

/// `systemctl enable` as a symlink, so it also works on a root that is not running.
fn enable(
    root: &Path,
    unit: &str,
    target: &str,
    on: bool,
    a: &mut Applied,
) -> Result<(), ProvisionError> {
    let dir = root.join(format!("etc/systemd/system/{target}.wants"));
    let link = dir.join(unit);
    let err = |source| ProvisionError::Write {
        path: link.clone(),
        source,
    };
    let _ = fs::remove_file(&link);
    if on {
        fs::create_dir_all(&dir).map_err(err)?;
        let template = match unit.split_once('@') {
            Some((base, rest)) if !rest.starts_with('.') => {
                format!("{base}@.{}", rest.rsplit('.').next().unwrap_or("service"))
            }
            _ => unit.to_string(),
        };
        std::os::unix::fs::symlink(format!("/usr/lib/systemd/system/{template}"), &link)
            .map_err(err)?;
        a.written.push(link);
    }
    Ok(())
}

impl Provision {
    /// The URL the kiosk session opens.
    pub fn kiosk_url(&self) -> String {
        let base = match &self.hub {
            Some(h) => h.clone(),
            None => format!("http://127.0.0.1:{}", self.port),
        };
        format!("{base}{}", self.role.path())
    }

    /// Writes everything into `root` (`/` on the device). Validation already happened,
    /// so this only fails on I/O.
    pub fn apply(&self, root: &Path) -> Result<Applied, ProvisionError> {
        let mut a = Applied::default();
        // Read the certificates first: a missing file must fail before anything changes.
        let mut copies = Vec::new();
        for f in &self.files {
            let body = fs::read(&f.from).map_err(|source| ProvisionError::Read {
                path: f.from.clone(),
                source,
            })?;
            copies.push((f, body));
        }
        let admin_hash = match &self.admin {
            None => None,
            Some(Admin::Hash(h)) => Some(h.clone()),
            Some(Admin::Password(pw)) => Some(hash_password(pw)?),
        };

        write_file(
            root,
            "etc/hostname",
            format!("{}\n", self.hostname).as_bytes(),
            0o644,
            &mut a,
        )?;
        let hosts = format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{h}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            h = self.hostname
        );
        write_file(root, "etc/hosts", hosts.as_bytes(), 0o644, &mut a)?;
        self.write_network(root, &mut a)?;
        if !self.ssh_keys.is_empty() {
            let mut body = String::from("# written by lotse provision\n");
            for k in &self.ssh_keys {
                body.push_str(k);
                body.push('\n');
            }
            write_file(
                root,
                "root/.ssh/authorized_keys",
                body.as_bytes(),
                0o600,
                &mut a,
            )?;
            let _ = fs::set_permissions(root.join("root/.ssh"), fs::Permissions::from_mode(0o700));
        }
        if let Some(h) = admin_hash {
            write_file(root, ADMIN_HASH, format!("{h}\n").as_bytes(), 0o600, &mut a)?;
            // The appliance (user lotse) checks the admin's logins against it.
            give_to_lotse(root, ADMIN_HASH, true)?;
        }
        for (f, body) in copies {
            let mode = if f.secret { 0o640 } else { 0o644 };
            write_file(root, &format!("etc/lotse/{}", f.name), &body, mode, &mut a)?;
            give_to_lotse(root, &format!("etc/lotse/{}", f.name), false)?;
        }
        if let Some(ProvisionTls::SelfSigned { names }) = &self.tls {
            self.self_signed(root, names, &mut a)?;
        }
        if self.tls.is_some() {
            let ck = crate::tls::load(&root.join(TLS_CERT), &root.join(TLS_KEY))
                .map_err(|e| ProvisionError::Tls(e.to_string()))?;
            a.notes.push(format!(
                "HTTPS certificate SHA-256 {}; for devices that open this hub: hub_spki = \"{}\"",
                crate::tls::fingerprint(&ck),
                crate::tls::spki_sha256(&ck).unwrap_or_default()
            ));
        }
        match &self.config {
            Some(cfg) => {
                let body = format!(
                    "# Written by `lotse provision` from lotse-provision.toml (site {}).\n{}",
                    self.site_id,
                    cfg.trim_start_matches('\n')
                );
                // Holds the case-system secrets: readable by root and the lotse group.
                write_file(root, CONFIG, body.as_bytes(), 0o640, &mut a)?;
                give_to_lotse(root, CONFIG, false)?;
                enable(root, "lotse.service", "multi-user.target", true, &mut a)?;
            }
            None => enable(root, "lotse.service", "multi-user.target", false, &mut a)?,
        }
        // The kiosk session reads it (its default is the local page, which shows
        // provisioning problems while there are any). With a self-signed hub, Chromium
        // accepts exactly that key (the flag needs its own profile directory).
        let mut env = format!("LOTSE_KIOSK_URL={}\n", self.kiosk_url());
        if let Some(spki) = &self.hub_spki {
            env.push_str(&format!(
                "LOTSE_KIOSK_FLAGS=--user-data-dir=/run/lotse-kiosk/chromium --ignore-certificate-errors-spki-list={spki}\n"
            ));
        }
        write_file(root, KIOSK_ENV, env.as_bytes(), 0o644, &mut a)?;
        enable(
            root,
            "lotse-kiosk.service",
            "multi-user.target",
            true,
            &mut a,
        )?;
        let _ = fs::remove_file(root.join(MARKER));
        Ok(a)
    }

    /// A certificate for this host, unless the root has one already (a certificate
    /// that browsers were told to trust is not replaced by provisioning again).
    fn self_signed(
        &self,
        root: &Path,
        extra: &[String],
        a: &mut Applied,
    ) -> Result<(), ProvisionError> {
        if root.join(TLS_CERT).exists() && root.join(TLS_KEY).exists() {
            a.notes.push(format!(
                "kept the HTTPS certificate in {} (delete it for a new one)",
                root.join(TLS_CERT).display()
            ));
            return Ok(());
        }
        let mut names = vec![self.hostname.clone(), format!("{}.local", self.hostname)];
        if let Some(st) = &self.static_ip
            && let Some((ip, _)) = st.address.split_once('/')
        {
            names.push(ip.to_string());
        }
        names.extend(extra.iter().cloned());
        let pair =
            crate::tls::self_signed(&names, chrono::Utc::now(), crate::tls::SELF_SIGNED_DAYS)
                .map_err(|e| ProvisionError::Tls(e.to_string()))?;
        write_file(root, TLS_KEY, pair.key_pem.as_bytes(), 0o640, a)?;
        give_to_lotse(root, TLS_KEY, false)?;
        write_file(root, TLS_CERT, pair.cert_pem.as_bytes(), 0o644, a)?;
        Ok(())
    }

    fn write_network(&self, root: &Path, a: &mut Applied) -> Result<(), ProvisionError> {
        let static_for = |iface: &str| self.static_ip.as_ref().filter(|s| s.interface == iface);
        let network = |iface: &str| -> String {
            let mut s =
                format!("# written by lotse provision\n[Match]\nName={iface}\n\n[Network]\n");
            match static_for(iface) {
                Some(st) => {
                    s.push_str(&format!("Address={}\n", st.address));
                    if let Some(g) = &st.gateway {
                        s.push_str(&format!("Gateway={g}\n"));
                    }
                    for d in &st.dns {
                        s.push_str(&format!("DNS={d}\n"));
                    }
                }
                None => s.push_str("DHCP=yes\n"),
            }
            s.push_str("MulticastDNS=yes\n");
            s
        };
        write_file(
            root,
            "etc/systemd/network/10-lotse-eth0.network",
            network("eth0").as_bytes(),
            0o644,
            a,
        )?;
        if let Some(st) = &self.static_ip
            && st.interface != "eth0"
            && st.interface != "wlan0"
        {
            let name = format!("etc/systemd/network/10-lotse-{}.network", st.interface);
            write_file(root, &name, network(&st.interface).as_bytes(), 0o644, a)?;
        }
        match &self.wifi {
            Some(w) => {
                write_file(
                    root,
                    "etc/systemd/network/20-lotse-wlan0.network",
                    network("wlan0").as_bytes(),
                    0o644,
                    a,
                )?;
                let conf = format!(
                    "# written by lotse provision\nctrl_interface=DIR=/run/wpa_supplicant GROUP=netdev\nupdate_config=0\ncountry={}\n\nnetwork={{\n\tssid={}\n\tpsk={}\n\tkey_mgmt=WPA-PSK\n}}\n",
                    w.country,
                    wpa_quote(&w.ssid),
                    wpa_quote(&w.psk)
                );
                write_file(
                    root,
                    "etc/wpa_supplicant/wpa_supplicant-wlan0.conf",
                    conf.as_bytes(),
                    0o600,
                    a,
                )?;
                enable(
                    root,
                    "wpa_supplicant@wlan0.service",
                    "multi-user.target",
                    true,
                    a,
                )?;
            }
            None => {
                let _ = fs::remove_file(root.join("etc/systemd/network/20-lotse-wlan0.network"));
                enable(
                    root,
                    "wpa_supplicant@wlan0.service",
                    "multi-user.target",
                    false,
                    a,
                )?;
            }
        }
        Ok(())
    }
}

/// wpa_supplicant's quoted string; quotes and backslashes cannot be escaped there, so
/// such values are written as hex (SSID) — the passphrase check keeps them ASCII.
fn wpa_quote(s: &str) -> String {
    if s.contains('"') || s.contains('\\') {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    } else {
        format!("\"{s}\"")
    }
}

/// Argon2id with the crate's defaults (OWASP's m=19 MiB, t=2, p=1).
pub fn hash_password(pw: &str) -> Result<String, ProvisionError> {
    use argon2::PasswordHasher;
    use argon2::password_hash::SaltString;
    let mut salt = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut salt[..]);
    let salt = SaltString::encode_b64(&salt).map_err(|e| ProvisionError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ProvisionError::Hash(e.to_string()))
}

// ---------- the boot partition afterwards ----------

/// The source with every secret value replaced, kept as `FILE.applied` for reference.
pub fn redacted(src: &str, p: &Provision) -> String {
    let edits: Vec<(Range<usize>, String)> = p
        .secret_spans
        .iter()
        .map(|r| (r.clone(), REMOVED.to_string()))
        .collect();
    replace_spans(src, &edits)
}

/// Overwrites a file with zeros (FAT rewrites in place), syncs, then removes it.
fn shred(path: &Path) -> std::io::Result<()> {
    let len = fs::metadata(path)?.len();
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    let zeros = vec![0u8; 4096];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    drop(f);
    fs::remove_file(path)
}

/// What `run` did.
#[derive(Debug)]
pub enum Outcome {
    Applied {
        applied: Applied,
        kept: PathBuf,
    },
    /// The file was invalid; the marker at `marker` explains why.
    NeedsProvisioning {
        problems: Vec<Problem>,
        marker: PathBuf,
    },
}

/// `lotse provision FILE --root ROOT`: validate, apply, wipe the secrets from the boot
/// partition (the file becomes `FILE.applied` without them, private keys are removed).
/// An invalid file is left as it is (IT staff fix it) and the marker lists its problems.
pub fn run(file: &Path, root: &Path) -> Result<Outcome, ProvisionError> {
    let src = fs::read_to_string(file).map_err(|source| ProvisionError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let p = match parse(&src, dir) {
        Ok(p) => p,
        Err(problems) => {
            let marker = write_marker(root, file, &problems)?;
            return Ok(Outcome::NeedsProvisioning { problems, marker });
        }
    };
    let applied = p.apply(root)?;
    let kept = PathBuf::from(format!("{}.applied", file.display()));
    let kept_body = format!(
        "# Applied by `lotse provision`; secrets were removed from this copy.\n{}",
        redacted(&src, &p)
    );
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ProvisionError::Write { path, source }
    };
    {
        let mut f = fs::File::create(&kept).map_err(err(&kept))?;
        f.write_all(kept_body.as_bytes()).map_err(err(&kept))?;
        f.sync_all().map_err(err(&kept))?;
    }
    shred(file).map_err(err(file))?;
    for f in p.files.iter().filter(|f| f.secret) {
        shred(&f.from).map_err(err(&f.from))?;
    }
    Ok(Outcome::Applied { applied, kept })
}

/// Leaves the problems where `lotse serve` finds them.
pub fn write_marker(
    root: &Path,
    file: &Path,
    problems: &[Problem],
) -> Result<PathBuf, ProvisionError> {
    let mut body = format!("{}\n", file.display());
    for p in problems {
        body.push_str(&p.to_string());
        body.push('\n');
    }
    let mut a = Applied::default();
    write_file(root, MARKER, body.as_bytes(), 0o644, &mut a)?;
    Ok(root.join(MARKER))
}

/// The marker's content: the file it is about, then one problem per line.
pub fn read_marker(data_dir: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(data_dir.join("needs-provisioning")).ok()?;
    Some(text.lines().map(str::to_string).collect())
}

#[cfg(test)]
mod tests;
