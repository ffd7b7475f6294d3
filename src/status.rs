//! `status`: a client that reads the aggregate and its members from the bus and prints them
//! as a table (also the demo's live view).

use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

use zbus::Connection;
use zbus::zvariant::OwnedValue;

use crate::paths;
use crate::publish::SERVICE_NAME;
use crate::venus::service::BUSITEM;
use crate::venus::value::Value;

/// Path → (value, text) of one service.
pub type Items = HashMap<String, (Value, String)>;

/// One `GetItems`, with a timeout.
pub async fn get_items(conn: &Connection, service: &str) -> Result<Items, String> {
    let call = conn.call_method(Some(service), "/", Some(BUSITEM), "GetItems", &());
    let timer = async {
        smol::Timer::after(Duration::from_secs(3)).await;
        Err(zbus::Error::Failure("no answer within 3 s".into()))
    };
    let reply = smol::future::or(call, timer).await.map_err(|e| format!("{service}: {e}"))?;
    let map: HashMap<String, HashMap<String, OwnedValue>> = reply.body().deserialize().map_err(|e| e.to_string())?;
    Ok(map
        .into_iter()
        .map(|(p, d)| {
            let value = d.get("Value").and_then(|v| Value::decode(v).ok()).unwrap_or(Value::Invalid);
            let text = d.get("Text").and_then(|t| Value::decode(t).ok()).and_then(|t| t.as_str().map(str::to_owned)).unwrap_or_default();
            (p, (value, text))
        })
        .collect())
}

fn text<'a>(items: &'a Items, path: &str) -> &'a str {
    match items.get(path) {
        Some((v, t)) if v.is_valid() && !t.is_empty() => t,
        _ => "---",
    }
}

/// The aggregate and its members as a readable table.
pub async fn render(conn: &Connection) -> Result<String, String> {
    let agg = get_items(conn, SERVICE_NAME).await?;
    let mut out = String::new();
    let t = |p: &str| text(&agg, p).to_owned();
    let _ = writeln!(out, "{} — {} (ProductId {}, instance {}, {})", t(paths::CUSTOM_NAME), SERVICE_NAME, t(paths::PRODUCT_ID), t(paths::DEVICE_INSTANCE), t(paths::MGMT_PROCESS_VERSION));
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
        .filter(|(p, (v, _))| p.starts_with("/Alarms/") && v.as_f64().is_some_and(|a| a > 0.0))
        .map(|(p, (v, _))| format!("{}={}", &p[8..], v.as_f64().unwrap_or(0.0)))
        .collect();
    let _ = writeln!(out, "  {:<20} {}", "Alarms", if raised.is_empty() { "none".to_owned() } else { raised.join(", ") });
    if agg.contains_key(paths::MAX_CHARGE_VOLTAGE) {
        let _ = writeln!(out, "\n  Virtual BMS: CVL {}  CCL {}  DCL {}", t(paths::MAX_CHARGE_VOLTAGE), t(paths::MAX_CHARGE_CURRENT), t(paths::MAX_DISCHARGE_CURRENT));
        let _ = writeln!(out, "    charge:    {}", t(paths::CHARGE_LIMITATION));
        let _ = writeln!(out, "    discharge: {}", t(paths::DISCHARGE_LIMITATION));
    }
    let mut slots: Vec<(usize, String)> = agg
        .iter()
        .filter_map(|(p, (v, _))| {
            let slot = p.strip_prefix("/Members/")?.strip_suffix("/Service")?.parse().ok()?;
            Some((slot, v.as_str()?.to_owned()))
        })
        .collect();
    slots.sort();
    let _ = writeln!(out, "\n  {:<22} {:>5} {:>9} {:>8} {:>7} {:>6} {:>9}  {:<21} capacity source", "member", "inst", "voltage", "current", "SoC", "temp", "capacity", "state");
    for (slot, service) in slots {
        let m = |f: &str| text(&agg, &format!("/Members/{slot}/{f}")).to_owned();
        let live = get_items(conn, &service).await.unwrap_or_default();
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
