//! Bounded soak (`make soak`, SOAK_SECONDS=600 by default): 8 simulated shunts changing 250
//! times a second each while one of them leaves and rejoins the bus every 100 ms, against the
//! release daemon. Samples the daemon's RSS and open file descriptors every 10 s and prints
//! their growth, which must be flat. Figures, no thresholds.

mod common;

use std::time::{Duration, Instant};

use aggregate_shunts::publish::SERVICE_NAME;
use aggregate_shunts::status::get_items;
use aggregate_shunts::tools::privbus::PrivateBus;
use aggregate_shunts::tools::sim;
use common::*;

const SHUNTS: usize = 8;
const RATE: f64 = 250.0;
const CHURN_MS: u64 = 100;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "--sim") {
        sim_main(&args[pos + 1..]);
        return;
    }
    let seconds: u64 = std::env::var("SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    println!("soak: {SHUNTS} shunts x {RATE} changes/s, one leave+rejoin every {CHURN_MS} ms, {seconds} s");
    println!("machine: {}\n", machine());
    aggregate_shunts::rt::block_on(async {
        let bus = PrivateBus::start("soak").expect("dbus-daemon");
        let mut sim = SimChild::spawn(&bus.address, &[SHUNTS.to_string(), RATE.to_string(), seconds.to_string(), CHURN_MS.to_string()]);
        sim.expect("READY", Duration::from_secs(30));
        let client = sim::connect(&bus.address).await.expect("client");
        let mut daemon = spawn_daemon(&bus.address, bus.dir(), "OFFLINE_GRACE = 2\n");
        let pid = daemon.id();
        let t0 = Instant::now();
        while get_items(&client, SERVICE_NAME).await.ok().and_then(|i| i.get("/System/NrOfModulesOnline").and_then(|(v, _)| v.as_u32()))
            != Some(SHUNTS as u32)
        {
            assert!(t0.elapsed() < Duration::from_secs(30), "daemon did not start");
            smol::Timer::after(Duration::from_millis(20)).await;
        }
        sim.go();
        println!("| t s | RSS kB | open fds | daemon CPU s | GetItems ms |");
        println!("|---|---|---|---|---|");
        let start = Instant::now();
        let mut samples = Vec::new();
        while start.elapsed() < Duration::from_secs(seconds) {
            smol::Timer::after(Duration::from_secs(10).min(Duration::from_secs(seconds))).await;
            let q = Instant::now();
            let answered = get_items(&client, SERVICE_NAME).await.is_ok();
            let ms = q.elapsed().as_secs_f64() * 1000.0;
            let (rss, fds, cpu) = (status_kb(pid, "VmRSS"), open_fds(pid), cpu_ms(pid) / 1000.0);
            println!(
                "| {:.0} | {rss:.0} | {fds} | {cpu:.1} | {} |",
                start.elapsed().as_secs_f64(),
                if answered { format!("{ms:.1}") } else { "no answer".into() }
            );
            samples.push((rss, fds));
        }
        let done = sim.expect("SENT", Duration::from_secs(30));
        let mut parts = done.split_whitespace().map(|s| s.parse::<u64>().unwrap_or(0));
        let (sent, churned) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        // Growth from the first sample after warm-up to the last.
        let first = samples.get(1).or(samples.first()).copied().unwrap_or_default();
        let last = samples.last().copied().unwrap_or_default();
        println!("\nmember changes: {sent}, leave+rejoin cycles: {churned}");
        println!(
            "RSS: {:.0} kB -> {:.0} kB ({:+.0} kB), open fds: {} -> {} ({:+}), peak RSS {:.0} kB",
            first.0,
            last.0,
            last.0 - first.0,
            first.1,
            last.1,
            last.1 as i64 - first.1 as i64,
            status_kb(pid, "VmHWM")
        );
        let alive = daemon.inner().try_wait().ok().flatten().is_none();
        println!("daemon still running: {alive}");
        daemon.kill();
    });
}
