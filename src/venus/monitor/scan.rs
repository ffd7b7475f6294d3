//! Reading a service once (`GetItems`, else the root `GetValue`, else path by path), and the
//! receive-order rule that merges a scan with the signals around it.

use std::collections::HashMap;

use zbus::Connection;
use zbus::message::Sequence;
use zbus::zvariant::OwnedValue;

use super::Batch;
use crate::value::{Decoded, Malformed};
use crate::venus::service::BUSITEM;
use crate::venus::wire::{self, ItemValues};

/// The items of `batch` that are newer than what was applied for their path.
pub(super) fn keep_newer(applied: &mut HashMap<String, Sequence>, seq: Sequence, batch: Vec<(String, Decoded)>) -> Vec<(String, Decoded)> {
    batch
        .into_iter()
        .filter(|(path, _)| match applied.get_mut(path) {
            Some(last) if *last > seq => false,
            Some(last) => {
                *last = seq;
                true
            }
            None => {
                applied.insert(path.clone(), seq);
                true
            }
        })
        .collect()
}

/// Reads every item of a service: `GetItems`, else root `GetValue`, else path by path.
pub(super) async fn scan(conn: &Connection, service: &str, fallback: &[String]) -> Result<(Sequence, Batch), String> {
    let call = |path: String, method: &'static str| async move { conn.call_method(Some(service), path.as_str(), Some(BUSITEM), method, &()).await };
    match call("/".into(), "GetItems").await {
        Ok(reply) => {
            let ItemValues(items) = reply.body().deserialize().map_err(|e| format!("GetItems answered with an unexpected type: {e}"))?;
            return Ok((reply.recv_position(), items));
        }
        Err(zbus::Error::MethodError(name, _, _)) if name.as_str() == "org.freedesktop.DBus.Error.UnknownMethod" => {}
        Err(e) => return Err(format!("GetItems failed: {e}")),
    }
    // Older services without GetItems: the root answers a dictionary with relative keys.
    if let Ok(reply) = call("/".into(), "GetValue").await {
        if let Ok(map) = reply.body().deserialize::<HashMap<String, OwnedValue>>() {
            let items = map.into_iter().map(|(k, v)| (format!("/{k}"), wire::decode(&v))).collect();
            return Ok((reply.recv_position(), items));
        }
    }
    let mut items = Vec::with_capacity(fallback.len());
    let mut seq = None;
    for path in fallback {
        if let Ok(reply) = call(path.clone(), "GetValue").await {
            seq = Some(reply.recv_position());
            let v = reply.body().deserialize::<OwnedValue>().map_err(|e| Malformed(e.to_string()));
            items.push((path.clone(), v.and_then(|v| wire::decode(&v))));
        }
    }
    match seq {
        Some(seq) => Ok((seq, items)),
        None => Err("answers neither GetItems nor GetValue".into()),
    }
}
