//! `demo`: a private bus, a stand-in localsettings, three simulated SmartShunts of different
//! capacities (one with a temperature sensor) following a load profile, the real daemon as a
//! child process, and a live terminal view. Ctrl-C or `--duration` ends it and leaves no
//! process or file behind.

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use smol::stream::StreamExt;

use crate::status;
use crate::tools::child::Guard;
use crate::tools::privbus::PrivateBus;
use crate::tools::sim::{Battery, FakeSettings, SettingsMode, ShuntSpec, SimShunt};

const DEMO_CONFIG: &str = "\
[DEFAULT]
DEVICE_NAME = \"Demo house bank\"
LOG_PERIOD = 20
OFFLINE_GRACE = 15
";

/// The daemon child; stopped with SIGTERM (then SIGKILL) when dropped.
struct DaemonChild(Guard);

impl Drop for DaemonChild {
    fn drop(&mut self) {
        self.0.stop_blocking(Duration::from_secs(3));
    }
}

struct Shunt {
    spec: ShuntSpec,
    battery: Battery,
    sim: Option<SimShunt>,
}

/// House load and solar (A, positive = charging) at `t` seconds.
fn profile(t: f64) -> f64 {
    let base = -18.0 - 12.0 * (t / 7.0).sin().abs();
    let kettle = if (t as u64 / 25).is_multiple_of(3) { -45.0 } else { 0.0 };
    let solar = 60.0 * (t / 40.0).sin().max(0.0);
    base + kettle + solar
}

pub fn run(duration: Option<Duration>) -> ExitCode {
    match crate::rt::block_on(demo(duration)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::from(1)
        }
    }
}

async fn demo(duration: Option<Duration>) -> Result<(), String> {
    let bus = PrivateBus::start("demo").map_err(|e| e.to_string())?;
    let config = bus.dir().join("demo.ini");
    std::fs::write(&config, DEMO_CONFIG).map_err(|e| e.to_string())?;
    let log_path = bus.dir().join("daemon.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;

    let _settings = FakeSettings::start(&bus.address, SettingsMode::Normal).await.map_err(|e| e.to_string())?;
    let mut shunts = vec![
        Shunt {
            spec: ShuntSpec { custom_name: "Port bank".into(), ..ShuntSpec::new("ttyS5", 279, Some(200)) },
            battery: Battery::new(200.0, 82.0),
            sim: None,
        },
        Shunt {
            spec: ShuntSpec { custom_name: "Starboard bank".into(), ..ShuntSpec::new("ttyS6", 280, Some(100)) },
            battery: Battery::new(100.0, 76.0),
            sim: None,
        },
        Shunt {
            spec: ShuntSpec { custom_name: "Forward bank".into(), has_temperature: true, product_id: 0xC030, ..ShuntSpec::new("ttyUSB0", 288, None) },
            battery: Battery { temperature: Some(21.0), ..Battery::new(280.0, 64.0) },
            sim: None,
        },
    ];
    for s in &mut shunts {
        s.sim = Some(SimShunt::start(&bus.address, s.spec.clone(), Some(&s.battery)).await.map_err(|e| e.to_string())?);
    }
    let stderr = log.try_clone().map_err(|e| e.to_string())?;
    let _daemon = DaemonChild(Guard::new(
        Command::new(exe)
            .args(["--config", &config.to_string_lossy()])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|e| e.to_string())?,
    ));
    let client = crate::tools::sim::connect(&bus.address).await.map_err(|e| e.to_string())?;
    let mut signals = async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term]).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut ticker = smol::Timer::interval(Duration::from_secs(1));
    loop {
        let stop = async {
            signals.next().await;
            true
        };
        let tick = async {
            ticker.next().await;
            false
        };
        if smol::future::or(stop, tick).await || duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        let t = start.elapsed().as_secs_f64();
        step(&bus.address, &mut shunts, t).await?;
        let view = status::render(&client).await.unwrap_or_else(|e| format!("waiting for the aggregate: {e}\n"));
        let tail: Vec<String> = std::fs::read_to_string(&log_path).unwrap_or_default().lines().rev().take(8).map(str::to_owned).collect();
        print!("\x1b[H\x1b[2J");
        println!("dbus-aggregate-smartshunts demo — t = {t:.0} s (Ctrl-C to stop)\n");
        println!("{view}");
        println!("  event: Starboard's shunt leaves the bus at 45 s and returns at 75 s;");
        println!("         Forward's temperature climbs past TEMP_HOT_DANGER around 60-100 s.\n");
        println!("daemon log (newest first):");
        for l in tail {
            println!("  {l}");
        }
    }
    println!("\ndemo stopped; cleaning up");
    Ok(())
}

/// Advances the simulated bank by one second and publishes it.
async fn step(address: &str, shunts: &mut [Shunt], t: f64) -> Result<(), String> {
    let gone = (45.0..75.0).contains(&t);
    let total = profile(t);
    let online_capacity: f64 = shunts.iter().filter(|s| !(gone && s.spec.port == "ttyS6")).map(|s| s.battery.capacity_ah).sum();
    for s in shunts.iter_mut() {
        let away = gone && s.spec.port == "ttyS6";
        s.battery.current = if away { 0.0 } else { total * s.battery.capacity_ah / online_capacity };
        if let Some(temp) = s.battery.temperature.as_mut() {
            *temp = 21.0 + 27.0 * ((t - 20.0) / 50.0).sin().max(0.0);
        }
        s.battery.advance(1.0);
        match (&s.sim, away) {
            (Some(_), true) => {
                if let Some(sim) = s.sim.take() {
                    sim.stop().await.map_err(|e| e.to_string())?;
                }
            }
            (None, false) => s.sim = Some(SimShunt::start(address, s.spec.clone(), Some(&s.battery)).await.map_err(|e| e.to_string())?),
            _ => {}
        }
        if let Some(sim) = &s.sim {
            sim.set(s.battery.readings()).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
