//! A simulated printer that writes jobs to a directory.
//!
//! Used by demo mode (staff can open the PNGs) and by tests, which can set the state
//! it reports, make the next prints fail, and read back the jobs it received.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{PrintJob, Printer, PrinterError, PrinterState, Result};

#[derive(Debug)]
struct SimState {
    state: PrinterState,
    fail_next: u32,
    jobs: Vec<PrintJob>,
}

/// How many jobs the simulator keeps in memory for inspection.
pub const RECORDED_JOBS: usize = 64;

/// Writes `DIR/<name>.escpos`, `DIR/<name>.png` and `DIR/<name>.pdf` (when present).
#[derive(Debug)]
pub struct SimPrinter {
    dir: Option<PathBuf>,
    inner: Mutex<SimState>,
}

impl SimPrinter {
    /// A ready printer writing into `dir` (created on first print).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_dir(Some(dir.into()))
    }

    /// A ready printer that only records jobs in memory.
    pub fn in_memory() -> Self {
        Self::with_dir(None)
    }

    fn with_dir(dir: Option<PathBuf>) -> Self {
        SimPrinter {
            dir,
            inner: Mutex::new(SimState {
                state: PrinterState::Ready,
                fail_next: 0,
                jobs: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        // A panic in another test thread must not take the simulator down with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the printer report `state`; prints fail unless it can print.
    pub fn set_state(&self, state: PrinterState) {
        self.lock().state = state;
    }

    /// Makes the next `count` prints fail with an I/O error, as a cable pull would.
    pub fn fail_next(&self, count: u32) {
        self.lock().fail_next = count;
    }

    /// The latest jobs printed (at most [`RECORDED_JOBS`]), oldest first.
    pub fn jobs(&self) -> Vec<PrintJob> {
        self.lock().jobs.clone()
    }

    /// Directory the files go to, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

/// Keeps job names usable as file names: no separators, no dot files.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() { "job".into() } else { stem }
}

impl Printer for SimPrinter {
    fn state(&self) -> PrinterState {
        self.lock().state
    }

    fn print(&self, job: &PrintJob) -> Result<()> {
        let mut inner = self.lock();
        if inner.fail_next > 0 {
            inner.fail_next -= 1;
            return Err(PrinterError::Io(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "simulated printer failure",
            )));
        }
        if !inner.state.can_print() {
            return Err(PrinterError::NotReady(inner.state));
        }
        if let Some(dir) = &self.dir {
            std::fs::create_dir_all(dir)?;
            let stem = file_stem(&job.name);
            std::fs::write(dir.join(format!("{stem}.escpos")), &job.escpos)?;
            if let Some(png) = &job.preview_png {
                std::fs::write(dir.join(format!("{stem}.png")), png)?;
            }
            if let Some(pdf) = &job.pdf {
                std::fs::write(dir.join(format!("{stem}.pdf")), pdf)?;
            }
        }
        // Demo mode runs for days: remember only the latest jobs.
        if inner.jobs.len() >= RECORDED_JOBS {
            inner.jobs.remove(0);
        }
        inner.jobs.push(job.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str) -> PrintJob {
        PrintJob {
            escpos: vec![0x1B, 0x40],
            preview_png: Some(b"\x89PNG".to_vec()),
            pdf: None,
            name: name.into(),
        }
    }

    #[test]
    fn writes_files_and_records_jobs() {
        let dir = std::env::temp_dir().join(format!("lotse-sim-{}", std::process::id()));
        let printer = SimPrinter::new(&dir);
        printer.print(&job("A-007")).expect("prints");
        printer.print(&job("../../etc/passwd")).expect("prints");
        assert_eq!(
            std::fs::read(dir.join("A-007.escpos")).ok(),
            Some(vec![0x1B, 0x40])
        );
        assert!(dir.join("A-007.png").exists());
        assert!(dir.join("______etc_passwd.escpos").exists());
        assert_eq!(printer.jobs().len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reports_state_and_fails_on_request() {
        let printer = SimPrinter::in_memory();
        assert_eq!(printer.state(), PrinterState::Ready);
        printer.set_state(PrinterState::PaperOut);
        assert!(matches!(
            printer.print(&job("x")),
            Err(PrinterError::NotReady(PrinterState::PaperOut))
        ));
        printer.set_state(PrinterState::PaperNearEnd);
        printer.fail_next(1);
        assert!(matches!(printer.print(&job("x")), Err(PrinterError::Io(_))));
        assert!(printer.print(&job("x")).is_ok());
        assert_eq!(printer.jobs().len(), 1);
    }
}
