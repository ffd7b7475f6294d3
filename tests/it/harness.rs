//! The integration test rig: a private dbus-daemon per test, the real daemon binary as a child
//! process, simulated SmartShunts in-process (and optionally a stand-in localsettings), and a
//! client connection to inspect the result; plus the small item helpers every module uses.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aggregate_shunts::publish::SERVICE_NAME;
use aggregate_shunts::status::{Items, get_items};
use aggregate_shunts::tools::child::Guard;
use aggregate_shunts::tools::privbus::PrivateBus;
use aggregate_shunts::tools::sim::{self, FakeSettings, SettingsMode, ShuntSpec};
use aggregate_shunts::value::Value;
use aggregate_shunts::venus::wire;
use smol::stream::StreamExt;
use zbus::zvariant::OwnedValue;
use zbus::{Connection, MatchRule, MessageStream, message::Type};

pub const BIN: &str = env!("CARGO_BIN_EXE_dbus-aggregate-smartshunts");

pub const SEC: Duration = Duration::from_secs(1);

/// The virtual-BMS settings [`Rig::bms_daemon`] starts with.
/// Most simulated shunts have no temperature sensor; the tests that are about sensors
/// (`bms::temperature_sensors_*`) set ACCEPT_NO_TEMPERATURE_SENSOR back to false.
const BMS: &str = "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 14.2\nMAX_CHARGE_CURRENT = 300\nMAX_DISCHARGE_CURRENT = 600\nACCEPT_NO_TEMPERATURE_SENSOR = true\n";

pub struct Daemon {
    child: Guard,
    pub log: PathBuf,
}

impl Daemon {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGTERM and returns its exit code. A virtual BMS keeps its name for a
    /// few seconds after CCL 0, so DVCC passes the stop on: this waits up to 15 s.
    pub async fn stop(&mut self) -> Option<i32> {
        assert!(self.child.signal("TERM"), "kill -TERM");
        self.wait(Duration::from_secs(15)).await
    }

    /// Sends it a signal (`TERM`, `STOP`, ...) without waiting.
    pub fn child_signal(&self, sig: &str) -> bool {
        self.child.signal(sig)
    }

    /// Waits for the process to exit; the simulated devices in this process keep being served.
    pub async fn wait(&mut self, limit: Duration) -> Option<i32> {
        self.child.wait(limit).await.and_then(|s| s.code())
    }
}

/// A simulator process (see [`Rig::shunt_processes`]); killed when dropped.
pub struct SimProcess {
    child: Guard,
}

impl SimProcess {
    pub fn signal(&self, sig: &str) {
        assert!(self.child.signal(sig), "kill -{sig}");
    }
}

/// One test's world. Fields drop in order: the stand-in localsettings, the client, the bus.
pub struct Rig {
    settings: Option<FakeSettings>,
    pub client: Connection,
    pub bus: PrivateBus,
    n: usize,
}

impl Rig {
    /// A private bus and a client on it; no localsettings (the daemon's fallbacks apply).
    pub async fn new(label: &str) -> Rig {
        let bus = PrivateBus::start(label).expect("dbus-daemon must be installed (Debian package 'dbus')");
        let client = sim::connect(&bus.address).await.expect("connect to the private bus");
        Rig { settings: None, client, bus, n: 0 }
    }

    /// [`Rig::new`] with a stand-in localsettings on the bus (see [`Rig::settings`]).
    pub async fn with_settings(label: &str) -> Rig {
        Rig::with_settings_mode(label, SettingsMode::Normal).await
    }

    /// [`Rig::with_settings`] with a localsettings that misbehaves as `mode` says.
    pub async fn with_settings_mode(label: &str, mode: SettingsMode) -> Rig {
        let mut rig = Rig::new(label).await;
        let settings = FakeSettings::start(&rig.bus.address, mode).await.expect("start the stand-in localsettings");
        rig.settings = Some(settings);
        rig
    }

    /// The stand-in localsettings of a rig made by [`Rig::with_settings`].
    pub fn settings(&self) -> &FakeSettings {
        self.settings.as_ref().expect("a rig made with Rig::with_settings")
    }

    /// Starts the daemon binary with `config` (the [DEFAULT] body).
    pub fn daemon(&mut self, config: &str) -> Daemon {
        self.n += 1;
        let cfg = self.bus.dir().join(format!("config{}.ini", self.n));
        std::fs::write(&cfg, format!("[DEFAULT]\nLOGGING = DEBUG\n{config}")).expect("write config");
        let log = self.bus.dir().join(format!("daemon{}.log", self.n));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(BIN)
            .args(["--config", &cfg.to_string_lossy()])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus.address)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start the daemon");
        Daemon { child: Guard::new(child), log }
    }

    /// Starts the daemon in virtual-BMS mode (CVL 14.2 V, CCL 300 A, DCL 600 A) plus `extra`.
    pub fn bms_daemon(&mut self, extra: &str) -> Daemon {
        self.daemon(&format!("{BMS}{extra}"))
    }

    pub async fn shunt(&self, port: &str, instance: u32, capacity: Option<u16>, battery: &sim::Battery) -> sim::SimShunt {
        sim::SimShunt::start(&self.bus.address, sim::ShuntSpec::new(port, instance, capacity), Some(battery)).await.expect("start a simulated shunt")
    }

    /// Simulated shunts (`port:instance:capacity:current`), each in a process of its own
    /// (`simulate`), so a test can freeze one with SIGSTOP as a hung driver would be. Each ticks
    /// its time-since-full-charge every second. Returns once each has taken its bus name.
    pub async fn shunt_processes<const N: usize>(&self, shunts: [&str; N]) -> [SimProcess; N] {
        let dbus = zbus::fdo::DBusProxy::new(&self.client).await.expect("bus proxy");
        let mut started = Vec::with_capacity(N);
        for s in shunts {
            let child = Command::new(BIN)
                .args(["simulate", "--shunt", s])
                .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus.address)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the simulator");
            started.push(SimProcess { child: Guard::new(child) });
            let name = format!("com.victronenergy.battery.{}", s.split(':').next().unwrap_or_default());
            let deadline = Instant::now() + Duration::from_secs(10);
            while !dbus.name_has_owner(name.as_str().try_into().expect("a bus name")).await.unwrap_or(false) {
                assert!(Instant::now() < deadline, "the simulator did not take {name}");
                smol::Timer::after(Duration::from_millis(20)).await;
            }
        }
        let Ok(started) = started.try_into() else { unreachable!("N simulators started") };
        started
    }

    pub async fn shunt_spec(&self, spec: sim::ShuntSpec, battery: &sim::Battery) -> sim::SimShunt {
        sim::SimShunt::start(&self.bus.address, spec, Some(battery)).await.expect("start a simulated shunt")
    }

    /// The opening of most tests: puts `members` on the bus (in order), starts the daemon with
    /// `config` and waits, 10 s at most, until the aggregate shows all of them online and their
    /// currents summed. Returns their shunts, the daemon and those items. Bind the daemon to a
    /// name (`_d`, never `_`): dropping it stops it.
    pub async fn bank<const N: usize>(&mut self, members: [Member; N], config: &str) -> ([sim::SimShunt; N], Daemon, Items) {
        self.start_bank(members, config.to_owned(), false).await
    }

    /// [`Rig::bank`] in virtual-BMS mode ([`Rig::bms_daemon`] with `extra`); it also waits for
    /// the full configured limits (CCL 300 A, DCL 600 A).
    pub async fn bms_bank<const N: usize>(&mut self, members: [Member; N], extra: &str) -> ([sim::SimShunt; N], Daemon, Items) {
        self.start_bank(members, format!("{BMS}{extra}"), true).await
    }

    async fn start_bank<const N: usize>(&mut self, members: [Member; N], config: String, bms: bool) -> ([sim::SimShunt; N], Daemon, Items) {
        let total: f64 = members.iter().map(|(_, b)| b.current).sum();
        let mut shunts = Vec::with_capacity(N);
        for (spec, battery) in members {
            shunts.push(self.shunt_spec(spec, &battery).await);
        }
        let daemon = self.daemon(&config);
        let online = Value::Uint(u32::try_from(N).expect("a small bank"));
        let what = format!("{N} member(s) online carrying {total} A{}", if bms { " and full limits" } else { "" });
        let items = self
            .until(10 * SEC, &what, |i| {
                val(i, "/System/NrOfModulesOnline") == online && close(num(i, "/Dc/0/Current"), total, 0.05) && (!bms || limits(300.0, 600.0)(i))
            })
            .await;
        let Ok(shunts) = shunts.try_into() else { unreachable!("N shunts started") };
        (shunts, daemon, items)
    }

    /// NameOwnerChanged for the aggregate's name: subscribe before starting the daemon, and
    /// the first message is the moment it takes its name.
    pub async fn owner_changes(&self) -> MessageStream {
        let rule = MatchRule::builder().msg_type(Type::Signal).member("NameOwnerChanged").unwrap().arg(0, SERVICE_NAME).unwrap().build();
        MessageStream::for_match_rule(rule, &self.client, None).await.unwrap()
    }

    /// The aggregate's unique name on the bus (to match the signals it sends).
    pub async fn owner(&self) -> zbus::names::OwnedUniqueName {
        zbus::fdo::DBusProxy::new(&self.client).await.unwrap().get_name_owner(SERVICE_NAME.try_into().unwrap()).await.unwrap()
    }

    /// The aggregate's `ItemsChanged` signals from now on (read them with [`received`]).
    pub async fn items_changed(&self) -> MessageStream {
        let owner = self.owner().await;
        let rule = MatchRule::builder().msg_type(Type::Signal).sender(owner.as_str()).unwrap().member("ItemsChanged").unwrap().build();
        MessageStream::for_match_rule(rule, &self.client, Some(4096)).await.unwrap()
    }

    pub async fn items(&self) -> Result<Items, String> {
        get_items(&self.client, SERVICE_NAME).await.map_err(|e| e.to_string())
    }

    /// Waits until `check` holds for the aggregate's items; panics with the last items after
    /// `limit`.
    pub async fn until(&self, limit: Duration, what: &str, check: impl Fn(&Items) -> bool) -> Items {
        let deadline = Instant::now() + limit;
        let mut last = Err(String::from("never read"));
        while Instant::now() < deadline {
            last = self.items().await;
            if let Ok(items) = &last {
                if check(items) {
                    return items.clone();
                }
            }
            smol::Timer::after(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {what}; last items: {:?}", last.map(|i| sorted(&i)));
    }

    /// Waits until `check` holds for the stand-in localsettings' value at `path`; panics with
    /// that value after `limit`.
    pub async fn until_setting(&self, limit: Duration, path: &str, what: &str, check: impl Fn(Option<&Value>) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.settings().value(path).await;
            if check(value.as_ref()) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; {path} = {value:?}");
            smol::Timer::after(SEC / 20).await;
        }
    }

    /// Calls a BusItem method on one of the aggregate's paths.
    pub async fn call<B>(&self, path: &str, method: &str, body: &B) -> zbus::Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.client.call_method(Some(SERVICE_NAME), path, Some("com.victronenergy.BusItem"), method, body).await
    }

    pub async fn set_value(&self, path: &str, value: Value) -> i32 {
        let reply = self.call(path, "SetValue", &(wire::to_variant(&value),)).await.expect("SetValue call");
        reply.body().deserialize::<i32>().expect("SetValue returns i")
    }
}

pub fn sorted(items: &Items) -> Vec<(String, Value)> {
    let mut v: Vec<_> = items.iter().map(|(p, (v, _))| (p.clone(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

pub fn num(items: &Items, path: &str) -> Option<f64> {
    items.get(path).and_then(|(v, _)| v.as_f64())
}

pub fn val(items: &Items, path: &str) -> Value {
    items.get(path).map(|(v, _)| v.clone()).unwrap_or(Value::Invalid)
}

/// A text item, or "" when absent or not a string.
pub fn text(i: &Items, p: &str) -> String {
    i.get(p).and_then(|(v, _)| v.as_str().map(str::to_owned)).unwrap_or_default()
}

pub fn close(a: Option<f64>, b: f64, tol: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() <= tol)
}

/// Runs an async test body on smol.
pub fn run<F: Future<Output = ()>>(f: F) {
    aggregate_shunts::rt::block_on(f)
}

/// Decodes a node's `a{sv}` reply body; panics if it is not one.
pub fn dict(msg: &zbus::Message) -> HashMap<String, OwnedValue> {
    HashMap::try_from(msg.body().deserialize::<OwnedValue>().unwrap()).unwrap()
}

/// The messages `stream` has already received, without waiting for more.
pub fn received(stream: &mut MessageStream) -> Vec<zbus::Message> {
    let mut got = Vec::new();
    while let Some(Some(Ok(m))) = smol::future::block_on(smol::future::poll_once(stream.next())) {
        got.push(m);
    }
    got
}

/// A connection of its own that is a bus monitor for the messages `rule` matches
/// (`org.freedesktop.DBus.Monitoring.BecomeMonitor`); read them with `MessageStream::from`.
pub async fn bus_monitor(address: &str, rule: &str) -> Connection {
    let conn = sim::connect(address).await.expect("monitor connection");
    conn.call_method(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        Some("org.freedesktop.DBus.Monitoring"),
        "BecomeMonitor",
        &(vec![rule], 0u32),
    )
    .await
    .expect("BecomeMonitor");
    conn
}

/// Items as they travel on the bus (a GetItems reply, an ItemsChanged body): path → {"Value", "Text"}.
pub type WireItems = HashMap<String, HashMap<String, OwnedValue>>;

/// A member for [`Rig::bank`]: the shunt and the battery it measures.
pub type Member = (ShuntSpec, sim::Battery);

/// The member most tests need: a SmartShunt on ttyS5 (instance 279) with a 100 Ah capacity
/// register, its battery half full and drawing 2 A.
pub fn plain() -> Member {
    (ShuntSpec::new("ttyS5", 279, Some(100)), battery(100.0, 50.0, -2.0))
}

pub fn battery(capacity: f64, soc: f64, current: f64) -> sim::Battery {
    let mut b = sim::Battery::new(capacity, soc);
    b.current = current;
    b
}

/// A shunt with a custom name and a 200 Ah capacity register.
pub fn spec(port: &str, instance: u32, name: &str) -> ShuntSpec {
    ShuntSpec { custom_name: name.into(), ..ShuntSpec::new(port, instance, Some(200)) }
}

/// Published CCL and DCL are `ccl` and `dcl` (±0.05 A).
pub fn limits(ccl: f64, dcl: f64) -> impl Fn(&Items) -> bool {
    move |i| close(num(i, "/Info/MaxChargeCurrent"), ccl, 0.05) && close(num(i, "/Info/MaxDischargeCurrent"), dcl, 0.05)
}

/// Every number the aggregate publishes is finite.
pub fn all_valid(items: &Items) {
    for (p, (v, _)) in items {
        if let Value::Double(x) = v {
            assert!(x.is_finite(), "{p} = {x}");
        }
    }
}
