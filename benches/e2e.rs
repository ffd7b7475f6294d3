//! End-to-end figures (`make bench`): a private dbus-daemon, a separate process playing N
//! simulated SmartShunts at a fixed rate of value changes per shunt, the real daemon (release
//! build), and this process subscribing to the aggregate as systemcalc does. Prints one table;
//! no pass/fail thresholds (figures, not timed tests).

mod common;

use std::time::{Duration, Instant};

use aggregate_shunts::publish::SERVICE_NAME;
use aggregate_shunts::status::get_items;
use aggregate_shunts::tools::privbus::PrivateBus;
use aggregate_shunts::tools::sim;
use aggregate_shunts::venus::wire::{self, ItemsDict};
use common::*;
use smol::stream::StreamExt;
use zbus::{MatchRule, MessageStream, message::Type};

const RATE: f64 = 50.0; // changes per shunt per second
const SECONDS: f64 = 8.0;
const IDLE: Duration = Duration::from_secs(5);

struct Row {
    n: usize,
    sent: u64,
    total: Vec<f64>,
    bus: Vec<f64>,
    cpu_per_1000: f64,
    peak_rss_mb: f64,
    signals_per_change: f64,
    idle_per_s: f64,
    idle_cpu_ms_per_s: f64,
    startup_ms: f64,
    unmatched: usize,
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

type Body = ItemsDict;

fn number(body: &Body, path: &str) -> Option<f64> {
    body.get(path).and_then(|e| wire::entry_value(e).ok()).and_then(|v| v.as_f64())
}

async fn measure(n: usize) -> Row {
    let bus = PrivateBus::start("bench").expect("dbus-daemon");
    let mut sim = SimChild::spawn(&bus.address, &[n.to_string(), RATE.to_string(), SECONDS.to_string()]);
    sim.expect("READY", Duration::from_secs(30));
    let client = sim::connect(&bus.address).await.expect("client");
    let rule = MatchRule::builder().msg_type(Type::Signal).interface("com.victronenergy.BusItem").unwrap().member("ItemsChanged").unwrap().build();
    let mut stream = MessageStream::for_match_rule(rule, &client, Some(1 << 20)).await.expect("match");

    // Startup: process start to the name on the bus with a full GetItems.
    let t0 = Instant::now();
    let mut daemon = spawn_daemon(&bus.address, bus.dir(), "");
    loop {
        if let Ok(items) = get_items(&client, SERVICE_NAME).await {
            if items.get("/System/NrOfModulesOnline").and_then(|(v, _)| v.as_u32()) == Some(n as u32) {
                break;
            }
        }
        smol::Timer::after(Duration::from_millis(2)).await;
        assert!(t0.elapsed() < Duration::from_secs(30), "daemon did not start");
    }
    let startup_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let dbus = zbus::fdo::DBusProxy::new(&client).await.expect("dbus");
    let owner = dbus.get_name_owner(SERVICE_NAME.try_into().expect("name")).await.expect("owner").to_string();
    let pid = daemon.id();

    // Settle, drop what arrived so far.
    smol::Timer::after(Duration::from_secs(1)).await;
    while let Some(Some(_)) = smol::future::poll_once(stream.next()).await {}

    let cpu0 = cpu_ms(pid);
    sim.go();
    let mut currents: Vec<f64> = (0..n).map(|i| -1.0 - i as f64).collect();
    let mut pending: Vec<(f64, f64)> = Vec::new(); // (expected aggregate current, sent at µs)
    let (mut total, mut bus_hop) = (Vec::new(), Vec::new());
    let mut agg_signals = 0u64;
    let end = Instant::now() + Duration::from_secs_f64(SECONDS + 1.5);
    while Instant::now() < end {
        let next = async { stream.next().await };
        let timeout = async {
            smol::Timer::at(end).await;
            None
        };
        let Some(Ok(msg)) = smol::future::or(next, timeout).await else {
            continue;
        };
        let now = wall_us();
        let sender = msg.header().sender().map(|s| s.to_string()).unwrap_or_default();
        let Ok(body) = msg.body().deserialize::<Body>() else {
            continue;
        };
        if sender == owner {
            agg_signals += 1;
            if let Some(c) = number(&body, "/Dc/0/Current") {
                if let Some(pos) = pending.iter().rposition(|(e, _)| (e - c).abs() < 0.05) {
                    for (_, sent) in pending.drain(..=pos) {
                        total.push((now - sent) / 1000.0);
                    }
                }
            }
        } else if let (Some(sent), Some(c)) = (number(&body, SENT_AT), number(&body, "/Dc/0/Current")) {
            bus_hop.push((now - sent) / 1000.0);
            // c is -1 - i or -1.5 - i for shunt i (see sim_main).
            let i = (-c - 1.0).floor() as usize;
            if let Some(slot) = currents.get_mut(i) {
                *slot = c;
            }
            let sum: f64 = currents.iter().sum();
            pending.push(((sum * 10.0).round() / 10.0, sent));
        }
    }
    let sent: u64 = sim.expect("SENT", Duration::from_secs(5)).split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let cpu1 = cpu_ms(pid);

    // All inputs constant: count what the aggregate still sends.
    while let Some(Some(_)) = smol::future::poll_once(stream.next()).await {}
    let mut idle = 0u64;
    let idle_cpu0 = cpu_ms(pid);
    let idle_end = Instant::now() + IDLE;
    while Instant::now() < idle_end {
        let next = async { stream.next().await };
        let timeout = async {
            smol::Timer::at(idle_end).await;
            None
        };
        if let Some(Ok(msg)) = smol::future::or(next, timeout).await {
            if msg.header().sender().is_some_and(|s| s.as_str() == owner) {
                idle += 1;
            }
        }
    }
    let idle_cpu_ms_per_s = (cpu_ms(pid) - idle_cpu0) / IDLE.as_secs_f64();
    let peak_rss_mb = status_kb(pid, "VmHWM") / 1024.0;
    daemon.kill();
    Row {
        n,
        sent,
        unmatched: pending.len(),
        total,
        bus: bus_hop,
        cpu_per_1000: (cpu1 - cpu0) / sent.max(1) as f64 * 1000.0,
        peak_rss_mb,
        signals_per_change: agg_signals as f64 / sent.max(1) as f64,
        idle_per_s: idle as f64 / IDLE.as_secs_f64(),
        idle_cpu_ms_per_s,
        startup_ms,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "--sim") {
        sim_main(&args[pos + 1..]);
        return;
    }
    println!("end-to-end benchmark: {} changes/s per shunt for {SECONDS} s, release build", RATE);
    println!("machine: {}\n", machine());
    let mut rows = Vec::new();
    for n in [1, 4, 16] {
        rows.push(aggregate_shunts::rt::block_on(measure(n)));
    }
    println!(
        "| shunts | member changes | change → aggregate seen, p50 / p99 / max ms | dbus-daemon alone, p50 / p99 / max ms | daemon CPU ms per 1000 changes | peak RSS MB | aggregate signals per change | signals/s, inputs constant | CPU ms/s, inputs constant | startup to full GetItems ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for mut r in rows {
        let t = (pct(&mut r.total, 0.5), pct(&mut r.total, 0.99), pct(&mut r.total, 1.0));
        let b = (pct(&mut r.bus, 0.5), pct(&mut r.bus, 0.99), pct(&mut r.bus, 1.0));
        println!(
            "| {} | {} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {:.0} |",
            r.n,
            r.sent,
            t.0,
            t.1,
            t.2,
            b.0,
            b.1,
            b.2,
            r.cpu_per_1000,
            r.peak_rss_mb,
            r.signals_per_change,
            r.idle_per_s,
            r.idle_cpu_ms_per_s,
            r.startup_ms
        );
        if r.unmatched > 0 {
            println!("  ({} member changes at the end had not appeared in the aggregate when the window closed)", r.unmatched);
        }
    }
}
