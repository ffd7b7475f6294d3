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

mod carry;
mod gate;
mod rules;
mod share;
mod taper;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::domain::aggregate::{Member, Presence};
use crate::domain::charge::table::Table;
use crate::domain::charge::{Charger, Stages};
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
    /// The charge stages (`charge`).
    pub stages: Stages,
    /// The charge and the discharge current maxima were set in the GUI (said in the texts).
    pub set_in_gui: [bool; 2],
    pub tapers: Tapers,
}

/// The taper tables (`taper`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tapers {
    pub charge_temp: Table,
    pub charge_soc: Table,
    pub discharge_soc: Table,
    /// By the lowest online member voltage per cell.
    pub discharge_voltage: Table,
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
            stages: Stages {
                max_voltage: cfg.max_charge_voltage.unwrap_or(0.0),
                float_voltage: cfg.float_voltage,
                tail_current: cfg.tail_current,
                tail_time: cfg.tail_time,
                min_absorption: cfg.min_absorption_time,
                max_absorption: cfg.max_absorption_time,
                rebulk_soc: cfg.rebulk_soc,
                rebulk_voltage: cfg.rebulk_voltage,
                rebulk_days: cfg.rebulk_days,
                cells: cells_of(cfg.max_charge_voltage.unwrap_or(0.0)),
            },
            set_in_gui: [false; 2],
            tapers: Tapers {
                charge_temp: cfg.charge_temp_table,
                charge_soc: cfg.charge_soc_table,
                discharge_soc: cfg.discharge_soc_table,
                discharge_voltage: cfg.discharge_voltage_table,
            },
        }
    }
}

/// LiFePO4 cells in series for a charge voltage (4 when it implies no nominal voltage).
pub fn cells_of(cvl: f64) -> f64 {
    nominal(cvl).map_or(4.0, cells)
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
    /// The charge stage in words (`/Info/ChargeMode`).
    pub charge_mode: String,
}

/// A discharge stop that holds until the bank charges: the SoC when it began.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Latch {
    pub(super) cause: Cause,
    pub(super) soc: Option<f64>,
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
    /// The bank sagged below the solar chargers' target during this block (logged once).
    sag_warned: bool,
    last_voltage: Option<f64>,
    /// The CVL's plausibility against the bank's voltage, judged once at the first reading.
    cvl_check: Option<Result<(), String>>,
    charger: Charger,
    /// The members (ids) a cause of the last decision is about, kept and latched ones included.
    blockers: std::collections::BTreeSet<String>,
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
            sag_warned: false,
            last_voltage: None,
            cvl_check: None,
            charger: Charger::new(limits.stages, ""),
            blockers: Default::default(),
        }
    }

    /// New limits (a value changed from the GUI): everything the policy carries stays, so a
    /// stop in force holds, the stage and its timers go on.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        self.charger.set_stages(limits.stages);
    }

    /// Whether a protection of the last decision is about this member (its own alarm or
    /// temperature, or a block kept while it is offline).
    pub fn blocking(&self, id: &str) -> bool {
        self.blockers.contains(id)
    }

    /// Restores the charge stage kept in localsettings (`Charger::saved`).
    pub fn restore_charge(&mut self, saved: &str) {
        self.charger = Charger::new(self.limits.stages, saved);
        if self.charger.stage() != crate::domain::charge::Stage::Bulk {
            log::info!("charge stage restored: {saved}");
        }
    }

    /// The charge stage to keep, when it changed since the last call.
    pub fn charge_state(&mut self) -> Option<String> {
        self.charger.take_dirty().then(|| self.charger.saved())
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
            charge_mode: "Bulk".into(),
        }
    }

    /// Decides the limits for the members' present state (no wall clock: nothing re-bulks by
    /// age).
    pub fn decide(&mut self, members: &[Member], now: Instant) -> Decision {
        self.decide_at(members, now, 0)
    }

    /// Decides the limits; `wall` is the Unix time (for REBULK_DAYS).
    pub fn decide_at(&mut self, members: &[Member], now: Instant, wall: u64) -> Decision {
        let l = self.limits;
        let bank = BankState::of(members);
        if bank.mean_voltage.is_some() {
            self.last_voltage = bank.mean_voltage;
        }
        let stage = self.charger.step(members, bank.mean_voltage, bank.soc, now, wall);
        // The over-voltage rule follows the CVL the stage sets (float included).
        let staged = Limits { charge_voltage: stage.voltage, ..l };
        let (mut c_enter, mut c_linger) = (rules::charge(members, &staged, &bank, false), rules::charge(members, &staged, &bank, true));
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
        self.blockers = c_linger.iter().chain(&d_linger).filter_map(|c| c.member.clone()).collect();

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
        let text = |applied: f64, target: f64, limit: f64, online_only: bool, gui: bool| {
            if applied < target - 1e-9 { ramping_text(applied, target, members, limit) } else { describe(target, members, limit, online_only, gui) }
        };
        // Tapers, each named when below 1.
        let tail_floor = if l.charge_current * c_share > 0.0 { 2.0 * taper::tail_current(members, &l) / (l.charge_current * c_share) } else { 0.0 };
        let c_tapers = [taper::charge_temperature(members, &l), taper::charge_soc(&bank, &l, tail_floor)];
        let d_tapers = taper::discharge(&bank, &l);
        let c_taper = c_tapers.iter().map(|f| f.value).fold(1.0, f64::min);
        let d_taper = d_tapers.iter().map(|f| f.value).fold(1.0, f64::min);
        let named = |fs: &[taper::Factor]| fs.iter().map(taper::Factor::text).collect::<String>();
        let mut charge_text = ctext.unwrap_or_else(|| text(c_share, c_target, l.charge_current, true, l.set_in_gui[0]) + &named(&c_tapers));
        // Any way CCL reaches 0 (a rule, no share in the circuit, a taper of 0) is a stop.
        let charge_current = l.charge_current * c_share * cf * c_taper;
        let charge_voltage = self.charge_voltage(stage.voltage, charge_current > 0.0, &mut charge_text);
        if let Some(note) = &self.note {
            charge_text.push_str("; ");
            charge_text.push_str(note);
        }
        let protections: Vec<String> =
            c_enter.iter().map(|c| format!("charge: {}", c.text)).chain(d_enter.iter().map(|c| format!("discharge: {}", c.text))).collect();
        Decision {
            charge_voltage,
            charge_current,
            discharge_current: l.discharge_current * d_share * df * d_taper,
            charge_text,
            discharge_text: dtext
                .unwrap_or_else(|| text(d_share, d_target, l.discharge_current, d_target == c_target, l.set_in_gui[1]) + &named(&d_tapers)),
            blocking_charge: c_enter.iter().filter(|c| c.is_member()).count(),
            blocking_discharge: d_enter.iter().filter(|c| c.is_member()).count(),
            protections,
            risks: self.risks(&bank),
            charge_mode: stage.mode,
        }
    }
}

#[cfg(test)]
mod hazard_tests;
#[cfg(test)]
mod taper_tests;
#[cfg(test)]
mod tests;
