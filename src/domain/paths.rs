//! The catalogue: every D-Bus path the daemon reads from a SmartShunt or publishes, in one
//! place. [`CATALOGUE`] has one row per quantity: its path, whether and where members' values
//! are kept ([`Q`]), its wire type and resolution ([`Kind`]), its text ([`Format`], as a real
//! SmartShunt writes it, shared/recordings) and how the bank's value follows from the
//! members' ([`Rule`]; a [`Formula`] names the function in `aggregate` that computes it).
//! Bank, aggregation, frame, publish, the simulator and `status` all read it from here.
//!
//! Resolution is what keeps the bus quiet: a published double is rounded to the step of its
//! inputs, so noise below that step changes nothing and emits nothing.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::value::{Format, Value};

mod gui;
pub use gui::*;

/// One quantity read from a member. The discriminant indexes a member's value array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum Q {
    Voltage,
    Current,
    Power,
    Temperature,
    StarterVoltage,
    Soc,
    ConsumedAh,
    TimeToGo,
    Connected,
    HasTemperature,
    HasStarterVoltage,
    AlarmLowVoltage,
    AlarmHighVoltage,
    AlarmLowStarterVoltage,
    AlarmHighStarterVoltage,
    AlarmLowSoc,
    AlarmLowTemperature,
    AlarmHighTemperature,
    AlarmMidVoltage,
    AlarmAlarm,
    HistChargeCycles,
    HistFullDischarges,
    HistAutomaticSyncs,
    HistLowVoltageAlarms,
    HistHighVoltageAlarms,
    HistLowStarterVoltageAlarms,
    HistHighStarterVoltageAlarms,
    HistTimeSinceLastFullCharge,
    HistDeepestDischarge,
    HistLastDischarge,
    HistAverageDischarge,
    HistTotalAhDrawn,
    HistMinimumVoltage,
    HistMaximumVoltage,
    HistMinimumStarterVoltage,
    HistMaximumStarterVoltage,
    HistChargedEnergy,
    HistDischargedEnergy,
}

impl Q {
    pub const COUNT: usize = Q::HistDischargedEnergy as usize + 1;

    /// The quantity a member path carries, if it is one we read.
    pub fn of_path(path: &str) -> Option<Q> {
        // Called for every item of every member signal: a hash map, built once.
        static INDEX: LazyLock<HashMap<&'static str, Q>> = LazyLock::new(|| CATALOGUE.iter().filter_map(|r| Some((r.path, r.read?))).collect());
        INDEX.get(path).copied()
    }

    /// The member path this quantity is read from.
    pub fn path(self) -> &'static str {
        static PATHS: LazyLock<[&'static str; Q::COUNT]> = LazyLock::new(|| {
            let mut out = [""; Q::COUNT];
            for row in CATALOGUE {
                if let Some(q) = row.read {
                    out[q as usize] = row.path;
                }
            }
            out
        });
        PATHS[self as usize]
    }

    /// Every quantity read from members, in discriminant order.
    pub fn all() -> impl Iterator<Item = Q> {
        CATALOGUE.iter().filter_map(|r| r.read)
    }
}

// Measurement paths (member and aggregate).
pub const DC_VOLTAGE: &str = "/Dc/0/Voltage";
pub const DC_CURRENT: &str = "/Dc/0/Current";
pub const DC_POWER: &str = "/Dc/0/Power";
pub const DC_TEMPERATURE: &str = "/Dc/0/Temperature";
pub const DC1_VOLTAGE: &str = "/Dc/1/Voltage";
pub const DC_MID_VOLTAGE: &str = "/Dc/0/MidVoltage";
pub const DC_MID_VOLTAGE_DEVIATION: &str = "/Dc/0/MidVoltageDeviation";
pub const SOC: &str = "/Soc";
pub const CONSUMED_AH: &str = "/ConsumedAmphours";
pub const TIME_TO_GO: &str = "/TimeToGo";
pub const CAPACITY: &str = "/Capacity";
pub const INSTALLED_CAPACITY: &str = "/InstalledCapacity";
pub const HAS_TEMPERATURE: &str = "/Settings/HasTemperature";
pub const HAS_STARTER_VOLTAGE: &str = "/Settings/HasStarterVoltage";
pub const HAS_MID_VOLTAGE: &str = "/Settings/HasMidVoltage";
pub const MODULES_ONLINE: &str = "/System/NrOfModulesOnline";
pub const MODULES_OFFLINE: &str = "/System/NrOfModulesOffline";
/// Our own warning: 1 while a member was dropped after its grace period (or is remembered from
/// before a restart) and has not returned.
pub const ALARM_MEMBER_LOST: &str = "/Alarms/MemberLost";
/// Every alarm path starts with this.
pub const ALARMS_PREFIX: &str = "/Alarms/";

// Identity (member and aggregate).
pub const DEVICE_INSTANCE: &str = "/DeviceInstance";
pub const PRODUCT_ID: &str = "/ProductId";
pub const PRODUCT_NAME: &str = "/ProductName";
pub const CUSTOM_NAME: &str = "/CustomName";
pub const CONNECTED: &str = "/Connected";
pub const FIRMWARE_VERSION: &str = "/FirmwareVersion";
pub const HARDWARE_VERSION: &str = "/HardwareVersion";
pub const SERIAL: &str = "/Serial";
pub const MGMT_PROCESS_NAME: &str = "/Mgmt/ProcessName";
pub const MGMT_PROCESS_VERSION: &str = "/Mgmt/ProcessVersion";
pub const MGMT_CONNECTION: &str = "/Mgmt/Connection";
/// Set to 1 by services that are themselves aggregates (never aggregate those).
pub const DEVICES_VIRTUAL: &str = "/Devices/0/Virtual";

// Virtual-BMS paths.
pub const MAX_CHARGE_VOLTAGE: &str = "/Info/MaxChargeVoltage";
pub const MAX_CHARGE_CURRENT: &str = "/Info/MaxChargeCurrent";
pub const MAX_DISCHARGE_CURRENT: &str = "/Info/MaxDischargeCurrent";
pub const CHARGE_LIMITATION: &str = "/Info/ChargeLimitation";
/// The charge stage in words, as serialbattery publishes it.
pub const CHARGE_MODE: &str = "/Info/ChargeMode";
pub const DISCHARGE_LIMITATION: &str = "/Info/DischargeLimitation";
pub const ALLOW_TO_CHARGE: &str = "/Io/AllowToCharge";
pub const ALLOW_TO_DISCHARGE: &str = "/Io/AllowToDischarge";
pub const MODULES_BLOCKING_CHARGE: &str = "/System/NrOfModulesBlockingCharge";
pub const MODULES_BLOCKING_DISCHARGE: &str = "/System/NrOfModulesBlockingDischarge";
/// Our own: every protection acting now, " | "-separated ("" when none).
pub const ACTIVE_PROTECTIONS: &str = "/Bms/ActiveProtections";
/// Our own: every risk accepted by configuration or imposed by the system (ESS feed-in),
/// " | "-separated.
pub const ACCEPTED_RISKS: &str = "/Bms/AcceptedRisks";
/// Feed-in of excess DC-coupled PV (ESS), read from localsettings.
pub const OVERVOLTAGE_FEED_IN: &str = "/Settings/CGwacs/OvervoltageFeedIn";

/// How a published path is typed on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A double rounded to `step`.
    Double {
        step: f64,
    },
    /// An unsigned integer (counters, alarms, flags, ids).
    Uint,
    Text,
}

/// How the bank's value of a quantity follows from its members' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Sum over all counted members; `None` if any of them lacks a value.
    Sum,
    /// Sum over the members that report a value (per-member events, e.g. starter batteries).
    SumReported,
    Min,
    Max,
    /// Worst alarm level (0 ok, 1 warning, 2 alarm) over the members that report one.
    Worst,
    /// Capacity-weighted mean over all counted members; `None` if any lacks a value.
    WeightedMean,
    /// Min / max over the members that have a starter battery (`/Settings/HasStarterVoltage`
    /// 1); the others report 0 V there.
    MinOfStarters,
    MaxOfStarters,
    /// A formula of its own in `aggregate::compute` (the variant names it).
    Formula(Formula),
    /// Decided by the virtual-BMS policy (`bms::Policy`), published in that mode only.
    Bms,
    /// Read from members, not published as a bank value.
    MemberOnly,
}

/// The quantities with a formula of their own; `aggregate::compute` has one arm per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formula {
    /// `aggregate::bank_voltage`: mean, alarm-aware.
    Voltage,
    /// Sum of the members' currents.
    Current,
    /// Sum of the members' power (V×I where a member publishes none).
    Power,
    /// `aggregate::bank_temperature`: mean, danger-aware.
    Temperature,
    /// The lowest starter battery.
    StarterVoltage,
    /// Always invalid: a parallel bank has no single midpoint.
    NoValue,
    /// Capacity-weighted SoC, clamped to 0-100.
    Soc,
    /// `aggregate::time_to_go` from remaining Ah and current.
    TimeToGo,
    /// Remaining Ah: installed capacity × SoC.
    Remaining,
    /// `aggregate::installed_capacity`.
    Installed,
    /// 1 when the bank has a temperature.
    HasTemperature,
    /// 1 when a member has a starter battery.
    HasStarterVoltage,
    /// 0: no midpoint (see `NoValue`).
    HasNoMidVoltage,
    ModulesOnline,
    ModulesOffline,
    /// Our own warning: 1 while a member is lost (or remembered and missing).
    MemberLost,
}

/// One row of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    pub path: &'static str,
    /// Where a member's value is kept (`None`: not read from members).
    pub read: Option<Q>,
    pub kind: Kind,
    pub format: Format,
    pub rule: Rule,
}

impl Quantity {
    /// True for the rows the aggregate publishes (`bms`: virtual-BMS mode).
    pub fn published_in(&self, bms: bool) -> bool {
        match self.rule {
            Rule::MemberOnly => false,
            Rule::Bms => bms,
            _ => true,
        }
    }

    /// The wire value of a computed number, rounded to the row's resolution.
    pub fn value(&self, v: Option<f64>) -> Value {
        match (self.kind, v) {
            (_, None) => Value::Invalid,
            (Kind::Double { step }, Some(v)) => Value::from(round_to(v, step)),
            (Kind::Uint, Some(v)) if v.is_finite() => Value::Uint(v.round().clamp(0.0, f64::from(u32::MAX)) as u32),
            _ => Value::Invalid,
        }
    }
}

/// Rounds to a resolution step without leaving binary noise (13.27, not 13.270000000000001).
pub fn round_to(v: f64, step: f64) -> f64 {
    let r = if step >= 1.0 {
        (v / step).round() * step
    } else {
        let scale = (1.0 / step).round();
        (v * scale).round() / scale
    };
    r + 0.0 // turns -0.0 into 0.0
}

const V: f64 = 0.01;
const AH: f64 = 0.1;
const A: f64 = 0.1;

const fn row(path: &'static str, read: Option<Q>, kind: Kind, format: Format, rule: Rule) -> Quantity {
    Quantity { path, read, kind, format, rule }
}
/// A double read from members.
const fn d(path: &'static str, q: Q, step: f64, format: Format, rule: Rule) -> Quantity {
    row(path, Some(q), Kind::Double { step }, format, rule)
}
/// An unsigned integer read from members.
const fn u(path: &'static str, q: Q, rule: Rule) -> Quantity {
    row(path, Some(q), Kind::Uint, Format::Plain, rule)
}
/// A double of the bank's own.
const fn own(path: &'static str, step: f64, format: Format, f: Formula) -> Quantity {
    row(path, None, Kind::Double { step }, format, Rule::Formula(f))
}
/// An unsigned integer of the bank's own.
const fn own_u(path: &'static str, f: Formula) -> Quantity {
    row(path, None, Kind::Uint, Format::Plain, Rule::Formula(f))
}
const fn bms(path: &'static str, kind: Kind, format: Format) -> Quantity {
    row(path, None, kind, format, Rule::Bms)
}
use Rule::Formula as F;

/// Every quantity, one row each. Rows with `read` are in [`Q`]'s discriminant order (a test
/// checks it). README.md explains the history rules: parallel members see the same charge and
/// discharge events, so Ah and energy add up, an event the whole bank must go through (full
/// discharge, synchronisation) counts only as often as every member saw it, and extremes are
/// extremes.
pub static CATALOGUE: &[Quantity] = &[
    d(DC_VOLTAGE, Q::Voltage, V, Format::VOLT, F(Formula::Voltage)),
    d(DC_CURRENT, Q::Current, A, Format::AMP, F(Formula::Current)),
    d(DC_POWER, Q::Power, 1.0, Format::WATT, F(Formula::Power)),
    d(DC_TEMPERATURE, Q::Temperature, 0.1, Format::CELSIUS, F(Formula::Temperature)),
    d(DC1_VOLTAGE, Q::StarterVoltage, V, Format::VOLT, F(Formula::StarterVoltage)),
    own(DC_MID_VOLTAGE, V, Format::VOLT, Formula::NoValue),
    own(DC_MID_VOLTAGE_DEVIATION, 0.1, Format::PERCENT, Formula::NoValue),
    d(SOC, Q::Soc, 0.1, Format::PERCENT, F(Formula::Soc)),
    d(CONSUMED_AH, Q::ConsumedAh, AH, Format::AMP_HOUR, Rule::Sum),
    d(TIME_TO_GO, Q::TimeToGo, 60.0, Format::SECONDS, F(Formula::TimeToGo)),
    own(CAPACITY, AH, Format::AMP_HOUR, Formula::Remaining),
    own(INSTALLED_CAPACITY, AH, Format::AMP_HOUR, Formula::Installed),
    u(CONNECTED, Q::Connected, Rule::MemberOnly),
    u(HAS_TEMPERATURE, Q::HasTemperature, F(Formula::HasTemperature)),
    u(HAS_STARTER_VOLTAGE, Q::HasStarterVoltage, F(Formula::HasStarterVoltage)),
    own_u(HAS_MID_VOLTAGE, Formula::HasNoMidVoltage),
    own_u(MODULES_ONLINE, Formula::ModulesOnline),
    own_u(MODULES_OFFLINE, Formula::ModulesOffline),
    own_u(ALARM_MEMBER_LOST, Formula::MemberLost),
    u("/Alarms/LowVoltage", Q::AlarmLowVoltage, Rule::Worst),
    u("/Alarms/HighVoltage", Q::AlarmHighVoltage, Rule::Worst),
    u("/Alarms/LowStarterVoltage", Q::AlarmLowStarterVoltage, Rule::Worst),
    u("/Alarms/HighStarterVoltage", Q::AlarmHighStarterVoltage, Rule::Worst),
    u("/Alarms/LowSoc", Q::AlarmLowSoc, Rule::Worst),
    u("/Alarms/LowTemperature", Q::AlarmLowTemperature, Rule::Worst),
    u("/Alarms/HighTemperature", Q::AlarmHighTemperature, Rule::Worst),
    u("/Alarms/MidVoltage", Q::AlarmMidVoltage, Rule::Worst),
    u("/Alarms/Alarm", Q::AlarmAlarm, Rule::Worst),
    u("/History/ChargeCycles", Q::HistChargeCycles, Rule::WeightedMean),
    u("/History/FullDischarges", Q::HistFullDischarges, Rule::Min),
    u("/History/AutomaticSyncs", Q::HistAutomaticSyncs, Rule::Min),
    u("/History/LowVoltageAlarms", Q::HistLowVoltageAlarms, Rule::Max),
    u("/History/HighVoltageAlarms", Q::HistHighVoltageAlarms, Rule::Max),
    u("/History/LowStarterVoltageAlarms", Q::HistLowStarterVoltageAlarms, Rule::SumReported),
    u("/History/HighStarterVoltageAlarms", Q::HistHighStarterVoltageAlarms, Rule::SumReported),
    row("/History/TimeSinceLastFullCharge", Some(Q::HistTimeSinceLastFullCharge), Kind::Uint, Format::SECONDS, Rule::Max),
    d("/History/DeepestDischarge", Q::HistDeepestDischarge, AH, Format::AMP_HOUR, Rule::Sum),
    d("/History/LastDischarge", Q::HistLastDischarge, AH, Format::AMP_HOUR, Rule::Sum),
    d("/History/AverageDischarge", Q::HistAverageDischarge, AH, Format::AMP_HOUR, Rule::Sum),
    d("/History/TotalAhDrawn", Q::HistTotalAhDrawn, AH, Format::AMP_HOUR, Rule::Sum),
    d("/History/MinimumVoltage", Q::HistMinimumVoltage, V, Format::VOLT, Rule::Min),
    d("/History/MaximumVoltage", Q::HistMaximumVoltage, V, Format::VOLT, Rule::Max),
    d("/History/MinimumStarterVoltage", Q::HistMinimumStarterVoltage, V, Format::VOLT, Rule::MinOfStarters),
    d("/History/MaximumStarterVoltage", Q::HistMaximumStarterVoltage, V, Format::VOLT, Rule::MaxOfStarters),
    d("/History/ChargedEnergy", Q::HistChargedEnergy, 0.01, Format::KWH, Rule::Sum),
    d("/History/DischargedEnergy", Q::HistDischargedEnergy, 0.01, Format::KWH, Rule::Sum),
    bms(MAX_CHARGE_VOLTAGE, Kind::Double { step: V }, Format::VOLT),
    bms(MAX_CHARGE_CURRENT, Kind::Double { step: A }, Format::AMP),
    bms(MAX_DISCHARGE_CURRENT, Kind::Double { step: A }, Format::AMP),
    bms(CHARGE_LIMITATION, Kind::Text, Format::Plain),
    bms(CHARGE_MODE, Kind::Text, Format::Plain),
    bms(DISCHARGE_LIMITATION, Kind::Text, Format::Plain),
    bms(ALLOW_TO_CHARGE, Kind::Uint, Format::Plain),
    bms(ALLOW_TO_DISCHARGE, Kind::Uint, Format::Plain),
    bms(MODULES_BLOCKING_CHARGE, Kind::Uint, Format::Plain),
    bms(MODULES_BLOCKING_DISCHARGE, Kind::Uint, Format::Plain),
    bms(ACTIVE_PROTECTIONS, Kind::Text, Format::Plain),
    bms(ACCEPTED_RISKS, Kind::Text, Format::Plain),
];

/// The rows the aggregate publishes in a mode (`bms`: virtual-BMS mode).
pub fn published_rows(bms: bool) -> impl Iterator<Item = &'static Quantity> {
    CATALOGUE.iter().filter(move |r| r.published_in(bms))
}

/// Looks up a catalogue row by path.
pub fn quantity(path: &str) -> Option<&'static Quantity> {
    // Looked up for every value of every pass: a hash map, built once.
    static INDEX: LazyLock<HashMap<&'static str, &'static Quantity>> = LazyLock::new(|| CATALOGUE.iter().map(|p| (p.path, p)).collect());
    INDEX.get(path).copied()
}

#[cfg(test)]
mod tests;
