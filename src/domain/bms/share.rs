//! The share of the bank a direction's limit is scaled by, and how it moves.
//!
//! Never over-allocate: the share is the capacity of the members that count (online and in
//! the circuit for charging) over the bank's capacity. TOTAL_CAPACITY, when set, is the bank's
//! capacity. A member whose capacity is unknown counts as small while it counts (the smallest
//! known capacity; with TOTAL_CAPACITY the rest of it when every unknown member is there) and
//! as large while it does not (the rest of TOTAL_CAPACITY, or else the largest known
//! capacity), so a guess can only make the share smaller. With no capacity known at all the
//! share is by count (the batteries are taken to be equal).

use std::time::{Duration, Instant};

use crate::domain::aggregate::{Member, Presence};

/// The share (0..=1) of the bank that the members for which `counts` holds make up.
pub fn bank_share(members: &[Member], total: Option<f64>, counts: impl Fn(&Member) -> bool) -> f64 {
    if members.is_empty() {
        return 0.0;
    }
    let known: Vec<f64> = members.iter().filter_map(|m| m.capacity.filter(|c| *c > 0.0)).collect();
    let (Some(small), Some(large)) = (known.iter().copied().reduce(f64::min), known.iter().copied().reduce(f64::max)) else {
        return members.iter().filter(|m| counts(m)).count() as f64 / members.len() as f64;
    };
    let cap = |m: &Member| m.capacity.filter(|c| *c > 0.0);
    let absent_known: f64 = members.iter().filter(|m| !counts(m)).filter_map(cap).sum();
    let absent_unknown = members.iter().filter(|m| !counts(m) && cap(m).is_none()).count() as f64;
    let unknown = members.iter().filter(|m| cap(m).is_none()).count() as f64;
    let known_total: f64 = known.iter().sum();
    // What a present member of unknown capacity counts as.
    let present_unknown = match total {
        // TOTAL_CAPACITY minus the known ones is the unknown members' together: all of it when
        // they are all here, else no more than the smallest known member each.
        Some(total) if absent_unknown == 0.0 => (total - known_total).max(0.0) / unknown.max(1.0),
        Some(total) => small.min((total - known_total).max(0.0) / unknown.max(1.0)),
        None => small,
    };
    let present: f64 = members.iter().filter(|m| counts(m)).map(|m| cap(m).unwrap_or(present_unknown)).sum();
    let bank = match total {
        // TOTAL_CAPACITY is the bank's size; the absent unknown members hold the rest of it.
        Some(total) => total.max(present + absent_known),
        None => present + absent_known + absent_unknown * large,
    };
    if bank <= 0.0 { 0.0 } else { (present / bank).clamp(0.0, 1.0) }
}

/// The share that is online (fresh) and in the circuit: what charging, and normally
/// discharging, is scaled by.
pub fn online_share(members: &[Member], total: Option<f64>) -> f64 {
    bank_share(members, total, |m| m.presence == Presence::Online && m.in_circuit)
}

/// The share that is present (online or held) and in the circuit: discharging while no member
/// is fresh.
pub fn present_share(members: &[Member], total: Option<f64>) -> f64 {
    bank_share(members, total, |m| m.presence != Presence::Lost && m.in_circuit)
}

/// A share that falls applies at once; one that rises (a member back, or a new one) ramps
/// over BMS_RAMP_TIME.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ShareRamp {
    from: f64,
    to: f64,
    since: Option<Instant>,
}

impl ShareRamp {
    pub(super) const SETTLED: ShareRamp = ShareRamp { from: 0.0, to: 0.0, since: None };

    fn value(&self, now: Instant, ramp: Duration) -> f64 {
        match self.since {
            Some(since) if !ramp.is_zero() => {
                let f = (now.saturating_duration_since(since).as_secs_f64() / ramp.as_secs_f64()).min(1.0);
                self.from + (self.to - self.from) * f
            }
            _ => self.to,
        }
    }

    /// The share to apply now for `target`; `at_once` (at start-up, after a data gap) skips the
    /// ramp.
    pub(super) fn step(&mut self, target: f64, now: Instant, ramp: Duration, at_once: bool) -> f64 {
        let current = self.value(now, ramp);
        if at_once || target <= current + 1e-9 {
            *self = ShareRamp { from: target, to: target, since: None };
        } else if (target - self.to).abs() > 1e-9 {
            *self = ShareRamp { from: current, to: target, since: Some(now) };
        }
        let v = self.value(now, ramp);
        if v >= self.to - 1e-9 {
            self.since = None;
        }
        v
    }
}

pub(super) fn ramping_text(applied: f64, target: f64, members: &[Member], limit: f64) -> String {
    let k = members.iter().filter(|m| m.presence == Presence::Online && m.in_circuit).count();
    format!("Ramping up: {k} of {} members present, {:.0} % of {limit:.0} A (rising to {:.0} %)", members.len(), applied * 100.0, target * 100.0)
}

/// The text of an unblocked limit; `gui`: the limit was set in the GUI, not in config.ini.
pub(super) fn describe(share: f64, members: &[Member], limit: f64, online_only: bool, gui: bool) -> String {
    let n = members.len();
    let k =
        members.iter().filter(|m| m.in_circuit && if online_only { m.presence == Presence::Online } else { m.presence != Presence::Lost }).count();
    let out: Vec<&str> = members.iter().filter(|m| m.presence == Presence::Online && !m.in_circuit).map(|m| m.name).collect();
    let mut text = match (share >= 1.0 - 1e-9, gui) {
        (true, false) => format!("Configured limit {limit:.0} A"),
        (true, true) => format!("Limit {limit:.0} A set in the GUI"),
        (false, _) => format!("{k} of {n} members present: {:.0} % of {limit:.0} A", share * 100.0),
    };
    if gui && share < 1.0 - 1e-9 {
        text.push_str(" (the limit set in the GUI)");
    }
    if !out.is_empty() {
        text.push_str(&format!(" ({} carries no current: out of the circuit)", out.join(", ")));
    }
    text
}
