//! The GX display's side of the loop: the `/SwitchableOutput` controls and their writes, the
//! GUI's values kept in localsettings, and the `/Battery/<n>` list of "Individual Battery
//! Info".

use super::{Daemon, Input, system};
use crate::config::DeviceMode;
use crate::config::gui::{Knob, Overrides};
use crate::domain::bms::Limits;
use crate::domain::controls::{self, Control, Request};
use crate::domain::{frame, paths};
use crate::publish::{self, GUI_SETTING, SYSTEM_SETTING};
use crate::value::Value;
use crate::venus::service::{Access, ItemSpec, SET_OK, SET_READ_ONLY_OR_TYPE, SET_REJECTED, Written};

impl Daemon {
    /// The GUI's values as localsettings kept them; one that no longer fits is dropped.
    pub(super) fn load_gui(&mut self, text: &str) {
        let (stored, refused) = Overrides::decode(text);
        for why in refused {
            log::warn!("ignoring part of {GUI_SETTING}: {why}");
        }
        let mut gui = stored.in_force(&self.files.config);
        if gui != stored {
            log::info!("HIDE_GUI_CONTROLS: the values once set in the GUI ({text}) are kept but not used; the configuration files apply");
        }
        let (now, dropped) = gui.apply(&self.files.config);
        if !dropped.is_empty() {
            for why in dropped {
                log::warn!("a value set in the GUI is dropped, the files' value applies: {why}");
            }
            self.gui_saved = gui.encode();
            self.save_setting(GUI_SETTING, self.gui_saved.clone());
        }
        for (k, v) in &gui.values {
            log::info!("{} = {v} set in the GUI (the files say {:?})", k.key(), k.value(&self.files.config));
        }
        self.gui = gui;
        self.cfg = now;
        self.policy_limits();
        self.bank.switch(&self.gui.off);
    }

    /// After a change from the GUI: the effective configuration, the policy's limits, the
    /// bank's switched-off members, and the stored text.
    fn gui_changed(&mut self) {
        let (now, _) = self.gui.apply(&self.files.config);
        self.cfg = now;
        self.policy_limits();
        if !self.bank.switch(&self.gui.off).is_empty() {
            self.members_dirty = true;
        }
        self.controls_dirty = true;
        let text = self.gui.encode();
        if text != self.gui_saved {
            self.gui_saved = text.clone();
            self.save_setting(GUI_SETTING, text);
        }
    }

    /// The policy's limits from the effective configuration.
    fn policy_limits(&mut self) {
        if let Some(p) = &mut self.policy {
            let set_in_gui = [Knob::ChargeCurrent, Knob::DischargeCurrent].map(|k| self.gui.values.contains_key(&k));
            p.set_limits(Limits { set_in_gui, ..Limits::from_config(&self.cfg) });
        }
    }

    /// Adds and removes control objects to match the bank and the configuration; the values
    /// of every control (the bank's temperature `measurement` beside the setpoints).
    pub(super) async fn sync_controls(&mut self, measurement: Option<f64>) -> zbus::Result<Vec<(String, Value)>> {
        if self.controls_dirty {
            self.controls_dirty = false;
            let wanted = controls::controls(&self.files.config, &self.cfg, self.bank.members());
            let shape = |c: &Control| (c.id.clone(), c.fields());
            let same: Vec<_> = wanted.iter().map(shape).collect();
            for old in self.controls.iter().filter(|c| !same.contains(&shape(c))) {
                let gone: Vec<String> = old.fields().iter().map(|(f, _)| paths::output(&old.id, f)).collect();
                self.service.remove(&gone).await?;
            }
            let had: Vec<_> = self.controls.iter().map(shape).collect();
            for new in wanted.iter().filter(|c| !had.contains(&shape(c))) {
                for (field, format) in new.fields() {
                    let access = if field == new.writable() { Access::Ask } else { Access::ReadOnly };
                    self.service.add(ItemSpec::new(paths::output(&new.id, field), format, access), Value::Invalid).await?;
                }
            }
            self.controls = wanted;
            self.measured = measurement;
            return Ok(self.controls.iter().flat_map(|c| c.values(measurement)).collect());
        }
        // Otherwise only the bank's temperature beside the setpoints can have changed.
        if measurement == self.measured {
            return Ok(Vec::new());
        }
        self.measured = measurement;
        let setpoints = self.controls.iter().filter(|c| c.kind == controls::TEMPERATURE_SETPOINT);
        Ok(setpoints.map(|c| (paths::output(&c.id, "Measurement"), Value::from(measurement))).collect())
    }

    /// A write to a control: applied, published back with the next pass, refused with the
    /// Venus code (and logged once per path and reason).
    pub(super) async fn on_control(&mut self, w: Written) {
        let Some((id, field)) = paths::output_of(&w.path) else { return };
        let code = match self.controls.iter().find(|c| c.id == id).map(|c| (c, controls::request(c, field, &w.value))) {
            None => SET_REJECTED,
            Some((c, Err(wrong_type))) => {
                let why = if wrong_type { "not a number, or not writable" } else { "not one of the values it takes" };
                if self.once.first(&format!("{} refused", w.path)) {
                    log::warn!("refused a write of {:?} to {} ('{}'): {why}", w.value, w.path, c.name);
                }
                if wrong_type { SET_READ_ONLY_OR_TYPE } else { SET_REJECTED }
            }
            Some((_, Ok(Request::Forget))) => {
                let (code, outcome) = self.forget(&Value::from("all"));
                self.publish_forget_result(outcome).await;
                code
            }
            Some((_, Ok(request))) => self.apply_request(request, &w.path),
        };
        // Published back (a refused write too: the GUI shows what the bus says) by this
        // input's pass, and only then answered.
        self.controls_dirty = true;
        self.verdicts.extend(w.verdict.map(|tx| (tx, code)));
    }

    fn apply_request(&mut self, request: Request, path: &str) -> i32 {
        match request {
            // `on_control` answers Forget itself: it publishes the outcome.
            Request::Nothing | Request::Forget => {}
            Request::Switch { identity, on: false } if self.policy.as_ref().is_some_and(|p| p.blocking(&identity)) => {
                // A battery that stops charging or discharging now cannot be taken out of the
                // BMS from the GUI: its protection would go with it.
                if self.once.first(&format!("{path} refused")) {
                    log::warn!(
                        "refused switching off {identity} in the GUI: a protection of the virtual BMS is about it now (see /Bms/ActiveProtections)"
                    );
                }
                return SET_REJECTED;
            }
            Request::Switch { identity, on } => {
                let changed = if on { self.gui.off.remove(&identity) } else { self.gui.off.insert(identity) };
                if changed {
                    self.gui_changed();
                }
            }
            Request::Set(knob, v) => match self.gui.set(knob, v, &self.files.config) {
                Ok(_) => {
                    log::info!("{} = {v} set in the GUI (config.ini's value applies again after 'Restore config.ini values')", knob.key());
                    self.gui_changed();
                }
                Err(why) => {
                    if self.once.first(&format!("{path} refused")) {
                        log::warn!("refused a write to {path}: {why} (further refusals here are not logged)");
                    }
                    return SET_REJECTED;
                }
            },
            Request::Restore => {
                if !self.gui.is_empty() {
                    log::info!("values set in the GUI cleared: the configuration files apply again ({})", self.gui.encode());
                    self.gui = Overrides::default();
                    self.gui_changed();
                }
            }
        }
        SET_OK
    }

    /// `/Battery/<n>/*` objects for the members that count, and the values of the list: with
    /// `full` (the member list changed, a new request) every entry; otherwise the live fields
    /// of the members whose readings changed in this batch, so a member change costs four
    /// values, not seven per member.
    pub(super) async fn sync_batteries(&mut self, full: bool) -> zbus::Result<Vec<(String, Value)>> {
        let n = self.bank.active().count();
        for gone in n + 1..=self.battery_paths.len() {
            self.service.remove(&self.battery_paths[gone - 1]).await?;
        }
        self.battery_paths.truncate(n);
        for new in self.battery_paths.len() + 1..=n {
            for spec in publish::battery_specs(new) {
                self.service.add(spec, Value::Invalid).await?;
            }
            self.battery_paths.push(paths::BATTERY_FIELDS.iter().map(|(f, _)| paths::battery(new, f)).collect());
        }
        if !(1..=n as u32).contains(&self.battery_request) {
            self.battery_request = 1;
        }
        let mut values = Vec::new();
        let touched = std::mem::take(&mut self.touched);
        for (i, m) in self.bank.active().enumerate() {
            if !full && !touched.contains(&m.service) {
                continue;
            }
            let from = if full { 0 } else { frame::BATTERY_STATIC };
            let entry = self.battery_paths[i].iter().zip(frame::battery_values(m)).skip(from);
            values.extend(entry.map(|(p, v)| (p.clone(), v)));
        }
        if full {
            values.push((paths::NR_OF_BATTERIES.into(), Value::Uint(n as u32)));
            values.push((paths::MEASUREMENT_TRACKS.into(), frame::tracked(self.bank.active())));
            // An int32, as the Lynx BMS publishes it (the GUI writes back the type it reads).
            let id = if n == 0 { Value::Invalid } else { Value::Int(i64::from(self.battery_request)) };
            values.push((paths::BATTERY_REQUEST_ID.into(), id));
        }
        Ok(values)
    }

    /// A write to `/Battery/Request/Id`: the battery (1..NrOfBatteries) the GUI shows.
    pub(super) fn on_battery_request(&mut self, w: Written) {
        let n = self.battery_paths.len() as u32;
        let code = match w.value.as_f64() {
            Some(x) if x.fract() == 0.0 && (1.0..=f64::from(n)).contains(&x) => {
                self.battery_request = x as u32;
                self.batteries_due = true;
                SET_OK
            }
            Some(_) => SET_REJECTED,
            None => SET_READ_ONLY_OR_TYPE,
        };
        if code != SET_OK && self.once.first(&format!("{} refused", w.path)) {
            log::warn!("refused a write of {:?} to {}: the bank has {n} batteries", w.value, w.path);
        }
        self.verdicts.extend(w.verdict.map(|tx| (tx, code)));
    }
}

impl Daemon {
    /// Asks `system::sync` for what the configuration wants now, unless that was asked last
    /// (`again`: ask anyway, for settings systemcalc had not created yet) or a sync runs.
    /// Called at registration and when the members change (only that changes what is
    /// wanted), and once a minute by the tick to retry.
    pub(super) fn sync_system(&mut self, again: bool) {
        let hide = if self.cfg.hide_member_shunts { self.bank.active().map(|m| m.instance).collect() } else { Vec::new() };
        let monitor = (self.cfg.select_battery_monitor && self.cfg.mode == DeviceMode::Monitor).then(|| system::monitor_value(self.instance));
        let wanted = system::Wanted { hide_option: self.cfg.hide_member_shunts, hide, monitor };
        let Some(had) = &self.system else { return };
        let nothing_to_undo = *had == system::Changes::default();
        let pending = wanted.hide.iter().any(|i| !had.hidden.contains(i) && !had.kept.contains(i))
            || had.hidden.iter().any(|i| !wanted.hide.contains(i))
            || (wanted.monitor.is_some() != had.monitor.is_some());
        let asked = self.system_asked.as_ref() == Some(&wanted);
        if (asked && !(again && pending)) || (wanted == system::Wanted::NOTHING && nothing_to_undo) || !self.settings_ok {
            return;
        }
        let Some(had) = self.system.take() else { return };
        self.system_asked = Some(wanted.clone());
        let (conn, tx) = (self.conn.clone(), self.tx.clone());
        crate::rt::spawn(async move {
            let now = system::sync(&conn, &wanted, had).await;
            let _ = tx.send(Input::System(now)).await;
        })
        .detach();
    }

    pub(super) fn on_system(&mut self, changes: system::Changes) {
        let text = changes.encode();
        if text != self.system_saved {
            self.system_saved = text.clone();
            self.save_setting(SYSTEM_SETTING, text);
        }
        self.system = Some(changes);
    }
}
