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
//!   together; any error means the daemon must not start. Warnings (unknown or retired
//!   keys, other sections, duplicate keys, limits that monitor mode ignores) never stop it.
//! * A returned [`Config`] is fully valid: every value is in range, the cold limits lie
//!   below the hot limit, virtual-bms mode has all three limits and monitor mode has none
//!   (they are dropped with a warning).
//! * [`Config::describe`] prints the effective settings in the file syntax; reading that
//!   text back gives an equal `Config` with no warnings.
//!
//! How: a small pre-pass turns each file into plain `[DEFAULT]\nKEY=value` text (it knows
//! comments, quotes, case and line numbers), `serde_ini` turns that into the key/value map
//! (a project rule), and a typed conversion checks and stores each value.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

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

/// The validated settings. See `config.default.ini` for what each one means.
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
    pub max_charge_voltage: Option<f64>,
    pub max_charge_current: Option<f64>,
    pub max_discharge_current: Option<f64>,
    pub bms_temp_margin: f64,
    pub bms_hold_time: Duration,
    pub bms_ramp_time: Duration,
    pub log_level: LevelFilter,
    /// `None` when `LOG_PERIOD = 0` (no periodic status line).
    pub log_period: Option<Duration>,
    pub stale_timeout: Duration,
    pub offline_grace: Duration,
    pub out_of_circuit_time: Duration,
    pub start_timeout: Duration,
    pub rescan_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: DeviceMode::Monitor,
            device_name: None,
            device_instance: 100,
            total_capacity: None,
            exclude: Vec::new(),
            temp_cold_danger: 5.0,
            temp_hot_danger: 45.0,
            temp_discharge_cold: -20.0,
            max_charge_voltage: None,
            max_charge_current: None,
            max_discharge_current: None,
            bms_temp_margin: 2.0,
            bms_hold_time: Duration::from_secs(60),
            bms_ramp_time: Duration::from_secs(60),
            log_level: LevelFilter::Info,
            log_period: Some(Duration::from_secs(300)),
            stale_timeout: Duration::from_secs(30),
            offline_grace: Duration::from_secs(300),
            out_of_circuit_time: Duration::from_secs(60),
            start_timeout: Duration::from_secs(10),
            rescan_interval: Duration::from_secs(60),
        }
    }
}

/// A successfully loaded configuration and the warnings met on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigWarning>,
}

/// A problem that stops the daemon. Displays as `file:line: KEY: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

/// A problem worth telling the user about that does not stop the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

fn fmt_located(
    f: &mut fmt::Formatter<'_>,
    file: &str,
    line: Option<usize>,
    key: Option<&str>,
    message: &str,
) -> fmt::Result {
    f.write_str(file)?;
    if let Some(line) = line {
        write!(f, ":{line}")?;
    }
    if let Some(key) = key {
        write!(f, ": {key}")?;
    }
    write!(f, ": {message}")
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_located(f, &self.file, self.line, self.key.as_deref(), &self.message)
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_located(f, &self.file, self.line, self.key.as_deref(), &self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every key, in the order `describe()` prints them.
const KEYS: [&str; 21] = [
    "DEVICE_MODE",
    "DEVICE_NAME",
    "DEVICE_INSTANCE",
    "TOTAL_CAPACITY",
    "EXCLUDE_SHUNTS",
    "TEMP_COLD_DANGER",
    "TEMP_HOT_DANGER",
    "TEMP_DISCHARGE_COLD",
    "MAX_CHARGE_VOLTAGE",
    "MAX_CHARGE_CURRENT",
    "MAX_DISCHARGE_CURRENT",
    "BMS_TEMP_MARGIN",
    "BMS_HOLD_TIME",
    "BMS_RAMP_TIME",
    "LOGGING",
    "LOG_PERIOD",
    "STALE_TIMEOUT",
    "OFFLINE_GRACE",
    "OUT_OF_CIRCUIT_TIME",
    "START_TIMEOUT",
    "RESCAN_INTERVAL",
];

/// Keys of the original program that this daemon no longer has; an upgraded `config.ini`
/// may still carry them, so they get a clearer warning than "unknown".
const RETIRED: [&str; 6] = [
    "CAPACITY_MODE",
    "UPDATE_INTERVAL_FIND_DEVICES",
    "MAX_UPDATE_INTERVAL_FIND_DEVICES",
    "SEARCH_TRIALS",
    "READ_TRIALS",
    "TIME_BEFORE_RESTART",
];

/// The three limits a virtual BMS must publish, with what they are for messages.
const LIMITS: [(&str, &str); 3] = [
    ("MAX_CHARGE_VOLTAGE", "a charge voltage limit (CVL)"),
    ("MAX_CHARGE_CURRENT", "a charge current limit (CCL)"),
    ("MAX_DISCHARGE_CURRENT", "a discharge current limit (DCL)"),
];

impl Config {
    /// The product name used when `DEVICE_NAME` is not set.
    pub fn default_name(&self) -> &'static str {
        match self.mode {
            DeviceMode::Monitor => "SmartShunt Aggregate",
            DeviceMode::VirtualBms => "Aggregate BMS",
        }
    }

    /// Loads the files in order (later overrides earlier); a file that does not exist is
    /// skipped if `required` is false for it, an error otherwise.
    pub fn load(files: &[(PathBuf, bool)]) -> Result<Loaded, Vec<ConfigError>> {
        let mut loader = Loader::default();
        for (path, required) in files {
            let file = path.display().to_string();
            match std::fs::read(path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => loader.add(&text, &file),
                    Err(e) => loader.error(
                        &file,
                        None,
                        None,
                        format!(
                            "is not UTF-8 text (bad byte at offset {})",
                            e.utf8_error().valid_up_to()
                        ),
                    ),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
                Err(e) => loader.error(&file, None, None, format!("cannot be read: {e}")),
            }
        }
        loader.finish()
    }

    /// Parses one text as if it were the given file (for tests and fuzzing).
    pub fn from_str(text: &str, file: &str) -> Result<Loaded, Vec<ConfigError>> {
        let mut loader = Loader::default();
        loader.add(text, file);
        loader.finish()
    }

    /// `KEY = value` lines of the effective settings, one per key, with "(default)" marks.
    /// The text is itself a valid configuration file.
    pub fn describe(&self) -> String {
        let defaults = Config::default();
        let mut out = String::new();
        for key in KEYS {
            let value = self.value_text(key);
            out.push_str(key);
            out.push_str(" =");
            if !value.is_empty() {
                out.push(' ');
                out.push_str(&value);
            }
            if value == defaults.value_text(key) {
                out.push_str("  # (default)");
            }
            out.push('\n');
        }
        out
    }

    /// One key's value in the syntax the file accepts ("" for "not set").
    fn value_text(&self, key: &str) -> String {
        let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        let secs = |d: Duration| d.as_secs().to_string();
        match key {
            "DEVICE_MODE" => match self.mode {
                DeviceMode::Monitor => "monitor".into(),
                DeviceMode::VirtualBms => "virtual-bms".into(),
            },
            // Always quoted, so names with " #", " ;" or leading spaces survive.
            "DEVICE_NAME" => self
                .device_name
                .as_ref()
                .map(|n| format!("\"{n}\""))
                .unwrap_or_default(),
            "DEVICE_INSTANCE" => self.device_instance.to_string(),
            "TOTAL_CAPACITY" => opt(self.total_capacity),
            "EXCLUDE_SHUNTS" => self
                .exclude
                .iter()
                .map(|e| match e.instance {
                    Some(_) => e.text.clone(),
                    None => format!("\"{}\"", e.text),
                })
                .collect::<Vec<_>>()
                .join(", "),
            "TEMP_COLD_DANGER" => self.temp_cold_danger.to_string(),
            "TEMP_HOT_DANGER" => self.temp_hot_danger.to_string(),
            "TEMP_DISCHARGE_COLD" => self.temp_discharge_cold.to_string(),
            "MAX_CHARGE_VOLTAGE" => opt(self.max_charge_voltage),
            "MAX_CHARGE_CURRENT" => opt(self.max_charge_current),
            "MAX_DISCHARGE_CURRENT" => opt(self.max_discharge_current),
            "BMS_TEMP_MARGIN" => self.bms_temp_margin.to_string(),
            "BMS_HOLD_TIME" => secs(self.bms_hold_time),
            "BMS_RAMP_TIME" => secs(self.bms_ramp_time),
            "LOGGING" => match self.log_level {
                LevelFilter::Off => "OFF",
                LevelFilter::Error => "ERROR",
                LevelFilter::Warn => "WARNING",
                LevelFilter::Info => "INFO",
                LevelFilter::Debug => "DEBUG",
                LevelFilter::Trace => "TRACE",
            }
            .into(),
            "LOG_PERIOD" => self.log_period.map(secs).unwrap_or_else(|| "0".into()),
            "STALE_TIMEOUT" => secs(self.stale_timeout),
            "OFFLINE_GRACE" => secs(self.offline_grace),
            "OUT_OF_CIRCUIT_TIME" => secs(self.out_of_circuit_time),
            "START_TIMEOUT" => secs(self.start_timeout),
            "RESCAN_INTERVAL" => secs(self.rescan_interval),
            _ => String::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Typed conversion of one value

/// Sets `key` from its raw text (surrounding quotes still on). Returns the message for a
/// bad value, which the caller locates.
fn apply(c: &mut Config, key: &str, raw: &str) -> Result<(), String> {
    // The list keeps its quotes: they group items that contain commas.
    if key == "EXCLUDE_SHUNTS" {
        c.exclude = parse_exclude(raw)?;
        return Ok(());
    }
    let v = unquote(raw)?;
    let d = Config::default();
    let temp = |min, max| move |v: &str| real(v, min, max, true, "a temperature in °C");
    match key {
        "DEVICE_MODE" => c.mode = or(v, d.mode, mode)?,
        "DEVICE_NAME" => c.device_name = name(v)?,
        "DEVICE_INSTANCE" => {
            // The range keeps the value far below u32::MAX.
            c.device_instance = or(v, d.device_instance, |v| {
                whole(v, 0, 999, "a device instance, a whole number").map(|n| n as u32)
            })?
        }
        "TOTAL_CAPACITY" => {
            c.total_capacity = opt(v, |v| real(v, 0.0, 100_000.0, false, "a capacity in Ah"))?
        }
        "TEMP_COLD_DANGER" => c.temp_cold_danger = or(v, d.temp_cold_danger, temp(-40.0, 80.0))?,
        "TEMP_HOT_DANGER" => c.temp_hot_danger = or(v, d.temp_hot_danger, temp(-40.0, 100.0))?,
        "TEMP_DISCHARGE_COLD" => {
            c.temp_discharge_cold = or(v, d.temp_discharge_cold, temp(-40.0, 80.0))?
        }
        "MAX_CHARGE_VOLTAGE" => {
            c.max_charge_voltage = opt(v, |v| real(v, 1.0, 100.0, true, "a voltage in V"))?
        }
        "MAX_CHARGE_CURRENT" => c.max_charge_current = opt(v, current)?,
        "MAX_DISCHARGE_CURRENT" => c.max_discharge_current = opt(v, current)?,
        "BMS_TEMP_MARGIN" => {
            c.bms_temp_margin = or(v, d.bms_temp_margin, |v| {
                real(v, 0.0, 20.0, true, "a temperature difference in °C")
            })?
        }
        "BMS_HOLD_TIME" => c.bms_hold_time = or(v, d.bms_hold_time, |v| secs(v, 0, 3600))?,
        "BMS_RAMP_TIME" => c.bms_ramp_time = or(v, d.bms_ramp_time, |v| secs(v, 0, 3600))?,
        "LOGGING" => c.log_level = or(v, d.log_level, level)?,
        "LOG_PERIOD" => {
            c.log_period = or(v, d.log_period, |v| {
                secs(v, 0, 86_400).map(|p| Some(p).filter(|p| !p.is_zero()))
            })?
        }
        "STALE_TIMEOUT" => c.stale_timeout = or(v, d.stale_timeout, |v| secs(v, 2, 3600))?,
        "OFFLINE_GRACE" => c.offline_grace = or(v, d.offline_grace, |v| secs(v, 0, 86_400))?,
        "OUT_OF_CIRCUIT_TIME" => {
            c.out_of_circuit_time = or(v, d.out_of_circuit_time, |v| secs(v, 1, 3600))?
        }
        "START_TIMEOUT" => c.start_timeout = or(v, d.start_timeout, |v| secs(v, 1, 600))?,
        "RESCAN_INTERVAL" => c.rescan_interval = or(v, d.rescan_interval, |v| secs(v, 5, 3600))?,
        _ => {}
    }
    Ok(())
}

/// Empty means the default.
fn or<T>(v: &str, default: T, parse: impl Fn(&str) -> Result<T, String>) -> Result<T, String> {
    if v.trim().is_empty() {
        Ok(default)
    } else {
        parse(v.trim())
    }
}

/// Empty means "not set".
fn opt<T>(v: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    if v.trim().is_empty() {
        Ok(None)
    } else {
        parse(v.trim()).map(Some)
    }
}

/// Strips one pair of surrounding double quotes. Quotes anywhere else are refused: the
/// comment pre-pass treats every `"` as a quote mark, so a stray one would silently hide
/// a later comment marker.
fn unquote(raw: &str) -> Result<&str, String> {
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    if inner.contains('"') {
        Err(format!(
            "{} has a stray double quote; quotes may only enclose the whole value",
            shown(raw)
        ))
    } else {
        Ok(inner)
    }
}

/// A value as shown in messages: quoted, with control characters escaped.
fn shown(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if v.contains('"') {
        format!("'{out}'")
    } else {
        format!("\"{out}\"")
    }
}

fn invalid(v: &str, expected: impl fmt::Display) -> String {
    format!("{} is not valid, expected {expected}", shown(v))
}

fn mode(v: &str) -> Result<DeviceMode, String> {
    match v.to_ascii_lowercase().as_str() {
        "monitor" => Ok(DeviceMode::Monitor),
        "virtual-bms" => Ok(DeviceMode::VirtualBms),
        _ => Err(invalid(v, "monitor or virtual-bms")),
    }
}

fn level(v: &str) -> Result<LevelFilter, String> {
    match v.to_ascii_uppercase().as_str() {
        "ERROR" => Ok(LevelFilter::Error),
        "WARNING" | "WARN" => Ok(LevelFilter::Warn),
        "INFO" => Ok(LevelFilter::Info),
        "DEBUG" => Ok(LevelFilter::Debug),
        "TRACE" => Ok(LevelFilter::Trace),
        _ => Err(invalid(v, "one of ERROR, WARNING, INFO, DEBUG, TRACE")),
    }
}

/// A name; blank means "not set" (the mode's default name).
fn name(v: &str) -> Result<Option<String>, String> {
    if v.chars().any(char::is_control) {
        Err(invalid(v, "a name without control characters"))
    } else if v.trim().is_empty() {
        Ok(None)
    } else {
        Ok(Some(v.to_string()))
    }
}

fn current(v: &str) -> Result<f64, String> {
    real(v, 0.0, 10_000.0, false, "a current in A (whole bank)")
}

/// A plain decimal number (`5`, `5.0`, `-3.5`) in range. Exponents, units, `inf` and `NaN`
/// are refused: Rust's float parser alone would accept several of them.
fn real(v: &str, min: f64, max: f64, min_inclusive: bool, what: &str) -> Result<f64, String> {
    let expected = || {
        if min_inclusive {
            format!("{what} between {min} and {max}")
        } else {
            format!("{what}, more than {min} and at most {max}")
        }
    };
    let unsigned = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err(invalid(v, expected()));
    }
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x <= max && (x > min || (min_inclusive && x == min)) => Ok(x),
        _ => Err(invalid(v, expected())),
    }
}

/// A whole number in `min..=max`.
fn whole(v: &str, min: u64, max: u64, what: &str) -> Result<u64, String> {
    let unsigned = v.strip_prefix('+').unwrap_or(v);
    let parsed = if unsigned.bytes().all(|b| b.is_ascii_digit()) {
        unsigned.parse::<u64>().ok()
    } else {
        None
    };
    parsed
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| invalid(v, format!("{what} between {min} and {max}")))
}

fn secs(v: &str, min: u64, max: u64) -> Result<Duration, String> {
    whole(v, min, max, "a whole number of seconds").map(Duration::from_secs)
}

/// `EXCLUDE_SHUNTS`: comma-separated items; an item may be double-quoted to hold commas or
/// to be matched as a name only.
fn parse_exclude(raw: &str) -> Result<Vec<Exclude>, String> {
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut items = vec![String::new()];
    let mut quoted = false;
    for c in raw.chars() {
        match c {
            ',' if !quoted => items.push(String::new()),
            _ => {
                if c == '"' {
                    quoted = !quoted;
                }
                if let Some(item) = items.last_mut() {
                    item.push(c);
                }
            }
        }
    }
    if quoted {
        return Err(format!("{} has an unbalanced double quote", shown(raw)));
    }
    let mut out = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let item = item.trim();
        let (text, is_quoted) = match item.strip_prefix('"').and_then(|i| i.strip_suffix('"')) {
            Some(inner) => (inner, true),
            None => (item, false),
        };
        if text.is_empty() {
            return Err(format!(
                "item {} of {} is empty (a doubled or trailing comma?)",
                n + 1,
                shown(raw)
            ));
        }
        if text.contains('"') {
            return Err(format!(
                "item {}: double quotes may only enclose a whole item",
                shown(item)
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(format!("item {} contains a control character", shown(item)));
        }
        // Only a bare number can mean an instance; too large for one, it stays a name.
        let instance = match is_quoted || !text.bytes().all(|b| b.is_ascii_digit()) {
            true => None,
            false => text.parse::<u32>().ok(),
        };
        out.push(Exclude {
            text: text.to_string(),
            instance,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Pre-pass and merging

/// Where a key was last set. Ordered by (file index, line): "later" wins.
#[derive(Debug, Clone)]
struct Origin {
    file_index: usize,
    file: String,
    line: Option<usize>,
}

impl Origin {
    fn rank(&self) -> (usize, usize) {
        (self.file_index, self.line.unwrap_or(0))
    }
}

#[derive(Default)]
struct Loader {
    config: Config,
    /// Where each known key got its current value.
    origins: BTreeMap<&'static str, Origin>,
    /// Keys whose current value was rejected; cross-checks on them would only add noise.
    failed: BTreeSet<&'static str>,
    /// Unknown keys seen, to hint at typos when a required key is missing.
    unknown: Vec<(String, Origin)>,
    files: usize,
    last_file: String,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigWarning>,
}

/// The output of the pre-pass for one file.
struct Prepared {
    /// `[DEFAULT]` plus one `KEY=value` line per accepted line, for serde_ini.
    ini: String,
    /// Key → line of its last occurrence.
    lines: BTreeMap<String, usize>,
}

/// Cuts an inline comment: a `#` or `;` at the start of the line or after whitespace,
/// outside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut after_space = true;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' | ';' if !quoted && after_space => return &line[..i],
            _ => {}
        }
        after_space = c.is_whitespace();
    }
    line
}

impl Loader {
    fn error(&mut self, file: &str, line: Option<usize>, key: Option<&str>, message: String) {
        let key = key.map(str::to_string);
        self.errors.push(ConfigError {
            file: file.to_string(),
            line,
            key,
            message,
        });
    }

    fn warn(&mut self, file: &str, line: Option<usize>, key: Option<&str>, message: String) {
        let key = key.map(str::to_string);
        self.warnings.push(ConfigWarning {
            file: file.to_string(),
            line,
            key,
            message,
        });
    }

    /// The pre-pass: comments, blank lines, sections, key case and line numbers. Values
    /// keep their quotes; the typed conversion strips them.
    fn prepare(&mut self, text: &str, file: &str) -> Prepared {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text); // BOM from Windows editors
        let mut ini = String::from("[DEFAULT]\n");
        let mut lines = BTreeMap::new();
        // (name, line, keys) of a section being skipped; warned about when it ends.
        let mut skipped: Option<(String, usize, Vec<String>)> = None;
        for (index, raw) in text.lines().enumerate() {
            let n = index + 1;
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            if let Some(header) = line.strip_prefix('[') {
                self.flush_skipped(file, skipped.take());
                match header.strip_suffix(']') {
                    Some(name) if name.trim().eq_ignore_ascii_case("DEFAULT") => {}
                    Some(name) => skipped = Some((name.trim().to_string(), n, Vec::new())),
                    None => self.error(file, Some(n), None, "section header lacks its ']'".into()),
                }
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                let hint = if line.contains(':') {
                    " (use '=' rather than ':')"
                } else {
                    ""
                };
                let msg = format!("expected KEY = value, but this line has no '='{hint}");
                self.error(file, Some(n), None, msg);
                continue;
            };
            let key = key.trim().to_uppercase();
            if key.is_empty() {
                self.error(
                    file,
                    Some(n),
                    None,
                    "the setting name before '=' is missing".into(),
                );
                continue;
            }
            if let Some((_, _, keys)) = &mut skipped {
                keys.push(key);
                continue;
            }
            if let Some(first) = lines.insert(key.clone(), n) {
                let msg = format!("is also set on line {first}; the last value is used");
                self.warn(file, Some(n), Some(&key), msg);
            }
            ini.push_str(&key);
            ini.push('=');
            ini.push_str(value.trim());
            ini.push('\n');
        }
        self.flush_skipped(file, skipped);
        Prepared { ini, lines }
    }

    fn flush_skipped(&mut self, file: &str, skipped: Option<(String, usize, Vec<String>)>) {
        if let Some((name, line, keys)) = skipped {
            let mut msg = format!("section [{name}] is ignored, all settings belong in [DEFAULT]");
            if !keys.is_empty() {
                msg.push_str(&format!("; not used: {}", keys.join(", ")));
            }
            self.warn(file, Some(line), None, msg);
        }
    }

    /// Reads one file's text on top of what earlier files set.
    fn add(&mut self, text: &str, file: &str) {
        let file_index = self.files;
        self.files += 1;
        self.last_file = file.to_string();
        let prepared = self.prepare(text, file);
        type Sections = BTreeMap<String, BTreeMap<String, String>>;
        let mut sections = match serde_ini::from_str::<Sections>(&prepared.ini) {
            Ok(sections) => sections,
            Err(e) => {
                // The pre-pass only emits lines serde_ini accepts; this is a safety net.
                self.error(file, None, None, format!("INI parser failed: {e}"));
                return;
            }
        };
        let mut entries: Vec<(Option<usize>, String, String)> = sections
            .remove("DEFAULT")
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| (prepared.lines.get(&key).copied(), key, value))
            .collect();
        entries.sort(); // report in line order
        for (line, key, value) in entries {
            let origin = Origin {
                file_index,
                file: file.to_string(),
                line,
            };
            self.set(&key, &value, origin);
        }
    }

    fn set(&mut self, key: &str, value: &str, origin: Origin) {
        let Some(&known) = KEYS.iter().find(|k| **k == key) else {
            let msg = if RETIRED.contains(&key) {
                "is a setting of an older version and is no longer used; ignored".to_string()
            } else {
                match suggest(key) {
                    Some(s) => format!("unknown setting, ignored (did you mean {s}?)"),
                    None => "unknown setting, ignored".to_string(),
                }
            };
            self.warn(&origin.file, origin.line, Some(key), msg);
            self.unknown.push((key.to_string(), origin));
            return;
        };
        match apply(&mut self.config, known, value) {
            Ok(()) => {
                self.failed.remove(known);
            }
            Err(msg) => {
                self.error(&origin.file, origin.line, Some(known), msg);
                self.failed.insert(known);
            }
        }
        self.origins.insert(known, origin);
    }

    /// Whichever of `keys` was set last, with where.
    fn latest(&self, keys: &[&'static str]) -> Option<(&'static str, Origin)> {
        keys.iter()
            .filter_map(|&k| self.origins.get(k).map(|o| (k, o)))
            .max_by_key(|(_, o)| o.rank())
            .map(|(k, o)| (k, o.clone()))
    }

    /// An error located where the later of `keys` was set (the last file if none was).
    fn error_at(&mut self, keys: &[&'static str], key: &str, message: String) {
        match self.latest(keys) {
            Some((_, o)) => self.error(&o.file, o.line, Some(key), message),
            None => {
                let file = self.last_file.clone();
                self.error(&file, None, Some(key), message);
            }
        }
    }

    /// Cross-checks on the merged result.
    fn finish(mut self) -> Result<Loaded, Vec<ConfigError>> {
        self.check_limits();
        let hot = ("TEMP_HOT_DANGER", self.config.temp_hot_danger);
        self.check_below(("TEMP_COLD_DANGER", self.config.temp_cold_danger), hot);
        self.check_below(
            ("TEMP_DISCHARGE_COLD", self.config.temp_discharge_cold),
            hot,
        );
        if self.errors.is_empty() {
            Ok(Loaded {
                config: self.config,
                warnings: self.warnings,
            })
        } else {
            Err(self.errors)
        }
    }

    /// virtual-bms needs all three limits; monitor mode drops them, so nothing downstream
    /// can publish a limit by accident.
    fn check_limits(&mut self) {
        if self.failed.contains("DEVICE_MODE") {
            return;
        }
        let virtual_bms = self.config.mode == DeviceMode::VirtualBms;
        for (key, what) in LIMITS {
            let value = match key {
                "MAX_CHARGE_VOLTAGE" => &mut self.config.max_charge_voltage,
                "MAX_CHARGE_CURRENT" => &mut self.config.max_charge_current,
                _ => &mut self.config.max_discharge_current,
            };
            if !virtual_bms && value.take().is_some() {
                if let Some(o) = self.origins.get(key).cloned() {
                    let msg =
                        "is ignored in monitor mode (it only applies to DEVICE_MODE = virtual-bms)";
                    self.warn(&o.file, o.line, Some(key), msg.into());
                }
            } else if virtual_bms && value.is_none() && !self.failed.contains(key) {
                let mut msg = format!(
                    "is required with DEVICE_MODE = virtual-bms: a virtual BMS must always \
                     publish {what}, and there is no safe built-in value"
                );
                if let Some((typo, o)) = self.unknown.iter().find(|(u, _)| near(u, key)) {
                    let at = o
                        .line
                        .map(|l| format!("{}:{l}", o.file))
                        .unwrap_or(o.file.clone());
                    msg.push_str(&format!(" (is {typo} at {at} a misspelling of it?)"));
                }
                self.error_at(&["DEVICE_MODE", key], key, msg);
            }
        }
    }

    /// A cold limit must lie below the hot one. Skipped if either value was rejected.
    fn check_below(
        &mut self,
        (low_key, low): (&'static str, f64),
        (high_key, high): (&'static str, f64),
    ) {
        if low < high || self.failed.contains(low_key) || self.failed.contains(high_key) {
            return;
        }
        let keys = [low_key, high_key];
        let key = self.latest(&keys).map_or(low_key, |(k, _)| k);
        let msg = format!("{low_key} ({low} °C) must be lower than {high_key} ({high} °C)");
        self.error_at(&keys, key, msg);
    }
}

// ---------------------------------------------------------------------------------------
// Spelling suggestions

/// The known key closest to `key`: within edit distance 2, or made of the same letters.
fn suggest(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .filter_map(|k| {
            let d = edit_distance(key, k, 2);
            match d {
                Some(d) => Some((d, *k)),
                None if same_letters(key, k) => Some((3, *k)),
                None => None,
            }
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn near(a: &str, b: &str) -> bool {
    edit_distance(a, b, 2).is_some() || same_letters(a, b)
}

fn same_letters(a: &str, b: &str) -> bool {
    let sorted = |s: &str| {
        let mut v: Vec<char> = s.chars().collect();
        v.sort_unstable();
        v
    };
    sorted(a) == sorted(b)
}

/// Levenshtein distance if it is at most `limit`.
fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // The distance is at least the length difference; skip hopeless (or huge) inputs.
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            let best = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(best);
        }
        prev = cur;
    }
    prev.last().copied().filter(|d| *d <= limit)
}

#[cfg(test)]
mod tests;
