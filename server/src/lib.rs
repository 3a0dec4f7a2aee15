//! Lotse: the check-in appliance of an integration centre.
//!
//! Modules:
//! - [`assets`]: the embedded `kiosk-ui/` files, catalogs and fonts;
//! - [`audit`]: the log of staff actions, free of personal data;
//! - [`auth`]: staff accounts, sessions, API tokens and roles;
//! - [`config`]: the TOML configuration, validated into [`config::Settings`];
//! - [`clock`]: wall-clock time behind a trait, Berlin days;
//! - [`storage`]: the SQLite file, its migrations and the database thread;
//! - [`queue`]: services, counters, tickets and their rules;
//! - [`retention`]: the purge of personal data after its retention period;
//! - [`settings_store`]: admin-screen settings laid over the configuration file;
//! - [`scanning`]: QR codes and ID documents from cameras, scanners and files;
//! - [`stats`]: aggregates that outlive the purge of personal data, export, charts;
//! - [`printing`]: the print queue that never holds up a check-in;
//! - [`tickets`]: the printed ticket: one layout, raster (ESC/POS) and PDF;
//! - [`glyph`]: glyph outlines to ink coverage (tickets, OCR templates);
//! - [`events`]: committed changes fanned out to live subscribers;
//! - [`outbox`]: every visit forwarded to the case-management system (push and pull);
//! - [`hardware`]: buttons, sensors, lamps and the status LED wired to the queue;
//! - [`http`]: the router, handlers and problem responses;
//! - [`announce`]: spoken calls (espeak-ng), cached as WAV;
//! - [`provision`]: first-boot provisioning from `lotse-provision.toml`;
//! - [`tls`]: HTTPS certificates: loading, reloading, self-signed ones;
//! - [`watchdog`]: systemd readiness and watchdog;
//! - [`appliance`]: wiring it all into one running process;
//! - [`bench`]: load figures against a real `lotse` process;
//! - `testing` (tests and feature `fuzzing`): the appliance driven in-process.

// Tests may unwrap: a panic is how a test reports failure.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod announce;
pub mod appliance;
pub mod assets;
pub mod atomic_file;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod clock;
pub mod config;
pub mod events;
pub mod glyph;
pub mod hardware;
pub mod http;
pub mod outbox;
pub mod printing;
pub mod provision;
pub mod queue;
pub mod retention;
pub mod scanning;
pub mod settings_store;
pub mod stats;
pub mod storage;
#[cfg(any(test, feature = "fuzzing"))]
pub mod testing;
pub mod tickets;
pub mod tls;
pub mod watchdog;
