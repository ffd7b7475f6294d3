//! Only members wake the daemon: the bus routes it the signals of its members and nobody
//! else's. Observed from outside, through the private bus's own bookkeeping: the daemon's
//! match rules as the bus lists them (`org.freedesktop.DBus.Debug.Stats.GetAllMatchRules`),
//! evaluated here against the signals a foreign service sends, and the `GetItems` calls the
//! daemon makes, as a bus monitor sees them. No timing: every wait is for a condition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aggregate_shunts::publish::SERVICE_NAME;
use aggregate_shunts::tools::sim::{self, ShuntSpec};
use aggregate_shunts::value::{Format, Value};
use aggregate_shunts::venus::service::{Access, ItemSpec, Service};
use smol::stream::StreamExt;
use zbus::{Connection, MessageStream};

use crate::harness::*;

/// A signal as the bus routes it: who sent it (unique name and the names it owns), where.
struct Signal<'a> {
    sender: &'a str,
    names: &'a [String],
    path: &'a str,
    member: &'a str,
}

/// `key='value'` pairs of a match rule (values may hold commas inside the quotes).
fn parse(rule: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = rule;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim_start_matches(',').trim().to_owned();
        let after = &rest[eq + 1..];
        let (value, next) = match after.strip_prefix('\'') {
            Some(v) => {
                let end = v.find('\'').unwrap_or(v.len());
                (v[..end].to_owned(), &v[(end + 1).min(v.len())..])
            }
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].to_owned(), &after[end..])
            }
        };
        out.push((key, value));
        rest = next;
    }
    out
}

/// Whether the bus would deliver `s` (a BusItem signal whose first argument is a dictionary)
/// to a connection with this rule. Unknown keys count as a match, so the test errs towards
/// failing.
fn matches(rule: &str, s: &Signal) -> bool {
    parse(rule).iter().all(|(k, v)| match k.as_str() {
        "type" => v == "signal",
        "sender" => v == s.sender || s.names.iter().any(|n| n == v),
        "interface" => v == "com.victronenergy.BusItem",
        "member" => v == s.member,
        "path" => v == s.path,
        "path_namespace" => v == "/" || s.path == v || s.path.starts_with(&format!("{v}/")),
        "destination" => false,
        // Argument matches are on strings; these signals carry a dictionary first.
        k if k.starts_with("arg") => false,
        "eavesdrop" => true,
        _ => true,
    })
}

async fn rules_of(client: &Connection, unique: &str) -> Vec<String> {
    let reply = client
        .call_method(Some("org.freedesktop.DBus"), "/org/freedesktop/DBus", Some("org.freedesktop.DBus.Debug.Stats"), "GetAllMatchRules", &())
        .await
        .expect("the private bus answers Debug.Stats (dbus-daemon built with stats, as Debian's is)");
    let all: HashMap<String, Vec<String>> = reply.body().deserialize().expect("a{sas}");
    all.get(unique).cloned().unwrap_or_default()
}

async fn unique_of(client: &Connection, name: &str) -> String {
    zbus::fdo::DBusProxy::new(client).await.unwrap().get_name_owner(name.try_into().unwrap()).await.unwrap().to_string()
}

/// Whether any of the daemon's rules routes it the BusItem signals of `sender`.
fn routed(rules: &[String], sender: &str, names: &[String]) -> bool {
    [("/", "ItemsChanged"), ("/Dc/0/Current", "PropertiesChanged")]
        .iter()
        .any(|(path, member)| rules.iter().any(|r| matches(r, &Signal { sender, names, path, member })))
}

/// Method calls the daemon makes, as a bus monitor sees them: (sender and member, destination
/// as the caller named it).
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<(String, String)>>>);

impl Calls {
    /// Becomes a monitor on a connection of its own and records the daemon's method calls.
    async fn start(address: &str) -> Calls {
        let conn = bus_monitor(address, "type='method_call'").await;
        let calls = Calls::default();
        let seen = calls.clone();
        let mut stream = MessageStream::from(conn);
        aggregate_shunts::rt::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                let h = m.header();
                let (Some(member), Some(dest), Some(sender)) = (h.member(), h.destination(), h.sender()) else { continue };
                if let Ok(mut v) = seen.0.lock() {
                    v.push((format!("{sender} {member}"), dest.to_string()));
                }
            }
        })
        .detach();
        calls
    }

    fn count(&self, from: &str, member: &str, to: &str) -> usize {
        let key = format!("{from} {member}");
        self.0.lock().map(|v| v.iter().filter(|(k, d)| *k == key && d == to).count()).unwrap_or(0)
    }
}

/// Waits, up to `limit`, for `check`; panics naming `what`.
async fn until<F: std::future::Future<Output = bool>>(limit: Duration, what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        smol::Timer::after(Duration::from_millis(25)).await;
    }
}

/// A service of another class (a solar charger) with one path, on a connection of its own.
async fn foreign(address: &str, name: &str) -> Service {
    let conn = sim::connect(address).await.expect("connect");
    let mut s = Service::new(&conn, None).await.expect("service");
    s.add(ItemSpec::new("/Yield/Power", Format::Plain, Access::Any), Value::Double(100.0)).await.expect("path");
    s.request_name(name).await.expect("name");
    s
}

#[test]
fn only_members_signals_are_routed_to_the_daemon() {
    run(async {
        let mut rig = Rig::new("routing").await;
        let calls = Calls::start(&rig.bus.address).await;
        let sa = rig.shunt("ttyS5", 279, Some(100), &battery(100.0, 50.0, -2.0)).await;
        let _b = rig.shunt("ttyS6", 280, Some(100), &battery(100.0, 50.0, -3.0)).await;
        // A battery service that is not a SmartShunt (a CAN BMS, say), and an excluded shunt.
        let bms = ShuntSpec { product_id: 0xB00A, ..ShuntSpec::new("socketcan_can0", 512, None) };
        let x = rig.shunt_spec(bms.clone(), &battery(200.0, 50.0, -40.0)).await;
        let e = rig.shunt("ttyS8", 281, Some(100), &battery(100.0, 50.0, -8.0)).await;
        let solar = foreign(&rig.bus.address, "com.victronenergy.solarcharger.ttyS9").await;
        let d = rig.daemon("EXCLUDE_SHUNTS = ttyS8\nRESCAN_INTERVAL = 5\n");
        rig.until(10 * SEC, "the two members", |i| {
            val(i, "/System/NrOfModulesOnline") == Value::Uint(2) && close(num(i, "/Dc/0/Current"), -5.0, 0.05)
        })
        .await;

        let daemon = rig.owner().await.to_string();
        let [a, b] =
            [unique_of(&rig.client, "com.victronenergy.battery.ttyS5").await, unique_of(&rig.client, "com.victronenergy.battery.ttyS6").await];
        let xu = unique_of(&rig.client, &bms.service()).await;
        let eu = unique_of(&rig.client, "com.victronenergy.battery.ttyS8").await;
        let su = unique_of(&rig.client, "com.victronenergy.solarcharger.ttyS9").await;
        let names = |n: &str| vec![n.to_owned()];
        // The bank looked at the two non-members once (its log says why they were left out)...
        until(10 * SEC, "the daemon's verdicts on the non-members", || async {
            let log = d.log_text();
            log.contains("socketcan_can0 ignored: not a SmartShunt") && log.contains("excluded by EXCLUDE_SHUNTS item 'ttyS8'")
        })
        .await;
        // ... and then the bus stops routing their signals to the daemon; the members' go on.
        until(10 * SEC, "the non-members' match rules gone", || async {
            let rules = rules_of(&rig.client, &daemon).await;
            !routed(&rules, &xu, &names(&bms.service())) && !routed(&rules, &eu, &names("com.victronenergy.battery.ttyS8"))
        })
        .await;
        let rules = rules_of(&rig.client, &daemon).await;
        assert!(routed(&rules, &a, &names("com.victronenergy.battery.ttyS5")), "{rules:?}");
        assert!(routed(&rules, &b, &names("com.victronenergy.battery.ttyS6")), "{rules:?}");
        assert!(!routed(&rules, &su, &names("com.victronenergy.solarcharger.ttyS9")), "a solar charger's signals reach the daemon: {rules:?}");
        // Nor its own ItemsChanged (no echo of what it publishes).
        assert!(!routed(&rules, &daemon, &names(SERVICE_NAME)), "the daemon's own signals come back to it: {rules:?}");
        // A rule that names no sender would let every service's signals in.
        assert!(rules.iter().all(|r| parse(r).iter().any(|(k, _)| k == "sender")), "a rule without a sender: {rules:?}");

        // Their values change: the aggregate does not move.
        x.set([("/Dc/0/Current", Value::Double(-80.0))]).await.unwrap();
        e.set([("/Dc/0/Current", Value::Double(-16.0))]).await.unwrap();
        solar.update([("/Yield/Power", Value::Double(200.0))]).await.unwrap();

        // Each non-member was read once; a safety rescan (every 5 s) does not read it again.
        assert_eq!(calls.count(&daemon, "GetItems", &bms.service()), 1);
        assert_eq!(calls.count(&daemon, "GetItems", "com.victronenergy.battery.ttyS8"), 1);
        let lists = calls.count(&daemon, "ListNames", "org.freedesktop.DBus");
        until(15 * SEC, "a safety rescan", || async { calls.count(&daemon, "ListNames", "org.freedesktop.DBus") > lists }).await;
        assert_eq!(calls.count(&daemon, "GetItems", &bms.service()), 1, "the rescan read the non-SmartShunt again");
        assert_eq!(calls.count(&daemon, "GetItems", "com.victronenergy.battery.ttyS8"), 1, "the rescan read the excluded shunt again");
        assert_eq!(calls.count(&daemon, "GetItems", "com.victronenergy.solarcharger.ttyS9"), 0, "a solar charger is not a battery service");
        let rules = rules_of(&rig.client, &daemon).await;
        assert!(!routed(&rules, &xu, &names(&bms.service())), "the rescan followed the non-SmartShunt again: {rules:?}");
        assert!(close(num(&rig.items().await.unwrap(), "/Dc/0/Current"), -5.0, 0.05));

        // The non-SmartShunt leaves and comes back under a new unique name: looked at once more,
        // then dropped again.
        x.stop().await.unwrap();
        let x2 = rig.shunt_spec(bms.clone(), &battery(200.0, 50.0, -40.0)).await;
        let xu2 = unique_of(&rig.client, &bms.service()).await;
        until(10 * SEC, "the returning service read again", || async { calls.count(&daemon, "GetItems", &bms.service()) == 2 }).await;
        until(10 * SEC, "its rule gone again", || async { !routed(&rules_of(&rig.client, &daemon).await, &xu2, &names(&bms.service())) }).await;
        // A member's rule follows its unique name when it restarts.
        sa.stop().await.unwrap();
        let _a2 = rig.shunt("ttyS5", 279, Some(100), &battery(100.0, 50.0, -4.0)).await;
        rig.until(10 * SEC, "the restarted member's new value", |i| close(num(i, "/Dc/0/Current"), -7.0, 0.05)).await;
        let a2 = unique_of(&rig.client, "com.victronenergy.battery.ttyS5").await;
        until(10 * SEC, "the old unique name's rule gone", || async { !routed(&rules_of(&rig.client, &daemon).await, &a, &[]) }).await;
        assert!(routed(&rules_of(&rig.client, &daemon).await, &a2, &[]));
        drop(x2);
    });
}
