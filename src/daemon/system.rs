//! The systemcalc settings this daemon may change, each only when the configuration asks for
//! it, always through localsettings, and never against a choice the user made afterwards:
//! * HIDE_MEMBER_SHUNTS: a member's `Enabled` in systemcalc's battery list set from 1 to 0;
//!   a member the user shows again is left alone from then on; turning the option off, a
//!   member leaving the bank, or removing the package (`restore-system`) shows again the ones
//!   this daemon hid and that are still hidden;
//! * SELECT_BATTERY_MONITOR (monitor mode): `/Settings/SystemSetup/BatteryService` set to the
//!   aggregate once, while it is still "default"; set back to "default" when the option is
//!   turned off or the package removed, if it is still ours.
//!
//! What was changed is kept in localsettings (`publish::SYSTEM_SETTING`) as
//! `1;hidden=<instance>;kept=<instance>;monitor=<value written, or - for left alone>`.

use std::collections::BTreeSet;
use std::time::Duration;

use zbus::Connection;

use crate::domain::paths;
use crate::publish::SYSTEM_SETTING;
use crate::value::Value;
use crate::venus::{call, settings};

const LIMIT: Duration = Duration::from_secs(5);
const DEFAULT_MONITOR: &str = "default";
/// `monitor=-`: the user had chosen a battery monitor; never touched.
const LEFT_ALONE: &str = "-";

/// What this daemon changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Device instances of members whose `Enabled` we set to 0.
    pub hidden: BTreeSet<u32>,
    /// Members the user showed again after we hid them: left alone.
    pub kept: BTreeSet<u32>,
    /// The BatteryService value we wrote, or [`LEFT_ALONE`].
    pub monitor: Option<String>,
}

impl Changes {
    pub fn encode(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.hidden.iter().map(|i| format!("hidden={i}")));
        parts.extend(self.kept.iter().map(|i| format!("kept={i}")));
        parts.extend(self.monitor.iter().map(|m| format!("monitor={m}")));
        if parts.is_empty() { String::new() } else { format!("1;{}", parts.join(";")) }
    }

    /// The record in `text`; what does not parse is dropped with a warning.
    pub fn decode(text: &str) -> Changes {
        let mut c = Changes::default();
        let mut parts = text.trim().split(';').filter(|p| !p.is_empty());
        match parts.next() {
            None => return c,
            Some("1") => {}
            Some(other) => {
                log::warn!("ignoring the record of changed system settings: unknown format '{other}'");
                return c;
            }
        }
        for part in parts {
            match part.split_once('=') {
                Some(("hidden", i)) if i.parse::<u32>().is_ok() => c.hidden.extend(i.parse::<u32>().ok()),
                Some(("kept", i)) if i.parse::<u32>().is_ok() => c.kept.extend(i.parse::<u32>().ok()),
                Some(("monitor", m)) if !m.is_empty() => c.monitor = Some(m.to_owned()),
                _ => log::warn!("ignoring '{part}' in the record of changed system settings"),
            }
        }
        c
    }
}

/// What the configuration and the bank ask for now.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    /// HIDE_MEMBER_SHUNTS is on (the user's "show it again" choices are kept while it is).
    pub hide_option: bool,
    /// The members' device instances to hide.
    pub hide: Vec<u32>,
    /// SELECT_BATTERY_MONITOR: the BatteryService value that selects the aggregate.
    pub monitor: Option<String>,
}

impl Wanted {
    /// Nothing: every change undone (the option off, or the package removed).
    pub const NOTHING: Wanted = Wanted { hide_option: false, hide: Vec::new(), monitor: None };
}

/// The BatteryService value that selects the battery service with this device instance.
pub fn monitor_value(instance: u32) -> String {
    format!("com.victronenergy.battery/{instance}")
}

async fn get(conn: &Connection, path: &str) -> Option<Value> {
    call::get_value(conn, settings::SETTINGS_SERVICE, path, LIMIT).await.ok()
}

async fn set(conn: &Connection, path: &str, v: Value) -> bool {
    match settings::set_value(conn, path, &v, LIMIT).await {
        Ok(0) => true,
        Ok(code) => {
            log::warn!("localsettings refused {path} = {v:?} (code {code})");
            false
        }
        Err(e) => {
            log::warn!("{path} was not written: localsettings {e}");
            false
        }
    }
}

/// Brings the system settings to what is `wanted`, from the record `had`; returns the new
/// record. A setting that cannot be read now (systemcalc has not created it yet) is tried
/// again at the next call.
pub async fn sync(conn: &Connection, wanted: &Wanted, had: Changes) -> Changes {
    let mut c = had;
    let enabled = |i: u32| paths::battery_configuration(i, "Enabled");
    for i in c.hidden.clone() {
        let now = get(conn, &enabled(i)).await.and_then(|v| v.as_f64());
        if !wanted.hide.contains(&i) {
            // Forgotten only once it is shown again (or someone else changed it): a failed
            // read or write is tried again at the next call.
            match now {
                Some(0.0) if set(conn, &enabled(i), Value::Int(1)).await => {
                    log::info!("battery instance {i} shown again in the battery list (hidden by HIDE_MEMBER_SHUNTS before)");
                    c.hidden.remove(&i);
                }
                Some(0.0) | None => {}
                Some(_) => {
                    c.hidden.remove(&i);
                }
            }
        } else if now == Some(1.0) {
            log::info!("battery instance {i} was shown again by the user: left alone from now on");
            c.hidden.remove(&i);
            c.kept.insert(i);
        }
    }
    if !wanted.hide_option {
        c.kept.clear();
    }
    let new: Vec<u32> = wanted.hide.iter().copied().filter(|i| !c.hidden.contains(i) && !c.kept.contains(i)).collect();
    for i in new {
        match get(conn, &enabled(i)).await.and_then(|v| v.as_f64()) {
            Some(1.0) if set(conn, &enabled(i), Value::Int(0)).await => {
                log::info!("member battery instance {i} hidden in the battery list (HIDE_MEMBER_SHUNTS)");
                c.hidden.insert(i);
            }
            Some(_) => {}
            None => log::debug!("{} not there yet; tried again later", enabled(i)),
        }
    }
    match (&wanted.monitor, c.monitor.clone()) {
        (Some(ours), None) => match get(conn, paths::BATTERY_SERVICE_SETTING).await.as_ref().and_then(Value::as_str) {
            Some(DEFAULT_MONITOR) if set(conn, paths::BATTERY_SERVICE_SETTING, Value::from(ours.as_str())).await => {
                log::info!("the aggregate is now the battery monitor ({} = {ours}; SELECT_BATTERY_MONITOR)", paths::BATTERY_SERVICE_SETTING);
                c.monitor = Some(ours.clone());
            }
            Some(DEFAULT_MONITOR) | None => {}
            Some(other) => {
                log::info!("the battery monitor was chosen by the user ({other}): SELECT_BATTERY_MONITOR leaves it alone");
                c.monitor = Some(LEFT_ALONE.into());
            }
        },
        (None, Some(ours)) if ours == LEFT_ALONE => c.monitor = None,
        (None, Some(ours)) => match get(conn, paths::BATTERY_SERVICE_SETTING).await.as_ref().map(|v| v.as_str().unwrap_or_default().to_owned()) {
            Some(now) if now == ours && set(conn, paths::BATTERY_SERVICE_SETTING, Value::from(DEFAULT_MONITOR)).await => {
                log::info!("the battery monitor is automatic again (it was the aggregate through SELECT_BATTERY_MONITOR)");
                c.monitor = None;
            }
            // Not written: tried again at the next call.
            Some(now) if now == ours => {}
            // Changed by the user since: theirs.
            Some(_) => c.monitor = None,
            None => {}
        },
        _ => {}
    }
    c
}

/// `restore-system` (the uninstallers run it with the service stopped): every member shunt
/// this daemon hid is shown again and the battery monitor it selected is automatic again,
/// each only if the user has not changed it since. `Err` when something could not be undone.
pub async fn restore(conn: &Connection) -> Result<String, String> {
    let text = match call::get_value(conn, settings::SETTINGS_SERVICE, SYSTEM_SETTING, LIMIT).await {
        Ok(t) => t,
        // No such setting: this daemon never ran here, or never changed anything.
        Err(call::CallError::Failed(e)) if e.contains("UnknownObject") || e.contains("UnknownMethod") => return Ok("nothing to restore".into()),
        Err(e) => return Err(format!("localsettings {e}")),
    };
    let left = sync(conn, &Wanted::NOTHING, Changes::decode(text.as_str().unwrap_or_default())).await;
    match settings::set_value(conn, SYSTEM_SETTING, &left.encode().into(), LIMIT).await {
        Ok(0) => {}
        Ok(code) => return Err(format!("localsettings refused {SYSTEM_SETTING} (code {code})")),
        Err(e) => return Err(format!("localsettings {e}")),
    }
    if left != Changes::default() {
        return Err(format!("not everything could be restored (left: {}); run it again", left.encode()));
    }
    Ok("system settings restored".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_round_trips_and_refuses_garbage() {
        let c = Changes { hidden: [3, 288].into(), kept: [7].into(), monitor: Some(monitor_value(100)) };
        assert_eq!(c.encode(), "1;hidden=3;hidden=288;kept=7;monitor=com.victronenergy.battery/100");
        assert_eq!(Changes::decode(&c.encode()), c);
        assert_eq!(Changes::decode(""), Changes::default());
        assert_eq!(Changes::decode("2;hidden=1"), Changes::default());
        assert_eq!(Changes::decode("1;hidden=x;kept=4").kept, [4].into());
        assert_eq!(Changes::default().encode(), "");
    }
}
