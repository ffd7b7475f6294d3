//! `status`: a client that reads the aggregate and its members from the bus and prints them
//! as a table (also the demo's live view).

use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

use zbus::Connection;

use crate::config::Loaded;
use crate::config::gui::{Knob, Overrides};
use crate::domain::paths;
use crate::publish::{GUI_SETTING, PROCESS_NAME, SERVICE_NAME};
use crate::value::Value;
use crate::venus::call::{self, CallError};
use crate::venus::settings::SETTINGS_SERVICE;

/// Path → (value, text) of one service.
pub type Items = HashMap<String, (Value, String)>;

/// One `GetItems`, with a timeout.
pub async fn get_items(conn: &Connection, service: &str) -> Result<Items, CallError> {
    let items = call::get_items(conn, service, Duration::from_secs(3)).await?;
    Ok(items.into_iter().map(|(p, v, t)| (p, (v, t))).collect())
}

/// Why `status` has nothing to show, in words: not running, starting, or not answering.
pub fn not_available(e: &CallError) -> String {
    match e {
        CallError::Absent if daemon_on_this_bus() => "the aggregate is starting: its process runs but has not taken its bus name yet; it does \
             once its members' data is in (at most START_TIMEOUT, 10 s by default). Try again in a few seconds."
            .into(),
        CallError::Absent => format!(
            "the aggregate is not running ({SERVICE_NAME} is not on the bus). See whether the service runs: \
             svstat /service/{PROCESS_NAME}; and why not in its log: tail -n 50 /var/log/{PROCESS_NAME}/current"
        ),
        CallError::Timeout => "the aggregate did not answer within 3 s (the GX may be very busy); try again".into(),
        other => format!("the aggregate could not be read: it {other}"),
    }
}

/// True when a daemon process (not a command such as `status`) runs with the same system bus
/// as this one: it is starting, not missing.
fn daemon_on_this_bus() -> bool {
    let own_bus = std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_default();
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|p| {
        let pid = p.file_name();
        if pid.to_string_lossy() == me {
            return false;
        }
        let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
            return false;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
        let is_daemon = args.first().is_some_and(|a| a.ends_with(PROCESS_NAME.as_bytes()))
            && args.iter().skip(1).all(|a| a.starts_with(b"--") || a.contains(&b'/') || a.ends_with(b".ini"));
        let bus = std::fs::read(p.path().join("environ")).ok().map(|env| {
            env.split(|b| *b == 0)
                .find_map(|kv| kv.strip_prefix(b"DBUS_SYSTEM_BUS_ADDRESS=").map(|v| String::from_utf8_lossy(v).into_owned()))
                .unwrap_or_default()
        });
        is_daemon && bus.is_some_and(|b| b == own_bus)
    })
}

fn text<'a>(items: &'a Items, path: &str) -> &'a str {
    match items.get(path) {
        Some((v, t)) if v.is_valid() && !t.is_empty() => t,
        _ => "---",
    }
}

/// The aggregate and its members as a readable table.
pub async fn render(conn: &Connection) -> Result<String, String> {
    let agg = get_items(conn, SERVICE_NAME).await.map_err(|e| not_available(&e))?;
    let mut out = String::new();
    let t = |p: &str| text(&agg, p).to_owned();
    let _ = writeln!(
        out,
        "{} — {} (ProductId {}, instance {}, {})",
        t(paths::CUSTOM_NAME),
        SERVICE_NAME,
        t(paths::PRODUCT_ID),
        t(paths::DEVICE_INSTANCE),
        t(paths::MGMT_PROCESS_VERSION)
    );
    let _ = writeln!(out);
    let rows: [(&str, &str); 12] = [
        ("Voltage", paths::DC_VOLTAGE),
        ("Current", paths::DC_CURRENT),
        ("Power", paths::DC_POWER),
        ("State of charge", paths::SOC),
        ("Consumed", paths::CONSUMED_AH),
        ("Time to go", paths::TIME_TO_GO),
        ("Temperature", paths::DC_TEMPERATURE),
        ("Installed capacity", paths::INSTALLED_CAPACITY),
        ("Remaining", paths::CAPACITY),
        ("Members online", paths::MODULES_ONLINE),
        ("Members offline", paths::MODULES_OFFLINE),
        ("Member lost alarm", paths::ALARM_MEMBER_LOST),
    ];
    for (label, path) in rows {
        let _ = writeln!(out, "  {label:<20} {}", t(path));
    }
    let raised: Vec<String> = agg
        .iter()
        .filter(|(p, (v, _))| p.starts_with(paths::ALARMS_PREFIX) && v.as_f64().is_some_and(|a| a > 0.0))
        .map(|(p, (v, _))| format!("{}={}", &p[paths::ALARMS_PREFIX.len()..], v.as_f64().unwrap_or(0.0)))
        .collect();
    let _ = writeln!(out, "  {:<20} {}", "Alarms", if raised.is_empty() { "none".to_owned() } else { raised.join(", ") });
    if agg.contains_key(paths::MAX_CHARGE_VOLTAGE) {
        let _ = writeln!(
            out,
            "\n  Virtual BMS: CVL {}  CCL {}  DCL {}",
            t(paths::MAX_CHARGE_VOLTAGE),
            t(paths::MAX_CHARGE_CURRENT),
            t(paths::MAX_DISCHARGE_CURRENT)
        );
        let _ = writeln!(out, "    stage:     {}", t(paths::CHARGE_MODE));
        let _ = writeln!(out, "    charge:    {}", t(paths::CHARGE_LIMITATION));
        let _ = writeln!(out, "    discharge: {}", t(paths::DISCHARGE_LIMITATION));
        let list = |p: &str| {
            agg.get(p).and_then(|(v, _)| v.as_str()).filter(|s| !s.is_empty()).map(|s| s.split(" | ").map(str::to_owned).collect::<Vec<_>>())
        };
        let protections = list(paths::ACTIVE_PROTECTIONS).unwrap_or_else(|| vec!["none".into()]);
        let _ = writeln!(out, "    active protections:");
        for p in protections {
            let _ = writeln!(out, "      - {p}");
        }
        if let Some(risks) = list(paths::ACCEPTED_RISKS) {
            let _ = writeln!(out, "    accepted risks:");
            for r in risks {
                let _ = writeln!(out, "      ! {r}");
            }
        }
    }
    let mut slots: Vec<(usize, String)> = agg
        .iter()
        .filter_map(|(p, (v, _))| {
            let slot = paths::member_slot(p, "Service")?;
            Some((slot, v.as_str()?.to_owned()))
        })
        .collect();
    slots.sort();
    let _ = writeln!(
        out,
        "\n  {:<22} {:>5} {:>9} {:>8} {:>7} {:>6} {:>9}  {:<21} capacity source",
        "member", "inst", "voltage", "current", "SoC", "temp", "capacity", "state"
    );
    for (slot, service) in slots {
        let m = |f: &str| text(&agg, &paths::member(slot, f)).to_owned();
        // Only online members are asked: a frozen one would make the table wait.
        let live = if m("State").starts_with("online") { get_items(conn, &service).await.unwrap_or_default() } else { Items::new() };
        let l = |p: &str| text(&live, p).to_owned();
        let _ = writeln!(
            out,
            "  {:<22} {:>5} {:>9} {:>8} {:>7} {:>6} {:>9}  {:<21} {}",
            m("Name"),
            m("DeviceInstance"),
            l(paths::DC_VOLTAGE),
            l(paths::DC_CURRENT),
            l(paths::SOC),
            l(paths::DC_TEMPERATURE),
            m("Capacity"),
            m("State"),
            m("CapacitySource")
        );
    }
    Ok(out)
}

/// One member as `/Members/<slot>/*` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub name: String,
    pub serial: String,
    pub instance: String,
    pub service: String,
    pub state: String,
}

/// The members the aggregate lists, in slot order.
pub fn listed(agg: &Items) -> Vec<Listed> {
    let mut slots: Vec<usize> = agg.keys().filter_map(|p| paths::member_slot(p, "Service")).collect();
    slots.sort_unstable();
    slots
        .into_iter()
        .map(|slot| {
            let f = |field: &str| match agg.get(&paths::member(slot, field)) {
                Some((Value::Text(t), _)) => t.clone(),
                Some((v, _)) => v.as_f64().map(|x| x.to_string()).unwrap_or_default(),
                None => String::new(),
            };
            Listed { name: f("Name"), serial: f("Serial"), instance: f("DeviceInstance"), service: f("Service"), state: f("State") }
        })
        .collect()
}

/// `forget NAME|INSTANCE|SERIAL|all`: asks the running daemon to forget an offline member
/// (through the writable `/Members/Forget`, as `dbus -y` or MQTT would) and returns the
/// daemon's own account of it (`/Members/ForgetResult`), as `Err` when it refused.
pub async fn forget(conn: &Connection, target: &str) -> Result<String, String> {
    let limit = Duration::from_secs(5);
    let refused = |e: CallError| format!("the aggregate {e}");
    let code = call::set_value(conn, SERVICE_NAME, paths::FORGET, &Value::from(target), limit).await.map_err(refused)?;
    let outcome = call::get_value(conn, SERVICE_NAME, paths::FORGET_RESULT, limit).await.map_err(refused)?;
    let outcome = outcome.as_str().map_or_else(|| format!("code {code}; see the aggregate's log"), str::to_owned);
    if code == 0 { Ok(outcome) } else { Err(outcome) }
}

/// The values set in the GUI, as localsettings keeps them.
pub async fn gui_values(conn: &Connection) -> Result<Overrides, String> {
    let v = call::get_value(conn, SETTINGS_SERVICE, GUI_SETTING, Duration::from_secs(2)).await.map_err(|e| format!("localsettings {e}"))?;
    Ok(Overrides::decode(v.as_str().unwrap_or_default()).0)
}

/// The settings the GUI can change, each with where its value comes from; with `all`, every
/// setting (`check-config`).
pub fn explain(files: &Loaded, stored: &Overrides, all: bool) -> String {
    let mut gui = stored.in_force(&files.config);
    let (now, dropped) = gui.apply(&files.config);
    let mut out = String::new();
    for why in dropped {
        let _ = writeln!(out, "# warning: a value set in the GUI does not apply: {why}");
    }
    for line in files.explain(&now, &gui).lines() {
        let key = line.split(' ').next().unwrap_or_default();
        if all || Knob::of_key(key).is_some_and(|k| k.offered(&files.config)) {
            let _ = writeln!(out, "{line}");
        }
    }
    if !gui.off.is_empty() {
        let off: Vec<&str> = gui.off.iter().map(String::as_str).collect();
        let _ = writeln!(out, "# switched off in the GUI (not in the bank): {}", off.join(", "));
    }
    out
}
