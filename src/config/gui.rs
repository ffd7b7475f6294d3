//! What the GX display may change, on top of the files (pure; no bus).
//!
//! Precedence: a value set in the GUI wins over `config.ini` and `config.default.ini`, and is
//! kept in localsettings (one text, [`Overrides::encode`]) across restarts and upgrades, until
//! the "restore config.ini values" button clears it. The files bound what the GUI may set:
//! * the danger temperatures within the range the file accepts for them (-40..80 °C cold,
//!   -40..100 °C hot), and cold + margin below hot - margin (BMS_TEMP_MARGIN in virtual-bms
//!   mode, nothing in monitor mode), as the loader checks the files;
//! * virtual-bms: the charge and discharge current maxima from 0 up to the file's value (the
//!   GUI can lower a limit, never raise it); the float voltage, where the file sets one,
//!   between [`FLOAT_MIN_PER_CELL`] per cell (or just above REBULK_VOLTAGE and
//!   MIN_BANK_VOLTAGE) and MAX_CHARGE_VOLTAGE - [`FLOAT_BELOW_CVL`].
//!
//! A stored value that no longer fits (config.ini changed since) is dropped with a warning,
//! so the files' value applies again. Members switched off in the GUI are kept here too, by
//! the member's identity (its serial; its service name without one).

use std::collections::{BTreeMap, BTreeSet};

use super::{Config, DeviceMode};
use crate::domain::memory::{escape, unescape};

/// The lowest float voltage per LiFePO4 cell the GUI may set.
pub const FLOAT_MIN_PER_CELL: f64 = 3.3;
/// How far below MAX_CHARGE_VOLTAGE the highest float voltage lies (V).
pub const FLOAT_BELOW_CVL: f64 = 0.05;

/// A setting the GUI may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Knob {
    ColdDanger,
    HotDanger,
    ChargeCurrent,
    DischargeCurrent,
    FloatVoltage,
}

/// The range a knob accepts now, and its step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min: f64,
    pub max: f64,
    pub step: f64,
}

impl Knob {
    pub const ALL: [Knob; 5] = [Knob::ColdDanger, Knob::HotDanger, Knob::ChargeCurrent, Knob::DischargeCurrent, Knob::FloatVoltage];

    /// The key of the configuration file this knob overrides.
    pub fn key(self) -> &'static str {
        match self {
            Knob::ColdDanger => "TEMP_COLD_DANGER",
            Knob::HotDanger => "TEMP_HOT_DANGER",
            Knob::ChargeCurrent => "MAX_CHARGE_CURRENT",
            Knob::DischargeCurrent => "MAX_DISCHARGE_CURRENT",
            Knob::FloatVoltage => "FLOAT_VOLTAGE",
        }
    }

    pub fn of_key(key: &str) -> Option<Knob> {
        Knob::ALL.into_iter().find(|k| k.key() == key)
    }

    /// Whether the GUI offers it with this configuration: the temperatures always, the
    /// currents in virtual-bms mode, the float voltage when the float stage exists.
    pub fn offered(self, files: &Config) -> bool {
        let bms = files.mode == DeviceMode::VirtualBms;
        match self {
            Knob::ColdDanger | Knob::HotDanger => true,
            Knob::ChargeCurrent | Knob::DischargeCurrent => bms,
            Knob::FloatVoltage => bms && files.float_voltage.is_some(),
        }
    }

    pub fn value(self, c: &Config) -> Option<f64> {
        match self {
            Knob::ColdDanger => Some(c.temp_cold_danger),
            Knob::HotDanger => Some(c.temp_hot_danger),
            Knob::ChargeCurrent => c.max_charge_current,
            Knob::DischargeCurrent => c.max_discharge_current,
            Knob::FloatVoltage => c.float_voltage,
        }
    }

    fn set(self, c: &mut Config, v: f64) {
        match self {
            Knob::ColdDanger => c.temp_cold_danger = v,
            Knob::HotDanger => c.temp_hot_danger = v,
            Knob::ChargeCurrent => c.max_charge_current = Some(v),
            Knob::DischargeCurrent => c.max_discharge_current = Some(v),
            Knob::FloatVoltage => c.float_voltage = Some(v),
        }
    }

    /// What the GUI may set now: from the files' values (`files`) and, for a bound that
    /// depends on another knob, that knob's effective value (`now`).
    pub fn bounds(self, files: &Config, now: &Config) -> Bounds {
        let margin = if files.mode == DeviceMode::VirtualBms { files.bms_temp_margin } else { 0.0 };
        // Whole degrees: the stop must clear by more than the margin on both sides.
        let band = (2.0 * margin).floor() + 1.0;
        match self {
            Knob::ColdDanger => Bounds { min: -40.0, max: (now.temp_hot_danger - band).min(80.0), step: 1.0 },
            Knob::HotDanger => Bounds { min: (now.temp_cold_danger + band).max(-40.0), max: 100.0, step: 1.0 },
            Knob::ChargeCurrent => Bounds { min: 0.0, max: files.max_charge_current.unwrap_or(0.0), step: 1.0 },
            Knob::DischargeCurrent => Bounds { min: 0.0, max: files.max_discharge_current.unwrap_or(0.0), step: 1.0 },
            Knob::FloatVoltage => {
                let cvl = files.max_charge_voltage.unwrap_or(0.0);
                let cells = crate::domain::bms::cells_of(cvl);
                let floor =
                    [files.rebulk_voltage, files.min_bank_voltage].into_iter().flatten().map(|v| v + 0.01).fold(FLOAT_MIN_PER_CELL * cells, f64::max);
                let file = files.float_voltage.unwrap_or(floor);
                Bounds { min: round2(floor.min(file)), max: round2((cvl - FLOAT_BELOW_CVL).max(file)), step: 0.01 }
            }
        }
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// What the GUI changed: knob values and the members switched off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub values: BTreeMap<Knob, f64>,
    /// Identities (serial, or service without one) of members switched off in the GUI.
    pub off: BTreeSet<String>,
}

const VERSION: &str = "1";
const OFF: &str = "OFF";

impl Overrides {
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.off.is_empty()
    }

    /// The stored text: `1;KEY=value;...;OFF=identity;...`; nothing set is an empty text.
    pub fn encode(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut out = String::from(VERSION);
        for (k, v) in &self.values {
            out.push_str(&format!(";{}={v}", k.key()));
        }
        for id in &self.off {
            out.push_str(&format!(";{OFF}={}", escape(id)));
        }
        out
    }

    /// The overrides in `text`, and one reason per entry (or for the whole text) refused.
    pub fn decode(text: &str) -> (Overrides, Vec<String>) {
        let mut o = Overrides::default();
        let text = text.trim();
        if text.is_empty() {
            return (o, Vec::new());
        }
        let mut parts = text.split(';');
        if parts.next() != Some(VERSION) {
            return (o, vec![format!("unknown format '{}'", text.chars().take(20).collect::<String>())]);
        }
        let mut refused = Vec::new();
        for part in parts {
            let Some((key, value)) = part.split_once('=') else {
                refused.push(format!("entry '{part}' has no '='"));
                continue;
            };
            if key == OFF {
                match unescape(value) {
                    Ok(id) if !id.is_empty() => {
                        o.off.insert(id);
                    }
                    Ok(_) => refused.push("an empty member identity".into()),
                    Err(e) => refused.push(e),
                }
                continue;
            }
            match (Knob::of_key(key), value.parse::<f64>()) {
                (Some(k), Ok(v)) if v.is_finite() => {
                    o.values.insert(k, v);
                }
                (Some(_), _) => refused.push(format!("{key}: '{value}' is not a number")),
                (None, _) => refused.push(format!("unknown setting '{key}'")),
            }
        }
        (o, refused)
    }

    /// The overrides that count with these files: none while HIDE_GUI_CONTROLS hides the
    /// controls (the stored ones are kept, for when the controls are shown again).
    pub fn in_force(&self, files: &Config) -> Overrides {
        if files.controls_hidden() { Overrides::default() } else { self.clone() }
    }

    /// The effective configuration: the files' with every override that fits applied; the
    /// ones that do not fit are dropped from `self`, each with the reason.
    pub fn apply(&mut self, files: &Config) -> (Config, Vec<String>) {
        let mut now = files.clone();
        let mut refused = Vec::new();
        for (k, v) in std::mem::take(&mut self.values) {
            match check(k, v, files, &now) {
                Ok(()) => {
                    k.set(&mut now, v);
                    self.values.insert(k, v);
                }
                Err(why) => refused.push(why),
            }
        }
        (now, refused)
    }

    /// Sets one knob from the GUI: `Ok(effective config)` or why the value is refused.
    pub fn set(&mut self, knob: Knob, v: f64, files: &Config, now: &Config) -> Result<Config, String> {
        check(knob, v, files, now)?;
        if files_value_matches(knob, v, files) {
            // The files' own value: nothing to override.
            self.values.remove(&knob);
        } else {
            self.values.insert(knob, v);
        }
        Ok(self.apply(files).0)
    }

    /// Where the effective value of a key comes from: "GUI", or `None` for the files.
    pub fn source(&self, key: &str) -> Option<&'static str> {
        Knob::of_key(key).filter(|k| self.values.contains_key(k)).map(|_| "GUI")
    }
}

fn files_value_matches(knob: Knob, v: f64, files: &Config) -> bool {
    knob.value(files).is_some_and(|f| (f - v).abs() < 1e-9)
}

fn check(knob: Knob, v: f64, files: &Config, now: &Config) -> Result<(), String> {
    if !knob.offered(files) {
        return Err(format!("{} cannot be set from the GUI in this mode", knob.key()));
    }
    let b = knob.bounds(files, now);
    if !v.is_finite() || v < b.min - 1e-9 || v > b.max + 1e-9 {
        return Err(format!("{} = {v} from the GUI is outside {}..{} (the bounds config.ini sets)", knob.key(), b.min, b.max));
    }
    Ok(())
}
