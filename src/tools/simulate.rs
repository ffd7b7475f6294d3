//! `simulate`: simulated SmartShunts on the bus named by DBUS_SYSTEM_BUS_ADDRESS, for tests
//! that need a member in a process of its own (to stop it with SIGSTOP) and for trying the
//! daemon by hand.

use std::process::ExitCode;
use std::time::Duration;

use crate::domain::paths::Q;
use crate::tools::sim;
use crate::value::Value;

fn parse_shunt(arg: &str) -> Result<(sim::ShuntSpec, f64), String> {
    let f: Vec<&str> = arg.split(':').collect();
    let [port, instance, capacity, current] = f[..] else {
        return Err(format!("'{arg}': expected PORT:INSTANCE:CAPACITY_AH:CURRENT_A"));
    };
    let instance = instance.parse().map_err(|e| format!("'{arg}': instance: {e}"))?;
    let capacity: u16 = capacity.parse().map_err(|e| format!("'{arg}': capacity: {e}"))?;
    let current: f64 = current.parse().map_err(|e| format!("'{arg}': current: {e}"))?;
    Ok((sim::ShuntSpec::new(port, instance, Some(capacity)), current))
}

/// `simulate`: serves the given shunts on the bus until stopped.
pub fn run(args: &[String], usage: &str) -> ExitCode {
    let mut shunts = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--shunt", Some(v)) => match parse_shunt(v) {
                Ok(s) => shunts.push(s),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            },
            _ => {
                eprintln!("{usage}");
                return ExitCode::from(1);
            }
        }
    }
    let result: Result<(), String> = crate::rt::block_on(async {
        let address = std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| "unix:path=/var/run/dbus/system_bus_socket".into());
        let mut running = Vec::new();
        for (spec, current) in shunts {
            let mut b = sim::Battery::new(f64::from(spec.capacity_ah.unwrap_or(100)), 80.0);
            b.current = current;
            let s = sim::SimShunt::start(&address, spec, Some(&b)).await.map_err(|e| e.to_string())?;
            log::info!("simulating {} at {current} A", s.spec.service());
            running.push((s, b));
        }
        // The time since full charge ticks like a real one's; every other value stays as set
        // (any path can be changed with SetValue, e.g. `dbus -y`).
        loop {
            smol::Timer::after(Duration::from_secs(1)).await;
            for (s, b) in &mut running {
                b.since_full += 1.0;
                s.set([(Q::HistTimeSinceLastFullCharge.path(), Value::Uint(b.since_full as u32))]).await.map_err(|e| e.to_string())?;
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simulate: {e}");
            ExitCode::from(1)
        }
    }
}
