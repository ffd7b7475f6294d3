//! Victron Venus OS D-Bus conventions: the BusItem value type, the server (published tree),
//! the client (service monitor), localsettings and VregLink calls.
//!
//! Nothing in here knows about batteries; the domain modules know nothing about D-Bus.

pub mod monitor;
pub mod service;
pub mod settings;
pub mod value;
pub mod vreg;

use std::collections::HashSet;

pub use value::{Format, Value};

/// Remembers which problems were already logged, so a peer that keeps sending the same bad
/// value is reported once, not on every signal. Bounded: after `LIMIT` distinct keys it stops
/// remembering (and stops logging new ones) so a hostile peer cannot grow it without end.
#[derive(Debug, Default)]
pub struct LogOnce {
    seen: HashSet<String>,
}

impl LogOnce {
    const LIMIT: usize = 4096;

    /// True the first time `key` is seen.
    pub fn first(&mut self, key: &str) -> bool {
        if self.seen.contains(key) || self.seen.len() >= Self::LIMIT {
            return false;
        }
        self.seen.insert(key.to_owned());
        true
    }

    /// Forgets keys that start with `prefix` (e.g. a member that left and may come back).
    pub fn forget(&mut self, prefix: &str) {
        self.seen.retain(|k| !k.starts_with(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::LogOnce;

    #[test]
    fn logs_once_and_stays_bounded() {
        let mut once = LogOnce::default();
        assert!(once.first("a /Soc"));
        assert!(!once.first("a /Soc"));
        once.forget("a ");
        assert!(once.first("a /Soc"));
        for i in 0..10_000 {
            once.first(&i.to_string());
        }
        assert!(once.seen.len() <= LogOnce::LIMIT);
    }
}
