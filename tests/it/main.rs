//! The integration tests, as one binary: each module a subject, each test on its own private
//! dbus-daemon with the real daemon binary (see `harness`).

mod harness;

mod bms;
mod charging;
mod contract;
mod discovery;
mod faults;
mod gui;
mod hazards;
mod membership;
mod recordings;
mod routing;
mod settings;
