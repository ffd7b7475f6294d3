//! The pre-pass: comments, quotes around comment markers, sections, key case, line
//! numbers and the syntax errors.

use super::*;

#[test]
fn accepted_syntax() {
    let cases: &[Case] = &[
        ("", |_| {}, &[]),
        ("[DEFAULT]\n", |_| {}, &[]),
        ("LOGGING = debug # chatty\n", |c| c.log_level = LevelFilter::Debug, &[]),
        ("STALE_TIMEOUT = 45 ; seconds\n", |c| c.stale_timeout = Duration::from_secs(45), &[]),
        ("STALE_TIMEOUT = 45\t# tab before\n", |c| c.stale_timeout = Duration::from_secs(45), &[]),
        ("DEVICE_NAME = \"Port # 1 ; aft\" # comment\n", |c| c.device_name = Some("Port # 1 ; aft".into()), &[]),
        ("DEVICE_NAME = Bank#2;x\n", |c| c.device_name = Some("Bank#2;x".into()), &[]),
        ("DEVICE_NAME = a = b\n", |c| c.device_name = Some("a = b".into()), &[]),
        ("  # indented\n\t; tabbed\n   \n\t\nLOGGING = warn\n", |c| c.log_level = LevelFilter::Warn, &[]),
        (
            "[DEFAULT]\r\nLOGGING = trace\r\n# c\r\nDEVICE_INSTANCE = 7\r\n",
            |c| {
                c.log_level = LevelFilter::Trace;
                c.device_instance = 7;
            },
            &[],
        ),
        ("\u{feff}LOGGING = error\n", |c| c.log_level = LevelFilter::Error, &[]),
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
        ("[settings]\n", |_| {}, &[&["t.ini:1: section [settings] is ignored"]]),
        (
            "LOGGING = debug\nLOGGING = error\n",
            |c| c.log_level = LevelFilter::Error,
            &[&["t.ini:2: LOGGING: is also set on line 1; the last value is used"]],
        ),
    ];
    check_accepted(cases);
}

#[test]
fn bad_syntax() {
    // (input, exact errors)
    let cases: &[(&str, &[&str])] = &[
        ("LOGGING debug\n", &["t.ini:1: expected KEY = value, but this line has no '='"]),
        ("LOGGING: debug\n", &["t.ini:1: expected KEY = value, but this line has no '=' (use '=' rather than ':')"]),
        ("[DEFAULT\n", &["t.ini:1: section header lacks its ']'"]),
        (" = 5\n", &["t.ini:1: the setting name before '=' is missing"]),
        ("[other]\nno equals here\n", &["t.ini:2: expected KEY = value, but this line has no '='"]),
    ];
    check_errors(cases);
}
