//! The typed parsers of one value: numbers, names, quotes, modes, levels, and their hints.

use super::*;

#[test]
fn accepted_values() {
    let cases: &[Case] = &[
        ("DEVICE_NAME = House Bank\n", |c| c.device_name = Some("House Bank".into()), &[]),
        ("DEVICE_NAME = \"  padded \"\n", |c| c.device_name = Some("  padded ".into()), &[]),
        ("DEVICE_NAME = \"\"\n", |_| {}, &[]),
        ("TEMP_COLD_DANGER =\nDEVICE_NAME =   # nothing\nLOG_PERIOD=\n", |_| {}, &[]),
        ("TOTAL_CAPACITY = \"560\"\n", |c| c.total_capacity = Some(560.0), &[]),
        ("TOTAL_CAPACITY = 0.5\n", |c| c.total_capacity = Some(0.5), &[]),
        ("TEMP_COLD_DANGER = -3.5\n", |c| c.temp_cold_danger = -3.5, &[]),
        ("TEMP_COLD_DANGER = +3.\n", |c| c.temp_cold_danger = 3.0, &[]),
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
        ("DEVICE_MODE = \"monitor\"\n", |_| {}, &[]),
        ("LOGGING = WARNING\n", |c| c.log_level = LevelFilter::Warn, &[]),
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
    check_accepted(cases);
}

#[test]
fn bad_values() {
    // (input, exact errors)
    let cases: &[(&str, &[&str])] = &[
        ("\nTEMP_COLD_DANGER = cold\n", &["t.ini:2: TEMP_COLD_DANGER: \"cold\" is not valid, expected a temperature in °C between -40 and 80"]),
        ("TEMP_COLD_DANGER = \"cold\"\n", &["t.ini:1: TEMP_COLD_DANGER: \"cold\" is not valid, expected a temperature in °C between -40 and 80"]),
        ("TEMP_HOT_DANGER = 100.5\n", &["t.ini:1: TEMP_HOT_DANGER: \"100.5\" is not valid, expected a temperature in °C between -40 and 100"]),
        ("TEMP_DISCHARGE_COLD = -41\n", &["t.ini:1: TEMP_DISCHARGE_COLD: \"-41\" is not valid, expected a temperature in °C between -40 and 80"]),
        ("DEVICE_MODE = bms\n", &["t.ini:1: DEVICE_MODE: \"bms\" is not valid, expected monitor or virtual-bms"]),
        (
            "DEVICE_INSTANCE = 1000\n",
            &["t.ini:1: DEVICE_INSTANCE: \"1000\" is not valid, expected a device instance, a whole number between 0 and 999"],
        ),
        (
            "DEVICE_INSTANCE = 10.0\n",
            &["t.ini:1: DEVICE_INSTANCE: \"10.0\" is not valid, expected a device instance, a whole number between 0 and 999"],
        ),
        ("TOTAL_CAPACITY = 0\n", &["t.ini:1: TOTAL_CAPACITY: \"0\" is not valid, expected a capacity in Ah, more than 0 and at most 100000"]),
        (
            "TOTAL_CAPACITY = 200Ah\n",
            &[
                "t.ini:1: TOTAL_CAPACITY: \"200Ah\" is not valid, expected a capacity in Ah, more than 0 and at most 100000; write the number without its unit",
            ],
        ),
        (
            "TOTAL_CAPACITY = 200 Ah\n",
            &[
                "t.ini:1: TOTAL_CAPACITY: \"200 Ah\" is not valid, expected a capacity in Ah, more than 0 and at most 100000; write the number without its unit",
            ],
        ),
        ("TOTAL_CAPACITY = NaN\n", &["t.ini:1: TOTAL_CAPACITY: \"NaN\" is not valid, expected a capacity in Ah, more than 0 and at most 100000"]),
        ("TOTAL_CAPACITY = inf\n", &["t.ini:1: TOTAL_CAPACITY: \"inf\" is not valid, expected a capacity in Ah, more than 0 and at most 100000"]),
        ("TOTAL_CAPACITY = 1e3\n", &["t.ini:1: TOTAL_CAPACITY: \"1e3\" is not valid, expected a capacity in Ah, more than 0 and at most 100000"]),
        ("TOTAL_CAPACITY = .\n", &["t.ini:1: TOTAL_CAPACITY: \".\" is not valid, expected a capacity in Ah, more than 0 and at most 100000"]),
        ("MAX_CHARGE_VOLTAGE = 0.5\n", &["t.ini:1: MAX_CHARGE_VOLTAGE: \"0.5\" is not valid, expected a voltage in V between 1 and 100"]),
        (
            "MAX_CHARGE_CURRENT = 0\n",
            &["t.ini:1: MAX_CHARGE_CURRENT: \"0\" is not valid, expected a current in A (whole bank), more than 0 and at most 10000"],
        ),
        (
            "MAX_DISCHARGE_CURRENT = 10000.1\n",
            &["t.ini:1: MAX_DISCHARGE_CURRENT: \"10000.1\" is not valid, expected a current in A (whole bank), more than 0 and at most 10000"],
        ),
        ("BMS_TEMP_MARGIN = 21\n", &["t.ini:1: BMS_TEMP_MARGIN: \"21\" is not valid, expected a temperature difference in °C between 0 and 20"]),
        ("BMS_HOLD_TIME = 60.5\n", &["t.ini:1: BMS_HOLD_TIME: \"60.5\" is not valid, expected a whole number of seconds between 0 and 3600"]),
        ("BMS_RAMP_TIME = 3601\n", &["t.ini:1: BMS_RAMP_TIME: \"3601\" is not valid, expected a whole number of seconds between 0 and 3600"]),
        ("LOGGING = verbose\n", &["t.ini:1: LOGGING: \"verbose\" is not valid, expected one of ERROR, WARNING, INFO, DEBUG, TRACE"]),
        ("LOG_PERIOD = 86401\n", &["t.ini:1: LOG_PERIOD: \"86401\" is not valid, expected a whole number of seconds between 0 and 86400"]),
        ("STALE_TIMEOUT = 1\n", &["t.ini:1: STALE_TIMEOUT: \"1\" is not valid, expected a whole number of seconds between 2 and 3600"]),
        ("OFFLINE_GRACE = -5\n", &["t.ini:1: OFFLINE_GRACE: \"-5\" is not valid, expected a whole number of seconds between 0 and 86400"]),
        ("START_TIMEOUT = 0\n", &["t.ini:1: START_TIMEOUT: \"0\" is not valid, expected a whole number of seconds between 1 and 600"]),
        ("RESCAN_INTERVAL = 4\n", &["t.ini:1: RESCAN_INTERVAL: \"4\" is not valid, expected a whole number of seconds between 5 and 3600"]),
        (
            "RESCAN_INTERVAL = 99999999999999999999999\n",
            &["t.ini:1: RESCAN_INTERVAL: \"99999999999999999999999\" is not valid, expected a whole number of seconds between 5 and 3600"],
        ),
        ("DEVICE_NAME = \"a\"b\"\n", &["t.ini:1: DEVICE_NAME: '\"a\"b\"' has a stray double quote; quotes may only enclose the whole value"]),
        (
            "DEVICE_NAME = \"open # not a comment\n",
            &["t.ini:1: DEVICE_NAME: '\"open # not a comment' starts with a double quote, but the closing quote is missing"],
        ),
        ("DEVICE_NAME = a\u{7}b\n", &["t.ini:1: DEVICE_NAME: \"a\\u{7}b\" is not valid, expected a name without control characters"]),
        ("EXCLUDE_SHUNTS = a,,b\n", &["t.ini:1: EXCLUDE_SHUNTS: item 2 of \"a,,b\" is empty (a doubled or trailing comma?)"]),
        ("EXCLUDE_SHUNTS = a, \"\"\n", &["t.ini:1: EXCLUDE_SHUNTS: item 2 of 'a, \"\"' is empty (a doubled or trailing comma?)"]),
        ("EXCLUDE_SHUNTS = a,\n", &["t.ini:1: EXCLUDE_SHUNTS: item 2 of \"a,\" is empty (a doubled or trailing comma?)"]),
        ("EXCLUDE_SHUNTS = \"abc, d\n", &["t.ini:1: EXCLUDE_SHUNTS: '\"abc, d' has an unbalanced double quote: the closing quote is missing"]),
        ("EXCLUDE_SHUNTS = a\"b\"c\n", &["t.ini:1: EXCLUDE_SHUNTS: item 'a\"b\"c': double quotes may only enclose a whole item"]),
    ];
    check_errors(cases);
}

#[test]
fn hints_for_common_mistakes() {
    let cases: &[(&str, &[&str])] = &[
        // A unit after the number, with or without a space.
        (
            "MAX_CHARGE_VOLTAGE = 14.2 V\n",
            &["t.ini:1: MAX_CHARGE_VOLTAGE: \"14.2 V\" is not valid, expected a voltage in V between 1 and 100; write the number without its unit"],
        ),
        (
            "TEMP_HOT_DANGER = 45°C\n",
            &["t.ini:1: TEMP_HOT_DANGER: \"45°C\" is not valid, expected a temperature in °C between -40 and 100; write the number without its unit"],
        ),
        (
            "STALE_TIMEOUT = 30s\n",
            &[
                "t.ini:1: STALE_TIMEOUT: \"30s\" is not valid, expected a whole number of seconds between 2 and 3600; write the number without its unit",
            ],
        ),
        (
            "MAX_CHARGE_CURRENT = \"-5 A\"\n",
            &[
                "t.ini:1: MAX_CHARGE_CURRENT: \"-5 A\" is not valid, expected a current in A (whole bank), more than 0 and at most 10000; write the number without its unit",
            ],
        ),
        // A decimal comma; three digits after it may be a thousands separator.
        (
            "MAX_CHARGE_VOLTAGE = 14,2\n",
            &["t.ini:1: MAX_CHARGE_VOLTAGE: \"14,2\" is not valid, expected a voltage in V between 1 and 100; use a decimal point, not a comma"],
        ),
        (
            "TEMP_COLD_DANGER = -2,5\n",
            &["t.ini:1: TEMP_COLD_DANGER: \"-2,5\" is not valid, expected a temperature in °C between -40 and 80; use a decimal point, not a comma"],
        ),
        (
            "TOTAL_CAPACITY = 1,200\n",
            &[
                "t.ini:1: TOTAL_CAPACITY: \"1,200\" is not valid, expected a capacity in Ah, more than 0 and at most 100000; use a decimal point, not a comma (and no thousands separator)",
            ],
        ),
        // Whole numbers get no decimal-comma advice: a decimal point is wrong there too.
        ("BMS_HOLD_TIME = 1,5\n", &["t.ini:1: BMS_HOLD_TIME: \"1,5\" is not valid, expected a whole number of seconds between 0 and 3600"]),
        // No hint where neither fits.
        (
            "TOTAL_CAPACITY = 1e3\nMAX_CHARGE_VOLTAGE = 14,2 V\n",
            &[
                "t.ini:1: TOTAL_CAPACITY: \"1e3\" is not valid, expected a capacity in Ah, more than 0 and at most 100000",
                "t.ini:2: MAX_CHARGE_VOLTAGE: \"14,2 V\" is not valid, expected a voltage in V between 1 and 100",
            ],
        ),
        // An opening quote with no closing one.
        ("DEVICE_NAME = \"House Bank\n", &["t.ini:1: DEVICE_NAME: '\"House Bank' starts with a double quote, but the closing quote is missing"]),
        ("LOGGING = \"\n", &["t.ini:1: LOGGING: '\"' starts with a double quote, but the closing quote is missing"]),
        (
            "EXCLUDE_SHUNTS = 288, \"Starter\n",
            &["t.ini:1: EXCLUDE_SHUNTS: '288, \"Starter' has an unbalanced double quote: the closing quote is missing"],
        ),
    ];
    check_errors(cases);
}
