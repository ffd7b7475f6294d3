//! The hazards a safety review found (issue 13), one test each, and property tests over random
//! histories for the rules that hold across time: a lost member's block (3), start and data
//! gaps (5), the share with unknown capacities (7), the latched discharge stop (9).

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::tests::{INSTANT, L, m, r};
use super::*;
use crate::domain::aggregate::Readings;
use crate::domain::paths::Q;

fn at(t0: Instant, s: u64) -> Instant {
    t0 + Duration::from_secs(s)
}

fn warm() -> Readings {
    r(&[(Q::Temperature, 20.0), (Q::HasTemperature, 1.0), (Q::Voltage, 13.3), (Q::Current, -5.0), (Q::Soc, 50.0)])
}

#[test]
fn h1_a_sensor_fault_blocks_and_a_member_without_a_sensor_is_judged_by_the_bank() {
    let mut p = Policy::new(INSTANT);
    let ok = warm();
    // Sensor present but no reading (unplugged, or NaN refused by the bank).
    let fault = r(&[(Q::HasTemperature, 1.0), (Q::Voltage, 13.3)]);
    let d = p.decide(&[m("Battery 1", Presence::Online, &ok), m("Battery 2", Presence::Online, &fault)], Instant::now());
    assert_eq!(d.charge_current, 0.0);
    assert!(d.charge_text.contains("Battery 2 temperature sensor fault"), "{}", d.charge_text);
    assert_eq!(d.blocking_charge, 1);
    // No sensor of its own: judged by the coldest sensor in the bank.
    let cold = r(&[(Q::Temperature, 1.0), (Q::HasTemperature, 1.0)]);
    let bare = r(&[(Q::HasTemperature, 0.0)]);
    let d = decide_one(&[m("Cold", Presence::Online, &cold), m("Bare", Presence::Online, &bare)]);
    assert_eq!(d.charge_current, 0.0);
    assert_eq!(d.blocking_charge, 2, "{d:?}");
    assert!(
        d.protections.iter().any(|p| p.contains("Bare too cold to charge (1.0 °C < 5.0 °C) (no sensor of its own; Cold's)")),
        "{:?}",
        d.protections
    );
    // No sensor anywhere: charging refused unless the risk is accepted.
    let d = decide_one(&[m("Bare", Presence::Online, &bare)]);
    assert_eq!(d.charge_current, 0.0);
    assert!(d.charge_text.contains("no temperature sensor in the bank"), "{}", d.charge_text);
    assert_eq!(d.blocking_charge, 0, "a bank-wide cause blocks no module");
    let mut p = Policy::new(Limits { accept_no_sensor: true, ..INSTANT });
    let d = p.decide(&[m("Bare", Presence::Online, &bare)], Instant::now());
    assert_eq!(d.charge_current, 300.0);
    assert!(
        d.risks.iter().any(|r| r.contains("ACCEPT_NO_TEMPERATURE_SENSOR = true") && r.contains("no member has a temperature sensor")),
        "{:?}",
        d.risks
    );
}

fn decide_one(members: &[Member]) -> Decision {
    Policy::new(INSTANT).decide(members, Instant::now())
}

#[test]
fn h2_a_charge_block_lowers_and_freezes_cvl_unless_feed_in_is_off() {
    let t0 = Instant::now();
    let cold = |v: f64| r(&[(Q::Temperature, 0.0), (Q::Voltage, v)]);
    for feed_in in [None, Some(true)] {
        let mut p = Policy::new(INSTANT);
        p.set_feed_in(feed_in);
        let (a, b) = (cold(13.30), cold(13.10));
        let d = p.decide(&[m("B", Presence::Online, &a)], t0);
        assert!(d.charge_current == 0.0 && (d.charge_voltage - 12.8).abs() < 1e-9, "{feed_in:?}: {d:?}");
        assert!(d.charge_text.contains("CVL lowered to 12.80 V"), "{}", d.charge_text);
        // Frozen: the battery's voltage falling does not drag the CVL after it.
        assert!((p.decide(&[m("B", Presence::Online, &b)], at(t0, 10)).charge_voltage - 12.8).abs() < 1e-9);
        assert!((p.shutdown_voltage() - 12.8).abs() < 1e-9);
        // Charging allowed again: the configured CVL.
        let w = warm();
        assert_eq!(p.decide(&[m("B", Presence::Online, &w)], at(t0, 20)).charge_voltage, 14.2);
    }
    // CCL 0 without a rule (the only member is out of the circuit): CVL lowered all the same.
    let mut p = Policy::new(INSTANT);
    p.set_feed_in(Some(true));
    let w = r(&[(Q::Temperature, 20.0), (Q::Voltage, 13.3)]);
    let out = Member { in_circuit: false, ..m("B", Presence::Online, &w) };
    let d = p.decide(&[out], t0);
    assert!(d.charge_current == 0.0 && (d.charge_voltage - 12.8).abs() < 1e-9, "{d:?}");
    // Feed-in on and the bank sagging below the chargers' target: said loudly.
    let mut p = Policy::new(INSTANT);
    p.set_feed_in(Some(true));
    let (a, sagged) = (cold(13.30), cold(12.90));
    p.decide(&[m("B", Presence::Online, &a)], t0);
    let d = p.decide(&[m("B", Presence::Online, &sagged)], at(t0, 5));
    assert!(d.charge_text.contains("WARNING: the bank (12.90 V) is below the solar chargers' target (13.20 V)"), "{}", d.charge_text);
    let mut p = Policy::new(INSTANT);
    p.set_feed_in(Some(false));
    let a = cold(13.3);
    let d = p.decide(&[m("B", Presence::Online, &a)], t0);
    assert_eq!((d.charge_current, d.charge_voltage), (0.0, 14.2));
    assert!(d.risks.is_empty(), "{:?}", d.risks);
    assert_eq!(p.shutdown_voltage(), 14.2);
}

#[test]
fn h3_a_member_that_leaves_while_blocking_keeps_its_block() {
    let t0 = Instant::now();
    let mut p = Policy::new(INSTANT);
    let (ok, cold, none) = (warm(), r(&[(Q::Temperature, 0.0), (Q::HasTemperature, 1.0)]), r(&[]));
    let d = p.decide(&[m("A", Presence::Online, &ok), m("B", Presence::Online, &cold)], t0);
    assert_eq!(d.charge_current, 0.0);
    // B is lost (its values dropped): still blocked, and the text says why.
    let d = p.decide(&[m("A", Presence::Online, &ok), m("B", Presence::Lost, &none)], at(t0, 600));
    assert_eq!(d.charge_current, 0.0);
    assert!(d.charge_text.contains("B too cold to charge (0.0 °C < 5.0 °C) (kept while it is offline)"), "{}", d.charge_text);
    // Forgotten (no longer a member): the block goes with it.
    assert_eq!(p.decide(&[m("A", Presence::Online, &ok)], at(t0, 601)).charge_current, 300.0);
    // Back with a clear value: the block clears.
    let mut p = Policy::new(INSTANT);
    p.decide(&[m("B", Presence::Online, &cold)], t0);
    p.decide(&[m("B", Presence::Lost, &none)], at(t0, 1));
    assert_eq!(p.decide(&[m("B", Presence::Online, &ok)], at(t0, 2)).charge_current, 300.0);
}

#[test]
fn h5_a_start_gets_the_full_limit_at_once_and_so_does_the_end_of_a_data_gap() {
    let t0 = Instant::now();
    let mut p = Policy::new(L);
    let ok = warm();
    let d = p.decide(&[m("A", Presence::Online, &ok)], t0);
    assert_eq!((d.charge_current, d.discharge_current), (300.0, 600.0));
    p.settle();
    // Every member silent past its grace: no data, both stopped...
    let none = r(&[]);
    let d = p.decide(&[m("A", Presence::Lost, &none)], at(t0, 400));
    assert_eq!((d.charge_current, d.discharge_current), (0.0, 0.0));
    // ...and back at once when the data returns: no hold, no ramp.
    let d = p.decide(&[m("A", Presence::Online, &ok)], at(t0, 401));
    assert_eq!((d.charge_current, d.discharge_current), (300.0, 600.0), "{d:?}");
}

#[test]
fn h6_heat_stops_discharging_and_the_shunts_own_alarms_stop_charging() {
    let ok = warm();
    let rows: [(Readings, f64, f64, &str); 4] = [
        (r(&[(Q::Temperature, 61.0)]), 0.0, 0.0, "too hot to discharge (61.0 °C > 60.0 °C)"),
        (r(&[(Q::Temperature, 20.0), (Q::AlarmHighTemperature, 2.0)]), 0.0, 0.0, "high-temperature alarm"),
        (r(&[(Q::Temperature, 20.0), (Q::AlarmLowTemperature, 1.0)]), 0.0, 600.0, "low-temperature alarm"),
        (r(&[(Q::Temperature, 20.0), (Q::AlarmMidVoltage, 1.0)]), 0.0, 600.0, "midpoint alarm"),
    ];
    for (v, ccl, dcl, words) in rows {
        let d = decide_one(&[m("A", Presence::Online, &ok), m("B", Presence::Online, &v)]);
        assert_eq!((d.charge_current, d.discharge_current), (ccl, dcl), "{words}: {d:?}");
        assert!(d.protections.iter().any(|p| p.contains(words)), "{words}: {:?}", d.protections);
    }
}

#[test]
fn h7_an_unknown_capacity_never_enlarges_the_share() {
    let ok = warm();
    let small = Member { capacity: Some(100.0), ..m("Small", Presence::Online, &ok) };
    let big_gone = Member { capacity: None, ..m("Big", Presence::Lost, &ok) };
    // Without TOTAL_CAPACITY the missing one counts as at least the largest known member.
    assert!((online_share(&[small, big_gone], None) - 0.5).abs() < 1e-9);
    // TOTAL_CAPACITY is the bank's size: 100 of 400 Ah.
    assert!((online_share(&[small, big_gone], Some(400.0)) - 0.25).abs() < 1e-9);
    // Everyone there: the whole bank, whatever is unknown.
    let big_here = Member { capacity: None, ..m("Big", Presence::Online, &ok) };
    assert!((online_share(&[small, big_here], Some(400.0)) - 1.0).abs() < 1e-9);
    assert!((online_share(&[small, big_here], None) - 1.0).abs() < 1e-9);
    let mut p = Policy::new(Limits { total_capacity: Some(400.0), charge_current: 100.0, discharge_current: 200.0, ..INSTANT });
    let d = p.decide(&[small, big_gone], Instant::now());
    assert_eq!((d.charge_current, d.discharge_current), (25.0, 50.0));
    // An unknown member that is there counts as small: the smallest known capacity.
    let big = Member { capacity: Some(300.0), ..m("Big", Presence::Lost, &ok) };
    let mid = Member { capacity: Some(100.0), ..m("Mid", Presence::Online, &ok) };
    let unknown_here = Member { capacity: None, ..m("Small", Presence::Online, &ok) };
    assert!((online_share(&[unknown_here, mid, big], None) - 0.4).abs() < 1e-9, "(100 + 100) of 500");
}

#[test]
fn h8_the_bank_voltage_guards_what_the_shunts_alarms_might_not() {
    let t0 = Instant::now();
    let v = |v: f64| r(&[(Q::Temperature, 20.0), (Q::Voltage, v), (Q::Current, -5.0), (Q::Soc, 50.0)]);
    let mut p = Policy::new(INSTANT);
    let high = v(14.45);
    let d = p.decide(&[m("A", Presence::Online, &high)], t0);
    assert_eq!(d.charge_current, 0.0);
    assert!(d.charge_text.contains("above 14.40 V (CVL 14.20 V)"), "{}", d.charge_text);
    // Back under the entry threshold (14.40 V) but above the re-open one (14.30 V): still stopped.
    let between = v(14.35);
    assert_eq!(p.decide(&[m("A", Presence::Online, &between)], at(t0, 1)).charge_current, 0.0);
    let normal = v(13.3);
    assert_eq!(p.decide(&[m("A", Presence::Online, &normal)], at(t0, 2)).charge_current, 300.0);
    // Below 2.8 V per cell (11.2 V): discharging stops, and stays stopped while the voltage
    // recovers without charging.
    let low = v(11.1);
    assert_eq!(p.decide(&[m("A", Presence::Online, &low)], at(t0, 3)).discharge_current, 0.0);
    let d = p.decide(&[m("A", Presence::Online, &normal)], at(t0, 4));
    assert_eq!(d.discharge_current, 0.0);
    assert!(d.discharge_text.contains("below 11.20 V (kept until the bank charges"), "{}", d.discharge_text);
    // A CVL for another bank voltage is refused at start; one odd first reading is judged again.
    let mut p = Policy::new(INSTANT);
    let odd = v(20.0);
    assert_eq!(p.decide(&[m("A", Presence::Online, &odd)], t0).charge_current, 0.0);
    assert_eq!(p.decide(&[m("A", Presence::Online, &normal)], at(t0, 1)).charge_current, 300.0);
    let mut p = Policy::new(Limits { charge_voltage: 28.4, ..INSTANT });
    let d = p.decide(&[m("A", Presence::Online, &normal)], t0);
    assert_eq!(d.charge_current, 0.0);
    assert!(
        d.charge_text.contains("MAX_CHARGE_VOLTAGE 28.40 V is for a 24 V bank, but the bank measures 13.30 V (a 12 V bank)"),
        "{}",
        d.charge_text
    );
}

#[test]
fn h9_a_low_voltage_stop_latches_until_the_bank_charges() {
    let t0 = Instant::now();
    let state = |lv: f64, current: f64, soc: f64| r(&[(Q::Temperature, 20.0), (Q::AlarmLowVoltage, lv), (Q::Current, current), (Q::Soc, soc)]);
    let mut p = Policy::new(INSTANT);
    let (alarm, recovered, rising, charging) = (state(2.0, -30.0, 10.0), state(0.0, 0.0, 10.0), state(0.0, 0.0, 13.0), state(0.0, 2.0, 10.0));
    assert_eq!(p.decide(&[m("A", Presence::Online, &alarm)], t0).discharge_current, 0.0);
    // The load is off, the voltage recovers, the alarm clears: still stopped.
    let d = p.decide(&[m("A", Presence::Online, &recovered)], at(t0, 1));
    assert_eq!(d.discharge_current, 0.0);
    assert!(d.discharge_text.contains("A low-voltage alarm (kept until the bank charges or its SoC rises 3 %)"), "{}", d.discharge_text);
    // Charging releases it.
    assert_eq!(p.decide(&[m("A", Presence::Online, &charging)], at(t0, 2)).discharge_current, 600.0);
    // So does a SoC 3 points above the stop's.
    let mut p = Policy::new(INSTANT);
    p.decide(&[m("A", Presence::Online, &alarm)], t0);
    assert_eq!(p.decide(&[m("A", Presence::Online, &rising)], at(t0, 1)).discharge_current, 600.0);
}

/// A member's state in the histories below: temperature, presence, current, SoC, LV alarm.
fn arb_state() -> impl Strategy<Value = (f64, Presence, f64, f64, bool)> {
    (
        prop::sample::select(vec![-5.0, 3.0, 20.0, 25.0]),
        prop::sample::select(vec![Presence::Online, Presence::Online, Presence::Held, Presence::Lost]),
        prop::sample::select(vec![-20.0, -1.0, 0.0, 0.4, 3.0]),
        0.0f64..100.0,
        prop::bool::weighted(0.2),
    )
}

fn readings_of(&(t, presence, current, soc, lv): &(f64, Presence, f64, f64, bool)) -> Readings {
    if presence == Presence::Lost {
        return r(&[]);
    }
    r(&[(Q::Temperature, t), (Q::HasTemperature, 1.0), (Q::Current, current), (Q::Soc, soc), (Q::AlarmLowVoltage, if lv { 2.0 } else { 0.0 })])
}

proptest! {
    /// Rule 3: once a member blocked charging for cold, CCL stays 0 until it is online again
    /// with a clear temperature (it stays a member throughout).
    #[test]
    fn p3_a_blocking_member_keeps_its_block_until_back_and_clear(steps in prop::collection::vec((arb_state(), arb_state()), 1..40)) {
        let t0 = Instant::now();
        let mut p = Policy::new(INSTANT);
        // Per member: blocked since it was seen cold, until it is online and clear again.
        let mut blocked = [false, false];
        for (i, (a, b)) in steps.iter().enumerate() {
            let (ra, rb) = (readings_of(a), readings_of(b));
            let d = p.decide(&[m("A", a.1, &ra), m("B", b.1, &rb)], at(t0, i as u64));
            for (k, s) in [a, b].into_iter().enumerate() {
                if s.1 != Presence::Lost && s.0 < L.temp_cold { blocked[k] = true; }
                if s.1 == Presence::Online && s.0 >= L.temp_cold + L.margin { blocked[k] = false; }
            }
            if blocked.contains(&true) { prop_assert_eq!(d.charge_current, 0.0, "step {}: {:?}", i, d.charge_text); }
        }
    }

    /// Rule 5: after a start, or after a step with no member online, a step that nothing
    /// blocks gets the full computed limit at once (unless a real block is still clearing, or
    /// a reduced share is still ramping back).
    #[test]
    fn p5_starts_and_data_gaps_open_at_once(steps in prop::collection::vec((arb_state(), prop::bool::weighted(0.2), 1u64..100), 1..30)) {
        let t0 = Instant::now();
        let mut p = Policy::new(L);
        let mut now = t0;
        let mut pending = false;
        let warm_sensor = (20.0, Presence::Online, -1.0, 50.0, false);
        for (s, gap, dt) in &steps {
            now += Duration::from_secs(*dt);
            let lost = (0.0, Presence::Lost, 0.0, 0.0, false);
            let (a, b) = if *gap { (&lost, &lost) } else { (s, &warm_sensor) };
            let (ra, rb) = (readings_of(a), readings_of(b));
            let d = p.decide(&[m("A", a.1, &ra), m("B", b.1, &rb)], now);
            let clean = !gap && s.1 == Presence::Online && !s.4 && (L.temp_cold..=L.temp_hot).contains(&s.0);
            let full = d.charge_current == L.charge_current && d.discharge_current == L.discharge_current;
            if clean && !pending {
                prop_assert!(full, "{:?} / {:?}", d.charge_text, d.discharge_text);
            }
            if !clean && !gap { pending = true; }
            if full { pending = false; }
            p.settle();
        }
    }

    /// Rule 7: with TOTAL_CAPACITY the bank's true size (or, without it, unknown members no
    /// smaller than the smallest known and no larger than the largest known), the share never
    /// exceeds the present members' true share of the bank.
    #[test]
    fn p7_the_share_never_over_allocates(bank in prop::collection::vec((50.0f64..500.0, any::<bool>(), any::<bool>()), 1..6), with_total in any::<bool>()) {
        let ok = warm();
        let known: Vec<f64> = bank.iter().filter(|(_, k, _)| *k).map(|(c, _, _)| *c).collect();
        let (lo, hi) = (known.iter().copied().fold(f64::MAX, f64::min), known.iter().copied().fold(0.0, f64::max));
        // The unknown members' true capacities, within the assumption (equal when none is known).
        let truth: Vec<f64> = bank.iter().map(|(c, k, _)| if *k { *c } else if known.is_empty() { 100.0 } else if with_total { *c } else { c.clamp(lo, hi) }).collect();
        let members: Vec<Member> = bank.iter().map(|(c, k, here)| Member {
            capacity: k.then_some(*c),
            ..m("M", if *here { Presence::Online } else { Presence::Lost }, &ok)
        }).collect();
        let total: f64 = truth.iter().sum();
        let true_share = bank.iter().zip(&truth).filter(|((_, _, here), _)| *here).map(|(_, c)| c).sum::<f64>() / total;
        let present_unknown_small = bank.iter().zip(&truth).all(|((_, k, here), c)| *k || !*here || known.is_empty() || *c >= lo);
        prop_assume!(present_unknown_small);
        let share = online_share(&members, with_total.then_some(total));
        prop_assert!(share <= true_share + 1e-9, "share {} > true {} ({:?})", share, true_share, bank);
    }

    /// Rule 9: once a low-voltage alarm stopped discharging, DCL stays 0 until the bank charges
    /// with at least LATCH_RELEASE_CURRENT or its SoC has risen LATCH_RELEASE_SOC points.
    #[test]
    fn p9_a_discharge_stop_latches(steps in prop::collection::vec(arb_state(), 1..40)) {
        let t0 = Instant::now();
        let mut p = Policy::new(INSTANT);
        let mut latched: Option<f64> = None;
        for (i, s) in steps.iter().enumerate() {
            let s = &(20.0, Presence::Online, s.2, s.3, s.4);
            let ra = readings_of(s);
            let d = p.decide(&[m("A", Presence::Online, &ra)], at(t0, i as u64));
            if let Some(soc) = latched {
                if s.2 >= LATCH_RELEASE_CURRENT || s.3 >= soc + LATCH_RELEASE_SOC { latched = None; }
            }
            if s.4 && latched.is_none() { latched = Some(s.3); }
            if latched.is_some() { prop_assert_eq!(d.discharge_current, 0.0, "step {}: {}", i, d.discharge_text); }
        }
    }
}
