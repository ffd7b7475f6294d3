//! Simulated Venus devices for the demo, the tests and the benchmarks: SmartShunts that
//! publish the same paths and types as Victron's `vedirect-dbus` driver (shared/recordings),
//! a replayer for those recordings, and a stand-in for localsettings.
//!
//! They are served by the very same [`Service`] as the daemon, so the simulator and the product
//! speak exactly the same protocol. Every simulated path is writable (like velib's dummy
//! services), so an out-of-process test can drive a shunt with `SetValue`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use smol::lock::Mutex;
use zbus::zvariant::{OwnedValue, Value as Z};
use zbus::{Connection, interface};

use crate::venus::service::{Access, ItemSpec, Service};
use crate::venus::value::{Format, Value};
use crate::venus::vreg::{REG_BATTERY_CAPACITY, VREGLINK_PATH};

/// Opens a private connection to the bus at `address` (each simulated device has its own, as a
/// real driver has).
pub async fn connect(address: &str) -> zbus::Result<Connection> {
    crate::rt::address(address).await
}

/// What a simulated SmartShunt is.
#[derive(Debug, Clone)]
pub struct ShuntSpec {
    /// Service name tail, e.g. `ttyS5` → `com.victronenergy.battery.ttyS5`.
    pub port: String,
    pub instance: u32,
    pub custom_name: String,
    pub product_id: u32,
    /// Answered through VregLink register 0x1000; `None`: no VregLink object at all.
    pub capacity_ah: Option<u16>,
    pub has_temperature: bool,
    /// `/Serial`: the battery's identity (the same shunt on another port keeps it).
    pub serial: String,
}

impl ShuntSpec {
    pub fn new(port: &str, instance: u32, capacity_ah: Option<u16>) -> Self {
        ShuntSpec {
            port: port.into(),
            instance,
            custom_name: String::new(),
            product_id: 0xA389,
            capacity_ah,
            has_temperature: false,
            serial: format!("HQSIM{instance:05}"),
        }
    }
    pub fn service(&self) -> String {
        format!("com.victronenergy.battery.{}", self.port)
    }
}

/// The physical state the simulator integrates.
#[derive(Debug, Clone, PartialEq)]
pub struct Battery {
    pub capacity_ah: f64,
    pub soc: f64,
    pub current: f64,
    pub temperature: Option<f64>,
    /// Open-circuit voltage at 0 % and 100 % (a 12 V LiFePO4 bank by default).
    pub v_empty: f64,
    pub v_full: f64,
    /// Ohms.
    pub resistance: f64,
    pub since_full: f64,
}

impl Battery {
    pub fn new(capacity_ah: f64, soc: f64) -> Self {
        Battery { capacity_ah, soc, current: 0.0, temperature: None, v_empty: 12.8, v_full: 13.4, resistance: 0.002, since_full: 3600.0 }
    }

    pub fn voltage(&self) -> f64 {
        self.v_empty + (self.v_full - self.v_empty) * self.soc / 100.0 + self.current * self.resistance
    }

    /// Integrates `dt` seconds at the present current.
    pub fn advance(&mut self, dt: f64) {
        self.soc = (self.soc + self.current * dt / 3600.0 / self.capacity_ah * 100.0).clamp(0.0, 100.0);
        self.since_full += dt;
        if self.soc >= 99.9 {
            self.since_full = 0.0;
        }
    }

    /// The measurement paths as a SmartShunt publishes them.
    pub fn readings(&self) -> Vec<(&'static str, Value)> {
        let v = self.voltage();
        let ttg = (self.current < -0.05).then(|| (self.soc / 100.0 * self.capacity_ah / -self.current * 3600.0).min(864_000.0));
        vec![
            ("/Dc/0/Voltage", Value::Double(round(v, 100.0))),
            ("/Dc/0/Current", Value::Double(round(self.current, 1000.0))),
            ("/Dc/0/Power", Value::Double(round(v * self.current, 1.0))),
            ("/Soc", Value::Double(round(self.soc, 10.0))),
            ("/ConsumedAmphours", Value::Double(round(-(100.0 - self.soc) / 100.0 * self.capacity_ah, 10.0))),
            ("/TimeToGo", Value::from(ttg.map(|t| round(t / 60.0, 1.0) * 60.0))),
            ("/Dc/0/Temperature", Value::from(self.temperature.map(|t| round(t, 100.0)))),
            ("/History/TimeSinceLastFullCharge", Value::Uint(self.since_full as u32)),
        ]
    }
}

fn round(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

/// Every path of a SmartShunt with its text format and initial value (vedirect-dbus 3.6x).
fn shunt_paths(spec: &ShuntSpec) -> Vec<(&'static str, Format, Value)> {
    let service = spec.service();
    let name = match spec.product_id {
        0xC030 => "SmartShunt IP65 500A/50mV",
        0xA38A => "SmartShunt 1000A/50mV",
        0x0203..=0x0205 => "BMV-702",
        _ => "SmartShunt 500A/50mV",
    };
    let zero = || Value::Uint(0);
    let mut p = vec![
        ("/Mgmt/ProcessName", Format::Plain, Value::from("vedirect-dbus")),
        ("/Mgmt/ProcessVersion", Format::Plain, Value::from("3.62")),
        ("/Mgmt/Connection", Format::Plain, Value::from("VE.Direct (simulated)")),
        ("/DeviceInstance", Format::Plain, Value::Uint(spec.instance)),
        ("/ProductId", Format::Hex, Value::Uint(spec.product_id)),
        ("/ProductName", Format::Plain, Value::from(name)),
        ("/FirmwareVersion", Format::Firmware, Value::Uint(0x0417)),
        ("/HardwareVersion", Format::Plain, Value::Invalid),
        ("/Serial", Format::Plain, Value::from(spec.serial.as_str())),
        ("/CustomName", Format::Plain, Value::from(spec.custom_name.as_str())),
        ("/Connected", Format::Plain, Value::Uint(1)),
        ("/GroupId", Format::Plain, Value::Invalid),
        ("/Dc/0/Voltage", Format::VOLT, Value::Invalid),
        ("/Dc/0/Current", Format::AMP, Value::Invalid),
        ("/Dc/0/Power", Format::WATT, Value::Invalid),
        ("/Dc/0/Temperature", Format::CELSIUS, Value::Invalid),
        ("/Dc/0/MidVoltage", Format::VOLT, Value::Invalid),
        ("/Dc/0/MidVoltageDeviation", Format::PERCENT, Value::Invalid),
        ("/Dc/1/Voltage", Format::VOLT, Value::Invalid),
        ("/Soc", Format::PERCENT, Value::Invalid),
        ("/ConsumedAmphours", Format::AMP_HOUR, Value::Invalid),
        ("/TimeToGo", Format::SECONDS, Value::Invalid),
        ("/Relay/0/State", Format::Plain, Value::Invalid),
        ("/Settings/HasTemperature", Format::Plain, Value::Uint(u32::from(spec.has_temperature))),
        ("/Settings/HasStarterVoltage", Format::Plain, zero()),
        ("/Settings/HasMidVoltage", Format::Plain, zero()),
        ("/Settings/RelayMode", Format::Plain, Value::Invalid),
        ("/Devices/0/CustomName", Format::Plain, Value::from(spec.custom_name.as_str())),
        ("/Devices/0/DeviceInstance", Format::Plain, Value::Uint(spec.instance)),
        ("/Devices/0/FirmwareVersion", Format::Firmware, Value::Uint(0x0417)),
        ("/Devices/0/ProductId", Format::Hex, Value::Uint(spec.product_id)),
        ("/Devices/0/ProductName", Format::Plain, Value::from(name)),
        ("/Devices/0/ServiceName", Format::Plain, Value::from(service)),
        (VREGLINK_PATH, Format::Plain, Value::Invalid),
        ("/Alarms/Alarm", Format::Plain, Value::Invalid),
    ];
    for a in [
        "/Alarms/LowVoltage",
        "/Alarms/HighVoltage",
        "/Alarms/LowStarterVoltage",
        "/Alarms/HighStarterVoltage",
        "/Alarms/LowSoc",
        "/Alarms/LowTemperature",
        "/Alarms/HighTemperature",
        "/Alarms/MidVoltage",
    ] {
        p.push((a, Format::Plain, zero()));
    }
    p.extend([
        ("/History/ChargeCycles", Format::Plain, Value::Uint(4)),
        ("/History/FullDischarges", Format::Plain, zero()),
        ("/History/AutomaticSyncs", Format::Plain, Value::Uint(11)),
        ("/History/LowVoltageAlarms", Format::Plain, zero()),
        ("/History/HighVoltageAlarms", Format::Plain, zero()),
        ("/History/LowStarterVoltageAlarms", Format::Plain, Value::Invalid),
        ("/History/HighStarterVoltageAlarms", Format::Plain, Value::Invalid),
        ("/History/TimeSinceLastFullCharge", Format::SECONDS, Value::Uint(3600)),
        ("/History/DeepestDischarge", Format::AMP_HOUR, Value::Double(-123.8)),
        ("/History/LastDischarge", Format::AMP_HOUR, Value::Double(-32.1)),
        ("/History/AverageDischarge", Format::AMP_HOUR, Value::Double(-104.2)),
        ("/History/TotalAhDrawn", Format::AMP_HOUR, Value::Double(-1530.8)),
        ("/History/MinimumVoltage", Format::VOLT, Value::Double(12.06)),
        ("/History/MaximumVoltage", Format::VOLT, Value::Double(14.15)),
        ("/History/MinimumStarterVoltage", Format::VOLT, Value::Double(0.0)),
        ("/History/MaximumStarterVoltage", Format::VOLT, Value::Double(0.0)),
        ("/History/ChargedEnergy", Format::KWH, Value::Double(19.61)),
        ("/History/DischargedEnergy", Format::KWH, Value::Double(20.3)),
    ]);
    p
}

/// `com.victronenergy.VregLink` on `/Devices/0/VregLink`.
struct VregLink {
    capacity: u16,
}

#[interface(name = "com.victronenergy.VregLink")]
impl VregLink {
    async fn get_vreg(&self, register: u16) -> (u16, Vec<u8>) {
        if register == REG_BATTERY_CAPACITY {
            (0, self.capacity.to_le_bytes().to_vec())
        } else {
            (0x8100, Vec::new()) // "unknown register", as a device answers
        }
    }
}

/// A simulated SmartShunt on its own connection.
pub struct SimShunt {
    pub spec: ShuntSpec,
    service: Service,
}

impl SimShunt {
    /// Exports every path, then takes the name (as a real driver does).
    pub async fn start(address: &str, spec: ShuntSpec, battery: Option<&Battery>) -> zbus::Result<SimShunt> {
        let conn = connect(address).await?;
        Self::start_on(&conn, spec, battery).await
    }

    pub async fn start_on(conn: &Connection, spec: ShuntSpec, battery: Option<&Battery>) -> zbus::Result<SimShunt> {
        let mut service = Service::new(conn, None).await?;
        let initial: HashMap<&str, Value> = battery.map(|b| b.readings().into_iter().collect()).unwrap_or_default();
        for (path, format, value) in shunt_paths(&spec) {
            let value = initial.get(path).cloned().unwrap_or(value);
            service.add(ItemSpec::new(path, format, Access::Any), value).await?;
        }
        if let Some(capacity) = spec.capacity_ah {
            conn.object_server().at(VREGLINK_PATH, VregLink { capacity }).await?;
        }
        service.request_name(&spec.service()).await.map_err(|e| zbus::Error::Failure(e.to_string()))?;
        Ok(SimShunt { spec, service })
    }

    /// Publishes values in one `ItemsChanged` (only those that changed).
    pub async fn set<P: AsRef<str>>(&self, values: impl IntoIterator<Item = (P, Value)>) -> zbus::Result<usize> {
        self.service.update(values).await
    }

    pub fn value(&self, path: &str) -> Option<Value> {
        self.service.value(path)
    }

    /// Adds a path a SmartShunt does not have (benchmarks carry a send timestamp this way).
    pub async fn add(&mut self, path: &str, value: Value) -> zbus::Result<()> {
        self.service.add(ItemSpec::new(path, Format::Plain, Access::Any), value).await
    }

    pub fn connection(&self) -> &Connection {
        self.service.connection()
    }

    /// Leaves the bus (drops the name, as a stopped driver does).
    pub async fn stop(self) -> zbus::Result<()> {
        self.service.connection().release_name(self.spec.service().as_str()).await.map(|_| ())
    }
}

/// One recorded SmartShunt: its initial items and timed changes (shared/recordings format).
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub service: String,
    pub initial: Vec<(String, Value, String)>,
    pub events: Vec<(f64, String, Value)>,
}

fn parse_value(ty: &str, raw: &str) -> Result<Value, String> {
    let bad = |e: &dyn std::fmt::Display| format!("bad {ty} value '{raw}': {e}");
    Ok(match ty {
        "ARRAY" => Value::Invalid,
        "DOUBLE" => Value::Double(raw.parse::<f64>().map_err(|e| bad(&e))?),
        "UINT32" | "UINT16" | "BYTE" => Value::Uint(raw.parse::<u32>().map_err(|e| bad(&e))?),
        "INT32" | "INT64" => Value::Int(raw.parse::<i64>().map_err(|e| bad(&e))?),
        "STRING" => Value::Text(raw.to_owned()),
        other => return Err(format!("unknown type {other}")),
    })
}

impl Recording {
    pub fn parse(text: &str) -> Result<Recording, String> {
        let mut lines = text.lines().enumerate();
        let service = lines.next().map(|(_, l)| l.trim().to_owned()).filter(|l| !l.is_empty()).ok_or("empty recording")?;
        let mut rec = Recording { service, initial: Vec::new(), events: Vec::new() };
        let mut in_events = false;
        for (n, line) in lines {
            if line.trim().is_empty() {
                in_events = true;
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let at = |e: String| format!("line {}: {e}", n + 1);
            if in_events {
                let [t, path, ty, raw, ..] = f[..] else {
                    return Err(at("expected SECONDS PATH TYPE VALUE".into()));
                };
                let t = t.parse::<f64>().map_err(|e| at(e.to_string()))?;
                rec.events.push((t, path.to_owned(), parse_value(ty, raw).map_err(at)?));
            } else {
                let [path, ty, raw, ..] = f[..] else {
                    return Err(at("expected PATH TYPE VALUE TEXT".into()));
                };
                let text = f.get(3).copied().unwrap_or_default().to_owned();
                rec.initial.push((path.to_owned(), parse_value(ty, raw).map_err(at)?, text));
            }
        }
        Ok(rec)
    }

    /// The initial values with `changes` applied up to and including `t` seconds.
    pub fn state_at(&self, t: f64) -> HashMap<String, Value> {
        let mut s: HashMap<String, Value> = self.initial.iter().map(|(p, v, _)| (p.clone(), v.clone())).collect();
        for (_, p, v) in self.events.iter().filter(|(at, _, _)| *at <= t) {
            s.insert(p.clone(), v.clone());
        }
        s
    }

    /// Serves the recording's initial state as service `name`, with `/DeviceInstance` replaced
    /// by `instance` and the instance appended to `/Serial`, so several copies (two of the
    /// recordings come from the same shunt) form a bank of distinct batteries.
    pub async fn serve(&self, address: &str, name: &str, instance: u32, capacity: Option<u16>) -> zbus::Result<Service> {
        let conn = connect(address).await?;
        let mut service = Service::new(&conn, None).await?;
        for (path, value, _) in &self.initial {
            let value = match (path.as_str(), value) {
                ("/DeviceInstance", _) => Value::Uint(instance),
                ("/Serial", Value::Text(serial)) => Value::Text(format!("{serial}-{instance}")),
                (_, v) => v.clone(),
            };
            service.add(ItemSpec::new(path.as_str(), format_of(path), Access::Any), value).await?;
        }
        if let Some(capacity) = capacity {
            conn.object_server().at(VREGLINK_PATH, VregLink { capacity }).await?;
        }
        service.request_name(name).await.map_err(|e| zbus::Error::Failure(e.to_string()))?;
        Ok(service)
    }
}

/// The text format a SmartShunt uses for a path.
pub fn format_of(path: &str) -> Format {
    match path {
        p if p.ends_with("Voltage") && !p.contains("Alarm") => Format::VOLT,
        p if p.ends_with("/Current") => Format::AMP,
        p if p.ends_with("/Power") => Format::WATT,
        p if p.ends_with("Temperature") && !p.contains("Alarm") => Format::CELSIUS,
        "/Soc" | "/Dc/0/MidVoltageDeviation" => Format::PERCENT,
        p if p.ends_with("Energy") => Format::KWH,
        "/ConsumedAmphours" | "/History/DeepestDischarge" | "/History/LastDischarge" | "/History/AverageDischarge" | "/History/TotalAhDrawn" => {
            Format::AMP_HOUR
        }
        "/TimeToGo" | "/History/TimeSinceLastFullCharge" => Format::SECONDS,
        p if p.ends_with("ProductId") => Format::Hex,
        p if p.ends_with("FirmwareVersion") => Format::Firmware,
        _ => Format::Plain,
    }
}

/// How a stand-in localsettings misbehaves (fault tests).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SettingsMode {
    Normal,
    /// Answers every call after this delay.
    Slow(Duration),
    /// Answers AddSettings with a D-Bus error.
    Failing,
}

/// A stand-in for Venus' localsettings: `AddSettings` on `/` and BusItems under `/Settings`.
pub struct FakeSettings {
    items: Arc<Mutex<Service>>,
}

struct SettingsRoot {
    items: Arc<Mutex<Service>>,
    mode: SettingsMode,
}

#[interface(name = "com.victronenergy.Settings")]
impl SettingsRoot {
    async fn add_settings(&self, settings: Vec<HashMap<String, OwnedValue>>) -> zbus::fdo::Result<Vec<HashMap<String, OwnedValue>>> {
        match self.mode {
            SettingsMode::Failing => {
                return Err(zbus::fdo::Error::Failed("simulated localsettings failure".into()));
            }
            SettingsMode::Slow(d) => {
                smol::Timer::after(d).await;
            }
            SettingsMode::Normal => {}
        }
        let mut service = self.items.lock().await;
        let mut out = Vec::new();
        for s in settings {
            let path = s.get("path").and_then(|p| Value::decode(p).ok()).and_then(|p| p.as_str().map(str::to_owned));
            let default = s.get("default").and_then(|d| Value::decode(d).ok());
            let (Some(path), Some(default)) = (path, default) else {
                out.push(HashMap::from([("error".to_owned(), OwnedValue::from(-4i32))]));
                continue;
            };
            let path = if path.starts_with('/') { path } else { format!("/{path}") };
            let value = match service.value(&path) {
                Some(v) => v,
                None => {
                    service
                        .add(ItemSpec::new(path.as_str(), Format::Plain, Access::Any), default.clone())
                        .await
                        .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
                    default
                }
            };
            let entry = |v: Z<'_>| OwnedValue::try_from(v).unwrap_or_else(|_| OwnedValue::from(0u32));
            out.push(HashMap::from([
                ("error".to_owned(), OwnedValue::from(0i32)),
                ("path".to_owned(), entry(Z::from(path))),
                ("value".to_owned(), value.to_owned_variant()),
            ]));
        }
        Ok(out)
    }
}

impl FakeSettings {
    /// Serves `com.victronenergy.settings` on its own connection.
    pub async fn start(address: &str, mode: SettingsMode) -> zbus::Result<FakeSettings> {
        let conn = connect(address).await?;
        let items = Arc::new(Mutex::new(Service::new(&conn, None).await?));
        conn.object_server().at("/", SettingsRoot { items: items.clone(), mode }).await?;
        items.lock().await.request_name("com.victronenergy.settings").await.map_err(|e| zbus::Error::Failure(e.to_string()))?;
        Ok(FakeSettings { items })
    }

    pub async fn value(&self, path: &str) -> Option<Value> {
        self.items.lock().await.value(path)
    }

    /// Stores a setting as if an earlier run had created it.
    pub async fn preset(&self, path: &str, value: Value) -> zbus::Result<()> {
        self.items.lock().await.add(ItemSpec::new(path, Format::Plain, Access::Any), value).await
    }
}
