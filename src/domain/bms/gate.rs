//! One direction's gate: open, blocked, waiting out the hold time, or ramping up. After a
//! start, and after a "no data" stop, a direction that nothing blocks opens at once: the hold
//! and the ramp are for re-opening after a real block (a cold battery, an alarm), not for
//! every restart, which would otherwise black out the loads for a minute.

use std::time::{Duration, Instant};

use super::rules::Cause;

#[derive(Debug, Clone, PartialEq)]
enum Gate {
    /// Nothing decided yet: the first clear step opens at once.
    Start,
    Open,
    /// `no_data`: only the "no fresh data" cause blocked it.
    Blocked {
        no_data: bool,
    },
    Clearing {
        since: Instant,
    },
    Ramping {
        since: Instant,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Direction {
    label: &'static str,
    gate: Gate,
    logged: String,
}

impl Direction {
    pub(super) fn new(label: &'static str) -> Self {
        Direction { label, gate: Gate::Start, logged: String::new() }
    }

    /// True while the gate opens at once when its causes clear (start, or "no data" only).
    pub(super) fn opens_at_once(&self) -> bool {
        matches!(self.gate, Gate::Start | Gate::Blocked { no_data: true })
    }

    /// Advances the gate; returns the factor (0..=1) applied to the limit and the cause text.
    pub(super) fn step(&mut self, now: Instant, hold: Duration, ramp: Duration, enter: &[Cause], lingering: &[Cause]) -> (f64, Option<String>) {
        if let Some(c) = enter.first() {
            // A data gap over a real block keeps the real block (and its hold and ramp).
            let real_before = matches!(self.gate, Gate::Blocked { no_data: false } | Gate::Clearing { .. });
            let no_data = enter.iter().all(Cause::is_no_data) && !real_before;
            self.gate = Gate::Blocked { no_data };
            self.log(&c.key, &format!("{} blocked: {}", self.label, c.text));
            return (0.0, Some(c.text.clone()));
        }
        if let Some(c) = lingering.first() {
            if matches!(self.gate, Gate::Blocked { no_data: false } | Gate::Clearing { .. }) {
                self.gate = Gate::Blocked { no_data: false };
                return (0.0, Some(format!("{} (not yet clear by the margin)", c.text)));
            }
        }
        match self.gate {
            Gate::Start | Gate::Blocked { no_data: true } => self.gate = Gate::Open,
            Gate::Blocked { no_data: false } => self.gate = Gate::Clearing { since: now },
            _ => {}
        }
        if let Gate::Clearing { since } = self.gate {
            let waited = now.saturating_duration_since(since);
            if waited < hold {
                self.log("clearing", &format!("{}: cause cleared, re-opening after {} s", self.label, hold.as_secs()));
                return (0.0, Some(format!("Cleared, re-opening in {} s", (hold - waited).as_secs() + 1)));
            }
            self.gate = Gate::Ramping { since: now };
        }
        if let Gate::Ramping { since } = self.gate {
            let f = if ramp.is_zero() { 1.0 } else { now.saturating_duration_since(since).as_secs_f64() / ramp.as_secs_f64() };
            if f < 1.0 {
                self.log("ramp", &format!("{}: ramping up over {} s", self.label, ramp.as_secs()));
                return (f, Some(format!("Ramping up ({:.0} %)", f * 100.0)));
            }
            self.gate = Gate::Open;
        }
        self.log("open", &format!("{}: open", self.label));
        (1.0, None)
    }

    fn log(&mut self, key: &str, msg: &str) {
        if self.logged != key {
            self.logged = key.to_owned();
            log::warn!("{msg}");
        }
    }
}
