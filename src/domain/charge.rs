//! The charge stages of the virtual BMS: bulk and absorption at MAX_CHARGE_VOLTAGE, float at
//! FLOAT_VOLTAGE, and re-bulk (pure; the clocks are arguments).
//!
//! * Absorption starts once the bank voltage is within [`ABSORPTION_MARGIN_PER_CELL`] of the
//!   CVL. It ends when, with the bank at the CVL, every online member's current has stayed within
//!   ±TAIL_CURRENT (a fraction of its own capacity per hour; charging gently, not discharging)
//!   for TAIL_TIME and absorption has lasted
//!   MIN_ABSORPTION_TIME, or after MAX_ABSORPTION_TIME whatever the current. A member of unknown
//!   capacity blocks the tail test (only the cap ends absorption then; the log says why).
//! * Float: the CVL steps down by [`CVL_STEP_PER_CELL`] a second, never below the bank voltage
//!   minus [`FLOOR_MARGIN_PER_CELL`], so the step does not dump energy into the loads or the grid.
//! * Re-bulk when the bank SoC falls to REBULK_SOC, or the bank voltage stays below
//!   REBULK_VOLTAGE for [`REBULK_VOLTAGE_TIME`], or REBULK_DAYS after the last completed
//!   absorption. Never because the current is near zero.
//! * Without FLOAT_VOLTAGE the CVL stays at MAX_CHARGE_VOLTAGE (bulk and absorption only).
//! * The stage and the time of the last completed absorption are kept in localsettings
//!   ([`Charger::saved`]), so a restart in float stays in float.

pub mod table;

use std::time::{Duration, Instant};

use crate::domain::aggregate::{Member, Presence};
use crate::domain::paths::Q;

/// Absorption starts within this of the CVL, per cell (0.1 V on a 12 V bank).
pub const ABSORPTION_MARGIN_PER_CELL: f64 = 0.025;
/// The CVL falls to float at most this fast, per cell and second (4 mV/s on 12 V).
pub const CVL_STEP_PER_CELL: f64 = 0.001;
/// ...and never below the bank voltage minus this, per cell.
pub const FLOOR_MARGIN_PER_CELL: f64 = 0.025;
/// Wall-clock times before this (2023-11-14) are a clock not yet set: not recorded, and no
/// re-bulk by age is judged on them.
pub const SANE_WALL: u64 = 1_700_000_000;
/// The bank voltage must stay below REBULK_VOLTAGE this long.
pub const REBULK_VOLTAGE_TIME: Duration = Duration::from_secs(60);

/// The charge-stage settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stages {
    pub max_voltage: f64,
    pub float_voltage: Option<f64>,
    /// Fraction of a member's capacity per hour (0.02 = 2 A for 100 Ah).
    pub tail_current: f64,
    pub tail_time: Duration,
    pub min_absorption: Duration,
    pub max_absorption: Duration,
    pub rebulk_soc: f64,
    pub rebulk_voltage: Option<f64>,
    /// 0: never by age.
    pub rebulk_days: u32,
    /// LiFePO4 cells in series (4 for 12 V).
    pub cells: f64,
}

impl Stages {
    /// The tail current (A) of a battery of `capacity` Ah.
    pub fn tail(&self, capacity: f64) -> f64 {
        capacity * self.tail_current
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Bulk,
    Absorption,
    Float,
}

impl Stage {
    fn word(self) -> &'static str {
        match self {
            Stage::Bulk => "bulk",
            Stage::Absorption => "absorption",
            Stage::Float => "float",
        }
    }
}

/// What the stage machine decided this step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub stage: Stage,
    /// The CVL, ramped.
    pub voltage: f64,
    /// `/Info/ChargeMode`.
    pub mode: String,
}

#[derive(Debug, Clone)]
pub struct Charger {
    s: Stages,
    stage: Stage,
    /// When the stage began (`None` until the first step).
    since: Option<Instant>,
    tail_since: Option<Instant>,
    low_since: Option<Instant>,
    cvl: f64,
    last: Option<Instant>,
    /// Unix time of the last completed absorption.
    last_full: Option<u64>,
    rebulk: Option<String>,
    logged_unknown: bool,
    dirty: bool,
}

impl Charger {
    /// A charger in bulk, or in the stage `saved` (from [`Charger::saved`]) holds.
    /// New thresholds (a value changed from the GUI); the stage and its timers stay.
    pub fn set_stages(&mut self, s: Stages) {
        self.s = s;
    }

    pub fn new(s: Stages, saved: &str) -> Charger {
        let mut c = Charger {
            s,
            stage: Stage::Bulk,
            since: None,
            tail_since: None,
            low_since: None,
            cvl: s.max_voltage,
            last: None,
            last_full: None,
            rebulk: None,
            logged_unknown: false,
            dirty: false,
        };
        let mut parts = saved.split(';');
        let stage = match parts.next() {
            Some("float") if s.float_voltage.is_some() => Stage::Float,
            Some("absorption") => Stage::Absorption,
            _ => Stage::Bulk,
        };
        c.last_full = parts.next().and_then(|t| t.parse().ok());
        c.stage = stage;
        if stage == Stage::Float {
            c.cvl = s.float_voltage.unwrap_or(s.max_voltage);
        }
        c
    }

    /// The state to keep across a restart: `stage;last_full_unix`.
    pub fn saved(&self) -> String {
        format!("{};{}", self.stage.word(), self.last_full.map(|t| t.to_string()).unwrap_or_default())
    }

    /// True once after the saved state changed.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The CVL the stage set last.
    pub fn voltage(&self) -> f64 {
        self.cvl
    }

    fn enter(&mut self, stage: Stage, now: Instant, why: &str) {
        log::info!("charge stage: {} -> {} ({why})", self.stage.word(), stage.word());
        self.stage = stage;
        self.since = Some(now);
        self.tail_since = None;
        self.low_since = None;
        self.dirty = true;
    }

    /// The tail test: every online member at or below its tail current (None: a member's
    /// capacity is unknown, so the test cannot pass).
    fn at_tail(&mut self, members: &[Member]) -> Option<bool> {
        let online: Vec<&Member> = members.iter().filter(|m| m.presence == Presence::Online).collect();
        if let Some(m) = online.iter().find(|m| m.capacity.filter(|c| *c > 0.0).is_none()) {
            if !self.logged_unknown {
                self.logged_unknown = true;
                log::warn!("{}'s capacity is unknown: the tail-current test cannot end absorption, MAX_ABSORPTION_TIME will", m.name);
            }
            return None;
        }
        let tail = |m: &Member| self.s.tail(m.capacity.unwrap_or(0.0));
        // At tail: charging no more than the tail current (a little noise either side), not
        // discharging into loads.
        Some(!online.is_empty() && online.iter().all(|m| m.values[Q::Current as usize].is_some_and(|i| (-tail(m)..=tail(m)).contains(&i))))
    }

    /// One step: `voltage` and `soc` are the bank's (online members), `wall` the Unix time.
    pub fn step(&mut self, members: &[Member], voltage: Option<f64>, soc: Option<f64>, now: Instant, wall: u64) -> Step {
        let s = self.s;
        let first = self.last.is_none();
        let dt = self.last.map_or(0.0, |l| now.saturating_duration_since(l).as_secs_f64());
        self.last = Some(now);
        let in_stage = now.saturating_duration_since(*self.since.get_or_insert(now));
        match self.stage {
            Stage::Bulk => {
                if voltage.is_some_and(|v| v >= s.max_voltage - ABSORPTION_MARGIN_PER_CELL * s.cells) {
                    self.enter(Stage::Absorption, now, "the bank reached the charge voltage");
                }
            }
            Stage::Absorption => {
                let at_cvl = voltage.is_some_and(|v| v >= s.max_voltage - ABSORPTION_MARGIN_PER_CELL * s.cells);
                let tail = self.at_tail(members).filter(|_| at_cvl);
                self.tail_since = if tail == Some(true) { self.tail_since.or(Some(now)) } else { None };
                let tail_done = self.tail_since.is_some_and(|t| now.saturating_duration_since(t) >= s.tail_time) && in_stage >= s.min_absorption;
                let capped = in_stage >= s.max_absorption;
                if tail_done || capped {
                    // A clock that is not set yet (before NTP) is not recorded.
                    self.last_full = (wall >= SANE_WALL).then_some(wall).or(self.last_full);
                    self.dirty = true;
                    let why = if tail_done { "tail current reached" } else { "MAX_ABSORPTION_TIME" };
                    if s.float_voltage.is_some() {
                        self.rebulk = None;
                        self.enter(Stage::Float, now, why);
                    } else {
                        // No float stage: absorption restarts its clock and the CVL stays.
                        self.since = Some(now);
                    }
                }
            }
            Stage::Float => {
                let low = s.rebulk_voltage.zip(voltage).is_some_and(|(r, v)| v < r);
                self.low_since = if low { self.low_since.or(Some(now)) } else { None };
                let why = if let Some(x) = soc.filter(|x| *x <= s.rebulk_soc) {
                    Some(format!("SoC {x:.0} % ≤ {:.0} %", s.rebulk_soc))
                } else if self.low_since.is_some_and(|t| now.saturating_duration_since(t) >= REBULK_VOLTAGE_TIME) {
                    Some(format!("below {:.2} V for {} s", s.rebulk_voltage.unwrap_or(0.0), REBULK_VOLTAGE_TIME.as_secs()))
                } else if s.rebulk_days > 0
                    && wall >= SANE_WALL
                    && self.last_full.is_some_and(|t| wall.saturating_sub(t) >= u64::from(s.rebulk_days) * 86_400)
                {
                    Some(format!("{} days since the last full charge", s.rebulk_days))
                } else {
                    None
                };
                if let Some(why) = why {
                    self.enter(Stage::Bulk, now, &format!("re-bulk: {why}"));
                    self.rebulk = Some(why);
                }
            }
        }
        self.cvl = match (self.stage, s.float_voltage) {
            (Stage::Float, Some(float)) => {
                let floor = voltage.map_or(float, |v| v - FLOOR_MARGIN_PER_CELL * s.cells);
                if first {
                    // Restarted in float: no surprise re-absorption, and no step below the bank.
                    floor.max(float).min(s.max_voltage)
                } else {
                    let stepped = self.cvl - CVL_STEP_PER_CELL * s.cells * dt;
                    stepped.max(floor).min(self.cvl).max(float)
                }
            }
            _ => s.max_voltage,
        };
        Step { stage: self.stage, voltage: self.cvl, mode: self.mode(now) }
    }

    fn mode(&self, now: Instant) -> String {
        let minutes = self.since.map_or(0, |s| now.saturating_duration_since(s).as_secs() / 60);
        match (self.stage, &self.rebulk) {
            (Stage::Bulk, Some(why)) => format!("Re-bulk: {why}"),
            (Stage::Bulk, None) => "Bulk".into(),
            (Stage::Absorption, _) => format!("Absorption {minutes} min"),
            (Stage::Float, _) if self.s.float_voltage.is_some_and(|f| self.cvl > f + 1e-6) => format!("Float (lowering CVL, now {:.2} V)", self.cvl),
            (Stage::Float, _) => "Float".into(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
