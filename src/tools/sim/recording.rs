//! The shared/recordings format: one recorded SmartShunt, its initial items and timed changes,
//! parsed and served again.

use std::collections::HashMap;

use super::{VregLink, connect, format_of};
use crate::domain::paths;
use crate::value::Value;
use crate::venus::service::{Access, ItemSpec, Service};
use crate::venus::vreg::VREGLINK_PATH;

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
                (p, _) if p == paths::DEVICE_INSTANCE => Value::Uint(instance),
                (p, Value::Text(serial)) if p == paths::SERIAL => Value::Text(format!("{serial}-{instance}")),
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
