//! The appliance's hardware behind small traits, each with a simulated back-end.
//!
//! `firmware` knows nothing of HTTP or SQL: the server drives these traits, and the
//! simulated back-ends are real code used by tests and by demo mode.
//!
//! Modules:
//! - [`gpio`]: buttons, sensors, status LED, calling lamps and buzzer (rppal or simulated);
//! - [`printer`]: the ticket printer (byte-stream devices);
//! - [`scanner`]: barcode scanners, MRZ readers and cameras as sources of scans.

// Tests may unwrap: a panic is how a test reports failure.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod gpio;
pub mod printer;
pub mod scanner;
