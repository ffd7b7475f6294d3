//! The core: every number the daemon publishes is decided here, by plain Rust that knows no
//! D-Bus, no executor and no clock of its own (instants are arguments). It could be a crate
//! with nothing but `log` in its Cargo.toml; `src/tidy.rs` checks that it names no `zbus`,
//! `zvariant`, `smol`, `venus`, `rt` or `daemon`.
//!
//! * [`paths`] — the catalogue: one row per quantity (path, wire type, resolution, text,
//!   aggregation rule).
//! * [`bank`] — the member table; [`aggregate`] — the bank's values; [`bms`] — the charge and
//!   discharge limits; [`charge`] — the charge stages (bulk, absorption, float, re-bulk); [`frame`] — the values of one pass, row by row; [`memory`] — the bank's
//!   memory as one settings string.

pub mod aggregate;
pub mod bank;
pub mod bms;
pub mod charge;
pub mod controls;
pub mod frame;
pub mod memory;
pub mod paths;
