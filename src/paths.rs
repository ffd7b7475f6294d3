//! Every D-Bus path the daemon reads from a SmartShunt or publishes, in one place, with the
//! type, text format and resolution a real SmartShunt uses (shared/recordings).
//!
//! Resolution is what keeps the bus quiet: a published double is rounded to the step of its
//! inputs, so noise below that step changes nothing and emits nothing.

use crate::venus::value::Format;

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

    /// Every numeric quantity with the member path it is read from.
    pub const ALL: [(Q, &'static str); Q::COUNT] = [
        (Q::Voltage, DC_VOLTAGE),
        (Q::Current, DC_CURRENT),
        (Q::Power, DC_POWER),
        (Q::Temperature, DC_TEMPERATURE),
        (Q::StarterVoltage, DC1_VOLTAGE),
        (Q::Soc, SOC),
        (Q::ConsumedAh, CONSUMED_AH),
        (Q::TimeToGo, TIME_TO_GO),
        (Q::Connected, CONNECTED),
        (Q::HasTemperature, HAS_TEMPERATURE),
        (Q::HasStarterVoltage, HAS_STARTER_VOLTAGE),
        (Q::AlarmLowVoltage, "/Alarms/LowVoltage"),
        (Q::AlarmHighVoltage, "/Alarms/HighVoltage"),
        (Q::AlarmLowStarterVoltage, "/Alarms/LowStarterVoltage"),
        (Q::AlarmHighStarterVoltage, "/Alarms/HighStarterVoltage"),
        (Q::AlarmLowSoc, "/Alarms/LowSoc"),
        (Q::AlarmLowTemperature, "/Alarms/LowTemperature"),
        (Q::AlarmHighTemperature, "/Alarms/HighTemperature"),
        (Q::AlarmMidVoltage, "/Alarms/MidVoltage"),
        (Q::AlarmAlarm, "/Alarms/Alarm"),
        (Q::HistChargeCycles, "/History/ChargeCycles"),
        (Q::HistFullDischarges, "/History/FullDischarges"),
        (Q::HistAutomaticSyncs, "/History/AutomaticSyncs"),
        (Q::HistLowVoltageAlarms, "/History/LowVoltageAlarms"),
        (Q::HistHighVoltageAlarms, "/History/HighVoltageAlarms"),
        (Q::HistLowStarterVoltageAlarms, "/History/LowStarterVoltageAlarms"),
        (Q::HistHighStarterVoltageAlarms, "/History/HighStarterVoltageAlarms"),
        (Q::HistTimeSinceLastFullCharge, "/History/TimeSinceLastFullCharge"),
        (Q::HistDeepestDischarge, "/History/DeepestDischarge"),
        (Q::HistLastDischarge, "/History/LastDischarge"),
        (Q::HistAverageDischarge, "/History/AverageDischarge"),
        (Q::HistTotalAhDrawn, "/History/TotalAhDrawn"),
        (Q::HistMinimumVoltage, "/History/MinimumVoltage"),
        (Q::HistMaximumVoltage, "/History/MaximumVoltage"),
        (Q::HistMinimumStarterVoltage, "/History/MinimumStarterVoltage"),
        (Q::HistMaximumStarterVoltage, "/History/MaximumStarterVoltage"),
        (Q::HistChargedEnergy, "/History/ChargedEnergy"),
        (Q::HistDischargedEnergy, "/History/DischargedEnergy"),
    ];

    /// The quantity a member path carries, if it is one we aggregate.
    pub fn of_path(path: &str) -> Option<Q> {
        // Called for every item of every member signal: a hash map, built once.
        static INDEX: std::sync::LazyLock<std::collections::HashMap<&'static str, Q>> =
            std::sync::LazyLock::new(|| Q::ALL.iter().map(|(q, p)| (*p, *q)).collect());
        INDEX.get(path).copied()
    }

    pub fn path(self) -> &'static str {
        Q::ALL[self as usize].1
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

/// `/Members/<slot>/<field>`: our own list of the members (`publish::member_values`).
pub fn member(slot: usize, field: &str) -> String {
    format!("/Members/{slot}/{field}")
}

/// The slot of a `/Members/<slot>/<field>` path with that field.
pub fn member_slot(path: &str, field: &str) -> Option<usize> {
    path.strip_prefix("/Members/")?.strip_suffix(field)?.strip_suffix('/')?.parse().ok()
}

/// Our own writable path: a member's name, serial, device instance, service or port, or `all`,
/// written here forgets that offline member (`dbus-aggregate-smartshunts forget`).
pub const FORGET: &str = "/Members/Forget";
/// Read-only: what the last write to [`FORGET`] did, or why it was refused (published before
/// `SetValue` returns, so a client reads it right after its own write).
pub const FORGET_RESULT: &str = "/Members/ForgetResult";

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
pub const DISCHARGE_LIMITATION: &str = "/Info/DischargeLimitation";
pub const ALLOW_TO_CHARGE: &str = "/Io/AllowToCharge";
pub const ALLOW_TO_DISCHARGE: &str = "/Io/AllowToDischarge";
pub const MODULES_BLOCKING_CHARGE: &str = "/System/NrOfModulesBlockingCharge";
pub const MODULES_BLOCKING_DISCHARGE: &str = "/System/NrOfModulesBlockingDischarge";

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

/// One published path.
#[derive(Debug, Clone, Copy)]
pub struct Published {
    pub path: &'static str,
    pub kind: Kind,
    pub format: Format,
}

const fn d(path: &'static str, step: f64, format: Format) -> Published {
    Published { path, kind: Kind::Double { step }, format }
}
const fn u(path: &'static str) -> Published {
    Published { path, kind: Kind::Uint, format: Format::Plain }
}
const fn t(path: &'static str) -> Published {
    Published { path, kind: Kind::Text, format: Format::Plain }
}

const V: f64 = 0.01;
const AH: f64 = 0.1;

/// The measurement paths the aggregation computes, in both modes.
pub const MEASUREMENTS: &[Published] = &[
    d(DC_VOLTAGE, V, Format::VOLT),
    d(DC_CURRENT, 0.1, Format::AMP),
    d(DC_POWER, 1.0, Format::WATT),
    d(DC_TEMPERATURE, 0.1, Format::CELSIUS),
    d(DC1_VOLTAGE, V, Format::VOLT),
    d(DC_MID_VOLTAGE, V, Format::VOLT),
    d(DC_MID_VOLTAGE_DEVIATION, 0.1, Format::PERCENT),
    d(SOC, 0.1, Format::PERCENT),
    d(CONSUMED_AH, AH, Format::AMP_HOUR),
    d(TIME_TO_GO, 60.0, Format::SECONDS),
    d(CAPACITY, AH, Format::AMP_HOUR),
    d(INSTALLED_CAPACITY, AH, Format::AMP_HOUR),
    u(HAS_TEMPERATURE),
    u(HAS_STARTER_VOLTAGE),
    u(HAS_MID_VOLTAGE),
    u(MODULES_ONLINE),
    u(MODULES_OFFLINE),
    u(ALARM_MEMBER_LOST),
    u("/Alarms/LowVoltage"),
    u("/Alarms/HighVoltage"),
    u("/Alarms/LowStarterVoltage"),
    u("/Alarms/HighStarterVoltage"),
    u("/Alarms/LowSoc"),
    u("/Alarms/LowTemperature"),
    u("/Alarms/HighTemperature"),
    u("/Alarms/MidVoltage"),
    u("/Alarms/Alarm"),
    u("/History/ChargeCycles"),
    u("/History/FullDischarges"),
    u("/History/AutomaticSyncs"),
    u("/History/LowVoltageAlarms"),
    u("/History/HighVoltageAlarms"),
    u("/History/LowStarterVoltageAlarms"),
    u("/History/HighStarterVoltageAlarms"),
    Published { path: "/History/TimeSinceLastFullCharge", kind: Kind::Uint, format: Format::SECONDS },
    d("/History/DeepestDischarge", AH, Format::AMP_HOUR),
    d("/History/LastDischarge", AH, Format::AMP_HOUR),
    d("/History/AverageDischarge", AH, Format::AMP_HOUR),
    d("/History/TotalAhDrawn", AH, Format::AMP_HOUR),
    d("/History/MinimumVoltage", V, Format::VOLT),
    d("/History/MaximumVoltage", V, Format::VOLT),
    d("/History/MinimumStarterVoltage", V, Format::VOLT),
    d("/History/MaximumStarterVoltage", V, Format::VOLT),
    d("/History/ChargedEnergy", 0.01, Format::KWH),
    d("/History/DischargedEnergy", 0.01, Format::KWH),
];

/// Paths published only in virtual-BMS mode.
pub const BMS: &[Published] = &[
    d(MAX_CHARGE_VOLTAGE, V, Format::VOLT),
    d(MAX_CHARGE_CURRENT, 0.1, Format::AMP),
    d(MAX_DISCHARGE_CURRENT, 0.1, Format::AMP),
    t(CHARGE_LIMITATION),
    t(DISCHARGE_LIMITATION),
    u(ALLOW_TO_CHARGE),
    u(ALLOW_TO_DISCHARGE),
    u(MODULES_BLOCKING_CHARGE),
    u(MODULES_BLOCKING_DISCHARGE),
];

/// Looks up a published path's definition.
pub fn published(path: &str) -> Option<&'static Published> {
    // Looked up for every value of every pass: a hash map, built once.
    static INDEX: std::sync::LazyLock<std::collections::HashMap<&'static str, &'static Published>> =
        std::sync::LazyLock::new(|| MEASUREMENTS.iter().chain(BMS).map(|p| (p.path, p)).collect());
    INDEX.get(path).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_table_is_indexed_by_discriminant() {
        for (i, (q, path)) in Q::ALL.iter().enumerate() {
            assert_eq!(*q as usize, i, "{path}");
            assert_eq!(Q::of_path(path), Some(*q));
        }
    }

    #[test]
    fn every_published_path_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for p in MEASUREMENTS.iter().chain(BMS) {
            assert!(seen.insert(p.path), "{} twice", p.path);
        }
    }
}
