//! The client side: discovers services of one class and follows their values, the way
//! Victron's own `dbusmonitor` does (shared/docs/venus-platform.md §1.7, §9).
//!
//! * Discovery: `ListNames` once at start, then `NameOwnerChanged` (match `arg0namespace`):
//!   a service that appears is scanned at once, one that vanishes is reported at once. A slow
//!   safety rescan repairs anything missed; there is no polling loop.
//! * A new service is read with one `GetItems` on `/`; only where that method is missing, the
//!   root `GetValue` (relative keys) and then per-path `GetValue` are tried.
//! * After that only signals: `ItemsChanged` on `/` and `PropertiesChanged` on any path,
//!   through two bus-wide match rules filtered by sender here, not one rule per path.
//! * Ordering: every message carries its receive position. A scan reply and the signals of the
//!   same service are applied per path in receive order, so a signal that was older than the
//!   `GetItems` reply never overwrites it, and a newer one is never lost.
//! * Scans run as their own tasks with a timeout, so one service that answers slowly never
//!   stalls the others.
//!
//! Values are decoded into [`Value`]; a malformed one is passed on as `Err` so the owner can
//! ignore it and log it once. This module knows nothing about batteries.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use smol::channel::{Receiver, Sender, unbounded};
use smol::stream::StreamExt;
use zbus::message::Sequence;
use zbus::zvariant::OwnedValue;
use zbus::{Connection, MatchRule, Message, MessageStream, fdo::DBusProxy, message::Type};

use super::service::BUSITEM;
use super::wire::{self, ItemsDict};
use crate::value::{Decoded, LogOnce, Malformed};

/// Items of one signal or scan reply: (path, value).
type Batch = Vec<(String, Decoded)>;

/// What the monitor reports to its owner.
#[derive(Debug)]
pub enum Event {
    /// A service was found and scanned: all its items.
    Appeared { service: String, items: Vec<(String, Decoded)> },
    /// Items of a scanned service changed.
    Changed { service: String, items: Vec<(String, Decoded)> },
    /// The service left the bus.
    Vanished { service: String },
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Service names that start with this are followed (e.g. `com.victronenergy.battery.`).
    pub prefix: String,
    /// Names never followed (our own).
    pub ignore: Vec<String>,
    /// Paths read one by one when a service has neither `GetItems` nor a root `GetValue`.
    pub fallback_paths: Vec<String>,
    pub scan_timeout: Duration,
    pub rescan_interval: Duration,
}

/// Why the monitor stopped: the bus went away or refused our subscriptions.
#[derive(Debug)]
pub struct BusLost(pub String);

impl std::fmt::Display for BusLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lost the D-Bus connection: {}", self.0)
    }
}

struct Tracked {
    owner: String,
    /// Signals received while the scan is in flight, applied after it.
    pending: Option<Vec<(Sequence, Batch)>>,
    /// Receive position of the value last applied, per path.
    applied: HashMap<String, Sequence>,
}

struct ScanDone {
    service: String,
    owner: String,
    result: Result<(Sequence, Batch), String>,
}

enum Input {
    Signal(Message),
    Scan(ScanDone),
    Rescan,
    Closed(String),
}

/// Follows the services until the bus goes away. Events go to `tx` (any type that can be made
/// from an [`Event`], so the owner can use one channel for all its inputs).
pub async fn run<E: From<Event>>(conn: Connection, opts: Options, tx: Sender<E>) -> Result<(), BusLost> {
    let bus_err = |e: zbus::Error| BusLost(e.to_string());
    let class = opts.prefix.trim_end_matches('.').to_owned();
    let noc = MatchRule::builder()
        .msg_type(Type::Signal)
        .sender("org.freedesktop.DBus")
        .and_then(|b| b.interface("org.freedesktop.DBus"))
        .and_then(|b| b.member("NameOwnerChanged"))
        .and_then(|b| b.arg0ns(class.as_str()))
        .map_err(bus_err)?
        .build();
    let props = MatchRule::builder().msg_type(Type::Signal).interface(BUSITEM).and_then(|b| b.member("PropertiesChanged")).map_err(bus_err)?.build();
    let items = MatchRule::builder()
        .msg_type(Type::Signal)
        .interface(BUSITEM)
        .and_then(|b| b.member("ItemsChanged"))
        .and_then(|b| b.path("/"))
        .map_err(bus_err)?
        .build();
    // Large queues: a stream that is full makes zbus stop reading the socket.
    let mut noc = MessageStream::for_match_rule(noc, &conn, Some(1024)).await.map_err(bus_err)?;
    let mut props = MessageStream::for_match_rule(props, &conn, Some(8192)).await.map_err(bus_err)?;
    let mut items = MessageStream::for_match_rule(items, &conn, Some(8192)).await.map_err(bus_err)?;

    let (scan_tx, scan_rx) = unbounded();
    let mut m = Monitor { conn: conn.clone(), opts, tx, scan_tx, tracked: HashMap::new(), owners: HashMap::new(), once: LogOnce::default() };
    m.rescan().await?;
    let mut ticker = smol::Timer::interval(m.opts.rescan_interval);

    loop {
        let input = next_input(&mut noc, &mut props, &mut items, &scan_rx, &mut ticker).await;
        match input {
            Input::Signal(msg) => m.on_signal(&msg).await,
            Input::Scan(done) => m.on_scan(done).await,
            Input::Rescan => m.rescan().await?,
            Input::Closed(why) => return Err(BusLost(why)),
        }
    }
}

async fn next_input(
    noc: &mut MessageStream,
    props: &mut MessageStream,
    items: &mut MessageStream,
    scans: &Receiver<ScanDone>,
    ticker: &mut smol::Timer,
) -> Input {
    let msg = |r: Option<zbus::Result<Message>>| match r {
        Some(Ok(m)) => Input::Signal(m),
        Some(Err(e)) => Input::Closed(e.to_string()),
        None => Input::Closed("connection closed".into()),
    };
    let noc = async { msg(noc.next().await) };
    let props = async { msg(props.next().await) };
    let items = async { msg(items.next().await) };
    let scan = async {
        match scans.recv().await {
            Ok(d) => Input::Scan(d),
            Err(_) => Input::Closed("scan channel closed".into()),
        }
    };
    let tick = async {
        ticker.next().await;
        Input::Rescan
    };
    // Name changes first: a vanished service must not be updated by a late signal.
    smol::future::or(noc, smol::future::or(smol::future::or(scan, items), smol::future::or(props, tick))).await
}

struct Monitor<E> {
    conn: Connection,
    opts: Options,
    tx: Sender<E>,
    scan_tx: Sender<ScanDone>,
    tracked: HashMap<String, Tracked>,
    /// Unique name (`:1.42`) → service name.
    owners: HashMap<String, String>,
    once: LogOnce,
}

impl<E: From<Event>> Monitor<E> {
    fn wanted(&self, name: &str) -> bool {
        name.starts_with(&self.opts.prefix) && !self.opts.ignore.iter().any(|i| i == name)
    }

    async fn send(&self, ev: Event) {
        // The owner only drops the receiver when it is shutting down.
        let _ = self.tx.send(E::from(ev)).await;
    }

    async fn rescan(&mut self) -> Result<(), BusLost> {
        let dbus = DBusProxy::new(&self.conn).await.map_err(|e| BusLost(e.to_string()))?;
        let names = dbus.list_names().await.map_err(|e| BusLost(e.to_string()))?;
        let present: HashSet<String> = names.iter().map(|n| n.to_string()).filter(|n| self.wanted(n)).collect();
        let gone: Vec<String> = self.tracked.keys().filter(|s| !present.contains(*s)).cloned().collect();
        for service in gone {
            log::info!("{service} is no longer on the bus (found by the safety rescan)");
            self.vanish(&service).await;
        }
        for service in present {
            if self.tracked.contains_key(&service) {
                continue;
            }
            match dbus.get_name_owner(service.as_str().try_into().map_err(|e: zbus::names::Error| BusLost(e.to_string()))?).await {
                Ok(owner) => self.start_scan(service, owner.to_string()),
                Err(e) => log::debug!("{service} vanished before it could be scanned: {e}"),
            }
        }
        Ok(())
    }

    fn start_scan(&mut self, service: String, owner: String) {
        self.owners.insert(owner.clone(), service.clone());
        self.tracked.insert(service.clone(), Tracked { owner: owner.clone(), pending: Some(Vec::new()), applied: HashMap::new() });
        let conn = self.conn.clone();
        let tx = self.scan_tx.clone();
        let fallback = self.opts.fallback_paths.clone();
        let timeout = self.opts.scan_timeout;
        crate::rt::spawn(async move {
            let scan = scan(&conn, &service, &fallback);
            let result = crate::rt::timeout(timeout, scan).await.unwrap_or_else(|| Err(format!("no answer within {} s", timeout.as_secs())));
            let _ = tx.send(ScanDone { service, owner, result }).await;
        })
        .detach();
    }

    async fn vanish(&mut self, service: &str) {
        if let Some(t) = self.tracked.remove(service) {
            self.owners.remove(&t.owner);
            self.send(Event::Vanished { service: service.to_owned() }).await;
        }
    }

    async fn on_scan(&mut self, done: ScanDone) {
        let Some(t) = self.tracked.get_mut(&done.service) else {
            return;
        };
        if t.owner != done.owner || t.pending.is_none() {
            return; // a scan of an earlier incarnation of this service
        }
        match done.result {
            Ok((seq, items)) => {
                let pending = t.pending.take().unwrap_or_default();
                for (path, _) in &items {
                    t.applied.insert(path.clone(), seq);
                }
                let mut all = items;
                for (s, batch) in pending {
                    all.extend(keep_newer(&mut t.applied, s, batch));
                }
                self.send(Event::Appeared { service: done.service, items: all }).await;
            }
            Err(e) => {
                if self.once.first(&format!("scan {}", done.service)) {
                    log::warn!("could not read {}: {e}; retrying at the next rescan", done.service);
                }
                self.owners.remove(&done.owner);
                self.tracked.remove(&done.service);
            }
        }
    }

    async fn on_signal(&mut self, msg: &Message) {
        let header = msg.header();
        let member = header.member().map(|m| m.as_str()).unwrap_or("");
        if member == "NameOwnerChanged" {
            let Ok((name, old, new)) = msg.body().deserialize::<(String, String, String)>() else {
                return;
            };
            if !self.wanted(&name) {
                return;
            }
            if !old.is_empty() || self.tracked.contains_key(&name) {
                self.vanish(&name).await;
            }
            if !new.is_empty() {
                self.start_scan(name, new);
            }
            return;
        }
        let Some(sender) = header.sender() else {
            return;
        };
        let Some(service) = self.owners.get(sender.as_str()).cloned() else {
            return;
        };
        let decoded = match member {
            "ItemsChanged" => msg.body().deserialize::<ItemsDict>().map(wire::items),
            "PropertiesChanged" => {
                let path = header.path().map(|p| p.to_string()).unwrap_or_default();
                msg.body().deserialize::<HashMap<String, OwnedValue>>().map(|d| vec![(path, wire::entry_value(&d))])
            }
            _ => return,
        };
        let batch = match decoded {
            Ok(b) => b,
            Err(e) => {
                if self.once.first(&format!("{member} {service}")) {
                    log::warn!("{service}: ignoring a malformed {member} signal ({e}); further ones are not logged");
                }
                return;
            }
        };
        let seq = msg.recv_position();
        let Some(t) = self.tracked.get_mut(&service) else {
            return;
        };
        if let Some(p) = t.pending.as_mut() {
            p.push((seq, batch));
            return;
        }
        let items = keep_newer(&mut t.applied, seq, batch);
        if !items.is_empty() {
            self.send(Event::Changed { service, items }).await;
        }
    }
}

/// The items of `batch` that are newer than what was applied for their path.
fn keep_newer(applied: &mut HashMap<String, Sequence>, seq: Sequence, batch: Vec<(String, Decoded)>) -> Vec<(String, Decoded)> {
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
async fn scan(conn: &Connection, service: &str, fallback: &[String]) -> Result<(Sequence, Batch), String> {
    let call = |path: String, method: &'static str| async move { conn.call_method(Some(service), path.as_str(), Some(BUSITEM), method, &()).await };
    match call("/".into(), "GetItems").await {
        Ok(reply) => {
            let map = reply.body().deserialize::<ItemsDict>().map_err(|e| format!("GetItems answered with an unexpected type: {e}"))?;
            return Ok((reply.recv_position(), wire::items(map)));
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
