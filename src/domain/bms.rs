//! Virtual-BMS charge limits: what DVCC is told, and why (pure; the clock is an argument).
//!
//! systemcalc treats a battery service as the BMS exactly while `/Info/MaxChargeVoltage` is
//! valid, and it never reads `/Io/AllowTo*`: the only way to stop charging is
//! `/Info/MaxChargeCurrent = 0`, and discharging `/Info/MaxDischargeCurrent = 0`
//! (shared/docs/venus-platform.md §4). So in this mode:
//! * CVL is MAX_CHARGE_VOLTAGE, always valid; CCL and DCL are always valid numbers.
//! * CCL = MAX_CHARGE_CURRENT × the share of the bank's capacity that is online and in the
//!   circuit (`share`: an unknown capacity never enlarges it); DCL likewise. A share that falls
//!   applies at once; one that rises (a member back, a new one) ramps over BMS_RAMP_TIME,
//!   except at start-up and after a data gap.
//! * The blocking rules are in `rules`: alarms, temperatures by each member's own sensor (or
//!   the bank's coldest and hottest for a member without one), a sensor fault, a bank without
//!   any sensor, the bank voltage above the CVL or below MIN_BANK_VOLTAGE.
//! * A member that goes offline while it blocks keeps its block until it is back with a clear
//!   value, or is forgotten; a low-voltage or low-SoC discharge stop latches until the bank
//!   charges or its SoC has risen by [`LATCH_RELEASE_SOC`] points.
//! * Stale data: charging stops at once when no member is online (fresh); discharging goes on
//!   with the held members' share through the grace period, because a VRM firmware check pauses
//!   every VE.Direct device for minutes and cutting the inverter then would black out the
//!   loads; once the members are lost the discharge share is 0.
//! * No flapping: a blocked direction re-opens only when its cause is clear by its margin and
//!   has stayed clear for BMS_HOLD_TIME; then its current ramps from 0 over BMS_RAMP_TIME
//!   (`gate`). After a start or a data gap nothing is held or ramped.
//! * ESS feed-in of DC-coupled PV: DVCC then gives solar chargers their full current whatever
//!   CCL says (measured with systemcalc v2.256). While charging is blocked the CVL is therefore
//!   brought to [`FEED_IN_CVL_DROP`] below the bank's voltage at the start of the block (the
//!   0.4 V DVCC may add for solar chargers, and 0.1 V), frozen there, so they stop pushing
//!   current into the battery.
//! * `/Info/ChargeLimitation` and `/Info/DischargeLimitation` say which rule and which member set
//!   the limit; a change of cause is logged once.

mod gate;
mod rules;
mod share;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::domain::aggregate::{Member, Presence};
use gate::Direction;
pub use rules::{BankState, Cause, cells, min_bank_voltage, nominal};
use share::{ShareRamp, describe, ramping_text};
pub use share::{bank_share, online_share, present_share};

/// While charging is blocked with feed-in on (or unknown), the CVL is this far below the
/// bank's voltage at the start of the block.
pub const FEED_IN_CVL_DROP: f64 = 0.5;
/// A latched discharge stop is released once the bank charges with at least this current (A)...
pub const LATCH_RELEASE_CURRENT: f64 = 0.5;
/// ...or its SoC has risen by this many points since the stop.
pub const LATCH_RELEASE_SOC: f64 = 3.0;

/// The configured limits and thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub charge_voltage: f64,
    pub charge_current: f64,
    pub discharge_current: f64,
    pub temp_cold: f64,
    pub temp_hot: f64,
    pub temp_discharge_cold: f64,
    pub temp_discharge_hot: f64,
    pub margin: f64,
    pub hold: Duration,
    pub ramp: Duration,
    /// ACCEPT_NO_TEMPERATURE_SENSOR.
    pub accept_no_sensor: bool,
    /// MIN_BANK_VOLTAGE (`None`: 2.8 V per cell).
    pub min_bank_voltage: Option<f64>,
    /// TOTAL_CAPACITY: the bank's size for the share.
    pub total_capacity: Option<f64>,
}

impl Limits {
    /// The config loader guarantees the three limits in virtual-bms mode; should one ever be
    /// missing, 0 is the safe value.
    pub fn from_config(cfg: &Config) -> Limits {
        Limits {
            charge_voltage: cfg.max_charge_voltage.unwrap_or(0.0),
            charge_current: cfg.max_charge_current.unwrap_or(0.0),
            discharge_current: cfg.max_discharge_current.unwrap_or(0.0),
            temp_cold: cfg.temp_cold_danger,
            temp_hot: cfg.temp_hot_danger,
            temp_discharge_cold: cfg.temp_discharge_cold,
            temp_discharge_hot: cfg.temp_discharge_hot,
            margin: cfg.bms_temp_margin,
            hold: cfg.bms_hold_time,
            ramp: cfg.bms_ramp_time,
            accept_no_sensor: cfg.accept_no_temperature_sensor,
            min_bank_voltage: cfg.min_bank_voltage,
            total_capacity: cfg.total_capacity,
        }
    }
}

/// What one step decided, before it is turned into D-Bus values.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// CVL, V.
    pub charge_voltage: f64,
    pub charge_current: f64,
    pub discharge_current: f64,
    pub charge_text: String,
    pub discharge_text: String,
    pub blocking_charge: usize,
    pub blocking_discharge: usize,
    /// Every protection that acts now, in words (`status`).
    pub protections: Vec<String>,
    /// Every risk the configuration or the system accepts (`status`).
    pub risks: Vec<String>,
}

/// A discharge stop that holds until the bank charges: the SoC when it began.
#[derive(Debug, Clone, PartialEq)]
struct Latch {
    cause: Cause,
    soc: Option<f64>,
}

/// The policy's state: the two gates, the shares, and what outlives a single reading.
#[derive(Debug, Clone)]
pub struct Policy {
    limits: Limits,
    charge: Direction,
    discharge: Direction,
    charge_share: ShareRamp,
    discharge_share: ShareRamp,
    /// False until the daemon has registered: the members found at start-up are the bank, not
    /// joiners, so their shares apply at once.
    settled: bool,
    /// Appended to the charge limitation text (e.g. that the bank's members are not remembered).
    note: Option<String>,
    /// ESS "feed-in excess DC-coupled PV" (`None`: not known).
    feed_in: Option<bool>,
    /// The last causes of each member, by direction and member id, kept while it is offline.
    kept: BTreeMap<(bool, String), Vec<Cause>>,
    latches: BTreeMap<String, Latch>,
    /// The bank's voltage when the current charge block began (for the feed-in CVL).
    block_voltage: Option<f64>,
    last_voltage: Option<f64>,
    /// The CVL's plausibility against the bank's voltage, judged once at the first reading.
    cvl_check: Option<Result<(), String>>,
}

impl Policy {
    pub fn new(limits: Limits) -> Policy {
        Policy {
            limits,
            charge: Direction::new("charging"),
            discharge: Direction::new("discharging"),
            charge_share: ShareRamp::SETTLED,
            discharge_share: ShareRamp::SETTLED,
            settled: false,
            note: None,
            feed_in: None,
            kept: BTreeMap::new(),
            latches: BTreeMap::new(),
            block_voltage: None,
            last_voltage: None,
            cvl_check: None,
        }
    }

    /// From now on a share that rises ramps (called once the start-up members are in).
    pub fn settle(&mut self) {
        self.settled = true;
    }

    /// A remark appended to `/Info/ChargeLimitation` while it applies.
    pub fn set_note(&mut self, note: Option<String>) {
        self.note = note;
    }

    /// Whether ESS feeds excess DC-coupled PV into the grid (`None`: unknown).
    pub fn set_feed_in(&mut self, on: Option<bool>) {
        self.feed_in = on;
    }

    /// The decision before any member is known: a valid CVL (so systemcalc sees a BMS from
    /// the very first `GetItems`), charging and discharging stopped.
    pub fn initial(&self) -> Decision {
        Decision {
            charge_voltage: self.limits.charge_voltage,
            charge_current: 0.0,
            discharge_current: 0.0,
            charge_text: "Charging stopped: waiting for SmartShunt data".into(),
            discharge_text: "Discharging stopped: waiting for SmartShunt data".into(),
            blocking_charge: 0,
            blocking_discharge: 0,
            protections: vec!["waiting for SmartShunt data".into()],
            risks: self.risks(&BankState::default()),
        }
    }

    /// Risks accepted by configuration or imposed by the system.
    fn risks(&self, bank: &BankState) -> Vec<String> {
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
    fn check_cvl(&mut self, bank: &BankState) -> Option<Cause> {
        if self.cvl_check.is_none() {
            if let Some(v) = bank.mean_voltage {
                let cvl = self.limits.charge_voltage;
                self.cvl_check = Some(match (nominal(cvl), nominal(v)) {
                    (Some(a), Some(b)) if a == b => Ok(()),
                    (a, b) => Err(format!(
                        "Charging refused: MAX_CHARGE_VOLTAGE {cvl:.2} V is for {}, but the bank measures {v:.2} V ({}); correct the configuration and restart",
                        a.map_or("no 12, 24 or 48 V bank".into(), |n| format!("a {n} V bank")),
                        b.map_or("no 12, 24 or 48 V bank".into(), |n| format!("a {n} V bank"))
                    )),
                });
                if let Some(Err(e)) = &self.cvl_check {
                    log::error!("{e}");
                }
            }
        }
        match &self.cvl_check {
            Some(Err(text)) => Some(Cause { key: "bank cvl".into(), text: text.clone(), member: None, latching: false }),
            _ => None,
        }
    }

    /// The causes members keep while offline (remembering the present ones).
    fn keep(&mut self, charge: bool, members: &[Member], causes: &[Cause]) -> Vec<Cause> {
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
    fn latch(&mut self, causes: &[Cause], bank: &BankState) -> Vec<Cause> {
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

    /// Decides the limits for the members' present state.
    pub fn decide(&mut self, members: &[Member], now: Instant) -> Decision {
        let l = self.limits;
        let bank = BankState::of(members);
        if bank.mean_voltage.is_some() {
            self.last_voltage = bank.mean_voltage;
        }
        let (mut c_enter, mut c_linger) = (rules::charge(members, &l, &bank, false), rules::charge(members, &l, &bank, true));
        let (mut d_enter, mut d_linger) = (rules::discharge(members, &l, &bank, false), rules::discharge(members, &l, &bank, true));
        if let Some(c) = self.check_cvl(&bank) {
            c_enter.push(c.clone());
            c_linger.push(c);
        }
        // Kept and latched causes block, and must clear, like present ones.
        let kept = self.keep(true, members, &c_enter);
        c_enter.extend(kept.iter().cloned());
        c_linger.extend(kept);
        let mut kept = self.keep(false, members, &d_enter);
        kept.extend(self.latch(&d_enter, &bank));
        d_enter.extend(kept.iter().cloned());
        d_linger.extend(kept);

        let c_at_once = !self.settled || self.charge.opens_at_once();
        let d_at_once = !self.settled || self.discharge.opens_at_once();
        let (cf, ctext) = self.charge.step(now, l.hold, l.ramp, &c_enter, &c_linger);
        let (df, dtext) = self.discharge.step(now, l.hold, l.ramp, &d_enter, &d_linger);
        let c_target = online_share(members, l.total_capacity);
        // While no member is fresh, discharge keeps the held members' share (see module doc).
        let any_online = members.iter().any(|m| m.presence == Presence::Online);
        let d_target = if any_online { c_target } else { present_share(members, l.total_capacity) };
        let c_share = self.charge_share.step(c_target, now, l.ramp, c_at_once);
        let d_share = self.discharge_share.step(d_target, now, l.ramp, d_at_once);
        let text = |applied: f64, target: f64, limit: f64, online_only: bool| {
            if applied < target - 1e-9 { ramping_text(applied, target, members, limit) } else { describe(target, members, limit, online_only) }
        };
        let mut charge_text = ctext.unwrap_or_else(|| text(c_share, c_target, l.charge_current, true));
        let charge_voltage = self.charge_voltage(cf, &mut charge_text);
        if let Some(note) = &self.note {
            charge_text.push_str("; ");
            charge_text.push_str(note);
        }
        let protections: Vec<String> =
            c_enter.iter().map(|c| format!("charge: {}", c.text)).chain(d_enter.iter().map(|c| format!("discharge: {}", c.text))).collect();
        Decision {
            charge_voltage,
            charge_current: l.charge_current * c_share * cf,
            discharge_current: l.discharge_current * d_share * df,
            charge_text,
            discharge_text: dtext.unwrap_or_else(|| text(d_share, d_target, l.discharge_current, d_target == c_target)),
            blocking_charge: c_enter.iter().filter(|c| c.is_member()).count(),
            blocking_discharge: d_enter.iter().filter(|c| c.is_member()).count(),
            protections,
            risks: self.risks(&bank),
        }
    }

    /// The CVL to leave behind at shutdown: lowered as for a charge block unless feed-in is
    /// known to be off.
    pub fn shutdown_voltage(&self) -> f64 {
        let cvl = self.limits.charge_voltage;
        match (self.feed_in, self.block_voltage.or(self.last_voltage)) {
            (Some(false), _) | (_, None) => cvl,
            (_, Some(v)) => (v - FEED_IN_CVL_DROP).min(cvl),
        }
    }

    /// The CVL: the configured one, or while charging is blocked (and feed-in is on or not
    /// known) frozen below the bank's voltage at the start of the block.
    fn charge_voltage(&mut self, charge_factor: f64, text: &mut String) -> f64 {
        let cvl = self.limits.charge_voltage;
        if charge_factor > 0.0 || self.feed_in == Some(false) {
            self.block_voltage = None;
            return cvl;
        }
        if self.block_voltage.is_none() {
            self.block_voltage = self.last_voltage;
        }
        match self.block_voltage {
            Some(v) => {
                let lowered = (v - FEED_IN_CVL_DROP).min(cvl);
                text.push_str(&format!("; CVL lowered to {lowered:.2} V so solar chargers under ESS feed-in stop too"));
                lowered
            }
            None => {
                text.push_str("; ESS feed-in may still let solar chargers charge: no bank voltage to lower CVL from");
                cvl
            }
        }
    }
}

#[cfg(test)]
mod hazard_tests;
#[cfg(test)]
mod tests;
