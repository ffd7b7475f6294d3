use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;
use proptest::prelude::*;

use super::keys::{KEYS, LIMITS};
use super::*;

const FILE: &str = "t.ini";

fn load(text: &str) -> Loaded {
    match Config::from_str(text, FILE) {
        Ok(l) => l,
        Err(e) => panic!("{text:?} failed: {e:?}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    match Config::from_str(text, FILE) {
        Ok(l) => panic!("{text:?} was accepted: {:?}", l.config),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn warnings(l: &Loaded) -> Vec<String> {
    l.warnings.iter().map(ToString::to_string).collect()
}

const BMS: &str = "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 28.4\n\
                   MAX_CHARGE_CURRENT = 200\nMAX_DISCHARGE_CURRENT = 300\n";

fn bms(c: &mut Config) {
    c.mode = DeviceMode::VirtualBms;
    c.max_charge_voltage = Some(28.4);
    c.max_charge_current = Some(200.0);
    c.max_discharge_current = Some(300.0);
}

/// (input, expected change from the defaults, substrings expected in the warnings,
/// one list per warning).
type Case = (
    &'static str,
    fn(&mut Config),
    &'static [&'static [&'static str]],
);

#[test]
fn accepted_forms() {
    let cases: &[Case] = &[
        ("", |_| {}, &[]),
        ("[DEFAULT]\n", |_| {}, &[]),
        (
            "LOGGING = debug # chatty\n",
            |c| c.log_level = LevelFilter::Debug,
            &[],
        ),
        (
            "STALE_TIMEOUT = 45 ; seconds\n",
            |c| c.stale_timeout = Duration::from_secs(45),
            &[],
        ),
        (
            "STALE_TIMEOUT = 45\t# tab before\n",
            |c| c.stale_timeout = Duration::from_secs(45),
            &[],
        ),
        (
            "DEVICE_NAME = \"Port # 1 ; aft\" # comment\n",
            |c| c.device_name = Some("Port # 1 ; aft".into()),
            &[],
        ),
        (
            "DEVICE_NAME = Bank#2;x\n",
            |c| c.device_name = Some("Bank#2;x".into()),
            &[],
        ),
        (
            "DEVICE_NAME = House Bank\n",
            |c| c.device_name = Some("House Bank".into()),
            &[],
        ),
        (
            "DEVICE_NAME = \"  padded \"\n",
            |c| c.device_name = Some("  padded ".into()),
            &[],
        ),
        ("DEVICE_NAME = \"\"\n", |_| {}, &[]),
        (
            "DEVICE_NAME = a = b\n",
            |c| c.device_name = Some("a = b".into()),
            &[],
        ),
        (
            "  # indented\n\t; tabbed\n   \n\t\nLOGGING = warn\n",
            |c| c.log_level = LevelFilter::Warn,
            &[],
        ),
        (
            "[DEFAULT]\r\nLOGGING = trace\r\n# c\r\nDEVICE_INSTANCE = 7\r\n",
            |c| {
                c.log_level = LevelFilter::Trace;
                c.device_instance = 7;
            },
            &[],
        ),
        (
            "\u{feff}LOGGING = error\n",
            |c| c.log_level = LevelFilter::Error,
            &[],
        ),
        (
            "TEMP_COLD_DANGER =\nDEVICE_NAME =   # nothing\nLOG_PERIOD=\n",
            |_| {},
            &[],
        ),
        (
            "TOTAL_CAPACITY = \"560\"\n",
            |c| c.total_capacity = Some(560.0),
            &[],
        ),
        (
            "TOTAL_CAPACITY = 0.5\n",
            |c| c.total_capacity = Some(0.5),
            &[],
        ),
        (
            "TEMP_COLD_DANGER = -3.5\n",
            |c| c.temp_cold_danger = -3.5,
            &[],
        ),
        (
            "TEMP_COLD_DANGER = +3.\n",
            |c| c.temp_cold_danger = 3.0,
            &[],
        ),
        ("BMS_TEMP_MARGIN = .5\n", |c| c.bms_temp_margin = 0.5, &[]),
        ("LOG_PERIOD = 0\n", |c| c.log_period = None, &[]),
        (
            "OFFLINE_GRACE = 0\nBMS_HOLD_TIME = 0\n",
            |c| {
                c.offline_grace = Duration::ZERO;
                c.bms_hold_time = Duration::ZERO;
            },
            &[],
        ),
        (
            "logging = Debug\nDevice_Name = x\n",
            |c| {
                c.log_level = LevelFilter::Debug;
                c.device_name = Some("x".into());
            },
            &[],
        ),
        (
            "device_mode = Virtual-BMS\nmax_charge_voltage = 28.4\n\
             Max_Charge_Current = 200\nMAX_discharge_CURRENT = 300\n",
            bms,
            &[],
        ),
        ("DEVICE_MODE = \"monitor\"\n", |_| {}, &[]),
        (
            "LOGGING = WARNING\n",
            |c| c.log_level = LevelFilter::Warn,
            &[],
        ),
        (
            "LOG_PERIOD = 0\n[DEFAULT]\nRESCAN_INTERVAL = 120\n",
            |c| {
                c.log_period = None;
                c.rescan_interval = Duration::from_secs(120);
            },
            &[],
        ),
        (
            "[DEFAULT]\nLOGGING = debug\n[extra]\nLOGGING = error\nFOO = 1\n[default]\nSTALE_TIMEOUT = 9\n",
            |c| {
                c.log_level = LevelFilter::Debug;
                c.stale_timeout = Duration::from_secs(9);
            },
            &[&["t.ini:3: ", "[extra]", "LOGGING, FOO"]],
        ),
        (
            "[settings]\n",
            |_| {},
            &[&["t.ini:1: section [settings] is ignored"]],
        ),
        (
            "LOGGING = debug\nLOGGING = error\n",
            |c| c.log_level = LevelFilter::Error,
            &[&["t.ini:2: LOGGING: is also set on line 1; the last value is used"]],
        ),
        (
            "# x\nTEMP_COLD_DANGR = 3\n",
            |_| {},
            &[&[
                "t.ini:2: TEMP_COLD_DANGR: unknown setting, ignored (did you mean TEMP_COLD_DANGER?)",
            ]],
        ),
        (
            "temp_hot_dagner = 3\n",
            |_| {},
            &[&["t.ini:1: TEMP_HOT_DAGNER:", "did you mean TEMP_HOT_DANGER?"]],
        ),
        (
            "TEMP_DANGER_COLD = 3\n",
            |_| {},
            &[&["did you mean TEMP_COLD_DANGER?"]],
        ),
        (
            "FOO = 1\n",
            |_| {},
            &[&["t.ini:1: FOO: unknown setting, ignored"]],
        ),
        (
            "SEARCH_TRIALS = 3\n",
            |_| {},
            &[&["t.ini:1: SEARCH_TRIALS: ", "older version"]],
        ),
        (
            "MAX_CHARGE_VOLTAGE = 28.4\nMAX_CHARGE_CURRENT = 100\nMAX_DISCHARGE_CURRENT = 100\n",
            |_| {},
            &[
                &["t.ini:1: MAX_CHARGE_VOLTAGE: is ignored in monitor mode"],
                &["t.ini:2: MAX_CHARGE_CURRENT: is ignored in monitor mode"],
                &["t.ini:3: MAX_DISCHARGE_CURRENT: is ignored in monitor mode"],
            ],
        ),
        ("MAX_CHARGE_VOLTAGE =\n", |_| {}, &[]),
        (
            "TEMP_COLD_DANGER = 0\nTEMP_HOT_DANGER = 60\nTEMP_DISCHARGE_COLD = -10\n\
             BMS_TEMP_MARGIN = 0\nBMS_RAMP_TIME = 3600\nSTART_TIMEOUT = 600\n",
            |c| {
                c.temp_cold_danger = 0.0;
                c.temp_hot_danger = 60.0;
                c.temp_discharge_cold = -10.0;
                c.bms_temp_margin = 0.0;
                c.bms_ramp_time = Duration::from_secs(3600);
                c.start_timeout = Duration::from_secs(600);
            },
            &[],
        ),
    ];
    for (text, change, want_warnings) in cases {
        let loaded = load(text);
        let mut want = Config::default();
        change(&mut want);
        assert_eq!(loaded.config, want, "{text:?}");
        let got = warnings(&loaded);
        assert_eq!(got.len(), want_warnings.len(), "{text:?}: {got:?}");
        for (g, parts) in got.iter().zip(want_warnings.iter()) {
            for p in *parts {
                assert!(g.contains(p), "{text:?}: warning {g:?} lacks {p:?}");
            }
        }
    }
}

#[test]
fn bms_mode() {
    let loaded = load(BMS);
    let mut want = Config::default();
    bms(&mut want);
    assert_eq!(loaded.config, want);
    assert!(loaded.warnings.is_empty());
    assert_eq!(want.default_name(), "Aggregate BMS");
    assert_eq!(Config::default().default_name(), "SmartShunt Aggregate");
}

#[test]
fn exclude_forms() {
    let ex = |text: &str, instance: Option<u32>| Exclude {
        text: text.into(),
        instance,
    };
    let cases: &[(&str, Vec<Exclude>)] = &[
        ("", vec![]),
        ("  ", vec![]),
        ("288", vec![ex("288", Some(288))]),
        ("007", vec![ex("007", Some(7))]),
        ("99999999999", vec![ex("99999999999", None)]),
        (
            "\"Bank, port side\", 288, ttyS5, \"123\"",
            vec![
                ex("Bank, port side", None),
                ex("288", Some(288)),
                ex("ttyS5", None),
                ex("123", None),
            ],
        ),
        (
            "House Bank ,com.victronenergy.battery.ttyS7",
            vec![
                ex("House Bank", None),
                ex("com.victronenergy.battery.ttyS7", None),
            ],
        ),
        (
            "\"a # b\", c ; comment",
            vec![ex("a # b", None), ex("c", None)],
        ),
    ];
    for (value, want) in cases {
        let loaded = load(&format!("EXCLUDE_SHUNTS = {value}\n"));
        assert_eq!(&loaded.config.exclude, want, "{value:?}");
    }
}

#[test]
fn exclude_matches() {
    let ex = |text: &str, instance: Option<u32>| Exclude {
        text: text.into(),
        instance,
    };
    let svc = "com.victronenergy.battery.ttyS5";
    // (item, service, instance, custom name, expected)
    let cases = [
        (ex("288", Some(288)), svc, Some(288), "", true),
        (ex("288", Some(288)), svc, Some(289), "288", true),
        (ex("288", Some(288)), svc, Some(289), "Port", false),
        (ex("123", None), svc, Some(123), "Port", false),
        (ex("123", None), svc, Some(1), "123", true),
        (ex("Port", None), svc, None, "Port", true),
        (ex("port", None), svc, None, "Port", false),
        (ex("ttyS5", None), svc, None, "", true),
        (
            ex("ttyS5", None),
            "com.victronenergy.battery.ttyS55",
            None,
            "",
            false,
        ),
        (ex(svc, None), svc, None, "", true),
        (
            ex("5", Some(5)),
            "com.victronenergy.battery.5",
            None,
            "",
            true,
        ),
        (
            ex("ttyS5", None),
            "com.victronenergy.solarcharger.ttyS5",
            None,
            "",
            false,
        ),
    ];
    for (item, service, instance, name, want) in cases {
        assert_eq!(
            item.matches(service, instance, name),
            want,
            "{item:?} {service} {instance:?} {name:?}"
        );
    }
}

#[test]
fn bad_values() {
    // (input, exact errors)
    let cases: &[(&str, &[&str])] = &[
        (
            "\nTEMP_COLD_DANGER = cold\n",
            &[
                "t.ini:2: TEMP_COLD_DANGER: \"cold\" is not valid, expected a temperature in °C between -40 and 80",
            ],
        ),
        (
            "TEMP_COLD_DANGER = \"cold\"\n",
            &[
                "t.ini:1: TEMP_COLD_DANGER: \"cold\" is not valid, expected a temperature in °C between -40 and 80",
            ],
        ),
        (
            "TEMP_HOT_DANGER = 100.5\n",
            &[
                "t.ini:1: TEMP_HOT_DANGER: \"100.5\" is not valid, expected a temperature in °C between -40 and 100",
            ],
        ),
        (
            "TEMP_DISCHARGE_COLD = -41\n",
            &[
                "t.ini:1: TEMP_DISCHARGE_COLD: \"-41\" is not valid, expected a temperature in °C between -40 and 80",
            ],
        ),
        (
            "DEVICE_MODE = bms\n",
            &["t.ini:1: DEVICE_MODE: \"bms\" is not valid, expected monitor or virtual-bms"],
        ),
        (
            "DEVICE_INSTANCE = 1000\n",
            &[
                "t.ini:1: DEVICE_INSTANCE: \"1000\" is not valid, expected a device instance, a whole number between 0 and 999",
            ],
        ),
        (
            "DEVICE_INSTANCE = 10.0\n",
            &[
                "t.ini:1: DEVICE_INSTANCE: \"10.0\" is not valid, expected a device instance, a whole number between 0 and 999",
            ],
        ),
        (
            "TOTAL_CAPACITY = 0\n",
            &[
                "t.ini:1: TOTAL_CAPACITY: \"0\" is not valid, expected a capacity in Ah, more than 0 and at most 100000",
            ],
        ),
        (
            "TOTAL_CAPACITY = 200Ah\n",
            &[
                "t.ini:1: TOTAL_CAPACITY: \"200Ah\" is not valid, expected a capacity in Ah, more than 0 and at most 100000",
            ],
        ),
        (
            "TOTAL_CAPACITY = 200 Ah\n",
            &[
                "t.ini:1: TOTAL_CAPACITY: \"200 Ah\" is not valid, expected a capacity in Ah, more than 0 and at most 100000",
            ],
        ),
        (
            "TOTAL_CAPACITY = NaN\n",
            &[
                "t.ini:1: TOTAL_CAPACITY: \"NaN\" is not valid, expected a capacity in Ah, more than 0 and at most 100000",
            ],
        ),
        (
            "TOTAL_CAPACITY = inf\n",
            &[
                "t.ini:1: TOTAL_CAPACITY: \"inf\" is not valid, expected a capacity in Ah, more than 0 and at most 100000",
            ],
        ),
        (
            "TOTAL_CAPACITY = 1e3\n",
            &[
                "t.ini:1: TOTAL_CAPACITY: \"1e3\" is not valid, expected a capacity in Ah, more than 0 and at most 100000",
            ],
        ),
        (
            "TOTAL_CAPACITY = .\n",
            &[
                "t.ini:1: TOTAL_CAPACITY: \".\" is not valid, expected a capacity in Ah, more than 0 and at most 100000",
            ],
        ),
        (
            "MAX_CHARGE_VOLTAGE = 0.5\n",
            &[
                "t.ini:1: MAX_CHARGE_VOLTAGE: \"0.5\" is not valid, expected a voltage in V between 1 and 100",
            ],
        ),
        (
            "MAX_CHARGE_CURRENT = 0\n",
            &[
                "t.ini:1: MAX_CHARGE_CURRENT: \"0\" is not valid, expected a current in A (whole bank), more than 0 and at most 10000",
            ],
        ),
        (
            "MAX_DISCHARGE_CURRENT = 10000.1\n",
            &[
                "t.ini:1: MAX_DISCHARGE_CURRENT: \"10000.1\" is not valid, expected a current in A (whole bank), more than 0 and at most 10000",
            ],
        ),
        (
            "BMS_TEMP_MARGIN = 21\n",
            &[
                "t.ini:1: BMS_TEMP_MARGIN: \"21\" is not valid, expected a temperature difference in °C between 0 and 20",
            ],
        ),
        (
            "BMS_HOLD_TIME = 60.5\n",
            &[
                "t.ini:1: BMS_HOLD_TIME: \"60.5\" is not valid, expected a whole number of seconds between 0 and 3600",
            ],
        ),
        (
            "BMS_RAMP_TIME = 3601\n",
            &[
                "t.ini:1: BMS_RAMP_TIME: \"3601\" is not valid, expected a whole number of seconds between 0 and 3600",
            ],
        ),
        (
            "LOGGING = verbose\n",
            &[
                "t.ini:1: LOGGING: \"verbose\" is not valid, expected one of ERROR, WARNING, INFO, DEBUG, TRACE",
            ],
        ),
        (
            "LOG_PERIOD = 86401\n",
            &[
                "t.ini:1: LOG_PERIOD: \"86401\" is not valid, expected a whole number of seconds between 0 and 86400",
            ],
        ),
        (
            "STALE_TIMEOUT = 1\n",
            &[
                "t.ini:1: STALE_TIMEOUT: \"1\" is not valid, expected a whole number of seconds between 2 and 3600",
            ],
        ),
        (
            "OFFLINE_GRACE = -5\n",
            &[
                "t.ini:1: OFFLINE_GRACE: \"-5\" is not valid, expected a whole number of seconds between 0 and 86400",
            ],
        ),
        (
            "START_TIMEOUT = 0\n",
            &[
                "t.ini:1: START_TIMEOUT: \"0\" is not valid, expected a whole number of seconds between 1 and 600",
            ],
        ),
        (
            "RESCAN_INTERVAL = 4\n",
            &[
                "t.ini:1: RESCAN_INTERVAL: \"4\" is not valid, expected a whole number of seconds between 5 and 3600",
            ],
        ),
        (
            "RESCAN_INTERVAL = 99999999999999999999999\n",
            &[
                "t.ini:1: RESCAN_INTERVAL: \"99999999999999999999999\" is not valid, expected a whole number of seconds between 5 and 3600",
            ],
        ),
        (
            "DEVICE_NAME = \"a\"b\"\n",
            &[
                "t.ini:1: DEVICE_NAME: '\"a\"b\"' has a stray double quote; quotes may only enclose the whole value",
            ],
        ),
        (
            "DEVICE_NAME = \"open # not a comment\n",
            &[
                "t.ini:1: DEVICE_NAME: '\"open # not a comment' has a stray double quote; quotes may only enclose the whole value",
            ],
        ),
        (
            "DEVICE_NAME = a\u{7}b\n",
            &[
                "t.ini:1: DEVICE_NAME: \"a\\u{7}b\" is not valid, expected a name without control characters",
            ],
        ),
        (
            "EXCLUDE_SHUNTS = a,,b\n",
            &[
                "t.ini:1: EXCLUDE_SHUNTS: item 2 of \"a,,b\" is empty (a doubled or trailing comma?)",
            ],
        ),
        (
            "EXCLUDE_SHUNTS = a, \"\"\n",
            &[
                "t.ini:1: EXCLUDE_SHUNTS: item 2 of 'a, \"\"' is empty (a doubled or trailing comma?)",
            ],
        ),
        (
            "EXCLUDE_SHUNTS = a,\n",
            &["t.ini:1: EXCLUDE_SHUNTS: item 2 of \"a,\" is empty (a doubled or trailing comma?)"],
        ),
        (
            "EXCLUDE_SHUNTS = \"abc, d\n",
            &["t.ini:1: EXCLUDE_SHUNTS: '\"abc, d' has an unbalanced double quote"],
        ),
        (
            "EXCLUDE_SHUNTS = a\"b\"c\n",
            &[
                "t.ini:1: EXCLUDE_SHUNTS: item 'a\"b\"c': double quotes may only enclose a whole item",
            ],
        ),
        (
            "LOGGING debug\n",
            &["t.ini:1: expected KEY = value, but this line has no '='"],
        ),
        (
            "LOGGING: debug\n",
            &["t.ini:1: expected KEY = value, but this line has no '=' (use '=' rather than ':')"],
        ),
        ("[DEFAULT\n", &["t.ini:1: section header lacks its ']'"]),
        (
            " = 5\n",
            &["t.ini:1: the setting name before '=' is missing"],
        ),
        (
            "[other]\nno equals here\n",
            &["t.ini:2: expected KEY = value, but this line has no '='"],
        ),
        // Every error is reported, in line order.
        (
            "LOGGING = loud\nSTALE_TIMEOUT = 0\nFOO\nTEMP_HOT_DANGER = hot\n",
            &[
                "t.ini:3: expected KEY = value, but this line has no '='",
                "t.ini:1: LOGGING: \"loud\" is not valid, expected one of ERROR, WARNING, INFO, DEBUG, TRACE",
                "t.ini:2: STALE_TIMEOUT: \"0\" is not valid, expected a whole number of seconds between 2 and 3600",
                "t.ini:4: TEMP_HOT_DANGER: \"hot\" is not valid, expected a temperature in °C between -40 and 100",
            ],
        ),
        // Cross-checks name both keys, located at the later one.
        (
            "TEMP_HOT_DANGER = 20\nTEMP_COLD_DANGER = 30\n",
            &[
                "t.ini:2: TEMP_COLD_DANGER: TEMP_COLD_DANGER (30 °C) must be lower than TEMP_HOT_DANGER (20 °C)",
            ],
        ),
        (
            "TEMP_COLD_DANGER = 30\nTEMP_HOT_DANGER = 30\n",
            &[
                "t.ini:2: TEMP_HOT_DANGER: TEMP_COLD_DANGER (30 °C) must be lower than TEMP_HOT_DANGER (30 °C)",
            ],
        ),
        (
            "TEMP_HOT_DANGER = -30\nTEMP_COLD_DANGER = -35\n",
            &[
                "t.ini:1: TEMP_HOT_DANGER: TEMP_DISCHARGE_COLD (-20 °C) must be lower than TEMP_HOT_DANGER (-30 °C)",
            ],
        ),
        // A rejected value does not also trigger the cross-check.
        (
            "TEMP_COLD_DANGER = 90\n",
            &[
                "t.ini:1: TEMP_COLD_DANGER: \"90\" is not valid, expected a temperature in °C between -40 and 80",
            ],
        ),
        // virtual-bms needs each limit.
        (
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_CURRENT = 200\nMAX_DISCHARGE_CURRENT = 300\n",
            &[
                "t.ini:1: MAX_CHARGE_VOLTAGE: is required with DEVICE_MODE = virtual-bms: a virtual BMS must always publish a charge voltage limit (CVL), and there is no safe built-in value",
            ],
        ),
        (
            "MAX_CHARGE_VOLTAGE = 28.4\nMAX_DISCHARGE_CURRENT = 300\nDEVICE_MODE = virtual-bms\n",
            &[
                "t.ini:3: MAX_CHARGE_CURRENT: is required with DEVICE_MODE = virtual-bms: a virtual BMS must always publish a charge current limit (CCL), and there is no safe built-in value",
            ],
        ),
        (
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 28.4\nMAX_CHARGE_CURRENT = 200\nMAX_DISCHARGE_CURRENT =\n",
            &[
                "t.ini:4: MAX_DISCHARGE_CURRENT: is required with DEVICE_MODE = virtual-bms: a virtual BMS must always publish a discharge current limit (DCL), and there is no safe built-in value",
            ],
        ),
        (
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAG = 28.4\nMAX_CHARGE_CURRENT = 200\nMAX_DISCHARGE_CURRENT = 300\n",
            &[
                "t.ini:1: MAX_CHARGE_VOLTAGE: is required with DEVICE_MODE = virtual-bms: a virtual BMS must always publish a charge voltage limit (CVL), and there is no safe built-in value (is MAX_CHARGE_VOLTAG at t.ini:2 a misspelling of it?)",
            ],
        ),
        // A rejected limit is reported once, not also as missing.
        (
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 0\nMAX_CHARGE_CURRENT = 200\nMAX_DISCHARGE_CURRENT = 300\n",
            &[
                "t.ini:2: MAX_CHARGE_VOLTAGE: \"0\" is not valid, expected a voltage in V between 1 and 100",
            ],
        ),
    ];
    for (text, want) in cases {
        assert_eq!(errors(text), *want, "{text:?}");
    }
}

#[test]
fn virtual_bms_missing_all_limits() {
    let got = errors("DEVICE_MODE = virtual-bms\n");
    assert_eq!(got.len(), 3, "{got:?}");
    for (g, key) in got.iter().zip(LIMITS.map(|l| l.key)) {
        assert!(
            g.starts_with(&format!("t.ini:1: {key}: is required")),
            "{g}"
        );
    }
}

#[test]
fn error_display_omits_missing_parts() {
    let e = Diagnostic {
        severity: Severity::Error,
        file: "f".into(),
        line: None,
        key: None,
        message: "m".into(),
    };
    assert_eq!(e.to_string(), "f: m");
    let e = Diagnostic {
        severity: Severity::Error,
        file: "f".into(),
        line: Some(3),
        key: None,
        message: "m".into(),
    };
    assert_eq!(e.to_string(), "f:3: m");
    let w = Diagnostic {
        severity: Severity::Warning,
        file: "f".into(),
        line: None,
        key: Some("K".into()),
        message: "m".into(),
    };
    assert_eq!(w.to_string(), "f: K: m");
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn later_file_overrides_earlier() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(
        &dir,
        "config.default.ini",
        "[DEFAULT]\nLOGGING = INFO\nSTALE_TIMEOUT = 40\n\
                                                  DEVICE_NAME = Base\nTEMP_HOT_DANGER = 50\n",
    );
    let user = write(
        &dir,
        "config.ini",
        "[DEFAULT]\nLOGGING = debug\nDEVICE_NAME =\n",
    );
    let loaded = Config::load(&[(base.clone(), true), (user.clone(), false)]).unwrap();
    let want = Config {
        log_level: LevelFilter::Debug,
        stale_timeout: Duration::from_secs(40),
        temp_hot_danger: 50.0,
        ..Config::default()
    };
    assert_eq!(loaded.config, want);
    assert!(loaded.warnings.is_empty());

    // Cross-check errors point at the later file.
    let user = write(&dir, "config.ini", "\nTEMP_COLD_DANGER = 55\n");
    let got: Vec<String> = Config::load(&[(base, true), (user.clone(), false)])
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    let want = format!(
        "{}:2: TEMP_COLD_DANGER: TEMP_COLD_DANGER (55 °C) must be lower than TEMP_HOT_DANGER (50 °C)",
        user.display()
    );
    assert_eq!(got, vec![want]);
}

#[test]
fn missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(&dir, "config.default.ini", "LOGGING = debug\n");
    let absent = dir.path().join("config.ini");
    let loaded = Config::load(&[(base.clone(), true), (absent.clone(), false)]).unwrap();
    assert_eq!(loaded.config.log_level, LevelFilter::Debug);

    let errs = Config::load(&[(base, true), (absent.clone(), true)]).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].file, absent.display().to_string());
    assert!(errs[0].message.starts_with("cannot be read"), "{}", errs[0]);

    let bad = dir.path().join("latin1.ini");
    std::fs::write(&bad, b"DEVICE_NAME = Caf\xe9\n").unwrap();
    let errs = Config::load(&[(bad, false)]).unwrap_err();
    assert!(errs[0].message.contains("not UTF-8"), "{}", errs[0]);

    assert_eq!(Config::load(&[]).unwrap().config, Config::default());
}

#[test]
fn shipped_defaults_file() {
    let loaded = load(include_str!("../../../config.default.ini"));
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // Every key is documented and present in the shipped file.
    let text = include_str!("../../../config.default.ini");
    for key in KEYS.map(|k| k.name) {
        let present = text
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{key} =")));
        assert!(present, "{key} missing from config.default.ini");
    }
}

#[test]
fn describe_defaults() {
    let text = Config::default().describe();
    assert_eq!(text.lines().count(), KEYS.len());
    assert!(text.lines().all(|l| l.ends_with("# (default)")), "{text}");
    assert!(text.contains("DEVICE_NAME =  # (default)\n"), "{text}");
    assert!(
        text.contains("TEMP_COLD_DANGER = 5  # (default)\n"),
        "{text}"
    );
    let mut c = Config::default();
    bms(&mut c);
    c.exclude = vec![
        Exclude {
            text: "a, b".into(),
            instance: None,
        },
        Exclude {
            text: "12".into(),
            instance: Some(12),
        },
    ];
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
        "[ A-Za-z0-9#;,=_.°\\[\\]-]{0,12}[A-Za-z0-9]".prop_map(|t| Exclude {
            text: t,
            instance: None
        }),
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
    let temps = (-40.0f64..=80.0, -40.0f64..=100.0, -40.0f64..=80.0)
        .prop_filter("cold limits below hot", |(c, h, d)| c < h && d < h);
    let limits = (1.0f64..=100.0, 0.01f64..=10_000.0, 0.01f64..=10_000.0);
    let bms = (0.0f64..=20.0, seconds(0, 3600), seconds(0, 3600));
    let levels = prop_oneof![
        Just(LevelFilter::Error),
        Just(LevelFilter::Warn),
        Just(LevelFilter::Info),
        Just(LevelFilter::Debug),
        Just(LevelFilter::Trace),
    ];
    let timing = (
        levels,
        (0u64..=86_400).prop_map(|s| Some(Duration::from_secs(s)).filter(|d| !d.is_zero())),
        seconds(2, 3600),
        seconds(0, 86_400),
        seconds(1, 600),
        seconds(5, 3600),
    );
    (identity, temps, limits, bms, timing).prop_map(
        |(
            (virtual_bms, name, instance, capacity, exclude),
            (cold, hot, dis),
            (v, cc, dc),
            (m, h, r),
            t,
        )| {
            let (
                log_level,
                log_period,
                stale_timeout,
                offline_grace,
                start_timeout,
                rescan_interval,
            ) = t;
            let limit = |x: f64| Some(x).filter(|_| virtual_bms);
            Config {
                mode: if virtual_bms {
                    DeviceMode::VirtualBms
                } else {
                    DeviceMode::Monitor
                },
                device_name: name,
                device_instance: instance,
                total_capacity: capacity,
                exclude,
                temp_cold_danger: cold,
                temp_hot_danger: hot,
                temp_discharge_cold: dis,
                max_charge_voltage: limit(v),
                max_charge_current: limit(cc),
                max_discharge_current: limit(dc),
                bms_temp_margin: m,
                bms_hold_time: h,
                bms_ramp_time: r,
                log_level,
                log_period,
                stale_timeout,
                offline_grace,
                start_timeout,
                rescan_interval,
            }
        },
    )
}

/// Lines built from the pieces that matter to the parser, so the fuzzing reaches deep.
fn ini_like() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        proptest::sample::select(KEYS.map(|k| k.name).to_vec()).prop_map(str::to_string),
        "[A-Za-z_]{0,8}",
    ];
    let value = "[-+0-9a-zA-Z .,=#;\"\\[\\]\t°]{0,16}";
    let line = prop_oneof![
        (key, "[ \t]*=?[ \t]*", value).prop_map(|(k, eq, v)| format!("{k}{eq}{v}")),
        "[ \t]*[#;\\[][^\n]{0,10}\\]?",
        ".{0,20}",
    ];
    (
        proptest::collection::vec(line, 0..12),
        prop_oneof![Just("\n"), Just("\r\n")],
    )
        .prop_map(|(lines, eol)| lines.join(eol))
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
