//! Who belongs to the bank over time: exclusions, slots, the members remembered from before a
//! restart, and `forget`.

use std::collections::BTreeSet;
use std::time::Instant;

use super::Bank;
use super::shunt::{Shunt, new_shunt};
use crate::config::Exclude;
use crate::domain::aggregate::Presence;
use crate::domain::memory::Record;

impl Bank {
    /// The EXCLUDE_SHUNTS item that names this shunt (by name, instance, port, service or serial).
    pub(super) fn excluded(&self, service: &str, instance: u32, name: &str, serial: &str) -> Option<&Exclude> {
        self.opts.exclude.iter().find(|e| e.matches(service, Some(instance), name) || (!serial.is_empty() && e.text == serial))
    }

    pub(super) fn free_slot(&self) -> usize {
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
            m.switched_off = self.opts.switched_off.contains(m.id());
            m.on_bus = false;
            m.seen = false;
            m.offline_since = Some(now);
            self.members.push(m);
        }
        self.members.sort_by_key(|m| m.slot);
    }

    /// Switches members on and off (the GUI's toggles): `off` holds the identities switched
    /// off. Returns the names of the members whose state changed.
    pub fn switch(&mut self, off: &BTreeSet<String>) -> Vec<String> {
        self.opts.switched_off = off.clone();
        let mut changed = Vec::new();
        for m in &mut self.members {
            let now_off = off.contains(m.id());
            if now_off != m.switched_off {
                m.switched_off = now_off;
                m.circuit = super::Circuit::In;
                log::info!(
                    "{} ({}, serial '{}') switched {} in the GUI: {}",
                    m.name(),
                    m.service,
                    m.serial,
                    if now_off { "off" } else { "on" },
                    if now_off { "it is left out of the bank as if EXCLUDE_SHUNTS named it" } else { "it counts in the bank again" }
                );
                changed.push(m.name().to_owned());
            }
        }
        changed
    }

    /// What should be remembered across a restart.
    pub fn memory(&self) -> Vec<Record> {
        self.members.iter().map(Shunt::record).collect()
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
}
