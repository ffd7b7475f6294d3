//! Checks the rules ARCHITECTURE.md states, on the source text (run by `cargo test`).
//!
//! * The core (`domain/`, `config/`, `value.rs`) names no zbus, zvariant, smol, and none of
//!   the shell's modules (`venus`, `rt`, `daemon`, `publish`, `status`, `tools`).
//! * `venus/` names no module of ours but `value` and `rt`: it knows nothing about batteries.
//! * zvariant (the wire's types) is named only in `venus/` and `tools/`.
//! * No D-Bus path literal outside the catalogue (`domain/paths.rs`), except the simulated
//!   SmartShunt's identity (`tools/sim/mod.rs`), the VregLink object (`venus/vreg.rs`) and
//!   test code.
//! * No `unwrap()` / `expect(` in src/ outside test code: nothing from outside the process is
//!   unwrapped.
//! * No file in src/ over 400 lines.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable").flatten() {
        let p = entry.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// (path relative to src/, the text without its test code) for every non-test source file.
fn files() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    sources(&src, &mut all);
    all.sort();
    all.into_iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(&src).ok()?.to_string_lossy().replace('\\', "/");
            let test_file = rel == "tidy.rs" || rel.ends_with("/tests.rs") || rel.contains("/tests/") || rel.ends_with("tests.rs");
            if test_file {
                return None;
            }
            let text = std::fs::read_to_string(&p).ok()?;
            // Inline test modules come last in a file: cut from the first one.
            let cut = text.find("#[cfg(test)]\nmod tests {").unwrap_or(text.len());
            Some((rel, text[..cut].to_owned()))
        })
        .collect()
}

fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(n, l)| (n + 1, l)).filter(|(_, l)| {
        let t = l.trim_start();
        !t.starts_with("//")
    })
}

fn is_core(rel: &str) -> bool {
    rel.starts_with("domain/") || rel.starts_with("config/") || rel == "value.rs"
}

#[test]
fn the_core_knows_no_dbus_and_venus_no_batteries() {
    let shell = ["crate::venus", "crate::rt", "crate::daemon", "crate::publish", "crate::status", "crate::tools"];
    let ours = ["crate::domain", "crate::config", "crate::daemon", "crate::publish", "crate::status", "crate::tools"];
    let mut bad = Vec::new();
    for (rel, text) in files() {
        for (n, line) in code_lines(&text) {
            let wire = line.contains("zbus") || line.contains("zvariant") || line.contains("smol");
            if is_core(&rel) && (wire || shell.iter().any(|m| line.contains(m))) {
                bad.push(format!("{rel}:{n}: {line}"));
            }
            if rel.starts_with("venus/") && ours.iter().any(|m| line.contains(m)) {
                bad.push(format!("{rel}:{n}: {line}"));
            }
            if line.contains("zvariant") && !(rel.starts_with("venus/") || rel.starts_with("tools/")) {
                bad.push(format!("{rel}:{n}: {line}"));
            }
        }
    }
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn no_file_is_over_400_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    sources(&src, &mut all);
    let long: Vec<String> = all
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).ok()?.lines().count();
            (n > 400).then(|| format!("{}: {n} lines", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by concern:\n{}", long.join("\n"));
}

/// A string literal that is a whole D-Bus path such as "/Dc/0/Voltage" or "/Soc".
fn path_literals(line: &str) -> Vec<&str> {
    line.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.len() > 1
                && s.starts_with('/')
                && s[1..].starts_with(|c: char| c.is_ascii_uppercase())
                && !s.ends_with('/')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '/')
        })
        .collect()
}

#[test]
fn paths_are_spelled_only_in_the_catalogue() {
    let allowed = ["domain/paths.rs", "domain/paths/gui.rs", "tools/sim/mod.rs", "venus/vreg.rs"];
    let mut bad = Vec::new();
    for (rel, text) in files().into_iter().filter(|(rel, _)| !allowed.contains(&rel.as_str())) {
        for (n, line) in code_lines(&text) {
            for p in path_literals(line) {
                bad.push(format!("{rel}:{n}: {p}"));
            }
        }
    }
    assert!(bad.is_empty(), "path literals outside the catalogue:\n{}", bad.join("\n"));
    assert_eq!(path_literals(r#"x("/Dc/0/Voltage", "/Alarms/", "a/b", "/Soc")"#), ["/Dc/0/Voltage", "/Soc"]);
}

#[test]
fn nothing_is_unwrapped_outside_tests() {
    let mut bad = Vec::new();
    for (rel, text) in files() {
        for (n, line) in code_lines(&text) {
            if line.contains(".unwrap()") || line.contains(".expect(") {
                bad.push(format!("{rel}:{n}: {}", line.trim()));
            }
        }
    }
    assert!(bad.is_empty(), "unwrap/expect in src/:\n{}", bad.join("\n"));
}
