//! The value of one Venus OS D-Bus item, and how it crosses the wire.
//!
//! Venus encodes "no value" as an empty array inside the variant (velib sends `ai`); every
//! Victron consumer reads *any* empty array as invalid. [`Value::Invalid`] makes that state a
//! variant of its own, so "no value" can never be confused with 0.
//!
//! Decoding is strict because the values come from other processes: non-empty arrays,
//! dictionaries, structures and non-finite doubles are [`Malformed`], never guessed at.

use std::fmt;

use zbus::zvariant::{self, Array, OwnedValue, Signature};

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

/// Variants nested deeper than this are refused (a hostile peer could nest thousands).
const MAX_NESTING: usize = 4;

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

    /// Decodes a received variant.
    pub fn decode(v: &zvariant::Value<'_>) -> Result<Value, Malformed> {
        Self::decode_nested(v, 0)
    }

    fn decode_nested(v: &zvariant::Value<'_>, depth: usize) -> Result<Value, Malformed> {
        use zvariant::Value as Z;
        Ok(match v {
            Z::Value(inner) if depth < MAX_NESTING => return Self::decode_nested(inner, depth + 1),
            Z::Value(_) => return Err(Malformed("variant nested too deeply".into())),
            Z::Array(a) if a.is_empty() => Value::Invalid,
            Z::Array(a) => return Err(Malformed(format!("array of {} elements", a.len()))),
            Z::Bool(b) => Value::Uint(u32::from(*b)),
            Z::U8(n) => Value::Uint(u32::from(*n)),
            Z::U16(n) => Value::Uint(u32::from(*n)),
            Z::U32(n) => Value::Uint(*n),
            Z::U64(n) => match u32::try_from(*n) {
                Ok(n) => Value::Uint(n),
                Err(_) => Value::Int(i64::try_from(*n).map_err(|_| Malformed("u64 out of range".into()))?),
            },
            Z::I16(n) => Value::Int(i64::from(*n)),
            Z::I32(n) => Value::Int(i64::from(*n)),
            Z::I64(n) => Value::Int(*n),
            Z::F64(d) if d.is_finite() => Value::Double(*d),
            Z::F64(d) => return Err(Malformed(format!("non-finite double {d}"))),
            Z::Str(s) => Value::Text(s.as_str().to_owned()),
            other => {
                return Err(Malformed(format!("unexpected type '{}'", other.value_signature())));
            }
        })
    }

    /// Encodes the value for the wire, as velib does (invalid = empty `ai`).
    pub fn to_variant(&self) -> zvariant::Value<'static> {
        match self {
            Value::Invalid => zvariant::Value::Array(Array::new(&Signature::I32)),
            Value::Int(i) => match i32::try_from(*i) {
                Ok(i) => zvariant::Value::I32(i),
                Err(_) => zvariant::Value::I64(*i),
            },
            Value::Uint(u) => zvariant::Value::U32(*u),
            Value::Double(d) => zvariant::Value::F64(*d),
            Value::Text(s) => zvariant::Value::from(s.clone()),
        }
    }

    pub fn to_owned_variant(&self) -> OwnedValue {
        // Only file descriptors make this conversion fail, and a Value never holds one.
        OwnedValue::try_from(self.to_variant()).unwrap_or_else(|_| OwnedValue::from(0u32))
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

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::Value as Z;

    #[test]
    fn decodes_what_venus_sends() {
        let cases: Vec<(Z<'static>, Result<Value, ()>)> = vec![
            (Z::F64(13.46), Ok(Value::Double(13.46))),
            (Z::U32(290), Ok(Value::Uint(290))),
            (Z::I32(-3), Ok(Value::Int(-3))),
            (Z::I64(1 << 40), Ok(Value::Int(1 << 40))),
            (Z::U8(2), Ok(Value::Uint(2))),
            (Z::Bool(true), Ok(Value::Uint(1))),
            (Z::from("SmartShunt 500A/50mV"), Ok(Value::Text("SmartShunt 500A/50mV".into()))),
            (Z::Array(Array::new(&Signature::I32)), Ok(Value::Invalid)),
            (Z::Array(Array::new(&Signature::Variant)), Ok(Value::Invalid)),
            (Z::Value(Box::new(Z::F64(1.5))), Ok(Value::Double(1.5))),
            (Z::F64(f64::NAN), Err(())),
            (Z::F64(f64::INFINITY), Err(())),
            (Z::F64(f64::NEG_INFINITY), Err(())),
            (Z::Array(Array::from(vec![1.0f64; 1000])), Err(())),
        ];
        for (input, want) in cases {
            let got = Value::decode(&input).map_err(|_| ());
            assert_eq!(got, want, "decoding {input:?}");
        }
    }

    #[test]
    fn refuses_deep_nesting() {
        let mut v = Z::F64(1.0);
        for _ in 0..10 {
            v = Z::Value(Box::new(v));
        }
        assert!(Value::decode(&v).is_err());
    }

    #[test]
    fn encodes_invalid_as_empty_int_array() {
        let v = Value::Invalid.to_variant();
        assert_eq!(v.value_signature().to_string(), "ai");
        assert_eq!(Value::decode(&v), Ok(Value::Invalid));
        for v in [Value::Double(1.25), Value::Uint(7), Value::Int(-7), Value::Int(1 << 40), Value::Text("x".into())] {
            assert_eq!(Value::decode(&v.to_variant()), Ok(v.clone()));
        }
    }

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
}
