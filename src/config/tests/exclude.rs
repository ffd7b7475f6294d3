//! `EXCLUDE_SHUNTS`: the list's forms and what an item matches.

use super::*;

#[test]
fn exclude_forms() {
    let ex = |text: &str, instance: Option<u32>| Exclude { text: text.into(), instance };
    let cases: &[(&str, Vec<Exclude>)] = &[
        ("", vec![]),
        ("  ", vec![]),
        ("288", vec![ex("288", Some(288))]),
        ("007", vec![ex("007", Some(7))]),
        ("99999999999", vec![ex("99999999999", None)]),
        ("\"Bank, port side\", 288, ttyS5, \"123\"", vec![ex("Bank, port side", None), ex("288", Some(288)), ex("ttyS5", None), ex("123", None)]),
        ("House Bank ,com.victronenergy.battery.ttyS7", vec![ex("House Bank", None), ex("com.victronenergy.battery.ttyS7", None)]),
        ("\"a # b\", c ; comment", vec![ex("a # b", None), ex("c", None)]),
    ];
    for (value, want) in cases {
        let loaded = load(&format!("EXCLUDE_SHUNTS = {value}\n"));
        assert_eq!(&loaded.config.exclude, want, "{value:?}");
    }
}

#[test]
fn exclude_matches() {
    let ex = |text: &str, instance: Option<u32>| Exclude { text: text.into(), instance };
    let svc = "com.victronenergy.battery.ttyS5";
    // (item, service, instance, custom name, expected)
    let cases = [
        (ex("288", Some(288)), svc, Some(288), "", true),
        (ex("288", Some(288)), svc, Some(289), "288", true),
        (ex("288", Some(288)), svc, Some(289), "Port", false),
        (ex("123", None), svc, Some(123), "Port", false),
        (ex("123", None), svc, Some(1), "123", true),
        (ex("Port", None), svc, None, "Port", true),
        (ex("port", None), svc, None, "Port", false),
        (ex("ttyS5", None), svc, None, "", true),
        (ex("ttyS5", None), "com.victronenergy.battery.ttyS55", None, "", false),
        (ex(svc, None), svc, None, "", true),
        (ex("5", Some(5)), "com.victronenergy.battery.5", None, "", true),
        (ex("ttyS5", None), "com.victronenergy.solarcharger.ttyS5", None, "", false),
    ];
    for (item, service, instance, name, want) in cases {
        assert_eq!(item.matches(service, instance, name), want, "{item:?} {service} {instance:?} {name:?}");
    }
}
