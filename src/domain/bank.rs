//! The members of the bank: which battery services are SmartShunts we aggregate, their latest
//! readings, whether they are online, and where each one's capacity came from.
//!
//! A member is a battery, identified by its `/Serial` (so a VE.Direct port swap at boot,
//! `ttyUSB0` ↔ `ttyUSB1`, keeps its record, capacity and slot); only a shunt without a serial
//! is identified by service name and device instance. The clock is passed in, so every
//! transition is tested without waiting.
//!
//! Presence of a member (see [`Presence`]):
//! * online: on the bus, `/Connected` not 0, and answering. Silence is not death: a member that
//!   has sent nothing for STALE_TIMEOUT is asked (one `GetValue` on `/Connected`, see
//!   [`Bank::due_probes`]) and stays online as long as it answers;
//! * held: offline (left the bus, `/Connected` = 0, or no answer to the probe within
//!   [`probe_timeout`]) for less than OFFLINE_GRACE; its last values still count;
//! * lost: offline longer, or remembered from before a restart and not back yet; its values
//!   are dropped and `/Alarms/MemberLost` is raised until it returns or is forgotten. It stays
//!   in the table so the bank knows which share of itself is missing.
//!
//! Online on the bus is not the same as in the circuit: see [`circuit`].

mod circuit;
mod liveness;
mod membership;
mod shunt;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::config::Exclude;
use crate::domain::aggregate::{self, Presence, Readings};
use crate::domain::paths::{self, Q};
use crate::value::Decoded;
use crate::value::LogOnce;
use crate::value::Value;

pub use circuit::Circuit;
pub use liveness::{ProbeResult, probe_timeout};
pub use shunt::{CapacitySource, Shunt, is_smartshunt};
use shunt::{identity, new_shunt};

/// The largest magnitude a reading may have. A SmartShunt's largest numbers are its u32
/// counters (below 4.3e9); a bigger one is garbage, and the aggregation multiplies and adds
/// readings (V × I, capacity-weighted means) where it could overflow to ±inf.
const MAX_READING: f64 = 1e12;

#[derive(Debug, Clone)]
pub struct Options {
    pub stale_timeout: Duration,
    pub offline_grace: Duration,
    /// OUT_OF_CIRCUIT_TIME: how long a member may carry (almost) none of the bank's current
    /// before it counts as out of the circuit.
    pub circuit_time: Duration,
    pub exclude: Vec<Exclude>,
    /// Identities of the members switched off in the GUI (`config::gui::Overrides::off`).
    pub switched_off: BTreeSet<String>,
    /// Our own bus name: never a member.
    pub own_name: String,
}

/// What the daemon has to do after a bank update.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    /// Members whose capacity register should be read: (service, instance).
    pub read_capacity: Vec<(String, u32)>,
    /// The member list (`/Members/*`) changed shape.
    pub members_changed: bool,
}

#[derive(Debug)]
pub struct Bank {
    opts: Options,
    members: Vec<Shunt>,
    once: LogOnce,
}

impl Bank {
    pub fn new(opts: Options) -> Bank {
        Bank { opts, members: Vec::new(), once: LogOnce::default() }
    }

    pub fn members(&self) -> &[Shunt] {
        &self.members
    }

    /// The members that count: not switched off in the GUI.
    pub fn active(&self) -> impl Iterator<Item = &Shunt> {
        self.members.iter().filter(|m| !m.switched_off)
    }

    /// True when `service` is on the bus as a member (its values are followed).
    pub fn is_member(&self, service: &str) -> bool {
        self.members.iter().any(|m| m.on_bus && m.service == service)
    }

    /// What a pass reads of the member on `service` besides the clock: its readings and
    /// whether its last probe went unanswered. An input that leaves both as they were (a path
    /// the bank does not aggregate, a repeated value) needs no pass.
    pub fn reading_of(&self, service: &str) -> Option<(Readings, bool)> {
        self.members.iter().find(|m| m.on_bus && m.service == service).map(|m| (m.values, m.unanswered))
    }

    /// The members as the aggregation sees them.
    pub fn view(&self) -> Vec<aggregate::Member<'_>> {
        self.active()
            .map(|m| aggregate::Member {
                id: m.id(),
                name: &m.display,
                presence: m.presence,
                capacity: m.capacity,
                values: &m.values,
                in_circuit: m.circuit != Circuit::Out,
            })
            .collect()
    }

    /// A service appeared (or reappeared) and was scanned.
    pub fn on_appeared(&mut self, service: &str, items: &[(String, Decoded)], now: Instant) -> Effects {
        let mut fx = Effects::default();
        let id = identity(items);
        let Some(instance) = id.instance else {
            if self.once.first(&format!("{service} noinstance")) {
                log::info!("{service} ignored: it publishes no /DeviceInstance");
            }
            return fx;
        };
        if service == self.opts.own_name || id.is_virtual {
            log::debug!("{service} ignored: a virtual (aggregate) service");
            return fx;
        }
        if !is_smartshunt(id.product_id, &id.product_name) {
            if self.once.first(&format!("{service} notshunt")) {
                let product = id.product_id.map_or_else(|| "none".to_owned(), |p| format!("0x{p:X}"));
                log::info!("{service} ignored: not a SmartShunt (ProductId {product}, '{}')", id.product_name);
            }
            return fx;
        }
        if let Some(ex) = self.excluded(service, instance, &id.custom_name, &id.serial).map(|e| e.text.clone()) {
            if self.once.first(&format!("{service} excluded")) {
                log::info!("{service} (instance {instance}, '{}') excluded by EXCLUDE_SHUNTS item '{ex}'", id.custom_name);
            }
            return fx;
        }
        let existing = if id.serial.is_empty() {
            // No serial: the same service under a new device instance is the same port
            // renumbered, so the old record goes and the new identity joins.
            if let Some(pos) = self.members.iter().position(|m| m.serial.is_empty() && m.service == service && m.instance != instance) {
                let old = self.members.remove(pos);
                log::info!("{service} came back as instance {instance} (was {}); the old record is dropped", old.instance);
                fx.members_changed = true;
            }
            self.members.iter().position(|m| m.serial.is_empty() && m.service == service && m.instance == instance)
        } else {
            self.members.iter().position(|m| m.serial == id.serial)
        };
        if let Some(idx) = existing {
            if self.members[idx].on_bus && self.members[idx].service != service {
                if self.once.first(&format!("{service} duplicate")) {
                    log::warn!(
                        "{service} has the serial '{}' of {} ({}), which is already a member: counted once, ignored",
                        id.serial,
                        self.members[idx].name(),
                        self.members[idx].service
                    );
                }
                return fx;
            }
        }
        let mut values = [None; Q::COUNT];
        self.apply(service, &mut values, items);
        match existing {
            Some(idx) => {
                let m = &mut self.members[idx];
                let was = if m.missing() { "remembered, now" } else { "back" };
                if m.service != service || m.instance != instance {
                    log::info!(
                        "{} (serial '{}') is {was} on {service} as instance {instance} (was {}, instance {}): same battery, same record",
                        m.name(),
                        m.serial,
                        m.service,
                        m.instance
                    );
                    m.service = service.to_owned();
                    m.instance = instance;
                } else {
                    log::info!("{} ({service}, instance {instance}) is {was} on the bus", m.name());
                }
                m.values = values;
                m.on_bus = true;
                m.seen = true;
                m.product_name = id.product_name;
                m.probing = false;
                m.unanswered = false;
                m.circuit = Circuit::In;
                m.last_heard = now;
                m.set_custom_name(id.custom_name);
                m.firmware = id.firmware;
                if m.capacity.is_none() {
                    m.capacity_source = CapacitySource::Reading;
                }
            }
            None => {
                let mut m = new_shunt(service, instance, id.serial, id.product_name, self.free_slot(), now);
                m.values = values;
                m.set_custom_name(id.custom_name);
                m.firmware = id.firmware;
                m.switched_off = self.opts.switched_off.contains(m.id());
                log::info!("{} ({service}, instance {instance}, {}, serial '{}') joined the bank", m.name(), m.product_name, m.serial);
                self.members.push(m);
                self.members.sort_by_key(|m| m.slot);
            }
        }
        self.once.forget(&format!("{service} "));
        fx.read_capacity.push((service.to_owned(), instance));
        fx.members_changed = true;
        fx
    }

    /// Values of a live service changed. Services that are not members are ignored. Returns
    /// true when the member's name changed.
    pub fn on_changed(&mut self, service: &str, items: &[(String, Decoded)], now: Instant) -> bool {
        let Some(idx) = self.members.iter().position(|m| m.on_bus && m.service == service) else {
            return false;
        };
        let mut values = self.members[idx].values;
        self.apply(service, &mut values, items);
        let m = &mut self.members[idx];
        m.values = values;
        m.heard(now);
        let mut renamed = false;
        for (path, v) in items {
            if path == paths::CUSTOM_NAME {
                if let Ok(Value::Text(name)) = v {
                    renamed = *name != m.custom_name;
                    m.set_custom_name(name.clone());
                }
            }
        }
        renamed
    }

    /// Copies decoded numeric items into `values`; a malformed, wrongly typed or absurdly large
    /// value is ignored (the previous one stays) and logged once per service and path.
    fn apply(&mut self, service: &str, values: &mut Readings, items: &[(String, Decoded)]) {
        for (path, v) in items {
            let Some(q) = Q::of_path(path) else { continue };
            let number = match v {
                Ok(Value::Invalid) => Ok(None),
                Ok(Value::Text(t)) => Err(format!("text '{}' where a number belongs", t.chars().take(40).collect::<String>())),
                Ok(v) => match v.as_f64() {
                    Some(x) if x.abs() > MAX_READING => Err(format!("{x} is out of range")),
                    n => Ok(n),
                },
                Err(e) => Err(e.to_string()),
            };
            match number {
                Ok(n) => values[q as usize] = n,
                Err(why) => {
                    if self.once.first(&format!("{service} {path}")) {
                        log::warn!("{service}: ignoring a bad value on {path} ({why}); further ones are not logged");
                    }
                }
            }
        }
    }

    /// The service left the bus.
    pub fn on_vanished(&mut self, service: &str) {
        if let Some(m) = self.members.iter_mut().find(|m| m.on_bus && m.service == service) {
            m.on_bus = false;
        }
    }

    /// The capacity register read finished: `Some(Ah)`, or `None` when the device has no usable
    /// register (a remembered capacity stays; else the estimate from SoC takes over).
    pub fn set_capacity(&mut self, service: &str, instance: u32, capacity: Option<f64>) {
        let Some(m) = self.members.iter_mut().find(|m| m.service == service && m.instance == instance) else {
            return;
        };
        match capacity {
            Some(ah) => {
                m.capacity = Some(ah);
                m.capacity_source = CapacitySource::Register;
                log::info!("{}: capacity {ah} Ah from register 0x1000", m.name());
            }
            None if m.capacity_source == CapacitySource::Reading => {
                m.capacity_source = CapacitySource::Unknown;
                log::info!("{}: no capacity register; estimating from SoC and consumed Ah when SoC is 10-90 %", m.name());
            }
            None => {}
        }
    }

    /// Re-evaluates presence, circuit and capacity estimates at `now`. Returns true if any
    /// member's presence, circuit or capacity changed.
    pub fn refresh(&mut self, now: Instant) -> bool {
        let grace = self.opts.offline_grace;
        let probe_timeout = probe_timeout(self.opts.stale_timeout);
        let mut changed = false;
        for m in &mut self.members {
            if m.capacity_source == CapacitySource::Unknown && m.presence != Presence::Lost {
                if let Some(ah) = aggregate::estimate_capacity(m.get(Q::ConsumedAh), m.get(Q::Soc)) {
                    m.capacity = Some(ah);
                    m.capacity_source = CapacitySource::Estimated;
                    changed = true;
                    log::info!("{}: capacity estimated at {ah} Ah from SoC and consumed Ah", m.name());
                }
            }
            if !m.seen {
                continue; // remembered, not back yet: lost from the start
            }
            let presence = match m.why_offline(probe_timeout) {
                None => {
                    m.offline_since = None;
                    Presence::Online
                }
                Some(why) => {
                    if m.offline_since.is_none() && m.presence == Presence::Online {
                        log::warn!("{} is offline: it {why}; holding its last values for {} s", m.name(), grace.as_secs());
                    }
                    let since = *m.offline_since.get_or_insert(now);
                    if now.saturating_duration_since(since) < grace { Presence::Held } else { Presence::Lost }
                }
            };
            if presence != m.presence {
                changed = true;
                match presence {
                    Presence::Online => log::info!("{} is online again", m.name()),
                    Presence::Lost => {
                        log::warn!(
                            "{} dropped from the bank after {} s offline; /Alarms/MemberLost raised until it returns",
                            m.name(),
                            grace.as_secs()
                        );
                        m.values = [None; Q::COUNT];
                    }
                    Presence::Held => {}
                }
                m.presence = presence;
            }
        }
        changed | circuit::update(&mut self.members, self.opts.circuit_time, now)
    }

    /// True while a member's capacity register is being read for the first time (its weight in
    /// the SoC is not known yet).
    pub fn capacity_pending(&self) -> bool {
        self.active().any(|m| m.capacity_source == CapacitySource::Reading && m.capacity.is_none())
    }

    pub fn online_count(&self) -> usize {
        self.active().filter(|m| m.presence == Presence::Online).count()
    }

    /// Remembered members that have not been on the bus since the start.
    pub fn missing(&self) -> impl Iterator<Item = &Shunt> {
        self.active().filter(|m| m.missing())
    }
}

#[cfg(test)]
mod tests;
