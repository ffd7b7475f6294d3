//! Online on the bus is not the same as in the circuit. A battery whose own protection (or a
//! fuse, a switch) has opened still has a live shunt: it reads about 0 A while the other
//! members carry the bank's current, so in virtual-bms mode they would receive its share too.
//!
//! Rules (README "Members, offline shunts and the grace period"), checked at every pass over the
//! online members, and only while every online member reports its current and capacity:
//! * the bank's current is significant when |I| ≥ [`SIGNIFICANT_C`] × the online capacity
//!   (0.05 C: 20 A for 400 Ah);
//! * a member's expected current is the bank's current × its share of the online capacity;
//! * it carries (almost) nothing when |I_member| ≤ [`NEAR_ZERO`] × |expected|; after
//!   OUT_OF_CIRCUIT_TIME of that it is out of the circuit;
//! * it is back in the circuit when it carries at least [`FOLLOWS`] × its expected current in
//!   the same direction. While the bank's current is not significant nothing can be told: an
//!   out member stays out, a suspected one is cleared.

use std::time::{Duration, Instant};

use super::Shunt;
use crate::domain::aggregate::Presence;
use crate::domain::paths::Q;

/// Bank current (A) per Ah of online capacity above which the split can be judged.
pub const SIGNIFICANT_C: f64 = 0.05;
/// A member carrying at most this fraction of its expected current carries nothing.
pub const NEAR_ZERO: f64 = 0.1;
/// A member carrying at least this fraction of its expected current follows the bank.
pub const FOLLOWS: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    In,
    /// Carrying nothing since then, while the bank carries current.
    Suspect {
        since: Instant,
    },
    /// Out of the circuit: its share leaves the BMS limits.
    Out,
}

/// The bank's current and online capacity, when every online member reports both.
fn bank_split(members: &[Shunt]) -> Option<(f64, f64)> {
    let online = members.iter().filter(|m| m.presence == Presence::Online && !m.switched_off);
    let (mut current, mut capacity, mut n) = (0.0, 0.0, 0);
    for m in online {
        current += m.get(Q::Current)?;
        capacity += m.capacity.filter(|c| *c > 0.0)?;
        n += 1;
    }
    (n > 1).then_some((current, capacity))
}

/// Advances every member's circuit state; true when one changed.
pub fn update(members: &mut [Shunt], circuit_time: Duration, now: Instant) -> bool {
    let split = bank_split(members).filter(|(i, c)| i.abs() >= SIGNIFICANT_C * c);
    let mut changed = false;
    for m in members.iter_mut() {
        let next = match (m.presence, split, m.get(Q::Current), m.capacity) {
            _ if m.switched_off => Circuit::In,
            (Presence::Online, Some((bank, total)), Some(i), Some(cap)) => {
                let expected = bank * cap / total;
                let nothing = i.abs() <= NEAR_ZERO * expected.abs();
                let follows = i * expected.signum() >= FOLLOWS * expected.abs();
                match m.circuit {
                    Circuit::In if nothing => Circuit::Suspect { since: now },
                    Circuit::Suspect { since } if nothing && now.saturating_duration_since(since) >= circuit_time => {
                        log::warn!(
                            "{} is out of the circuit: it carries {i:.1} A while the bank carries {bank:.1} A (expected {expected:.1} A) for {} s; its share leaves the limits until it carries current again",
                            m.name(),
                            circuit_time.as_secs()
                        );
                        Circuit::Out
                    }
                    Circuit::Suspect { .. } if !nothing => Circuit::In,
                    Circuit::Out if follows => {
                        log::info!("{} carries current again ({i:.1} A of {bank:.1} A): back in the circuit", m.name());
                        Circuit::In
                    }
                    c => c,
                }
            }
            // Cannot be judged now: a suspicion is dropped, a verdict kept.
            (Presence::Online, ..) => match m.circuit {
                Circuit::Suspect { .. } => Circuit::In,
                c => c,
            },
            // Offline: its presence speaks for it; it starts afresh when it is back.
            _ => Circuit::In,
        };
        changed |= (next == Circuit::Out) != (m.circuit == Circuit::Out);
        m.circuit = next;
    }
    changed
}
