//! Ticket printers as byte sinks with a status, so rendering stays in the server.

use std::fmt::Debug;

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
}

/// Errors a printer back-end reports.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    #[error("printer is {0:?}")]
    NotReady(PrinterState),
    #[error("printer I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, PrinterError>;

/// A device that accepts one print job at a time.
pub trait Printer: Send + Sync + Debug {
    /// Current state, as far as the device reports it.
    fn state(&self) -> PrinterState;
}
