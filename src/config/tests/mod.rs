use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

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
type Case = (&'static str, fn(&mut Config), &'static [&'static [&'static str]]);

/// Loads each case and checks the config and the warnings.
fn check_accepted(cases: &[Case]) {
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

/// Loads each case and checks that it fails with exactly these errors.
fn check_errors(cases: &[(&str, &[&str])]) {
    for (text, want) in cases {
        assert_eq!(errors(text), *want, "{text:?}");
    }
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn error_display_omits_missing_parts() {
    let d = |severity, line, key: Option<&str>| Diagnostic { severity, file: "f".into(), line, key: key.map(str::to_string), message: "m".into() };
    assert_eq!(d(Severity::Error, None, None).to_string(), "f: m");
    assert_eq!(d(Severity::Error, Some(3), None).to_string(), "f:3: m");
    assert_eq!(d(Severity::Warning, None, Some("K")).to_string(), "f: K: m");
}

#[test]
fn error_count_says_error_or_errors() {
    assert_eq!(error_count(1), "1 error");
    assert_eq!(error_count(2), "2 errors");
    assert_eq!(error_count(0), "0 errors");
}

mod exclude;
mod gui;
mod keys;
mod load;
mod parse;
mod suggest;
mod values;
