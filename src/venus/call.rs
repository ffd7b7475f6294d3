//! One method call to another service, bounded in time, with a typed error: the client side's
//! only way to ask a single question (`GetValue`, `SetValue`, localsettings' `AddSettings`).

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use zbus::Connection;
use zbus::zvariant::{DynamicType, OwnedValue};

use super::service::BUSITEM;
use super::wire;
use crate::value::Value;

/// Why a call gave no usable answer. Shown after the callee's name: "localsettings did not
/// answer in time".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The service is not on the bus.
    Absent,
    /// No answer within the limit.
    Timeout,
    /// The call failed (a D-Bus error reply, or the connection).
    Failed(String),
    /// An answer of an unexpected type.
    BadReply(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Absent => f.write_str("is not on the bus"),
            CallError::Timeout => f.write_str("did not answer in time"),
            CallError::Failed(e) => write!(f, "refused: {e}"),
            CallError::BadReply(e) => write!(f, "answered with an unexpected type: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

impl From<zbus::Error> for CallError {
    fn from(e: zbus::Error) -> Self {
        match e {
            zbus::Error::MethodError(name, _, _)
                if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown" || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner" =>
            {
                CallError::Absent
            }
            other => CallError::Failed(other.to_string()),
        }
    }
}

/// Awaits a call for at most `limit`.
pub async fn bounded<T>(limit: Duration, fut: impl Future<Output = zbus::Result<T>>) -> Result<T, CallError> {
    crate::rt::timeout(limit, fut).await.ok_or(CallError::Timeout)?.map_err(CallError::from)
}

/// Calls `method` on `path` of `service` (interface `iface`) and decodes the reply body.
pub async fn method<B, R>(conn: &Connection, service: &str, path: &str, iface: &str, method: &str, body: &B, limit: Duration) -> Result<R, CallError>
where
    B: Serialize + DynamicType,
    R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
{
    let reply = bounded(limit, conn.call_method(Some(service), path, Some(iface), method, body)).await?;
    reply.body().deserialize::<R>().map_err(|e| CallError::BadReply(e.to_string()))
}

/// `GetValue` of one item.
pub async fn get_value(conn: &Connection, service: &str, path: &str, limit: Duration) -> Result<Value, CallError> {
    let v: OwnedValue = method(conn, service, path, BUSITEM, "GetValue", &(), limit).await?;
    wire::decode(&v).map_err(|e| CallError::BadReply(e.to_string()))
}

/// `SetValue` of one item; the Venus code (0 = done).
pub async fn set_value(conn: &Connection, service: &str, path: &str, value: &Value, limit: Duration) -> Result<i32, CallError> {
    method(conn, service, path, BUSITEM, "SetValue", &(wire::to_variant(value),), limit).await
}

/// `GetItems` of a whole service: path → (value, text); a malformed value reads as invalid.
pub async fn get_items(conn: &Connection, service: &str, limit: Duration) -> Result<Vec<(String, Value, String)>, CallError> {
    let dict: wire::ItemsDict = method(conn, service, "/", BUSITEM, "GetItems", &(), limit).await?;
    Ok(dict.into_iter().map(|(p, d)| (p, wire::entry_value(&d).unwrap_or(Value::Invalid), wire::entry_text(&d))).collect())
}
