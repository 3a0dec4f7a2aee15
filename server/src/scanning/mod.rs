//! Identification input: machine-readable zones of ID documents (and, later, QR
//! payloads and image decoding).
//!
//! Privacy (PAuswG §20, AufenthG §78): only [`mrz::Mrz::personal_data`] leaves this
//! module for storage; document numbers and raw lines are dropped in memory.

pub mod mrz;
