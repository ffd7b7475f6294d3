//! Victron Venus OS D-Bus conventions: the wire encoding of values, the server (published
//! tree), the client (service monitor), localsettings and VregLink calls.
//!
//! Nothing in here knows about batteries; the domain modules know nothing about D-Bus. The
//! only type both sides share is the plain [`crate::value::Value`], converted in [`wire`].

pub mod call;
pub mod monitor;
pub mod service;
pub mod settings;
pub mod vreg;
pub mod wire;
