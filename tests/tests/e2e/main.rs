//! End-to-end scenarios: the real `lotse` binary on loopback, a real SQLite file.
//! One test binary with a module per area (ripgrep's layout).

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod backup;
mod bad_input;
mod browser;
mod cli;
mod concurrency;
mod durability;
mod gpio;
mod http_flow;
mod outbox;
mod printing;
mod provision;
mod scanning;
