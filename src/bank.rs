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

use std::time::{Duration, Instant};

use crate::aggregate::{self, Presence, Readings};
use crate::config::Exclude;
use crate::memory::Record;
use crate::paths::{self, Q};
use crate::venus::LogOnce;
use crate::venus::monitor::Decoded;
use crate::venus::value::Value;

pub use circuit::Circuit;

/// The largest magnitude a reading may have. A SmartShunt's largest numbers are its u32
/// counters (below 4.3e9); a bigger one is garbage, and the aggregation multiplies and adds
/// readings (V × I, capacity-weighted means) where it could overflow to ±inf.
const MAX_READING: f64 = 1e12;

/// How long a liveness probe may take: half of STALE_TIMEOUT, between 1 and 5 s. A frozen
/// driver (its process stopped) is offline at most STALE_TIMEOUT + this (+ the 1 s tick) after
/// its last message.
pub fn probe_timeout(stale: Duration) -> Duration {
    (stale / 2).clamp(Duration::from_secs(1), Duration::from_secs(5))
}
/// SmartShunt product ids: 0xA389-0xA38B (500/1000/2000 A), 0xC030 (IP65 500 A), and the
/// further IP65/IP67 variants listed in Victron's VE.Direct table (0xA38C-0xA38E,
/// 0xC031-0xC037). A ProductName starting with "SmartShunt" is accepted too.
pub fn is_smartshunt(product_id: Option<u32>, product_name: &str) -> bool {
    matches!(product_id, Some(0xA389..=0xA38E | 0xC030..=0xC037)) || product_name.starts_with("SmartShunt")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacitySource {
    /// Not known (yet): no VregLink, and SoC was never between 10 and 90 %.
    Unknown,
    /// The VE.Direct capacity register is being read.
    Reading,
    /// Battery capacity register 0x1000 through `/Devices/0/VregLink`.
    Register,
    /// From ConsumedAmphours and SoC while SoC was between 10 and 90 %.
    Estimated,
}

impl CapacitySource {
    pub fn describe(self) -> &'static str {
        match self {
            CapacitySource::Unknown => "unknown",
            CapacitySource::Reading => "reading register 0x1000",
            CapacitySource::Register => "register 0x1000",
            CapacitySource::Estimated => "estimated from SoC and consumed Ah",
        }
    }
}

/// What a liveness probe (`GetValue` on `/Connected`) found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeResult {
    /// The member answered; with the value of `/Connected` when it is a number.
    Answered(Option<f64>),
    /// No answer within [`probe_timeout`].
    NoAnswer,
}

#[derive(Debug, Clone)]
pub struct Shunt {
    pub service: String,
    pub instance: u32,
    /// `/Serial`; empty when the shunt publishes none.
    pub serial: String,
    pub product_name: String,
    pub custom_name: String,
    /// The custom name, or "Shunt <instance>" without one.
    display: String,
    pub values: Readings,
    pub capacity: Option<f64>,
    pub capacity_source: CapacitySource,
    pub presence: Presence,
    pub circuit: Circuit,
    /// Index of the member's `/Members/<slot>/*` paths.
    pub slot: usize,
    on_bus: bool,
    /// On the bus at least once since this process started (false: only remembered).
    seen: bool,
    /// Last time anything came from it: a scan, a signal or a probe answer.
    last_heard: Instant,
    /// A liveness probe is on its way.
    probing: bool,
    /// The last probe got no answer in time: offline until it answers or sends something.
    unanswered: bool,
    probe_sent: Option<Instant>,
    offline_since: Option<Instant>,
}

impl Shunt {
    /// The name shown in logs and limitation texts.
    pub fn name(&self) -> &str {
        &self.display
    }

    fn set_custom_name(&mut self, name: String) {
        self.display = if name.trim().is_empty() { format!("Shunt {}", self.instance) } else { name.clone() };
        self.custom_name = name;
    }

    pub fn get(&self, q: Q) -> Option<f64> {
        self.values[q as usize]
    }

    /// True for a member remembered from before a restart that has not been on the bus since.
    pub fn missing(&self) -> bool {
        !self.seen
    }

    /// Whether `target` (the `forget` argument) names this member.
    fn is_called(&self, target: &str) -> bool {
        let port = self.service.rsplit('.').next().unwrap_or_default();
        [self.display.as_str(), self.custom_name.as_str(), self.serial.as_str(), self.service.as_str(), port].contains(&target)
            || self.instance.to_string() == target
    }

    fn why_offline(&self, probe_timeout: Duration) -> Option<String> {
        if !self.on_bus {
            Some("left the bus".into())
        } else if self.get(Q::Connected) == Some(0.0) {
            Some("reports /Connected = 0".into())
        } else if self.unanswered {
            Some(format!("did not answer a liveness probe within {:.0} s", probe_timeout.as_secs_f64()))
        } else {
            None
        }
    }

    fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.unanswered = false;
    }

    fn record(&self) -> Record {
        Record {
            serial: self.serial.clone(),
            service: self.service.clone(),
            instance: self.instance,
            name: self.custom_name.clone(),
            capacity: self.capacity,
            source: self.capacity_source,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub stale_timeout: Duration,
    pub offline_grace: Duration,
    /// OUT_OF_CIRCUIT_TIME: how long a member may carry (almost) none of the bank's current
    /// before it counts as out of the circuit.
    pub circuit_time: Duration,
    pub exclude: Vec<Exclude>,
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

struct Identity {
    instance: Option<u32>,
    product_id: Option<u32>,
    product_name: String,
    custom_name: String,
    serial: String,
    is_virtual: bool,
}

fn identity(items: &[(String, Decoded)]) -> Identity {
    let mut id = Identity {
        instance: None,
        product_id: None,
        product_name: String::new(),
        custom_name: String::new(),
        serial: String::new(),
        is_virtual: false,
    };
    for (path, v) in items {
        let Ok(v) = v else { continue };
        let text = || v.as_str().unwrap_or_default().to_owned();
        match path.as_str() {
            paths::DEVICE_INSTANCE => id.instance = v.as_u32(),
            paths::PRODUCT_ID => id.product_id = v.as_u32(),
            paths::PRODUCT_NAME => id.product_name = text(),
            paths::CUSTOM_NAME => id.custom_name = text(),
            paths::SERIAL => id.serial = text().trim().to_owned(),
            paths::DEVICES_VIRTUAL => id.is_virtual |= v.as_u32() == Some(1),
            _ => {}
        }
    }
    id
}

fn new_shunt(service: &str, instance: u32, serial: String, product_name: String, slot: usize, now: Instant) -> Shunt {
    Shunt {
        service: service.to_owned(),
        instance,
        serial,
        product_name,
        custom_name: String::new(),
        display: String::new(),
        values: [None; Q::COUNT],
        capacity: None,
        capacity_source: CapacitySource::Reading,
        presence: Presence::Online,
        circuit: Circuit::In,
        slot,
        on_bus: true,
        seen: true,
        last_heard: now,
        probing: false,
        unanswered: false,
        probe_sent: None,
        offline_since: None,
    }
}

impl Bank {
    pub fn new(opts: Options) -> Bank {
        Bank { opts, members: Vec::new(), once: LogOnce::default() }
    }

    pub fn members(&self) -> &[Shunt] {
        &self.members
    }

    /// The members as the aggregation sees them.
    pub fn view(&self) -> Vec<aggregate::Member<'_>> {
        self.members
            .iter()
            .map(|m| aggregate::Member {
                name: &m.display,
                presence: m.presence,
                capacity: m.capacity,
                values: &m.values,
                in_circuit: m.circuit != Circuit::Out,
            })
            .collect()
    }

    /// The EXCLUDE_SHUNTS item that names this shunt (by name, instance, port, service or serial).
    fn excluded(&self, service: &str, instance: u32, name: &str, serial: &str) -> Option<&Exclude> {
        self.opts.exclude.iter().find(|e| e.matches(service, Some(instance), name) || (!serial.is_empty() && e.text == serial))
    }

    fn free_slot(&self) -> usize {
        (0..).find(|s| !self.members.iter().any(|m| m.slot == *s)).unwrap_or(self.members.len())
    }

    /// Adds the members remembered from before a restart: each counts as lost (missing) until
    /// it is on the bus again. A remembered member that EXCLUDE_SHUNTS now names is forgotten.
    pub fn remember(&mut self, records: Vec<Record>, now: Instant) {
        for r in records {
            let port_name = if r.name.trim().is_empty() { format!("Shunt {}", r.instance) } else { r.name.clone() };
            if let Some(ex) = self.excluded(&r.service, r.instance, &r.name, &r.serial) {
                log::info!(
                    "remembered member {port_name} ({}, serial '{}') is excluded by EXCLUDE_SHUNTS item '{}': forgotten",
                    r.service,
                    r.serial,
                    ex.text
                );
                continue;
            }
            if self.members.iter().any(|m| {
                (!r.serial.is_empty() && m.serial == r.serial)
                    || (r.serial.is_empty() && m.serial.is_empty() && m.service == r.service && m.instance == r.instance)
            }) {
                continue; // a duplicate record
            }
            let mut m = new_shunt(&r.service, r.instance, r.serial, String::new(), self.free_slot(), now);
            m.set_custom_name(r.name);
            m.capacity = r.capacity;
            m.capacity_source = r.source;
            m.presence = Presence::Lost;
            m.on_bus = false;
            m.seen = false;
            m.offline_since = Some(now);
            self.members.push(m);
        }
        self.members.sort_by_key(|m| m.slot);
    }

    /// What should be remembered across a restart.
    pub fn memory(&self) -> Vec<Record> {
        self.members.iter().map(Shunt::record).collect()
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
                log::info!("{service} ignored: not a SmartShunt (ProductId {:?}, '{}')", id.product_id.map(|p| format!("0x{p:X}")), id.product_name);
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
                if m.capacity.is_none() {
                    m.capacity_source = CapacitySource::Reading;
                }
            }
            None => {
                let mut m = new_shunt(service, instance, id.serial, id.product_name, self.free_slot(), now);
                m.values = values;
                m.set_custom_name(id.custom_name);
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

    /// Members that have sent nothing for STALE_TIMEOUT and have no probe in flight: the caller
    /// sends each one probe and reports the result with [`Bank::on_probe`]. A quiet member that
    /// answers costs one call per STALE_TIMEOUT.
    pub fn due_probes(&mut self, now: Instant) -> Vec<String> {
        let stale = self.opts.stale_timeout;
        let mut due = Vec::new();
        for m in self.members.iter_mut().filter(|m| m.on_bus && !m.probing) {
            let since = m.probe_sent.map_or(m.last_heard, |p| p.max(m.last_heard));
            if now.saturating_duration_since(since) >= stale {
                m.probing = true;
                m.probe_sent = Some(now);
                due.push(m.service.clone());
            }
        }
        due
    }

    /// The answer (or silence) of a liveness probe.
    pub fn on_probe(&mut self, service: &str, result: ProbeResult, now: Instant) {
        let Some(m) = self.members.iter_mut().find(|m| m.on_bus && m.service == service && m.probing) else {
            return;
        };
        m.probing = false;
        match result {
            ProbeResult::Answered(connected) => {
                m.heard(now);
                if let Some(c) = connected {
                    m.values[Q::Connected as usize] = Some(c);
                }
            }
            ProbeResult::NoAnswer => m.unanswered = true,
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

    /// Forgets the member(s) that `target` names (name, custom name, serial, device instance,
    /// service or port, or `all` for every member that is not online). Returns the names
    /// forgotten, or why nothing was.
    pub fn forget(&mut self, target: &str) -> Result<Vec<String>, String> {
        let target = target.trim();
        let chosen: Vec<usize> = if target.eq_ignore_ascii_case("all") {
            (0..self.members.len()).filter(|i| self.members[*i].presence != Presence::Online).collect()
        } else {
            let named: Vec<usize> = (0..self.members.len()).filter(|i| self.members[*i].is_called(target)).collect();
            match named[..] {
                [] => {
                    let names: Vec<&str> = self.members.iter().map(Shunt::name).collect();
                    return Err(format!(
                        "no member is called '{target}' (members: {})",
                        if names.is_empty() { "none".into() } else { names.join(", ") }
                    ));
                }
                [i] if self.members[i].presence == Presence::Online => {
                    return Err(format!(
                        "{} is online: only a member that is offline can be forgotten (exclude it with EXCLUDE_SHUNTS to take it out of the bank)",
                        self.members[i].name()
                    ));
                }
                [i] => vec![i],
                _ => {
                    return Err(format!("'{target}' names {} members: use the serial or the device instance", named.len()));
                }
            }
        };
        let names = chosen.iter().map(|i| self.members[*i].name().to_owned()).collect();
        for i in chosen.into_iter().rev() {
            let m = self.members.remove(i);
            log::info!("{} ({}, serial '{}') forgotten: it no longer counts as part of the bank", m.name(), m.service, m.serial);
        }
        Ok(names)
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
        self.members.iter().any(|m| m.capacity_source == CapacitySource::Reading && m.capacity.is_none())
    }

    pub fn online_count(&self) -> usize {
        self.members.iter().filter(|m| m.presence == Presence::Online).count()
    }

    /// Remembered members that have not been on the bus since the start.
    pub fn missing(&self) -> impl Iterator<Item = &Shunt> {
        self.members.iter().filter(|m| m.missing())
    }
}

#[cfg(test)]
mod tests;
