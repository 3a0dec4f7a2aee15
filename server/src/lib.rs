//! Lotse: the check-in appliance of an integration centre.
//!
//! Modules:
//! - [`config`]: the TOML configuration, validated into [`config::Settings`];
//! - [`clock`]: wall-clock time behind a trait, Berlin days;
//! - [`storage`]: the SQLite file, its migrations and the database thread;
//! - [`queue`]: services, counters, tickets and their rules;
//! - [`scanning`]: MRZ parsing of ID documents;
//! - [`tickets`]: the printed ticket: one layout, raster (ESC/POS) and PDF;
//! - [`events`]: committed changes fanned out to live subscribers;
//! - [`http`]: the router, handlers and problem responses;
//! - [`appliance`]: wiring it all into one running process;
//! - [`bench`]: load figures against a real `lotse` process.

// Tests may unwrap: a panic is how a test reports failure.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod appliance;
pub mod bench;
pub mod clock;
pub mod config;
pub mod events;
pub mod http;
pub mod queue;
pub mod scanning;
pub mod storage;
pub mod tickets;
