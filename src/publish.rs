//! From domain numbers to the published tree: the aggregate's identity paths, the member list
//! (`/Members/<slot>/*`), and rounding each value to its path's resolution so noise below it
//! changes nothing on the bus.

use crate::aggregate::Presence;
use crate::bank::{Circuit, Shunt};
use crate::config::{Config, DeviceMode};
use crate::paths::{self, Kind, Published};
use crate::venus::service::{Access, ItemSpec};
use crate::venus::value::{Format, Value};

pub const SERVICE_NAME: &str = "com.victronenergy.battery.aggregate_shunts";
pub const PROCESS_NAME: &str = "dbus-aggregate-smartshunts";
/// Monitor mode looks like a SmartShunt 500A/50mV to the GUI and VRM.
pub const PRODUCT_ID_MONITOR: u32 = 0xA389;
/// Virtual-BMS mode: the id community BMS drivers use; not one of the ids that switch on DVCC
/// quirks (0xB004, 0xB009, 0xB00A, 0xB015, 0xB019, 0xB029, 0xA3E3-0xA3E7).
pub const PRODUCT_ID_BMS: u32 = 0xBA77;
/// Unique id of our localsettings entries.
pub const SETTINGS_GROUP: &str = "/Settings/Devices/aggregate_shunts";
/// The bank's memory (see `memory`): which batteries belong to it.
pub const MEMBERS_SETTING: &str = "/Settings/Devices/aggregate_shunts/Members";
pub const MAX_NAME_LEN: usize = 64;

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

/// The wire value of a computed number for a published path.
pub fn to_value(def: &Published, v: Option<f64>) -> Value {
    match (def.kind, v) {
        (_, None) => Value::Invalid,
        (Kind::Double { step }, Some(v)) => Value::from(round_to(v, step)),
        (Kind::Uint, Some(v)) if v.is_finite() => Value::Uint(v.round().clamp(0.0, f64::from(u32::MAX)) as u32),
        _ => Value::Invalid,
    }
}

/// Spec and initial (invalid) value of a catalogue path.
pub fn spec_of(def: &Published) -> ItemSpec {
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
    ]
}

/// Every computed path of the mode (measurements, and the BMS paths in virtual-bms mode).
pub fn computed(mode: DeviceMode) -> impl Iterator<Item = &'static Published> {
    let bms: &[Published] = if mode == DeviceMode::VirtualBms { paths::BMS } else { &[] };
    paths::MEASUREMENTS.iter().chain(bms)
}

/// The momentary `forget` action (the owner decides whether a write is accepted) and its
/// outcome.
pub fn forget_specs() -> [ItemSpec; 2] {
    [ItemSpec::new(paths::FORGET, Format::Plain, Access::Ask), ItemSpec::new(paths::FORGET_RESULT, Format::Plain, Access::ReadOnly)]
}

const MEMBER_FIELDS: [(&str, Format); 7] = [
    ("Service", Format::Plain),
    ("Serial", Format::Plain),
    ("DeviceInstance", Format::Plain),
    ("Name", Format::Plain),
    ("Capacity", Format::AMP_HOUR),
    ("CapacitySource", Format::Plain),
    ("State", Format::Plain),
];

/// Paths of one member slot.
pub fn member_specs(slot: usize) -> Vec<ItemSpec> {
    MEMBER_FIELDS.iter().map(|(f, fmt)| ItemSpec::new(paths::member(slot, f), *fmt, Access::ReadOnly)).collect()
}

/// Values of one member slot, in the order of [`member_specs`].
pub fn member_values(m: &Shunt) -> Vec<(String, Value)> {
    let state = match (m.presence, m.circuit) {
        (Presence::Online, Circuit::Out) => "online, out of the circuit (carries no current)",
        (Presence::Online, _) => "online",
        (Presence::Held, _) => "offline (values held)",
        (Presence::Lost, _) if m.missing() => "missing since the start (remembered)",
        (Presence::Lost, _) => "lost",
    };
    let values = [
        Value::from(m.service.as_str()),
        Value::from(m.serial.as_str()),
        Value::Uint(m.instance),
        Value::from(m.name()),
        Value::from(m.capacity.map(|c| round_to(c, 0.1))),
        Value::from(m.capacity_source.describe()),
        Value::from(state),
    ];
    MEMBER_FIELDS.iter().zip(values).map(|((f, _), v)| (paths::member(m.slot, f), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_leaves_no_noise() {
        assert_eq!(round_to(13.2700000001, 0.01), 13.27);
        assert_eq!(round_to(13.274999, 0.01), 13.27);
        assert_eq!(round_to(-0.04, 0.1), 0.0);
        assert!(round_to(-0.04, 0.1).is_sign_positive());
        assert_eq!(round_to(3599.0, 60.0), 3600.0);
        assert_eq!(round_to(180.364, 1.0), 180.0);
    }

    #[test]
    fn values_take_the_path_type() {
        let soc = paths::published(paths::SOC).unwrap();
        assert_eq!(to_value(soc, Some(88.5999)), Value::Double(88.6));
        assert_eq!(to_value(soc, None), Value::Invalid);
        let online = paths::published(paths::MODULES_ONLINE).unwrap();
        assert_eq!(to_value(online, Some(2.0)), Value::Uint(2));
        assert_eq!(to_value(online, Some(-1.0)), Value::Uint(0));
    }

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
