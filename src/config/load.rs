//! Loading: reads the files in order, applies each entry through its key's row, and
//! cross-checks the merged result.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::keys::{self, LIMITS, RETIRED};
use super::parse::parse;
use super::suggest::{near, suggest};
use super::{Config, DeviceMode, Diagnostic, Loaded, Severity};

impl Config {
    /// Loads the files in order (later overrides earlier); a file that does not exist is
    /// skipped if `required` is false for it, an error otherwise. On failure, every error
    /// (each with [`Severity::Error`]).
    pub fn load(files: &[(PathBuf, bool)]) -> Result<Loaded, Vec<Diagnostic>> {
        let mut loader = Loader::default();
        for (path, required) in files {
            let file = path.display().to_string();
            let problem = match std::fs::read(path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => {
                        loader.add(&text, &file);
                        continue;
                    }
                    Err(e) => format!("is not UTF-8 text (bad byte at offset {})", e.utf8_error().valid_up_to()),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
                Err(e) => format!("cannot be read: {e}"),
            };
            loader.unreadable(&file, problem);
        }
        loader.finish()
    }

    /// Parses one text as if it were the given file (for tests and fuzzing).
    pub fn from_str(text: &str, file: &str) -> Result<Loaded, Vec<Diagnostic>> {
        let mut loader = Loader::default();
        loader.add(text, file);
        loader.finish()
    }
}

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
    /// Files seen so far, readable or not.
    files: usize,
    last_file: String,
    /// Each with the index of its file, to list them in file and line order.
    diagnostics: Vec<(usize, Diagnostic)>,
}

impl Loader {
    fn report(&mut self, severity: Severity, at: &Origin, key: Option<&str>, message: String) {
        let d = Diagnostic::new(severity, &at.file, at.line, key, message);
        self.diagnostics.push((at.file_index, d));
    }

    /// Counts a file in; returns its index.
    fn next_file(&mut self, file: &str) -> usize {
        self.files += 1;
        self.last_file = file.to_string();
        self.files - 1
    }

    /// A file that could not be read at all.
    fn unreadable(&mut self, file: &str, message: String) {
        let at = Origin { file_index: self.next_file(file), file: file.to_string(), line: None };
        self.report(Severity::Error, &at, None, message);
    }

    /// Reads one file's text on top of what earlier files set.
    fn add(&mut self, text: &str, file: &str) {
        let file_index = self.next_file(file);
        let parsed = parse(text, file);
        let found = parsed.diagnostics.into_iter().map(|d| (file_index, d));
        self.diagnostics.extend(found);
        for entry in parsed.entries {
            let origin = Origin { file_index, file: file.to_string(), line: entry.line };
            self.set(&entry.key, &entry.value, origin);
        }
    }

    fn set(&mut self, key: &str, value: &str, origin: Origin) {
        let Some(row) = keys::find(key) else {
            if RETIRED.contains(&key) {
                let msg = "is a setting of an older version and is no longer used; ignored";
                self.report(Severity::Warning, &origin, Some(key), msg.into());
            }
            // Others are reported once ALLOW_UNKNOWN_KEYS is known (see `check_unknown`).
            self.unknown.push((key.to_string(), origin));
            return;
        };
        match row.apply(value, &mut self.config) {
            Ok(()) => {
                self.failed.remove(row.name);
            }
            Err(msg) => {
                self.report(Severity::Error, &origin, Some(row.name), msg);
                self.failed.insert(row.name);
            }
        }
        self.origins.insert(row.name, origin);
    }

    /// Whichever of `keys` was set last, with where.
    fn latest(&self, keys: &[&'static str]) -> Option<(&'static str, Origin)> {
        keys.iter().filter_map(|&k| self.origins.get(k).map(|o| (k, o))).max_by_key(|(_, o)| o.rank()).map(|(k, o)| (k, o.clone()))
    }

    /// An error located where the later of `keys` was set (the last file if none was).
    fn error_at(&mut self, keys: &[&'static str], key: &str, message: String) {
        let at = self.latest(keys).map(|(_, o)| o).unwrap_or_else(|| Origin {
            file_index: self.files.saturating_sub(1),
            file: self.last_file.clone(),
            line: None,
        });
        self.report(Severity::Error, &at, Some(key), message);
    }

    /// An unknown key is an error unless ALLOW_UNKNOWN_KEYS is true: a misspelt key would
    /// leave its setting at the default without anyone noticing (`DEVICE_MOD =
    /// virtual-bms` would run a plain monitor).
    fn check_unknown(&mut self) {
        let allow = self.config.allow_unknown_keys && !self.failed.contains("ALLOW_UNKNOWN_KEYS");
        let unknown = std::mem::take(&mut self.unknown);
        for (key, at) in &unknown {
            if RETIRED.contains(&key.as_str()) {
                continue;
            }
            let hint = suggest(key).map(|s| format!(" (did you mean {s}?)")).unwrap_or_default();
            let (severity, msg) = if allow {
                (Severity::Warning, format!("unknown setting, ignored{hint}"))
            } else {
                let msg = format!(
                    "unknown setting{hint}; correct or remove it, or set \
                     ALLOW_UNKNOWN_KEYS = true to only be warned"
                );
                (Severity::Error, msg)
            };
            self.report(severity, at, Some(key), msg);
        }
        self.unknown = unknown;
    }

    /// Cross-checks on the merged result.
    fn finish(mut self) -> Result<Loaded, Vec<Diagnostic>> {
        self.check_unknown();
        self.check_limits();
        self.check_bands();
        self.check_data_age();
        self.check_voltages();
        self.check_monitor_only();
        // Stable: what shares a line keeps the order it was found in.
        self.diagnostics.sort_by_key(|(file, d)| (*file, d.line.unwrap_or(0)));
        let (errors, warnings): (Vec<_>, Vec<_>) = self.diagnostics.into_iter().map(|(_, d)| d).partition(|d| d.severity == Severity::Error);
        let sources = self.origins.iter().map(|(k, o)| (*k, o.file.clone())).collect();
        if errors.is_empty() { Ok(Loaded { config: self.config, warnings, sources }) } else { Err(errors) }
    }

    /// virtual-bms needs all three limits; monitor mode drops them, so nothing downstream
    /// can publish a limit by accident.
    fn check_limits(&mut self) {
        if self.failed.contains("DEVICE_MODE") {
            return;
        }
        let virtual_bms = self.config.mode == DeviceMode::VirtualBms;
        for limit in &LIMITS {
            let key = limit.key;
            let value = (limit.field)(&mut self.config);
            if !virtual_bms && value.take().is_some() {
                if let Some(o) = self.origins.get(key).cloned() {
                    let msg = "is ignored in monitor mode (it only applies to DEVICE_MODE = virtual-bms)";
                    self.report(Severity::Warning, &o, Some(key), msg.into());
                }
            } else if virtual_bms && value.is_none() && !self.failed.contains(key) {
                let mut msg = format!(
                    "is required with DEVICE_MODE = virtual-bms: a virtual BMS must always \
                     publish {}, and there is no safe built-in value",
                    limit.what
                );
                if let Some((typo, o)) = self.unknown.iter().find(|(u, _)| near(u, key)) {
                    let at = o.line.map(|l| format!("{}:{l}", o.file)).unwrap_or(o.file.clone());
                    msg.push_str(&format!(" (is {typo} at {at} a misspelling of it?)"));
                }
                self.error_at(&["DEVICE_MODE", key], key, msg);
            }
        }
    }

    /// Where a key's value came from, for messages that name two keys: `file:line`, or
    /// "built-in" when no file set it.
    fn place(&self, key: &str) -> String {
        match self.origins.get(key) {
            Some(Origin { file, line: Some(l), .. }) => format!("{file}:{l}"),
            Some(Origin { file, line: None, .. }) => file.clone(),
            None => "built-in".into(),
        }
    }

    /// Each cold limit lies below its hot one; in virtual-bms mode by BMS_TEMP_MARGIN on both
    /// sides too, or a stop could never clear by the margin and would never re-open.
    fn check_bands(&mut self) {
        let c = &self.config;
        let bms = c.mode == DeviceMode::VirtualBms;
        let margin = if bms { c.bms_temp_margin } else { 0.0 };
        let charge = (("TEMP_COLD_DANGER", c.temp_cold_danger), ("TEMP_HOT_DANGER", c.temp_hot_danger), "charging");
        let discharge = (("TEMP_DISCHARGE_COLD", c.temp_discharge_cold), ("TEMP_DISCHARGE_HOT", c.temp_discharge_hot), "discharging");
        let bands = if bms { vec![charge, discharge] } else { vec![charge] };
        for ((low_key, low), (high_key, high), what) in bands {
            let skip = [low_key, high_key, "BMS_TEMP_MARGIN"].iter().any(|k| self.failed.contains(k));
            if low + margin < high - margin || skip {
                continue;
            }
            let keys = [low_key, high_key];
            let key = self.latest(&keys).map_or(low_key, |(k, _)| k);
            let msg = if bms {
                format!(
                    "{low_key} ({low} °C, {}) + BMS_TEMP_MARGIN ({margin} °C, {}) must stay below {high_key} ({high} °C, {}) - BMS_TEMP_MARGIN, or a {what} stop could never clear and re-open",
                    self.place(low_key),
                    self.place("BMS_TEMP_MARGIN"),
                    self.place(high_key)
                )
            } else {
                format!("{low_key} ({low} °C, {}) must be lower than {high_key} ({high} °C, {})", self.place(low_key), self.place(high_key))
            };
            self.error_at(&keys, key, msg);
        }
    }

    /// A virtual BMS must not run its limits on old data: a silent member is probed after
    /// STALE_TIMEOUT and its last values count for OFFLINE_GRACE after it went offline.
    fn check_data_age(&mut self) {
        if self.config.mode != DeviceMode::VirtualBms || self.failed.contains("DEVICE_MODE") {
            return;
        }
        let limits = [
            ("STALE_TIMEOUT", self.config.stale_timeout.as_secs(), MAX_BMS_STALE),
            ("OFFLINE_GRACE", self.config.offline_grace.as_secs(), MAX_BMS_GRACE),
        ];
        for (key, value, max) in limits {
            if value <= max || self.failed.contains(key) {
                continue;
            }
            let msg = format!(
                "{key} ({value} s, {}) is too long with DEVICE_MODE = virtual-bms ({}): the limits would run on data up to {} old; at most {max} s",
                self.place(key),
                self.place("DEVICE_MODE"),
                age(value)
            );
            self.error_at(&["DEVICE_MODE", key], key, msg);
        }
    }
}

impl Loader {
    /// Voltages and times that must come in order: MIN_BANK_VOLTAGE < REBULK_VOLTAGE <
    /// FLOAT_VOLTAGE < MAX_CHARGE_VOLTAGE (each where set), MIN_ABSORPTION_TIME <=
    /// MAX_ABSORPTION_TIME.
    fn check_voltages(&mut self) {
        let c = &self.config;
        let volts = [
            ("MIN_BANK_VOLTAGE", c.min_bank_voltage),
            ("REBULK_VOLTAGE", c.rebulk_voltage),
            ("FLOAT_VOLTAGE", c.float_voltage),
            ("MAX_CHARGE_VOLTAGE", c.max_charge_voltage),
        ];
        let set: Vec<(&'static str, f64)> = volts.iter().filter_map(|(k, v)| Some((*k, (*v)?))).collect();
        let mut pairs: Vec<(&'static str, f64, &'static str, f64, &'static str, bool)> =
            set.windows(2).map(|w| (w[0].0, w[0].1, w[1].0, w[1].1, "V", false)).collect();
        let (min, max) = (self.config.min_absorption_time.as_secs() as f64, self.config.max_absorption_time.as_secs() as f64);
        pairs.push(("MIN_ABSORPTION_TIME", min, "MAX_ABSORPTION_TIME", max, "s", true));
        for (low_key, low, high_key, high, unit, equal_ok) in pairs {
            let ordered = if equal_ok { low <= high } else { low < high };
            if ordered || self.failed.contains(low_key) || self.failed.contains(high_key) {
                continue;
            }
            let keys = [low_key, high_key];
            let key = self.latest(&keys).map_or(low_key, |(k, _)| k);
            let word = if equal_ok { "must not be more than" } else { "must be lower than" };
            let msg = format!("{low_key} ({low} {unit}, {}) {word} {high_key} ({high} {unit}, {})", self.place(low_key), self.place(high_key));
            self.error_at(&keys, key, msg);
        }
    }
}

impl Loader {
    /// SELECT_BATTERY_MONITOR only acts in monitor mode.
    fn check_monitor_only(&mut self) {
        if self.config.mode == DeviceMode::VirtualBms && self.config.select_battery_monitor {
            if let Some(o) = self.origins.get("SELECT_BATTERY_MONITOR").cloned() {
                let msg = "is ignored with DEVICE_MODE = virtual-bms: systemcalc's automatic battery monitor is then the aggregate already (a BMS is preferred)";
                self.report(Severity::Warning, &o, Some("SELECT_BATTERY_MONITOR"), msg.into());
            }
        }
    }
}

/// Virtual-BMS ceilings of STALE_TIMEOUT and OFFLINE_GRACE (s): data at most about 65 min old.
pub(super) const MAX_BMS_STALE: u64 = 300;
pub(super) const MAX_BMS_GRACE: u64 = 3600;

fn age(secs: u64) -> String {
    if secs >= 3600 { format!("{:.1} h", secs as f64 / 3600.0) } else { format!("{} min", secs.div_ceil(60)) }
}
