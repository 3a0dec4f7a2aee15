//! An ESC/POS printer behind a device file: USB (`/dev/usb/lp0`) or serial (a tty).
//!
//! Status is asked with `DLE EOT` over the same file (USB printer class and serial
//! lines are both bidirectional). Device files have no portable read timeout, so all
//! I/O runs on a helper thread that the caller stops waiting for; at most one such
//! thread is in flight, so a hung printer cannot pile up threads.
//!
//! Serial line settings (baud rate, raw mode) are the provisioning's job, e.g.
//! `stty -F /dev/ttyS0 115200 raw -echo`; this back-end only reads and writes bytes.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::escpos::query_status;
use super::{PrintJob, Printer, PrinterError, PrinterState, Result, with_timeout};

/// ESC/POS printer on a device file.
#[derive(Debug, Clone)]
pub struct EscPosDevice {
    path: PathBuf,
    status_timeout: Duration,
    print_timeout: Duration,
    ask_status: bool,
    busy: Arc<AtomicBool>,
}

/// Clears the busy flag when the I/O thread finishes, however it finishes.
struct BusyGuard(Arc<AtomicBool>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl EscPosDevice {
    /// A printer at `path` that answers `DLE EOT` (2 s for status, 30 s per job).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        EscPosDevice {
            path: path.into(),
            status_timeout: Duration::from_secs(2),
            print_timeout: Duration::from_secs(30),
            ask_status: true,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// For write-only devices that never answer `DLE EOT`: the state is then only
    /// "the device file opens" (ready) or not (offline).
    pub fn without_status(mut self) -> Self {
        self.ask_status = false;
        self
    }

    pub fn with_timeouts(mut self, status: Duration, print: Duration) -> Self {
        self.status_timeout = status;
        self.print_timeout = print;
        self
    }

    /// Runs `f` on the helper thread unless one is still stuck in the device.
    fn run<T, F>(&self, timeout: Duration, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(PrinterError::NotReady(PrinterState::Offline));
        }
        let guard = BusyGuard(Arc::clone(&self.busy));
        with_timeout(timeout, move || {
            let _guard = guard;
            f()
        })
    }
}

impl Printer for EscPosDevice {
    fn state(&self) -> PrinterState {
        let path = self.path.clone();
        let ask = self.ask_status;
        let result = self.run(self.status_timeout, move || {
            let mut dev = OpenOptions::new().read(ask).write(true).open(&path)?;
            if !ask {
                return Ok(PrinterState::Ready);
            }
            Ok(query_status(&mut dev)?.state())
        });
        result.unwrap_or(PrinterState::Offline)
    }

    fn print(&self, job: &PrintJob) -> Result<()> {
        let state = self.state();
        if !state.can_print() {
            return Err(PrinterError::NotReady(state));
        }
        let path = self.path.clone();
        let bytes = job.escpos.clone();
        self.run(self.print_timeout, move || {
            let mut dev = OpenOptions::new().write(true).open(&path)?;
            dev.write_all(&bytes)?;
            dev.flush()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("lotse-dev-{}-{name}", std::process::id()))
    }

    #[test]
    fn write_only_device_receives_the_job() {
        let path = temp("lp0");
        std::fs::write(&path, b"").expect("temp file");
        let printer = EscPosDevice::new(&path).without_status();
        assert_eq!(printer.state(), PrinterState::Ready);
        let job = PrintJob {
            escpos: vec![0x1B, 0x40, 0x1D, 0x56, 0x42, 0x00],
            name: "A-001".into(),
            ..PrintJob::default()
        };
        printer.print(&job).expect("prints");
        assert_eq!(std::fs::read(&path).ok(), Some(job.escpos.clone()));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn missing_device_is_offline() {
        let printer = EscPosDevice::new("/nonexistent/usb/lp0");
        assert_eq!(printer.state(), PrinterState::Offline);
        assert!(matches!(
            printer.print(&PrintJob::default()),
            Err(PrinterError::NotReady(PrinterState::Offline))
        ));
    }

    #[test]
    fn stuck_io_times_out_and_blocks_a_second_thread() {
        let printer = EscPosDevice::new("/dev/null");
        let started = std::time::Instant::now();
        let stuck: Result<()> = printer.run(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_millis(600));
            Ok(())
        });
        assert!(matches!(stuck, Err(PrinterError::Timeout(_))));
        assert!(started.elapsed() < Duration::from_millis(500));
        // While the first thread is still inside the "device", nothing new starts.
        assert_eq!(printer.state(), PrinterState::Offline);
        std::thread::sleep(Duration::from_millis(800));
        let after: Result<u8> = printer.run(Duration::from_secs(1), || Ok(1));
        assert_eq!(after.ok(), Some(1));
    }
}
