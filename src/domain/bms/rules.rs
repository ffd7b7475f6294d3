//! The blocking rules: which members (or which state of the whole bank) stop charging or
//! discharging, and why, in words. One table per direction; each rule has an entry threshold
//! and, when `lingering` is asked, the threshold it must be clear of to re-open (temperatures
//! by BMS_TEMP_MARGIN, the bank's voltage back to the CVL, alarms back to 0).

use super::Limits;
use crate::domain::aggregate::{self, Member, Presence};
use crate::domain::charge::FLOOR_MARGIN_PER_CELL;
use crate::domain::paths::{Q, Rule};

/// Why a direction is blocked: `key` identifies the rule and member (for logging once and for
/// keeping a block across a member's absence), `text` is what the GUI shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub key: String,
    pub text: String,
    /// The member it is about (its id), `None` for the bank as a whole.
    pub member: Option<String>,
    /// Latches (a discharge stop for low voltage or SoC) until the bank charges.
    pub latching: bool,
}

impl Cause {
    fn bank(rule: &str, text: String) -> Cause {
        Cause { key: format!("bank {rule}"), text, member: None, latching: false }
    }
    fn of(rule: &str, m: &Member, text: String) -> Cause {
        Cause { key: format!("{rule} {}", m.id), text, member: Some(m.id.to_owned()), latching: false }
    }
    fn latching(self) -> Cause {
        Cause { latching: true, ..self }
    }
    /// No fresh data: not a member's fault; clearing it re-opens at once.
    pub fn is_no_data(&self) -> bool {
        self.key == "bank stale"
    }
    /// Counted in `/System/NrOfModulesBlocking*`.
    pub fn is_member(&self) -> bool {
        self.member.is_some()
    }
}

/// The bank's state the rules look at, from its online members.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BankState {
    pub highest_voltage: Option<f64>,
    pub lowest_voltage: Option<f64>,
    pub mean_voltage: Option<f64>,
    /// A, positive = charging; `None` unless every online member reports one.
    pub current: Option<f64>,
    pub soc: Option<f64>,
    /// Coldest and hottest temperature of any counted member with a sensor.
    pub coldest: Option<(f64, usize)>,
    pub hottest: Option<(f64, usize)>,
    /// Some counted member has a temperature sensor (reading or not).
    pub any_sensor: bool,
}

fn get(m: &Member, q: Q) -> Option<f64> {
    m.values[q as usize]
}

fn alarm(m: &Member, q: Q) -> bool {
    get(m, q).is_some_and(|a| a > 0.0)
}

/// The members whose (possibly held) values count for the blocking rules.
pub(super) fn counted<'a>(members: &'a [Member<'a>]) -> impl Iterator<Item = &'a Member<'a>> {
    members.iter().filter(|m| m.presence != Presence::Lost)
}

/// A member has a temperature sensor when it says so or reports a temperature.
fn has_sensor(m: &Member) -> bool {
    get(m, Q::HasTemperature) == Some(1.0) || get(m, Q::Temperature).is_some()
}

impl BankState {
    pub fn of(members: &[Member]) -> BankState {
        let online: Vec<&Member> = members.iter().filter(|m| m.presence == Presence::Online).collect();
        let volts: Vec<f64> = online.iter().filter_map(|m| get(m, Q::Voltage)).collect();
        // Weighted as the published /Soc is (a member of unknown capacity weighs the mean).
        let weights = aggregate::weights(&online.iter().map(|m| m.capacity).collect::<Vec<_>>());
        let column: Vec<(Option<f64>, f64)> = online.iter().zip(&weights).map(|(m, w)| (get(m, Q::Soc), *w)).collect();
        let soc = aggregate::apply(Rule::WeightedMean, &column).map(|s| s.clamp(0.0, 100.0));
        let temps: Vec<(f64, usize)> = counted(members).enumerate().filter_map(|(i, m)| Some((get(m, Q::Temperature)?, i))).collect();
        BankState {
            highest_voltage: volts.iter().copied().reduce(f64::max),
            lowest_voltage: volts.iter().copied().reduce(f64::min),
            mean_voltage: (!volts.is_empty()).then(|| volts.iter().sum::<f64>() / volts.len() as f64),
            current: online.iter().map(|m| get(m, Q::Current)).sum::<Option<f64>>().filter(|_| !online.is_empty()),
            soc,
            coldest: temps.iter().copied().reduce(|a, b| if b.0 < a.0 { b } else { a }),
            hottest: temps.iter().copied().reduce(|a, b| if b.0 > a.0 { b } else { a }),
            any_sensor: counted(members).any(has_sensor),
        }
    }
}

/// The nominal voltage (12, 24 or 48 V) a bank voltage or a CVL belongs to.
pub fn nominal(v: f64) -> Option<u32> {
    match v {
        v if (9.0..=16.0).contains(&v) => Some(12),
        v if (18.0..=32.0).contains(&v) => Some(24),
        v if (36.0..=64.0).contains(&v) => Some(48),
        _ => None,
    }
}

/// LiFePO4 cells in series for a nominal voltage (4 per 12 V).
pub fn cells(nominal: u32) -> f64 {
    f64::from(nominal / 3)
}

/// Charging stops above CVL + this per cell.
pub const OVERVOLTAGE_PER_CELL: f64 = 0.05;
/// The built-in MIN_BANK_VOLTAGE per LiFePO4 cell.
pub const MIN_CELL_VOLTAGE: f64 = 2.8;

/// The bank voltage below which discharging stops: MIN_BANK_VOLTAGE, or 2.8 V per cell of the
/// nominal voltage the CVL implies.
pub fn min_bank_voltage(l: &Limits) -> Option<f64> {
    l.min_bank_voltage.or_else(|| nominal(l.charge_voltage).map(|n| MIN_CELL_VOLTAGE * cells(n)))
}

/// The temperature a member is judged by: its own sensor's, or (without a sensor) the bank's
/// coldest or hottest one, with the name of the member that measured it.
fn judged<'a>(m: &Member, counted: &[&'a Member<'a>], by: Option<(f64, usize)>, own: Option<f64>) -> Option<(f64, Option<&'a str>)> {
    if has_sensor(m) {
        return own.map(|t| (t, None));
    }
    by.map(|(t, i)| (t, Some(counted[i].name)))
}

fn by_text(who: Option<&str>) -> String {
    who.map(|n| format!(" (no sensor of its own; {n}'s)")).unwrap_or_default()
}

/// A shunt alarm that stops a direction: the quantity, the rule's key, its words, and
/// whether the stop latches until the bank charges.
type AlarmRule = (Q, &'static str, &'static str, bool);

/// The alarms that stop charging, in the order they are named.
const CHARGE_ALARMS: [AlarmRule; 4] = [
    (Q::AlarmHighVoltage, "hv", "high-voltage alarm", false),
    (Q::AlarmHighTemperature, "ht", "high-temperature alarm", false),
    (Q::AlarmLowTemperature, "lt", "low-temperature alarm", false),
    (Q::AlarmMidVoltage, "mid", "midpoint alarm (the bank is out of balance)", false),
];

/// The alarms that stop discharging.
const DISCHARGE_ALARMS: [AlarmRule; 3] = [
    (Q::AlarmLowVoltage, "lv", "low-voltage alarm", true),
    (Q::AlarmLowSoc, "ls", "low-SoC alarm", true),
    (Q::AlarmHighTemperature, "ht", "high-temperature alarm", false),
];

/// A member's own cause for a direction: its first raised alarm, a sensor fault (charging),
/// or a temperature outside `(cold, hot)` by its own sensor or the bank's.
fn member_cause(
    m: &Member,
    counted: &[&Member],
    bank: &BankState,
    alarms: &[AlarmRule],
    sensor_fault: bool,
    (cold, hot): (f64, f64),
    verb: &str,
) -> Option<Cause> {
    if let Some((_, rule, words, latching)) = alarms.iter().find(|(q, ..)| alarm(m, *q)) {
        let c = Cause::of(rule, m, format!("{} {words}", m.name));
        return Some(if *latching { c.latching() } else { c });
    }
    let own = get(m, Q::Temperature);
    if sensor_fault && get(m, Q::HasTemperature) == Some(1.0) && own.is_none() {
        return Some(Cause::of("sensor", m, format!("{} temperature sensor fault (no valid reading)", m.name)));
    }
    if let Some((t, who)) = judged(m, counted, bank.coldest, own).filter(|(t, _)| *t < cold) {
        return Some(Cause::of("cold", m, format!("{} too cold to {verb} ({t:.1} °C < {cold:.1} °C){}", m.name, by_text(who))));
    }
    let (t, who) = judged(m, counted, bank.hottest, own).filter(|(t, _)| *t > hot)?;
    Some(Cause::of("hot", m, format!("{} too hot to {verb} ({t:.1} °C > {hot:.1} °C){}", m.name, by_text(who))))
}

/// Charge-blocking causes. `lingering`: judged by the re-open thresholds.
pub fn charge(members: &[Member], l: &Limits, bank: &BankState, lingering: bool) -> Vec<Cause> {
    let mut out = Vec::new();
    if !members.iter().any(|m| m.presence == Presence::Online) {
        let why = if members.is_empty() { "no SmartShunt found" } else { "no fresh data from any member" };
        out.push(Cause::bank("stale", format!("Charging stopped: {why}")));
        // The held members' own causes still count: they are kept while the members are away.
    }
    let margin = if lingering { l.margin } else { 0.0 };
    let (cold, hot) = (l.temp_cold + margin, l.temp_hot - margin);
    let counted: Vec<&Member> = counted(members).collect();
    for m in &counted {
        let cause = member_cause(m, &counted, bank, &CHARGE_ALARMS, true, (cold, hot), "charge");
        out.extend(cause);
    }
    if !bank.any_sensor && !l.accept_no_sensor && !counted.is_empty() {
        let text = "Charging stopped: no temperature sensor in the bank, so nothing guards against charging below 0 °C \
                    (fit one to a shunt's aux input, or set ACCEPT_NO_TEMPERATURE_SENSOR = true)";
        out.push(Cause::bank("nosensor", text.into()));
    }
    if let (Some(v), Some(n)) = (bank.highest_voltage, nominal(l.charge_voltage)) {
        // Re-opens a little above the CVL: in float the CVL follows the bank down to 0.025 V
        // per cell below it, and a full bank may rest there for hours.
        let limit = l.charge_voltage + if lingering { FLOOR_MARGIN_PER_CELL } else { OVERVOLTAGE_PER_CELL } * cells(n);
        if v > limit {
            let text = format!("Charging stopped: the bank is at {v:.2} V, above {limit:.2} V (CVL {:.2} V)", l.charge_voltage);
            out.push(Cause::bank("overvoltage", text));
        }
    }
    out
}

/// Discharge-blocking causes, as [`charge`].
pub fn discharge(members: &[Member], l: &Limits, bank: &BankState, lingering: bool) -> Vec<Cause> {
    let counted: Vec<&Member> = counted(members).collect();
    if counted.is_empty() {
        let why = if members.is_empty() { "no SmartShunt found" } else { "every member lost" };
        return vec![Cause::bank("stale", format!("Discharging stopped: {why}"))];
    }
    let margin = if lingering { l.margin } else { 0.0 };
    let (cold, hot) = (l.temp_discharge_cold + margin, l.temp_discharge_hot - margin);
    let mut out = Vec::new();
    for m in &counted {
        let cause = member_cause(m, &counted, bank, &DISCHARGE_ALARMS, false, (cold, hot), "discharge");
        out.extend(cause);
    }
    if let (Some(v), Some(min)) = (bank.lowest_voltage, min_bank_voltage(l)) {
        if v < min {
            out.push(Cause::bank("undervoltage", format!("Discharging stopped: the bank is at {v:.2} V, below {min:.2} V")).latching());
        }
    }
    // The voltage taper's cut-off (its factor 0), before the shunts' own low-voltage alarm.
    if let Some(v) = bank.lowest_voltage.filter(|v| l.tapers.discharge_voltage.at(v / l.stages.cells) <= 0.0) {
        let per_cell = v / l.stages.cells;
        out.push(Cause::bank("cutoff", format!("Discharging stopped: the bank is at {v:.2} V under load ({per_cell:.2} V per cell)")).latching());
    }
    out
}
