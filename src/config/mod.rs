//! Configuration: loading, validation and description of the daemon's settings.
//!
//! Contract:
//! * Settings come from INI files read in order (normally the shipped `config.default.ini`,
//!   then the user's optional `config.ini`); a later file overrides an earlier one key by
//!   key. `KEY =` with an empty value means "the built-in default", also when an earlier
//!   file set something else.
//! * All keys belong in `[DEFAULT]`; keys before any section count as `[DEFAULT]`. Other
//!   sections are skipped with a warning. Keys are case-insensitive. Whole-line comments
//!   start with `#` or `;`; an inline comment starts at a `#` or `;` that follows
//!   whitespace and is outside double quotes. A value may be wrapped in one pair of double
//!   quotes; quotes anywhere else are an error (except in the list of `EXCLUDE_SHUNTS`).
//! * Every problem names its file, line and key. All errors are collected and returned
//!   together, in file and line order; any error means the daemon must not start. An
//!   unknown key is an error (a misspelt key would otherwise silently leave its setting at
//!   the default), or only a warning with `ALLOW_UNKNOWN_KEYS = true`. Warnings (retired
//!   keys, other sections, duplicate keys, limits that monitor mode ignores) never stop it.
//! * A returned [`Config`] is fully valid: every value is in range, the cold limits lie
//!   below the hot limit, virtual-bms mode has all three limits and monitor mode has none
//!   (they are dropped with a warning).
//! * [`Config::describe`] prints the effective settings in the file syntax; reading that
//!   text back gives an equal `Config` with no warnings.
//!
//! How, by file:
//! * `keys`: one row per key (name, built-in default, parser, how it is shown); the
//!   defaults and [`Config::describe`] come from it.
//! * `values`: the typed parsers of one value (numbers, names, quotes, the exclude list).
//! * `parse`: a small pre-pass turns each file into plain `[DEFAULT]\nKEY=value` text (it
//!   knows comments, quotes, case and line numbers) and `serde_ini` turns that into the
//!   key/value entries (a project rule).
//! * `load`: reads the files, applies each entry through its row and cross-checks the result.
//! * `suggest`: "did you mean" for misspelt keys.

use std::fmt;
use std::time::Duration;

use crate::domain::charge::table::Table;

use log::LevelFilter;

pub mod gui;
mod keys;
mod load;
mod parse;
mod suggest;
mod values;

/// What the daemon publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMode {
    /// A battery monitor only (no charge limits).
    Monitor,
    /// A battery monitor that also publishes BMS limits (CVL/CCL/DCL) for DVCC.
    VirtualBms,
}

/// One item of `EXCLUDE_SHUNTS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Exclude {
    /// The item as written, without its quotes.
    pub text: String,
    /// Set for a bare all-digit item, which may also mean a device instance.
    pub instance: Option<u32>,
}

impl Exclude {
    /// True when this item names the shunt with the given D-Bus service name, device
    /// instance and custom name.
    pub fn matches(&self, service: &str, instance: Option<u32>, custom_name: &str) -> bool {
        const PREFIX: &str = "com.victronenergy.battery.";
        (self.instance.is_some() && self.instance == instance)
            || self.text == custom_name
            || self.text == service
            || service.strip_prefix(PREFIX) == Some(self.text.as_str())
    }
}

/// The validated settings. See `config.default.ini` for what each one means; the built-in
/// values ([`Config::default`]) are the `default` column of the key table.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub mode: DeviceMode,
    pub device_name: Option<String>,
    pub device_instance: u32,
    pub total_capacity: Option<f64>,
    pub exclude: Vec<Exclude>,
    pub temp_cold_danger: f64,
    pub temp_hot_danger: f64,
    pub temp_discharge_cold: f64,
    /// Virtual-BMS: discharging stops above this (by sensor).
    pub temp_discharge_hot: f64,
    /// Virtual-BMS: charge a bank that has no temperature sensor at all (a risk the user
    /// accepted; said at every start).
    pub accept_no_temperature_sensor: bool,
    pub max_charge_voltage: Option<f64>,
    pub max_charge_current: Option<f64>,
    pub max_discharge_current: Option<f64>,
    /// Virtual-BMS: discharging stops (latched) below this bank voltage; `None`: 2.8 V per
    /// LiFePO4 cell of the nominal bank voltage MAX_CHARGE_VOLTAGE implies.
    pub min_bank_voltage: Option<f64>,
    /// Virtual-BMS charge stages (`domain::charge`); `None`: no float stage.
    pub float_voltage: Option<f64>,
    pub tail_current: f64,
    pub tail_time: Duration,
    pub min_absorption_time: Duration,
    pub max_absorption_time: Duration,
    pub rebulk_soc: f64,
    pub rebulk_voltage: Option<f64>,
    pub rebulk_days: u32,
    /// Tapers: the charge current by each sensor's temperature (°C) and by the bank's SoC
    /// (%), the discharge current by SoC and by the bank voltage per cell under load.
    pub charge_temp_table: Table,
    pub charge_soc_table: Table,
    pub discharge_soc_table: Table,
    pub discharge_voltage_table: Table,
    /// HIDE_GUI_CONTROLS: `None` hides them in virtual-bms mode only ([`Config::controls_hidden`]).
    pub hide_gui_controls: Option<bool>,
    /// Hide the member shunts from systemcalc's battery list (`Enabled` = 0).
    pub hide_member_shunts: bool,
    /// Monitor mode: make the aggregate the battery monitor while that setting is "default".
    pub select_battery_monitor: bool,
    pub bms_temp_margin: f64,
    pub bms_hold_time: Duration,
    pub bms_ramp_time: Duration,
    pub log_level: LevelFilter,
    /// `None` when `LOG_PERIOD = 0` (no periodic status line).
    pub log_period: Option<Duration>,
    pub stale_timeout: Duration,
    pub offline_grace: Duration,
    /// OUT_OF_CIRCUIT_TIME: how long a live member may carry none of the bank's current before
    /// its share leaves the BMS limits (`bank::circuit`).
    pub out_of_circuit_time: Duration,
    pub start_timeout: Duration,
    pub rescan_interval: Duration,
    /// `ALLOW_UNKNOWN_KEYS`: an unknown key is then a warning instead of an error.
    pub allow_unknown_keys: bool,
}

impl Config {
    /// Whether the GUI gets no controls (HIDE_GUI_CONTROLS; by default hidden in virtual-bms
    /// mode, where a crew should not change the limits by accident).
    pub fn controls_hidden(&self) -> bool {
        self.hide_gui_controls.unwrap_or(self.mode == DeviceMode::VirtualBms)
    }

    /// The product name used when `DEVICE_NAME` is not set.
    pub fn default_name(&self) -> &'static str {
        match self.mode {
            DeviceMode::Monitor => "SmartShunt Aggregate",
            DeviceMode::VirtualBms => "Aggregate BMS",
        }
    }
}

/// A successfully loaded configuration and the warnings met on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    /// Every one has [`Severity::Warning`].
    pub warnings: Vec<Diagnostic>,
    /// The file each key was last set in; a key no file sets has its built-in value.
    pub sources: std::collections::BTreeMap<&'static str, String>,
}

/// Whether a [`Diagnostic`] stops the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Worth telling the user about; the daemon still starts.
    Warning,
    /// The daemon must not start.
    Error,
}

/// A problem found in the configuration. Displays as `file:line: KEY: message` (the
/// severity is not part of the text; callers say "error" or "warning" as they print it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// "1 error", "2 errors": the count as a summary line says it.
pub fn error_count(n: usize) -> String {
    match n {
        1 => "1 error".to_string(),
        n => format!("{n} errors"),
    }
}

impl Diagnostic {
    fn new(severity: Severity, file: &str, line: Option<usize>, key: Option<&str>, message: impl Into<String>) -> Self {
        Diagnostic { severity, file: file.to_string(), line, key: key.map(str::to_string), message: message.into() }
    }
}

#[cfg(test)]
mod tests;
