//! The frame: the values of one pass, row by row, as the daemon hands them to the published
//! tree. Measurements take their row's type and resolution from the catalogue; the BMS rows
//! come from a [`Decision`]; the member list from the bank.

use std::borrow::Cow;

use crate::domain::aggregate::{Outputs, Presence};
use crate::domain::bank::{Circuit, Shunt};
use crate::domain::bms::Decision;
use crate::domain::paths::{self, Q, round_to};
use crate::value::Value;

/// Path → value, for `venus::service::update`.
pub type Frame = Vec<(Cow<'static, str>, Value)>;

/// What one pass publishes.
pub struct Pass<'a> {
    pub outputs: &'a Outputs,
    /// Virtual-BMS mode: this pass's limits.
    pub decision: Option<&'a Decision>,
    pub name: &'a str,
    /// The member list, when it changed.
    pub members: Option<&'a [Shunt]>,
}

/// The frame of one pass.
pub fn build(p: &Pass) -> Frame {
    let mut out: Frame = p.outputs.iter().filter_map(|(path, v)| paths::quantity(path).map(|row| (Cow::Borrowed(row.path), row.value(*v)))).collect();
    if let Some(d) = p.decision {
        out.extend(limits(d).into_iter().map(|(path, v)| (Cow::Borrowed(path), v)));
    }
    out.push((Cow::Borrowed(paths::CUSTOM_NAME), p.name.into()));
    for m in p.members.unwrap_or_default() {
        out.extend(member_values(m).into_iter().map(|(path, v)| (Cow::Owned(path), v)));
    }
    out
}

/// The BMS rows of a decision.
pub fn limits(d: &Decision) -> Vec<(&'static str, Value)> {
    // Value::from turns a non-finite number into invalid (none is expected).
    let amps = |a: f64| Value::from(round_to(a, 0.1));
    vec![
        (paths::MAX_CHARGE_VOLTAGE, Value::from(round_to(d.charge_voltage, 0.01))),
        (paths::MAX_CHARGE_CURRENT, amps(d.charge_current)),
        (paths::MAX_DISCHARGE_CURRENT, amps(d.discharge_current)),
        (paths::CHARGE_LIMITATION, d.charge_text.clone().into()),
        (paths::CHARGE_MODE, d.charge_mode.clone().into()),
        (paths::DISCHARGE_LIMITATION, d.discharge_text.clone().into()),
        (paths::ALLOW_TO_CHARGE, Value::Uint(u32::from(d.charge_current > 0.0))),
        (paths::ALLOW_TO_DISCHARGE, Value::Uint(u32::from(d.discharge_current > 0.0))),
        (paths::MODULES_BLOCKING_CHARGE, Value::Uint(d.blocking_charge as u32)),
        (paths::MODULES_BLOCKING_DISCHARGE, Value::Uint(d.blocking_discharge as u32)),
        (paths::ACTIVE_PROTECTIONS, d.protections.join(" | ").into()),
        (paths::ACCEPTED_RISKS, d.risks.join(" | ").into()),
    ]
}

/// Left behind when the daemon stops: charging stopped (a charger must not run on with no
/// supervision; `cvl` is lowered as for a block when ESS feed-in may be on); discharge
/// unchanged, so a restart does not black out the loads.
pub fn shutdown_limits(cvl: f64) -> Vec<(&'static str, Value)> {
    vec![
        (paths::MAX_CHARGE_VOLTAGE, Value::Double(round_to(cvl, 0.01))),
        (paths::MAX_CHARGE_CURRENT, Value::Double(0.0)),
        (paths::ALLOW_TO_CHARGE, Value::Uint(0)),
        (paths::CHARGE_LIMITATION, "Charging stopped: the aggregator is shutting down".into()),
    ]
}

/// Values of one member slot, in the order of [`paths::MEMBER_FIELDS`].
pub fn member_values(m: &Shunt) -> Vec<(String, Value)> {
    let state = state_text(m);
    let values = [
        Value::from(m.service.as_str()),
        Value::from(m.serial.as_str()),
        Value::Uint(m.instance),
        Value::from(m.name()),
        Value::from(m.capacity.map(|c| round_to(c, 0.1))),
        Value::from(m.capacity_source.describe()),
        Value::from(state),
    ];
    paths::MEMBER_FIELDS.iter().zip(values).map(|((f, _), v)| (paths::member(m.slot, f), v)).collect()
}

/// The text a member's state has in `/Members/<slot>/State` and `/Battery/<n>/Status`.
fn state_text(m: &Shunt) -> &'static str {
    match (m.presence, m.circuit) {
        _ if m.switched_off => "switched off in the GUI (not in the bank)",
        (Presence::Online, Circuit::Out) => "online, out of the circuit (carries no current)",
        (Presence::Online, _) => "online",
        (Presence::Held, _) => "offline (values held)",
        (Presence::Lost, _) if m.missing() => "missing since the start (remembered)",
        (Presence::Lost, _) => "lost",
    }
}

/// `/Battery/<n>/Status`: the Lynx bit mask gui-v2 reads (`enums.h`), from the member's own
/// alarms (an alarm or a warning): 3 overvoltage, 4 undervoltage, 5 low and 6 high
/// temperature. 0 (nothing) shows as empty.
fn status_bits(m: &Shunt) -> u32 {
    [(Q::AlarmHighVoltage, 3), (Q::AlarmLowVoltage, 4), (Q::AlarmLowTemperature, 5), (Q::AlarmHighTemperature, 6)]
        .into_iter()
        .filter(|(q, _)| m.get(*q).is_some_and(|a| a > 0.0))
        .fold(0, |bits, (_, bit)| bits | 1 << bit)
}

/// How many of [`paths::BATTERY_FIELDS`] are static (serial, capacity, firmware): published
/// when the member list changes; the others (status and readings) are live.
pub const BATTERY_STATIC: usize = 3;

/// The values of one `/Battery/<n>` entry of gui-v2's "Individual Battery Info", in the
/// order of [`paths::BATTERY_FIELDS`].
pub fn battery_values(m: &Shunt) -> [Value; 7] {
    let label = if m.serial.is_empty() { m.name() } else { m.serial.as_str() };
    [
        Value::from(label),
        Value::from(m.capacity.map(|c| round_to(c, 0.1))),
        // gui-v2 shows a number as Victron's firmware text (0x0419: v4.19).
        m.firmware.map_or(Value::Invalid, Value::Uint),
        Value::Uint(status_bits(m)),
        Value::from(m.get(Q::Voltage).map(|v| round_to(v, 0.01))),
        Value::from(m.get(Q::Current).map(|v| round_to(v, 0.1))),
        Value::from(m.get(Q::Temperature).map(|v| round_to(v, 0.1))),
    ]
}

/// `/Measurement/TracksServices`: the member services, comma-joined.
pub fn tracked<'a>(active: impl Iterator<Item = &'a Shunt>) -> Value {
    active.map(|m| m.service.as_str()).collect::<Vec<_>>().join(",").into()
}
