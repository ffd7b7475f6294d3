//! Tools the device never runs: simulated SmartShunts and localsettings, the demo, a private
//! `dbus-daemon`, and a child-process guard. Built with the `tools` cargo feature (on by
//! default for development, left out of the device build by `make dist`).

pub mod child;
pub mod demo;
pub mod dryrun;
pub mod privbus;
pub mod sim;
pub mod simulate;
