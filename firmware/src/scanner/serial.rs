//! Scanners and MRZ readers on a serial line (`/dev/ttyACM*` for USB CDC, `/dev/ttyUSB*` for
//! USB–serial adapters, or a stable `/dev/serial/by-id/...` path).
//!
//! The tty is opened with termios through `rustix` (already in the dependency tree, no C
//! library, no udev): raw mode, 8N1, no flow control, the configured baud rate. Lines end with
//! CR, LF or CRLF; [`Framer`] groups an MRZ's lines and ends a scan after the idle gap.
//! A vanished device (read error, hang-up, end of file) is re-opened like a hot-plugged one.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Instant;

use rustix::fs::{Mode, OFlags};
use rustix::termios::{self, ControlModes, OptionalActions, SpecialCodeIndex};
use tokio::sync::mpsc;

use super::framing::{Framer, Framing};
use super::hid::wait_readable;
use super::{
    Presence, RETRY_ABSENT, STOP_POLL, ScanEvent, ScanSource, SourceHandle, SourceId, SourceStatus,
    Stop, deliver,
};

/// A serial reader as a [`ScanSource`].
#[derive(Debug)]
pub struct SerialScanner {
    id: SourceId,
    path: PathBuf,
    baud: u32,
    framing: Framing,
}

impl SerialScanner {
    /// A reader on the tty at `path` at `baud` bits per second (9600 and 115200 are common).
    pub fn new(id: SourceId, path: PathBuf, baud: u32, framing: Framing) -> Self {
        SerialScanner {
            id,
            path,
            baud,
            framing,
        }
    }
}

impl ScanSource for SerialScanner {
    fn id(&self) -> &SourceId {
        &self.id
    }

    fn start(self: Box<Self>, tx: mpsc::Sender<ScanEvent>) -> SourceHandle {
        let id = self.id.clone();
        SourceHandle::spawn(id, move |stop| self.run(&tx, &stop))
    }
}

impl SerialScanner {
    fn run(self, tx: &mpsc::Sender<ScanEvent>, stop: &Stop) {
        let mut presence = Presence::new(self.id.clone());
        let mut framer = Framer::new(self.framing);
        let mut buf = [0u8; 512];
        let mut done = Vec::new();
        while !stop.is_set() {
            let mut tty = match open_tty(&self.path, self.baud) {
                Ok(f) => f,
                Err(e) => {
                    let why = format!("{}: {e}", self.path.display());
                    if !presence.set(tx, SourceStatus::Absent(why)) || !stop.sleep(RETRY_ABSENT) {
                        return;
                    }
                    continue;
                }
            };
            if !presence.set(tx, SourceStatus::Connected) {
                return;
            }
            framer.reset();
            let failure = loop {
                if stop.is_set() {
                    return;
                }
                let timeout = framer
                    .deadline()
                    .map_or(STOP_POLL, |d| d.saturating_duration_since(Instant::now()))
                    .min(STOP_POLL);
                match wait_readable(&tty, timeout) {
                    Ok(false) => {}
                    Ok(true) => match tty.read(&mut buf) {
                        Ok(0) => break io::Error::new(io::ErrorKind::UnexpectedEof, "closed"),
                        Ok(n) => {
                            let now = Instant::now();
                            for part in buf[..n].split_inclusive(|b| matches!(b, b'\r' | b'\n')) {
                                match part.split_last() {
                                    Some((b'\r' | b'\n', text)) => {
                                        framer.push_bytes(text, now);
                                        done.extend(framer.end_line(now));
                                    }
                                    _ => framer.push_bytes(part, now),
                                }
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break e,
                    },
                    Err(e) => break e,
                }
                done.extend(framer.poll(Instant::now()));
                for f in done.drain(..) {
                    if !deliver(tx, &self.id, f) {
                        return;
                    }
                }
            };
            let why = format!("{}: {failure}", self.path.display());
            if !presence.set(tx, SourceStatus::Absent(why)) || !stop.sleep(RETRY_ABSENT) {
                return;
            }
        }
    }
}

/// Opens a tty raw at `baud`, 8N1, without flow control and without becoming its
/// controlling terminal.
pub fn open_tty(path: &std::path::Path, baud: u32) -> io::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut t = termios::tcgetattr(&fd)?;
    t.make_raw();
    t.control_modes |= ControlModes::CLOCAL | ControlModes::CREAD;
    t.control_modes &= !(ControlModes::CSTOPB | ControlModes::PARENB | ControlModes::CRTSCTS);
    t.special_codes[SpecialCodeIndex::VMIN] = 1;
    t.special_codes[SpecialCodeIndex::VTIME] = 0;
    t.set_speed(baud)?;
    termios::tcsetattr(&fd, OptionalActions::Now, &t)?;
    // Whatever the reader sent before we listened is not a scan of this visitor.
    termios::tcflush(&fd, termios::QueueSelector::IFlush)?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    /// A pseudo-terminal pair: the slave is the "device" the source opens, the master is the
    /// simulated reader writing real bytes.
    fn pty() -> (File, PathBuf) {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let path = PathBuf::from(name.to_str().unwrap());
        (File::from(master), path)
    }

    async fn next(rx: &mut mpsc::Receiver<ScanEvent>) -> ScanEvent {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap()
    }

    async fn next_text(rx: &mut mpsc::Receiver<ScanEvent>) -> String {
        loop {
            if let ScanEvent::Text { text, .. } = next(rx).await {
                return text;
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pty_reader_with_cr_lf_and_crlf_and_an_mrz() {
        let (mut master, slave) = pty();
        // Keep a slave descriptor open, so the pair survives until the source opens it.
        let _keep = match open_tty(&slave, 115_200) {
            Ok(f) => f,
            // qemu-user (the aarch64 test run) does not emulate the termios ioctls.
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                eprintln!("skipped: termios is not supported here: {e}");
                return;
            }
            Err(e) => panic!("open {}: {e}", slave.display()),
        };
        let source = SerialScanner::new(
            SourceId::new("desk-serial"),
            slave.clone(),
            115_200,
            Framing::default(),
        );
        let (tx, mut rx) = mpsc::channel(16);
        let handle = Box::new(source).start(tx);
        assert!(matches!(
            next(&mut rx).await,
            ScanEvent::Status {
                status: SourceStatus::Connected,
                ..
            }
        ));

        for (sent, want) in [
            (&b"LOTSE1.abc-_.xyz\r"[..], "LOTSE1.abc-_.xyz"),
            (b"LOTSE-CARD1.e30.AA\n", "LOTSE-CARD1.e30.AA"),
            (b"4006381333931\r\n", "4006381333931"),
        ] {
            master.write_all(sent).unwrap();
            assert_eq!(next_text(&mut rx).await, want);
        }

        // A TD3 MRZ in pieces, lines split across writes: one scan, at once after line 2.
        let td3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\r\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\r\n";
        let (a, b) = td3.as_bytes().split_at(50);
        master.write_all(a).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        master.write_all(b).unwrap();
        assert_eq!(
            next_text(&mut rx).await,
            td3.trim_end().replace("\r\n", "\n")
        );

        // Text without a line end is a scan after the partial timeout.
        master.write_all(b"NO-SUFFIX").unwrap();
        let t = Instant::now();
        assert_eq!(next_text(&mut rx).await, "NO-SUFFIX");
        assert!(t.elapsed() >= Duration::from_millis(400));

        tokio::task::spawn_blocking(move || handle.stop())
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_absent_tty_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let source = SerialScanner::new(
            SourceId::new("s"),
            dir.path().join("ttyACM0"),
            9600,
            Framing::default(),
        );
        let (tx, mut rx) = mpsc::channel(16);
        let handle = Box::new(source).start(tx);
        assert!(matches!(
            next(&mut rx).await,
            ScanEvent::Status {
                status: SourceStatus::Absent(_),
                ..
            }
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(rx.try_recv().is_err());
        tokio::task::spawn_blocking(move || handle.stop())
            .await
            .unwrap();
    }
}
