//! The layout of the published tree: the aggregate's identity paths with their values, which
//! catalogue rows a mode publishes, the member list's slots (`/Members/<slot>/*`) and our own
//! writable paths, as `venus::service` item specs. The values of each pass come from
//! `domain::frame`.

use crate::config::{Config, DeviceMode};
use crate::domain::paths::{self, Quantity};
use crate::value::{Format, Value};
use crate::venus::service::{Access, ItemSpec};

pub const SERVICE_NAME: &str = "com.victronenergy.battery.aggregate_shunts";
pub const PROCESS_NAME: &str = "dbus-aggregate-smartshunts";
/// Monitor mode looks like a SmartShunt 500A/50mV to the GUI and VRM.
pub const PRODUCT_ID_MONITOR: u32 = 0xA389;
/// Virtual-BMS mode: the id community BMS drivers use; not one of the ids that switch on DVCC
/// quirks (0xB004, 0xB009, 0xB00A, 0xB015, 0xB019, 0xB029, 0xA3E3-0xA3E7).
pub const PRODUCT_ID_BMS: u32 = 0xBA77;
/// Unique id of our localsettings entries.
pub const SETTINGS_GROUP: &str = "/Settings/Devices/aggregate_shunts";
/// Where the original Python program (HEAD versions) registered its device instance.
pub const ORIGINAL_CLASS_SETTING: &str = "/Settings/Devices/aggregateshunts_AGGREGATE01/ClassAndVrmInstance";
/// The name set from the GUI.
pub const CUSTOM_NAME_SETTING: &str = "/Settings/Devices/aggregate_shunts/CustomName";
/// The bank's memory (see `memory`): which batteries belong to it.
pub const MEMBERS_SETTING: &str = "/Settings/Devices/aggregate_shunts/Members";
/// The virtual BMS's charge stage and last full charge (`domain::charge`).
pub const CHARGE_SETTING: &str = "/Settings/Devices/aggregate_shunts/ChargeState";
/// What the GUI changed (`config::gui::Overrides`): its values and the members switched off.
pub const GUI_SETTING: &str = "/Settings/Devices/aggregate_shunts/GuiSettings";
/// The systemcalc settings this daemon changed (HIDE_MEMBER_SHUNTS, SELECT_BATTERY_MONITOR),
/// so it undoes only its own changes (`daemon::system`).
pub const SYSTEM_SETTING: &str = "/Settings/Devices/aggregate_shunts/SystemChanges";
pub const MAX_NAME_LEN: usize = 64;

/// Spec and initial (invalid) value of a catalogue path.
pub fn spec_of(def: &Quantity) -> ItemSpec {
    ItemSpec::new(def.path, def.format, Access::ReadOnly)
}

/// `/FirmwareVersion` in Victron's encoding: major in the high byte, minor in the low byte.
pub fn firmware_version() -> u32 {
    let mut parts = env!("CARGO_PKG_VERSION").split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major.min(255) << 8) | minor.min(255)
}

/// The identity paths with their values.
pub fn identity(cfg: &Config, instance: u32, name: &str) -> Vec<(ItemSpec, Value)> {
    let ro = |p: &str, f: Format, v: Value| (ItemSpec::new(p, f, Access::ReadOnly), v);
    let (product_id, product_name) = match cfg.mode {
        DeviceMode::Monitor => (PRODUCT_ID_MONITOR, "SmartShunt Aggregate"),
        DeviceMode::VirtualBms => (PRODUCT_ID_BMS, "Aggregate BMS"),
    };
    vec![
        ro(paths::MGMT_PROCESS_NAME, Format::Plain, PROCESS_NAME.into()),
        ro(paths::MGMT_PROCESS_VERSION, Format::Plain, env!("CARGO_PKG_VERSION").into()),
        ro(paths::MGMT_CONNECTION, Format::Plain, "Virtual (aggregate of SmartShunts)".into()),
        ro(paths::DEVICE_INSTANCE, Format::Plain, Value::Uint(instance)),
        ro(paths::PRODUCT_ID, Format::Hex, Value::Uint(product_id)),
        ro(paths::PRODUCT_NAME, Format::Plain, product_name.into()),
        ro(paths::FIRMWARE_VERSION, Format::Firmware, Value::Uint(firmware_version())),
        ro(paths::HARDWARE_VERSION, Format::Plain, Value::Invalid),
        ro(paths::SERIAL, Format::Plain, "aggregate_shunts".into()),
        ro(paths::CONNECTED, Format::Plain, Value::Uint(1)),
        ro(paths::DEVICES_VIRTUAL, Format::Plain, Value::Uint(1)),
        (ItemSpec::new(paths::CUSTOM_NAME, Format::Plain, Access::Text { max_len: MAX_NAME_LEN }), name.into()),
        ro(paths::MEASUREMENT_KIND, Format::Plain, "derived".into()),
        ro(paths::MEASUREMENT_TRACKS, Format::Plain, "".into()),
        ro(paths::NR_OF_BATTERIES, Format::Plain, Value::Uint(0)),
        (ItemSpec::new(paths::BATTERY_REQUEST_ID, Format::Plain, Access::Ask), Value::Invalid),
    ]
}

/// Every computed path of the mode (measurements, and the BMS paths in virtual-bms mode).
pub fn computed(mode: DeviceMode) -> impl Iterator<Item = &'static Quantity> {
    paths::published_rows(mode == DeviceMode::VirtualBms)
}

/// The momentary `forget` action (the owner decides whether a write is accepted) and its
/// outcome.
pub fn forget_specs() -> [ItemSpec; 2] {
    [ItemSpec::new(paths::FORGET, Format::Plain, Access::Ask), ItemSpec::new(paths::FORGET_RESULT, Format::Plain, Access::ReadOnly)]
}

/// Paths of one `/Battery/<n>` entry.
pub fn battery_specs(n: usize) -> Vec<ItemSpec> {
    paths::BATTERY_FIELDS.iter().map(|(f, fmt)| ItemSpec::new(paths::battery(n, f), *fmt, Access::ReadOnly)).collect()
}

/// Paths of one member slot.
pub fn member_specs(slot: usize) -> Vec<ItemSpec> {
    paths::MEMBER_FIELDS.iter().map(|(f, fmt)| ItemSpec::new(paths::member(slot, f), *fmt, Access::ReadOnly)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_version_encodes_the_crate_version() {
        let v = firmware_version();
        assert_eq!(
            Format::Firmware.text(&Value::Uint(v)),
            format!("v{}", {
                let mut p = env!("CARGO_PKG_VERSION").split('.');
                format!("{:x}.{:02x}", p.next().unwrap().parse::<u32>().unwrap(), p.next().unwrap().parse::<u32>().unwrap())
            })
        );
    }
}
