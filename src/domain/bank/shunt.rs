//! One member: a SmartShunt's identity, readings, presence bookkeeping and capacity source,
//! and how its identity is read from a scan.

use std::time::{Duration, Instant};

use super::circuit::Circuit;
use crate::domain::aggregate::{Presence, Readings};
use crate::domain::memory::Record;
use crate::domain::paths::{self, Q};
use crate::value::Decoded;

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
    /// `/Serial`; empty when the shunt publishes none.
    pub serial: String,
    pub product_name: String,
    pub custom_name: String,
    /// The custom name, or "Shunt <instance>" without one.
    pub(super) display: String,
    pub values: Readings,
    pub capacity: Option<f64>,
    pub capacity_source: CapacitySource,
    pub presence: Presence,
    pub circuit: Circuit,
    /// Index of the member's `/Members/<slot>/*` paths.
    pub slot: usize,
    /// Switched off in the GUI: listed (so it can be switched on again) but out of the bank,
    /// as if EXCLUDE_SHUNTS named it.
    pub switched_off: bool,
    /// `/FirmwareVersion` as the shunt publishes it (Victron's 0xMMmm encoding).
    pub firmware: Option<u32>,
    pub(super) on_bus: bool,
    /// On the bus at least once since this process started (false: only remembered).
    pub(super) seen: bool,
    /// Last time anything came from it: a scan, a signal or a probe answer.
    pub(super) last_heard: Instant,
    /// A liveness probe is on its way.
    pub(super) probing: bool,
    /// The last probe got no answer in time: offline until it answers or sends something.
    pub(super) unanswered: bool,
    pub(super) probe_sent: Option<Instant>,
    pub(super) offline_since: Option<Instant>,
}

impl Shunt {
    /// The identity that outlives a port swap: the serial, or the service without one.
    pub fn id(&self) -> &str {
        if self.serial.is_empty() { &self.service } else { &self.serial }
    }

    /// The name shown in logs and limitation texts.
    pub fn name(&self) -> &str {
        &self.display
    }

    pub(super) fn set_custom_name(&mut self, name: String) {
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
    pub(super) fn is_called(&self, target: &str) -> bool {
        let port = self.service.rsplit('.').next().unwrap_or_default();
        [self.display.as_str(), self.custom_name.as_str(), self.serial.as_str(), self.service.as_str(), port].contains(&target)
            || self.instance.to_string() == target
    }

    pub(super) fn why_offline(&self, probe_timeout: Duration) -> Option<String> {
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

    pub(super) fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.unanswered = false;
    }

    pub(super) fn record(&self) -> Record {
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

pub(super) struct Identity {
    pub(super) instance: Option<u32>,
    pub(super) product_id: Option<u32>,
    pub(super) product_name: String,
    pub(super) custom_name: String,
    pub(super) serial: String,
    pub(super) is_virtual: bool,
    pub(super) firmware: Option<u32>,
}

pub(super) fn identity(items: &[(String, Decoded)]) -> Identity {
    let mut id = Identity {
        instance: None,
        product_id: None,
        product_name: String::new(),
        custom_name: String::new(),
        serial: String::new(),
        is_virtual: false,
        firmware: None,
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
            paths::FIRMWARE_VERSION => id.firmware = v.as_u32(),
            _ => {}
        }
    }
    id
}

pub(super) fn new_shunt(service: &str, instance: u32, serial: String, product_name: String, slot: usize, now: Instant) -> Shunt {
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
        switched_off: false,
        firmware: None,
        on_bus: true,
        seen: true,
        last_heard: now,
        probing: false,
        unanswered: false,
        probe_sent: None,
        offline_since: None,
    }
}
