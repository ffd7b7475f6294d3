//! The bank's memory: which batteries belong to it, kept in one localsettings string so that a
//! member that does not come back after a restart still counts as missing (pure; no bus).
//!
//! Format, version 1 (an empty bank is an empty text): `1;` then one record per member separated by `;`, each a list of
//! `key=value` fields separated by `,`. Values are percent-encoded where they contain `%`, `;`,
//! `,` or `=` (and control characters), so any custom name survives. Example:
//! `1;serial=HQ2207ABCDE,service=com.victronenergy.battery.ttyS5,instance=279,name=House,capacity=200,source=register`.
//!
//! Decoding is strict per record: a record that does not parse is skipped with a reason (the
//! others are kept); a value with another version or no version is refused whole.

use crate::domain::bank::CapacitySource;

/// One remembered member.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `/Serial`; empty when the shunt publishes none (then service and instance identify it).
    pub serial: String,
    pub service: String,
    pub instance: u32,
    /// The member's custom name when it was last seen (may be empty).
    pub name: String,
    pub capacity: Option<f64>,
    pub source: CapacitySource,
}

const VERSION: &str = "1";

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' | ';' | ',' | '=' => out.push_str(&format!("%{:02X}", c as u32)),
            c if c.is_control() && (c as u32) < 0x80 => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn unescape(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(|| format!("'%' without two hex digits in '{s}'"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape '%{hex}'"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 after unescaping".to_owned())
}

fn source_word(s: CapacitySource) -> &'static str {
    match s {
        CapacitySource::Register => "register",
        CapacitySource::Estimated => "estimated",
        CapacitySource::Unknown | CapacitySource::Reading => "unknown",
    }
}

/// The stored text for `records`; an empty bank is an empty text (the setting's default).
pub fn encode(records: &[Record]) -> String {
    if records.is_empty() {
        return String::new();
    }
    let mut out = String::from(VERSION);
    for r in records {
        out.push(';');
        out.push_str(&format!("serial={},service={},instance={},name={}", escape(&r.serial), escape(&r.service), r.instance, escape(&r.name)));
        if let Some(c) = r.capacity {
            out.push_str(&format!(",capacity={c}"));
        }
        out.push_str(&format!(",source={}", source_word(r.source)));
    }
    out
}

fn record(text: &str) -> Result<Record, String> {
    let mut r =
        Record { serial: String::new(), service: String::new(), instance: 0, name: String::new(), capacity: None, source: CapacitySource::Unknown };
    let (mut has_service, mut has_instance) = (false, false);
    for field in text.split(',') {
        let (key, value) = field.split_once('=').ok_or_else(|| format!("field '{field}' has no '='"))?;
        let value = unescape(value)?;
        match key {
            "serial" => r.serial = value,
            "service" => {
                r.service = value;
                has_service = true;
            }
            "instance" => {
                r.instance = value.parse().map_err(|_| format!("instance '{value}' is not a whole number"))?;
                has_instance = true;
            }
            "name" => r.name = value,
            "capacity" => {
                let c: f64 = value.parse().map_err(|_| format!("capacity '{value}' is not a number"))?;
                if !(c.is_finite() && c > 0.0 && c < 1e6) {
                    return Err(format!("capacity {c} is out of range"));
                }
                r.capacity = Some(c);
            }
            "source" => {
                r.source = match value.as_str() {
                    "register" => CapacitySource::Register,
                    "estimated" => CapacitySource::Estimated,
                    "unknown" => CapacitySource::Unknown,
                    other => return Err(format!("unknown capacity source '{other}'")),
                }
            }
            // Fields a later version may add are ignored, so a downgrade keeps the bank.
            _ => {}
        }
    }
    if !has_service || !has_instance {
        return Err("a record needs service and instance".into());
    }
    if r.capacity.is_none() {
        r.source = CapacitySource::Unknown;
    }
    Ok(r)
}

/// The records in `text`, and one reason per record (or for the whole text) that was refused.
/// An empty text is an empty bank.
pub fn decode(text: &str) -> (Vec<Record>, Vec<String>) {
    let text = text.trim();
    if text.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut parts = text.split(';');
    match parts.next() {
        Some(VERSION) => {}
        Some(other) => {
            return (Vec::new(), vec![format!("unknown format '{}'", other.chars().take(20).collect::<String>())]);
        }
        None => return (Vec::new(), Vec::new()),
    }
    let (mut records, mut refused) = (Vec::new(), Vec::new());
    for (n, part) in parts.enumerate().filter(|(_, p)| !p.is_empty()) {
        match record(part) {
            Ok(r) => records.push(r),
            Err(why) => refused.push(format!("record {}: {why}", n + 1)),
        }
    }
    (records, refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(serial: &str, name: &str, capacity: Option<f64>) -> Record {
        Record {
            serial: serial.into(),
            service: "com.victronenergy.battery.ttyS5".into(),
            instance: 279,
            name: name.into(),
            capacity,
            source: if capacity.is_some() { CapacitySource::Register } else { CapacitySource::Unknown },
        }
    }

    #[test]
    fn round_trips_awkward_names() {
        let records = vec![rec("HQ1", "House, port=1; 100%", Some(200.0)), rec("", "", None)];
        let text = encode(&records);
        assert!(text.starts_with("1;serial=HQ1,"), "{text}");
        assert_eq!(decode(&text), (records, Vec::new()));
    }

    #[test]
    fn empty_and_corrupt_values() {
        assert_eq!(decode(""), (Vec::new(), Vec::new()));
        assert_eq!(decode("1"), (Vec::new(), Vec::new()));
        let (r, why) = decode("7;serial=x");
        assert!(r.is_empty() && why[0].contains("unknown format"), "{why:?}");
        let good = encode(&[rec("HQ1", "A", Some(100.0))]);
        let (r, why) = decode(&format!("{good};garbage;service=s,instance=-1;service=s,instance=3,capacity=nan;name=%zz"));
        assert_eq!(r, vec![rec("HQ1", "A", Some(100.0))]);
        assert_eq!(why.len(), 4, "{why:?}");
        assert!(why[0].starts_with("record 2:"), "{why:?}");
    }

    proptest! {
        #[test]
        fn any_bank_round_trips(members in prop::collection::vec(("[ -~]{0,12}", "\\PC{0,16}", 0u32..1000, prop::option::of(1u16..5000)), 0..6)) {
            let records: Vec<Record> = members
                .into_iter()
                .map(|(serial, name, instance, cap)| Record {
                    serial,
                    service: format!("com.victronenergy.battery.tty{instance}"),
                    instance,
                    name,
                    capacity: cap.map(f64::from),
                    source: if cap.is_some() { CapacitySource::Estimated } else { CapacitySource::Unknown },
                })
                .collect();
            prop_assert_eq!(decode(&encode(&records)), (records, Vec::new()));
        }

        #[test]
        fn decoding_never_panics(text in "\\PC{0,200}") {
            let _ = decode(&text);
        }
    }
}
