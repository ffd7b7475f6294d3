//! The members of the bank: which battery services are SmartShunts we aggregate, their latest
//! readings, whether they are online, and where each one's capacity came from.
//!
//! Membership is by identity (service name and device instance), never by count. The clock is
//! passed in, so every transition is tested without waiting.
//!
//! Presence of a member (see [`Presence`]):
//! * online: on the bus, `/Connected` not 0, and something received within STALE_TIMEOUT;
//! * held: offline for less than OFFLINE_GRACE; its last values still count;
//! * lost: offline longer; its values are dropped and `/Alarms/MemberLost` is raised until it
//!   returns. It stays in the table so the bank knows which share of itself is missing.

use std::time::{Duration, Instant};

use crate::aggregate::{self, Presence, Readings};
use crate::config::Exclude;
use crate::paths::{self, Q};
use crate::venus::LogOnce;
use crate::venus::monitor::Decoded;
use crate::venus::value::Value;

/// The largest magnitude a reading may have. A SmartShunt's largest numbers are its u32
/// counters (below 4.3e9); a bigger one is garbage, and the aggregation multiplies and adds
/// readings (V × I, capacity-weighted means) where it could overflow to ±inf.
const MAX_READING: f64 = 1e12;

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

#[derive(Debug, Clone)]
pub struct Shunt {
    pub service: String,
    pub instance: u32,
    pub product_name: String,
    pub custom_name: String,
    /// The custom name, or "Shunt <instance>" without one.
    display: String,
    pub values: Readings,
    pub capacity: Option<f64>,
    pub capacity_source: CapacitySource,
    pub presence: Presence,
    /// Index of the member's `/Members/<slot>/*` paths.
    pub slot: usize,
    on_bus: bool,
    last_update: Instant,
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

    fn why_offline(&self, now: Instant, stale: Duration) -> Option<&'static str> {
        if !self.on_bus {
            Some("left the bus")
        } else if self.get(Q::Connected) == Some(0.0) {
            Some("reports /Connected = 0")
        } else if now.saturating_duration_since(self.last_update) > stale {
            Some("sent nothing within STALE_TIMEOUT")
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub stale_timeout: Duration,
    pub offline_grace: Duration,
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
    is_virtual: bool,
}

fn identity(items: &[(String, Decoded)]) -> Identity {
    let mut id = Identity { instance: None, product_id: None, product_name: String::new(), custom_name: String::new(), is_virtual: false };
    for (path, v) in items {
        let Ok(v) = v else { continue };
        match path.as_str() {
            paths::DEVICE_INSTANCE => id.instance = v.as_u32(),
            paths::PRODUCT_ID => id.product_id = v.as_u32(),
            paths::PRODUCT_NAME => id.product_name = v.as_str().unwrap_or_default().to_owned(),
            paths::CUSTOM_NAME => id.custom_name = v.as_str().unwrap_or_default().to_owned(),
            paths::DEVICES_VIRTUAL => id.is_virtual |= v.as_u32() == Some(1),
            _ => {}
        }
    }
    id
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
            .map(|m| aggregate::Member { name: &m.display, presence: m.presence, capacity: m.capacity, values: &m.values })
            .collect()
    }

    fn live(&mut self, service: &str) -> Option<&mut Shunt> {
        self.members.iter_mut().find(|m| m.on_bus && m.service == service)
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
        if let Some(ex) = self.opts.exclude.iter().find(|e| e.matches(service, Some(instance), &id.custom_name)) {
            if self.once.first(&format!("{service} excluded")) {
                log::info!("{service} (instance {instance}, '{}') excluded by EXCLUDE_SHUNTS item '{}'", id.custom_name, ex.text);
            }
            return fx;
        }
        // The same service under a new device instance is the same port renumbered: the old
        // record goes, the new identity joins.
        if let Some(pos) = self.members.iter().position(|m| m.service == service && m.instance != instance) {
            let old = self.members.remove(pos);
            log::info!("{service} came back as instance {instance} (was {}); the old record is dropped", old.instance);
            fx.members_changed = true;
        }
        let mut values = [None; Q::COUNT];
        self.apply(service, &mut values, items);
        match self.members.iter_mut().find(|m| m.service == service && m.instance == instance) {
            Some(m) => {
                log::info!("{} ({service}, instance {instance}) is back", m.name());
                m.values = values;
                m.on_bus = true;
                m.last_update = now;
                m.set_custom_name(id.custom_name);
                m.capacity_source = CapacitySource::Reading;
            }
            None => {
                let slot = (0..).find(|s| !self.members.iter().any(|m| m.slot == *s)).unwrap_or(self.members.len());
                let mut m = Shunt {
                    service: service.to_owned(),
                    instance,
                    product_name: id.product_name,
                    custom_name: String::new(),
                    display: String::new(),
                    values,
                    capacity: None,
                    capacity_source: CapacitySource::Reading,
                    presence: Presence::Online,
                    slot,
                    on_bus: true,
                    last_update: now,
                    offline_since: None,
                };
                m.set_custom_name(id.custom_name);
                log::info!("{} ({service}, instance {instance}, {}) joined the bank", m.name(), m.product_name);
                self.members.push(m);
                self.members.sort_by_key(|m| m.slot);
            }
        }
        self.once.forget(&format!("{service} "));
        fx.read_capacity.push((service.to_owned(), instance));
        fx.members_changed = true;
        fx
    }

    /// Values of a live service changed. Services that are not members are ignored.
    pub fn on_changed(&mut self, service: &str, items: &[(String, Decoded)], now: Instant) -> bool {
        let Some(idx) = self.members.iter().position(|m| m.on_bus && m.service == service) else { return false };
        let mut values = self.members[idx].values;
        self.apply(service, &mut values, items);
        let m = &mut self.members[idx];
        m.values = values;
        m.last_update = now;
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
        if let Some(m) = self.live(service) {
            m.on_bus = false;
        }
    }

    /// The capacity register read finished: `Some(Ah)`, or `None` when the device has no usable
    /// register (the estimate from SoC takes over).
    pub fn set_capacity(&mut self, service: &str, instance: u32, capacity: Option<f64>) {
        let Some(m) = self.members.iter_mut().find(|m| m.service == service && m.instance == instance) else { return };
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

    /// Re-evaluates presence and capacity estimates at `now`. Returns true if any member's
    /// presence or capacity changed.
    pub fn refresh(&mut self, now: Instant) -> bool {
        let (stale, grace) = (self.opts.stale_timeout, self.opts.offline_grace);
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
            let presence = match m.why_offline(now, stale) {
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
                        log::warn!("{} dropped from the bank after {} s offline; /Alarms/MemberLost raised until it returns", m.name(), grace.as_secs());
                        m.values = [None; Q::COUNT];
                    }
                    Presence::Held => {}
                }
                m.presence = presence;
            }
        }
        changed
    }

    /// True while a member's capacity register is being read for the first time (its weight in
    /// the SoC is not known yet).
    pub fn capacity_pending(&self) -> bool {
        self.members.iter().any(|m| m.capacity_source == CapacitySource::Reading && m.capacity.is_none())
    }

    pub fn online_count(&self) -> usize {
        self.members.iter().filter(|m| m.presence == Presence::Online).count()
    }
}

#[cfg(test)]
mod tests;
