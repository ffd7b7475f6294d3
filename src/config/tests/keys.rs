//! The key table: built-in defaults, `describe()` and its round trip.

use proptest::prelude::*;

use super::*;

#[test]
fn shipped_defaults_file() {
    let loaded = load(include_str!("../../../config.default.ini"));
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // Every key is documented and present in the shipped file.
    let text = include_str!("../../../config.default.ini");
    for key in KEYS.map(|k| k.name) {
        let present = text.lines().any(|l| l.trim_start().starts_with(&format!("{key} =")));
        assert!(present, "{key} missing from config.default.ini");
    }
}

#[test]
fn describe_defaults() {
    let text = Config::default().describe();
    assert_eq!(text.lines().count(), KEYS.len());
    assert!(text.lines().all(|l| l.ends_with("# (default)")), "{text}");
    assert!(text.contains("DEVICE_NAME =  # (default)\n"), "{text}");
    assert!(text.contains("TEMP_COLD_DANGER = 5  # (default)\n"), "{text}");
    let mut c = Config::default();
    bms(&mut c);
    c.exclude = vec![Exclude { text: "a, b".into(), instance: None }, Exclude { text: "12".into(), instance: Some(12) }];
    let text = c.describe();
    assert!(text.contains("DEVICE_MODE = virtual-bms\n"), "{text}");
    assert!(text.contains("EXCLUDE_SHUNTS = \"a, b\", 12\n"), "{text}");
    assert_eq!(load(&text).config, c);
}

fn seconds(min: u64, max: u64) -> impl Strategy<Value = Duration> {
    (min..=max).prop_map(Duration::from_secs)
}

fn exclude_item() -> impl Strategy<Value = Exclude> {
    prop_oneof![
        "[0-9]{1,4}".prop_map(|t| {
            let instance = t.parse().ok();
            Exclude { text: t, instance }
        }),
        "[ A-Za-z0-9#;,=_.°\\[\\]-]{0,12}[A-Za-z0-9]".prop_map(|t| Exclude { text: t, instance: None }),
    ]
}

fn valid_config() -> impl Strategy<Value = Config> {
    let identity = (
        any::<bool>(),
        proptest::option::of("[ A-Za-z0-9#;,=_.°'\\[\\]-]{0,16}[A-Za-z0-9]"),
        0u32..=999,
        proptest::option::of(0.001f64..=100_000.0),
        proptest::collection::vec(exclude_item(), 0..4),
    );
    let temps =
        (-40.0f64..=80.0, -40.0f64..=100.0, -40.0f64..=80.0, -40.0f64..=100.0).prop_filter("cold limits below hot", |(c, h, d, dh)| c < h && d < dh);
    let limits = (1.0f64..=100.0, 0.01f64..=10_000.0, 0.01f64..=10_000.0, proptest::option::of(1.0f64..=100.0), any::<bool>());
    let bms = (0.0f64..=20.0, seconds(0, 3600), seconds(0, 3600));
    let levels =
        prop_oneof![Just(LevelFilter::Error), Just(LevelFilter::Warn), Just(LevelFilter::Info), Just(LevelFilter::Debug), Just(LevelFilter::Trace),];
    let timing = (
        levels,
        (0u64..=86_400).prop_map(|s| Some(Duration::from_secs(s)).filter(|d| !d.is_zero())),
        seconds(2, 3600),
        seconds(0, 86_400),
        seconds(1, 600),
        seconds(5, 3600),
    );
    let all = (identity, temps, limits, bms, timing, any::<bool>());
    all.prop_map(|(id, temps, limits, bms, timing, allow_unknown_keys)| {
        let (virtual_bms, name, instance, capacity, exclude) = id;
        let limit = |x: f64| Some(x).filter(|_| virtual_bms);
        Config {
            mode: if virtual_bms { DeviceMode::VirtualBms } else { DeviceMode::Monitor },
            device_name: name,
            device_instance: instance,
            total_capacity: capacity,
            exclude,
            temp_cold_danger: temps.0,
            temp_hot_danger: temps.1,
            temp_discharge_cold: temps.2,
            temp_discharge_hot: temps.3,
            accept_no_temperature_sensor: limits.4,
            max_charge_voltage: limit(limits.0),
            max_charge_current: limit(limits.1),
            max_discharge_current: limit(limits.2),
            // Below the CVL (a cross-check); unused but kept in monitor mode.
            min_bank_voltage: limits.3.filter(|v| !virtual_bms || *v < limits.0),
            bms_temp_margin: bms.0,
            bms_hold_time: bms.1,
            bms_ramp_time: bms.2,
            log_level: timing.0,
            log_period: timing.1,
            // A virtual BMS caps how old its data may get.
            stale_timeout: if virtual_bms { timing.2.min(Duration::from_secs(300)) } else { timing.2 },
            offline_grace: if virtual_bms { timing.3.min(Duration::from_secs(3600)) } else { timing.3 },
            out_of_circuit_time: Duration::from_secs(60),
            start_timeout: timing.4,
            rescan_interval: timing.5,
            allow_unknown_keys,
            // The charge-stage keys at their defaults (their parsing has its own tests).
            ..Config::default()
        }
    })
    .prop_filter("temperature bands wide enough for the margin", |c| {
        let m = if c.mode == DeviceMode::VirtualBms { c.bms_temp_margin } else { 0.0 };
        c.temp_cold_danger + m < c.temp_hot_danger - m && (m == 0.0 || c.temp_discharge_cold + m < c.temp_discharge_hot - m)
    })
}

/// Lines built from the pieces that matter to the parser, so the fuzzing reaches deep.
fn ini_like() -> impl Strategy<Value = String> {
    let key = prop_oneof![proptest::sample::select(KEYS.map(|k| k.name).to_vec()).prop_map(str::to_string), "[A-Za-z_]{0,8}",];
    let value = "[-+0-9a-zA-Z .,=#;\"\\[\\]\t°]{0,16}";
    let line = prop_oneof![(key, "[ \t]*=?[ \t]*", value).prop_map(|(k, eq, v)| format!("{k}{eq}{v}")), "[ \t]*[#;\\[][^\n]{0,10}\\]?", ".{0,20}",];
    (proptest::collection::vec(line, 0..12), prop_oneof![Just("\n"), Just("\r\n")]).prop_map(|(lines, eol)| lines.join(eol))
}

proptest! {
    #[test]
    fn never_panics_on_any_text(text in any::<String>()) {
        let _ = Config::from_str(&text, FILE);
    }

    #[test]
    fn never_panics_on_ini_like_text(text in ini_like()) {
        if let Ok(loaded) = Config::from_str(&text, FILE) {
            // Whatever is accepted describes itself faithfully.
            let again = Config::from_str(&loaded.config.describe(), FILE);
            prop_assert_eq!(again.map(|l| l.config), Ok(loaded.config));
        }
    }

    #[test]
    fn describe_round_trips(config in valid_config()) {
        let text = config.describe();
        match Config::from_str(&text, FILE) {
            Ok(loaded) => {
                prop_assert_eq!(&loaded.config, &config, "{}", text);
                prop_assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
            }
            Err(e) => prop_assert!(false, "{}\n{:?}", text, e),
        }
    }
}

#[test]
fn each_row_shows_its_default() {
    // describe() marks "(default)" by comparing with this column, and the defaults are
    // parsed from it.
    let c = Config::default();
    for key in &KEYS {
        assert_eq!((key.show)(&c), key.default, "{}", key.name);
    }
}
