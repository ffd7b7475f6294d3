use super::*;
use crate::config::DeviceMode;

fn bms() -> Config {
    Config {
        mode: DeviceMode::VirtualBms,
        max_charge_voltage: Some(14.2),
        max_charge_current: Some(100.0),
        max_discharge_current: Some(150.0),
        hide_gui_controls: Some(false),
        ..Config::default()
    }
}

/// gui-v2's display rules (`iochannel.cpp`, `switchableoutput.cpp`) over one control's values.
fn shown(values: &[(String, Value)], id: &str) -> bool {
    let get = |f: &str| values.iter().find(|(p, _)| *p == paths::output(id, f)).map(|(_, v)| v.clone());
    let name = get("Name").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let kind = get("Settings/Type").and_then(|v| v.as_u32());
    let valid = get("Settings/ValidTypes").and_then(|v| v.as_u32()).unwrap_or(0);
    let show = get("Settings/ShowUIControl").and_then(|v| v.as_u32()).unwrap_or(1);
    let live = [get("State"), get("Dimming")].into_iter().flatten().any(|v| v != Value::Invalid);
    !name.is_empty() && kind.is_some_and(|t| t <= 13 && valid & (1 << t) != 0) && show != 0 && live
}

fn ids(files: &Config) -> Vec<String> {
    let cs = controls(files, files, &[]);
    for c in &cs {
        assert!(shown(&c.values(Some(20.0)), &c.id), "{} would not be shown", c.id);
    }
    cs.into_iter().map(|c| c.id).collect()
}

#[test]
fn each_mode_offers_its_documented_set_and_each_is_shown() {
    assert_eq!(ids(&Config::default()), ["temp_cold_danger", "temp_hot_danger", "forget_lost", "restore_config"]);
    assert_eq!(ids(&bms()), ["temp_cold_danger", "temp_hot_danger", "max_charge_current", "max_discharge_current", "forget_lost", "restore_config"]);
    let mut float = bms();
    float.float_voltage = Some(13.5);
    assert!(ids(&float).contains(&"float_voltage".to_owned()));
    let mut hidden = bms();
    hidden.hide_gui_controls = None; // virtual-bms hides them by default
    assert!(ids(&hidden).is_empty());
}

#[test]
fn writes_are_typed_and_bounded() {
    let cs = controls(&bms(), &bms(), &[]);
    let by = |id: &str| cs.iter().find(|c| c.id == id).unwrap();
    let ccl = by("max_charge_current");
    assert_eq!(request(ccl, "Dimming", &Value::Int(50)), Ok(Request::Set(Knob::ChargeCurrent, 50.0)));
    assert_eq!(request(ccl, "State", &Value::Int(1)), Err(true));
    assert_eq!(request(ccl, "Dimming", &Value::from("50")), Err(true));
    let forget = by("forget_lost");
    assert_eq!(request(forget, "State", &Value::Double(1.0)), Ok(Request::Forget));
    assert_eq!(request(forget, "State", &Value::Int(0)), Ok(Request::Nothing));
    assert_eq!(request(forget, "State", &Value::Int(7)), Err(false));
    let values = ccl.values(None);
    assert!(values.contains(&(paths::output("max_charge_current", "Settings/DimmingMax"), Value::Double(100.0))));
    assert!(values.contains(&(paths::output("max_charge_current", "Settings/Unit"), Value::from("A"))));
}

#[test]
fn member_ids_never_meet() {
    let taken = vec!["member_A_1_2".to_owned(), "member_A_1".to_owned()];
    let mut b = crate::domain::bank::Bank::new(crate::domain::bank::Options {
        stale_timeout: std::time::Duration::from_secs(30),
        offline_grace: std::time::Duration::from_secs(300),
        circuit_time: std::time::Duration::from_secs(60),
        exclude: Vec::new(),
        switched_off: Default::default(),
        own_name: "me".into(),
    });
    let items = vec![
        ("/DeviceInstance".to_owned(), Ok(Value::Uint(3))),
        ("/ProductId".to_owned(), Ok(Value::Uint(0xA389))),
        ("/Serial".to_owned(), Ok(Value::from("A-1"))),
    ];
    b.on_appeared("com.victronenergy.battery.ttyS1", &items, std::time::Instant::now());
    let m = &b.members()[0];
    let mut all = taken.clone();
    // "A-1" cleans to "A_1" (taken); the slot suffix "_2" would meet "A_1_2" too.
    let mut m2 = m.clone();
    m2.slot = 2;
    let id = member_id(&m2, &all);
    assert!(!all.contains(&id), "{id}");
    all.push(id);
    assert_eq!(all.iter().collect::<std::collections::BTreeSet<_>>().len(), 3);
}
