//! `simulate-charge`: the virtual-BMS policy, without a bus, over a simulated bank through a
//! full cycle (discharge to a low SoC, bulk, absorption, float, a load that triggers re-bulk,
//! a cold night and a hot afternoon), so a user sees what their settings will do before
//! trusting them with real batteries. Prints one line per stage or limit change; `--svg`
//! draws voltage, CVL, current, CCL, DCL and SoC against time.

use std::fmt::Write;
use std::time::{Duration, Instant};

use crate::config::{Config, DeviceMode};
use crate::domain::aggregate::{Member, Presence, Readings};
use crate::domain::bms::{Limits, Policy, cells, nominal};
use crate::domain::paths::Q;

/// One simulated battery of the bank.
struct Battery {
    capacity: f64,
    soc: f64,
}

/// LiFePO4 open-circuit voltage per cell by SoC (%).
const OCV: [(f64, f64); 11] = [
    (0.0, 2.80),
    (5.0, 3.10),
    (10.0, 3.20),
    (20.0, 3.25),
    (40.0, 3.28),
    (60.0, 3.30),
    (80.0, 3.33),
    (90.0, 3.35),
    (95.0, 3.38),
    (99.0, 3.45),
    (100.0, 3.60),
];

fn ocv(soc: f64) -> f64 {
    let soc = soc.clamp(0.0, 100.0);
    OCV.windows(2).find(|w| soc <= w[1].0).map_or(OCV[OCV.len() - 1].1, |w| w[0].1 + (w[1].1 - w[0].1) * (soc - w[0].0) / (w[1].0 - w[0].0))
}

/// What the world does at `h` hours: load (A, positive), charger available, temperature.
fn world(h: f64, capacity: f64) -> (f64, bool, f64) {
    match h {
        h if h < 5.0 => (0.15 * capacity, false, 20.0),  // evening and night: discharge
        h if h < 12.0 => (0.02 * capacity, true, 20.0),  // morning: charge to full
        h if h < 16.0 => (0.02 * capacity, true, 25.0),  // float
        h if h < 18.0 => (0.12 * capacity, false, 22.0), // a heavy load: re-bulk
        h if h < 22.0 => (0.02 * capacity, true, 2.0),   // a cold night: no charging
        h if h < 24.0 => (0.02 * capacity, true, 7.0),   // warming: tapered
        h if h < 27.0 => (0.05 * capacity, true, 44.0),  // a hot afternoon: tapered
        _ => (0.02 * capacity, true, 47.0),              // too hot
    }
}

/// One sample of the run.
pub struct Sample {
    h: f64,
    volts: f64,
    current: f64,
    soc: f64,
    cvl: f64,
    ccl: f64,
    dcl: f64,
}

/// Runs the cycle; returns the printed table and the samples.
pub fn run(cfg: &Config, capacities: &[f64]) -> Result<(String, Vec<Sample>), String> {
    if cfg.mode != DeviceMode::VirtualBms {
        return Err("simulate-charge needs DEVICE_MODE = virtual-bms and its limits in the configuration".into());
    }
    let limits = Limits::from_config(cfg);
    let n = nominal(limits.charge_voltage).map_or(4.0, cells);
    let total: f64 = capacities.iter().sum();
    let resistance = 0.001 * n / (total / 100.0);
    let mut bank: Vec<Battery> = capacities.iter().map(|&capacity| Battery { capacity, soc: 80.0 }).collect();
    let mut policy = Policy::new(limits);
    policy.settle();
    // A plain charger, not ESS feed-in: a charge stop is CCL 0 alone.
    policy.set_feed_in(Some(false));
    let t0 = Instant::now();
    let (step, hours) = (10.0, 30.0);
    let mut out = String::new();
    let _ = writeln!(out, "{:>8}  {:<28} {:>7} {:>7} {:>7}  why", "time", "stage", "CVL V", "CCL A", "DCL A");
    let mut samples = Vec::new();
    let (mut last_key, mut current) = (String::new(), 0.0f64);
    let mut t = 0.0;
    while t < hours * 3600.0 {
        let h = t / 3600.0;
        let (load, charger, temperature) = world(h, total);
        let soc = bank.iter().map(|b| b.soc * b.capacity).sum::<f64>() / total;
        let volts = ocv(soc) * n + current * resistance;
        let readings: Vec<Readings> = bank
            .iter()
            .map(|b| {
                let mut r = [None; Q::COUNT];
                r[Q::Voltage as usize] = Some(volts);
                r[Q::Current as usize] = Some(current * b.capacity / total);
                r[Q::Soc as usize] = Some(b.soc);
                r[Q::Temperature as usize] = Some(temperature);
                r[Q::HasTemperature as usize] = Some(1.0);
                r
            })
            .collect();
        let names: Vec<String> = (1..=bank.len()).map(|i| format!("Battery {i}")).collect();
        let members: Vec<Member> = bank
            .iter()
            .zip(&readings)
            .zip(&names)
            .map(|((b, r), name)| Member { id: name, name, presence: Presence::Online, capacity: Some(b.capacity), values: r, in_circuit: true })
            .collect();
        let d = policy.decide_at(&members, t0 + Duration::from_secs_f64(t), 1_700_000_000 + t as u64);
        // The charger regulates to the CVL within the CCL; the load takes what DCL allows.
        let room = ((d.charge_voltage - ocv(soc) * n) / resistance).max(0.0);
        let charge = if charger { room.min(d.charge_current).min(0.5 * total) } else { 0.0 };
        current = charge - load.min(d.discharge_current);
        for b in &mut bank {
            b.soc = (b.soc + current * b.capacity / total * step / 3600.0 / b.capacity * 100.0).clamp(0.0, 100.0);
        }
        let stage = d.charge_mode.split_whitespace().next().unwrap_or_default();
        // A new line when the stage or a rule changes, or a limit moves by a quarter.
        let shape = |t: &str| t.chars().filter(|c| !c.is_ascii_digit() && *c != '.').collect::<String>();
        let quarter = |x: f64, max: f64| if x <= 0.0 { -1 } else { (x / max * 4.0).round() as i64 };
        let key = format!(
            "{stage} {} {} {} {}",
            quarter(d.charge_current, limits.charge_current),
            quarter(d.discharge_current, limits.discharge_current),
            shape(&d.charge_text),
            shape(&d.discharge_text)
        );
        if key != last_key {
            last_key = key;
            let secs = t as u64;
            let why = if d.charge_current < limits.charge_current - 0.05 { d.charge_text.clone() } else { d.discharge_text.clone() };
            let why = if why.starts_with("Configured limit") && d.discharge_current < limits.discharge_current - 0.05 {
                d.discharge_text.clone()
            } else {
                why
            };
            let _ = writeln!(
                out,
                "{:>2}:{:02}:{:02}  {:<28} {:>7.2} {:>7.1} {:>7.1}  {why}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60,
                d.charge_mode,
                d.charge_voltage,
                d.charge_current,
                d.discharge_current
            );
        }
        samples.push(Sample { h, volts, current, soc, cvl: d.charge_voltage, ccl: d.charge_current, dcl: d.discharge_current });
        t += step;
    }
    Ok((out, samples))
}

/// One series of a panel: name, colour, value.
type Series = (&'static str, &'static str, fn(&Sample) -> f64);
/// One panel: its unit and its series.
type Panel = (&'static str, &'static [Series]);

/// The samples as an SVG: bank voltage and CVL, current with CCL and DCL, and SoC.
pub fn svg(samples: &[Sample]) -> String {
    let (w, ph, left) = (900.0, 160.0, 60.0);
    let hmax = samples.last().map_or(1.0, |s| s.h).max(1.0);
    let x = |h: f64| left + (w - left - 20.0) * h / hmax;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        3.0 * ph + 60.0
    );
    let panels: [Panel; 3] = [
        ("V", &[("bank voltage", "#1f77b4", |s| s.volts), ("CVL", "#d62728", |s| s.cvl)]),
        ("A", &[("current", "#1f77b4", |s| s.current), ("CCL", "#2ca02c", |s| s.ccl), ("DCL", "#ff7f0e", |s| -s.dcl)]),
        ("SoC %", &[("SoC", "#9467bd", |s| s.soc)]),
    ];
    for (p, (unit, series)) in panels.iter().enumerate() {
        let top = 20.0 + p as f64 * (ph + 15.0);
        let values: Vec<f64> = series.iter().flat_map(|(_, _, f)| samples.iter().map(f)).collect();
        let (lo, hi) = (values.iter().copied().fold(f64::MAX, f64::min), values.iter().copied().fold(f64::MIN, f64::max));
        let (lo, hi) = if hi - lo < 1e-6 { (lo - 1.0, hi + 1.0) } else { (lo, hi) };
        let y = |v: f64| top + ph - (v - lo) / (hi - lo) * ph;
        let _ = writeln!(out, "<rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>", w - left - 20.0);
        let _ = writeln!(
            out,
            "<text x=\"4\" y=\"{}\">{hi:.1}</text><text x=\"4\" y=\"{}\">{lo:.1}</text><text x=\"4\" y=\"{}\">{unit}</text>",
            top + 10.0,
            top + ph,
            top + ph / 2.0
        );
        for (i, (name, colour, f)) in series.iter().enumerate() {
            let points: Vec<String> = samples.iter().step_by(18).map(|s| format!("{:.1},{:.1}", x(s.h), y(f(s)))).collect();
            let _ = writeln!(out, "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.2\" points=\"{}\"/>", points.join(" "));
            let _ = writeln!(out, "<text x=\"{}\" y=\"{}\" fill=\"{colour}\">{name}</text>", left + 8.0 + 90.0 * i as f64, top + 12.0);
        }
    }
    let bottom = 20.0 + 3.0 * (ph + 15.0);
    for hour in (0..=hmax as u32).step_by(3) {
        let _ = writeln!(out, "<text x=\"{:.1}\" y=\"{bottom}\" text-anchor=\"middle\">{hour} h</text>", x(f64::from(hour)));
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_cycle_goes_through_every_stage() {
        let text =
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 13.8\nMAX_CHARGE_CURRENT = 100\nMAX_DISCHARGE_CURRENT = 150\nFLOAT_VOLTAGE = 13.5\n";
        let cfg = Config::from_str(text, "dry.ini").expect("a valid config").config;
        let (table, samples) = run(&cfg, &[200.0, 100.0]).expect("a run");
        for words in ["Bulk", "Absorption", "Float", "Re-bulk: SoC", "too cold to charge", "too hot to charge"] {
            assert!(table.contains(words), "no '{words}' in\n{table}");
        }
        assert!(samples.iter().all(|s| s.cvl >= 13.5 - 1e-9 && s.cvl <= 13.8 + 1e-9));
        assert!(svg(&samples).starts_with("<svg") && svg(&samples).contains("polyline"));
    }
}
