//! The server side of Victron's `com.victronenergy.BusItem` contract (velib's `VeDbusService`).
//!
//! Every published path is its own D-Bus object; every intermediate path segment is a tree
//! node; `/` is the root. Contract (shared/docs/venus-platform.md §1):
//! * leaf: `GetValue() -> v`, `GetText() -> s`, `SetValue(v) -> i` (0 ok, 1 read-only or wrong
//!   type, 2 rejected), `GetDescription(s, i) -> s`, signal `PropertiesChanged(a{sv})`;
//! * node and root: `GetValue() -> v` and `GetText() -> v`, each a dictionary of the leaves
//!   below with keys relative to the node (no leading slash);
//! * root only: `GetItems() -> a{sa{sv}}` with full paths, signal `ItemsChanged(a{sa{sv}})`.
//!
//! Objects are exported before the bus name is requested ([`Service::request_name`]), so the
//! very first `GetItems` a consumer sends already holds `/DeviceInstance`.
//! [`Service::update`] takes a whole aggregation pass and emits one `ItemsChanged` holding only
//! the paths whose value changed, or nothing at all.
//!
//! This module knows nothing about batteries: the daemon and the simulated SmartShunts use it
//! alike.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use smol::channel::Sender;
use zbus::fdo::RequestNameFlags;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{self, OwnedValue};
use zbus::{Connection, interface};

use super::wire::{self, Changes};
use crate::value::{Format, Value};

pub const BUSITEM: &str = "com.victronenergy.BusItem";

/// Who may change an item through `SetValue`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Access {
    ReadOnly,
    /// A string of at most this many bytes (e.g. `/CustomName`).
    Text {
        max_len: usize,
    },
    /// Anything (simulated devices, like velib's dummy services).
    Any,
    /// The owner decides: the write is passed on with a verdict channel and `SetValue` returns
    /// the owner's code (0, 1 or 2). The stored value is not changed here; the owner publishes
    /// whatever the write leads to. Momentary actions (e.g. forgetting a member) use this.
    Ask,
}

/// How long `SetValue` waits for the owner's verdict on an [`Access::Ask`] path.
const VERDICT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// What `SetValue` returns, as velib does.
pub const SET_OK: i32 = 0;
pub const SET_READ_ONLY_OR_TYPE: i32 = 1;
pub const SET_REJECTED: i32 = 2;

/// The description of one published path.
#[derive(Debug, Clone)]
pub struct ItemSpec {
    pub path: String,
    pub format: Format,
    pub access: Access,
    pub description: &'static str,
}

impl ItemSpec {
    pub fn new(path: impl Into<String>, format: Format, access: Access) -> Self {
        ItemSpec { path: path.into(), format, access, description: "" }
    }
}

/// A value another process wrote through `SetValue` and that was accepted, or (on an
/// [`Access::Ask`] path) that waits for the owner's verdict on `verdict`.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: String,
    pub value: Value,
    pub verdict: Option<Sender<i32>>,
}

struct Item {
    value: Value,
    text: String,
    spec: ItemSpec,
}

#[derive(Default)]
struct Tree {
    items: BTreeMap<String, Item>,
}

type Shared = Arc<Mutex<Tree>>;

fn lock(tree: &Shared) -> MutexGuard<'_, Tree> {
    // A panic while holding the lock cannot leave the map half-updated in a way that matters
    // (each write is one insert), so a poisoned lock is still safe to use.
    tree.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tree {
    /// Leaves below `node` ("/" for all), keyed relative to it.
    fn below<'a>(&'a self, node: &'a str) -> impl Iterator<Item = (&'a str, &'a Item)> + 'a {
        let prefix = if node == "/" { "/".to_owned() } else { format!("{node}/") };
        let plen = prefix.len();
        self.items.range(prefix.clone()..).take_while(move |(p, _)| p.starts_with(&prefix)).map(move |(p, item)| (&p[plen..], item))
    }

    fn values_below(&self, node: &str) -> zvariant::Value<'static> {
        let map: HashMap<String, zvariant::Value<'static>> =
            self.below(node).map(|(k, item)| (k.to_owned(), wire::to_variant(&item.value))).collect();
        zvariant::Value::from(map)
    }

    fn texts_below(&self, node: &str) -> zvariant::Value<'static> {
        let map: HashMap<String, String> = self.below(node).map(|(k, item)| (k.to_owned(), item.text.clone())).collect();
        zvariant::Value::from(map)
    }
}

struct Leaf {
    path: String,
    tree: Shared,
    written: Option<Sender<Written>>,
}

impl Leaf {
    /// Passes a write on an [`Access::Ask`] path to the owner and returns its verdict.
    async fn ask(&self, value: OwnedValue) -> i32 {
        let (Ok(value), Some(tx)) = (wire::decode(&value), &self.written) else {
            return SET_READ_ONLY_OR_TYPE;
        };
        let (verdict_tx, verdict_rx) = smol::channel::bounded(1);
        if tx.send(Written { path: self.path.clone(), value, verdict: Some(verdict_tx) }).await.is_err() {
            return SET_REJECTED;
        }
        crate::rt::timeout(VERDICT_TIMEOUT, verdict_rx.recv()).await.and_then(Result::ok).unwrap_or(SET_REJECTED)
    }
}

#[interface(name = "com.victronenergy.BusItem")]
impl Leaf {
    async fn get_value(&self) -> OwnedValue {
        let tree = lock(&self.tree);
        wire::to_owned_variant(&tree.items.get(&self.path).map_or(Value::Invalid, |i| i.value.clone()))
    }

    async fn get_text(&self) -> String {
        lock(&self.tree).items.get(&self.path).map(|i| i.text.clone()).unwrap_or_default()
    }

    async fn set_value(&self, value: OwnedValue, #[zbus(signal_emitter)] emitter: SignalEmitter<'_>) -> i32 {
        let ask = lock(&self.tree).items.get(&self.path).is_some_and(|i| i.spec.access == Access::Ask);
        if ask {
            return self.ask(value).await;
        }
        let accepted = {
            let mut tree = lock(&self.tree);
            let Some(item) = tree.items.get_mut(&self.path) else {
                return SET_READ_ONLY_OR_TYPE;
            };
            let Ok(value) = wire::decode(&value) else {
                return SET_READ_ONLY_OR_TYPE;
            };
            match (item.spec.access, &value) {
                (Access::ReadOnly | Access::Ask, _) => return SET_READ_ONLY_OR_TYPE,
                (Access::Text { max_len }, Value::Text(s)) if s.len() > max_len => {
                    return SET_REJECTED;
                }
                (Access::Text { .. }, Value::Text(_)) | (Access::Any, _) => {}
                (Access::Text { .. }, _) => return SET_READ_ONLY_OR_TYPE,
            }
            if item.value == value {
                return SET_OK;
            }
            item.text = item.spec.format.text(&value);
            item.value = value.clone();
            (value, item.text.clone())
        };
        let (value, text) = accepted;
        let changes = HashMap::from([("Value", wire::to_variant(&value)), ("Text", zvariant::Value::from(text))]);
        if let Err(e) = Leaf::properties_changed(&emitter, changes).await {
            log::warn!("PropertiesChanged for {} not sent: {e}", self.path);
        }
        if let Some(tx) = &self.written {
            // The owner may have stopped listening while shutting down; nothing to do then.
            let _ = tx.send(Written { path: self.path.clone(), value, verdict: None }).await;
        }
        SET_OK
    }

    async fn get_description(&self, _language: String, _length: i32) -> String {
        let tree = lock(&self.tree);
        match tree.items.get(&self.path) {
            Some(item) if !item.spec.description.is_empty() => item.spec.description.to_owned(),
            _ => "No description given".to_owned(),
        }
    }

    #[zbus(signal)]
    async fn properties_changed(emitter: &SignalEmitter<'_>, changes: HashMap<&str, zvariant::Value<'_>>) -> zbus::Result<()>;
}

struct Node {
    path: String,
    tree: Shared,
}

#[interface(name = "com.victronenergy.BusItem")]
impl Node {
    async fn get_value(&self) -> zvariant::Value<'static> {
        lock(&self.tree).values_below(&self.path)
    }

    async fn get_text(&self) -> zvariant::Value<'static> {
        lock(&self.tree).texts_below(&self.path)
    }
}

struct Root {
    tree: Shared,
}

#[interface(name = "com.victronenergy.BusItem")]
impl Root {
    async fn get_items(&self) -> HashMap<String, HashMap<String, OwnedValue>> {
        let tree = lock(&self.tree);
        tree.items.iter().map(|(p, item)| (p.clone(), wire::entry(&item.value, &item.text))).collect()
    }

    async fn get_value(&self) -> zvariant::Value<'static> {
        lock(&self.tree).values_below("/")
    }

    async fn get_text(&self) -> zvariant::Value<'static> {
        lock(&self.tree).texts_below("/")
    }

    #[zbus(signal)]
    async fn items_changed(emitter: &SignalEmitter<'_>, changes: &Changes) -> zbus::Result<()>;
}

/// Intermediate nodes of a path: `/Dc/0/Voltage` → `/Dc`, `/Dc/0`.
fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').skip(1).map(move |(i, _)| &path[..i])
}

/// Why the service could not take its bus name.
#[derive(Debug)]
pub enum NameError {
    /// Another process owns it (a second daemon): refuse to start.
    Taken,
    Bus(zbus::Error),
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameError::Taken => f.write_str("the bus name is already owned by another process"),
            NameError::Bus(e) => write!(f, "{e}"),
        }
    }
}

/// A published tree of BusItems on one connection.
pub struct Service {
    conn: Connection,
    tree: Shared,
    nodes: BTreeSet<String>,
    written: Option<Sender<Written>>,
}

impl Service {
    /// Exports the root object. `written` receives every accepted `SetValue`.
    pub async fn new(conn: &Connection, written: Option<Sender<Written>>) -> zbus::Result<Service> {
        let tree = Shared::default();
        conn.object_server().at("/", Root { tree: tree.clone() }).await?;
        Ok(Service { conn: conn.clone(), tree, nodes: BTreeSet::new(), written })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Adds (or replaces the spec of) one path with an initial value, exporting its object and
    /// any missing tree nodes. Emits nothing: call it before [`Service::request_name`] or send
    /// the value with the next [`Service::update`].
    pub async fn add(&mut self, spec: ItemSpec, value: Value) -> zbus::Result<()> {
        let path = spec.path.clone();
        let fresh = {
            let mut tree = lock(&self.tree);
            let text = spec.format.text(&value);
            tree.items.insert(path.clone(), Item { value, text, spec }).is_none()
        };
        if fresh {
            let leaf = Leaf { path: path.clone(), tree: self.tree.clone(), written: self.written.clone() };
            self.conn.object_server().at(path.as_str(), leaf).await?;
            for node in parents(&path) {
                if self.nodes.insert(node.to_owned()) {
                    let obj = Node { path: node.to_owned(), tree: self.tree.clone() };
                    self.conn.object_server().at(node, obj).await?;
                }
            }
        }
        Ok(())
    }

    /// Removes paths (and tree nodes left empty), announcing them as invalid in one
    /// `ItemsChanged`.
    pub async fn remove(&mut self, paths: &[String]) -> zbus::Result<()> {
        let mut gone = Changes::default();
        {
            let mut tree = lock(&self.tree);
            for p in paths {
                if tree.items.remove(p).is_some() {
                    gone.0.push((p.clone(), Value::Invalid, String::new()));
                }
            }
        }
        let server = self.conn.object_server();
        for (p, _, _) in &gone.0 {
            server.remove::<Leaf, _>(p.as_str()).await?;
        }
        let mut orphans: Vec<String> = {
            let tree = lock(&self.tree);
            self.nodes.iter().filter(|n| tree.below(n).next().is_none()).cloned().collect()
        };
        // Deepest first: zbus drops a node's whole subtree with it.
        orphans.sort_by_key(|n| std::cmp::Reverse(n.matches('/').count()));
        for n in orphans {
            server.remove::<Node, _>(n.as_str()).await?;
            self.nodes.remove(&n);
        }
        self.emit(gone).await
    }

    /// Applies one pass of values; emits one `ItemsChanged` with the paths whose value changed.
    /// Unknown paths are ignored. Returns how many paths changed.
    pub async fn update<I, P>(&self, values: I) -> zbus::Result<usize>
    where
        I: IntoIterator<Item = (P, Value)>,
        P: AsRef<str>,
    {
        let mut changes = Changes::default();
        {
            let mut tree = lock(&self.tree);
            for (path, value) in values {
                let path = path.as_ref();
                if let Some(item) = tree.items.get_mut(path) {
                    if item.value != value {
                        item.text = item.spec.format.text(&value);
                        item.value = value;
                        changes.0.push((path.to_owned(), item.value.clone(), item.text.clone()));
                    }
                }
            }
        }
        let n = changes.0.len();
        self.emit(changes).await?;
        Ok(n)
    }

    async fn emit(&self, changes: Changes) -> zbus::Result<()> {
        if changes.0.is_empty() {
            return Ok(());
        }
        let emitter = SignalEmitter::new(&self.conn, "/")?;
        Root::items_changed(&emitter, &changes).await
    }

    /// The current value of a path.
    pub fn value(&self, path: &str) -> Option<Value> {
        lock(&self.tree).items.get(path).map(|i| i.value.clone())
    }

    /// Requests the well-known name without queueing, as velib does.
    pub async fn request_name(&self, name: &str) -> Result<(), NameError> {
        use zbus::fdo::RequestNameReply as R;
        match self.conn.request_name_with_flags(name, RequestNameFlags::DoNotQueue.into()).await {
            Ok(R::PrimaryOwner | R::AlreadyOwner) => Ok(()),
            Ok(R::Exists | R::InQueue) => Err(NameError::Taken),
            Err(zbus::Error::NameTaken) => Err(NameError::Taken),
            Err(e) => Err(NameError::Bus(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parents;

    #[test]
    fn parents_of_a_path() {
        assert_eq!(parents("/Dc/0/Voltage").collect::<Vec<_>>(), ["/Dc", "/Dc/0"]);
        assert_eq!(parents("/Soc").count(), 0);
    }
}
