//! The tapers over random banks: CCL and DCL never above any of their factors.

use std::time::Instant;

use proptest::prelude::*;

use super::tests::{INSTANT, m, r};
use super::*;
use crate::domain::charge::table::Table;
use crate::domain::paths::Q;

fn tapered() -> Limits {
    Limits {
        tapers: Tapers {
            charge_temp: Table::parse("5:0.5, 10:1, 40:1, 45:0.5").unwrap(),
            charge_soc: Table::parse("85:1, 90:0.5, 95:0.2, 98:0.1").unwrap(),
            discharge_soc: Table::parse("5:0.2, 10:0.5, 15:1").unwrap(),
            discharge_voltage: Table::parse("2.9:0, 3:0.5, 3.1:1").unwrap(),
        },
        accept_no_sensor: true,
        ..INSTANT
    }
}

#[test]
fn each_factor_below_one_is_named() {
    let l = tapered();
    let cool = r(&[(Q::Temperature, 7.5), (Q::Soc, 96.0), (Q::Voltage, 13.3), (Q::Current, 1.0)]);
    let d = Policy::new(l).decide(&[m("Battery 1", Presence::Online, &cool)], Instant::now());
    assert!(d.charge_text.contains("× 0.75 (Battery 1 at 7.5 °C)") && d.charge_text.contains("(SoC 96 %)"), "{}", d.charge_text);
    let empty = r(&[(Q::Temperature, 20.0), (Q::Soc, 7.5), (Q::Voltage, 11.8), (Q::Current, -10.0)]);
    let d = Policy::new(l).decide(&[m("Battery 1", Presence::Online, &empty)], Instant::now());
    assert!(
        d.discharge_text.contains("× 0.35 (SoC 8 %)") && d.discharge_text.contains("(11.80 V under load, 2.95 V per cell)"),
        "{}",
        d.discharge_text
    );
    assert!((d.discharge_current - 600.0 * 0.25).abs() < 1e-6, "the smallest factor: {}", d.discharge_current);
}

proptest! {
    #[test]
    fn limits_never_exceed_any_factor(bank in prop::collection::vec((0.0f64..50.0, 0.0f64..100.0, 11.0f64..14.0, -30.0f64..30.0), 1..4)) {
        let l = tapered();
        let readings: Vec<_> = bank.iter().map(|(t, soc, v, i)| r(&[(Q::Temperature, *t), (Q::Soc, *soc), (Q::Voltage, *v), (Q::Current, *i), (Q::HasTemperature, 1.0)])).collect();
        let names: Vec<String> = (0..bank.len()).map(|i| format!("B{i}")).collect();
        let members: Vec<Member> = readings.iter().zip(&names).map(|(v, n)| m(n, Presence::Online, v)).collect();
        let d = Policy::new(l).decide(&members, Instant::now());
        let state = BankState::of(&members);
        let share = online_share(&members, None);
        let coldest = bank.iter().map(|(t, ..)| l.tapers.charge_temp.at(*t)).fold(1.0, f64::min);
        let floor = 2.0 * taper::tail_current(&members, &l) / (l.charge_current * share);
        let soc_f = state.soc.map_or(1.0, |s| l.tapers.charge_soc.at(s).max(floor.min(1.0)));
        prop_assert!(d.charge_current <= l.charge_current * share * coldest + 1e-6, "{} > temperature", d.charge_current);
        prop_assert!(d.charge_current <= l.charge_current * share * soc_f + 1e-6, "{} > SoC", d.charge_current);
        let dsoc = state.soc.map_or(1.0, |s| l.tapers.discharge_soc.at(s));
        let dvolt = state.lowest_voltage.map_or(1.0, |v| l.tapers.discharge_voltage.at(v / 4.0));
        prop_assert!(d.discharge_current <= l.discharge_current * share * dsoc.min(dvolt) + 1e-6, "{} > discharge factors", d.discharge_current);
    }
}
