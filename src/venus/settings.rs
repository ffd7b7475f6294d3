//! Client of Venus' localsettings (`com.victronenergy.settings`): creating settings with
//! `AddSettings`, writing them with `SetValue` (shared/docs/venus-platform.md §3).

use std::collections::HashMap;
use std::time::Duration;

use zbus::message::Type;
use zbus::zvariant::{OwnedValue, Value as Z};
use zbus::{Connection, MatchRule, MessageStream};

use super::call::{self, CallError};
use super::service::BUSITEM;
use super::wire;
use crate::value::Value;

pub const SETTINGS_SERVICE: &str = "com.victronenergy.settings";
pub const SETTINGS_IFACE: &str = "com.victronenergy.Settings";

/// Creates settings (an existing setting keeps its value) and returns each one's current value,
/// in the order given. A setting localsettings refused comes back as `Err(code)`.
pub async fn add_settings(conn: &Connection, settings: &[(&str, Value)], limit: Duration) -> Result<Vec<Result<Value, i32>>, CallError> {
    let request: Vec<HashMap<&str, Z<'_>>> =
        settings.iter().map(|(path, default)| HashMap::from([("path", Z::from(*path)), ("default", wire::to_variant(default))])).collect();
    let answers: Vec<HashMap<String, OwnedValue>> =
        call::method(conn, SETTINGS_SERVICE, "/", SETTINGS_IFACE, "AddSettings", &(request,), limit).await?;
    let mut by_path: HashMap<String, Result<Value, i32>> = HashMap::new();
    for a in answers {
        let path = a.get("path").and_then(|p| wire::decode(p).ok()).and_then(|p| p.as_str().map(str::to_owned));
        let error = a.get("error").and_then(|e| wire::decode(e).ok()).and_then(|e| e.as_f64()).unwrap_or(-1.0) as i32;
        let value = a.get("value").and_then(|v| wire::decode(v).ok());
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
pub async fn set_value(conn: &Connection, path: &str, value: &Value, limit: Duration) -> Result<i32, CallError> {
    call::set_value(conn, SETTINGS_SERVICE, path, value, limit).await
}

/// Signals from localsettings that `path` changed (its `PropertiesChanged`), so a setting is
/// followed without polling. Each item of the stream is one change; read the value with
/// `call::get_value`.
pub async fn changes(conn: &Connection, path: &str) -> zbus::Result<MessageStream> {
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .sender(SETTINGS_SERVICE)?
        .interface(BUSITEM)?
        .member("PropertiesChanged")?
        .path(path.to_owned())?
        .build();
    MessageStream::for_match_rule(rule, conn, Some(16)).await
}
