//! Shared by the end-to-end benchmark and the soak: the simulator child process, and process
//! figures read from /proc.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdout, Command, Stdio};

use aggregate_shunts::tools::child::Guard;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aggregate_shunts::tools::sim::{Battery, ShuntSpec, SimShunt};
use aggregate_shunts::value::Value;

pub const DAEMON: &str = env!("CARGO_BIN_EXE_dbus-aggregate-smartshunts");
pub const SENT_AT: &str = "/Bench/SentAt";

/// Wall-clock microseconds (comparable across processes on one machine).
pub fn wall_us() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1e6).unwrap_or(0.0)
}

/// CPU time (user + system) of a process in milliseconds.
pub fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) * 1000.0 / clk_tck()
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU time (user + system) of every thread of a process in microseconds, from the
/// scheduler's own nanosecond account (`/proc/<pid>/task/*/schedstat`), not 10 ms ticks.
pub fn cpu_us(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0.0 };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|n| n.parse::<f64>().ok()))
        .sum::<f64>()
        / 1000.0
}

/// A `/proc/<pid>/status` field in kB (VmRSS, VmHWM).
pub fn status_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cpu}, {cores} cores, {}", std::env::consts::ARCH)
}

pub fn spawn_daemon(address: &str, dir: &std::path::Path, config: &str) -> Guard {
    spawn_program(DAEMON, &[], address, dir, config)
}

/// Starts `program` as the daemon would be started (a `--config` file, the private bus as the
/// system bus), with `args` first: the daemon itself, or the floor (`null-agg --per-sender`,
/// which accepts `--config` and ignores it).
pub fn spawn_program(program: &str, args: &[&str], address: &str, dir: &std::path::Path, config: &str) -> Guard {
    let cfg = dir.join("bench.ini");
    std::fs::write(&cfg, format!("[DEFAULT]\nLOGGING = WARNING\nLOG_PERIOD = 0\n{config}")).expect("config");
    Command::new(program)
        .args(args)
        .args(["--config", &cfg.to_string_lossy()])
        .env("DBUS_SYSTEM_BUS_ADDRESS", address)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map(Guard::new)
        .expect("start the daemon")
}

/// The simulator child: this same bench binary, re-executed with `--sim`.
pub struct SimChild {
    pub child: Guard,
    lines: std::sync::mpsc::Receiver<String>,
}

impl SimChild {
    /// `args` are passed through to [`sim_main`].
    pub fn spawn(address: &str, args: &[String]) -> SimChild {
        Self::spawn_mode("--sim", address, args)
    }

    /// `mode`: `--sim` ([`sim_main`]) or `--foreign` ([`foreign_main`]).
    pub fn spawn_mode(mode: &str, address: &str, args: &[String]) -> SimChild {
        let exe = std::env::current_exe().expect("own path");
        let mut child = Command::new(exe)
            .arg(mode)
            .arg(address)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("simulator");
        let out: ChildStdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        SimChild { child: Guard::new(child), lines }
    }

    /// Waits for a line starting with `prefix`; returns the rest.
    pub fn expect(&self, prefix: &str, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l[prefix.len()..].trim().to_owned(),
                Ok(_) => {}
                Err(_) => panic!("simulator did not say '{prefix}' within {limit:?}"),
            }
        }
    }

    /// Tells the child to go on to its next phase.
    pub fn go(&mut self) {
        if let Some(stdin) = self.child.inner().stdin.as_mut() {
            let _ = writeln!(stdin, "go");
        }
    }
}

/// Waits for "go" on stdin without blocking the executor that serves the shunts.
async fn wait_for_go() {
    smol::unblock(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await;
}

/// The services of a busy GX bus that are not members: a solar charger, a Multi, systemcalc and
/// a battery service that is no SmartShunt (a CAN-bus BMS), each with the path it changes.
pub const FOREIGN: [(&str, &str); 4] = [
    ("com.victronenergy.solarcharger.ttyS9", "/Yield/Power"),
    ("com.victronenergy.vebus.ttyS4", "/Ac/Out/L1/P"),
    ("com.victronenergy.system", "/Dc/Battery/Power"),
    ("com.victronenergy.battery.socketcan_can0", "/Dc/0/Current"),
];

/// Foreign child entry point: `--foreign ADDRESS RATE SECONDS`. Starts the [`FOREIGN`]
/// services, prints READY, waits for "go", then has each emit an `ItemsChanged` RATE times a
/// second (round robin) for SECONDS, prints `SENT <n>`, and idles until killed.
pub fn foreign_main(args: &[String]) {
    use aggregate_shunts::value::Format;
    use aggregate_shunts::venus::service::{Access, ItemSpec, Service};
    let [address, rate, seconds, ..] = args else { panic!("--foreign ADDRESS RATE SECONDS") };
    let rate: f64 = rate.parse().expect("RATE");
    let seconds: f64 = seconds.parse().expect("SECONDS");
    aggregate_shunts::rt::block_on(async {
        let mut services = Vec::new();
        for (name, path) in FOREIGN {
            if name.starts_with("com.victronenergy.battery.") {
                // A complete battery service, so the daemon looks at it as it would on a GX.
                let spec = ShuntSpec { product_id: 0xB00A, ..ShuntSpec::new("socketcan_can0", 512, None) };
                let s = SimShunt::start(address, spec, Some(&Battery::new(200.0, 50.0))).await.expect("battery");
                services.push((Err(s), path));
                continue;
            }
            let conn = aggregate_shunts::tools::sim::connect(address).await.expect("connect");
            let mut s = Service::new(&conn, None).await.expect("service");
            s.add(ItemSpec::new(path, Format::Plain, Access::Any), Value::Double(0.0)).await.expect("path");
            s.request_name(name).await.expect("name");
            services.push((Ok(s), path));
        }
        println!("READY");
        wait_for_go().await;
        let period = Duration::from_secs_f64(1.0 / (rate * services.len() as f64));
        let start = std::time::Instant::now();
        let mut next = start;
        let mut sent: u64 = 0;
        while start.elapsed().as_secs_f64() < seconds {
            next += period;
            let (s, path) = &services[sent as usize % services.len()];
            let v = [(*path, Value::Double(-((sent % 97) as f64) - 1.0))];
            match s {
                Ok(s) => s.update(v).await.expect("update"),
                Err(s) => s.set(v).await.expect("set"),
            };
            sent += 1;
            let now = std::time::Instant::now();
            if next > now {
                smol::Timer::at(next).await;
            }
        }
        println!("SENT {sent}");
        loop {
            smol::Timer::after(Duration::from_secs(3600)).await;
        }
    });
}

/// Simulator child entry point: `--sim ADDRESS N RATE SECONDS [CHURN_MS]`.
/// Starts N shunts, prints READY, waits for "go", then changes one shunt's current
/// RATE×N times a second (round robin, each with a send timestamp) for SECONDS, prints
/// `SENT <n>`, and idles until killed. With CHURN_MS > 0 one shunt also leaves and rejoins
/// the bus every CHURN_MS milliseconds (soak).
pub fn sim_main(args: &[String]) {
    let [address, n, rate, seconds, rest @ ..] = args else { panic!("--sim ADDRESS N RATE SECONDS [CHURN_MS]") };
    let n: usize = n.parse().expect("N");
    let rate: f64 = rate.parse().expect("RATE");
    let seconds: f64 = seconds.parse().expect("SECONDS");
    let churn_ms: u64 = rest.first().and_then(|c| c.parse().ok()).unwrap_or(0);
    aggregate_shunts::rt::block_on(async {
        let spec = |i: usize| ShuntSpec::new(&format!("bench{i}"), 300 + i as u32, Some(100 + 10 * i as u16));
        let battery = |i: usize| {
            let mut b = Battery::new(100.0 + 10.0 * i as f64, 70.0);
            b.current = -1.0 - i as f64;
            b
        };
        let mut shunts = Vec::new();
        for i in 0..n {
            let mut s = SimShunt::start(address, spec(i), Some(&battery(i))).await.expect("start shunt");
            s.add(SENT_AT, Value::Invalid).await.expect("bench path");
            shunts.push(Some(s));
        }
        println!("READY");
        wait_for_go().await;
        println!("ACTIVE");
        let period = Duration::from_secs_f64(1.0 / (rate * n as f64));
        let start = std::time::Instant::now();
        let mut next = start;
        let mut sent: u64 = 0;
        let mut churned: u64 = 0;
        let mut last_churn = start;
        while start.elapsed().as_secs_f64() < seconds {
            next += period;
            let i = (sent as usize) % n;
            let k = sent / n as u64;
            if let Some(s) = &shunts[i] {
                // Alternates between -1.5 - i and -1 - i (the initial value), so every change
                // moves the bank's current by 0.5 A.
                let current = -1.0 - i as f64 - if k.is_multiple_of(2) { 0.5 } else { 0.0 };
                s.set([("/Dc/0/Current", Value::Double(current)), (SENT_AT, Value::Double(wall_us()))]).await.expect("set");
                sent += 1;
            } else {
                sent += 1;
            }
            if churn_ms > 0 && last_churn.elapsed() >= Duration::from_millis(churn_ms) {
                last_churn = std::time::Instant::now();
                let j = (churned as usize) % n;
                if let Some(s) = shunts[j].take() {
                    s.stop().await.expect("leave");
                }
                let mut s = SimShunt::start(address, spec(j), Some(&battery(j))).await.expect("rejoin");
                s.add(SENT_AT, Value::Invalid).await.expect("bench path");
                shunts[j] = Some(s);
                churned += 1;
            }
            let now = std::time::Instant::now();
            if next > now {
                smol::Timer::at(next).await;
            }
        }
        println!("SENT {sent} {churned}");
        loop {
            smol::Timer::after(Duration::from_secs(3600)).await;
        }
    });
}
