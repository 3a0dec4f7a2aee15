//! Ticket printers as byte sinks with a status, so rendering stays in the server.
//!
//! The server renders a ticket once into a [`PrintJob`] (ESC/POS bytes, a PNG preview
//! and optionally a PDF); a back-end picks the form it can use:
//! - [`SimPrinter`]: writes files to a directory, for demo mode and tests;
//! - [`EscPosDevice`]: a USB (`/dev/usb/lp0`) or serial device file;
//! - [`EscPosTcp`]: a network printer on raw port 9100;
//! - [`CupsPrinter`]: any CUPS queue, fed the PDF through `lp`.
//!
//! ESC/POS back-ends ask the printer itself for its state with `DLE EOT`
//! ([`escpos`]), so "paper out" reaches the kiosk before a visitor waits for a ticket
//! that never comes.

pub mod cups;
pub mod device;
pub mod escpos;
pub mod sim;
pub mod tcp;

use std::fmt::Debug;
use std::time::Duration;

pub use cups::CupsPrinter;
pub use device::EscPosDevice;
pub use sim::SimPrinter;
pub use tcp::EscPosTcp;

/// Printer health as the appliance reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrinterState {
    Ready,
    PaperNearEnd,
    PaperOut,
    CoverOpen,
    Offline,
}

impl PrinterState {
    /// Stable lower-case name used in `/healthz` and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            PrinterState::Ready => "ready",
            PrinterState::PaperNearEnd => "paper_near_end",
            PrinterState::PaperOut => "paper_out",
            PrinterState::CoverOpen => "cover_open",
            PrinterState::Offline => "offline",
        }
    }

    /// Whether a job sent now will come out: a nearly empty roll still prints.
    pub fn can_print(self) -> bool {
        matches!(self, PrinterState::Ready | PrinterState::PaperNearEnd)
    }
}

/// Errors a printer back-end reports.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    #[error("printer is {}", .0.as_str())]
    NotReady(PrinterState),
    #[error("printer I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("printer did not answer within {0:?}")]
    Timeout(Duration),
    #[error("this printer cannot print the job: {0}")]
    Unsupported(&'static str),
    #[error("{program} failed: {detail}")]
    Command { program: String, detail: String },
}

pub type Result<T> = std::result::Result<T, PrinterError>;

/// One rendered ticket in every form a back-end might need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrintJob {
    /// Complete ESC/POS byte stream (init, raster, cut).
    pub escpos: Vec<u8>,
    /// PNG of the same bitmap, for the simulator and the staff preview.
    pub preview_png: Option<Vec<u8>>,
    /// The ticket as PDF, for office printers behind CUPS.
    pub pdf: Option<Vec<u8>>,
    /// Job name, e.g. the ticket number; also the simulator's file name.
    pub name: String,
}

/// A device that accepts one print job at a time.
pub trait Printer: Send + Sync + Debug {
    /// Current state, as far as the device reports it. Never blocks for long:
    /// a printer that does not answer is [`PrinterState::Offline`].
    fn state(&self) -> PrinterState;

    /// Prints the job, or says why not. Checks the state first where the device
    /// can tell, so a job is not lost in a printer with an open cover.
    fn print(&self, job: &PrintJob) -> Result<()>;
}

/// Runs blocking device I/O on a helper thread and gives up after `timeout`.
///
/// Device files (`/dev/usb/lp0`, ttys) have no portable read timeout, and a printer
/// that is switched off can block a read or write forever; the helper thread is
/// left to finish on its own, the caller gets [`PrinterError::Timeout`].
pub(crate) fn with_timeout<T, F>(timeout: Duration, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("printer-io".into())
        .spawn(move || {
            let _ = tx.send(f());
        })?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(_) => Err(PrinterError::Timeout(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_states() {
        assert!(PrinterState::Ready.can_print());
        assert!(PrinterState::PaperNearEnd.can_print());
        assert!(!PrinterState::PaperOut.can_print());
        assert!(!PrinterState::CoverOpen.can_print());
        assert!(!PrinterState::Offline.can_print());
        assert_eq!(
            PrinterError::NotReady(PrinterState::CoverOpen).to_string(),
            "printer is cover_open"
        );
    }

    #[test]
    fn timeout_gives_up() {
        let r: Result<()> = with_timeout(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_millis(500));
            Ok(())
        });
        assert!(matches!(r, Err(PrinterError::Timeout(_))));
        assert_eq!(with_timeout(Duration::from_secs(5), || Ok(7)).ok(), Some(7));
    }
}
