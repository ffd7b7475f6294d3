//! Virtual-BMS charge limits: what DVCC is told, and why (pure; the clock is an argument).
//!
//! systemcalc treats a battery service as the BMS exactly while `/Info/MaxChargeVoltage` is
//! valid, and it never reads `/Io/AllowTo*`: the only way to stop charging is
//! `/Info/MaxChargeCurrent = 0`, and discharging `/Info/MaxDischargeCurrent = 0`
//! (shared/docs/venus-platform.md §4). So in this mode:
//! * CVL is MAX_CHARGE_VOLTAGE, always valid; CCL and DCL are always valid numbers.
//! * CCL = MAX_CHARGE_CURRENT × the share of the bank's capacity that is online and in the
//!   circuit; DCL likewise with MAX_DISCHARGE_CURRENT. When one of two equal batteries drops
//!   out (or its own protection opens, see `bank::circuit`) the other one gets half, not the
//!   whole bank's current. The bank is what localsettings remembers, so this holds across a
//!   restart too. A share that falls applies at once; one that rises (a member back, a new
//!   one) ramps over BMS_RAMP_TIME, except for the members found at start-up.
//! * Charging stops while any member raises HighVoltage or HighTemperature, or is colder than
//!   TEMP_COLD_DANGER (lithium plating) or hotter than TEMP_HOT_DANGER, each by its own sensor.
//! * Discharging stops while any member raises LowVoltage or LowSoc, or is colder than
//!   TEMP_DISCHARGE_COLD.
//! * Stale data: charging stops at once when no member is online (fresh); discharging goes on
//!   with the held members' share through the grace period, because a VRM firmware check pauses
//!   every VE.Direct device for minutes and cutting the inverter then would black out the
//!   loads; once the members are lost the discharge share is 0.
//! * No flapping: a blocked direction re-opens only when its cause is clear by BMS_TEMP_MARGIN
//!   (alarms: back to 0) and has stayed clear for BMS_HOLD_TIME; then its current ramps from 0
//!   over BMS_RAMP_TIME.
//! * `/Info/ChargeLimitation` and `/Info/DischargeLimitation` say which rule and which member set
//!   the limit; a change of cause is logged once.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::domain::aggregate::{Member, Presence, present_share};
use crate::domain::paths::Q;

/// The configured limits and thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub charge_voltage: f64,
    pub charge_current: f64,
    pub discharge_current: f64,
    pub temp_cold: f64,
    pub temp_hot: f64,
    pub temp_discharge_cold: f64,
    pub margin: f64,
    pub hold: Duration,
    pub ramp: Duration,
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
            margin: cfg.bms_temp_margin,
            hold: cfg.bms_hold_time,
            ramp: cfg.bms_ramp_time,
        }
    }
}

/// Why a direction is blocked: `key` identifies the rule and member (for logging once),
/// `text` is what the GUI shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub key: String,
    pub text: String,
}

fn cause(rule: &str, name: &str, text: String) -> Cause {
    Cause { key: format!("{rule} {name}"), text }
}

/// The members whose (possibly held) values count for the blocking rules.
fn counted<'a>(members: &'a [Member<'a>]) -> impl Iterator<Item = &'a Member<'a>> {
    members.iter().filter(|m| m.presence != Presence::Lost)
}

fn alarm(m: &Member, q: Q) -> bool {
    m.values[q as usize].is_some_and(|a| a > 0.0)
}

/// Charge-blocking causes, one per blocking member; `margin` > 0 tests whether the causes
/// have cleared by that margin.
pub fn charge_causes(members: &[Member], l: &Limits, margin: f64) -> Vec<Cause> {
    let mut out = Vec::new();
    if !members.iter().any(|m| m.presence == Presence::Online) {
        let why = if members.is_empty() { "no SmartShunt found" } else { "no fresh data from any member" };
        out.push(cause("stale", "", format!("Charging stopped: {why}")));
        return out;
    }
    for m in counted(members) {
        let t = m.values[Q::Temperature as usize];
        if alarm(m, Q::AlarmHighVoltage) {
            out.push(cause("hv", m.name, format!("{} high-voltage alarm", m.name)));
        } else if alarm(m, Q::AlarmHighTemperature) {
            out.push(cause("ht", m.name, format!("{} high-temperature alarm", m.name)));
        } else if let Some(t) = t.filter(|t| *t < l.temp_cold + margin) {
            out.push(cause("cold", m.name, format!("{} too cold to charge ({t:.1} °C < {:.1} °C)", m.name, l.temp_cold + margin)));
        } else if let Some(t) = t.filter(|t| *t > l.temp_hot - margin) {
            out.push(cause("hot", m.name, format!("{} too hot to charge ({t:.1} °C > {:.1} °C)", m.name, l.temp_hot - margin)));
        }
    }
    out
}

/// Discharge-blocking causes, as [`charge_causes`].
pub fn discharge_causes(members: &[Member], l: &Limits, margin: f64) -> Vec<Cause> {
    let mut out = Vec::new();
    if counted(members).next().is_none() {
        let why = if members.is_empty() { "no SmartShunt found" } else { "every member lost" };
        out.push(cause("stale", "", format!("Discharging stopped: {why}")));
        return out;
    }
    for m in counted(members) {
        let t = m.values[Q::Temperature as usize];
        if alarm(m, Q::AlarmLowVoltage) {
            out.push(cause("lv", m.name, format!("{} low-voltage alarm", m.name)));
        } else if alarm(m, Q::AlarmLowSoc) {
            out.push(cause("ls", m.name, format!("{} low-SoC alarm", m.name)));
        } else if let Some(t) = t.filter(|t| *t < l.temp_discharge_cold + margin) {
            out.push(cause("cold", m.name, format!("{} too cold to discharge ({t:.1} °C < {:.1} °C)", m.name, l.temp_discharge_cold + margin)));
        }
    }
    out
}

/// One direction's gate: open, blocked, waiting out the hold time, or ramping up.
#[derive(Debug, Clone, PartialEq)]
enum Gate {
    /// Nothing decided yet: the first clear step ramps up without the hold time.
    Start,
    Open,
    Blocked,
    Clearing {
        since: Instant,
    },
    Ramping {
        since: Instant,
    },
}

#[derive(Debug, Clone)]
struct Direction {
    label: &'static str,
    gate: Gate,
    logged: String,
}

impl Direction {
    fn new(label: &'static str) -> Self {
        Direction { label, gate: Gate::Start, logged: String::new() }
    }

    /// Advances the gate; returns the factor (0..=1) applied to the limit and the cause text.
    fn step(&mut self, now: Instant, hold: Duration, ramp: Duration, enter: &[Cause], lingering: &[Cause]) -> (f64, Option<String>) {
        if let Some(c) = enter.first() {
            self.gate = Gate::Blocked;
            self.log(&c.key, &format!("{} blocked: {}", self.label, c.text));
            return (0.0, Some(c.text.clone()));
        }
        if let Some(c) = lingering.first() {
            if self.gate != Gate::Open && !matches!(self.gate, Gate::Ramping { .. }) {
                self.gate = Gate::Blocked;
                return (0.0, Some(format!("{} (not yet clear by the margin)", c.text)));
            }
        }
        match self.gate {
            Gate::Blocked => self.gate = Gate::Clearing { since: now },
            Gate::Start => self.gate = Gate::Ramping { since: now },
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

/// The policy's state: the two gates.
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
}

/// The share of the bank that is online (fresh) and in the circuit, by capacity when known,
/// else by count.
pub fn online_share(members: &[Member]) -> f64 {
    let as_present: Vec<Member> = members
        .iter()
        .map(|m| Member { presence: if m.presence == Presence::Online && m.in_circuit { Presence::Online } else { Presence::Lost }, ..*m })
        .collect();
    present_share(&as_present)
}

fn describe(share: f64, members: &[Member], limit: f64, online_only: bool) -> String {
    let n = members.len();
    let k =
        members.iter().filter(|m| m.in_circuit && if online_only { m.presence == Presence::Online } else { m.presence != Presence::Lost }).count();
    let out: Vec<&str> = members.iter().filter(|m| m.presence == Presence::Online && !m.in_circuit).map(|m| m.name).collect();
    let mut text = if share >= 1.0 - 1e-9 {
        format!("Configured limit {limit:.0} A")
    } else {
        format!("{k} of {n} members present: {:.0} % of {limit:.0} A", share * 100.0)
    };
    if !out.is_empty() {
        text.push_str(&format!(" ({} carries no current: out of the circuit)", out.join(", ")));
    }
    text
}

/// The share a direction's limit is scaled by: a share that falls applies at once, one that
/// rises (a member back, or a new one) ramps over BMS_RAMP_TIME.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ShareRamp {
    from: f64,
    to: f64,
    since: Option<Instant>,
}

impl ShareRamp {
    const SETTLED: ShareRamp = ShareRamp { from: 0.0, to: 0.0, since: None };

    fn value(&self, now: Instant, ramp: Duration) -> f64 {
        match self.since {
            Some(since) if !ramp.is_zero() => {
                let f = (now.saturating_duration_since(since).as_secs_f64() / ramp.as_secs_f64()).min(1.0);
                self.from + (self.to - self.from) * f
            }
            _ => self.to,
        }
    }

    /// The share to apply now for `target`; `at_once` (at start-up) skips the ramp.
    fn step(&mut self, target: f64, now: Instant, ramp: Duration, at_once: bool) -> f64 {
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

fn ramping_text(applied: f64, target: f64, members: &[Member], limit: f64) -> String {
    let k = members.iter().filter(|m| m.presence == Presence::Online && m.in_circuit).count();
    format!("Ramping up: {k} of {} members present, {:.0} % of {limit:.0} A (rising to {:.0} %)", members.len(), applied * 100.0, target * 100.0)
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

    /// Decides the limits for the members' present state.
    pub fn decide(&mut self, members: &[Member], now: Instant) -> Decision {
        let l = self.limits;
        let (c_enter, c_linger) = (charge_causes(members, &l, 0.0), charge_causes(members, &l, l.margin));
        let (d_enter, d_linger) = (discharge_causes(members, &l, 0.0), discharge_causes(members, &l, l.margin));
        let (cf, ctext) = self.charge.step(now, l.hold, l.ramp, &c_enter, &c_linger);
        let (df, dtext) = self.discharge.step(now, l.hold, l.ramp, &d_enter, &d_linger);
        let c_target = online_share(members);
        // While no member is fresh, discharge keeps the held members' share (see module doc).
        let d_target = if members.iter().any(|m| m.presence == Presence::Online) { c_target } else { present_share(members) };
        let at_once = !self.settled;
        let c_share = self.charge_share.step(c_target, now, l.ramp, at_once);
        let d_share = self.discharge_share.step(d_target, now, l.ramp, at_once);
        let text = |applied: f64, target: f64, limit: f64, online_only: bool| {
            if applied < target - 1e-9 { ramping_text(applied, target, members, limit) } else { describe(target, members, limit, online_only) }
        };
        let mut charge_text = ctext.unwrap_or_else(|| text(c_share, c_target, l.charge_current, true));
        if let Some(note) = &self.note {
            charge_text.push_str("; ");
            charge_text.push_str(note);
        }
        Decision {
            charge_voltage: l.charge_voltage,
            charge_current: l.charge_current * c_share * cf,
            discharge_current: l.discharge_current * d_share * df,
            charge_text,
            discharge_text: dtext.unwrap_or_else(|| text(d_share, d_target, l.discharge_current, d_target == c_target)),
            blocking_charge: c_enter.iter().filter(|c| !c.key.starts_with("stale")).count(),
            blocking_discharge: d_enter.iter().filter(|c| !c.key.starts_with("stale")).count(),
        }
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
        }
    }
}

#[cfg(test)]
mod tests;
