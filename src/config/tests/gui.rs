//! The GUI's layer over the files: bounds, precedence, the stored text.

use proptest::prelude::*;

use super::super::gui::{Knob, Overrides};
use super::*;

fn bms_files() -> Config {
    load(&format!("{BMS}FLOAT_VOLTAGE = 27.0\n")).config
}

#[test]
fn a_gui_value_wins_and_the_files_bound_it() {
    let files = bms_files();
    let mut o = Overrides::default();
    let now = o.set(Knob::ChargeCurrent, 80.0, &files).unwrap();
    assert_eq!(now.max_charge_current, Some(80.0));
    assert_eq!(o.source("MAX_CHARGE_CURRENT"), Some("GUI"));
    // The GUI can lower a limit, never raise it above config.ini's.
    let e = o.set(Knob::ChargeCurrent, 201.0, &files).unwrap_err();
    assert!(e.contains("MAX_CHARGE_CURRENT = 201") && e.contains("0..200"), "{e}");
    assert_eq!(o.values[&Knob::ChargeCurrent], 80.0, "a refused write changes nothing");
    // Setting the files' own value is no override.
    let now = o.set(Knob::ChargeCurrent, 200.0, &files).unwrap();
    assert_eq!((now.max_charge_current, o.source("MAX_CHARGE_CURRENT")), (Some(200.0), None));
}

#[test]
fn the_temperatures_keep_their_band() {
    let files = bms_files(); // 5 and 45 °C, margin 2
    let mut o = Overrides::default();
    assert!(o.set(Knob::ColdDanger, 41.0, &files).unwrap_err().contains("TEMP_COLD_DANGER"));
    let now = o.set(Knob::ColdDanger, 40.0, &files).unwrap();
    assert_eq!(Knob::HotDanger.bounds(&files, &now).min, 45.0);
    assert!(o.set(Knob::HotDanger, 44.0, &files).is_err());
    assert!(o.set(Knob::ColdDanger, -41.0, &files).is_err());
    // A virtual BMS only narrows its window from the GUI.
    assert!(o.set(Knob::ColdDanger, 4.0, &files).unwrap_err().contains("outside 5..80"));
    assert!(o.set(Knob::HotDanger, 46.0, &files).unwrap_err().contains("outside -40..45"));
    let monitor = Config::default();
    assert_eq!(Knob::ColdDanger.bounds(&monitor, &monitor).max, 44.0);
    // Each write is judged with the other's final value: hot up first, then cold above 45.
    let mut o = Overrides::default();
    o.set(Knob::HotDanger, 90.0, &monitor).unwrap();
    let now = o.set(Knob::ColdDanger, 60.0, &monitor).unwrap();
    assert_eq!((now.temp_cold_danger, now.temp_hot_danger), (60.0, 90.0));
    assert_eq!(o.apply(&monitor).0, now, "and so does a restart");
    assert!(o.set(Knob::HotDanger, 60.0, &monitor).is_err());
    assert_eq!(o.apply(&monitor).0, now, "a refused write changes nothing");
    assert!(!Knob::ChargeCurrent.offered(&monitor) && !Knob::FloatVoltage.offered(&monitor));
}

#[test]
fn float_is_offered_only_with_a_float_stage_and_stays_below_the_cvl() {
    let files = bms_files();
    let b = Knob::FloatVoltage.bounds(&files, &files);
    assert_eq!((b.min, b.max), (26.4, 28.35)); // 8 cells × 3.3 V, CVL - 0.05 V
    assert!(!Knob::FloatVoltage.offered(&load(BMS).config));
    let with_rebulk = load(&format!("{BMS}FLOAT_VOLTAGE = 27.0\nREBULK_VOLTAGE = 26.6\n")).config;
    assert_eq!(Knob::FloatVoltage.bounds(&with_rebulk, &with_rebulk).min, 26.61);
}

#[test]
fn a_stored_value_that_no_longer_fits_is_dropped() {
    let files = bms_files();
    let (mut o, refused) = Overrides::decode("1;MAX_CHARGE_CURRENT=150;MAX_DISCHARGE_CURRENT=999;OFF=HQ1%3B2;BOGUS=1;TEMP_HOT_DANGER=x");
    assert_eq!(refused.len(), 2, "{refused:?}");
    let (now, dropped) = o.apply(&files);
    assert_eq!((now.max_charge_current, now.max_discharge_current), (Some(150.0), Some(300.0)));
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(o.off.contains("HQ1;2"));
    assert_eq!(Overrides::decode(&o.encode()).0, o);
    assert_eq!(Overrides::decode("2;X=1").1.len(), 1);
    assert_eq!(Overrides::default().encode(), "");
}

proptest! {
    /// Whatever the GUI writes, the effective configuration is one the files could have set:
    /// within the bounds, cold below hot by the margins, float below the CVL.
    #[test]
    fn any_sequence_of_writes_stays_within_the_files_bounds(writes in prop::collection::vec((0usize..5, -60.0f64..400.0), 0..20)) {
        let files = bms_files();
        let mut o = Overrides::default();
        let mut now = files.clone();
        for (k, v) in writes {
            let knob = Knob::ALL[k];
            if let Ok(c) = o.set(knob, v, &files) {
                prop_assert_eq!(knob.value(&c), Some(v), "an accepted write is in force");
                now = c;
            }
        }
        prop_assert!(now.temp_cold_danger >= files.temp_cold_danger && now.temp_hot_danger <= files.temp_hot_danger);
        prop_assert!(now.temp_cold_danger + 2.0 < now.temp_hot_danger - 2.0);
        prop_assert!(now.max_charge_current.unwrap() <= 200.0 && now.max_discharge_current.unwrap() <= 300.0);
        prop_assert!(now.float_voltage.unwrap() < now.max_charge_voltage.unwrap());
        let (back, _) = Overrides::decode(&o.encode());
        prop_assert_eq!(back.clone().apply(&files).0, now);
    }
}

#[test]
fn explain_names_where_each_value_comes_from() {
    let loaded = load(&format!("{BMS}FLOAT_VOLTAGE = 27.0\n"));
    let mut o = Overrides::default();
    let now = o.set(Knob::ChargeCurrent, 80.0, &loaded.config).unwrap();
    let text = loaded.explain(&now, &o);
    assert!(text.contains("MAX_CHARGE_CURRENT = 80  # from GUI (the files say 200)\n"), "{text}");
    assert!(text.contains("MAX_DISCHARGE_CURRENT = 300  # from t.ini\n"), "{text}");
    assert!(text.contains("TEMP_COLD_DANGER = 5  # from built-in\n"), "{text}");
}

#[test]
fn select_battery_monitor_is_for_monitor_mode() {
    let l = load(&format!("{BMS}SELECT_BATTERY_MONITOR = true\n"));
    assert_eq!(warnings(&l).len(), 1);
    assert!(warnings(&l)[0].contains("SELECT_BATTERY_MONITOR: is ignored with DEVICE_MODE = virtual-bms"), "{:?}", warnings(&l));
    assert!(warnings(&load("SELECT_BATTERY_MONITOR = true\n")).is_empty());
}
