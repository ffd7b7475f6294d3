//! Start-up and shutdown: what localsettings holds for us (device instance, custom name, the bank's
//! memory), a free device instance when it cannot say, the exported tree before the name is
//! requested, and the tasks that feed the loop.

use std::time::Duration;

use smol::channel::{Receiver, Sender};
use smol::stream::StreamExt;
use zbus::Connection;

use super::{CALL_TIMEOUT, Daemon, Exit, Input, SCAN_TIMEOUT, SHUTDOWN_HOLD};
use crate::config::{Config, DeviceMode};
use crate::domain::bms::Policy;
use crate::domain::frame;
use crate::domain::paths::{self, Q};
use crate::publish::{
    self, CHARGE_SETTING, CUSTOM_NAME_SETTING, GUI_SETTING, MEMBERS_SETTING, ORIGINAL_CLASS_SETTING, SERVICE_NAME, SETTINGS_GROUP, SYSTEM_SETTING,
};
use crate::value::Value;
use crate::venus::service::{Service, Written};
use crate::venus::{call, monitor, settings};

/// What localsettings holds for us.
pub(super) struct Stored {
    pub instance: u32,
    pub custom_name: String,
    pub settings_ok: bool,
    /// The bank's memory; None when localsettings could not be asked.
    pub memory: Option<String>,
    /// The charge stage (`Charger::saved`); empty when unknown.
    pub charge: String,
    /// What the GUI changed (`config::gui::Overrides`); empty when nothing or unknown.
    pub gui: String,
    /// The system settings this daemon changed (`system::Changes`).
    pub system: String,
}

/// Device instance (ClassAndVrmInstance), the persisted custom name and the bank's memory from
/// localsettings.
pub(super) async fn identity(conn: &Connection, cfg: &Config) -> Stored {
    let class = format!("{SETTINGS_GROUP}/ClassAndVrmInstance");
    // Coming from the original Python program: its device instance is the default of ours, so
    // VRM keeps showing the same device (unless DEVICE_INSTANCE asks for another one). It only
    // counts the first time: afterwards localsettings holds ours.
    let original = original_instance(conn).await.filter(|_| cfg.device_instance == Config::default().device_instance);
    let preferred = original.unwrap_or(cfg.device_instance);
    let wanted = [
        (class.as_str(), Value::from(format!("battery:{preferred}"))),
        (CUSTOM_NAME_SETTING, Value::from("")),
        (MEMBERS_SETTING, Value::from("")),
        (CHARGE_SETTING, Value::from("")),
        (GUI_SETTING, Value::from("")),
        (SYSTEM_SETTING, Value::from("")),
    ];
    match settings::add_settings(conn, &wanted, CALL_TIMEOUT).await {
        Ok(answers) => {
            let text = |i: usize| answers[i].as_ref().ok().and_then(|v| v.as_str()).map(str::to_owned);
            let instance = text(0).and_then(|s| s.strip_prefix("battery:").and_then(|n| n.parse().ok()));
            let custom_name = text(1).unwrap_or_default();
            let memory = text(2);
            if memory.is_none() {
                log::warn!(
                    "localsettings gave no usable {MEMBERS_SETTING} ({:?}): the bank's members will not be remembered across a restart",
                    answers[2]
                );
            }
            let instance = match instance {
                Some(i) => i,
                None => {
                    let i = free_instance(conn, cfg.device_instance).await;
                    log::warn!("localsettings gave no usable ClassAndVrmInstance ({:?}); using free instance {i}", answers[0]);
                    i
                }
            };
            if original.is_some_and(|o| o == instance && o != cfg.device_instance) {
                log::info!("device instance {instance}: the original Python program's (from {ORIGINAL_CLASS_SETTING}), so VRM keeps the same device");
            }
            Stored {
                instance,
                custom_name,
                settings_ok: true,
                memory,
                charge: text(3).unwrap_or_default(),
                gui: text(4).unwrap_or_default(),
                system: text(5).unwrap_or_default(),
            }
        }
        Err(e) => {
            let instance = free_instance(conn, cfg.device_instance).await;
            log::warn!(
                "localsettings {e}: using free device instance {instance}; the custom name will not be persisted and the bank's members will not be remembered across a restart"
            );
            Stored {
                instance,
                custom_name: String::new(),
                settings_ok: false,
                memory: None,
                charge: String::new(),
                gui: String::new(),
                system: String::new(),
            }
        }
    }
}

/// The device instance the original Python program registered, if localsettings has it.
async fn original_instance(conn: &Connection) -> Option<u32> {
    let v = call::get_value(conn, settings::SETTINGS_SERVICE, ORIGINAL_CLASS_SETTING, CALL_TIMEOUT).await.ok()?;
    v.as_str()?.strip_prefix("battery:")?.parse().ok()
}

/// The preferred instance, or the next one no battery service on the bus uses.
pub(super) async fn free_instance(conn: &Connection, preferred: u32) -> u32 {
    let mut used = Vec::new();
    if let Ok(dbus) = zbus::fdo::DBusProxy::new(conn).await {
        for name in dbus.list_names().await.unwrap_or_default() {
            if !name.starts_with("com.victronenergy.battery.") {
                continue;
            }
            if let Ok(v) = call::get_value(conn, &name, paths::DEVICE_INSTANCE, Duration::from_secs(2)).await {
                used.extend(v.as_u32());
            }
        }
    }
    (preferred..).find(|i| !used.contains(i)).unwrap_or(preferred)
}

pub(super) fn effective_name(cfg: &Config, custom: &str) -> String {
    if !custom.trim().is_empty() {
        return custom.to_owned();
    }
    cfg.device_name.clone().unwrap_or_else(|| cfg.default_name().to_owned())
}

pub(super) async fn build_service(
    conn: &Connection,
    cfg: &Config,
    instance: u32,
    name: &str,
    written: Sender<Written>,
    policy: Option<&Policy>,
) -> zbus::Result<Service> {
    let mut service = Service::new(conn, Some(written)).await?;
    for (spec, value) in publish::identity(cfg, instance, name) {
        service.add(spec, value).await?;
    }
    // A virtual BMS must show a valid CVL in the very first GetItems.
    let initial = policy.map(|p| frame::limits(&p.initial())).unwrap_or_default();
    for def in publish::computed(cfg.mode) {
        let value = initial.iter().find(|(p, _)| *p == def.path).map_or(Value::Invalid, |(_, v)| v.clone());
        service.add(publish::spec_of(def), value).await?;
    }
    for spec in publish::forget_specs() {
        service.add(spec, Value::from("")).await?;
    }
    Ok(service)
}

pub(super) fn spawn_inputs(conn: &Connection, cfg: &Config, tx: &Sender<Input>, written: Receiver<Written>) {
    let opts = monitor::Options {
        prefix: "com.victronenergy.battery.".into(),
        ignore: vec![SERVICE_NAME.into()],
        fallback_paths: Q::all()
            .map(|q| q.path().to_owned())
            .chain(
                [paths::DEVICE_INSTANCE, paths::PRODUCT_ID, paths::PRODUCT_NAME, paths::CUSTOM_NAME, paths::SERIAL, paths::FIRMWARE_VERSION]
                    .map(String::from),
            )
            .collect(),
        scan_timeout: SCAN_TIMEOUT,
        rescan_interval: cfg.rescan_interval,
    };
    if cfg.mode == DeviceMode::VirtualBms {
        // ESS feed-in decides how a charge stop reaches solar chargers: follow it at once.
        let (c, t) = (conn.clone(), tx.clone());
        crate::rt::spawn(async move {
            match settings::changes(&c, paths::OVERVOLTAGE_FEED_IN).await {
                Ok(mut changes) => {
                    while changes.next().await.is_some() {
                        if t.send(Input::FeedInChanged).await.is_err() {
                            break;
                        }
                    }
                }
                Err(e) => log::warn!("cannot follow {}: {e}; it is read once a minute", paths::OVERVOLTAGE_FEED_IN),
            }
        })
        .detach();
    }
    let (c, t) = (conn.clone(), tx.clone());
    crate::rt::spawn(async move {
        if let Err(e) = monitor::run(c, opts, t.clone()).await {
            let _ = t.send(Input::MonitorStopped(e)).await;
        }
    })
    .detach();
    let t = tx.clone();
    crate::rt::spawn(async move {
        while let Ok(w) = written.recv().await {
            if t.send(Input::Written(w)).await.is_err() {
                break;
            }
        }
    })
    .detach();
    let t = tx.clone();
    crate::rt::spawn(async move {
        let mut tick = smol::Timer::interval(Duration::from_secs(1));
        while tick.next().await.is_some() {
            if t.send(Input::Tick).await.is_err() {
                break;
            }
        }
    })
    .detach();
    let t = tx.clone();
    crate::rt::spawn(async move {
        match async_signal::Signals::new([async_signal::Signal::Term, async_signal::Signal::Int]) {
            Ok(mut signals) => {
                if signals.next().await.is_some() {
                    let _ = t.send(Input::Stop).await;
                }
            }
            Err(e) => log::warn!("cannot catch SIGTERM/SIGINT: {e}"),
        }
    })
    .detach();
}

impl Daemon {
    /// Before exiting: in virtual-BMS mode leave limits behind that are safe unsupervised.
    pub(super) async fn shutdown(&mut self, exit: &Exit) {
        if let Some(policy) = &self.policy {
            let safe = frame::shutdown_limits(policy.shutdown_voltage());
            if let Err(e) = self.service.update(safe.into_iter().map(|(p, v)| (p.to_owned(), v))).await {
                log::warn!("could not publish the shutdown limits: {e}");
            }
            // DVCC writes every 3 s and keeps a vanished BMS's last limits: stay until it has
            // passed CCL 0 on (measured: up to 2.7 s after our signal).
            if matches!(exit, Exit::Stopped) {
                log::info!("charging stopped for the shutdown; keeping the name {} s so DVCC passes it on", SHUTDOWN_HOLD.as_secs());
                smol::Timer::after(SHUTDOWN_HOLD).await;
            }
        }
        if self.once.first("shutdown") {
            log::info!("exiting: {exit}");
        }
    }
}
