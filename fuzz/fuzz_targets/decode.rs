//! From D-Bus signal bodies to the published numbers, as the daemon does it.
//!
//! Each body is deserialised with zvariant exactly as `venus::monitor` does
//! (`a{sa{sv}}` for `ItemsChanged`/`GetItems`, `a{sv}` for `PropertiesChanged`), each
//! entry's `"Value"` goes through `venus::wire::decode`, and the decoded items drive a
//! `bank::Bank` (`on_appeared`, `on_changed`, `on_vanished`, `set_capacity`, `refresh`),
//! then `aggregate::compute`, `bms::Policy::decide` and the publishing conversions.
//!
//! Input, first byte = flags: bit 0 big-endian bodies, bit 2 `TOTAL_CAPACITY = 400`, bits
//! 5-7 the clock step between passes (0 s to 1 h, around the stale, grace and BMS times);
//! * bit 3 clear, "wire" mode: the rest is a chain of raw message bodies (little- or
//!   big-endian by bit 0; `a{sa{sv}}`, or by bit 1 `a{sv}` each preceded by one byte that
//!   picks the object path). The bodies are applied in a fixed script over two shunts
//!   (appear, change, appear, then changes to each in turn), one aggregation pass before
//!   and one after each clock step.
//! * bit 3 set, "script" mode: the rest is read with `arbitrary` as a list of operations on
//!   up to three shunts whose items are built as zvariant values, serialised to a body and
//!   then decoded through the same path as wire mode.
//!
//! Checks: nothing panics; every `Some(x)` that `compute` returns is finite; the BMS
//! currents are finite and within 0..=the configured limit; a decoded value encodes and
//! decodes back to itself; the member table keeps one record per service and unique slots.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aggregate_shunts::domain::aggregate::{self, Settings};
use aggregate_shunts::domain::bank::{self, Bank};
use aggregate_shunts::domain::bms::{Limits, Policy};
use aggregate_shunts::config::Config;
use aggregate_shunts::domain::paths::{self, Q};
use aggregate_shunts::domain::frame;
use aggregate_shunts::value::{Decoded, Format, Value};
use aggregate_shunts::venus::wire;
use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use zbus::zvariant::serialized::{Context, Data};
use zbus::zvariant::{self, Array, BE, LE, OwnedValue, Signature, Structure};

/// `ItemsChanged` / `GetItems` body.
type Items = wire::ItemsDict;
/// `PropertiesChanged` body.
type Props = HashMap<String, OwnedValue>;

const SERVICES: [&str; 3] = [
    "com.victronenergy.battery.ttyS5",
    "com.victronenergy.battery.ttyS6",
    "com.victronenergy.battery.ttyO1",
];
const OWN_NAME: &str = "com.victronenergy.battery.aggregate_shunts";
const STALE: Duration = Duration::from_secs(30);
const GRACE: Duration = Duration::from_secs(300);
const CHARGE_CURRENT: f64 = 200.0;
const DISCHARGE_CURRENT: f64 = 300.0;
/// Clock steps, chosen around STALE_TIMEOUT, OFFLINE_GRACE and the BMS hold/ramp times.
const STEPS: [u64; 8] = [0, 1, 29, 31, 61, 299, 301, 3600];

/// Paths a fuzzed item may carry: every aggregated quantity plus the identity paths.
fn known_paths() -> Vec<&'static str> {
    let mut p: Vec<&'static str> = Q::all().map(Q::path).collect();
    p.extend([
        paths::DEVICE_INSTANCE,
        paths::PRODUCT_ID,
        paths::PRODUCT_NAME,
        paths::CUSTOM_NAME,
        paths::DEVICES_VIRTUAL,
    ]);
    p
}

/// Deserialises one body as `monitor` does and decodes its items; `Err` when zvariant
/// refuses the bytes (the daemon logs and drops such a signal). Returns the bytes used.
fn decode_body(
    bytes: &[u8],
    big_endian: bool,
    props_path: Option<&str>,
) -> zvariant::Result<(Vec<(String, Decoded)>, usize)> {
    let ctx = if big_endian {
        Context::new_dbus(BE, 0)
    } else {
        Context::new_dbus(LE, 0)
    };
    let data = Data::new(bytes, ctx);
    match props_path {
        None => {
            let (map, used): (Items, usize) = data.deserialize()?;
            Ok((
                map.into_iter().map(|(p, d)| (p, value_of(&d))).collect(),
                used,
            ))
        }
        Some(path) => {
            let (map, used): (Props, usize) = data.deserialize()?;
            Ok((vec![(path.to_owned(), value_of(&map))], used))
        }
    }
}

/// The daemon's reading of one item entry (`wire::entry_value`), checked.
fn value_of(entry: &HashMap<String, OwnedValue>) -> Decoded {
    let decoded = wire::entry_value(entry);
    if let Ok(v) = &decoded {
        check_value(v);
    }
    decoded
}

/// A decoded value survives the trip back to the wire, and every text format accepts it.
fn check_value(v: &Value) {
    assert_eq!(
        wire::decode(&wire::to_variant(&v)).as_ref(),
        Ok(v),
        "encode/decode round trip"
    );
    let _ = wire::to_owned_variant(&v);
    for f in [
        Format::Plain,
        Format::VOLT,
        Format::PERCENT,
        Format::SECONDS,
        Format::Hex,
        Format::Firmware,
    ] {
        let _ = f.text(v);
    }
    let _ = (v.as_f64(), v.as_u32(), v.as_str(), v.is_valid());
}

/// A valid SmartShunt identity for `service`, as `GetItems` would report it.
fn identity(instance: u32) -> Vec<(String, Decoded)> {
    vec![
        (paths::DEVICE_INSTANCE.into(), Ok(Value::Uint(instance))),
        (paths::PRODUCT_ID.into(), Ok(Value::Uint(0xA389))),
        (
            paths::PRODUCT_NAME.into(),
            Ok(Value::Text("SmartShunt 500A/50mV".into())),
        ),
        (paths::CONNECTED.into(), Ok(Value::Uint(1))),
    ]
}

struct Harness {
    bank: Bank,
    policy: Policy,
    settings: Settings,
    start: Instant,
    now: Instant,
}

impl Harness {
    fn new(total_capacity: Option<f64>) -> Harness {
        let cfg = Config::default();
        let start = Instant::now();
        Harness {
            bank: Bank::new(bank::Options {
                stale_timeout: STALE,
                offline_grace: GRACE,
                circuit_time: Duration::from_secs(60),
                exclude: vec![],
                switched_off: Default::default(),
                own_name: OWN_NAME.into(),
            }),
            policy: Policy::new(Limits {
                charge_voltage: 14.2,
                charge_current: CHARGE_CURRENT,
                discharge_current: DISCHARGE_CURRENT,
                ..Limits::from_config(&cfg)
            }),
            settings: Settings {
                total_capacity,
                temp_cold_danger: cfg.temp_cold_danger,
                temp_hot_danger: cfg.temp_hot_danger,
            },
            start,
            now: start,
        }
    }

    fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
    }

    fn appeared(&mut self, service: &str, instance: u32, items: Vec<(String, Decoded)>) {
        let mut all = identity(instance);
        all.extend(items);
        let fx = self.bank.on_appeared(service, &all, self.now);
        // As the daemon: every member that joins gets its capacity register read; answer
        // alternately with a capacity and with "no register".
        for (i, (service, instance)) in fx.read_capacity.into_iter().enumerate() {
            let ah = (i % 2 == 0).then_some(100.0 + f64::from(instance % 400));
            self.bank.set_capacity(&service, instance, ah);
        }
    }

    /// One aggregation pass, as `Daemon::pass`, with the invariants checked.
    fn pass(&mut self) {
        self.bank.refresh(self.now);
        let view = self.bank.view();
        let outputs = aggregate::compute(&view, &self.settings);
        for (path, v) in &outputs {
            if let Some(x) = v {
                assert!(
                    x.is_finite(),
                    "compute() gave {path} = {x} at t+{:?}\nmembers: {:#?}",
                    self.now - self.start,
                    self.bank.members()
                );
            }
            if let Some(row) = paths::quantity(path) {
                let _ = row.value(*v);
            }
        }
        let d = self.policy.decide(&view, self.now);
        for (what, x, max) in [
            ("charge", d.charge_current, CHARGE_CURRENT),
            ("discharge", d.discharge_current, DISCHARGE_CURRENT),
        ] {
            assert!(
                x.is_finite() && (0.0..=max + 1e-9).contains(&x),
                "BMS {what} current {x} at t+{:?}\nmembers: {:#?}",
                self.now - self.start,
                self.bank.members()
            );
        }
        let mut slots = HashSet::new();
        let mut services = HashSet::new();
        for m in self.bank.members() {
            assert!(slots.insert(m.slot), "slot {} used twice", m.slot);
            assert!(
                services.insert(m.service.as_str()),
                "{} has two records",
                m.service
            );
            let _ = frame::member_values(m);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Wire mode

fn wire(flags: u8, mut rest: &[u8]) {
    let big_endian = flags & 1 != 0;
    let props = flags & 2 != 0;
    let total = (flags & 4 != 0).then_some(400.0);
    let step = STEPS[usize::from(flags >> 5)];
    let paths = known_paths();
    let mut h = Harness::new(total);
    // Body n: 0 appears on S5, 1 changes S5, 2 appears on S6, then changes alternately.
    for n in 0..8 {
        let path = if props {
            let Some((&sel, tail)) = rest.split_first() else {
                break;
            };
            rest = tail;
            Some(paths[usize::from(sel) % paths.len()])
        } else {
            None
        };
        let Ok((items, used)) = decode_body(rest, big_endian, path) else {
            break;
        };
        rest = &rest[used.min(rest.len())..];
        match n {
            0 => h.appeared(SERVICES[0], 279, items),
            2 => h.appeared(SERVICES[1], 280, items),
            n => {
                h.bank.on_changed(SERVICES[(n + 1) % 2], &items, h.now);
            }
        }
        h.pass();
        h.advance(step);
        h.pass();
        if used == 0 {
            break; // an empty body consumed nothing: the next one would be the same
        }
    }
}

// ---------------------------------------------------------------------------------------
// Script mode

#[derive(Arbitrary, Debug)]
enum Wire {
    Invalid,
    InvalidVariants,
    Double(f64),
    U32(u32),
    I32(i32),
    I64(i64),
    U64(u64),
    U16(u16),
    I16(i16),
    U8(u8),
    Bool(bool),
    Str(String),
    Doubles(Vec<f64>),
    Pair(u32, String),
    Nested(u8, Box<Wire>),
}

impl Wire {
    /// The variant; nesting stops at 12 levels (zvariant refuses to write much deeper).
    fn to_value(&self) -> zvariant::Value<'static> {
        self.nested(0)
    }

    fn nested(&self, depth: u32) -> zvariant::Value<'static> {
        use zvariant::Value as Z;
        match self {
            Wire::Invalid => Z::Array(Array::new(&Signature::I32)),
            Wire::InvalidVariants => Z::Array(Array::new(&Signature::Variant)),
            Wire::Double(d) => Z::F64(*d),
            Wire::U32(n) => Z::U32(*n),
            Wire::I32(n) => Z::I32(*n),
            Wire::I64(n) => Z::I64(*n),
            Wire::U64(n) => Z::U64(*n),
            Wire::U16(n) => Z::U16(*n),
            Wire::I16(n) => Z::I16(*n),
            Wire::U8(n) => Z::U8(*n),
            Wire::Bool(b) => Z::Bool(*b),
            Wire::Str(s) => Z::from(no_nul(s)),
            Wire::Doubles(v) => Z::Array(Array::from(v.clone())),
            Wire::Pair(n, s) => Z::Structure(Structure::from((*n, no_nul(s)))),
            Wire::Nested(wraps, inner) => {
                let wraps = u32::from(wraps % 8).min(12u32.saturating_sub(depth));
                let mut v = inner.nested(depth + wraps);
                for _ in 0..wraps {
                    v = Z::Value(Box::new(v));
                }
                v
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum PathSel {
    Known(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Item {
    path: PathSel,
    value: Wire,
    /// Leave out `"Value"` (only `"Text"`), which the daemon refuses.
    no_value: bool,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Appeared {
        shunt: u8,
        instance: u16,
        items: Vec<Item>,
    },
    Changed {
        shunt: u8,
        items: Vec<Item>,
    },
    Property {
        shunt: u8,
        item: Item,
    },
    Vanished {
        shunt: u8,
    },
    Capacity {
        shunt: u8,
        instance: u16,
        ah: u16,
    },
    Advance {
        step: u8,
    },
}

fn path_of(sel: &PathSel, known: &[&'static str]) -> String {
    match sel {
        PathSel::Known(i) => known[usize::from(*i) % known.len()].to_owned(),
        PathSel::Other(s) => no_nul(s),
    }
}

/// D-Bus strings cannot hold NUL (zvariant writes them but rightly refuses to read them, and
/// a bus daemon drops such a message), so generated strings leave it out.
fn no_nul(s: &str) -> String {
    s.replace('\0', "")
}

fn entry(item: &Item) -> HashMap<String, zvariant::Value<'static>> {
    let mut e = HashMap::from([("Text".to_owned(), zvariant::Value::from("fuzz"))]);
    if !item.no_value {
        e.insert("Value".to_owned(), item.value.to_value());
    }
    e
}

/// Serialises the items as an `ItemsChanged` body and decodes it back like the daemon.
/// `None` if zvariant will not write it (then no peer could have sent it).
fn items_body(
    items: &[Item],
    known: &[&'static str],
    big_endian: bool,
) -> Option<Vec<(String, Decoded)>> {
    let map: HashMap<String, HashMap<String, zvariant::Value<'static>>> = items
        .iter()
        .map(|i| (path_of(&i.path, known), entry(i)))
        .collect();
    let ctx = if big_endian {
        Context::new_dbus(BE, 0)
    } else {
        Context::new_dbus(LE, 0)
    };
    let bytes = zvariant::to_bytes(ctx, &map).ok()?;
    match decode_body(&bytes, big_endian, None) {
        Ok((items, _)) => Some(items),
        Err(e) => panic!("zvariant cannot read the body it wrote: {e}\n{map:?}"),
    }
}

fn script(flags: u8, rest: &[u8]) {
    let Ok(ops) = Unstructured::new(rest).arbitrary::<Vec<Op>>() else {
        return;
    };
    let big_endian = flags & 1 != 0;
    let known = known_paths();
    let mut h = Harness::new((flags & 4 != 0).then_some(400.0));
    for op in ops.iter().take(64) {
        match op {
            Op::Appeared {
                shunt,
                instance,
                items,
            } => {
                let Some(items) = items_body(items, &known, big_endian) else {
                    continue;
                };
                h.appeared(
                    SERVICES[usize::from(*shunt) % 3],
                    u32::from(*instance % 1000),
                    items,
                );
            }
            Op::Changed { shunt, items } => {
                let Some(items) = items_body(items, &known, big_endian) else {
                    continue;
                };
                h.bank
                    .on_changed(SERVICES[usize::from(*shunt) % 3], &items, h.now);
            }
            Op::Property { shunt, item } => {
                let ctx = if big_endian {
                    Context::new_dbus(BE, 0)
                } else {
                    Context::new_dbus(LE, 0)
                };
                let Ok(bytes) = zvariant::to_bytes(ctx, &entry(item)) else {
                    continue;
                };
                let path = path_of(&item.path, &known);
                let (items, _) = match decode_body(&bytes, big_endian, Some(&path)) {
                    Ok(decoded) => decoded,
                    Err(e) => panic!("zvariant cannot read the body it wrote: {e}\n{item:?}"),
                };
                h.bank
                    .on_changed(SERVICES[usize::from(*shunt) % 3], &items, h.now);
            }
            Op::Vanished { shunt } => h.bank.on_vanished(SERVICES[usize::from(*shunt) % 3]),
            Op::Capacity {
                shunt,
                instance,
                ah,
            } => {
                // vreg::battery_capacity: a u16 register, 0 means none.
                let ah = Some(*ah).filter(|a| *a > 0).map(f64::from);
                h.bank.set_capacity(
                    SERVICES[usize::from(*shunt) % 3],
                    u32::from(*instance % 1000),
                    ah,
                );
            }
            Op::Advance { step } => h.advance(STEPS[usize::from(*step) % STEPS.len()]),
        }
        h.pass();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    if flags & 8 == 0 {
        wire(flags, rest)
    } else {
        script(flags, rest)
    }
});
