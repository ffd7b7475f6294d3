//! Unknown, retired and misspelt keys.

use super::*;

const UNKNOWN: &str = "correct or remove it, or set ALLOW_UNKNOWN_KEYS = true to only be warned";

#[test]
fn unknown_keys_are_errors() {
    let cases: &[(&str, &[&str])] = &[
        (
            "DEVICE_MOD = virtual-bms\n",
            &[
                "t.ini:1: DEVICE_MOD: unknown setting (did you mean DEVICE_MODE?); correct or remove it, or set ALLOW_UNKNOWN_KEYS = true to only be warned",
            ],
        ),
        ("LOGGING = debug\nFOO = 1\n", &["t.ini:2: FOO: unknown setting; correct or remove it, or set ALLOW_UNKNOWN_KEYS = true to only be warned"]),
        // Explicitly false, or blank (the default), or not a valid answer.
        (
            "ALLOW_UNKNOWN_KEYS = false\nFOO = 1\n",
            &["t.ini:2: FOO: unknown setting; correct or remove it, or set ALLOW_UNKNOWN_KEYS = true to only be warned"],
        ),
        (
            "FOO = 1\nALLOW_UNKNOWN_KEYS =\n",
            &["t.ini:1: FOO: unknown setting; correct or remove it, or set ALLOW_UNKNOWN_KEYS = true to only be warned"],
        ),
        (
            "FOO = 1\nALLOW_UNKNOWN_KEYS = yes\n",
            &[
                "t.ini:1: FOO: unknown setting; correct or remove it, or set ALLOW_UNKNOWN_KEYS = true to only be warned",
                "t.ini:2: ALLOW_UNKNOWN_KEYS: \"yes\" is not valid, expected true or false",
            ],
        ),
    ];
    check_errors(cases);
}

#[test]
fn unknown_keys_warn_when_allowed() {
    // ALLOW_UNKNOWN_KEYS counts wherever it stands, here after the unknown key.
    let cases: &[Case] = &[
        (
            "# x\nTEMP_COLD_DANGR = 3\nALLOW_UNKNOWN_KEYS = true\n",
            |c| c.allow_unknown_keys = true,
            &[&["t.ini:2: TEMP_COLD_DANGR: unknown setting, ignored (did you mean TEMP_COLD_DANGER?)"]],
        ),
        (
            "temp_hot_dagner = 3\nallow_unknown_keys = TRUE\n",
            |c| c.allow_unknown_keys = true,
            &[&["t.ini:1: TEMP_HOT_DAGNER:", "did you mean TEMP_HOT_DANGER?"]],
        ),
        ("TEMP_DANGER_COLD = 3\nALLOW_UNKNOWN_KEYS = true\n", |c| c.allow_unknown_keys = true, &[&["did you mean TEMP_COLD_DANGER?"]]),
        ("FOO = 1\nALLOW_UNKNOWN_KEYS = true\n", |c| c.allow_unknown_keys = true, &[&["t.ini:1: FOO: unknown setting, ignored"]]),
        // A key of the original program stays a warning without it.
        ("SEARCH_TRIALS = 3\n", |_| {}, &[&["t.ini:1: SEARCH_TRIALS: ", "older version"]]),
    ];
    check_accepted(cases);
}

#[test]
fn allow_unknown_keys_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(&dir, "config.default.ini", "ALLOW_UNKNOWN_KEYS = true\n");
    let user = write(&dir, "config.ini", "\nDEVICE_MOD = virtual-bms\n");
    let loaded = Config::load(&[(base.clone(), true), (user.clone(), false)]).unwrap();
    let want = format!("{}:2: DEVICE_MOD: unknown setting, ignored (did you mean DEVICE_MODE?)", user.display());
    assert_eq!(warnings(&loaded), vec![want]);

    // A later file setting it back (here to the default) makes the key an error again.
    let user = write(&dir, "config.ini", "DEVICE_MOD = virtual-bms\nALLOW_UNKNOWN_KEYS =\n");
    let errs = Config::load(&[(base, true), (user, false)]).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].message.ends_with(UNKNOWN), "{}", errs[0]);
    assert_eq!(errs[0].severity, Severity::Error);
}

#[test]
fn misspelt_required_key() {
    // (input, exact errors)
    let cases: &[(&str, &[&str])] = &[
        (
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAG = 28.4\nMAX_CHARGE_CURRENT = 200\nMAX_DISCHARGE_CURRENT = 300\nALLOW_UNKNOWN_KEYS = true\n",
            &[
                "t.ini:1: MAX_CHARGE_VOLTAGE: is required with DEVICE_MODE = virtual-bms: a virtual BMS must always publish a charge voltage limit (CVL), and there is no safe built-in value (is MAX_CHARGE_VOLTAG at t.ini:2 a misspelling of it?)",
            ],
        ),
        // Without ALLOW_UNKNOWN_KEYS the misspelling is an error of its own, in line order.
        (
            "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAG = 28.4\nMAX_CHARGE_CURRENT = 200\nMAX_DISCHARGE_CURRENT = 300\n",
            &[
                "t.ini:1: MAX_CHARGE_VOLTAGE: is required with DEVICE_MODE = virtual-bms: a virtual BMS must always publish a charge voltage limit (CVL), and there is no safe built-in value (is MAX_CHARGE_VOLTAG at t.ini:2 a misspelling of it?)",
                "t.ini:2: MAX_CHARGE_VOLTAG: unknown setting (did you mean MAX_CHARGE_VOLTAGE?); correct or remove it, or set ALLOW_UNKNOWN_KEYS = true to only be warned",
            ],
        ),
    ];
    check_errors(cases);
}
