//! The paths of the member lists and the GUI's controls: our own `/Members/*`, gui-v2's
//! "Individual Battery Info" (`/Battery/<n>/*`), the `/SwitchableOutput/<id>/*` controls
//! (shared/docs/gui-v2.md), `/Measurement/*`, and the systemcalc settings we may write.

use crate::value::Format;

/// `/Members/<slot>/<field>`: our own list of the members (`publish::member_values`).
pub fn member(slot: usize, field: &str) -> String {
    format!("/Members/{slot}/{field}")
}

/// The fields of each `/Members/<slot>/` entry, with their text format.
pub const MEMBER_FIELDS: [(&str, Format); 7] = [
    ("Service", Format::Plain),
    ("Serial", Format::Plain),
    ("DeviceInstance", Format::Plain),
    ("Name", Format::Plain),
    ("Capacity", Format::AMP_HOUR),
    ("CapacitySource", Format::Plain),
    ("State", Format::Plain),
];

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

/// The number of batteries in the bank, for gui-v2's "Individual Battery Info" (its selector
/// runs 1..NrOfBatteries; the page is offered while [`BATTERY_REQUEST_ID`] is valid).
pub const NR_OF_BATTERIES: &str = "/System/NrOfBatteries";
/// Writable: the battery (1..NrOfBatteries) the GUI shows in detail.
pub const BATTERY_REQUEST_ID: &str = "/Battery/Request/Id";

/// `/Battery/<n>/<field>`, n from 1.
pub fn battery(n: usize, field: &str) -> String {
    format!("/Battery/{n}/{field}")
}

/// The fields of each `/Battery/<n>/`, with their text format.
pub const BATTERY_FIELDS: [(&str, Format); 7] = [
    ("Serial", Format::Plain),
    ("Capacity", Format::AMP_HOUR),
    ("FwVersion", Format::Firmware),
    ("Status", Format::Plain),
    ("Voltage", Format::VOLT),
    ("Current", Format::AMP),
    ("Temperature", Format::CELSIUS),
];

/// "derived": this service's values come from other services' (the original program's
/// convention, so a consumer summing batteries does not count the bank twice).
pub const MEASUREMENT_KIND: &str = "/Measurement/Kind";
/// The member services, comma-joined.
pub const MEASUREMENT_TRACKS: &str = "/Measurement/TracksServices";

/// `/SwitchableOutput/<id>/<field>`.
pub fn output(id: &str, field: &str) -> String {
    format!("/SwitchableOutput/{id}/{field}")
}

/// The id and field of a `/SwitchableOutput/<id>/<field>` path.
pub fn output_of(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix("/SwitchableOutput/")?.split_once('/')
}

/// systemcalc's choice of battery monitor ("default": automatic).
pub const BATTERY_SERVICE_SETTING: &str = "/Settings/SystemSetup/BatteryService";

/// `/Settings/SystemSetup/Batteries/Configuration/com_victronenergy_battery/<instance>/<field>`:
/// whether systemcalc lists a battery (`Enabled`).
pub fn battery_configuration(instance: u32, field: &str) -> String {
    format!("/Settings/SystemSetup/Batteries/Configuration/com_victronenergy_battery/{instance}/{field}")
}
