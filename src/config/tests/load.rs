//! Loading: files in order, cross-checks, the mode's limits.

use super::*;

#[test]
fn monitor_mode_drops_limits() {
    let cases: &[Case] = &[
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
    ];
    check_accepted(cases);
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
fn cross_checks() {
    // (input, exact errors)
    let cases: &[(&str, &[&str])] = &[
        // Every error is reported, in line order.
        (
            "LOGGING = loud\nSTALE_TIMEOUT = 0\nFOO\nTEMP_HOT_DANGER = hot\n",
            &[
                "t.ini:1: LOGGING: \"loud\" is not valid, expected one of ERROR, WARNING, INFO, DEBUG, TRACE",
                "t.ini:2: STALE_TIMEOUT: \"0\" is not valid, expected a whole number of seconds between 2 and 3600",
                "t.ini:3: expected KEY = value, but this line has no '='",
                "t.ini:4: TEMP_HOT_DANGER: \"hot\" is not valid, expected a temperature in °C between -40 and 100",
            ],
        ),
        // Cross-checks name both keys, located at the later one.
        (
            "TEMP_HOT_DANGER = 20\nTEMP_COLD_DANGER = 30\n",
            &["t.ini:2: TEMP_COLD_DANGER: TEMP_COLD_DANGER (30 °C, t.ini:2) must be lower than TEMP_HOT_DANGER (20 °C, t.ini:1)"],
        ),
        (
            "TEMP_COLD_DANGER = 30\nTEMP_HOT_DANGER = 30\n",
            &["t.ini:2: TEMP_HOT_DANGER: TEMP_COLD_DANGER (30 °C, t.ini:1) must be lower than TEMP_HOT_DANGER (30 °C, t.ini:2)"],
        ),
        // In virtual-bms mode the margin must fit too (20 + 5 is not below 30 - 5: charging
        // would never re-open), and each band names its keys and where they were set.
        (
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 14.2\nMAX_CHARGE_CURRENT = 100\nMAX_DISCHARGE_CURRENT = 100\n\
             TEMP_COLD_DANGER = 20\nTEMP_HOT_DANGER = 30\nBMS_TEMP_MARGIN = 5\nTEMP_DISCHARGE_HOT = -10\n",
            &[
                "t.ini:6: TEMP_HOT_DANGER: TEMP_COLD_DANGER (20 °C, t.ini:5) + BMS_TEMP_MARGIN (5 °C, t.ini:7) must stay below TEMP_HOT_DANGER (30 °C, t.ini:6) - BMS_TEMP_MARGIN, or a charging stop could never clear and re-open",
                "t.ini:8: TEMP_DISCHARGE_HOT: TEMP_DISCHARGE_COLD (-20 °C, built-in) + BMS_TEMP_MARGIN (5 °C, t.ini:7) must stay below TEMP_DISCHARGE_HOT (-10 °C, t.ini:8) - BMS_TEMP_MARGIN, or a discharging stop could never clear and re-open",
            ],
        ),
        // A virtual BMS does not run its limits on day-old data.
        (
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 14.2\nMAX_CHARGE_CURRENT = 100\nMAX_DISCHARGE_CURRENT = 100\nOFFLINE_GRACE = 86400\nSTALE_TIMEOUT = 600\n",
            &[
                "t.ini:5: OFFLINE_GRACE: OFFLINE_GRACE (86400 s, t.ini:5) is too long with DEVICE_MODE = virtual-bms (t.ini:1): the limits would run on data up to 24.0 h old; at most 3600 s",
                "t.ini:6: STALE_TIMEOUT: STALE_TIMEOUT (600 s, t.ini:6) is too long with DEVICE_MODE = virtual-bms (t.ini:1): the limits would run on data up to 10 min old; at most 300 s",
            ],
        ),
        (
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 14.2\nMAX_CHARGE_CURRENT = 100\nMAX_DISCHARGE_CURRENT = 100\nMIN_BANK_VOLTAGE = 14.4\n",
            &["t.ini:5: MIN_BANK_VOLTAGE: MIN_BANK_VOLTAGE (14.4 V, t.ini:5) must be lower than MAX_CHARGE_VOLTAGE (14.2 V, t.ini:2)"],
        ),
        // The charge stages in order, and a table that is not one.
        (
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 14.2\nMAX_CHARGE_CURRENT = 100\nMAX_DISCHARGE_CURRENT = 100\nFLOAT_VOLTAGE = 14.4\nMIN_ABSORPTION_TIME = 900\nMAX_ABSORPTION_TIME = 600\nCHARGE_SOC_TABLE = 90:1, 85:0.5\n",
            &[
                "t.ini:5: FLOAT_VOLTAGE: FLOAT_VOLTAGE (14.4 V, t.ini:5) must be lower than MAX_CHARGE_VOLTAGE (14.2 V, t.ini:2)",
                "t.ini:7: MAX_ABSORPTION_TIME: MIN_ABSORPTION_TIME (900 s, t.ini:6) must not be more than MAX_ABSORPTION_TIME (600 s, t.ini:7)",
                "t.ini:8: CHARGE_SOC_TABLE: \"90:1, 85:0.5\" is not valid, expected points x:factor, x rising, factors 0 to 1 (the x values must rise from point to point)",
            ],
        ),
        // A rejected value does not also trigger the cross-check.
        ("TEMP_COLD_DANGER = 90\n", &["t.ini:1: TEMP_COLD_DANGER: \"90\" is not valid, expected a temperature in °C between -40 and 80"]),
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
        // A rejected limit is reported once, not also as missing.
        (
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 0\nMAX_CHARGE_CURRENT = 200\nMAX_DISCHARGE_CURRENT = 300\n",
            &["t.ini:2: MAX_CHARGE_VOLTAGE: \"0\" is not valid, expected a voltage in V between 1 and 100"],
        ),
    ];
    check_errors(cases);
}

#[test]
fn virtual_bms_missing_all_limits() {
    let got = errors("DEVICE_MODE = virtual-bms\n");
    assert_eq!(got.len(), 3, "{got:?}");
    for (g, key) in got.iter().zip(LIMITS.map(|l| l.key)) {
        assert!(g.starts_with(&format!("t.ini:1: {key}: is required")), "{g}");
    }
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
    let user = write(&dir, "config.ini", "[DEFAULT]\nLOGGING = debug\nDEVICE_NAME =\n");
    let loaded = Config::load(&[(base.clone(), true), (user.clone(), false)]).unwrap();
    let want = Config { log_level: LevelFilter::Debug, stale_timeout: Duration::from_secs(40), temp_hot_danger: 50.0, ..Config::default() };
    assert_eq!(loaded.config, want);
    assert!(loaded.warnings.is_empty());

    // Cross-check errors point at the later file.
    let user = write(&dir, "config.ini", "\nTEMP_COLD_DANGER = 55\n");
    let got: Vec<String> = Config::load(&[(base.clone(), true), (user.clone(), false)]).unwrap_err().iter().map(ToString::to_string).collect();
    let want = format!(
        "{u}:2: TEMP_COLD_DANGER: TEMP_COLD_DANGER (55 °C, {u}:2) must be lower than TEMP_HOT_DANGER (50 °C, {b}:5)",
        u = user.display(),
        b = base.display()
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
fn errors_in_file_then_line_order() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(&dir, "base.ini", "\n\n\nLOGGING = loud\nSTALE_TIMEOUT = 0\n");
    let user = write(&dir, "user.ini", "TEMP_HOT_DANGER = hot\nno equals\nFOO = 1\n");
    let got: Vec<String> = Config::load(&[(base.clone(), true), (user.clone(), true)])
        .unwrap_err()
        .iter()
        .map(|e| e.to_string().split(": ").take(2).collect::<Vec<_>>().join(": "))
        .collect();
    let (b, u) = (base.display(), user.display());
    let want = [
        format!("{b}:4: LOGGING"),
        format!("{b}:5: STALE_TIMEOUT"),
        format!("{u}:1: TEMP_HOT_DANGER"),
        format!("{u}:2: expected KEY = value, but this line has no '='"),
        format!("{u}:3: FOO"),
    ];
    assert_eq!(got, want);
}
