//! A bank built from real SmartShunt recordings (tests/data, Victron's venus-docker set),
//! checked against values this test computes itself from the recorded numbers.

use std::collections::HashMap;

use aggregate_shunts::tools::sim::Recording;
use aggregate_shunts::value::Value;

use crate::harness::*;

fn load(name: &str) -> Recording {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    Recording::parse(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn f(state: &HashMap<String, Value>, path: &str) -> f64 {
    state[path].as_f64().unwrap_or_else(|| panic!("{path} has no number"))
}

#[test]
fn recordings_parse() {
    for (name, events) in [("smartshunt-ip65-idle.tsv", 1000), ("smartshunt-ip65-discharge.tsv", 5), ("smartshunt-500a-charging.tsv", 400)] {
        let r = load(name);
        assert!(r.service.starts_with("com.victronenergy.battery."));
        assert!(r.initial.iter().any(|(p, _, _)| p == "/Dc/0/Voltage"));
        assert!(r.events.len() >= events, "{name}: {}", r.events.len());
    }
}

#[test]
fn a_bank_of_recorded_shunts() {
    run(async {
        let mut rig = Rig::new("recordings").await;
        // (recording, bus name, instance, capacity register)
        let bank = [
            ("smartshunt-ip65-idle.tsv", "com.victronenergy.battery.ttyUSB1", 289, 200u16),
            ("smartshunt-ip65-discharge.tsv", "com.victronenergy.battery.ttyUSB2", 291, 100),
            ("smartshunt-500a-charging.tsv", "com.victronenergy.battery.ttyUSB3", 290, 300),
        ];
        let mut services = Vec::new();
        let mut states = Vec::new();
        for (file, name, instance, cap) in bank {
            let rec = load(file);
            services.push(rec.serve(&rig.bus.address, name, instance, Some(cap)).await.unwrap());
            states.push((rec, f64::from(cap)));
        }
        let _d = rig.daemon("");

        // Expected values, computed here from the recorded numbers at t = 0.
        let at0: Vec<(HashMap<String, Value>, f64)> = states.iter().map(|(r, c)| (r.state_at(-1.0), *c)).collect();
        let current: f64 = at0.iter().map(|(s, _)| f(s, "/Dc/0/Current")).sum();
        let power: f64 = at0.iter().map(|(s, _)| f(s, "/Dc/0/Power")).sum();
        let consumed: f64 = at0.iter().map(|(s, _)| f(s, "/ConsumedAmphours")).sum();
        let cap: f64 = at0.iter().map(|(_, c)| c).sum();
        let soc = at0.iter().map(|(s, c)| f(s, "/Soc") * c).sum::<f64>() / cap;
        // The mean; while the bank charges, never below the highest member (chargers sense it).
        let mean = at0.iter().map(|(s, _)| f(s, "/Dc/0/Voltage")).sum::<f64>() / 3.0;
        let highest = at0.iter().map(|(s, _)| f(s, "/Dc/0/Voltage")).fold(f64::MIN, f64::max);
        let items = rig
            .until(10 * SEC, "the recorded bank", |i| {
                val(i, "/System/NrOfModulesOnline") == Value::Uint(3) && num(i, "/InstalledCapacity") == Some(600.0)
            })
            .await;
        assert!(close(num(&items, "/Dc/0/Current"), current, 0.051), "{:?} vs {current}", num(&items, "/Dc/0/Current"));
        assert!(close(num(&items, "/Dc/0/Power"), power, 0.51));
        assert!(close(num(&items, "/ConsumedAmphours"), consumed, 0.051));
        assert!(close(num(&items, "/Soc"), soc, 0.051), "{:?} vs {soc}", num(&items, "/Soc"));
        let volts = if current > 0.05 { highest } else { mean };
        assert!(close(num(&items, "/Dc/0/Voltage"), volts, 0.0051), "{:?} vs {volts}", num(&items, "/Dc/0/Voltage"));
        assert!(close(num(&items, "/Capacity"), 600.0 * soc / 100.0, 0.051), "{:?}", num(&items, "/Capacity"));
        // Time-to-go only while the bank discharges.
        if current < -0.05 {
            assert!(close(num(&items, "/TimeToGo"), 600.0 * soc / 100.0 / -current * 3600.0, 60.0));
        } else {
            assert_eq!(val(&items, "/TimeToGo"), Value::Invalid, "current {current} A");
        }
        // The ip65 recording has a temperature sensor reading 21 °C in the discharge file only.
        assert!(close(num(&items, "/Dc/0/Temperature"), 21.0, 0.051));
        // History: sums and extremes of the recorded counters.
        let sum = |p: &str| at0.iter().map(|(s, _)| f(s, p)).sum::<f64>();
        let min = |p: &str| at0.iter().map(|(s, _)| f(s, p)).fold(f64::INFINITY, f64::min);
        assert!(close(num(&items, "/History/TotalAhDrawn"), sum("/History/TotalAhDrawn"), 0.051));
        assert!(close(num(&items, "/History/ChargedEnergy"), sum("/History/ChargedEnergy"), 0.0051));
        assert!(close(num(&items, "/History/MinimumVoltage"), min("/History/MinimumVoltage"), 0.0051));

        // Replay the first 20 s of every recording, then compare again.
        for (svc, (rec, _)) in services.iter().zip(&states) {
            let changes: Vec<(String, Value)> = rec.events.iter().filter(|(t, _, _)| *t <= 20.0).map(|(_, p, v)| (p.clone(), v.clone())).collect();
            svc.update(changes).await.unwrap();
        }
        let at20: Vec<HashMap<String, Value>> = states.iter().map(|(r, _)| r.state_at(20.0)).collect();
        let current: f64 = at20.iter().map(|s| f(s, "/Dc/0/Current")).sum();
        rig.until(2 * SEC, "the replayed bank", |i| close(num(i, "/Dc/0/Current"), current, 0.051)).await;
    });
}
