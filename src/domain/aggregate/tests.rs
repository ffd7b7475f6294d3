use super::*;
use crate::domain::paths;
use proptest::prelude::*;

fn readings(pairs: &[(Q, f64)]) -> Readings {
    let mut r = [None; Q::COUNT];
    for (q, v) in pairs {
        r[*q as usize] = Some(*v);
    }
    r
}

const S: Settings = Settings { total_capacity: None, temp_cold_danger: 5.0, temp_hot_danger: 45.0 };

fn out(o: &Outputs, path: &str) -> Option<f64> {
    o.iter().find(|(p, _)| *p == path).unwrap_or_else(|| panic!("{path} not computed")).1
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    }
}

#[test]
fn voltage_selection_for_12_24_48_volt_banks() {
    // (voltages, low alarm, high alarm, expected)
    let cases: &[(&[f64], bool, bool, f64)] = &[
        (&[13.2, 13.4], false, false, 13.3),
        (&[13.2, 13.4], true, false, 13.2),
        (&[13.2, 13.4], false, true, 13.4),
        (&[26.0, 26.4, 27.2], true, true, 27.2), // max is further from the mean 26.53
        (&[26.0, 26.8, 27.0], true, true, 26.0), // min is further from the mean 26.6
        (&[51.0, 53.0], true, true, 51.0),       // tie goes to the low side
        (&[52.4, 53.6], false, false, 53.0),
        (&[52.4, 53.6], false, true, 53.6),
        (&[52.4], true, false, 52.4),
    ];
    for (vs, low, high, want) in cases {
        assert!(close(bank_voltage(vs, *low, *high), Some(*want)), "{vs:?} {low} {high}");
    }
    assert_eq!(bank_voltage(&[], true, false), None);
}

#[test]
fn temperature_selection_uses_the_configured_thresholds() {
    let cases: &[(&[f64], f64)] = &[
        (&[20.0, 24.0], 22.0),
        (&[3.0, 20.0], 3.0),
        (&[20.0, 47.0], 47.0),
        (&[-2.0, 46.0], -2.0), // 7 below cold vs 1 above hot
        (&[4.0, 50.0], 50.0),  // 1 below cold vs 5 above hot
        (&[3.0, 47.0], 47.0),  // tie: hot side
        (&[5.0, 45.0], 25.0),  // on the thresholds is not beyond them
    ];
    for (ts, want) in cases {
        assert!(close(bank_temperature(ts, 5.0, 45.0), Some(*want)), "{ts:?}");
    }
    assert!(close(bank_temperature(&[8.0, 30.0], 10.0, 41.0), Some(8.0)));
    assert_eq!(bank_temperature(&[], 5.0, 45.0), None);
}

/// (rule, the members' values, the bank's value)
type RuleCase<'a> = (Rule, &'a [Option<f64>], Option<f64>);

#[test]
fn rules() {
    let v = |xs: &[Option<f64>]| xs.iter().map(|x| (*x, 1.0)).collect::<Vec<_>>();
    let cases: &[RuleCase] = &[
        (Rule::Sum, &[Some(1.0), Some(2.5)], Some(3.5)),
        (Rule::Sum, &[Some(1.0), None], None),
        (Rule::SumReported, &[Some(1.0), None, Some(2.0)], Some(3.0)),
        (Rule::SumReported, &[None, None], None),
        (Rule::Min, &[Some(3.0), None, Some(2.0)], Some(2.0)),
        (Rule::Max, &[Some(3.0), None, Some(2.0)], Some(3.0)),
        (Rule::Worst, &[Some(0.0), Some(2.0), Some(1.0)], Some(2.0)),
        (Rule::Worst, &[None], None),
        (Rule::WeightedMean, &[Some(50.0), Some(100.0)], Some(75.0)),
        (Rule::WeightedMean, &[Some(50.0), None], None),
        (Rule::Sum, &[], None),
    ];
    for (rule, xs, want) in cases {
        assert!(close(apply(*rule, &v(xs)), *want), "{rule:?} {xs:?}");
    }
    assert!(close(apply(Rule::WeightedMean, &[(Some(50.0), 100.0), (Some(100.0), 300.0)]), Some(87.5)));
}

#[test]
fn weights_follow_capacity() {
    assert_eq!(weights(&[Some(100.0), Some(300.0)]), vec![100.0, 300.0]);
    assert_eq!(weights(&[None, None]), vec![1.0, 1.0]);
    assert_eq!(weights(&[Some(100.0), None, Some(300.0)]), vec![100.0, 200.0, 300.0]);
}

#[test]
fn time_to_go() {
    assert!(close(super::time_to_go(Some(100.0), Some(-10.0)), Some(36_000.0)));
    assert_eq!(super::time_to_go(Some(100.0), Some(5.0)), None);
    assert_eq!(super::time_to_go(Some(100.0), Some(-0.04)), None);
    assert_eq!(super::time_to_go(None, Some(-10.0)), None);
    assert!(close(super::time_to_go(Some(1000.0), Some(-0.1)), Some(TIME_TO_GO_MAX)));
}

#[test]
fn capacity_estimate_only_between_10_and_90_percent() {
    assert_eq!(estimate_capacity(Some(-22.4), Some(88.0)), Some(187.0));
    assert_eq!(estimate_capacity(Some(-50.0), Some(50.0)), Some(100.0));
    assert_eq!(estimate_capacity(Some(-1.0), Some(95.0)), None);
    assert_eq!(estimate_capacity(Some(-90.0), Some(5.0)), None);
    assert_eq!(estimate_capacity(Some(0.0), Some(50.0)), None);
    assert_eq!(estimate_capacity(None, Some(50.0)), None);
}

fn member<'a>(presence: Presence, capacity: Option<f64>, values: &'a Readings) -> Member<'a> {
    Member { id: "m", name: "m", presence, capacity, values, in_circuit: true }
}

#[test]
fn unequal_bank_is_capacity_weighted() {
    let a = readings(&[(Q::Soc, 50.0), (Q::Current, -10.0), (Q::Voltage, 13.2), (Q::ConsumedAh, -50.0), (Q::Power, -132.0)]);
    let b = readings(&[(Q::Soc, 100.0), (Q::Current, -30.0), (Q::Voltage, 13.4), (Q::ConsumedAh, 0.0), (Q::Power, -402.0)]);
    let ms = [member(Presence::Online, Some(100.0), &a), member(Presence::Online, Some(300.0), &b)];
    let o = compute(&ms, &S);
    assert!(close(out(&o, paths::SOC), Some(87.5)));
    assert!(close(out(&o, paths::DC_CURRENT), Some(-40.0)));
    assert!(close(out(&o, paths::DC_POWER), Some(-534.0)));
    assert!(close(out(&o, paths::DC_VOLTAGE), Some(13.3)));
    assert!(close(out(&o, paths::CONSUMED_AH), Some(-50.0)));
    assert!(close(out(&o, paths::INSTALLED_CAPACITY), Some(400.0)));
    assert!(close(out(&o, paths::CAPACITY), Some(350.0)));
    assert!(close(out(&o, paths::TIME_TO_GO), Some(350.0 / 40.0 * 3600.0)));
    assert!(close(out(&o, paths::MODULES_ONLINE), Some(2.0)));
    assert!(close(out(&o, paths::MODULES_OFFLINE), Some(0.0)));
    assert_eq!(out(&o, paths::DC_TEMPERATURE), None);
    assert_eq!(out(&o, paths::HAS_TEMPERATURE), Some(0.0));
}

#[test]
fn power_falls_back_to_v_times_i() {
    let a = readings(&[(Q::Current, -10.0), (Q::Voltage, 13.0)]);
    let b = readings(&[(Q::Current, -5.0), (Q::Voltage, 13.0), (Q::Power, -66.0)]);
    let ms = [member(Presence::Online, None, &a), member(Presence::Online, None, &b)];
    assert!(close(out(&compute(&ms, &S), paths::DC_POWER), Some(-196.0)));
}

#[test]
fn a_missing_member_value_makes_sums_invalid_not_smaller() {
    let a = readings(&[(Q::Current, -10.0), (Q::Soc, 80.0)]);
    let b = readings(&[(Q::Soc, 90.0)]);
    let ms = [member(Presence::Online, Some(100.0), &a), member(Presence::Online, Some(100.0), &b)];
    let o = compute(&ms, &S);
    assert_eq!(out(&o, paths::DC_CURRENT), None);
    assert!(close(out(&o, paths::SOC), Some(85.0)));
}

#[test]
fn no_member_online_means_every_measurement_is_invalid() {
    let a = readings(&[(Q::Current, -10.0), (Q::Soc, 80.0), (Q::Voltage, 13.1), (Q::AlarmLowSoc, 0.0), (Q::HistChargeCycles, 4.0)]);
    for presence in [Presence::Held, Presence::Lost] {
        let ms = [member(presence, Some(100.0), &a)];
        let o = compute(&ms, &S);
        for (path, v) in &o {
            let counter = [paths::MODULES_ONLINE, paths::MODULES_OFFLINE, paths::ALARM_MEMBER_LOST].contains(path);
            assert!(counter || v.is_none(), "{path} = {v:?} with no member online");
        }
        assert_eq!(out(&o, paths::MODULES_OFFLINE), Some(1.0));
    }
    assert!(
        compute(&[], &S)
            .iter()
            .all(|(p, v)| { v.is_none() || [paths::MODULES_ONLINE, paths::MODULES_OFFLINE, paths::ALARM_MEMBER_LOST,].contains(p) })
    );
}

#[test]
fn held_members_count_lost_ones_do_not() {
    let a = readings(&[(Q::Current, -10.0), (Q::Soc, 80.0)]);
    let b = readings(&[(Q::Current, -20.0), (Q::Soc, 60.0)]);
    let held = [member(Presence::Online, Some(100.0), &a), member(Presence::Held, Some(100.0), &b)];
    let o = compute(&held, &S);
    assert!(close(out(&o, paths::DC_CURRENT), Some(-30.0)));
    assert!(close(out(&o, paths::MODULES_OFFLINE), Some(1.0)));
    assert_eq!(out(&o, paths::ALARM_MEMBER_LOST), Some(0.0));
    let lost = [member(Presence::Online, Some(100.0), &a), member(Presence::Lost, Some(100.0), &b)];
    let o = compute(&lost, &S);
    assert!(close(out(&o, paths::DC_CURRENT), Some(-10.0)));
    assert!(close(out(&o, paths::INSTALLED_CAPACITY), Some(100.0)));
    assert_eq!(out(&o, paths::ALARM_MEMBER_LOST), Some(1.0));
}

#[test]
fn total_capacity_override_scales_with_the_present_share() {
    let a = readings(&[(Q::Soc, 50.0)]);
    let ms = [member(Presence::Online, Some(100.0), &a), member(Presence::Lost, Some(300.0), &a)];
    let s = Settings { total_capacity: Some(800.0), ..S };
    assert!(close(out(&compute(&ms, &s), paths::INSTALLED_CAPACITY), Some(200.0)));
    let ms = [member(Presence::Online, None, &a), member(Presence::Lost, None, &a)];
    assert!(close(out(&compute(&ms, &s), paths::INSTALLED_CAPACITY), Some(400.0)));
    let ms = [member(Presence::Online, None, &a), member(Presence::Online, None, &a)];
    assert!(close(out(&compute(&ms, &s), paths::INSTALLED_CAPACITY), Some(800.0)));
    assert!(close(out(&compute(&ms, &s), paths::CAPACITY), Some(400.0)));
    // Without the override an unknown capacity makes the bank's capacity unknown.
    assert_eq!(out(&compute(&ms, &S), paths::INSTALLED_CAPACITY), None);
}

#[test]
fn alarms_take_the_worst_level_and_history_follows_its_table() {
    let a = readings(&[
        (Q::AlarmLowVoltage, 1.0),
        (Q::AlarmHighTemperature, 0.0),
        (Q::HistChargeCycles, 4.0),
        (Q::HistMinimumVoltage, 12.1),
        (Q::HistTotalAhDrawn, -100.0),
        (Q::HistFullDischarges, 2.0),
        (Q::HistTimeSinceLastFullCharge, 100.0),
        (Q::HasStarterVoltage, 0.0),
        (Q::HistMinimumStarterVoltage, 0.0),
    ]);
    let b = readings(&[
        (Q::AlarmLowVoltage, 2.0),
        (Q::AlarmHighTemperature, 0.0),
        (Q::HistChargeCycles, 8.0),
        (Q::HistMinimumVoltage, 11.9),
        (Q::HistTotalAhDrawn, -300.0),
        (Q::HistFullDischarges, 1.0),
        (Q::HistTimeSinceLastFullCharge, 50.0),
        (Q::HasStarterVoltage, 1.0),
        (Q::HistMinimumStarterVoltage, 12.4),
        (Q::StarterVoltage, 12.6),
    ]);
    let ms = [member(Presence::Online, Some(100.0), &a), member(Presence::Online, Some(300.0), &b)];
    let o = compute(&ms, &S);
    assert_eq!(out(&o, "/Alarms/LowVoltage"), Some(2.0));
    assert_eq!(out(&o, "/Alarms/HighTemperature"), Some(0.0));
    assert_eq!(out(&o, "/Alarms/LowSoc"), None);
    assert!(close(out(&o, "/History/ChargeCycles"), Some(7.0)));
    assert!(close(out(&o, "/History/MinimumVoltage"), Some(11.9)));
    assert!(close(out(&o, "/History/TotalAhDrawn"), Some(-400.0)));
    assert!(close(out(&o, "/History/FullDischarges"), Some(1.0)));
    assert!(close(out(&o, "/History/TimeSinceLastFullCharge"), Some(100.0)));
    assert!(close(out(&o, "/History/MinimumStarterVoltage"), Some(12.4)));
    assert!(close(out(&o, paths::DC1_VOLTAGE), Some(12.6)));
    assert_eq!(out(&o, paths::HAS_STARTER_VOLTAGE), Some(1.0));
    // A low-voltage alarm selects the lowest member voltage.
}

#[test]
fn every_measurement_path_is_computed_once() {
    let a = readings(&[]);
    let o = compute(&[member(Presence::Online, None, &a)], &S);
    let computed: Vec<&str> = o.iter().map(|(p, _)| *p).collect();
    let measurements: Vec<_> = paths::published_rows(false).collect();
    for p in &measurements {
        assert_eq!(computed.iter().filter(|c| **c == p.path).count(), 1, "{}", p.path);
    }
    assert_eq!(computed.len(), measurements.len());
}

proptest! {
    #[test]
    fn soc_stays_within_the_members(socs in prop::collection::vec((0.0f64..=100.0, prop::option::of(1.0f64..2000.0)), 1..8)) {
        let rs: Vec<Readings> = socs.iter().map(|(s, _)| readings(&[(Q::Soc, *s)])).collect();
        let ms: Vec<Member> = rs.iter().zip(&socs).map(|(r, (_, c))| member(Presence::Online, *c, r)).collect();
        let soc = out(&compute(&ms, &S), paths::SOC).unwrap();
        let lo = socs.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
        let hi = socs.iter().map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
        prop_assert!(soc >= lo - 1e-9 && soc <= hi + 1e-9);
    }

    #[test]
    fn voltage_stays_within_the_members(vs in prop::collection::vec(8.0f64..65.0, 1..8), low: bool, high: bool) {
        let v = bank_voltage(&vs, low, high).unwrap();
        let lo = vs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        prop_assert!(v >= lo - 1e-9 && v <= hi + 1e-9);
        if low && !high { prop_assert_eq!(v, lo); }
        if high && !low { prop_assert_eq!(v, hi); }
    }

    #[test]
    fn current_is_the_sum(cs in prop::collection::vec(-500.0f64..500.0, 1..8)) {
        let rs: Vec<Readings> = cs.iter().map(|c| readings(&[(Q::Current, *c)])).collect();
        let ms: Vec<Member> = rs.iter().map(|r| member(Presence::Online, None, r)).collect();
        let sum: f64 = cs.iter().sum();
        prop_assert!((out(&compute(&ms, &S), paths::DC_CURRENT).unwrap() - sum).abs() < 1e-6);
    }

    #[test]
    fn present_share_is_a_fraction(caps in prop::collection::vec((prop::option::of(1.0f64..1000.0), 0u8..3), 0..8)) {
        let r = readings(&[]);
        let ms: Vec<Member> = caps.iter().map(|(c, p)| member([Presence::Online, Presence::Held, Presence::Lost][*p as usize], *c, &r)).collect();
        let share = present_share(&ms);
        prop_assert!((0.0..=1.0 + 1e-9).contains(&share));
        if ms.iter().all(|m| m.presence != Presence::Lost) && !ms.is_empty() { prop_assert!((share - 1.0).abs() < 1e-9); }
    }
}
