//! A stand-in for Venus' localsettings (`com.victronenergy.settings`), with the faults the
//! tests need.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use smol::lock::Mutex;
use zbus::interface;
use zbus::zvariant::{OwnedValue, Value as Z};

use super::connect;
use crate::value::{Format, Value};
use crate::venus::service::{Access, ItemSpec, Service};
use crate::venus::wire;

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
            let path = s.get("path").and_then(|p| wire::decode(p).ok()).and_then(|p| p.as_str().map(str::to_owned));
            let default = s.get("default").and_then(|d| wire::decode(d).ok());
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
                ("value".to_owned(), wire::to_owned_variant(&value)),
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
