//! The I/O shell: one smol event loop that owns all state, fed by the service monitor, the
//! capacity reads, `SetValue` writes, a 1 s housekeeping tick and Unix signals.
//!
//! Every input is applied to the [`Bank`], then inputs that arrived together are coalesced
//! into one aggregation pass, which publishes one `ItemsChanged` holding only what changed.
//! Start-up order: device instance, custom name and the remembered members from
//! localsettings, every object exported, then the bus name requested once the members' data is
//! in: every remembered member, or at least one member after START_TIMEOUT (invalid values if
//! none). Quiet members are probed (`GetValue` on `/Connected`) in tasks of their own, never in
//! the loop; the bank's memory is written back whenever its membership changes.

mod gui;
mod members;
mod start;
pub mod system;

use std::time::{Duration, Instant};

use smol::channel::{Receiver, Sender, unbounded};
use zbus::Connection;

use crate::config::gui::Overrides;
use crate::config::{Config, DeviceMode, Loaded};
use crate::domain::aggregate::{self, Settings};
use crate::domain::bank::{Bank, Options, ProbeResult};
use crate::domain::bms::{self, Policy};
use crate::domain::controls::Control;
use crate::domain::frame::{self, Pass};
use crate::domain::paths;
use crate::publish::{self, CHARGE_SETTING, CUSTOM_NAME_SETTING, SERVICE_NAME};
use crate::value::{LogOnce, Value};
use crate::venus::monitor::{self, BusLost};
use crate::venus::service::{NameError, Service, Written};
use start::{Stored, build_service, effective_name, identity, spawn_inputs};

/// How long a stopping virtual BMS keeps its name after publishing CCL 0: two DVCC periods
/// (3 s each) and a second.
const SHUTDOWN_HOLD: Duration = Duration::from_secs(7);
/// The feed-in setting is read at the first tick and then every this many 1 s ticks, besides
/// whenever localsettings signals a change (the safety net if a signal was missed).
const FEED_IN_PERIOD: u64 = 60;

/// How long one call to localsettings or a VregLink may take before we go on without it.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a member may take to answer `GetItems` before the scan is retried later.
const SCAN_TIMEOUT: Duration = Duration::from_secs(25);

#[derive(Debug)]
pub enum Exit {
    /// Another process owns the service name.
    NameTaken,
    BusLost(String),
    /// SIGTERM or SIGINT: a clean stop.
    Stopped,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::NameTaken => write!(f, "{SERVICE_NAME} is already owned by another process (is a second copy running?)"),
            Exit::BusLost(e) => write!(f, "{e}"),
            Exit::Stopped => f.write_str("stopped by a signal"),
        }
    }
}

enum Input {
    Monitor(monitor::Event),
    MonitorStopped(BusLost),
    Capacity {
        service: String,
        instance: u32,
        capacity: Option<f64>,
    },
    Probe {
        service: String,
        result: ProbeResult,
    },
    Written(Written),
    /// A `system::sync` finished: what is changed now.
    System(system::Changes),
    /// ESS feed-in of DC-coupled PV, as localsettings says (`None`: not known).
    FeedIn(Option<bool>),
    /// localsettings signalled a change of the feed-in setting.
    FeedInChanged,
    Tick,
    Stop,
}

impl From<monitor::Event> for Input {
    fn from(e: monitor::Event) -> Self {
        Input::Monitor(e)
    }
}

struct Daemon {
    /// The configuration files' settings, and where each came from.
    files: Loaded,
    /// The effective settings: the files' with the GUI's values on top.
    cfg: Config,
    /// What the GUI changed (persisted in localsettings).
    gui: Overrides,
    /// The published `/SwitchableOutput` controls.
    controls: Vec<Control>,
    controls_dirty: bool,
    /// Answers to writes, sent once the pass that publishes their outcome is out.
    verdicts: Vec<(Sender<i32>, i32)>,
    /// The GUI's values as last written to localsettings.
    gui_saved: String,
    /// The bank's temperature as the setpoints show it.
    measured: Option<f64>,
    /// The paths of each published `/Battery/<n>` entry, the one the GUI asked for, and
    /// whether every entry is to be published in the next pass.
    battery_paths: Vec<Vec<String>>,
    battery_request: u32,
    batteries_due: bool,
    /// The members whose readings changed in this batch (their `/Battery/<n>` is published).
    touched: Vec<String>,
    /// Our device instance.
    instance: u32,
    /// The system settings changed (`None` while a `system::sync` runs), and what the last
    /// sync was asked for.
    system: Option<system::Changes>,
    system_asked: Option<system::Wanted>,
    system_saved: String,
    conn: Connection,
    service: Service,
    bank: Bank,
    policy: Option<Policy>,
    tx: Sender<Input>,
    /// The name set from the GUI (persisted in localsettings); empty = DEVICE_NAME or default.
    custom_name: String,
    settings_ok: bool,
    /// The bank's memory as last written to localsettings (None: cannot be written).
    saved_memory: Option<String>,
    slots: Vec<usize>,
    /// The `/Members/*` values need publishing again (membership, presence, capacity or name).
    members_dirty: bool,
    registered: bool,
    started: Instant,
    next_status: Option<Instant>,
    once: LogOnce,
    /// Housekeeping ticks so far (the feed-in setting is read every FEED_IN_PERIOD).
    ticks: u64,
    /// The feed-in setting as last read.
    feed_in: Option<Option<bool>>,
    pass_due: bool, // some input of this batch may change what a pass publishes
}

/// Runs the daemon until the bus goes away or a signal stops it.
pub async fn run(files: Loaded, conn: Connection) -> Exit {
    let (tx, rx) = unbounded();
    let (written_tx, written_rx) = unbounded();
    let cfg = files.config.clone();
    let Stored { instance, custom_name, settings_ok, memory, charge, gui, system } = identity(&conn, &cfg).await;
    let name = effective_name(&cfg, &custom_name);
    let mut policy = (cfg.mode == DeviceMode::VirtualBms).then(|| Policy::new(bms::Limits::from_config(&cfg)));
    if let Some(p) = policy.as_mut() {
        p.restore_charge(&charge);
    }
    if let (Some(p), None) = (policy.as_mut(), &memory) {
        p.set_note(Some("bank members not remembered (localsettings unavailable)".into()));
    }
    let service = match build_service(&conn, &cfg, instance, &name, written_tx, policy.as_ref()).await {
        Ok(s) => s,
        Err(e) => return Exit::BusLost(format!("could not export the D-Bus objects: {e}")),
    };
    log::info!("{} {} starting in {:?} mode as device instance {instance}", publish::PROCESS_NAME, env!("CARGO_PKG_VERSION"), cfg.mode);
    if cfg.mode == DeviceMode::VirtualBms && cfg.accept_no_temperature_sensor {
        log::warn!(
            "risk accepted: ACCEPT_NO_TEMPERATURE_SENSOR = true: this virtual BMS charges a bank without a temperature sensor, and nothing then stops charging below 0 °C"
        );
    }

    spawn_inputs(&conn, &cfg, &tx, written_rx);
    let now = Instant::now();
    let mut d = Daemon {
        bank: Bank::new(Options {
            stale_timeout: cfg.stale_timeout,
            offline_grace: cfg.offline_grace,
            circuit_time: cfg.out_of_circuit_time,
            exclude: cfg.exclude.clone(),
            switched_off: Default::default(),
            own_name: SERVICE_NAME.into(),
        }),
        next_status: cfg.log_period.map(|p| now + p),
        files,
        cfg,
        gui: Overrides::default(),
        controls: Vec::new(),
        controls_dirty: true,
        verdicts: Vec::new(),
        gui_saved: gui.clone(),
        measured: None,
        battery_paths: Vec::new(),
        battery_request: 1,
        batteries_due: true,
        touched: Vec::new(),
        instance,
        system: Some(system::Changes::decode(&system)),
        system_asked: None,
        system_saved: system,
        conn,
        service,
        policy,
        tx,
        custom_name,
        settings_ok,
        saved_memory: memory.clone(),
        slots: Vec::new(),
        members_dirty: true,
        registered: false,
        started: now,
        once: LogOnce::default(),
        ticks: 0,
        feed_in: None,
        pass_due: true,
    };
    d.load_gui(&gui);
    d.load_memory(memory.as_deref().unwrap_or_default(), now);
    d.run(rx).await
}

impl Daemon {
    async fn run(&mut self, rx: Receiver<Input>) -> Exit {
        loop {
            let Ok(first) = rx.recv().await else {
                return Exit::Stopped;
            };
            // Coalesce everything that is already waiting into one pass.
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            self.pass_due = false;
            for input in batch {
                if let Some(exit) = self.apply(input).await {
                    self.shutdown(&exit).await;
                    return exit;
                }
            }
            if self.pass_due {
                if let Err(e) = self.pass().await {
                    return Exit::BusLost(format!("publishing failed: {e}"));
                }
            }
            for (tx, code) in self.verdicts.drain(..) {
                let _ = tx.try_send(code);
            }
            // Register once the members' data (and their capacity, which weighs the SoC) is in:
            // every remembered member, or whoever is there after START_TIMEOUT.
            let ready = self.bank.online_count() > 0 && !self.bank.capacity_pending();
            let timed_out = self.started.elapsed() >= self.cfg.start_timeout;
            if !self.registered && ((ready && self.bank.missing().next().is_none()) || timed_out) {
                if self.bank.online_count() == 0 {
                    log::warn!("no SmartShunt found within {} s; registering with invalid values", self.cfg.start_timeout.as_secs());
                }
                for m in self.bank.missing() {
                    log::warn!(
                        "{} (serial '{}', last seen as {}) belongs to the bank but is not on the bus: counted offline, its share is missing from the limits; if it was removed for good, forget it (dbus-aggregate-smartshunts forget '{}')",
                        m.name(),
                        m.serial,
                        m.service,
                        if m.serial.is_empty() { m.instance.to_string() } else { m.serial.clone() }
                    );
                }
                match self.service.request_name(SERVICE_NAME).await {
                    Ok(()) => log::info!("registered {SERVICE_NAME} with {} member(s) online", self.bank.online_count()),
                    Err(NameError::Taken) => return Exit::NameTaken,
                    Err(NameError::Bus(e)) => {
                        return Exit::BusLost(format!("requesting the bus name failed: {e}"));
                    }
                }
                self.registered = true;
                if let Some(p) = &mut self.policy {
                    p.settle();
                }
                self.sync_system(false);
            }
        }
    }

    /// Applies one input to the state; `Some` ends the loop.
    async fn apply(&mut self, input: Input) -> Option<Exit> {
        let now = Instant::now();
        self.pass_due |= !matches!(input, Input::Monitor(monitor::Event::Changed { .. }));
        match input {
            Input::Monitor(monitor::Event::Appeared { service, items, ticket }) => {
                let fx = self.bank.on_appeared(&service, &items, now);
                // Not a member (not a SmartShunt, excluded, ...): its signals no longer reach us.
                if !self.bank.is_member(&service) {
                    ticket.ignore();
                }
                self.members_dirty |= fx.members_changed;
                self.effects(fx);
            }
            Input::Monitor(monitor::Event::Changed { service, items }) => {
                let before = self.bank.reading_of(&service);
                let renamed = self.bank.on_changed(&service, &items, now);
                self.members_dirty |= renamed;
                // Nothing the bank aggregates changed (e.g. /Relay/0/State): no pass, no diff.
                if renamed || self.bank.reading_of(&service) != before {
                    self.pass_due = true;
                    self.touched.push(service);
                }
            }
            Input::Monitor(monitor::Event::Vanished { service }) => {
                self.bank.on_vanished(&service);
                self.members_dirty = true;
            }
            Input::MonitorStopped(e) => return Some(Exit::BusLost(e.to_string())),
            Input::Capacity { service, instance, capacity } => {
                self.bank.set_capacity(&service, instance, capacity);
                self.members_dirty = true;
            }
            Input::Probe { service, result } => {
                if result == ProbeResult::NoAnswer {
                    log::debug!("{service} did not answer its liveness probe");
                }
                self.bank.on_probe(&service, result, now);
            }
            Input::Written(w) if w.path == paths::CUSTOM_NAME => self.rename(w.value),
            Input::Written(w) if w.path == paths::FORGET => {
                let (code, outcome) = self.forget(&w.value);
                self.publish_forget_result(outcome).await;
                if let Some(tx) = w.verdict {
                    let _ = tx.try_send(code);
                }
            }
            Input::Written(w) if paths::output_of(&w.path).is_some() => self.on_control(w).await,
            Input::Written(w) if w.path == paths::BATTERY_REQUEST_ID => self.on_battery_request(w),
            // Probes are due by time only: looked for once a second, not on every signal.
            Input::Tick => {
                self.probe(now);
                self.ticks += 1;
                if self.policy.is_some() && self.ticks % FEED_IN_PERIOD == 1 {
                    self.read_feed_in();
                }
                if self.registered && self.ticks.is_multiple_of(FEED_IN_PERIOD) {
                    self.sync_system(true);
                }
            }
            Input::System(changes) => self.on_system(changes),
            Input::FeedIn(on) => self.on_feed_in(on),
            Input::FeedInChanged => self.read_feed_in(),
            Input::Written(_) => {}
            Input::Stop => return Some(Exit::Stopped),
        }
        None
    }

    fn rename(&mut self, value: Value) {
        let name = value.as_str().unwrap_or_default().to_owned();
        log::info!("custom name set to '{name}' from the bus");
        self.custom_name = name.clone();
        self.save_setting(CUSTOM_NAME_SETTING, name);
    }

    /// One aggregation pass: presence, values, limits, member list; one `ItemsChanged`.
    async fn pass(&mut self) -> zbus::Result<()> {
        let now = Instant::now();
        // Estimates and presence can change the member list's values too.
        self.members_dirty |= self.bank.refresh(now);
        self.sync_member_slots().await?;
        let settings = Settings {
            total_capacity: self.cfg.total_capacity,
            temp_cold_danger: self.cfg.temp_cold_danger,
            temp_hot_danger: self.cfg.temp_hot_danger,
        };
        let view = self.bank.view();
        let outputs = aggregate::compute(&view, &settings);
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let decision = self.policy.as_mut().map(|p| p.decide_at(&view, now, wall));
        if let Some(state) = self.policy.as_mut().and_then(Policy::charge_state) {
            self.save_setting(CHARGE_SETTING, state);
        }
        let members_changed = std::mem::take(&mut self.members_dirty);
        if members_changed {
            self.save_memory();
            self.controls_dirty = true;
        }
        if self.registered && members_changed {
            self.sync_system(false);
        }
        let name = effective_name(&self.cfg, &self.custom_name);
        let mut values = frame::build(&Pass {
            outputs: &outputs,
            decision: decision.as_ref(),
            name: &name,
            members: members_changed.then(|| self.bank.members()),
        });
        let temperature = outputs.iter().find(|(p, _)| *p == paths::DC_TEMPERATURE).and_then(|(_, v)| *v);
        values.extend(self.sync_controls(temperature).await?.into_iter().map(|(p, v)| (p.into(), v)));
        let full = std::mem::take(&mut self.batteries_due) || members_changed;
        values.extend(self.sync_batteries(full).await?.into_iter().map(|(p, v)| (p.into(), v)));
        self.service.update(values).await?;
        self.status(now, &outputs);
        Ok(())
    }
}
