use super::*;
use crate::domain::aggregate::Readings;
use proptest::prelude::*;

pub(crate) const S: Stages = Stages {
    max_voltage: 14.2,
    float_voltage: Some(13.5),
    tail_current: 0.02,
    tail_time: Duration::from_secs(180),
    min_absorption: Duration::from_secs(600),
    max_absorption: Duration::from_secs(3600),
    rebulk_soc: 85.0,
    rebulk_voltage: Some(13.2),
    rebulk_days: 14,
    cells: 4.0,
};

fn reading(current: f64) -> Readings {
    let mut r = [None; Q::COUNT];
    r[Q::Current as usize] = Some(current);
    r
}

fn member(values: &Readings, capacity: Option<f64>) -> Member<'_> {
    Member { id: "A", name: "A", presence: Presence::Online, capacity, values, in_circuit: true }
}

const DAY: u64 = 86_400;

/// The monotonic and the wall clock of a test.
struct Clock {
    t: Instant,
    wall: u64,
}

impl Clock {
    fn new() -> Clock {
        Clock { t: Instant::now(), wall: 20_000 * DAY }
    }
}

/// Runs `secs` one-second steps at a bank voltage, current and SoC; returns the last step.
fn run(c: &mut Charger, k: &mut Clock, secs: u64, v: f64, i: f64, soc: f64, capacity: Option<f64>) -> Step {
    let r = reading(i);
    let m = [member(&r, capacity)];
    let mut last = c.step(&m, Some(v), Some(soc), k.t, k.wall);
    for _ in 0..secs {
        k.t += Duration::from_secs(1);
        k.wall += 1;
        last = c.step(&m, Some(v), Some(soc), k.t, k.wall);
    }
    last
}

#[test]
fn bulk_absorption_float_and_each_re_bulk_trigger() {
    let mut k = Clock::new();
    let mut c = Charger::new(S, "");
    let cap = Some(100.0);
    let step = run(&mut c, &mut k, 10, 13.6, 50.0, 70.0, cap);
    assert_eq!((step.stage, step.voltage, step.mode.as_str()), (Stage::Bulk, 14.2, "Bulk"));
    // Within 0.1 V of the CVL: absorption.
    let step = run(&mut c, &mut k, 0, 14.12, 40.0, 95.0, cap);
    assert_eq!(step.stage, Stage::Absorption);
    // The tail (2 A for 100 Ah) for TAIL_TIME is not enough before MIN_ABSORPTION_TIME...
    let step = run(&mut c, &mut k, 400, 14.2, 1.5, 99.0, cap);
    assert_eq!((step.stage, step.mode.as_str()), (Stage::Absorption, "Absorption 6 min"));
    // ...but once both hold: float, with the CVL stepping down 4 mV/s, never below V - 0.1.
    let step = run(&mut c, &mut k, 200, 14.2, 1.5, 99.0, cap);
    assert_eq!(step.stage, Stage::Float);
    assert!(c.saved().starts_with("float;"), "{}", c.saved());
    let step = run(&mut c, &mut k, 10, 14.18, 0.0, 99.0, cap);
    assert!(step.voltage < 14.2 && step.voltage > 14.15, "4 mV/s: {}", step.voltage);
    assert!(step.mode.starts_with("Float (lowering CVL, now 14.1"), "{}", step.mode);
    let step = run(&mut c, &mut k, 100, 14.18, 0.0, 99.0, cap);
    assert!((step.voltage - 14.08).abs() < 1e-9, "never below the bank voltage - 0.1 V: {}", step.voltage);
    let step = run(&mut c, &mut k, 300, 13.4, 0.0, 99.0, cap);
    assert_eq!((step.voltage, step.mode.as_str()), (13.5, "Float"));
    // Near-zero current never re-bulks; SoC 85 % does.
    let step = run(&mut c, &mut k, 600, 13.4, 0.0, 86.0, cap);
    assert_eq!(step.stage, Stage::Float);
    let step = run(&mut c, &mut k, 0, 13.3, -10.0, 85.0, cap);
    assert_eq!((step.stage, step.voltage, step.mode.as_str()), (Stage::Bulk, 14.2, "Re-bulk: SoC 85 % ≤ 85 %"));

    // By voltage: below REBULK_VOLTAGE for a minute.
    let mut c = Charger::new(S, &format!("float;{}", k.wall));
    assert_eq!(run(&mut c, &mut k, 59, 13.1, -5.0, 95.0, cap).stage, Stage::Float);
    let step = run(&mut c, &mut k, 1, 13.1, -5.0, 95.0, cap);
    assert_eq!((step.stage, step.mode.as_str()), (Stage::Bulk, "Re-bulk: below 13.20 V for 60 s"));
    // By age: REBULK_DAYS after the last full charge.
    let mut c = Charger::new(S, &format!("float;{}", k.wall - 14 * DAY + 5));
    assert_eq!(run(&mut c, &mut k, 4, 13.4, 0.0, 95.0, cap).stage, Stage::Float);
    assert_eq!(run(&mut c, &mut k, 1, 13.4, 0.0, 95.0, cap).mode, "Re-bulk: 14 days since the last full charge");
}

#[test]
fn discharging_is_not_the_tail_and_an_unset_clock_is_not_recorded() {
    let mut k = Clock::new();
    let mut c = Charger::new(S, "");
    run(&mut c, &mut k, 0, 14.2, 1.0, 99.0, Some(100.0));
    // Loads above the PV: the bank discharges, the absorption continues to the cap.
    assert_eq!(run(&mut c, &mut k, 3000, 14.2, -20.0, 99.0, Some(100.0)).stage, Stage::Absorption);
    // Below the charge voltage the tail test does not count either.
    assert_eq!(run(&mut c, &mut k, 500, 13.9, 0.5, 99.0, Some(100.0)).stage, Stage::Absorption);
    assert_eq!(run(&mut c, &mut k, 200, 13.9, 0.5, 99.0, Some(100.0)).stage, Stage::Float, "the cap");
    // A wall clock before NTP (1970) is not recorded as the last full charge.
    let mut c = Charger::new(S, "");
    let mut k = Clock { t: Instant::now(), wall: 5_000 };
    run(&mut c, &mut k, 0, 14.2, 1.0, 99.0, Some(100.0));
    run(&mut c, &mut k, 800, 14.2, 1.0, 99.0, Some(100.0));
    assert_eq!(c.saved(), "float;");
}

#[test]
fn a_member_of_unknown_capacity_keeps_absorption_until_the_cap() {
    let mut k = Clock::new();
    let mut c = Charger::new(S, "");
    run(&mut c, &mut k, 0, 14.2, 1.0, 99.0, None);
    assert_eq!(run(&mut c, &mut k, 3598, 14.2, 0.0, 100.0, None).stage, Stage::Absorption);
    assert_eq!(run(&mut c, &mut k, 2, 14.2, 0.0, 100.0, None).stage, Stage::Float);
}

#[test]
fn a_restart_in_float_stays_in_float_and_without_float_the_cvl_stays() {
    let t = Instant::now();
    let mut c = Charger::new(S, "float;123");
    let r = reading(0.0);
    let step = c.step(&[member(&r, Some(100.0))], Some(13.4), Some(99.0), t, 200);
    assert_eq!((step.stage, step.voltage), (Stage::Float, 13.5));
    assert_eq!(c.saved(), "float;123");
    let no_float = Stages { float_voltage: None, ..S };
    let mut c = Charger::new(no_float, "float;123");
    let mut k = Clock { t, wall: 1_000 };
    let step = run(&mut c, &mut k, 4000, 14.2, 0.0, 100.0, Some(100.0));
    assert_eq!((step.stage, step.voltage), (Stage::Absorption, 14.2));
}

/// One step of a random history: seconds, bank voltage, current per 100 Ah, SoC.
fn arb_step() -> impl Strategy<Value = (u64, f64, f64, f64)> {
    (1u64..400, 12.8f64..14.4, -20.0f64..40.0, 60.0f64..100.0)
}

proptest! {
    /// Over any history: the CVL stays within [FLOAT_VOLTAGE, MAX_CHARGE_VOLTAGE], never
    /// falls faster than the step rate, float comes only after the tail test or the cap, and a
    /// re-bulk only on one of its three triggers.
    #[test]
    fn the_stage_machine_keeps_its_promises(steps in prop::collection::vec(arb_step(), 1..80), unknown in any::<bool>()) {
        let (mut t, mut wall) = (Instant::now(), 20_000 * DAY);
        let mut c = Charger::new(S, "");
        let cap = if unknown { None } else { Some(100.0) };
        let mut prev: Option<Step> = None;
        let mut tail_since: Option<Instant> = None;
        let mut abs_since: Option<Instant> = None;
        let mut low_since: Option<Instant> = None;
        for (dt, v, i, soc) in steps {
            t += Duration::from_secs(dt);
            wall += dt;
            let r = reading(i);
            let step = c.step(&[member(&r, cap)], Some(v), Some(soc), t, wall);
            prop_assert!(step.voltage >= 13.5 - 1e-9 && step.voltage <= 14.2 + 1e-9, "{:?}", step);
            if let Some(p) = &prev {
                if step.voltage < p.voltage - 1e-9 {
                    prop_assert!(p.voltage - step.voltage <= CVL_STEP_PER_CELL * 4.0 * dt as f64 + 1e-9, "{:?} -> {:?}", p, step);
                }
                match (p.stage, step.stage) {
                    (Stage::Absorption, Stage::Float) => {
                        let in_abs = abs_since.map_or(Duration::ZERO, |a| t - a);
                        // The tail held before this step's own reading (a jump of dt counts).
                        let tail = !unknown && tail_since.is_some_and(|s| t - s >= S.tail_time) && in_abs >= S.min_absorption;
                        prop_assert!(tail || in_abs >= S.max_absorption, "float too early: {:?}", step);
                    }
                    (Stage::Float, Stage::Bulk) => {
                        let by_voltage = low_since.is_some_and(|s| t - s >= REBULK_VOLTAGE_TIME) && v < 13.2;
                        prop_assert!(soc <= S.rebulk_soc || by_voltage, "re-bulk without a trigger: {:?}", step);
                    }
                    _ => {}
                }
            }
            // The model's own clocks, as the machine sees them after this step.
            if step.stage == Stage::Absorption {
                abs_since = abs_since.or(Some(t));
                let at_tail = !unknown && i <= 2.0;
                tail_since = if at_tail { tail_since.or(Some(t)) } else { None };
            } else {
                abs_since = None;
                tail_since = None;
            }
            low_since = if step.stage == Stage::Float && v < 13.2 { low_since.or(Some(t)) } else { None };
            prev = Some(step);
        }
    }
}
