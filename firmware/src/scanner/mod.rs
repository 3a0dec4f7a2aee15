//! Scanners as sources of scans: each source runs on its own thread and sends
//! [`ScanEvent`]s into a tokio channel; the server decides what a scan means.
//!
//! - [`hid`]: USB keyboard-wedge barcode scanners and MRZ readers via Linux evdev, grabbed
//!   exclusively so a scan never types into the kiosk browser; [`keymap`] turns key codes
//!   into text (German QWERTZ and US layouts), [`framing`] decides where a scan ends;
//! - [`serial`]: readers on a tty (`/dev/ttyACM*`, `/dev/ttyUSB*`), line framed;
//! - [`camera`]: camera frames decoded on the source's own thread by a [`camera::FrameDecoder`]
//!   the server supplies (firmware knows no barcode decoder); [`v4l2`] is the V4L2 camera;
//! - [`sim`]: injected scans for tests and demo mode.
//!
//! A device may be absent: the source says so once (a log line and a
//! [`ScanEvent::Status`]), keeps trying every few seconds, and picks the device up when it is
//! plugged in. Sources never panic on input; they end when their handle is stopped or dropped
//! or when the receiver is gone.

pub mod camera;
pub mod framing;
pub mod hid;
pub mod keymap;
pub mod serial;
pub mod sim;
pub mod v4l2;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

pub use camera::{Camera, CameraSource, FrameDecoder, SimCamera};
pub use framing::{Framed, Framer, Framing};
pub use hid::{HidScanner, KeyDevice};
pub use keymap::{KeyDecoder, Layout};
pub use serial::SerialScanner;
pub use sim::{SimInjector, SimScanner};
pub use v4l2::{CameraInfo, V4l2Camera, V4l2Options};

/// Names a scanner in events and logs (`"kiosk-hid"`, `"desk-1-serial"` …).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(Arc<str>);

impl SourceId {
    /// A source id from its configured name.
    pub fn new(id: &str) -> Self {
        SourceId(Arc::from(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SourceId {
    fn from(s: &str) -> Self {
        SourceId::new(s)
    }
}

/// Whether a source's device is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceStatus {
    /// The device is open (and grabbed, for HID).
    Connected,
    /// The device is absent or failed; the source retries. The reason is for logs.
    Absent(String),
}

/// What a source reports.
///
/// `Text` may be an ID document's MRZ: it is personal data, so it is never logged here and
/// receivers must not log or store it either (PAuswG §20, AufenthG §78).
#[derive(Clone, PartialEq, Eq)]
pub enum ScanEvent {
    /// One complete scan: a code's text, or an MRZ's lines joined by `'\n'`.
    Text { source: SourceId, text: String },
    /// An image file to decode (simulated scanner, photo upload); the receiver decodes it off
    /// the async runtime.
    Image { source: SourceId, path: PathBuf },
    /// The device appeared or went away (sent on changes only).
    Status {
        source: SourceId,
        status: SourceStatus,
    },
}

impl ScanEvent {
    /// The source that reported this event.
    pub fn source(&self) -> &SourceId {
        match self {
            ScanEvent::Text { source, .. }
            | ScanEvent::Image { source, .. }
            | ScanEvent::Status { source, .. } => source,
        }
    }
}

/// Redacts scanned text: it can be an MRZ.
impl fmt::Debug for ScanEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanEvent::Text { source, text } => f
                .debug_struct("Text")
                .field("source", source)
                .field("chars", &text.chars().count())
                .finish_non_exhaustive(),
            ScanEvent::Image { source, path } => f
                .debug_struct("Image")
                .field("source", source)
                .field("path", path)
                .finish(),
            ScanEvent::Status { source, status } => f
                .debug_struct("Status")
                .field("source", source)
                .field("status", status)
                .finish(),
        }
    }
}

/// A scanner that can be started: it reads on its own thread until stopped.
pub trait ScanSource: Send + fmt::Debug {
    /// The source's id, as it appears in its events.
    fn id(&self) -> &SourceId;

    /// Starts reading; events go to `tx`. The source stops when the handle is stopped or
    /// dropped, or when `tx`'s receiver is gone.
    fn start(self: Box<Self>, tx: mpsc::Sender<ScanEvent>) -> SourceHandle;
}

/// A running source. Dropping it asks the thread to stop without waiting for it.
#[derive(Debug)]
pub struct SourceHandle {
    id: SourceId,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SourceHandle {
    /// Runs `body` on a named thread with a stop flag it must check at least every
    /// [`STOP_POLL`].
    pub fn spawn(id: SourceId, body: impl FnOnce(Stop) + Send + 'static) -> SourceHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Stop(stop.clone());
        let name = format!("scan-{}", id.as_str());
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || body(flag))
            .map_err(|e| tracing::error!(source = %id, "cannot start a scanner thread: {e}"))
            .ok();
        SourceHandle { id, stop, thread }
    }

    /// A handle for a source without a thread of its own (the simulator).
    pub fn detached(id: SourceId, stop: Arc<AtomicBool>) -> SourceHandle {
        SourceHandle {
            id,
            stop,
            thread: None,
        }
    }

    /// The source's id.
    pub fn id(&self) -> &SourceId {
        &self.id
    }

    /// Whether the source's thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops the source and waits for its thread (blocking: call from a blocking context or
    /// with `spawn_blocking`; it takes at most about [`STOP_POLL`]).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!(source = %self.id, "scanner thread panicked");
        }
    }
}

impl Drop for SourceHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// How often a source thread looks at its stop flag while waiting for input.
pub const STOP_POLL: Duration = Duration::from_millis(200);

/// How long an absent device waits before the next attempt (hot-plug).
pub const RETRY_ABSENT: Duration = Duration::from_secs(2);

/// The stop flag a source thread checks.
#[derive(Clone, Debug)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Whether the source should end.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sleeps up to `d`, waking early when stopped; returns whether to go on.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.is_set() {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
    }
}

/// Sends from a source thread; `false` when the receiver is gone (the source then ends).
fn send(tx: &mpsc::Sender<ScanEvent>, ev: ScanEvent) -> bool {
    tx.blocking_send(ev).is_ok()
}

/// Reports device presence on changes only, so an absent device is logged once.
#[derive(Debug)]
struct Presence {
    source: SourceId,
    last: Option<SourceStatus>,
}

impl Presence {
    fn new(source: SourceId) -> Self {
        Presence { source, last: None }
    }

    /// Logs and sends a change of status; `false` when the receiver is gone.
    fn set(&mut self, tx: &mpsc::Sender<ScanEvent>, status: SourceStatus) -> bool {
        let changed = match (&self.last, &status) {
            (Some(SourceStatus::Absent(_)), SourceStatus::Absent(_)) => false,
            (Some(a), b) => a != b,
            (None, _) => true,
        };
        if !changed {
            return true;
        }
        match &status {
            SourceStatus::Connected => tracing::info!(source = %self.source, "scanner connected"),
            SourceStatus::Absent(why) => {
                tracing::warn!(source = %self.source, "scanner absent, retrying: {why}")
            }
        }
        self.last = Some(status.clone());
        send(
            tx,
            ScanEvent::Status {
                source: self.source.clone(),
                status,
            },
        )
    }
}

/// Forwards a framed scan; `false` when the receiver is gone.
fn deliver(tx: &mpsc::Sender<ScanEvent>, source: &SourceId, framed: Framed) -> bool {
    match framed {
        Framed::Scan(text) => send(
            tx,
            ScanEvent::Text {
                source: source.clone(),
                text,
            },
        ),
        Framed::TooLong(n) => {
            tracing::warn!(%source, chars = n, "scan too long, dropped");
            true
        }
    }
}
