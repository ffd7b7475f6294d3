//! Simulated Venus devices for the demo, the tests and the benchmarks: SmartShunts that
//! publish the same paths and types as Victron's `vedirect-dbus` driver (shared/recordings),
//! a replayer for those recordings, and a stand-in for localsettings.
//!
//! They are served by the very same [`Service`] as the daemon, so the simulator and the product
//! speak exactly the same protocol. Every simulated path is writable (like velib's dummy
//! services), so an out-of-process test can drive a shunt with `SetValue`.

use std::collections::HashMap;

use zbus::{Connection, interface};

use crate::domain::paths::{self, Q};
use crate::value::{Format, Value};
use crate::venus::service::{Access, ItemSpec, Service};
use crate::venus::vreg::{REG_BATTERY_CAPACITY, VREGLINK_PATH};

mod recording;
mod settings;

pub use recording::Recording;
pub use settings::{FakeSettings, SettingsMode};

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

/// Every path of a SmartShunt with its text format and initial value (vedirect-dbus 3.6x):
/// its identity, then every quantity the catalogue reads from members.
fn shunt_paths(spec: &ShuntSpec) -> Vec<(&'static str, Format, Value)> {
    let service = spec.service();
    let name = match spec.product_id {
        0xC030 => "SmartShunt IP65 500A/50mV",
        0xA38A => "SmartShunt 1000A/50mV",
        0x0203..=0x0205 => "BMV-702",
        // A battery service that is no shunt at all (benchmarks and routing tests).
        0xB000..=0xBFFF => "CAN-bus BMS battery",
        _ => "SmartShunt 500A/50mV",
    };
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
        ("/GroupId", Format::Plain, Value::Invalid),
        ("/Dc/0/MidVoltage", Format::VOLT, Value::Invalid),
        ("/Dc/0/MidVoltageDeviation", Format::PERCENT, Value::Invalid),
        ("/Relay/0/State", Format::Plain, Value::Invalid),
        ("/Settings/HasMidVoltage", Format::Plain, Value::Uint(0)),
        ("/Settings/RelayMode", Format::Plain, Value::Invalid),
        ("/Devices/0/CustomName", Format::Plain, Value::from(spec.custom_name.as_str())),
        ("/Devices/0/DeviceInstance", Format::Plain, Value::Uint(spec.instance)),
        ("/Devices/0/FirmwareVersion", Format::Firmware, Value::Uint(0x0417)),
        ("/Devices/0/ProductId", Format::Hex, Value::Uint(spec.product_id)),
        ("/Devices/0/ProductName", Format::Plain, Value::from(name)),
        ("/Devices/0/ServiceName", Format::Plain, Value::from(service)),
        (VREGLINK_PATH, Format::Plain, Value::Invalid),
    ];
    p.extend(Q::all().map(|q| (q.path(), format_of(q.path()), initial(q, spec))));
    p
}

/// A quantity's value before the battery model (or a test) sets it: a plausible history, no
/// alarms, no measurement yet.
fn initial(q: Q, spec: &ShuntSpec) -> Value {
    match q {
        Q::Connected => Value::Uint(1),
        Q::HasTemperature => Value::Uint(u32::from(spec.has_temperature)),
        Q::HasStarterVoltage => Value::Uint(0),
        // A real shunt leaves the summary alarm invalid.
        Q::AlarmAlarm => Value::Invalid,
        q if q.path().starts_with(paths::ALARMS_PREFIX) => Value::Uint(0),
        Q::HistChargeCycles => Value::Uint(4),
        Q::HistAutomaticSyncs => Value::Uint(11),
        Q::HistFullDischarges | Q::HistLowVoltageAlarms | Q::HistHighVoltageAlarms => Value::Uint(0),
        Q::HistTimeSinceLastFullCharge => Value::Uint(3600),
        Q::HistDeepestDischarge => Value::Double(-123.8),
        Q::HistLastDischarge => Value::Double(-32.1),
        Q::HistAverageDischarge => Value::Double(-104.2),
        Q::HistTotalAhDrawn => Value::Double(-1530.8),
        Q::HistMinimumVoltage => Value::Double(12.06),
        Q::HistMaximumVoltage => Value::Double(14.15),
        Q::HistMinimumStarterVoltage | Q::HistMaximumStarterVoltage => Value::Double(0.0),
        Q::HistChargedEnergy => Value::Double(19.61),
        Q::HistDischargedEnergy => Value::Double(20.3),
        _ => Value::Invalid,
    }
}

/// The text format a SmartShunt uses for a path: the catalogue's for every quantity, the
/// identity paths' own for the rest.
pub fn format_of(path: &str) -> Format {
    match paths::quantity(path) {
        Some(row) => row.format,
        None if path.ends_with("ProductId") => Format::Hex,
        None if path.ends_with("FirmwareVersion") => Format::Firmware,
        None => Format::Plain,
    }
}

/// `com.victronenergy.VregLink` on `/Devices/0/VregLink`.
pub(crate) struct VregLink {
    pub(crate) capacity: u16,
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
