//! The client side: discovers services of one class and follows their values, the way
//! Victron's own `dbusmonitor` does (shared/docs/venus-platform.md §1.7, §9).
//!
//! * Discovery: `ListNames` once at start, then `NameOwnerChanged` (match `arg0namespace`):
//!   a service that appears is scanned at once, one that vanishes is reported at once. A slow
//!   safety rescan repairs anything missed; there is no polling loop.
//! * A new service is read with one `GetItems` on `/`; only where that method is missing, the
//!   root `GetValue` (relative keys) and then per-path `GetValue` are tried.
//! * After that only signals, through one match rule per followed service (`sender=` its
//!   unique name, interface BusItem: `ItemsChanged` on `/`, `PropertiesChanged` anywhere). The
//!   rule is added before the scan, so no change between the scan and the subscription is
//!   lost, and it moves with the service when its unique name changes. The bus delivers no
//!   other service's signals: a busy bus costs us nothing.
//! * The owner looks at every scanned service once and may say it is not interested
//!   ([`Ticket::ignore`], e.g. not a SmartShunt, or excluded): its rule is removed and the
//!   safety rescan leaves it alone until it leaves the bus; if it comes back it is scanned
//!   again.
//! * Ordering: every message carries its receive position. A scan reply and the signals of the
//!   same service are applied per path in receive order, so a signal that was older than the
//!   `GetItems` reply never overwrites it, and a newer one is never lost.
//! * Scans run as their own tasks with a timeout, so one service that answers slowly never
//!   stalls the others.
//!
//! Values are decoded into [`Value`](crate::value::Value); a malformed one is passed on as
//! `Err` so the owner can ignore it and log it once. This module knows nothing about batteries.

use std::collections::{HashMap, HashSet};
use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use smol::channel::{Receiver, Sender, unbounded};
use smol::stream::StreamExt;
use zbus::message::Sequence;
use zbus::{Connection, MatchRule, Message, MessageStream, fdo::DBusProxy, message::Type};

use super::service::BUSITEM;
use super::wire::{ChangedValue, ItemValues};
use crate::value::{Decoded, LogOnce};
use scan::{keep_newer, scan};

mod scan;

/// Items of one signal or scan reply: (path, value).
type Batch = Vec<(String, Decoded)>;

/// What the monitor reports to its owner.
#[derive(Debug)]
pub enum Event {
    /// A service was found and scanned: all its items. Its signals follow as `Changed` until
    /// the owner drops interest with `ticket`.
    Appeared { service: String, items: Vec<(String, Decoded)>, ticket: Ticket },
    /// Items of a scanned service changed.
    Changed { service: String, items: Vec<(String, Decoded)> },
    /// The service left the bus.
    Vanished { service: String },
}

/// Given with every [`Event::Appeared`]: lets the owner say it does not follow this service.
#[derive(Debug)]
pub struct Ticket {
    service: String,
    owner: String,
    tx: Sender<Ignore>,
}

impl Ticket {
    /// Stop following this incarnation of the service: its match rule is removed and it is not
    /// scanned again until it leaves the bus (or changes owner) and comes back.
    pub fn ignore(self) {
        // The monitor only drops the receiver when it stops.
        let _ = self.tx.try_send(Ignore { service: self.service, owner: self.owner });
    }
}

#[derive(Debug)]
struct Ignore {
    service: String,
    owner: String,
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
    /// This service's signals (its match rule); `None` once the owner ignores it.
    signals: Option<MessageStream>,
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
    NameOwner(Message),
    Signal(String, Message),
    Scan(ScanDone),
    Ignore(Ignore),
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
    let mut noc = MessageStream::for_match_rule(noc, &conn, Some(1024)).await.map_err(bus_err)?;

    let (scan_tx, scan_rx) = unbounded();
    let (ignore_tx, ignore_rx) = unbounded();
    let mut m = Monitor { conn: conn.clone(), opts, tx, scan_tx, ignore_tx, tracked: HashMap::new(), once: LogOnce::default() };
    m.rescan().await?;
    let mut ticker = smol::Timer::interval(m.opts.rescan_interval);
    // Channel receivers are not Unpin: pinned here for the poll below.
    let (mut scan_rx, mut ignore_rx) = (std::pin::pin!(scan_rx), std::pin::pin!(ignore_rx));

    loop {
        let input = next_input(&mut noc, &mut m.tracked, scan_rx.as_mut(), ignore_rx.as_mut(), &mut ticker).await;
        match input {
            Input::NameOwner(msg) => m.on_name_owner(&msg).await?,
            Input::Signal(service, msg) => m.on_signal(service, &msg).await,
            Input::Scan(done) => m.on_scan(done).await,
            Input::Ignore(i) => m.ignore(i),
            Input::Rescan => m.rescan().await?,
            Input::Closed(why) => return Err(BusLost(why)),
        }
    }
}

/// The next input, name changes first (a vanished service must not be updated by a late
/// signal), then scan results, then the followed services' signals.
async fn next_input(
    noc: &mut MessageStream,
    tracked: &mut HashMap<String, Tracked>,
    mut scans: Pin<&mut Receiver<ScanDone>>,
    mut ignores: Pin<&mut Receiver<Ignore>>,
    ticker: &mut smol::Timer,
) -> Input {
    let closed = |e: Option<zbus::Error>| Input::Closed(e.map_or_else(|| "connection closed".into(), |e| e.to_string()));
    poll_fn(|cx| {
        match noc.poll_next(cx) {
            Poll::Ready(Some(Ok(m))) => return Poll::Ready(Input::NameOwner(m)),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(closed(Some(e))),
            Poll::Ready(None) => return Poll::Ready(closed(None)),
            Poll::Pending => {}
        }
        match scans.as_mut().poll_next(cx) {
            Poll::Ready(Some(d)) => return Poll::Ready(Input::Scan(d)),
            Poll::Ready(None) => return Poll::Ready(Input::Closed("scan channel closed".into())),
            Poll::Pending => {}
        }
        if let Poll::Ready(Some(i)) = ignores.as_mut().poll_next(cx) {
            return Poll::Ready(Input::Ignore(i));
        }
        for (service, t) in tracked.iter_mut() {
            let Some(stream) = t.signals.as_mut() else { continue };
            match stream.poll_next(cx) {
                Poll::Ready(Some(Ok(m))) => return Poll::Ready(Input::Signal(service.clone(), m)),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(closed(Some(e))),
                Poll::Ready(None) => return Poll::Ready(closed(None)),
                Poll::Pending => {}
            }
        }
        match ticker.poll_next(cx) {
            Poll::Ready(_) => Poll::Ready(Input::Rescan),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

struct Monitor<E> {
    conn: Connection,
    opts: Options,
    tx: Sender<E>,
    scan_tx: Sender<ScanDone>,
    ignore_tx: Sender<Ignore>,
    tracked: HashMap<String, Tracked>,
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
            // Ignored services stay tracked (without a rule) until they leave: not scanned again.
            if self.tracked.contains_key(&service) {
                continue;
            }
            match dbus.get_name_owner(service.as_str().try_into().map_err(|e: zbus::names::Error| BusLost(e.to_string()))?).await {
                Ok(owner) => self.start_scan(service, owner.to_string()).await?,
                Err(e) => log::debug!("{service} vanished before it could be scanned: {e}"),
            }
        }
        Ok(())
    }

    /// Subscribes to the service's signals, then scans it: the rule is in place before
    /// `GetItems` is sent, so every change after the reply's snapshot arrives.
    async fn start_scan(&mut self, service: String, owner: String) -> Result<(), BusLost> {
        let rule = MatchRule::builder()
            .msg_type(Type::Signal)
            .sender(owner.as_str())
            .and_then(|b| b.interface(BUSITEM))
            .map(|b| b.build().to_owned())
            .map_err(|e| BusLost(e.to_string()))?;
        let signals = match MessageStream::for_match_rule(rule, &self.conn, Some(8192)).await {
            Ok(s) => s,
            // The bus refuses rules it cannot parse or too many of them: not this service's
            // fault and not a lost connection; tried again at the next rescan.
            Err(zbus::Error::MethodError(name, msg, _)) => {
                if self.once.first(&format!("match {service}")) {
                    log::warn!("cannot follow {service}: the bus refused its match rule ({name}: {})", msg.unwrap_or_default());
                }
                return Ok(());
            }
            Err(e) => return Err(BusLost(e.to_string())),
        };
        self.tracked
            .insert(service.clone(), Tracked { owner: owner.clone(), signals: Some(signals), pending: Some(Vec::new()), applied: HashMap::new() });
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
        Ok(())
    }

    async fn vanish(&mut self, service: &str) {
        // Dropping the stream removes its match rule.
        if self.tracked.remove(service).is_some() {
            self.send(Event::Vanished { service: service.to_owned() }).await;
        }
    }

    /// The owner is not interested in this incarnation: drop its rule, keep it tracked so
    /// the rescan does not scan it again.
    fn ignore(&mut self, i: Ignore) {
        if let Some(t) = self.tracked.get_mut(&i.service).filter(|t| t.owner == i.owner) {
            t.signals = None;
            t.pending = None;
            t.applied = HashMap::new();
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
                let ticket = Ticket { service: done.service.clone(), owner: done.owner, tx: self.ignore_tx.clone() };
                self.send(Event::Appeared { service: done.service, items: all, ticket }).await;
            }
            Err(e) => {
                if self.once.first(&format!("scan {}", done.service)) {
                    log::warn!("could not read {}: {e}; retrying at the next rescan", done.service);
                }
                self.tracked.remove(&done.service);
            }
        }
    }

    async fn on_name_owner(&mut self, msg: &Message) -> Result<(), BusLost> {
        let Ok((name, old, new)) = msg.body().deserialize::<(String, String, String)>() else {
            return Ok(());
        };
        if !self.wanted(&name) {
            return Ok(());
        }
        if !old.is_empty() || self.tracked.contains_key(&name) {
            self.vanish(&name).await;
        }
        if !new.is_empty() {
            self.start_scan(name, new).await?;
        }
        Ok(())
    }

    async fn on_signal(&mut self, service: String, msg: &Message) {
        let header = msg.header();
        let member = header.member().map(|m| m.as_str()).unwrap_or("");
        let decoded = match member {
            "ItemsChanged" if header.path().is_some_and(|p| p.as_str() == "/") => msg.body().deserialize::<ItemValues>().map(|ItemValues(b)| b),
            "PropertiesChanged" => {
                let path = header.path().map(|p| p.to_string()).unwrap_or_default();
                msg.body().deserialize::<ChangedValue>().map(|ChangedValue(v)| vec![(path, v)])
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
