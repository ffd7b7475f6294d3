//! End-to-end figures (`make bench`): a private dbus-daemon, a separate process playing
//! simulated SmartShunts (and, for the busy bus, the other services of a GX), the real daemon
//! (release build), and this process subscribing to the aggregate as systemcalc does. Every
//! scenario runs twice in the same run: once with the daemon and once with the floor,
//! shared/bench-floor's `null-agg --per-sender` (C on sd-bus: one match rule per member, one
//! sum, one `ItemsChanged` per member signal), so each figure has its floor beside it. Prints one
//! table; no pass/fail thresholds (figures, not timed tests).

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

const IDLE: Duration = Duration::from_secs(4);

#[derive(Clone, Copy, PartialEq)]
enum Program {
    Daemon,
    Floor,
    /// The device build (`packaging/build.sh armv7`) under qemu-user: only its RSS means
    /// anything (the guest's pages, see [`guest_rss_kb`]); its CPU is the emulator's.
    Armv7,
}

impl Program {
    fn name(self) -> &'static str {
        match self {
            Program::Daemon => "dbus-aggregate-smartshunts",
            Program::Floor => "floor (null-agg --per-sender)",
            Program::Armv7 => "armv7 device build under qemu (RSS only)",
        }
    }
}

/// The armv7 release binary, when `packaging/build.sh armv7` (or `make test`) has built it.
fn armv7_path() -> String {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_owned());
    format!("{target}/armv7-unknown-linux-gnueabihf/release/dbus-aggregate-smartshunts")
}

/// The resident pages of a qemu-user guest: qemu maps the 32-bit guest's whole address space
/// below 4 GiB of its own, so the mappings there (the binary, its libraries, heap, stacks) are
/// the guest's and everything above is the emulator's.
fn guest_rss_kb(pid: u32) -> f64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let (mut kb, mut guest) = (0.0, false);
    for line in smaps.lines() {
        if let Some(range) = line.split_whitespace().next().filter(|w| w.contains('-') && !w.ends_with(':')) {
            guest = range.split('-').next().and_then(|a| u64::from_str_radix(a, 16).ok()).is_some_and(|a| a < 1 << 32);
        } else if let (true, Some(v)) = (guest, line.strip_prefix("Rss:")) {
            kb += v.trim().trim_end_matches("kB").trim().parse::<f64>().unwrap_or(0.0);
        }
    }
    kb
}

/// The floor binary: `BENCH_FLOOR`, else `target/null-agg` as `make bench` builds it.
fn floor_path() -> String {
    std::env::var("BENCH_FLOOR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/null-agg").to_owned())
}

#[derive(Clone, Copy)]
enum Scenario {
    /// N members, each changing its current RATE times a second for SECONDS.
    Members { n: usize, rate: f64, seconds: f64 },
    /// N constant members; the four foreign services emit RATE `ItemsChanged` a second each.
    Busy { n: usize, rate: f64, seconds: f64 },
}

impl Scenario {
    fn label(self) -> String {
        match self {
            Scenario::Members { n, rate, .. } => format!("{n} shunts, {:.0} member changes/s", rate * n as f64),
            Scenario::Busy { n, rate, .. } => {
                format!("busy bus: {n} constant shunts, {:.0} foreign ItemsChanged/s", rate * FOREIGN.len() as f64)
            }
        }
    }
}

struct Row {
    scenario: String,
    program: Program,
    inputs: u64,
    cpu_us: f64,
    bus_cpu_us: f64,
    total: Vec<f64>,
    bus: Vec<f64>,
    signals_per_input: f64,
    idle_per_s: f64,
    peak_rss_mb: f64,
    anon_mb: f64,
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

fn number(body: &ItemsDict, path: &str) -> Option<f64> {
    body.get(path).and_then(|e| wire::entry_value(e).ok()).and_then(|v| v.as_f64())
}

/// The members' currents at the start (see `sim_main`: shunt i draws 1 + i A).
fn initial(n: usize) -> Vec<f64> {
    (0..n).map(|i| -1.0 - i as f64).collect()
}

async fn measure(program: Program, scenario: Scenario) -> Row {
    let bus = PrivateBus::start("bench").expect("dbus-daemon");
    let (n, member_rate, member_seconds, foreign) = match scenario {
        Scenario::Members { n, rate, seconds } => (n, rate, seconds, None),
        // Members that never change: their simulator is never told to go.
        Scenario::Busy { n, rate, seconds } => (n, 1.0, 1.0, Some((rate, seconds))),
    };
    let mut sim = SimChild::spawn(&bus.address, &[n.to_string(), member_rate.to_string(), member_seconds.to_string()]);
    sim.expect("READY", Duration::from_secs(30));
    let mut others = foreign.map(|(rate, seconds)| {
        let c = SimChild::spawn_mode("--foreign", &bus.address, &[rate.to_string(), seconds.to_string()]);
        c.expect("READY", Duration::from_secs(30));
        c
    });
    let client = sim::connect(&bus.address).await.expect("client");
    let rule = MatchRule::builder().msg_type(Type::Signal).interface("com.victronenergy.BusItem").unwrap().member("ItemsChanged").unwrap().build();
    let mut stream = MessageStream::for_match_rule(rule, &client, Some(1 << 20)).await.expect("match");

    // Startup: process start to the name on the bus with every member's current in GetItems.
    let t0 = Instant::now();
    let mut child = match program {
        Program::Daemon => spawn_daemon(&bus.address, bus.dir(), ""),
        Program::Floor => spawn_program(&floor_path(), &["--per-sender"], &bus.address, bus.dir(), ""),
        Program::Armv7 => {
            let bin = armv7_path();
            spawn_program("qemu-arm-static", &["-L", "/usr/arm-linux-gnueabihf", &bin], &bus.address, bus.dir(), "")
        }
    };
    // The floor counts every battery service, the foreign battery's 0 A included.
    let want: f64 = initial(n).iter().sum();
    loop {
        if let Ok(items) = get_items(&client, SERVICE_NAME).await {
            let online = program == Program::Floor || items.get("/System/NrOfModulesOnline").and_then(|(v, _)| v.as_u32()) == Some(n as u32);
            let current = items.get("/Dc/0/Current").and_then(|(v, _)| v.as_f64());
            if online && current.is_some_and(|c| (c - want).abs() < 0.05) {
                break;
            }
        }
        smol::Timer::after(Duration::from_millis(2)).await;
        assert!(t0.elapsed() < Duration::from_secs(60), "{} did not start", program.name());
    }
    let startup_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let dbus = zbus::fdo::DBusProxy::new(&client).await.expect("dbus");
    let owner = dbus.get_name_owner(SERVICE_NAME.try_into().expect("name")).await.expect("owner").to_string();
    let pid = child.id();

    // Settle, drop what arrived so far.
    smol::Timer::after(Duration::from_secs(1)).await;
    while let Some(Some(_)) = smol::future::poll_once(stream.next()).await {}

    let (cpu0, bus0) = (cpu_us(pid), cpu_us(bus.pid()));
    let seconds = match (&mut others, scenario) {
        (Some(c), Scenario::Busy { seconds, .. }) => {
            c.go();
            seconds
        }
        (_, Scenario::Members { seconds, .. }) => {
            sim.go();
            seconds
        }
        _ => unreachable!("a busy scenario has its foreign services"),
    };
    let mut currents = initial(n);
    let mut pending: Vec<(f64, f64)> = Vec::new(); // (expected aggregate current, sent at µs)
    let (mut total, mut bus_hop) = (Vec::new(), Vec::new());
    let mut agg_signals = 0u64;
    // The guest's peak, sampled (qemu's own VmHWM would count the emulator).
    let mut guest_peak_kb = 0.0f64;
    let mut sampled = Instant::now();
    let end = Instant::now() + Duration::from_secs_f64(seconds + 1.5);
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
        if program == Program::Armv7 && sampled.elapsed() >= Duration::from_millis(50) {
            guest_peak_kb = guest_peak_kb.max(guest_rss_kb(pid));
            sampled = Instant::now();
        }
        let sender = msg.header().sender().map(|s| s.to_string()).unwrap_or_default();
        if sender == owner {
            agg_signals += 1;
        }
        let Ok(body) = msg.body().deserialize::<ItemsDict>() else {
            continue;
        };
        if sender == owner {
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
    let done = others.as_ref().unwrap_or(&sim);
    let inputs: u64 = done.expect("SENT", Duration::from_secs(5)).split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let (cpu1, bus1) = (cpu_us(pid), cpu_us(bus.pid()));

    // All inputs constant: count what the aggregate still sends.
    while let Some(Some(_)) = smol::future::poll_once(stream.next()).await {}
    let mut idle = 0u64;
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
    let (peak_rss_mb, anon_mb) = match program {
        Program::Armv7 => (guest_peak_kb.max(guest_rss_kb(pid)) / 1024.0, f64::NAN),
        _ => (status_kb(pid, "VmHWM") / 1024.0, status_kb(pid, "RssAnon") / 1024.0),
    };
    child.kill();
    let per = |x: f64| x / inputs.max(1) as f64;
    Row {
        scenario: scenario.label(),
        program,
        inputs,
        unmatched: if matches!(scenario, Scenario::Members { .. }) { pending.len() } else { 0 },
        cpu_us: per(cpu1 - cpu0),
        bus_cpu_us: per(bus1 - bus0),
        total,
        bus: bus_hop,
        signals_per_input: per(agg_signals as f64),
        idle_per_s: idle as f64 / IDLE.as_secs_f64(),
        peak_rss_mb,
        anon_mb,
        startup_ms,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "--sim") {
        sim_main(&args[pos + 1..]);
        return;
    }
    if let Some(pos) = args.iter().position(|a| a == "--foreign") {
        foreign_main(&args[pos + 1..]);
        return;
    }
    let floor = std::path::Path::new(&floor_path()).exists();
    println!("end-to-end benchmark, release build; each scenario with the daemon and with the floor in the same run");
    println!("machine: {}\n", machine());
    if !floor {
        println!("(no floor at {}: build it with `make bench`, which runs make -C ../shared/bench-floor)\n", floor_path());
    }
    let scenarios = [
        Scenario::Members { n: 3, rate: 100.0 / 3.0, seconds: 20.0 },
        Scenario::Members { n: 16, rate: 50.0, seconds: 8.0 },
        Scenario::Busy { n: 3, rate: 75.0, seconds: 10.0 },
    ];
    let armv7 = std::path::Path::new(&armv7_path()).exists() && std::process::Command::new("qemu-arm-static").arg("--version").output().is_ok();
    let mut rows = Vec::new();
    for (i, s) in scenarios.into_iter().enumerate() {
        for p in [Program::Daemon, Program::Floor, Program::Armv7] {
            if (p == Program::Floor && !floor) || (p == Program::Armv7 && (!armv7 || i > 0)) {
                continue;
            }
            rows.push(aggregate_shunts::rt::block_on(measure(p, s)));
        }
    }
    if !armv7 {
        println!("(no armv7 row: build {} with packaging/build.sh armv7; qemu-user-static runs it)\n", armv7_path());
    }
    println!(
        "| scenario | program | inputs | CPU µs per input (= ms per 1000) | × floor | dbus-daemon CPU µs per input | input → aggregate seen, p50 / p99 / max ms | dbus-daemon alone, p50 / p99 ms | aggregate signals per input | signals/s, inputs constant | peak RSS MB (anon) | startup ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let floors: Vec<(String, f64)> = rows.iter().filter(|r| r.program == Program::Floor).map(|r| (r.scenario.clone(), r.cpu_us)).collect();
    for mut r in rows {
        let ratio = floors
            .iter()
            .find(|(s, _)| *s == r.scenario && r.program != Program::Armv7)
            .map_or("".to_owned(), |(_, f)| format!("{:.2}", r.cpu_us / f));
        let t = (pct(&mut r.total, 0.5), pct(&mut r.total, 0.99), pct(&mut r.total, 1.0));
        let b = (pct(&mut r.bus, 0.5), pct(&mut r.bus, 0.99));
        let lat = if r.total.is_empty() { "–".to_owned() } else { format!("{:.2} / {:.2} / {:.2}", t.0, t.1, t.2) };
        let hop = if r.bus.is_empty() { "–".to_owned() } else { format!("{:.2} / {:.2}", b.0, b.1) };
        println!(
            "| {} | {} | {} | {} | {} | {:.1} | {} | {} | {:.3} | {:.1} | {:.2}{} | {:.0} |",
            r.scenario,
            r.program.name(),
            r.inputs,
            if r.program == Program::Armv7 { "(emulated)".to_owned() } else { format!("{:.1}", r.cpu_us) },
            ratio,
            r.bus_cpu_us,
            lat,
            hop,
            r.signals_per_input,
            r.idle_per_s,
            r.peak_rss_mb,
            if r.anon_mb.is_finite() { format!(" ({:.2})", r.anon_mb) } else { " (guest pages)".to_owned() },
            r.startup_ms
        );
        if r.unmatched > 0 {
            println!("  ({} member changes at the end had not appeared in the aggregate when the window closed)", r.unmatched);
        }
    }
}
