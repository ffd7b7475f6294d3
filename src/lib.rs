//! dbus-aggregate-smartshunts: one virtual battery monitor (and optional virtual BMS)
//! built from every Victron SmartShunt on the Venus OS system D-Bus.
//!
//! The crate is a functional core inside an I/O shell: [`aggregate`], [`bms`] and
//! [`config`] decide every number and never touch D-Bus; [`venus`] speaks Victron's
//! D-Bus conventions and knows nothing about batteries; [`daemon`] wires them together
//! on one smol event loop. See ARCHITECTURE.md for the codemap.

pub mod aggregate;
pub mod bank;
pub mod bms;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod memory;
pub mod paths;
pub mod privbus;
pub mod publish;
pub mod rt;
pub mod sim;
pub mod status;
pub mod venus;

#[cfg(test)]
mod tidy;
