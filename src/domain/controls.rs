//! The GX display's controls on the aggregate (gui-v2's `/SwitchableOutput/<id>/*`,
//! shared/docs/gui-v2.md §1): which there are, and every value each one publishes (pure).
//!
//! * a toggle per member, named after it: on = in the bank; off leaves it out as
//!   EXCLUDE_SHUNTS does, and it stays listed so it can be switched on again;
//! * the danger temperatures as temperature setpoints (°C, the bank's temperature beside
//!   them); in virtual-bms mode the charge and discharge current maxima as numeric inputs and,
//!   with a float stage, the float voltage; each bounded as `config::gui` says;
//! * momentary buttons: "forget lost members" and "restore config.ini values".
//!
//! gui-v2 shows a control only when `Name` is not empty, `Settings/Type` is one of the bits of
//! `Settings/ValidTypes`, `Settings/ShowUIControl` is absent or not 0 and `State` or `Dimming`
//! is valid: every control here meets all four, so what is published is what is shown.
//! `Status` is always 0 (a missing one greys the card out). `Settings/CustomName`, `Group` and
//! `ShowUIControl` are not published: the output's settings page then offers nothing to edit
//! that we would not keep. HIDE_GUI_CONTROLS publishes no control at all.

use crate::config::Config;
use crate::config::gui::{Bounds, Knob};
use crate::domain::bank::Shunt;
use crate::domain::paths;
use crate::value::{Format, Value};

/// gui-v2's output types (`src/enums.h`).
pub const MOMENTARY: u32 = 0;
pub const TOGGLE: u32 = 1;
pub const TEMPERATURE_SETPOINT: u32 = 3;
pub const NUMERIC_INPUT: u32 = 8;

/// What a write to a control does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Switch the member with this identity on (1) or off (0).
    Member(String),
    Knob(Knob),
    /// Forget every member that is not online.
    Forget,
    /// Clear every value set in the GUI.
    Restore,
}

/// One control.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    /// The `<id>` of its paths.
    pub id: String,
    pub action: Action,
    pub name: String,
    pub kind: u32,
    /// `State` (toggles and buttons) or `Dimming` (setpoints), as published.
    pub value: Value,
    pub bounds: Option<Bounds>,
}

impl Control {
    /// The field a write goes to: `State` or `Dimming`.
    pub fn writable(&self) -> &'static str {
        if self.bounds.is_some() { "Dimming" } else { "State" }
    }

    /// Every field it publishes and its text format, in a fixed order.
    pub fn fields(&self) -> Vec<(&'static str, Format)> {
        let mut f =
            vec![("Name", Format::Plain), ("Status", Format::Plain), ("Settings/Type", Format::Plain), ("Settings/ValidTypes", Format::Plain)];
        if self.bounds.is_none() {
            f.push(("State", Format::Plain));
            return f;
        }
        f.extend([
            ("Dimming", Format::Plain),
            ("Settings/DimmingMin", Format::Plain),
            ("Settings/DimmingMax", Format::Plain),
            ("Settings/StepSize", Format::Plain),
            ("Settings/Decimals", Format::Plain),
        ]);
        f.push(if self.kind == TEMPERATURE_SETPOINT { ("Measurement", Format::CELSIUS) } else { ("Settings/Unit", Format::Plain) });
        f
    }

    /// Path → value of every field; `measurement` is the bank's temperature (°C).
    pub fn values(&self, measurement: Option<f64>) -> Vec<(String, Value)> {
        let b = self.bounds.unwrap_or(Bounds { min: 0.0, max: 0.0, step: 1.0 });
        let decimals = if b.step >= 1.0 { 0 } else { (-b.step.log10()).ceil() as u32 };
        self.fields()
            .into_iter()
            .map(|(field, _)| {
                let v = match field {
                    "Name" => Value::from(self.name.as_str()),
                    "Status" => Value::Uint(0),
                    "Settings/Type" => Value::Uint(self.kind),
                    "Settings/ValidTypes" => Value::Uint(1 << self.kind),
                    "State" | "Dimming" => self.value.clone(),
                    "Settings/DimmingMin" => Value::Double(b.min),
                    "Settings/DimmingMax" => Value::Double(b.max),
                    "Settings/StepSize" => Value::Double(b.step),
                    "Settings/Decimals" => Value::Uint(decimals),
                    "Measurement" => Value::from(measurement),
                    _ => Value::from(unit(&self.action)),
                };
                (paths::output(&self.id, field), v)
            })
            .collect()
    }
}

fn unit(a: &Action) -> &'static str {
    match a {
        Action::Knob(Knob::ChargeCurrent | Knob::DischargeCurrent) => "A",
        Action::Knob(Knob::FloatVoltage) => "V",
        _ => "",
    }
}

fn label(k: Knob) -> &'static str {
    match k {
        Knob::ColdDanger => "Cold danger temperature",
        Knob::HotDanger => "Hot danger temperature",
        Knob::ChargeCurrent => "Max charge current",
        Knob::DischargeCurrent => "Max discharge current",
        Knob::FloatVoltage => "Float voltage",
    }
}

fn knob_id(k: Knob) -> String {
    k.key().to_ascii_lowercase()
}

/// A member's control id: `member_` and its identity with every character that a D-Bus path
/// element cannot hold made `_` (a number from the slot up is added where two would meet).
fn member_id(m: &Shunt, taken: &[String]) -> String {
    let clean: String = m.id().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let id = format!("member_{clean}");
    let mut candidate = id.clone();
    let mut n = m.slot;
    while taken.contains(&candidate) {
        candidate = format!("{id}_{n}");
        n += 1;
    }
    candidate
}

/// The controls for the files' configuration `files`, the effective one `now` and the
/// members (switched off or not).
pub fn controls(files: &Config, now: &Config, members: &[Shunt]) -> Vec<Control> {
    if files.controls_hidden() {
        return Vec::new();
    }
    let mut out: Vec<Control> = Vec::new();
    for m in members {
        let taken: Vec<String> = out.iter().map(|c| c.id.clone()).collect();
        out.push(Control {
            id: member_id(m, &taken),
            action: Action::Member(m.id().to_owned()),
            name: m.name().to_owned(),
            kind: TOGGLE,
            value: Value::Uint(u32::from(!m.switched_off)),
            bounds: None,
        });
    }
    for k in Knob::ALL.into_iter().filter(|k| k.offered(files)) {
        out.push(Control {
            id: knob_id(k),
            action: Action::Knob(k),
            name: label(k).into(),
            kind: if matches!(k, Knob::ColdDanger | Knob::HotDanger) { TEMPERATURE_SETPOINT } else { NUMERIC_INPUT },
            value: Value::from(k.value(now)),
            bounds: Some(k.bounds(files, now)),
        });
    }
    for (id, action, name) in
        [("forget_lost", Action::Forget, "Forget lost members"), ("restore_config", Action::Restore, "Restore config.ini values")]
    {
        out.push(Control { id: id.into(), action, name: name.into(), kind: MOMENTARY, value: Value::Uint(0), bounds: None });
    }
    out
}

/// What a write to a control's `State` or `Dimming` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Switch {
        identity: String,
        on: bool,
    },
    Set(Knob, f64),
    Forget,
    Restore,
    /// A momentary button released (0): nothing to do.
    Nothing,
}

/// The request a write of `v` to `field` of `c` makes, or why it is refused: `Err(true)` for
/// a value of the wrong type or a field that is not writable, `Err(false)` for one out of range.
pub fn request(c: &Control, field: &str, v: &Value) -> Result<Request, bool> {
    if field != c.writable() {
        return Err(true);
    }
    let Some(x) = v.as_f64().filter(|x| x.is_finite()) else {
        return Err(true);
    };
    let bit = match x {
        0.0 => Some(false),
        1.0 => Some(true),
        _ => None,
    };
    match (&c.action, bit) {
        (Action::Member(identity), Some(on)) => Ok(Request::Switch { identity: identity.clone(), on }),
        (Action::Knob(k), _) => Ok(Request::Set(*k, x)),
        (Action::Forget, Some(true)) => Ok(Request::Forget),
        (Action::Restore, Some(true)) => Ok(Request::Restore),
        (Action::Forget | Action::Restore, Some(false)) => Ok(Request::Nothing),
        (_, None) => Err(false),
    }
}

#[cfg(test)]
mod tests;
