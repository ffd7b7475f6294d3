//! The value of one published or received item, as plain Rust: both sides speak it, the core
//! (which knows no D-Bus) and `venus` (which converts it at the wire, `venus::wire`).
//!
//! Venus encodes "no value" as an empty array inside the variant (velib sends `ai`); every
//! Victron consumer reads *any* empty array as invalid. [`Value::Invalid`] makes that state a
//! variant of its own, so "no value" can never be confused with 0.

use std::collections::HashSet;
use std::fmt;

/// One published or received item value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Venus' "no value" (an empty array on the wire).
    Invalid,
    /// A signed integer (velib falls back to Int64 for large ints).
    Int(i64),
    /// An unsigned integer; a real SmartShunt uses `u` for counters, alarms and ids.
    Uint(u32),
    /// A finite double; a real SmartShunt uses `d` for every measurement.
    Double(f64),
    Text(String),
}

/// Why a received variant was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A received value, or why it was refused.
pub type Decoded = Result<Value, Malformed>;

impl Value {
    pub fn is_valid(&self) -> bool {
        !matches!(self, Value::Invalid)
    }

    /// The value as a number, if it is one. Integers convert exactly up to 2^53.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Uint(u) => Some(f64::from(u)),
            Value::Double(d) => Some(d),
            Value::Invalid | Value::Text(_) => None,
        }
    }

    /// The value as a non-negative integer, if it is a whole number that fits.
    pub fn as_u32(&self) -> Option<u32> {
        match *self {
            Value::Uint(u) => Some(u),
            Value::Int(i) => u32::try_from(i).ok(),
            Value::Double(d) if d.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&d) => Some(d as u32),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl From<f64> for Value {
    fn from(d: f64) -> Self {
        if d.is_finite() { Value::Double(d) } else { Value::Invalid }
    }
}

impl From<Option<f64>> for Value {
    fn from(d: Option<f64>) -> Self {
        d.map_or(Value::Invalid, Value::from)
    }
}

impl From<u32> for Value {
    fn from(u: u32) -> Self {
        Value::Uint(u)
    }
}

impl From<Option<u32>> for Value {
    fn from(u: Option<u32>) -> Self {
        u.map_or(Value::Invalid, Value::Uint)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

/// How an item's `GetText` is written, matching what a SmartShunt shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `str(value)`.
    Plain,
    /// A number with `decimals` digits and a unit suffix, e.g. `13.46V`.
    Unit { decimals: u8, unit: &'static str },
    /// `0xA389`, as velib shows `/ProductId`.
    Hex,
    /// Victron firmware encoding `0x0405` shown as `v4.05`.
    Firmware,
}

impl Format {
    pub const VOLT: Format = Format::Unit { decimals: 2, unit: "V" };
    pub const AMP: Format = Format::Unit { decimals: 1, unit: "A" };
    pub const WATT: Format = Format::Unit { decimals: 0, unit: "W" };
    pub const PERCENT: Format = Format::Unit { decimals: 1, unit: "%" };
    pub const AMP_HOUR: Format = Format::Unit { decimals: 1, unit: "Ah" };
    pub const KWH: Format = Format::Unit { decimals: 2, unit: "kWh" };
    pub const CELSIUS: Format = Format::Unit { decimals: 0, unit: "°" };
    pub const SECONDS: Format = Format::Unit { decimals: 0, unit: "s" };

    /// The text of a value; invalid shows as an empty string, as the SmartShunt driver does.
    pub fn text(self, value: &Value) -> String {
        match (self, value) {
            (_, Value::Invalid) => String::new(),
            (_, Value::Text(s)) => s.clone(),
            (Format::Unit { decimals, unit }, v) => match v.as_f64() {
                Some(x) => format!("{:.*}{}", usize::from(decimals), x, unit),
                None => String::new(),
            },
            (Format::Hex, Value::Uint(u)) => format!("0x{u:X}"),
            (Format::Firmware, Value::Uint(u)) => {
                format!("v{:x}.{:02x}", (u >> 8) & 0xff, u & 0xff)
            }
            (_, Value::Int(i)) => i.to_string(),
            (_, Value::Uint(u)) => u.to_string(),
            (_, Value::Double(d)) => d.to_string(),
        }
    }
}

/// Remembers which problems were already logged, so a peer that keeps sending the same bad
/// value is reported once, not on every signal. Bounded: after `LIMIT` distinct keys it stops
/// remembering (and stops logging new ones) so a hostile peer cannot grow it without end.
#[derive(Debug, Default)]
pub struct LogOnce {
    seen: HashSet<String>,
}

impl LogOnce {
    const LIMIT: usize = 4096;

    /// True the first time `key` is seen.
    pub fn first(&mut self, key: &str) -> bool {
        if self.seen.contains(key) || self.seen.len() >= Self::LIMIT {
            return false;
        }
        self.seen.insert(key.to_owned());
        true
    }

    /// Forgets keys that start with `prefix` (e.g. a member that left and may come back).
    pub fn forget(&mut self, prefix: &str) {
        self.seen.retain(|k| !k.starts_with(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_a_smartshunt() {
        let cases = [
            (Format::VOLT, Value::Double(13.460000038), "13.46V"),
            (Format::AMP, Value::Double(13.399999618), "13.4A"),
            (Format::WATT, Value::Double(180.364), "180W"),
            (Format::PERCENT, Value::Double(88.59999), "88.6%"),
            (Format::AMP_HOUR, Value::Double(-22.3999996), "-22.4Ah"),
            (Format::KWH, Value::Double(20.299999), "20.30kWh"),
            (Format::CELSIUS, Value::Double(21.0), "21°"),
            (Format::SECONDS, Value::Uint(64775), "64775s"),
            (Format::Hex, Value::Uint(41865), "0xA389"),
            (Format::Firmware, Value::Uint(1029), "v4.05"),
            (Format::Firmware, Value::Uint(1046), "v4.16"),
            (Format::Plain, Value::Uint(290), "290"),
            (Format::VOLT, Value::Invalid, ""),
        ];
        for (fmt, v, want) in cases {
            assert_eq!(fmt.text(&v), want, "{fmt:?} {v:?}");
        }
    }

    #[test]
    fn logs_once_and_stays_bounded() {
        let mut once = LogOnce::default();
        assert!(once.first("a /Soc"));
        assert!(!once.first("a /Soc"));
        once.forget("a ");
        assert!(once.first("a /Soc"));
        for i in 0..10_000 {
            once.first(&i.to_string());
        }
        assert!(once.seen.len() <= LogOnce::LIMIT);
    }
}
