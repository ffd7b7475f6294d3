//! dbus-aggregate-smartshunts: one virtual battery monitor (and optional virtual BMS)
//! built from every Victron SmartShunt on the Venus OS system D-Bus.
//!
//! A functional core inside an I/O shell: [`domain`] and [`config`] decide every number and
//! never touch D-Bus; [`venus`] speaks Victron's D-Bus conventions and knows nothing about
//! batteries; [`value`] is the plain value type both speak; [`daemon`] moves inputs into the
//! core and its frame out on one smol event loop. See ARCHITECTURE.md for the codemap.

pub mod config;
pub mod daemon;
pub mod domain;
pub mod publish;
pub mod rt;
pub mod status;
#[cfg(feature = "tools")]
pub mod tools;
pub mod value;
pub mod venus;

#[cfg(test)]
mod tidy;
