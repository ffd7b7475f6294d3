//! The integration test rig: a private dbus-daemon per test, the real daemon binary as a child
//! process, simulated SmartShunts in-process, and a client connection to inspect the result.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aggregate_shunts::privbus::PrivateBus;
use aggregate_shunts::publish::SERVICE_NAME;
use aggregate_shunts::sim;
use aggregate_shunts::status::{Items, get_items};
use aggregate_shunts::venus::Value;
use zbus::Connection;
use zbus::zvariant::OwnedValue;

pub const BIN: &str = env!("CARGO_BIN_EXE_dbus-aggregate-smartshunts");

pub struct Daemon {
    child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGTERM and returns its exit code.
    pub async fn stop(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait(Duration::from_secs(5)).await
    }

    /// Waits for the process to exit; the simulated devices in this process keep being served.
    pub async fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            smol::Timer::after(Duration::from_millis(20)).await;
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A simulator process (see [`Rig::shunt_process`]).
pub struct SimProcess {
    child: Child,
}

impl SimProcess {
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig}");
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Rig {
    pub bus: PrivateBus,
    pub client: Connection,
    n: usize,
}

impl Rig {
    pub async fn new(label: &str) -> Rig {
        let bus = PrivateBus::start(label)
            .expect("dbus-daemon must be installed (Debian package 'dbus')");
        let client = sim::connect(&bus.address)
            .await
            .expect("connect to the private bus");
        Rig { bus, client, n: 0 }
    }

    /// Starts the daemon binary with `config` (the [DEFAULT] body).
    pub fn daemon(&mut self, config: &str) -> Daemon {
        self.n += 1;
        let cfg = self.bus.dir().join(format!("config{}.ini", self.n));
        std::fs::write(&cfg, format!("[DEFAULT]\nLOGGING = DEBUG\n{config}"))
            .expect("write config");
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
        Daemon { child, log }
    }

    pub async fn shunt(
        &self,
        port: &str,
        instance: u32,
        capacity: Option<u16>,
        battery: &sim::Battery,
    ) -> sim::SimShunt {
        sim::SimShunt::start(
            &self.bus.address,
            sim::ShuntSpec::new(port, instance, capacity),
            Some(battery),
        )
        .await
        .expect("start a simulated shunt")
    }

    /// Simulated shunts in a process of their own (`simulate`), so a test can freeze them with
    /// SIGSTOP as a hung driver would be. Each ticks its time-since-full-charge every second.
    pub async fn shunt_process(&self, shunts: &[&str]) -> SimProcess {
        let mut cmd = Command::new(BIN);
        cmd.arg("simulate");
        for s in shunts {
            cmd.args(["--shunt", s]);
        }
        let child = cmd
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus.address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the simulator");
        let names: Vec<String> = shunts
            .iter()
            .map(|s| {
                format!(
                    "com.victronenergy.battery.{}",
                    s.split(':').next().unwrap_or_default()
                )
            })
            .collect();
        let dbus = zbus::fdo::DBusProxy::new(&self.client)
            .await
            .expect("bus proxy");
        let deadline = Instant::now() + Duration::from_secs(10);
        for n in &names {
            while !dbus
                .name_has_owner(n.as_str().try_into().expect("a bus name"))
                .await
                .unwrap_or(false)
            {
                assert!(Instant::now() < deadline, "the simulator did not take {n}");
                smol::Timer::after(Duration::from_millis(20)).await;
            }
        }
        SimProcess { child }
    }

    pub async fn shunt_spec(&self, spec: sim::ShuntSpec, battery: &sim::Battery) -> sim::SimShunt {
        sim::SimShunt::start(&self.bus.address, spec, Some(battery))
            .await
            .expect("start a simulated shunt")
    }

    pub async fn items(&self) -> Result<Items, String> {
        get_items(&self.client, SERVICE_NAME).await
    }

    /// Waits until `check` holds for the aggregate's items; panics with the last items after
    /// `limit`.
    pub async fn until(
        &self,
        limit: Duration,
        what: &str,
        check: impl Fn(&Items) -> bool,
    ) -> Items {
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
        panic!(
            "timed out waiting for {what}; last items: {:?}",
            last.map(|i| sorted(&i))
        );
    }

    /// Calls a BusItem method on one of the aggregate's paths.
    pub async fn call<B>(&self, path: &str, method: &str, body: &B) -> zbus::Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.client
            .call_method(
                Some(SERVICE_NAME),
                path,
                Some("com.victronenergy.BusItem"),
                method,
                body,
            )
            .await
    }

    pub async fn set_value(&self, path: &str, value: Value) -> i32 {
        let reply = self
            .call(path, "SetValue", &(value.to_variant(),))
            .await
            .expect("SetValue call");
        reply
            .body()
            .deserialize::<i32>()
            .expect("SetValue returns i")
    }
}

pub fn sorted(items: &Items) -> Vec<(String, Value)> {
    let mut v: Vec<_> = items
        .iter()
        .map(|(p, (v, _))| (p.clone(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

pub fn num(items: &Items, path: &str) -> Option<f64> {
    items.get(path).and_then(|(v, _)| v.as_f64())
}

pub fn val(items: &Items, path: &str) -> Value {
    items
        .get(path)
        .map(|(v, _)| v.clone())
        .unwrap_or(Value::Invalid)
}

pub fn close(a: Option<f64>, b: f64, tol: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() <= tol)
}

/// Runs an async test body on smol.
pub fn run<F: Future<Output = ()>>(f: F) {
    aggregate_shunts::rt::block_on(f)
}

/// Decodes an `a{sv}`/`a{sa{sv}}` reply body helper.
pub fn dict(msg: &zbus::Message) -> HashMap<String, OwnedValue> {
    msg.body()
        .deserialize::<OwnedValue>()
        .ok()
        .and_then(|v| HashMap::<String, OwnedValue>::try_from(v).ok())
        .unwrap_or_default()
}

pub fn battery(capacity: f64, soc: f64, current: f64) -> sim::Battery {
    let mut b = sim::Battery::new(capacity, soc);
    b.current = current;
    b
}
