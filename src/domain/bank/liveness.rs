//! Silence is not death: a member that has sent nothing for STALE_TIMEOUT is asked once
//! (`GetValue` on `/Connected`) and counts as offline only when the answer does not come.

use std::time::{Duration, Instant};

use super::Bank;
use crate::domain::paths::Q;

/// How long a liveness probe may take: half of STALE_TIMEOUT, between 1 and 5 s. A frozen
/// driver (its process stopped) is offline at most STALE_TIMEOUT + this (+ the 1 s tick) after
/// its last message.
pub fn probe_timeout(stale: Duration) -> Duration {
    (stale / 2).clamp(Duration::from_secs(1), Duration::from_secs(5))
}

/// What a liveness probe (`GetValue` on `/Connected`) found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeResult {
    /// The member answered; with the value of `/Connected` when it is a number.
    Answered(Option<f64>),
    /// No answer within [`probe_timeout`].
    NoAnswer,
}

impl Bank {
    /// Members that have sent nothing for STALE_TIMEOUT and have no probe in flight: the caller
    /// sends each one probe and reports the result with [`Bank::on_probe`]. A quiet member that
    /// answers costs one call per STALE_TIMEOUT.
    pub fn due_probes(&mut self, now: Instant) -> Vec<String> {
        let stale = self.opts.stale_timeout;
        let mut due = Vec::new();
        for m in self.members.iter_mut().filter(|m| m.on_bus && !m.probing) {
            let since = m.probe_sent.map_or(m.last_heard, |p| p.max(m.last_heard));
            if now.saturating_duration_since(since) >= stale {
                m.probing = true;
                m.probe_sent = Some(now);
                due.push(m.service.clone());
            }
        }
        due
    }

    /// The answer (or silence) of a liveness probe.
    pub fn on_probe(&mut self, service: &str, result: ProbeResult, now: Instant) {
        let Some(m) = self.members.iter_mut().find(|m| m.on_bus && m.service == service && m.probing) else {
            return;
        };
        m.probing = false;
        match result {
            ProbeResult::Answered(connected) => {
                m.heard(now);
                if let Some(c) = connected {
                    m.values[Q::Connected as usize] = Some(c);
                }
            }
            ProbeResult::NoAnswer => m.unanswered = true,
        }
    }
}
