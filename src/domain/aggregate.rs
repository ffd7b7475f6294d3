//! The bank seen as one battery: pure functions from the members' latest readings to the
//! aggregate's values. Nothing here touches D-Bus or the clock.
//!
//! Units: V, A (positive = charging), W, °C, % (0-100), Ah (consumed is negative, as a
//! SmartShunt reports it), s, kWh. `None` means "no value" and is published as invalid.
//!
//! Which members count: `Online` members and `Held` ones (offline, inside their grace period,
//! last values kept). `Lost` members contribute nothing but still count when working out the
//! share of the bank that is present. With no `Online` member every measurement is `None`:
//! never 0 V, never 50 %.
//!
//! Rules that a missing value could turn into an invented number are strict: a sum (current,
//! consumed Ah, energy) or a capacity-weighted SoC needs every counted member's value, or it is
//! `None`. Voltage and temperature are measured per member, so the members that report one are
//! enough (a parallel bank has one voltage).

use crate::domain::paths::{CATALOGUE, Formula, Q, Rule};

/// A member's latest numeric readings, indexed by [`Q`].
pub type Readings = [Option<f64>; Q::COUNT];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Fresh data, connected.
    Online,
    /// Offline (vanished, disconnected or silent) inside the grace period: last values held.
    Held,
    /// Offline past the grace period: dropped from the values, kept for the bank's share.
    Lost,
}

#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// Stable identity across passes (serial, or service without one).
    pub id: &'a str,
    pub name: &'a str,
    pub presence: Presence,
    /// Ah, when known.
    pub capacity: Option<f64>,
    pub values: &'a Readings,
    /// False while an online member carries none of the bank's current (its own protection or a
    /// fuse opened): the bank's numbers are still right, but its share leaves the BMS limits.
    pub in_circuit: bool,
}

impl Member<'_> {
    fn get(&self, q: Q) -> Option<f64> {
        self.values[q as usize]
    }
    fn counts(&self) -> bool {
        self.presence != Presence::Lost
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// TOTAL_CAPACITY: the whole bank's capacity in Ah, overriding the members' own.
    pub total_capacity: Option<f64>,
    pub temp_cold_danger: f64,
    pub temp_hot_danger: f64,
}

/// Above this bank current (A) the bank counts as charging: half the published resolution.
pub const CHARGING_CURRENT: f64 = 0.05;

/// A SmartShunt caps its time-to-go at 10 days (864000 s in the recordings).
pub const TIME_TO_GO_MAX: f64 = 864_000.0;

/// The aggregate's values, one entry per catalogue row it computes (every published row but
/// the BMS ones), in catalogue order.
pub type Outputs = Vec<(&'static str, Option<f64>)>;

/// Applies a rule to `(value, weight)` pairs of the counted members (`None` = no value).
pub fn apply(rule: Rule, values: &[(Option<f64>, f64)]) -> Option<f64> {
    let reported = || values.iter().filter_map(|(v, _)| *v);
    let all = || values.iter().map(|(v, _)| *v).collect::<Option<Vec<f64>>>();
    if values.is_empty() {
        return None;
    }
    match rule {
        Rule::Sum => all().map(|v| v.iter().sum()),
        Rule::SumReported => reported().reduce(|a, b| a + b),
        Rule::Min | Rule::MinOfStarters => reported().reduce(f64::min),
        Rule::Max | Rule::MaxOfStarters | Rule::Worst => reported().reduce(f64::max),
        Rule::WeightedMean => {
            let v = all()?;
            let total: f64 = values.iter().map(|(_, w)| w).sum();
            if total <= 0.0 {
                return None;
            }
            Some(v.iter().zip(values).map(|(x, (_, w))| x * w).sum::<f64>() / total)
        }
        // Not table rules: computed elsewhere.
        Rule::Formula(_) | Rule::Bms | Rule::MemberOnly => None,
    }
}

/// Weights for capacity-weighted means: the members' capacities; equal weights when none is
/// known; a member of unknown capacity among known ones weighs the mean known capacity.
pub fn weights(capacities: &[Option<f64>]) -> Vec<f64> {
    let known: Vec<f64> = capacities.iter().flatten().copied().filter(|c| *c > 0.0).collect();
    if known.is_empty() {
        return vec![1.0; capacities.len()];
    }
    let mean = known.iter().sum::<f64>() / known.len() as f64;
    capacities.iter().map(|c| c.filter(|c| *c > 0.0).unwrap_or(mean)).collect()
}

/// The bank voltage: the mean; the lowest member while any member raises LowVoltage, the
/// highest while any raises HighVoltage; with both, the one further from the mean. No nominal
/// voltage is assumed, so 12, 24 and 48 V banks behave alike.
pub fn bank_voltage(voltages: &[f64], low_alarm: bool, high_alarm: bool) -> Option<f64> {
    let (min, max, mean) = min_max_mean(voltages)?;
    Some(match (low_alarm, high_alarm) {
        (true, false) => min,
        (false, true) => max,
        (true, true) if mean - min >= max - mean => min,
        (true, true) => max,
        (false, false) => mean,
    })
}

/// The bank temperature: the mean of the members with a sensor; the coldest below the cold
/// danger threshold, the hottest above the hot one; with both, the one further beyond its
/// threshold (a tie goes to the hot side).
pub fn bank_temperature(temps: &[f64], cold: f64, hot: f64) -> Option<f64> {
    let (min, max, mean) = min_max_mean(temps)?;
    Some(match (min < cold, max > hot) {
        (true, false) => min,
        (false, true) => max,
        (true, true) if cold - min > max - hot => min,
        (true, true) => max,
        (false, false) => mean,
    })
}

fn min_max_mean(xs: &[f64]) -> Option<(f64, f64, f64)> {
    let min = xs.iter().copied().reduce(f64::min)?;
    let max = xs.iter().copied().reduce(f64::max)?;
    Some((min, max, xs.iter().sum::<f64>() / xs.len() as f64))
}

/// Seconds until the remaining charge is used up at the present discharge current; `None`
/// while charging or idle (|current| below 0.05 A, the published resolution).
pub fn time_to_go(remaining_ah: Option<f64>, current: Option<f64>) -> Option<f64> {
    let (remaining, current) = (remaining_ah?, current?);
    (current < -0.05 && remaining >= 0.0).then(|| (remaining / -current * 3600.0).min(TIME_TO_GO_MAX))
}

/// Estimates a member's capacity from its consumed Ah and SoC, only while the SoC is between
/// 10 and 90 % (outside that band the rounding of SoC makes the estimate wild).
pub fn estimate_capacity(consumed_ah: Option<f64>, soc: Option<f64>) -> Option<f64> {
    let (consumed, soc) = (consumed_ah?, soc?);
    if !(10.0..=90.0).contains(&soc) || consumed >= 0.0 {
        return None;
    }
    Some((-consumed / ((100.0 - soc) / 100.0)).round())
}

/// The share of the bank that is present (counted), by capacity when every member's capacity is
/// known, by count otherwise. 0 when the bank has no members.
pub fn present_share(members: &[Member]) -> f64 {
    let share = |m: &Member| if m.counts() { 1.0 } else { 0.0 };
    let caps: Option<Vec<f64>> = members.iter().map(|m| m.capacity.filter(|c| *c > 0.0)).collect();
    match caps {
        Some(caps) if !caps.is_empty() => {
            let total: f64 = caps.iter().sum();
            members.iter().zip(&caps).map(|(m, c)| share(m) * c).sum::<f64>() / total
        }
        _ if members.is_empty() => 0.0,
        _ => members.iter().map(share).sum::<f64>() / members.len() as f64,
    }
}

/// The installed capacity of the counted members: TOTAL_CAPACITY scaled by the present share,
/// or the sum of the counted members' capacities when all of them are known.
pub fn installed_capacity(members: &[Member], total_override: Option<f64>) -> Option<f64> {
    if let Some(total) = total_override {
        return Some(total * present_share(members));
    }
    members.iter().filter(|m| m.counts()).map(|m| m.capacity.filter(|c| *c > 0.0)).sum()
}

/// All measurement values of the bank.
pub fn compute(members: &[Member], s: &Settings) -> Outputs {
    let online = members.iter().filter(|m| m.presence == Presence::Online).count();
    let lost = members.iter().filter(|m| m.presence == Presence::Lost).count();
    let counted: Vec<&Member> = if online > 0 { members.iter().filter(|m| m.counts()).collect() } else { Vec::new() };
    let w = weights(&counted.iter().map(|m| m.capacity).collect::<Vec<_>>());
    let column = |q: Q| -> Vec<(Option<f64>, f64)> { counted.iter().zip(&w).map(|(m, w)| (m.get(q), *w)).collect() };
    let reported = |q: Q| -> Vec<f64> { counted.iter().filter_map(|m| m.get(q)).collect() };
    let any_alarm = |q: Q| counted.iter().any(|m| m.get(q).is_some_and(|a| a > 0.0));

    let current = apply(Rule::Sum, &column(Q::Current));
    let power = apply(Rule::Sum, &counted.iter().map(|m| (member_power(m), 1.0)).collect::<Vec<_>>());
    let soc = apply(Rule::WeightedMean, &column(Q::Soc)).map(|s| s.clamp(0.0, 100.0));
    let installed = if counted.is_empty() { None } else { installed_capacity(members, s.total_capacity) };
    let remaining = installed.zip(soc).map(|(c, soc)| c * soc / 100.0);
    // A held member's frozen voltage or temperature never sets the bank's while an online
    // member measures one: chargers regulate on this voltage (systemcalc's voltage sense).
    let measured = |q: Q| -> Vec<f64> {
        let fresh: Vec<f64> = counted.iter().filter(|m| m.presence == Presence::Online).filter_map(|m| m.get(q)).collect();
        if fresh.is_empty() { reported(q) } else { fresh }
    };
    let fresh_voltages = measured(Q::Voltage);
    let mut voltage = bank_voltage(&fresh_voltages, any_alarm(Q::AlarmLowVoltage), any_alarm(Q::AlarmHighVoltage));
    // While the bank is charging, never below the highest member voltage: a charger must not
    // push on because of a reading below the battery's.
    if current.is_some_and(|c| c > CHARGING_CURRENT) {
        let highest = fresh_voltages.iter().copied().reduce(f64::max);
        voltage = voltage.zip(highest).map(|(v, h)| v.max(h)).or(voltage);
    }
    let temperature = bank_temperature(&measured(Q::Temperature), s.temp_cold_danger, s.temp_hot_danger);
    let with_starter: Vec<&&Member> = counted.iter().filter(|m| m.get(Q::HasStarterVoltage) == Some(1.0)).collect();
    let starter = with_starter.iter().filter_map(|m| m.get(Q::StarterVoltage)).reduce(f64::min);
    let has = |b: bool| (!counted.is_empty()).then_some(if b { 1.0 } else { 0.0 });

    let table = |rule: Rule, q: Q| match rule {
        // Members without a starter battery report 0 V there; only real ones count.
        Rule::MinOfStarters | Rule::MaxOfStarters => apply(rule, &with_starter.iter().map(|m| (m.get(q), 1.0)).collect::<Vec<_>>()),
        rule => apply(rule, &column(q)),
    };
    let formula = |f: Formula| match f {
        Formula::Voltage => voltage,
        Formula::Current => current,
        Formula::Power => power,
        Formula::Temperature => temperature,
        Formula::StarterVoltage => starter,
        Formula::NoValue => None,
        Formula::Soc => soc,
        // From the current at its published resolution, so noise below 0.1 A moves nothing.
        Formula::TimeToGo => time_to_go(remaining, current.map(|c| (c * 10.0).round() / 10.0)),
        Formula::Remaining => remaining,
        Formula::Installed => installed,
        Formula::HasTemperature => has(temperature.is_some()),
        Formula::HasStarterVoltage => has(!with_starter.is_empty()),
        Formula::HasNoMidVoltage => has(false),
        Formula::ModulesOnline => Some(online as f64),
        Formula::ModulesOffline => Some((members.len() - online) as f64),
        Formula::MemberLost => Some(if lost > 0 { 1.0 } else { 0.0 }),
    };
    CATALOGUE
        .iter()
        .filter_map(|row| {
            let value = match (row.rule, row.read) {
                (Rule::Bms | Rule::MemberOnly, _) => return None,
                (Rule::Formula(f), _) => formula(f),
                (rule, Some(q)) => table(rule, q),
                // A table rule without member values (the catalogue test rules it out).
                (_, None) => None,
            };
            Some((row.path, value))
        })
        .collect()
}

/// A member's power: its own, or V×I when it publishes none.
fn member_power(m: &Member) -> Option<f64> {
    m.get(Q::Power).or_else(|| Some(m.get(Q::Voltage)? * m.get(Q::Current)?))
}

#[cfg(test)]
mod tests;
