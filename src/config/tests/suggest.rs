//! Unknown, retired and misspelt keys.

use super::*;

#[test]
fn unknown_keys_warn() {
    let cases: &[Case] = &[
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
    ];
    check_accepted(cases);
}

#[test]
fn misspelt_required_key() {
    // (input, exact errors)
    let cases: &[(&str, &[&str])] = &[(
        "DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAG = 28.4\nMAX_CHARGE_CURRENT = 200\nMAX_DISCHARGE_CURRENT = 300\n",
        &[
            "t.ini:1: MAX_CHARGE_VOLTAGE: is required with DEVICE_MODE = virtual-bms: a virtual BMS must always publish a charge voltage limit (CVL), and there is no safe built-in value (is MAX_CHARGE_VOLTAG at t.ini:2 a misspelling of it?)",
        ],
    )];
    check_errors(cases);
}
