use super::*;
use crate::domain::aggregate::Readings;
use crate::domain::charge::table::Table;
use crate::domain::frame::{limits, shutdown_limits};
use crate::domain::paths::{self, Q};
use crate::value::Value;
use proptest::prelude::*;

pub(super) const L: Limits = Limits {
    charge_voltage: 14.2,
    charge_current: 300.0,
    discharge_current: 600.0,
    temp_cold: 5.0,
    temp_hot: 45.0,
    temp_discharge_cold: -20.0,
    margin: 2.0,
    temp_discharge_hot: 60.0,
    hold: Duration::from_secs(60),
    ramp: Duration::from_secs(60),
    accept_no_sensor: false,
    min_bank_voltage: None,
    total_capacity: None,
    // No float stage; the tapers flat: these tests are about the rules.
    stages: crate::domain::charge::Stages { float_voltage: None, ..crate::domain::charge::tests::S },
    set_in_gui: [false; 2],
    tapers: Tapers { charge_temp: Table::ONE, charge_soc: Table::ONE, discharge_soc: Table::ONE, discharge_voltage: Table::ONE },
};
pub(super) const INSTANT: Limits = Limits { hold: Duration::ZERO, ramp: Duration::ZERO, ..L };

pub(super) fn r(pairs: &[(Q, f64)]) -> Readings {
    let mut v = [None; Q::COUNT];
    for (q, x) in pairs {
        v[*q as usize] = Some(*x);
    }
    v
}

pub(super) fn m<'a>(name: &'a str, presence: Presence, values: &'a Readings) -> Member<'a> {
    Member { id: name, name, presence, capacity: Some(100.0), values, in_circuit: true }
}

fn alarm(m: &Member, q: Q) -> bool {
    m.values[q as usize].is_some_and(|a| a > 0.0)
}

/// One decision of a fresh policy with no hold and no ramp.
fn decide(members: &[Member]) -> Decision {
    Policy::new(INSTANT).decide(members, Instant::now())
}

#[test]
fn each_hazard_sets_its_limit_and_says_why() {
    use Presence::*;
    let ok = r(&[(Q::Temperature, 20.0)]);
    let cold = r(&[(Q::Temperature, 3.1)]);
    let hot = r(&[(Q::Temperature, 46.0)]);
    let freezing = r(&[(Q::Temperature, -25.0)]);
    let hv = r(&[(Q::AlarmHighVoltage, 2.0)]);
    let ht = r(&[(Q::AlarmHighTemperature, 1.0)]);
    let lv = r(&[(Q::AlarmLowVoltage, 2.0)]);
    let ls = r(&[(Q::AlarmLowSoc, 1.0)]);
    let none = r(&[]);
    // (members, CCL, DCL, words in the charge text, words in the discharge text)
    let cases: Vec<(Vec<Member>, f64, f64, &str, &str)> = vec![
        (vec![m("Battery 1", Online, &ok), m("Battery 2", Online, &ok)], 300.0, 600.0, "Configured limit 300 A", "Configured limit 600 A"),
        (
            vec![m("Battery 1", Online, &ok), m("Battery 2", Online, &cold)],
            0.0,
            600.0,
            "Battery 2 too cold to charge (3.1 °C < 5.0 °C)",
            "Configured",
        ),
        (
            vec![m("Battery 1", Online, &hot), m("Battery 2", Online, &ok)],
            0.0,
            600.0,
            "Battery 1 too hot to charge (46.0 °C > 45.0 °C)",
            "Configured",
        ),
        (vec![m("Battery 1", Online, &hv), m("Battery 2", Online, &ok)], 0.0, 600.0, "Battery 1 high-voltage alarm", "Configured"),
        // The shunt's high-temperature alarm stops both directions.
        (
            vec![m("Battery 1", Online, &ht), m("Battery 2", Online, &ok)],
            0.0,
            0.0,
            "Battery 1 high-temperature alarm",
            "Battery 1 high-temperature alarm",
        ),
        (vec![m("Battery 1", Online, &lv), m("Battery 2", Online, &ok)], 300.0, 0.0, "Configured", "Battery 1 low-voltage alarm"),
        (vec![m("Battery 1", Online, &ls), m("Battery 2", Online, &ok)], 300.0, 0.0, "Configured", "Battery 1 low-SoC alarm"),
        (
            vec![m("Battery 1", Online, &freezing), m("Battery 2", Online, &ok)],
            0.0,
            0.0,
            "too cold to charge",
            "Battery 1 too cold to discharge (-25.0 °C < -20.0 °C)",
        ),
        // One of two equal batteries drops out: half the current, both ways.
        (vec![m("Battery 1", Online, &ok), m("Battery 2", Held, &ok)], 150.0, 300.0, "1 of 2 members present: 50 % of 300 A", "50 % of 600 A"),
        (vec![m("Battery 1", Online, &ok), m("Battery 2", Lost, &none)], 150.0, 300.0, "50 %", "50 %"),
        // A held member's last state still blocks.
        (vec![m("Battery 1", Online, &ok), m("Battery 2", Held, &cold)], 0.0, 300.0, "Battery 2 too cold", "50 %"),
        // Stale: charging stops at once; discharge keeps the held share through the grace period.
        (vec![m("Battery 1", Held, &ok), m("Battery 2", Held, &ok)], 0.0, 600.0, "no fresh data from any member", "Configured"),
        (vec![m("Battery 1", Lost, &none), m("Battery 2", Lost, &none)], 0.0, 0.0, "no fresh data", "every member lost"),
        (vec![], 0.0, 0.0, "no SmartShunt found", "no SmartShunt found"),
    ];
    for (members, ccl, dcl, ctext, dtext) in cases {
        let d = decide(&members);
        let names: Vec<_> = members.iter().map(|m| (m.name, m.presence)).collect();
        assert!((d.charge_current - ccl).abs() < 1e-9, "{names:?}: CCL {} != {ccl}", d.charge_current);
        assert!((d.discharge_current - dcl).abs() < 1e-9, "{names:?}: DCL {} != {dcl}", d.discharge_current);
        assert!(d.charge_text.contains(ctext), "{names:?}: '{}' lacks '{ctext}'", d.charge_text);
        assert!(d.discharge_text.contains(dtext), "{names:?}: '{}' lacks '{dtext}'", d.discharge_text);
    }
}

#[test]
fn a_block_reopens_after_margin_and_hold_then_ramps() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut p = Policy::new(L);
    let temp = |t: f64| r(&[(Q::Temperature, t)]);
    let step = |p: &mut Policy, t: f64, s: u64| {
        let v = temp(t);
        p.decide(&[m("B", Presence::Online, &v)], at(s))
    };
    // Start-up: nothing blocks, so the full limit at once (no hold, no ramp).
    assert_eq!(step(&mut p, 20.0, 0).charge_current, 300.0);
    assert_eq!(step(&mut p, 20.0, 30).charge_current, 300.0);
    // Too cold: stopped at once.
    assert_eq!(step(&mut p, 4.9, 61).charge_current, 0.0);
    // Back above the limit but not by the margin: still stopped.
    let d = step(&mut p, 6.0, 62);
    assert_eq!(d.charge_current, 0.0);
    assert!(d.charge_text.contains("not yet clear by the margin"), "{}", d.charge_text);
    // Clear by the margin: held for BMS_HOLD_TIME...
    assert_eq!(step(&mut p, 7.5, 70).charge_current, 0.0);
    let d = step(&mut p, 7.5, 129);
    assert_eq!(d.charge_current, 0.0);
    assert!(d.charge_text.contains("re-opening in"), "{}", d.charge_text);
    // ...a relapse inside the margin restarts the hold...
    assert_eq!(step(&mut p, 6.5, 100).charge_current, 0.0);
    assert_eq!(step(&mut p, 7.5, 101).charge_current, 0.0);
    assert_eq!(step(&mut p, 7.5, 160).charge_current, 0.0);
    // ...then ramps up instead of stepping.
    assert_eq!(step(&mut p, 7.5, 161).charge_current, 0.0);
    let d = step(&mut p, 7.5, 191);
    assert!((d.charge_current - 150.0).abs() < 1e-6, "{d:?}");
    assert!(d.charge_text.contains("Ramping up (50 %)"));
    // A new hazard during the ramp stops it at once.
    assert_eq!(step(&mut p, 3.0, 192).charge_current, 0.0);
    // Discharge was never affected.
    assert_eq!(step(&mut p, 3.0, 193).discharge_current, 600.0);
}

#[test]
fn values_are_always_valid_and_consistent() {
    let p = Policy::new(L);
    for values in [limits(&p.initial()), limits(&decide(&[]))] {
        let get = |path: &str| values.iter().find(|(p, _)| *p == path).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get(paths::MAX_CHARGE_VOLTAGE), Value::Double(14.2));
        assert_eq!(get(paths::MAX_CHARGE_CURRENT), Value::Double(0.0));
        assert_eq!(get(paths::ALLOW_TO_CHARGE), Value::Uint(0));
        assert_eq!(get(paths::ALLOW_TO_DISCHARGE), Value::Uint(0));
    }
    let ok = r(&[(Q::Temperature, 20.0)]);
    let d = decide(&[m("B", Presence::Online, &ok)]);
    let v = limits(&d);
    assert!(v.contains(&(paths::ALLOW_TO_CHARGE, Value::Uint(1))));
    assert!(v.contains(&(paths::MAX_DISCHARGE_CURRENT, Value::Double(600.0))));
    let s = shutdown_limits(14.2);
    assert!(s.contains(&(paths::MAX_CHARGE_CURRENT, Value::Double(0.0))));
}

pub(super) fn arb_member() -> impl Strategy<Value = (Readings, Presence, Option<f64>)> {
    let alarm = prop::option::of(prop::sample::select(vec![0.0, 1.0, 2.0]));
    (
        prop::option::of(-40.0f64..70.0),
        alarm.clone(),
        alarm.clone(),
        alarm.clone(),
        alarm,
        prop::sample::select(vec![Presence::Online, Presence::Online, Presence::Held, Presence::Lost]),
        prop::option::of(50.0f64..1000.0),
    )
        .prop_map(|(t, hv, ht, lv, ls, presence, cap)| {
            let mut v = [None; Q::COUNT];
            v[Q::Temperature as usize] = t;
            v[Q::AlarmHighVoltage as usize] = hv;
            v[Q::AlarmHighTemperature as usize] = ht;
            v[Q::AlarmLowVoltage as usize] = lv;
            v[Q::AlarmLowSoc as usize] = ls;
            (v, presence, cap)
        })
}

proptest! {
    /// Over any sequence of bank states: CCL never exceeds the configured limit times the online
    /// share; CCL is 0 whenever an online member is in a charge-blocking state; DCL likewise;
    /// the limits are always valid numbers.
    #[test]
    fn limits_are_safe_by_design(steps in prop::collection::vec((prop::collection::vec(arb_member(), 0..5), 0u64..90), 1..30)) {
        let mut p = Policy::new(L);
        let mut now = Instant::now();
        for (bank, dt) in &steps {
            now += Duration::from_secs(*dt);
            let names: Vec<String> = (0..bank.len()).map(|i| format!("B{i}")).collect();
            let members: Vec<Member> = bank.iter().zip(&names).map(|((v, pr, c), n)| Member { id: n, name: n, presence: *pr, capacity: *c, values: v, in_circuit: true }).collect();
            let d = p.decide(&members, now);
            prop_assert!(d.charge_current.is_finite() && d.discharge_current.is_finite());
            prop_assert!(d.charge_current >= 0.0 && d.discharge_current >= 0.0);
            prop_assert!(d.charge_current <= L.charge_current * online_share(&members, None) + 1e-9);
            prop_assert!(d.discharge_current <= L.discharge_current + 1e-9);
            let online = || members.iter().filter(|m| m.presence == Presence::Online);
            let charge_blocked = online().any(|m| {
                let t = m.values[Q::Temperature as usize];
                alarm(m, Q::AlarmHighVoltage) || alarm(m, Q::AlarmHighTemperature) || t.is_some_and(|t| !(L.temp_cold..=L.temp_hot).contains(&t))
            });
            let discharge_blocked = online().any(|m| {
                alarm(m, Q::AlarmLowVoltage) || alarm(m, Q::AlarmLowSoc) || m.values[Q::Temperature as usize].is_some_and(|t| t < L.temp_discharge_cold)
            });
            if charge_blocked || online().next().is_none() { prop_assert_eq!(d.charge_current, 0.0); }
            if discharge_blocked { prop_assert_eq!(d.discharge_current, 0.0); }
            let v = limits(&d);
            // CVL is always valid: the configured one while charging is allowed, never above it.
            let cvl = v.iter().find(|(path, _)| *path == paths::MAX_CHARGE_VOLTAGE).and_then(|(_, val)| val.as_f64());
            prop_assert!(cvl.is_some_and(|c| c <= L.charge_voltage + 1e-9));
            if d.charge_current > 0.0 { prop_assert_eq!(cvl, Some(L.charge_voltage)); }
            prop_assert!(v.iter().all(|(_, val)| val.is_valid()));
        }
    }
}

#[test]
fn a_rising_share_ramps_and_a_falling_one_applies_at_once() {
    let t = Instant::now();
    let warm = r(&[(Q::Temperature, 20.0)]);
    let both = [m("A", Presence::Online, &warm), m("B", Presence::Online, &warm)];
    let one = [m("A", Presence::Online, &warm), m("B", Presence::Lost, &warm)];
    let mut p = Policy::new(Limits { hold: Duration::ZERO, ..L });
    // At start-up the members found are the bank: their share applies at once.
    p.decide(&one, t);
    assert!((p.decide(&one, t + Duration::from_secs(61)).charge_current - 150.0).abs() < 1e-6);
    p.settle();
    // B returns: CCL rises from 150 to 300 A over BMS_RAMP_TIME (60 s).
    let d = p.decide(&both, t + Duration::from_secs(70));
    assert!((d.charge_current - 150.0).abs() < 1e-6, "{d:?}");
    let d = p.decide(&both, t + Duration::from_secs(100));
    assert!((d.charge_current - 225.0).abs() < 1e-6, "{d:?}");
    assert!(d.charge_text.starts_with("Ramping up: 2 of 2 members present, 75 %"), "{}", d.charge_text);
    assert!((d.discharge_current - 450.0).abs() < 1e-6, "DCL ramps too: {d:?}");
    // B leaves again mid-ramp: down to its share at once.
    let d = p.decide(&one, t + Duration::from_secs(101));
    assert!((d.charge_current - 150.0).abs() < 1e-6, "{d:?}");
    assert_eq!(d.charge_text, "1 of 2 members present: 50 % of 300 A");
    p.decide(&both, t + Duration::from_secs(110));
    assert_eq!(p.decide(&both, t + Duration::from_secs(170)).charge_text, "Configured limit 300 A");
}

#[test]
fn a_member_out_of_the_circuit_gives_up_its_share_and_is_named() {
    let warm = r(&[(Q::Temperature, 20.0)]);
    let mut out = m("Battery 2", Presence::Online, &warm);
    out.in_circuit = false;
    let d = decide(&[m("Battery 1", Presence::Online, &warm), out]);
    assert!((d.charge_current - 150.0).abs() < 1e-6 && (d.discharge_current - 300.0).abs() < 1e-6, "{d:?}");
    assert_eq!(d.charge_text, "1 of 2 members present: 50 % of 300 A (Battery 2 carries no current: out of the circuit)");
    let mut p = Policy::new(INSTANT);
    p.set_note(Some("bank members not remembered (localsettings unavailable)".into()));
    let d = p.decide(&[m("Battery 1", Presence::Online, &warm)], Instant::now());
    assert_eq!(d.charge_text, "Configured limit 300 A; bank members not remembered (localsettings unavailable)");
}

proptest! {
    /// Once settled, no limit ever rises faster than the ramp allows: from one step to the next
    /// CCL grows by at most the configured limit × elapsed / BMS_RAMP_TIME, except right after
    /// a data gap (no member online), which re-opens at once (see `data_gaps_and_starts_open_at_once`).
    #[test]
    fn a_limit_never_steps_up_once_settled(steps in prop::collection::vec((prop::collection::vec(arb_member(), 2..5), 1u64..30), 1..30)) {
        let mut p = Policy::new(Limits { hold: Duration::ZERO, ..L });
        let mut now = Instant::now();
        p.settle();
        let mut last: Option<(f64, f64)> = None;
        let mut after_gap = false;
        for (bank, dt) in &steps {
            now += Duration::from_secs(*dt);
            let names: Vec<String> = (0..bank.len()).map(|i| format!("B{i}")).collect();
            let members: Vec<Member> = bank.iter().zip(&names).map(|((v, pr, c), n)| Member { id: n, name: n, presence: *pr, capacity: *c, values: v, in_circuit: true }).collect();
            let d = p.decide(&members, now);
            let gap = !members.iter().any(|m| m.presence == Presence::Online);
            if let Some((ccl, dcl)) = last.filter(|_| !after_gap) {
                let step = *dt as f64 / L.ramp.as_secs_f64();
                prop_assert!(d.charge_current <= ccl + L.charge_current * step * 2.0 + 1e-6, "{} -> {}", ccl, d.charge_current);
                prop_assert!(d.discharge_current <= dcl + L.discharge_current * step * 2.0 + 1e-6, "{} -> {}", dcl, d.discharge_current);
            }
            last = Some((d.charge_current, d.discharge_current));
            after_gap = gap;
        }
    }
}

#[test]
fn a_limit_set_in_the_gui_says_so() {
    let ok = r(&[(Q::Temperature, 20.0)]);
    let mut p = Policy::new(Limits { set_in_gui: [true, false], ..INSTANT });
    let d = p.decide(&[m("Battery 1", Presence::Online, &ok)], Instant::now());
    assert_eq!((d.charge_text.as_str(), d.discharge_text.as_str()), ("Limit 300 A set in the GUI", "Configured limit 600 A"));
}

#[test]
fn the_policy_knows_which_members_block() {
    let ok = r(&[(Q::Temperature, 20.0)]);
    let hv = r(&[(Q::Temperature, 20.0), (Q::AlarmHighVoltage, 2.0)]);
    let mut p = Policy::new(INSTANT);
    let t = Instant::now();
    p.decide(&[m("Battery 1", Presence::Online, &ok), m("Battery 2", Presence::Online, &hv)], t);
    assert!(p.blocking("Battery 2") && !p.blocking("Battery 1"));
    // Offline, its block is kept, and so is the verdict.
    p.decide(&[m("Battery 1", Presence::Online, &ok), m("Battery 2", Presence::Held, &ok)], t);
    assert!(p.blocking("Battery 2"));
}
