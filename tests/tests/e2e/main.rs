//! End-to-end scenarios: the real `lotse` binary on loopback, a real SQLite file.
//! One test binary with a module per area (ripgrep's layout).

mod bad_input;
mod cli;
mod concurrency;
mod durability;
mod http_flow;
