//! Where values cross the wire: zvariant to [`Value`] and back, strictly, and the one decoder
//! of the `a{sa{sv}}` dictionaries that `GetItems` and `ItemsChanged` carry.
//!
//! Decoding is strict because the values come from other processes: non-empty arrays,
//! dictionaries, structures and non-finite doubles are [`Malformed`], never guessed at.

use std::collections::HashMap;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use zbus::zvariant::{self, Array, OwnedValue, Signature, Type};

use crate::value::{Decoded, Malformed, Value};

/// Variants nested deeper than this are refused (a hostile peer could nest thousands).
const MAX_NESTING: usize = 4;

/// `a{sa{sv}}`: path → {"Value", "Text", ...}, as `GetItems` answers and `ItemsChanged` sends.
pub type ItemsDict = HashMap<String, HashMap<String, OwnedValue>>;

/// One item's `Value` from its `{"Value": v, "Text": t}` entry.
pub fn entry_value(entry: &HashMap<String, OwnedValue>) -> Decoded {
    match entry.get("Value") {
        Some(v) => decode(v),
        None => Err(Malformed("no 'Value' key".into())),
    }
}

/// One item's `Text` (empty when missing or not a string).
pub fn entry_text(entry: &HashMap<String, OwnedValue>) -> String {
    entry.get("Text").and_then(|t| decode(t).ok()).and_then(|t| t.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Every item of an `a{sa{sv}}` body, decoded (a malformed value is passed on as `Err`).
pub fn items(dict: ItemsDict) -> Vec<(String, Decoded)> {
    dict.into_iter().map(|(p, d)| (p, entry_value(&d))).collect()
}

/// The (path, value) pairs of an `a{sa{sv}}` body, decoded straight from the message: the
/// paths and texts are read in place, only the `Value` of each item is decoded (no owned
/// maps in between; measured as a fifth of the cost of an input before).
#[derive(Debug, Default)]
pub struct ItemValues(pub Vec<(String, Decoded)>);

impl Type for ItemValues {
    const SIGNATURE: &'static Signature = <ItemsDict as Type>::SIGNATURE;
}

impl<'de> Deserialize<'de> for ItemValues {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items;
        impl<'de> Visitor<'de> for Items {
            type Value = ItemValues;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a{sa{sv}}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ItemValues, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(4).min(64));
                while let Some(path) = map.next_key::<&str>()? {
                    let EntryValue(v) = map.next_value()?;
                    out.push((path.to_owned(), v));
                }
                Ok(ItemValues(out))
            }
        }
        d.deserialize_map(Items)
    }
}

/// The decoded `Value` of one `{"Value": v, "Text": t}` entry; the other keys are skipped.
struct EntryValue(Decoded);

impl<'de> Deserialize<'de> for EntryValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = EntryValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a{sv}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntryValue, A::Error> {
                let mut value = None;
                while let Some(key) = map.next_key::<&str>()? {
                    if key == "Value" {
                        let v: zvariant::Value<'de> = map.next_value()?;
                        value = Some(decode(&v));
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(EntryValue(value.unwrap_or_else(|| Err(Malformed("no 'Value' key".into())))))
            }
        }
        d.deserialize_map(Entry)
    }
}

/// The `Value` of a `PropertiesChanged` body (`a{sv}`), decoded in place.
#[derive(Debug)]
pub struct ChangedValue(pub Decoded);

impl Type for ChangedValue {
    const SIGNATURE: &'static Signature = <HashMap<String, OwnedValue> as Type>::SIGNATURE;
}

impl<'de> Deserialize<'de> for ChangedValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        EntryValue::deserialize(d).map(|EntryValue(v)| ChangedValue(v))
    }
}

/// What one `ItemsChanged` carries, as (path, value, text), serialized as `a{sa{sv}}` straight
/// from our values: no owned maps and no copied strings in between (measured: building the
/// owned maps was a third of the cost of sending a signal).
#[derive(Debug, Default)]
pub struct Changes(pub Vec<(String, Value, String)>);

impl Type for Changes {
    const SIGNATURE: &'static Signature = <ItemsDict as Type>::SIGNATURE;
}

impl Serialize for Changes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Entry<'a>(&'a Value, &'a str);
        impl Serialize for Entry<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("Value", &to_variant_ref(self.0))?;
                m.serialize_entry("Text", &zvariant::Value::from(self.1))?;
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (path, value, text) in &self.0 {
            m.serialize_entry(path, &Entry(value, text))?;
        }
        m.end()
    }
}

/// Encodes one item for `GetItems` / `ItemsChanged`.
pub fn entry(value: &Value, text: &str) -> HashMap<String, OwnedValue> {
    HashMap::from([("Value".to_owned(), to_owned_variant(value)), ("Text".to_owned(), to_owned_variant(&Value::Text(text.to_owned())))])
}

/// Decodes a received variant.
pub fn decode(v: &zvariant::Value<'_>) -> Decoded {
    decode_nested(v, 0)
}

fn decode_nested(v: &zvariant::Value<'_>, depth: usize) -> Decoded {
    use zvariant::Value as Z;
    Ok(match v {
        Z::Value(inner) if depth < MAX_NESTING => return decode_nested(inner, depth + 1),
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
pub fn to_variant(value: &Value) -> zvariant::Value<'static> {
    match value {
        Value::Text(s) => zvariant::Value::from(s.clone()),
        other => to_variant_ref(other).try_to_owned().map(Into::into).unwrap_or(zvariant::Value::U32(0)),
    }
}

/// [`to_variant`] borrowing the text instead of copying it.
pub fn to_variant_ref(value: &Value) -> zvariant::Value<'_> {
    match value {
        Value::Invalid => zvariant::Value::Array(Array::new(&Signature::I32)),
        Value::Int(i) => match i32::try_from(*i) {
            Ok(i) => zvariant::Value::I32(i),
            Err(_) => zvariant::Value::I64(*i),
        },
        Value::Uint(u) => zvariant::Value::U32(*u),
        Value::Double(d) => zvariant::Value::F64(*d),
        Value::Text(s) => zvariant::Value::from(s.as_str()),
    }
}

pub fn to_owned_variant(value: &Value) -> OwnedValue {
    // Only file descriptors make this conversion fail, and a Value never holds one.
    OwnedValue::try_from(to_variant(value)).unwrap_or_else(|_| OwnedValue::from(0u32))
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
            let got = decode(&input).map_err(|_| ());
            assert_eq!(got, want, "decoding {input:?}");
        }
    }

    /// The in-place decoders give what the owned maps gave, malformed values included.
    #[test]
    fn in_place_decoding_matches_the_owned_maps() {
        use zbus::zvariant::serialized::Context;
        use zbus::zvariant::{LE, to_bytes};
        let mut dict: HashMap<String, HashMap<String, Z<'static>>> = HashMap::new();
        dict.insert("/Dc/0/Voltage".into(), HashMap::from([("Value".to_owned(), Z::F64(13.2)), ("Text".to_owned(), Z::from("13.2V"))]));
        dict.insert("/Soc".into(), HashMap::from([("Text".to_owned(), Z::from("")), ("Value".to_owned(), Z::Array(Array::new(&Signature::I32)))]));
        dict.insert("/Bad".into(), HashMap::from([("Value".to_owned(), Z::F64(f64::NAN))]));
        dict.insert("/NoValue".into(), HashMap::from([("Text".to_owned(), Z::from("x"))]));
        let ctx = Context::new_dbus(LE, 0);
        let bytes = to_bytes(ctx, &dict).expect("encode");
        let (ItemValues(mut got), _) = bytes.deserialize::<ItemValues>().expect("decode in place");
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let (owned, _) = bytes.deserialize::<ItemsDict>().expect("decode owned");
        let mut want = items(owned);
        want.sort_by(|a, b| a.0.cmp(&b.0));
        let norm = |v: Vec<(String, Decoded)>| v.into_iter().map(|(p, d)| (p, d.map_err(|_| ()))).collect::<Vec<_>>();
        assert_eq!(norm(got), norm(want));

        let props = HashMap::from([("Value".to_owned(), Z::U32(7)), ("Text".to_owned(), Z::from("7"))]);
        let bytes = to_bytes(ctx, &props).expect("encode");
        let (ChangedValue(v), _) = bytes.deserialize::<ChangedValue>().expect("decode");
        assert_eq!(v, Ok(Value::Uint(7)));
    }

    /// `Changes` puts on the wire exactly what the owned maps did.
    #[test]
    fn changes_encode_as_the_owned_maps() {
        use zbus::zvariant::serialized::Context;
        use zbus::zvariant::{LE, to_bytes};
        let items = vec![
            ("/Dc/0/Current".to_owned(), Value::Double(-3.5), "-3.5A".to_owned()),
            ("/Soc".to_owned(), Value::Invalid, String::new()),
            ("/CustomName".to_owned(), Value::Text("House".into()), "House".to_owned()),
            ("/DeviceInstance".to_owned(), Value::Uint(100), "100".to_owned()),
            ("/Big".to_owned(), Value::Int(1 << 40), "x".to_owned()),
        ];
        let ctx = Context::new_dbus(LE, 0);
        let bytes = to_bytes(ctx, &Changes(items.clone())).expect("encode");
        let (got, _) = bytes.deserialize::<ItemsDict>().expect("a{sa{sv}}");
        let want: ItemsDict = items.iter().map(|(p, v, t)| (p.clone(), entry(v, t))).collect();
        assert_eq!(got, want);
        assert_eq!(got["/Soc"]["Value"].value_signature().to_string(), "ai");
    }

    #[test]
    fn refuses_deep_nesting() {
        let mut v = Z::F64(1.0);
        for _ in 0..10 {
            v = Z::Value(Box::new(v));
        }
        assert!(decode(&v).is_err());
    }

    #[test]
    fn encodes_invalid_as_empty_int_array() {
        let v = to_variant(&Value::Invalid);
        assert_eq!(v.value_signature().to_string(), "ai");
        assert_eq!(decode(&v), Ok(Value::Invalid));
        for v in [Value::Double(1.25), Value::Uint(7), Value::Int(-7), Value::Int(1 << 40), Value::Text("x".into())] {
            assert_eq!(decode(&to_variant(&v)), Ok(v.clone()));
        }
    }
}
