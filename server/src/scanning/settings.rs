//! `[scanning]`: which ID documents the kiosk may read (none by default), the case
//! system's keys for appointment codes, how long a scan waits for its check-in, the kiosk's
//! scanner devices (`hid`, `serial`, `camera`) and the desks' office-scanner folders (`inbox`).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::payload::TrustedKeys;

/// An ID document type a municipality can enable, read from the MRZ's document code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// ID cards (code `I…`, TD1 or TD2).
    IdCard,
    /// Residence permits and other `A…`/`C…` cards (the German eAT is `AR`).
    ResidencePermit,
    /// Passports and travel documents (code `P…`, TD3).
    Passport,
    /// Visas (code `V…`, MRV-A/B).
    Visa,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 4] = [
        DocumentKind::IdCard,
        DocumentKind::ResidencePermit,
        DocumentKind::Passport,
        DocumentKind::Visa,
    ];

    /// The name used in the config file and the kiosk's UI config.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::IdCard => "id_card",
            DocumentKind::ResidencePermit => "residence_permit",
            DocumentKind::Passport => "passport",
            DocumentKind::Visa => "visa",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Classifies an MRZ by its document code (ICAO 9303: the first letter decides).
    pub fn of_code(document_type: &str) -> Option<Self> {
        match document_type.as_bytes().first()? {
            b'I' => Some(DocumentKind::IdCard),
            b'A' | b'C' => Some(DocumentKind::ResidencePermit),
            b'P' => Some(DocumentKind::Passport),
            b'V' => Some(DocumentKind::Visa),
            _ => None,
        }
    }
}

/// The section as written in TOML.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawScanning {
    id_documents: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    keep_nationality: bool,
    hold_seconds: Option<Spanned<u64>>,
    /// Key id → Ed25519 public key (base64url); `""` for codes without `kid`.
    #[serde(default)]
    trusted_keys: BTreeMap<String, Spanned<String>>,
    /// Hand scanners and MRZ readers that type like a keyboard.
    #[serde(default)]
    hid: Vec<RawHid>,
    /// Serial (tty) scanners and MRZ readers.
    #[serde(default)]
    serial: Vec<RawSerial>,
    /// V4L2 cameras.
    #[serde(default)]
    camera: Vec<RawCamera>,
    /// Office-scanner folders, each attached to a counter.
    #[serde(default)]
    inbox: Vec<RawInbox>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCamera {
    device: Spanned<String>,
    width: Option<Spanned<u32>>,
    height: Option<Spanned<u32>>,
    frames_per_second: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInbox {
    dir: Spanned<String>,
    counter: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHid {
    device: String,
    layout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSerial {
    device: String,
    baud: Option<Spanned<u32>>,
}

/// A scanner device at the kiosk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerDevice {
    /// An evdev input device, grabbed exclusively, with the keyboard layout the scanner uses.
    Hid {
        device: PathBuf,
        layout: lotse_firmware::scanner::Layout,
    },
    /// A tty at this baud rate (8N1).
    Serial { device: PathBuf, baud: u32 },
    /// A V4L2 camera: the wanted frame size and how many frames per second are decoded.
    Camera {
        device: PathBuf,
        width: u32,
        height: u32,
        frames_per_second: u32,
    },
}

/// An office scanner's folder and the counter whose current visit its findings belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxConfig {
    pub dir: PathBuf,
    pub counter: String,
}

/// Where `[[scanning.inbox]] counter` names are checked against `[[counters]]` (config.rs).
#[derive(Debug, Clone)]
pub struct InboxCounterRef {
    pub index: usize,
    pub counter: String,
    pub span: Range<usize>,
}

/// The validated section.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// Enabled ID document types; empty means ID scanning is off.
    pub id_documents: BTreeSet<DocumentKind>,
    /// Keep and forward the nationality as well (off: only names and birth date).
    pub keep_nationality: bool,
    /// How long a scan waits in memory for the check-in that uses it.
    pub hold: Duration,
    pub trusted_keys: TrustedKeys,
    /// Scanner devices feeding the kiosk.
    pub devices: Vec<ScannerDevice>,
    /// Office-scanner folders feeding the desks.
    pub inboxes: Vec<InboxConfig>,
}

impl Default for ScanSettings {
    fn default() -> Self {
        Self {
            id_documents: BTreeSet::new(),
            keep_nationality: false,
            hold: Duration::from_secs(180),
            trusted_keys: TrustedKeys::default(),
            devices: Vec::new(),
            inboxes: Vec::new(),
        }
    }
}

type Bad<'a> = &'a mut dyn FnMut(Option<Range<usize>>, &str, String);

impl RawScanning {
    /// The counters the inboxes name, with their spans, for checking against `[[counters]]`.
    pub fn inbox_counters(&self) -> Vec<InboxCounterRef> {
        self.inbox
            .iter()
            .enumerate()
            .map(|(index, i)| InboxCounterRef {
                index,
                counter: i.counter.get_ref().clone(),
                span: i.counter.span(),
            })
            .collect()
    }
}

/// Checks the section and reports every problem through `bad` (span, key, message).
pub fn validate(raw: &RawScanning, bad: Bad<'_>) -> ScanSettings {
    let mut out = ScanSettings {
        keep_nationality: raw.keep_nationality,
        ..ScanSettings::default()
    };
    if let Some(list) = &raw.id_documents {
        for name in list.get_ref() {
            match DocumentKind::parse(name) {
                Some(k) => {
                    out.id_documents.insert(k);
                }
                None => bad(
                    Some(list.span()),
                    "scanning.id_documents",
                    format!(
                        "\"{name}\" is not a document type; use id_card, residence_permit, passport or visa"
                    ),
                ),
            }
        }
    }
    if let Some(h) = &raw.hold_seconds {
        if (10..=900).contains(h.get_ref()) {
            out.hold = Duration::from_secs(*h.get_ref());
        } else {
            bad(
                Some(h.span()),
                "scanning.hold_seconds",
                "must be between 10 and 900".into(),
            );
        }
    }
    for h in &raw.hid {
        let layout = match &h.layout {
            None => lotse_firmware::scanner::Layout::De,
            Some(l) => match lotse_firmware::scanner::Layout::parse(l.get_ref()) {
                Some(layout) => layout,
                None => {
                    bad(
                        Some(l.span()),
                        "scanning.hid.layout",
                        format!("\"{}\" is not a layout; use de (QWERTZ) or us", l.get_ref()),
                    );
                    continue;
                }
            },
        };
        out.devices.push(ScannerDevice::Hid {
            device: PathBuf::from(&h.device),
            layout,
        });
    }
    for t in &raw.serial {
        let baud = match &t.baud {
            None => 9600,
            Some(b)
                if [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200].contains(b.get_ref()) =>
            {
                *b.get_ref()
            }
            Some(b) => {
                bad(
                    Some(b.span()),
                    "scanning.serial.baud",
                    format!(
                        "{} is not a standard baud rate (1200 … 115200)",
                        b.get_ref()
                    ),
                );
                continue;
            }
        };
        out.devices.push(ScannerDevice::Serial {
            device: PathBuf::from(&t.device),
            baud,
        });
    }
    for c in &raw.camera {
        let device = c.device.get_ref();
        if !device.starts_with('/') {
            bad(
                Some(c.device.span()),
                "scanning.camera.device",
                format!("\"{device}\" is not a device path; use /dev/v4l/by-id/… or /dev/videoN"),
            );
            continue;
        }
        let mut ok = true;
        let mut within =
            |v: &Option<Spanned<u32>>, key: &str, lo: u32, hi: u32, default: u32| match v {
                None => default,
                Some(x) if (lo..=hi).contains(x.get_ref()) => *x.get_ref(),
                Some(x) => {
                    ok = false;
                    bad(
                        Some(x.span()),
                        key,
                        format!("must be between {lo} and {hi}"),
                    );
                    default
                }
            };
        let width = within(&c.width, "scanning.camera.width", 160, 3840, 1280);
        let height = within(&c.height, "scanning.camera.height", 120, 2160, 720);
        let frames_per_second = within(
            &c.frames_per_second,
            "scanning.camera.frames_per_second",
            1,
            30,
            8,
        );
        if ok {
            out.devices.push(ScannerDevice::Camera {
                device: PathBuf::from(device),
                width,
                height,
                frames_per_second,
            });
        }
    }
    for i in &raw.inbox {
        let dir = i.dir.get_ref();
        if !dir.starts_with('/') {
            bad(
                Some(i.dir.span()),
                "scanning.inbox.dir",
                format!("\"{dir}\" is not an absolute path"),
            );
            continue;
        }
        let dir = PathBuf::from(dir);
        if out.inboxes.iter().any(|x| x.dir == dir) {
            bad(
                Some(i.dir.span()),
                "scanning.inbox.dir",
                format!(
                    "\"{}\" is already the folder of another inbox; give each counter its own",
                    dir.display()
                ),
            );
            continue;
        }
        out.inboxes.push(InboxConfig {
            dir,
            counter: i.counter.get_ref().clone(),
        });
    }
    for (kid, key) in &raw.trusted_keys {
        if let Err(e) = out.trusted_keys.add_base64(kid, key.get_ref()) {
            bad(
                Some(key.span()),
                &format!("scanning.trusted_keys.{kid}"),
                e.to_string(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src: &str) -> (ScanSettings, Vec<String>) {
        let raw: RawScanning = toml::from_str(src).unwrap();
        let mut problems = Vec::new();
        let s = validate(&raw, &mut |_, k, m| problems.push(format!("{k}: {m}")));
        (s, problems)
    }

    #[test]
    fn off_by_default() {
        let (s, p) = check("");
        assert!(p.is_empty());
        assert!(s.id_documents.is_empty());
        assert!(!s.keep_nationality);
    }

    #[test]
    fn enables_listed_types_and_keys() {
        let (s, p) = check(
            "id_documents = [\"id_card\", \"passport\"]\n\
             [trusted_keys]\n\"fa-2026\" = \"ebVWLo_mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ\"\n",
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            s.id_documents.into_iter().collect::<Vec<_>>(),
            vec![DocumentKind::IdCard, DocumentKind::Passport]
        );
    }

    #[test]
    fn bad_values_are_named() {
        let (_, p) = check(
            "id_documents = [\"driving_licence\"]\nhold_seconds = 2\n\
             [trusted_keys]\nk = \"not-a-key\"\n",
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("driving_licence"));
        assert!(p[1].starts_with("scanning.hold_seconds"));
        assert!(p[2].starts_with("scanning.trusted_keys.k"));
    }

    #[test]
    fn devices_are_read_and_checked() {
        let (s, p) = check(
            "[[hid]]\ndevice = \"/dev/input/by-id/usb-scanner-event-kbd\"\nlayout = \"us\"\n\
             [[serial]]\ndevice = \"/dev/ttyACM0\"\nbaud = 115200\n",
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(s.devices.len(), 2);
        let (_, p) = check(
            "[[hid]]\ndevice = \"/dev/input/event3\"\nlayout = \"fr\"\n\
             [[serial]]\ndevice = \"/dev/ttyACM0\"\nbaud = 1234\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn cameras_and_inboxes_are_read_and_checked() {
        let (s, p) = check(
            "[[camera]]\ndevice = \"/dev/v4l/by-id/usb-cam-video-index0\"\n\
             [[camera]]\ndevice = \"/dev/video2\"\nwidth = 640\nheight = 480\nframes_per_second = 15\n\
             [[inbox]]\ndir = \"/var/lib/lotse/inbox/c1\"\ncounter = \"c1\"\n",
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            s.devices,
            [
                ScannerDevice::Camera {
                    device: "/dev/v4l/by-id/usb-cam-video-index0".into(),
                    width: 1280,
                    height: 720,
                    frames_per_second: 8
                },
                ScannerDevice::Camera {
                    device: "/dev/video2".into(),
                    width: 640,
                    height: 480,
                    frames_per_second: 15
                }
            ]
        );
        assert_eq!(
            s.inboxes,
            [InboxConfig {
                dir: "/var/lib/lotse/inbox/c1".into(),
                counter: "c1".into()
            }]
        );
        let (s, p) = check(
            "[[camera]]\ndevice = \"video0\"\n\
             [[camera]]\ndevice = \"/dev/video0\"\nwidth = 10\nframes_per_second = 0\n\
             [[inbox]]\ndir = \"inbox\"\ncounter = \"c1\"\n\
             [[inbox]]\ndir = \"/srv/scans\"\ncounter = \"c1\"\n\
             [[inbox]]\ndir = \"/srv/scans\"\ncounter = \"c2\"\n",
        );
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(p[0].starts_with("scanning.camera.device"));
        assert!(p[1].starts_with("scanning.camera.width"));
        assert!(p[2].starts_with("scanning.camera.frames_per_second"));
        assert!(p[3].starts_with("scanning.inbox.dir"));
        assert!(p[4].contains("another inbox"));
        assert!(s.devices.is_empty());
        assert_eq!(s.inboxes.len(), 1);
        // Unknown keys are errors.
        assert!(
            toml::from_str::<RawScanning>("[[camera]]\ndevice = \"/dev/video0\"\nfps = 3\n")
                .is_err()
        );
    }

    #[test]
    fn document_codes() {
        assert_eq!(DocumentKind::of_code("ID"), Some(DocumentKind::IdCard));
        assert_eq!(
            DocumentKind::of_code("AR"),
            Some(DocumentKind::ResidencePermit)
        );
        assert_eq!(DocumentKind::of_code("P"), Some(DocumentKind::Passport));
        assert_eq!(DocumentKind::of_code("V"), Some(DocumentKind::Visa));
        assert_eq!(DocumentKind::of_code("X"), None);
    }
}
