//! Checks the rules ARCHITECTURE.md states, on the source text (run by `cargo test`).
//!
//! * The domain modules (`aggregate`, `bms`, `bank`, `config`, `memory`) never name zbus or
//!   zvariant; `venus/` never names a domain module.
//! * No D-Bus path literal outside `paths.rs`, except the simulated SmartShunt's own table
//!   (`sim.rs`), the VregLink object (`venus/vreg.rs`) and test code.
//! * No `unwrap()` / `expect(` in src/ outside test code: nothing from outside the process is
//!   unwrapped.

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

#[test]
fn the_domain_knows_no_dbus_and_venus_no_domain() {
    let domain = ["aggregate.rs", "bms.rs", "bank.rs", "bank/", "config/", "memory.rs"];
    let mut bad = Vec::new();
    for (rel, text) in files() {
        for (n, line) in code_lines(&text) {
            if domain.iter().any(|d| rel.starts_with(d)) && (line.contains("zbus") || line.contains("zvariant")) {
                bad.push(format!("{rel}:{n}: {line}"));
            }
            let names_domain = ["crate::aggregate", "crate::bms", "crate::bank", "crate::config", "crate::memory"].iter().any(|m| line.contains(m));
            if rel.starts_with("venus/") && names_domain {
                bad.push(format!("{rel}:{n}: {line}"));
            }
        }
    }
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
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
    let allowed = ["paths.rs", "sim.rs", "venus/vreg.rs"];
    let mut bad = Vec::new();
    for (rel, text) in files().into_iter().filter(|(rel, _)| !allowed.contains(&rel.as_str())) {
        for (n, line) in code_lines(&text) {
            for p in path_literals(line) {
                bad.push(format!("{rel}:{n}: {p}"));
            }
        }
    }
    assert!(bad.is_empty(), "path literals outside paths.rs:\n{}", bad.join("\n"));
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
