//! The key table: one row per setting, with its name, built-in default, parser and how it
//! is shown. [`Config::default`], loading, [`Config::describe`] and the spelling
//! suggestions all read it; adding a key means a `Config` field and a row here.

use std::time::Duration;

use log::LevelFilter;

use super::values::{current, exclude, exclude_text, flag, level, level_text, mode, mode_text, name, opt, real, secs, table, temp, unquote, whole};
use super::{Config, DeviceMode};
use crate::domain::charge::table::Table;

/// One setting.
pub(super) struct Key {
    pub name: &'static str,
    /// The built-in value in the file syntax, as `show` writes it; "" means "not set".
    pub default: &'static str,
    /// False for `EXCLUDE_SHUNTS`, whose quotes group items: its parser gets them too.
    pub unquote: bool,
    /// Stores a value given without its quotes. A blank value reaches it only when
    /// `default` is "" (the loader puts the default in place of a blank otherwise).
    pub parse: fn(&str, &mut Config) -> Result<(), String>,
    /// The current value in the file syntax ("" for "not set").
    pub show: fn(&Config) -> String,
}

const fn key(name: &'static str, default: &'static str, parse: fn(&str, &mut Config) -> Result<(), String>, show: fn(&Config) -> String) -> Key {
    Key { name, default, unquote: true, parse, show }
}

/// Stores a parsed value in its field.
fn set<T>(field: &mut T, value: Result<T, String>) -> Result<(), String> {
    *field = value?;
    Ok(())
}

fn opt_text(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn secs_text(d: Duration) -> String {
    d.as_secs().to_string()
}

/// Every key, in the order `describe()` prints them.
#[rustfmt::skip]
pub(super) const KEYS: [Key; 40] = [
    key("DEVICE_MODE", "monitor",
        |v, c| set(&mut c.mode, mode(v)),
        |c| mode_text(c.mode).into()),
    // Always shown quoted, so names with " #", " ;" or leading spaces survive.
    key("DEVICE_NAME", "",
        |v, c| set(&mut c.device_name, name(v)),
        |c| c.device_name.as_ref().map(|n| format!("\"{n}\"")).unwrap_or_default()),
    // The range keeps the value far below u32::MAX.
    key("DEVICE_INSTANCE", "100",
        |v, c| set(&mut c.device_instance,
                   whole(v, 0, 999, "a device instance, a whole number").map(|n| n as u32)),
        |c| c.device_instance.to_string()),
    key("TOTAL_CAPACITY", "",
        |v, c| set(&mut c.total_capacity,
                   opt(v, |v| real(v, 0.0, 100_000.0, false, "a capacity in Ah"))),
        |c| opt_text(c.total_capacity)),
    Key { unquote: false, ..key("EXCLUDE_SHUNTS", "",
        |v, c| set(&mut c.exclude, exclude(v)),
        |c| exclude_text(&c.exclude)) },
    key("TEMP_COLD_DANGER", "5",
        |v, c| set(&mut c.temp_cold_danger, temp(v, -40.0, 80.0)),
        |c| c.temp_cold_danger.to_string()),
    key("TEMP_HOT_DANGER", "45",
        |v, c| set(&mut c.temp_hot_danger, temp(v, -40.0, 100.0)),
        |c| c.temp_hot_danger.to_string()),
    key("TEMP_DISCHARGE_COLD", "-20",
        |v, c| set(&mut c.temp_discharge_cold, temp(v, -40.0, 80.0)),
        |c| c.temp_discharge_cold.to_string()),
    key("TEMP_DISCHARGE_HOT", "60",
        |v, c| set(&mut c.temp_discharge_hot, temp(v, -40.0, 100.0)),
        |c| c.temp_discharge_hot.to_string()),
    key("ACCEPT_NO_TEMPERATURE_SENSOR", "false",
        |v, c| set(&mut c.accept_no_temperature_sensor, flag(v)),
        |c| c.accept_no_temperature_sensor.to_string()),
    key("MAX_CHARGE_VOLTAGE", "",
        |v, c| set(&mut c.max_charge_voltage,
                   opt(v, |v| real(v, 1.0, 100.0, true, "a voltage in V"))),
        |c| opt_text(c.max_charge_voltage)),
    key("MAX_CHARGE_CURRENT", "",
        |v, c| set(&mut c.max_charge_current, opt(v, current)),
        |c| opt_text(c.max_charge_current)),
    key("MAX_DISCHARGE_CURRENT", "",
        |v, c| set(&mut c.max_discharge_current, opt(v, current)),
        |c| opt_text(c.max_discharge_current)),
    key("MIN_BANK_VOLTAGE", "",
        |v, c| set(&mut c.min_bank_voltage,
                   opt(v, |v| real(v, 1.0, 100.0, true, "a voltage in V"))),
        |c| opt_text(c.min_bank_voltage)),
    key("FLOAT_VOLTAGE", "",
        |v, c| set(&mut c.float_voltage, opt(v, |v| real(v, 1.0, 100.0, true, "a voltage in V"))),
        |c| opt_text(c.float_voltage)),
    key("TAIL_CURRENT", "0.02",
        |v, c| set(&mut c.tail_current, real(v, 0.001, 0.5, true, "a fraction of the capacity per hour (0.02 = 2 A per 100 Ah)")),
        |c| c.tail_current.to_string()),
    key("TAIL_TIME", "180",
        |v, c| set(&mut c.tail_time, secs(v, 1, 7200)),
        |c| secs_text(c.tail_time)),
    key("MIN_ABSORPTION_TIME", "600",
        |v, c| set(&mut c.min_absorption_time, secs(v, 0, 86_400)),
        |c| secs_text(c.min_absorption_time)),
    key("MAX_ABSORPTION_TIME", "3600",
        |v, c| set(&mut c.max_absorption_time, secs(v, 1, 86_400)),
        |c| secs_text(c.max_absorption_time)),
    key("REBULK_SOC", "85",
        |v, c| set(&mut c.rebulk_soc, real(v, 0.0, 99.0, true, "a state of charge in %")),
        |c| c.rebulk_soc.to_string()),
    key("REBULK_VOLTAGE", "",
        |v, c| set(&mut c.rebulk_voltage, opt(v, |v| real(v, 1.0, 100.0, true, "a voltage in V"))),
        |c| opt_text(c.rebulk_voltage)),
    key("REBULK_DAYS", "14",
        |v, c| set(&mut c.rebulk_days, whole(v, 0, 365, "a whole number of days (0: never by age)").map(|d| d as u32)),
        |c| c.rebulk_days.to_string()),
    key("CHARGE_TEMP_TABLE", "5:0.5, 10:1, 40:1, 45:0.5",
        |v, c| set(&mut c.charge_temp_table, table(v)),
        |c| c.charge_temp_table.to_string()),
    key("CHARGE_SOC_TABLE", "85:1, 90:0.5, 95:0.2, 98:0.1",
        |v, c| set(&mut c.charge_soc_table, table(v)),
        |c| c.charge_soc_table.to_string()),
    key("DISCHARGE_SOC_TABLE", "5:0.2, 10:0.5, 15:1",
        |v, c| set(&mut c.discharge_soc_table, table(v)),
        |c| c.discharge_soc_table.to_string()),
    key("DISCHARGE_VOLTAGE_TABLE", "2.9:0, 3:0.5, 3.1:1",
        |v, c| set(&mut c.discharge_voltage_table, table(v)),
        |c| c.discharge_voltage_table.to_string()),
    key("BMS_TEMP_MARGIN", "2",
        |v, c| set(&mut c.bms_temp_margin,
                   real(v, 0.0, 20.0, true, "a temperature difference in °C")),
        |c| c.bms_temp_margin.to_string()),
    key("BMS_HOLD_TIME", "60",
        |v, c| set(&mut c.bms_hold_time, secs(v, 0, 3600)),
        |c| secs_text(c.bms_hold_time)),
    key("BMS_RAMP_TIME", "60",
        |v, c| set(&mut c.bms_ramp_time, secs(v, 0, 3600)),
        |c| secs_text(c.bms_ramp_time)),
    // Empty: hidden in virtual-bms mode, shown in monitor mode.
    key("HIDE_GUI_CONTROLS", "",
        |v, c| set(&mut c.hide_gui_controls, opt(v, flag)),
        |c| c.hide_gui_controls.map(|b| b.to_string()).unwrap_or_default()),
    key("HIDE_MEMBER_SHUNTS", "false",
        |v, c| set(&mut c.hide_member_shunts, flag(v)),
        |c| c.hide_member_shunts.to_string()),
    key("SELECT_BATTERY_MONITOR", "false",
        |v, c| set(&mut c.select_battery_monitor, flag(v)),
        |c| c.select_battery_monitor.to_string()),
    key("LOGGING", "INFO",
        |v, c| set(&mut c.log_level, level(v)),
        |c| level_text(c.log_level).into()),
    // 0 turns the periodic status line off.
    key("LOG_PERIOD", "300",
        |v, c| set(&mut c.log_period,
                   secs(v, 0, 86_400).map(|p| Some(p).filter(|p| !p.is_zero()))),
        |c| c.log_period.map_or_else(|| "0".into(), secs_text)),
    key("STALE_TIMEOUT", "30",
        |v, c| set(&mut c.stale_timeout, secs(v, 2, 3600)),
        |c| secs_text(c.stale_timeout)),
    key("OFFLINE_GRACE", "300",
        |v, c| set(&mut c.offline_grace, secs(v, 0, 86_400)),
        |c| secs_text(c.offline_grace)),
    key("OUT_OF_CIRCUIT_TIME", "60",
        |v, c| set(&mut c.out_of_circuit_time, secs(v, 1, 3600)),
        |c| secs_text(c.out_of_circuit_time)),
    key("START_TIMEOUT", "10",
        |v, c| set(&mut c.start_timeout, secs(v, 1, 600)),
        |c| secs_text(c.start_timeout)),
    key("RESCAN_INTERVAL", "60",
        |v, c| set(&mut c.rescan_interval, secs(v, 5, 3600)),
        |c| secs_text(c.rescan_interval)),
    // Read when loading ends, so it counts wherever it stands in any file.
    key("ALLOW_UNKNOWN_KEYS", "false",
        |v, c| set(&mut c.allow_unknown_keys, flag(v)),
        |c| c.allow_unknown_keys.to_string()),
];

/// Keys of the original program that this daemon no longer has; an upgraded `config.ini`
/// may still carry them, so they get a clearer warning than "unknown".
pub(super) const RETIRED: [&str; 6] =
    ["CAPACITY_MODE", "UPDATE_INTERVAL_FIND_DEVICES", "MAX_UPDATE_INTERVAL_FIND_DEVICES", "SEARCH_TRIALS", "READ_TRIALS", "TIME_BEFORE_RESTART"];

/// A limit a virtual BMS must publish: its key, what it is for messages, and its field.
pub(super) struct Limit {
    pub key: &'static str,
    pub what: &'static str,
    pub field: fn(&mut Config) -> &mut Option<f64>,
}

pub(super) const LIMITS: [Limit; 3] = [
    Limit { key: "MAX_CHARGE_VOLTAGE", what: "a charge voltage limit (CVL)", field: |c| &mut c.max_charge_voltage },
    Limit { key: "MAX_CHARGE_CURRENT", what: "a charge current limit (CCL)", field: |c| &mut c.max_charge_current },
    Limit { key: "MAX_DISCHARGE_CURRENT", what: "a discharge current limit (DCL)", field: |c| &mut c.max_discharge_current },
];

/// The row of a key given in capitals.
pub(super) fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

impl Default for Config {
    /// Every key at the `default` of its row.
    fn default() -> Self {
        // Placeholders only: every field is set from its row just below.
        let mut c = Config {
            mode: DeviceMode::Monitor,
            device_name: None,
            device_instance: 0,
            total_capacity: None,
            exclude: Vec::new(),
            temp_cold_danger: 0.0,
            temp_hot_danger: 0.0,
            temp_discharge_cold: 0.0,
            temp_discharge_hot: 0.0,
            accept_no_temperature_sensor: false,
            max_charge_voltage: None,
            max_charge_current: None,
            max_discharge_current: None,
            min_bank_voltage: None,
            float_voltage: None,
            tail_current: 0.0,
            tail_time: Duration::ZERO,
            min_absorption_time: Duration::ZERO,
            max_absorption_time: Duration::ZERO,
            rebulk_soc: 0.0,
            rebulk_voltage: None,
            rebulk_days: 0,
            charge_temp_table: Table::ONE,
            charge_soc_table: Table::ONE,
            discharge_soc_table: Table::ONE,
            discharge_voltage_table: Table::ONE,
            hide_gui_controls: None,
            hide_member_shunts: false,
            select_battery_monitor: false,
            bms_temp_margin: 0.0,
            bms_hold_time: Duration::ZERO,
            bms_ramp_time: Duration::ZERO,
            log_level: LevelFilter::Off,
            log_period: None,
            stale_timeout: Duration::ZERO,
            offline_grace: Duration::ZERO,
            out_of_circuit_time: Duration::ZERO,
            start_timeout: Duration::ZERO,
            rescan_interval: Duration::ZERO,
            allow_unknown_keys: false,
        };
        for key in &KEYS {
            if let Err(e) = (key.parse)(key.default, &mut c) {
                // Constant data, checked by the tests: cannot happen in a build that passed.
                panic!("built-in default of {} is invalid: {e}", key.name);
            }
        }
        c
    }
}

impl Config {
    /// `KEY = value` lines of the effective settings, one per key, with "(default)" marks.
    /// The text is itself a valid configuration file.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for key in &KEYS {
            let value = (key.show)(self);
            out.push_str(key.name);
            out.push_str(" =");
            if !value.is_empty() {
                out.push(' ');
                out.push_str(&value);
            }
            if value == key.default {
                out.push_str("  # (default)");
            }
            out.push('\n');
        }
        out
    }
}

impl super::Loaded {
    /// Like [`Config::describe`], for the effective settings `now` (the files' with the GUI's
    /// `gui` on top): each line says where its value comes from (the GUI, a file, built-in).
    pub fn explain(&self, now: &Config, gui: &super::gui::Overrides) -> String {
        let mut out = String::new();
        for key in &KEYS {
            let value = (key.show)(now);
            let from = match (gui.source(key.name), self.sources.get(key.name)) {
                (Some(g), _) => format!("{g} (the files say {})", shown_or_unset((key.show)(&self.config))),
                (None, Some(file)) => std::path::Path::new(file).file_name().map_or(file.clone(), |f| f.to_string_lossy().into_owned()),
                (None, None) => "built-in".into(),
            };
            let sep = if value.is_empty() { "" } else { " " };
            out.push_str(&format!("{} ={sep}{value}  # from {from}\n", key.name));
        }
        out
    }
}

fn shown_or_unset(v: String) -> String {
    if v.is_empty() { "nothing".into() } else { v }
}

impl Key {
    /// Stores the value `raw` (as written, quotes and all) or says what is wrong with it.
    pub(super) fn apply(&self, raw: &str, c: &mut Config) -> Result<(), String> {
        let v = if self.unquote { unquote(raw)? } else { raw };
        // Blank means the built-in default. A key that is unset by default reads its blank
        // itself (DEVICE_NAME refuses one made of control characters).
        let v = if v.trim().is_empty() && !self.default.is_empty() { self.default } else { v };
        (self.parse)(v, c)
    }
}
