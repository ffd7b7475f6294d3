//! Tapered limits: the charge current by each sensor's temperature and by the bank's SoC near
//! full, the discharge current by SoC near empty and by the bank voltage under load. Each
//! factor below 1 is named in the limitation text.

use super::Limits;
use super::rules::{BankState, counted};
use crate::domain::aggregate::{Member, Presence};
use crate::domain::paths::Q;

/// A factor (0..=1) and why it is below 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    pub value: f64,
    pub why: Option<String>,
}

impl Factor {
    const ONE: Factor = Factor { value: 1.0, why: None };

    fn of(value: f64, why: impl FnOnce() -> String) -> Factor {
        // Named from 0.995 down, where it shows as 0.99 or less.
        if value < 0.995 { Factor { value, why: Some(why()) } } else { Factor { value, why: None } }
    }

    /// " × 0.50 (why)", or "" at 1.
    pub fn text(&self) -> String {
        self.why.as_ref().map(|w| format!(" × {:.2} ({w})", self.value)).unwrap_or_default()
    }
}

/// The smallest temperature factor over the members' sensors.
pub fn charge_temperature(members: &[Member], l: &Limits) -> Factor {
    counted(members)
        .filter_map(|m| Some((m.name, m.values[Q::Temperature as usize]?)))
        .map(|(name, t)| Factor::of(l.tapers.charge_temp.at(t), || format!("{name} at {t:.1} °C")))
        .min_by(|a, b| a.value.total_cmp(&b.value))
        .unwrap_or(Factor::ONE)
}

/// The SoC factor near full, never below `floor` (twice the bank's tail current over the
/// limit, so the tail test measures the battery, not our limit).
pub fn charge_soc(bank: &BankState, l: &Limits, floor: f64) -> Factor {
    match bank.soc {
        Some(soc) => Factor::of(l.tapers.charge_soc.at(soc).max(floor.min(1.0)), || format!("SoC {soc:.0} %")),
        None => Factor::ONE,
    }
}

/// The bank's tail current (A): the online members' capacities × TAIL_CURRENT.
pub fn tail_current(members: &[Member], l: &Limits) -> f64 {
    l.stages.tail(members.iter().filter(|m| m.presence == Presence::Online).filter_map(|m| m.capacity).sum::<f64>())
}

/// The discharge factors: SoC near empty, and the bank voltage per cell under load (its 0 is
/// a latched stop in `rules`).
pub fn discharge(bank: &BankState, l: &Limits) -> [Factor; 2] {
    let soc = bank.soc.map_or(Factor::ONE, |s| Factor::of(l.tapers.discharge_soc.at(s), || format!("SoC {s:.0} %")));
    let cells = l.stages.cells;
    let volts = bank.lowest_voltage.map_or(Factor::ONE, |v| {
        let per_cell = v / cells;
        Factor::of(l.tapers.discharge_voltage.at(per_cell), || format!("{v:.2} V under load, {per_cell:.2} V per cell"))
    });
    [soc, volts]
}
