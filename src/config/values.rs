//! The typed parsers of one value. Each takes the value's text and returns the value or
//! the message for a bad one; the loader adds file, line and key.

use std::fmt;
use std::time::Duration;

use log::LevelFilter;

use crate::domain::charge::table::Table;

use super::{DeviceMode, Exclude};

/// Strips one pair of surrounding double quotes. Quotes anywhere else are refused: the
/// comment pre-pass treats every `"` as a quote mark, so a stray one would silently hide
/// a later comment marker.
pub(super) fn unquote(raw: &str) -> Result<&str, String> {
    let inner = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
    if !inner.contains('"') {
        Ok(inner)
    } else if raw.starts_with('"') && raw.matches('"').count() == 1 {
        Err(format!("{} starts with a double quote, but the closing quote is missing", shown(raw)))
    } else {
        Err(format!("{} has a stray double quote; quotes may only enclose the whole value", shown(raw)))
    }
}

/// A value as shown in messages: quoted, with control characters escaped.
pub(super) fn shown(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if v.contains('"') { format!("'{out}'") } else { format!("\"{out}\"") }
}

fn invalid(v: &str, expected: impl fmt::Display) -> String {
    format!("{} is not valid, expected {expected}", shown(v))
}

/// What to write instead, for the usual ways of writing a number that the file refuses:
/// a unit after it ("14.2 V") and, if `decimal`, a decimal comma ("14,2"). "" if neither.
fn number_hint(v: &str, decimal: bool) -> &'static str {
    let unsigned = v.strip_prefix(['+', '-']).unwrap_or(v);
    let end = unsigned.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(unsigned.len());
    let (number, rest) = unsigned.split_at(end);
    if !number.bytes().any(|b| b.is_ascii_digit()) {
        return "";
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match rest.strip_prefix(',') {
        Some(frac) if decimal && !number.contains('.') && digits(frac) => {
            if frac.len() == 3 {
                "; use a decimal point, not a comma (and no thousands separator)"
            } else {
                "; use a decimal point, not a comma"
            }
        }
        _ => {
            let unit = rest.trim_start();
            let unit_like = |c: char| c.is_alphabetic() || matches!(c, '°' | '%' | '/');
            if !unit.is_empty() && unit.chars().all(unit_like) { "; write the number without its unit" } else { "" }
        }
    }
}

/// Blank means "not set"; anything else is parsed.
pub(super) fn opt<T>(v: &str, parse: fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    if v.trim().is_empty() { Ok(None) } else { parse(v).map(Some) }
}

pub(super) fn mode(v: &str) -> Result<DeviceMode, String> {
    let v = v.trim();
    match v.to_ascii_lowercase().as_str() {
        "monitor" => Ok(DeviceMode::Monitor),
        "virtual-bms" => Ok(DeviceMode::VirtualBms),
        _ => Err(invalid(v, "monitor or virtual-bms")),
    }
}

pub(super) fn mode_text(mode: DeviceMode) -> &'static str {
    match mode {
        DeviceMode::Monitor => "monitor",
        DeviceMode::VirtualBms => "virtual-bms",
    }
}

pub(super) fn level(v: &str) -> Result<LevelFilter, String> {
    let v = v.trim();
    match v.to_ascii_uppercase().as_str() {
        "ERROR" => Ok(LevelFilter::Error),
        "WARNING" | "WARN" => Ok(LevelFilter::Warn),
        "INFO" => Ok(LevelFilter::Info),
        "DEBUG" => Ok(LevelFilter::Debug),
        "TRACE" => Ok(LevelFilter::Trace),
        _ => Err(invalid(v, "one of ERROR, WARNING, INFO, DEBUG, TRACE")),
    }
}

pub(super) fn level_text(level: LevelFilter) -> &'static str {
    match level {
        LevelFilter::Off => "OFF",
        LevelFilter::Error => "ERROR",
        LevelFilter::Warn => "WARNING",
        LevelFilter::Info => "INFO",
        LevelFilter::Debug => "DEBUG",
        LevelFilter::Trace => "TRACE",
    }
}

pub(super) fn flag(v: &str) -> Result<bool, String> {
    let v = v.trim();
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(v, "true or false")),
    }
}

/// A name, kept as written (spaces inside quotes count); blank means "not set" (the mode's
/// default name).
pub(super) fn name(v: &str) -> Result<Option<String>, String> {
    if v.chars().any(char::is_control) {
        Err(invalid(v, "a name without control characters"))
    } else if v.trim().is_empty() {
        Ok(None)
    } else {
        Ok(Some(v.to_string()))
    }
}

/// A plain decimal number (`5`, `5.0`, `-3.5`) in range. Exponents, units, `inf` and `NaN`
/// are refused: Rust's float parser alone would accept several of them.
pub(super) fn real(v: &str, min: f64, max: f64, min_inclusive: bool, what: &str) -> Result<f64, String> {
    let v = v.trim();
    let expected = || {
        if min_inclusive { format!("{what} between {min} and {max}") } else { format!("{what}, more than {min} and at most {max}") }
    };
    let unsigned = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err(invalid(v, expected()) + number_hint(v, true));
    }
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x <= max && (x > min || (min_inclusive && x == min)) => Ok(x),
        _ => Err(invalid(v, expected())),
    }
}

pub(super) fn temp(v: &str, min: f64, max: f64) -> Result<f64, String> {
    real(v, min, max, true, "a temperature in °C")
}

pub(super) fn current(v: &str) -> Result<f64, String> {
    real(v, 0.0, 10_000.0, false, "a current in A (whole bank)")
}

/// A whole number in `min..=max`.
pub(super) fn whole(v: &str, min: u64, max: u64, what: &str) -> Result<u64, String> {
    let v = v.trim();
    let unsigned = v.strip_prefix('+').unwrap_or(v);
    let parsed = if unsigned.bytes().all(|b| b.is_ascii_digit()) { unsigned.parse::<u64>().ok() } else { None };
    parsed.filter(|n| (min..=max).contains(n)).ok_or_else(|| invalid(v, format!("{what} between {min} and {max}")) + number_hint(v, false))
}

pub(super) fn secs(v: &str, min: u64, max: u64) -> Result<Duration, String> {
    whole(v, min, max, "a whole number of seconds").map(Duration::from_secs)
}

/// `EXCLUDE_SHUNTS`: comma-separated items; an item may be double-quoted to hold commas or
/// to be matched as a name only. Gets the value with its quotes.
pub(super) fn exclude(raw: &str) -> Result<Vec<Exclude>, String> {
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut items = vec![String::new()];
    let mut quoted = false;
    for c in raw.chars() {
        match c {
            ',' if !quoted => items.push(String::new()),
            _ => {
                if c == '"' {
                    quoted = !quoted;
                }
                if let Some(item) = items.last_mut() {
                    item.push(c);
                }
            }
        }
    }
    if quoted {
        return Err(format!("{} has an unbalanced double quote: the closing quote is missing", shown(raw)));
    }
    let mut out = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let item = item.trim();
        let (text, is_quoted) = match item.strip_prefix('"').and_then(|i| i.strip_suffix('"')) {
            Some(inner) => (inner, true),
            None => (item, false),
        };
        if text.is_empty() {
            return Err(format!("item {} of {} is empty (a doubled or trailing comma?)", n + 1, shown(raw)));
        }
        if text.contains('"') {
            return Err(format!("item {}: double quotes may only enclose a whole item", shown(item)));
        }
        if text.chars().any(char::is_control) {
            return Err(format!("item {} contains a control character", shown(item)));
        }
        // Only a bare number can mean an instance; too large for one, it stays a name.
        let instance = match is_quoted || !text.bytes().all(|b| b.is_ascii_digit()) {
            true => None,
            false => text.parse::<u32>().ok(),
        };
        out.push(Exclude { text: text.to_string(), instance });
    }
    Ok(out)
}

/// The list in the syntax [`exclude`] reads: names quoted, instances bare.
pub(super) fn exclude_text(list: &[Exclude]) -> String {
    list.iter()
        .map(|e| match e.instance {
            Some(_) => e.text.clone(),
            None => format!("\"{}\"", e.text),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A factor table `x:factor, x:factor, ...` (x rising, factors 0 to 1).
pub(super) fn table(v: &str) -> Result<Table, String> {
    Table::parse(v).map_err(|e| invalid(v.trim(), format!("points x:factor, x rising, factors 0 to 1 ({e})")))
}
