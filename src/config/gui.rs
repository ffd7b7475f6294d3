//! What the GX display may change, on top of the files (pure; no bus).
//!
//! Precedence: a value set in the GUI wins over `config.ini` and `config.default.ini`, and is
//! kept in localsettings (one text, [`Overrides::encode`]) across restarts and upgrades, until
//! the "restore config.ini values" button clears it. The files bound what the GUI may set:
//! * the danger temperatures: in monitor mode within the range the file accepts for them
//!   (-40..80 °C cold, -40..100 °C hot); in virtual-bms mode only narrower than the files'
//!   (cold at or above, hot at or below theirs: the GUI never loosens a protection); and the
//!   cold one below the hot one by more than twice the margin (BMS_TEMP_MARGIN in virtual-bms
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

    /// The range the files allow for this knob, whatever the other knobs say.
    fn range(self, files: &Config) -> (f64, f64) {
        let bms = files.mode == DeviceMode::VirtualBms;
        match self {
            // A virtual BMS may only narrow its temperature window from the GUI.
            Knob::ColdDanger if bms => (files.temp_cold_danger, 80.0),
            Knob::ColdDanger => (-40.0, 80.0),
            Knob::HotDanger if bms => (-40.0, files.temp_hot_danger),
            Knob::HotDanger => (-40.0, 100.0),
            Knob::ChargeCurrent => (0.0, files.max_charge_current.unwrap_or(0.0)),
            Knob::DischargeCurrent => (0.0, files.max_discharge_current.unwrap_or(0.0)),
            Knob::FloatVoltage => {
                let cvl = files.max_charge_voltage.unwrap_or(0.0);
                let cells = crate::domain::bms::cells_of(cvl);
                let floor =
                    [files.rebulk_voltage, files.min_bank_voltage].into_iter().flatten().map(|v| v + 0.01).fold(FLOAT_MIN_PER_CELL * cells, f64::max);
                let file = files.float_voltage.unwrap_or(floor);
                (round2(floor.min(file)), round2((cvl - FLOAT_BELOW_CVL).max(file)))
            }
        }
    }

    /// Whether `v` may be set with the other knobs as in `now`: within [`Knob::range`], and
    /// the temperatures apart by twice the margin (BMS_TEMP_MARGIN in virtual-bms mode), as
    /// the loader checks the files.
    fn accepts(self, v: f64, files: &Config, now: &Config) -> Result<(), String> {
        if !self.offered(files) {
            return Err(format!("{} cannot be set from the GUI in this mode", self.key()));
        }
        let (min, max) = self.range(files);
        if !v.is_finite() || v < min - 1e-9 || v > max + 1e-9 {
            return Err(format!("{} = {v} from the GUI is outside {min}..{max} (the bounds config.ini sets)", self.key()));
        }
        let gap = 2.0 * margin(files);
        let (cold, hot) = match self {
            Knob::ColdDanger => (v, now.temp_hot_danger),
            Knob::HotDanger => (now.temp_cold_danger, v),
            _ => return Ok(()),
        };
        if cold + gap < hot {
            Ok(())
        } else {
            Err(format!(
                "{} = {v} from the GUI: TEMP_COLD_DANGER ({cold} °C) must stay below TEMP_HOT_DANGER ({hot} °C) by more than {gap} °C",
                self.key()
            ))
        }
    }

    /// What the GUI may set now, as its control shows it (whole degrees for the
    /// temperatures): [`Knob::range`] narrowed by the other temperature in `now`.
    pub fn bounds(self, files: &Config, now: &Config) -> Bounds {
        let (min, max) = self.range(files);
        let gap = 2.0 * margin(files);
        // The files' own value always lies inside (the loader checked the files' pair).
        let own = self.value(files).filter(|v| self.accepts(*v, files, now).is_ok());
        match self {
            Knob::ColdDanger => {
                let top = (now.temp_hot_danger - gap).ceil() - 1.0;
                Bounds { min, max: own.map_or(top, |o| top.max(o)).min(max), step: 1.0 }
            }
            Knob::HotDanger => {
                let bottom = (now.temp_cold_danger + gap).floor() + 1.0;
                Bounds { min: own.map_or(bottom, |o| bottom.min(o)).max(min), max, step: 1.0 }
            }
            Knob::FloatVoltage => Bounds { min, max, step: 0.01 },
            Knob::ChargeCurrent | Knob::DischargeCurrent => Bounds { min, max, step: 1.0 },
        }
    }
}

fn margin(files: &Config) -> f64 {
    if files.mode == DeviceMode::VirtualBms { files.bms_temp_margin } else { 0.0 }
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
    /// ones that do not fit (config.ini changed since) are dropped from `self`, each with the
    /// reason. Every kept value is checked against the final values of the others.
    pub fn apply(&mut self, files: &Config) -> (Config, Vec<String>) {
        let mut refused = Vec::new();
        loop {
            let mut now = files.clone();
            for (k, v) in &self.values {
                k.set(&mut now, *v);
            }
            let bad = self.values.iter().find_map(|(k, v)| k.accepts(*v, files, &now).err().map(|e| (*k, e)));
            match bad {
                None => return (now, refused),
                Some((k, why)) => {
                    self.values.remove(&k);
                    refused.push(why);
                }
            }
        }
    }

    /// Sets one knob from the GUI: `Ok(effective config)`, or why the value is refused (and
    /// nothing changed).
    pub fn set(&mut self, knob: Knob, v: f64, files: &Config) -> Result<Config, String> {
        let mut next = self.clone();
        if knob.value(files).is_some_and(|f| (f - v).abs() < 1e-9) {
            // The files' own value: nothing to override.
            next.values.remove(&knob);
        } else {
            next.values.insert(knob, v);
        }
        let (now, refused) = next.apply(files);
        if !refused.is_empty() {
            return Err(refused.join("; "));
        }
        *self = next;
        Ok(now)
    }

    /// Where the effective value of a key comes from: "GUI", or `None` for the files.
    pub fn source(&self, key: &str) -> Option<&'static str> {
        Knob::of_key(key).filter(|k| self.values.contains_key(k)).map(|_| "GUI")
    }
}
