//! USB keyboard-wedge scanners and MRZ readers, read from Linux input devices.
//!
//! The device is opened through evdev and grabbed exclusively (`EVIOCGRAB`): while Lotse
//! holds it, no key of a scan reaches the console or the kiosk browser, so a scanned MRZ can
//! never land in a text field. Use a stable path such as
//! `/dev/input/by-id/usb-<vendor>_<model>-event-kbd`; it appears when the scanner is plugged
//! in, and the source picks it up then (hot-plug by retrying the open).
//!
//! Reading is behind [`KeyDevice`], so the whole source (thread, key decoding, framing,
//! channel) runs in tests on recorded event streams; only [`open_evdev`] names `evdev`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::framing::{Framer, Framing};
use super::keymap::{KeyDecoder, KeyOutput, Layout};
use super::{
    Presence, RETRY_ABSENT, STOP_POLL, ScanEvent, ScanSource, SourceHandle, SourceId, SourceStatus,
    Stop, deliver,
};

/// An opened, grabbed keyboard-like device.
pub trait KeyDevice: Send {
    /// Waits up to `timeout` for input and appends the `EV_KEY` events read as
    /// `(code, value)`; returns with nothing when the time is up. An error means the device is
    /// gone (unplugged); the source then re-opens it.
    fn read_keys(&mut self, timeout: Duration, out: &mut Vec<(u16, i32)>) -> io::Result<()>;
}

/// Opens the device; called again after it failed or went away.
pub type KeyDeviceOpener = Box<dyn FnMut() -> io::Result<Box<dyn KeyDevice>> + Send>;

/// A keyboard-wedge scanner as a [`ScanSource`].
pub struct HidScanner {
    id: SourceId,
    layout: Layout,
    framing: Framing,
    device: String,
    open: KeyDeviceOpener,
}

impl std::fmt::Debug for HidScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HidScanner")
            .field("id", &self.id)
            .field("layout", &self.layout)
            .field("framing", &self.framing)
            .field("device", &self.device)
            .finish()
    }
}

impl HidScanner {
    /// A scanner on a Linux input device (`/dev/input/by-id/...-event-kbd`), typing in `layout`.
    pub fn evdev(id: SourceId, path: PathBuf, layout: Layout, framing: Framing) -> Self {
        let device = path.display().to_string();
        HidScanner {
            id,
            layout,
            framing,
            device,
            open: Box::new(move || open_evdev(&path)),
        }
    }

    /// A scanner on any [`KeyDevice`] (tests, simulated keyboards).
    pub fn with_device(
        id: SourceId,
        layout: Layout,
        framing: Framing,
        open: impl FnMut() -> io::Result<Box<dyn KeyDevice>> + Send + 'static,
    ) -> Self {
        HidScanner {
            id,
            layout,
            framing,
            device: "custom".into(),
            open: Box::new(open),
        }
    }
}

impl ScanSource for HidScanner {
    fn id(&self) -> &SourceId {
        &self.id
    }

    fn start(self: Box<Self>, tx: mpsc::Sender<ScanEvent>) -> SourceHandle {
        let id = self.id.clone();
        SourceHandle::spawn(id, move |stop| self.run(&tx, &stop))
    }
}

impl HidScanner {
    fn run(mut self, tx: &mpsc::Sender<ScanEvent>, stop: &Stop) {
        let mut presence = Presence::new(self.id.clone());
        let mut decoder = KeyDecoder::new(self.layout);
        let mut framer = Framer::new(self.framing);
        let mut keys = Vec::new();
        let mut done = Vec::new();
        while !stop.is_set() {
            let mut dev = match (self.open)() {
                Ok(dev) => dev,
                Err(e) => {
                    let why = format!("{}: {e}", self.device);
                    if !presence.set(tx, SourceStatus::Absent(why)) || !stop.sleep(RETRY_ABSENT) {
                        return;
                    }
                    continue;
                }
            };
            if !presence.set(tx, SourceStatus::Connected) {
                return;
            }
            decoder.reset();
            framer.reset();
            loop {
                if stop.is_set() {
                    return;
                }
                let timeout = wait_time(&framer);
                keys.clear();
                if let Err(e) = dev.read_keys(timeout, &mut keys) {
                    let why = format!("{}: {e}", self.device);
                    if !presence.set(tx, SourceStatus::Absent(why)) {
                        return;
                    }
                    break;
                }
                let now = Instant::now();
                for &(code, value) in &keys {
                    decoder.feed(code, value, |o| match o {
                        KeyOutput::Char(c) => framer.push_char(c, now),
                        KeyOutput::Enter => done.extend(framer.end_line(now)),
                    });
                }
                done.extend(framer.poll(Instant::now()));
                for f in done.drain(..) {
                    if !deliver(tx, &self.id, f) {
                        return;
                    }
                }
            }
            if !stop.sleep(RETRY_ABSENT) {
                return;
            }
        }
    }
}

/// How long to wait for input: until the framer's deadline, at most [`STOP_POLL`].
fn wait_time(framer: &Framer) -> Duration {
    framer
        .deadline()
        .map_or(STOP_POLL, |d| d.saturating_duration_since(Instant::now()))
        .min(STOP_POLL)
}

/// Opens and grabs an evdev device; refuses devices without an Enter key (not a keyboard).
pub fn open_evdev(path: &Path) -> io::Result<Box<dyn KeyDevice>> {
    let mut dev = evdev::Device::open(path)?;
    let is_keyboard = dev
        .supported_keys()
        .is_some_and(|k| k.contains(evdev::KeyCode::KEY_ENTER));
    if !is_keyboard {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a keyboard-like input device",
        ));
    }
    // EBUSY here means another program holds the grab; retried like an absent device.
    dev.grab()?;
    dev.set_nonblocking(true)?;
    Ok(Box::new(Evdev { dev }))
}

struct Evdev {
    dev: evdev::Device,
}

impl KeyDevice for Evdev {
    fn read_keys(&mut self, timeout: Duration, out: &mut Vec<(u16, i32)>) -> io::Result<()> {
        if !wait_readable(&self.dev, timeout)? {
            return Ok(());
        }
        match self.dev.fetch_events() {
            Ok(events) => {
                for ev in events {
                    if ev.event_type() == evdev::EventType::KEY {
                        out.push((ev.code(), ev.value()));
                    }
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Waits until `fd` is readable; `Ok(false)` on timeout, an error when it hung up.
pub(crate) fn wait_readable(fd: &impl std::os::fd::AsFd, timeout: Duration) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let ts = Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    match poll(&mut fds, Some(&ts)) {
        Ok(0) => Ok(false),
        Ok(_) => {
            let rev = fds[0].revents();
            if rev.contains(PollFlags::IN) {
                Ok(true)
            } else if rev.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "device hung up"))
            } else {
                Ok(false)
            }
        }
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A simulated keyboard-wedge device: key events sent on a channel, as if typed.
#[derive(Debug)]
pub struct SimKeyDevice {
    rx: std::sync::mpsc::Receiver<Vec<(u16, i32)>>,
}

impl SimKeyDevice {
    /// A device and the sender that "types" on it; dropping the sender unplugs it.
    pub fn new() -> (Self, std::sync::mpsc::Sender<Vec<(u16, i32)>>) {
        let (tx, rx) = std::sync::mpsc::channel();
        (SimKeyDevice { rx }, tx)
    }
}

impl KeyDevice for SimKeyDevice {
    fn read_keys(&mut self, timeout: Duration, out: &mut Vec<(u16, i32)>) -> io::Result<()> {
        match self.rx.recv_timeout(timeout) {
            Ok(batch) => {
                out.extend(batch);
                Ok(())
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(()),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "simulated device unplugged",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scanner::keymap::keystrokes;
    use std::sync::{Arc, Mutex};

    async fn next_text(rx: &mut mpsc::Receiver<ScanEvent>) -> String {
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap();
            if let ScanEvent::Text { text, .. } = ev {
                return text;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_simulated_qwertz_scanner_delivers_payload_and_mrz() {
        let (dev, typing) = SimKeyDevice::new();
        let slot = Arc::new(Mutex::new(Some(dev)));
        let opener_slot = slot.clone();
        let scanner = HidScanner::with_device(
            SourceId::new("kiosk-hid"),
            Layout::De,
            Framing::default(),
            move || match opener_slot.lock().unwrap().take() {
                Some(d) => Ok(Box::new(d) as Box<dyn KeyDevice>),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "unplugged")),
            },
        );
        let (tx, mut rx) = mpsc::channel(16);
        let handle = Box::new(scanner).start(tx);
        let first = rx.recv().await.unwrap();
        assert_eq!(
            first,
            ScanEvent::Status {
                source: SourceId::new("kiosk-hid"),
                status: SourceStatus::Connected
            }
        );

        // A payload in two USB reports, split mid-key.
        let payload = "LOTSE1.eyJyZWYiOiJUIn0.Zm9v-YmFy_Ynl6\n";
        let ev = keystrokes(Layout::De, payload).unwrap();
        let (a, b) = ev.split_at(ev.len() / 2 + 1);
        typing.send(a.to_vec()).unwrap();
        typing.send(b.to_vec()).unwrap();
        assert_eq!(next_text(&mut rx).await, payload.trim_end());

        // A TD1 MRZ, line by line: complete after the third line.
        let mrz = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<\n";
        for line in mrz.split_inclusive('\n') {
            typing.send(keystrokes(Layout::De, line).unwrap()).unwrap();
        }
        assert_eq!(next_text(&mut rx).await, mrz.trim_end());

        // Unplugged: reported once, then retried without a crash.
        drop(typing);
        let gone = rx.recv().await.unwrap();
        assert!(matches!(
            gone,
            ScanEvent::Status {
                status: SourceStatus::Absent(_),
                ..
            }
        ));
        assert!(!handle.is_finished());
        tokio::task::spawn_blocking(move || handle.stop())
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_absent_evdev_device_is_reported_once_and_the_source_stops_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let scanner = HidScanner::evdev(
            SourceId::new("hid"),
            dir.path().join("event-kbd"),
            Layout::Us,
            Framing::default(),
        );
        let (tx, mut rx) = mpsc::channel(16);
        let handle = Box::new(scanner).start(tx);
        let ev = rx.recv().await.unwrap();
        assert!(matches!(
            ev,
            ScanEvent::Status {
                status: SourceStatus::Absent(ref why),
                ..
            } if why.contains("event-kbd")
        ));
        // A regular file is no input device either; still no crash.
        std::fs::write(dir.path().join("event-kbd"), b"").unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(rx.try_recv().is_err(), "absence is reported once");
        tokio::task::spawn_blocking(move || handle.stop())
            .await
            .unwrap();
    }
}
