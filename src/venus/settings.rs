//! Client of Venus' localsettings (`com.victronenergy.settings`): creating settings with
//! `AddSettings`, writing them with `SetValue` (shared/docs/venus-platform.md §3).

use std::collections::HashMap;
use std::time::Duration;

use zbus::Connection;
use zbus::zvariant::{OwnedValue, Value as Z};

use super::service::BUSITEM;
use super::value::Value;

pub const SETTINGS_SERVICE: &str = "com.victronenergy.settings";
pub const SETTINGS_IFACE: &str = "com.victronenergy.Settings";

/// Why a settings call gave no answer.
#[derive(Debug)]
pub enum SettingsError {
    Absent,
    Timeout,
    Failed(String),
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingsError::Absent => f.write_str("localsettings is not on the bus"),
            SettingsError::Timeout => f.write_str("localsettings did not answer in time"),
            SettingsError::Failed(e) => write!(f, "localsettings refused: {e}"),
        }
    }
}

async fn with_timeout<T>(limit: Duration, fut: impl std::future::Future<Output = zbus::Result<T>>) -> Result<T, SettingsError> {
    let call = async {
        fut.await.map_err(|e| match e {
            zbus::Error::MethodError(name, _, _)
                if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown" || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner" =>
            {
                SettingsError::Absent
            }
            other => SettingsError::Failed(other.to_string()),
        })
    };
    crate::rt::timeout(limit, call).await.unwrap_or(Err(SettingsError::Timeout))
}

/// Creates settings (an existing setting keeps its value) and returns each one's current value,
/// in the order given. A setting localsettings refused comes back as `Err(code)`.
pub async fn add_settings(conn: &Connection, settings: &[(&str, Value)], limit: Duration) -> Result<Vec<Result<Value, i32>>, SettingsError> {
    let request: Vec<HashMap<&str, Z<'_>>> =
        settings.iter().map(|(path, default)| HashMap::from([("path", Z::from(*path)), ("default", default.to_variant())])).collect();
    let reply = with_timeout(limit, conn.call_method(Some(SETTINGS_SERVICE), "/", Some(SETTINGS_IFACE), "AddSettings", &(request,))).await?;
    let answers: Vec<HashMap<String, OwnedValue>> =
        reply.body().deserialize().map_err(|e| SettingsError::Failed(format!("unexpected AddSettings reply: {e}")))?;
    let mut by_path: HashMap<String, Result<Value, i32>> = HashMap::new();
    for a in answers {
        let path = a.get("path").and_then(|p| Value::decode(p).ok()).and_then(|p| p.as_str().map(str::to_owned));
        let error = a.get("error").and_then(|e| Value::decode(e).ok()).and_then(|e| e.as_f64()).unwrap_or(-1.0) as i32;
        let value = a.get("value").and_then(|v| Value::decode(v).ok());
        if let Some(path) = path {
            by_path.insert(
                path,
                match (error, value) {
                    (0, Some(v)) => Ok(v),
                    (0, None) => Err(-1),
                    (code, _) => Err(code),
                },
            );
        }
    }
    Ok(settings.iter().map(|(p, _)| by_path.remove(*p).unwrap_or(Err(-1))).collect())
}

/// Writes one setting; returns localsettings' code (0 = ok).
pub async fn set_value(conn: &Connection, path: &str, value: &Value, limit: Duration) -> Result<i32, SettingsError> {
    let reply = with_timeout(limit, conn.call_method(Some(SETTINGS_SERVICE), path, Some(BUSITEM), "SetValue", &(value.to_variant(),))).await?;
    reply.body().deserialize::<i32>().map_err(|e| SettingsError::Failed(e.to_string()))
}
