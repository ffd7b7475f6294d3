//! The pre-pass and `serde_ini`: one file's text to its `KEY = value` entries. Knows
//! comments, blank lines, sections, key case and line numbers, nothing about the keys.

use std::collections::BTreeMap;

use super::{Diagnostic, Severity};

/// One accepted `KEY = value` line. Ordered by line first.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Entry {
    pub line: Option<usize>,
    /// In capitals.
    pub key: String,
    /// Trimmed, with its quotes (the typed conversion strips them).
    pub value: String,
}

/// A file's entries in line order (the last of duplicate keys only) and the problems found.
pub(super) struct Parsed {
    pub entries: Vec<Entry>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses one file's text; `file` names it in messages.
pub(super) fn parse(text: &str, file: &str) -> Parsed {
    let mut pass = Pass { file, diagnostics: Vec::new() };
    let (ini, lines) = pass.prepare(text);
    type Sections = BTreeMap<String, BTreeMap<String, String>>;
    let mut entries = match serde_ini::from_str::<Sections>(&ini) {
        Ok(mut sections) => sections
            .remove("DEFAULT")
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| Entry { line: lines.get(&key).copied(), key, value })
            .collect(),
        Err(e) => {
            // The pre-pass only emits lines serde_ini accepts; this is a safety net.
            pass.note(Severity::Error, None, None, format!("INI parser failed: {e}"));
            Vec::new()
        }
    };
    entries.sort(); // report in line order
    Parsed { entries, diagnostics: pass.diagnostics }
}

/// Cuts an inline comment: a `#` or `;` at the start of the line or after whitespace,
/// outside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut after_space = true;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' | ';' if !quoted && after_space => return &line[..i],
            _ => {}
        }
        after_space = c.is_whitespace();
    }
    line
}

/// A section other than `[DEFAULT]` being skipped: its name, line and keys.
type Skipped = (String, usize, Vec<String>);

struct Pass<'a> {
    file: &'a str,
    diagnostics: Vec<Diagnostic>,
}

impl Pass<'_> {
    fn note(&mut self, severity: Severity, line: Option<usize>, key: Option<&str>, msg: String) {
        let d = Diagnostic::new(severity, self.file, line, key, msg);
        self.diagnostics.push(d);
    }

    /// `[DEFAULT]` plus one `KEY=value` line per accepted line, for serde_ini, and each
    /// key's line (its last occurrence).
    fn prepare(&mut self, text: &str) -> (String, BTreeMap<String, usize>) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text); // BOM from Windows editors
        let mut ini = String::from("[DEFAULT]\n");
        let mut lines = BTreeMap::new();
        // Warned about when it ends.
        let mut skipped: Option<Skipped> = None;
        for (index, raw) in text.lines().enumerate() {
            let n = index + 1;
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            if let Some(header) = line.strip_prefix('[') {
                self.flush_skipped(skipped.take());
                match header.strip_suffix(']') {
                    Some(name) if name.trim().eq_ignore_ascii_case("DEFAULT") => {}
                    Some(name) => skipped = Some((name.trim().to_string(), n, Vec::new())),
                    None => {
                        let msg = "section header lacks its ']'".into();
                        self.note(Severity::Error, Some(n), None, msg);
                    }
                }
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                let hint = if line.contains(':') { " (use '=' rather than ':')" } else { "" };
                let msg = format!("expected KEY = value, but this line has no '='{hint}");
                self.note(Severity::Error, Some(n), None, msg);
                continue;
            };
            let key = key.trim().to_uppercase();
            if key.is_empty() {
                let msg = "the setting name before '=' is missing".into();
                self.note(Severity::Error, Some(n), None, msg);
                continue;
            }
            if let Some((_, _, keys)) = &mut skipped {
                keys.push(key);
                continue;
            }
            if let Some(first) = lines.insert(key.clone(), n) {
                let msg = format!("is also set on line {first}; the last value is used");
                self.note(Severity::Warning, Some(n), Some(&key), msg);
            }
            ini.push_str(&key);
            ini.push('=');
            ini.push_str(value.trim());
            ini.push('\n');
        }
        self.flush_skipped(skipped);
        (ini, lines)
    }

    fn flush_skipped(&mut self, skipped: Option<Skipped>) {
        if let Some((name, line, keys)) = skipped {
            let mut msg = format!("section [{name}] is ignored, all settings belong in [DEFAULT]");
            if !keys.is_empty() {
                msg.push_str(&format!("; not used: {}", keys.join(", ")));
            }
            self.note(Severity::Warning, Some(line), None, msg);
        }
    }
}
