//! The member side of the loop: capacity reads and liveness probes (each a task of its own),
//! the bank's memory in localsettings, `forget` from the bus, and the periodic status line.

use std::time::Instant;

use super::{CALL_TIMEOUT, Daemon, Input};
use crate::domain::bank::{self, Effects, ProbeResult};
use crate::domain::{aggregate, memory, paths};
use crate::publish::{self, MEMBERS_SETTING};
use crate::value::Value;
use crate::venus::call::{self, CallError};
use crate::venus::service::{SET_OK, SET_READ_ONLY_OR_TYPE, SET_REJECTED};
use crate::venus::{settings, vreg};

impl Daemon {
    pub(super) fn effects(&mut self, fx: Effects) {
        for (service, instance) in fx.read_capacity {
            let (conn, tx) = (self.conn.clone(), self.tx.clone());
            crate::rt::spawn(async move {
                let capacity = call::bounded(CALL_TIMEOUT, vreg::battery_capacity(&conn, &service)).await.unwrap_or_else(|e| {
                    log::debug!("{service}: capacity register not readable: it {e}");
                    None
                });
                let _ = tx.send(Input::Capacity { service, instance, capacity }).await;
            })
            .detach();
        }
    }

    /// Loads the remembered members (a corrupt record is ignored with a warning).
    pub(super) fn load_memory(&mut self, text: &str, now: Instant) {
        let (records, refused) = memory::decode(text);
        for why in &refused {
            log::warn!("ignoring part of the remembered bank in {MEMBERS_SETTING}: {why}");
        }
        if !records.is_empty() {
            let names: Vec<String> =
                records.iter().map(|r| if r.name.is_empty() { format!("instance {}", r.instance) } else { r.name.clone() }).collect();
            log::info!("the bank remembers {} member(s): {}", records.len(), names.join(", "));
        }
        // A record dropped here (excluded, refused) makes the next save differ from what is
        // stored, so the memory is written back without it.
        self.bank.remember(records, now);
    }

    /// Writes the bank's memory to localsettings when it changed.
    pub(super) fn save_memory(&mut self) {
        let Some(saved) = &self.saved_memory else {
            return;
        };
        let text = memory::encode(&self.bank.memory());
        if *saved == text {
            return;
        }
        self.saved_memory = Some(text.clone());
        self.save_setting(MEMBERS_SETTING, text);
    }

    /// Writes one text setting to localsettings in a task of its own (nothing when
    /// localsettings was not there at the start).
    pub(super) fn save_setting(&self, path: &'static str, text: String) {
        if !self.settings_ok {
            return;
        }
        let conn = self.conn.clone();
        crate::rt::spawn(async move {
            match settings::set_value(&conn, path, &Value::from(text), CALL_TIMEOUT).await {
                Ok(0) => {}
                Ok(code) => log::warn!("localsettings refused {path} (code {code})"),
                Err(e) => log::warn!("{path} was not written: localsettings {e}"),
            }
        })
        .detach();
    }

    /// `forget` from the bus: the SetValue code (0 done, 2 refused, 1 not a text) and what it
    /// did, in words.
    pub(super) fn forget(&mut self, value: &Value) -> (i32, String) {
        let Some(target) = value.as_str() else {
            return (SET_READ_ONLY_OR_TYPE, "write a name, serial, device instance, port or 'all'".into());
        };
        match self.bank.forget(target) {
            Ok(names) if names.is_empty() => {
                log::info!("forget '{target}': no member is offline, nothing to forget");
                (SET_OK, "nothing to forget: every member is online".into())
            }
            Ok(names) => {
                self.members_dirty = true;
                (SET_OK, format!("forgotten: {}; the bank now has {} member(s)", names.join(", "), self.bank.members().len()))
            }
            Err(why) => {
                log::warn!("forget '{target}' refused: {why}");
                (SET_REJECTED, why)
            }
        }
    }

    /// Reads ESS's feed-in setting in a task of its own.
    pub(super) fn read_feed_in(&self) {
        let (conn, tx) = (self.conn.clone(), self.tx.clone());
        crate::rt::spawn(async move {
            let read = call::get_value(&conn, settings::SETTINGS_SERVICE, paths::OVERVOLTAGE_FEED_IN, CALL_TIMEOUT).await;
            let on = read.ok().and_then(|v| v.as_f64()).map(|v| v != 0.0);
            let _ = tx.send(Input::FeedIn(on)).await;
        })
        .detach();
    }

    /// The feed-in setting as read: passed to the policy, logged when it changes.
    pub(super) fn on_feed_in(&mut self, on: Option<bool>) {
        let Some(p) = &mut self.policy else {
            return;
        };
        if self.feed_in != Some(on) {
            match on {
                Some(true) => log::warn!(
                    "ESS feeds excess DC-coupled PV into the grid: DVCC then gives solar chargers their full current whatever CCL says, so a charge stop also lowers CVL below the bank voltage"
                ),
                Some(false) => log::info!("ESS feed-in of DC-coupled PV is off: CCL 0 stops every DVCC charger"),
                None => {
                    log::warn!("cannot read {} from localsettings: a charge stop also lowers CVL, as if feed-in were on", paths::OVERVOLTAGE_FEED_IN)
                }
            }
        }
        self.feed_in = Some(on);
        p.set_feed_in(on);
    }

    /// Sends one liveness probe per quiet member, each in its own task.
    pub(super) fn probe(&mut self, now: Instant) {
        let limit = bank::probe_timeout(self.cfg.stale_timeout);
        for service in self.bank.due_probes(now) {
            let (conn, tx) = (self.conn.clone(), self.tx.clone());
            crate::rt::spawn(async move {
                // An answer of any kind (even an error reply) proves the member is alive.
                let result = match call::get_value(&conn, &service, paths::CONNECTED, limit).await {
                    Ok(v) => ProbeResult::Answered(v.as_f64()),
                    Err(CallError::Timeout) => ProbeResult::NoAnswer,
                    Err(_) => ProbeResult::Answered(None),
                };
                let _ = tx.send(Input::Probe { service, result }).await;
            })
            .detach();
        }
    }

    /// The periodic status line (LOG_PERIOD).
    pub(super) fn status(&mut self, now: Instant, outputs: &aggregate::Outputs) {
        let (Some(next), Some(period)) = (self.next_status, self.cfg.log_period) else {
            return;
        };
        if now < next {
            return;
        }
        self.next_status = Some(now + period);
        let get = |p: &str| outputs.iter().find(|(q, _)| *q == p).and_then(|(_, v)| *v);
        let show = |v: Option<f64>, unit: &str, dec: usize| v.map_or("---".to_owned(), |v| format!("{v:.dec$} {unit}"));
        let mut line = format!(
            "bank: {}, {}, SoC {}, {}/{} online",
            show(get(paths::DC_VOLTAGE), "V", 2),
            show(get(paths::DC_CURRENT), "A", 1),
            show(get(paths::SOC), "%", 1),
            self.bank.online_count(),
            self.bank.members().len()
        );
        for m in self.bank.members() {
            line.push_str(&format!(
                "; {}: {} {} {} {:?}",
                m.name(),
                show(m.get(paths::Q::Voltage), "V", 2),
                show(m.get(paths::Q::Current), "A", 1),
                show(m.get(paths::Q::Soc), "%", 1),
                m.presence
            ));
        }
        log::info!("{line}");
    }

    pub(super) async fn publish_forget_result(&self, outcome: String) {
        if let Err(e) = self.service.update([(paths::FORGET_RESULT, Value::from(outcome))]).await {
            log::warn!("could not publish {}: {e}", paths::FORGET_RESULT);
        }
    }

    /// Adds and removes `/Members/<slot>/*` objects to match the bank.
    pub(super) async fn sync_member_slots(&mut self) -> zbus::Result<()> {
        let wanted: Vec<usize> = self.bank.members().iter().map(|m| m.slot).collect();
        if wanted == self.slots {
            return Ok(());
        }
        for slot in self.slots.iter().filter(|s| !wanted.contains(s)) {
            let gone: Vec<String> = publish::member_specs(*slot).into_iter().map(|s| s.path).collect();
            self.service.remove(&gone).await?;
        }
        for slot in wanted.iter().filter(|s| !self.slots.contains(s)) {
            for spec in publish::member_specs(*slot) {
                self.service.add(spec, Value::Invalid).await?;
            }
        }
        self.slots = wanted;
        Ok(())
    }
}
