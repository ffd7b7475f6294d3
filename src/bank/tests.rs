use super::*;
use crate::venus::value::Malformed;

const STALE: Duration = Duration::from_secs(30);
const GRACE: Duration = Duration::from_secs(300);

fn bank(exclude: &[(&str, Option<u32>)]) -> Bank {
    Bank::new(Options {
        stale_timeout: STALE,
        offline_grace: GRACE,
        exclude: exclude.iter().map(|(t, i)| Exclude { text: (*t).into(), instance: *i }).collect(),
        own_name: "com.victronenergy.battery.aggregate_shunts".into(),
    })
}

fn shunt(instance: u32, name: &str, current: f64) -> Vec<(String, Decoded)> {
    vec![
        ("/DeviceInstance".into(), Ok(Value::Uint(instance))),
        ("/ProductId".into(), Ok(Value::Uint(0xA389))),
        ("/ProductName".into(), Ok(Value::Text("SmartShunt 500A/50mV".into()))),
        ("/CustomName".into(), Ok(Value::Text(name.into()))),
        ("/Connected".into(), Ok(Value::Uint(1))),
        ("/Dc/0/Current".into(), Ok(Value::Double(current))),
        ("/Soc".into(), Ok(Value::Double(50.0))),
        ("/ConsumedAmphours".into(), Ok(Value::Double(-100.0))),
    ]
}

const S5: &str = "com.victronenergy.battery.ttyS5";
const S6: &str = "com.victronenergy.battery.ttyS6";

#[test]
fn who_becomes_a_member() {
    let t = Instant::now();
    let with = |id: Vec<(String, Decoded)>| {
        let mut b = bank(&[]);
        b.on_appeared(S5, &id, t);
        b.members().len()
    };
    assert_eq!(with(shunt(279, "", 1.0)), 1);
    let mut ip65 = shunt(279, "", 1.0);
    ip65[1].1 = Ok(Value::Uint(0xC030));
    ip65[2].1 = Ok(Value::Text("SmartShunt IP65 500A/50mV".into()));
    assert_eq!(with(ip65), 1);
    let mut bmv = shunt(279, "", 1.0);
    bmv[1].1 = Ok(Value::Uint(0x0204));
    bmv[2].1 = Ok(Value::Text("BMV-702".into()));
    assert_eq!(with(bmv), 0, "a BMV is not a SmartShunt");
    let mut by_name = shunt(279, "", 1.0);
    by_name[1].1 = Ok(Value::Invalid);
    by_name[2].1 = Ok(Value::Text("SmartShunt 6000A".into()));
    assert_eq!(with(by_name), 1, "a new model is recognised by its name");
    let mut virt = shunt(279, "", 1.0);
    virt.push(("/Devices/0/Virtual".into(), Ok(Value::Uint(1))));
    assert_eq!(with(virt), 0, "another aggregate is never a member");
    let no_instance: Vec<_> = shunt(279, "", 1.0).into_iter().skip(1).collect();
    assert_eq!(with(no_instance), 0);
    let mut b = bank(&[]);
    b.on_appeared("com.victronenergy.battery.aggregate_shunts", &shunt(100, "", 1.0), t);
    assert!(b.members().is_empty(), "never ourselves");
}

#[test]
fn exclusion_by_name_instance_and_port() {
    let t = Instant::now();
    for ex in [("House Battery", None), ("279", Some(279)), ("ttyS5", None), (S5, None)] {
        let mut b = bank(&[ex]);
        b.on_appeared(S5, &shunt(279, "House Battery", 1.0), t);
        b.on_appeared(S6, &shunt(280, "Bank 2", 1.0), t);
        let names: Vec<_> = b.members().iter().map(|m| m.service.as_str()).collect();
        assert_eq!(names, [S6], "{ex:?}");
    }
}

#[test]
fn vanish_hold_lose_and_return() {
    let t = Instant::now();
    let mut b = bank(&[]);
    let fx = b.on_appeared(S5, &shunt(279, "", -5.0), t);
    assert_eq!(fx.read_capacity, vec![(S5.to_owned(), 279)]);
    b.on_appeared(S6, &shunt(280, "", -7.0), t);
    b.refresh(t);
    b.on_vanished(S5);
    assert!(b.refresh(t + Duration::from_secs(1)));
    assert_eq!(b.members()[0].presence, Presence::Held);
    assert_eq!(b.members()[0].get(Q::Current), Some(-5.0), "values held");
    // S6 keeps talking.
    b.on_changed(S6, &[("/Dc/0/Current".into(), Ok(Value::Double(-6.0)))], t + GRACE);
    b.refresh(t + GRACE + Duration::from_secs(2));
    assert_eq!(b.members()[0].presence, Presence::Lost);
    assert_eq!(b.members()[0].get(Q::Current), None, "values dropped");
    assert_eq!(b.members()[1].presence, Presence::Online);
    // Signals from a vanished member are not applied.
    assert!(!b.on_changed(S5, &[("/CustomName".into(), Ok(Value::Text("x".into())))], t));
    let later = t + GRACE * 2;
    b.on_appeared(S5, &shunt(279, "", -4.0), later);
    b.on_changed(S6, &[], later);
    b.refresh(later);
    assert_eq!(b.members()[0].presence, Presence::Online);
    assert_eq!(b.members()[0].slot, 0, "same slot after returning");
    assert_eq!(b.members().len(), 2);
}

#[test]
fn stale_or_disconnected_members_go_offline() {
    let t = Instant::now();
    let mut b = bank(&[]);
    b.on_appeared(S5, &shunt(279, "", 1.0), t);
    b.refresh(t + STALE);
    assert_eq!(b.members()[0].presence, Presence::Online);
    b.refresh(t + STALE + Duration::from_secs(1));
    assert_eq!(b.members()[0].presence, Presence::Held);
    let t2 = t + Duration::from_secs(40);
    b.on_changed(S5, &[("/Dc/0/Current".into(), Ok(Value::Double(2.0)))], t2);
    b.refresh(t2);
    assert_eq!(b.members()[0].presence, Presence::Online);
    b.on_changed(S5, &[("/Connected".into(), Ok(Value::Uint(0)))], t2);
    b.refresh(t2);
    assert_eq!(b.members()[0].presence, Presence::Held);
}

#[test]
fn renumbered_service_replaces_its_old_record() {
    let t = Instant::now();
    let mut b = bank(&[]);
    b.on_appeared(S5, &shunt(279, "", 1.0), t);
    b.on_vanished(S5);
    let fx = b.on_appeared(S5, &shunt(300, "", 1.0), t);
    assert!(fx.members_changed);
    assert_eq!(b.members().len(), 1);
    assert_eq!(b.members()[0].instance, 300);
}

#[test]
fn bad_values_are_ignored_and_the_old_one_kept() {
    let t = Instant::now();
    let mut b = bank(&[]);
    b.on_appeared(S5, &shunt(279, "", 1.5), t);
    for bad in [Ok(Value::Text("12.5".into())), Err(Malformed("non-finite double NaN".into())), Err(Malformed("array of 1000 elements".into()))] {
        b.on_changed(S5, &[("/Dc/0/Current".into(), bad)], t);
        assert_eq!(b.members()[0].get(Q::Current), Some(1.5));
    }
    b.on_changed(S5, &[("/Dc/0/Current".into(), Ok(Value::Invalid))], t);
    assert_eq!(b.members()[0].get(Q::Current), None, "invalid is a value: no reading");
}

#[test]
fn absurdly_large_values_are_ignored() {
    // Found by fuzzing (fuzz/ decode): 152 V × -5e306 A made /Dc/0/Power -inf.
    let t = Instant::now();
    let mut b = bank(&[]);
    b.on_appeared(S5, &shunt(279, "", 1.5), t);
    b.on_changed(S5, &[("/Dc/0/Voltage".into(), Ok(Value::Double(152.0)))], t);
    for bad in [Value::Double(-5.044338384869794e306), Value::Double(1e13), Value::Int(i64::MIN)] {
        b.on_changed(S5, &[("/Dc/0/Current".into(), Ok(bad))], t);
        assert_eq!(b.members()[0].get(Q::Current), Some(1.5));
    }
    b.on_changed(S5, &[("/History/TimeSinceLastFullCharge".into(), Ok(Value::Uint(u32::MAX)))], t);
    assert_eq!(b.members()[0].get(Q::HistTimeSinceLastFullCharge), Some(f64::from(u32::MAX)), "every u32 is in range");
    let settings = aggregate::Settings { total_capacity: None, temp_cold_danger: 5.0, temp_hot_danger: 45.0 };
    for (path, v) in aggregate::compute(&b.view(), &settings) {
        assert!(v.is_none_or(f64::is_finite), "{path} = {v:?}");
    }
}

#[test]
fn capacity_from_register_else_estimate() {
    let t = Instant::now();
    let mut b = bank(&[]);
    b.on_appeared(S5, &shunt(279, "", 1.0), t);
    b.on_appeared(S6, &shunt(280, "", 1.0), t);
    b.set_capacity(S5, 279, Some(280.0));
    b.set_capacity(S6, 280, None);
    b.refresh(t);
    assert_eq!((b.members()[0].capacity, b.members()[0].capacity_source), (Some(280.0), CapacitySource::Register));
    assert_eq!((b.members()[1].capacity, b.members()[1].capacity_source), (Some(200.0), CapacitySource::Estimated));
}

#[test]
fn a_custom_name_change_is_reported() {
    let t = Instant::now();
    let mut b = bank(&[]);
    b.on_appeared(S5, &shunt(279, "", 1.0), t);
    assert_eq!(b.members()[0].name(), "Shunt 279");
    assert!(b.on_changed(S5, &[("/CustomName".into(), Ok(Value::Text("Port".into())))], t));
    assert_eq!(b.members()[0].name(), "Port");
}
