//! The appliance's hardware behind small traits, each with a simulated back-end.
//!
//! `firmware` knows nothing of HTTP or SQL: the server drives these traits, and the
//! simulated back-ends are real code used by tests and by demo mode.
//!
//! Modules:
//! - [`printer`]: the ticket printer (byte-stream devices).

pub mod printer;
