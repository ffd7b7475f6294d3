//! What outlives one reading: the risks to tell, the CVL plausibility verdict, a blocker's
//! block kept while it is offline, latched discharge stops, and the CVL frozen for ESS
//! feed-in (and left behind at shutdown).

use super::{BankState, Cause, FEED_IN_CVL_DROP, LATCH_RELEASE_CURRENT, LATCH_RELEASE_SOC, Latch, Policy, nominal};
use crate::domain::aggregate::{Member, Presence};

impl Policy {
    /// Risks accepted by configuration or imposed by the system.
    pub(super) fn risks(&self, bank: &BankState) -> Vec<String> {
        let mut out = Vec::new();
        if self.limits.accept_no_sensor && !bank.any_sensor {
            out.push("ACCEPT_NO_TEMPERATURE_SENSOR = true: no member has a temperature sensor, and nothing stops charging below 0 °C".into());
        }
        match self.feed_in {
            Some(true) => out.push(format!(
                "ESS feeds excess DC-coupled PV into the grid: DVCC gives solar chargers their full current whatever CCL says; a charge stop lowers CVL to {FEED_IN_CVL_DROP} V below the bank voltage instead"
            )),
            None => out.push("ESS feed-in setting unknown: a charge stop also lowers CVL, as if feed-in were on".into()),
            Some(false) => {}
        }
        out
    }

    /// Judges the CVL against the bank's measured voltage once (at the first reading).
    pub(super) fn check_cvl(&mut self, bank: &BankState) -> Option<Cause> {
        // Judged at the first reading; a refusal is judged again at every reading (one bad
        // sample must not refuse charging until a restart), an acceptance is kept.
        if !matches!(self.cvl_check, Some(Ok(()))) {
            if let Some(v) = bank.mean_voltage {
                let before = self.cvl_check.is_some();
                let cvl = self.limits.charge_voltage;
                self.cvl_check = Some(match (nominal(cvl), nominal(v)) {
                    (Some(a), Some(b)) if a == b => Ok(()),
                    (a, b) => Err(format!(
                        "Charging refused: MAX_CHARGE_VOLTAGE {cvl:.2} V is for {}, but the bank measures {v:.2} V ({}); correct the configuration and restart",
                        a.map_or("no 12, 24 or 48 V bank".into(), |n| format!("a {n} V bank")),
                        b.map_or("no 12, 24 or 48 V bank".into(), |n| format!("a {n} V bank"))
                    )),
                });
                match &self.cvl_check {
                    Some(Err(e)) if !before => log::error!("{e}"),
                    Some(Ok(())) if before => log::info!("the bank's voltage now suits MAX_CHARGE_VOLTAGE: charging allowed"),
                    _ => {}
                }
            }
        }
        match &self.cvl_check {
            Some(Err(text)) => Some(Cause { key: "bank cvl".into(), text: text.clone(), member: None, latching: false }),
            _ => None,
        }
    }

    /// The causes members keep while offline (remembering the present ones).
    pub(super) fn keep(&mut self, charge: bool, members: &[Member], causes: &[Cause]) -> Vec<Cause> {
        let mut out = Vec::new();
        self.kept.retain(|(c, id), _| *c != charge || members.iter().any(|m| m.id == id));
        for m in members {
            let own: Vec<Cause> = causes.iter().filter(|c| c.member.as_deref() == Some(m.id)).cloned().collect();
            let key = (charge, m.id.to_owned());
            if m.presence == Presence::Online || !own.is_empty() {
                if own.is_empty() {
                    self.kept.remove(&key);
                } else {
                    self.kept.insert(key, own);
                }
            } else if let Some(kept) = self.kept.get(&key) {
                out.extend(kept.iter().map(|c| Cause { text: format!("{} (kept while it is offline)", c.text), ..c.clone() }));
            }
        }
        out
    }

    /// Latches the latching discharge causes; releases them once the bank charges or its SoC
    /// has risen enough. Returns the latched ones still held.
    pub(super) fn latch(&mut self, causes: &[Cause], bank: &BankState) -> Vec<Cause> {
        let charging = bank.current.is_some_and(|c| c >= LATCH_RELEASE_CURRENT);
        let risen = |l: &Latch| matches!((l.soc, bank.soc), (Some(a), Some(b)) if b >= a + LATCH_RELEASE_SOC);
        self.latches.retain(|key, l| {
            let release = charging || risen(l);
            if release {
                log::warn!("discharge stop released ({key}): the bank is charging or its SoC has risen");
            }
            !release
        });
        for c in causes.iter().filter(|c| c.latching) {
            self.latches.entry(c.key.clone()).or_insert_with(|| Latch { cause: c.clone(), soc: bank.soc });
        }
        self.latches
            .values()
            .filter(|l| !causes.iter().any(|c| c.key == l.cause.key))
            .map(|l| Cause {
                text: format!("{} (kept until the bank charges or its SoC rises {LATCH_RELEASE_SOC:.0} %)", l.cause.text),
                ..l.cause.clone()
            })
            .collect()
    }

    /// The CVL to leave behind at shutdown: lowered as for a charge block unless feed-in is
    /// known to be off.
    pub fn shutdown_voltage(&self) -> f64 {
        let cvl = self.charger.voltage();
        match (self.feed_in, self.block_voltage.or(self.last_voltage)) {
            (Some(false), _) | (_, None) => cvl,
            (_, Some(v)) => (v - FEED_IN_CVL_DROP).min(cvl),
        }
    }

    /// The CVL: the configured one, or while charging is blocked (and feed-in is on or not
    /// known) frozen below the bank's voltage at the start of the block.
    pub(super) fn charge_voltage(&mut self, cvl: f64, charging: bool, text: &mut String) -> f64 {
        if charging || self.feed_in == Some(false) {
            self.block_voltage = None;
            self.sag_warned = false;
            return cvl;
        }
        if self.block_voltage.is_none() {
            self.block_voltage = self.last_voltage;
        }
        match self.block_voltage {
            Some(v) => {
                let lowered = (v - FEED_IN_CVL_DROP).min(cvl);
                text.push_str(&format!("; CVL lowered to {lowered:.2} V so solar chargers under ESS feed-in stop too"));
                // DVCC may tell them up to CVL + 0.4 V: once the bank sags below that, they
                // may charge it again, and no CVL can stop them without letting ESS feed the
                // battery into the grid.
                let target = lowered + FEED_IN_CVL_DROP - 0.1;
                if self.last_voltage.is_some_and(|now| now < target - 0.02) && self.feed_in == Some(true) {
                    let now = self.last_voltage.unwrap_or(v);
                    text.push_str(&format!(
                        "; WARNING: the bank ({now:.2} V) is below the solar chargers' target ({target:.2} V) under ESS feed-in, so they may charge it: turn off feed-in of DC-coupled PV while it can be this cold"
                    ));
                    if !self.sag_warned {
                        self.sag_warned = true;
                        log::warn!(
                            "ESS feed-in: the bank sagged to {now:.2} V, below the solar chargers' {target:.2} V: the charge stop may not hold for them"
                        );
                    }
                }
                lowered
            }
            None => {
                text.push_str("; ESS feed-in may still let solar chargers charge: no bank voltage to lower CVL from");
                cvl
            }
        }
    }
}
