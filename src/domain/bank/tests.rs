use super::*;
use crate::domain::memory::Record;
use crate::value::Malformed;

const STALE: Duration = Duration::from_secs(30);
const GRACE: Duration = Duration::from_secs(300);

fn bank(exclude: &[(&str, Option<u32>)]) -> Bank {
    Bank::new(Options {
        stale_timeout: STALE,
        offline_grace: GRACE,
        circuit_time: Duration::from_secs(60),
        exclude: exclude.iter().map(|(t, i)| Exclude { text: (*t).into(), instance: *i }).collect(),
        switched_off: Default::default(),
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
fn quiet_members_are_asked_and_stay_online_while_they_answer() {
    let t = Instant::now();
    let mut b = bank(&[]);
    b.on_appeared(S5, &shunt(279, "", 1.0), t);
    assert!(b.due_probes(t + STALE - Duration::from_secs(1)).is_empty(), "not quiet for STALE_TIMEOUT yet");
    // Silent for 20 × STALE_TIMEOUT: one probe per STALE_TIMEOUT, answered, online throughout.
    let mut probes = 0;
    for k in 1..=20 {
        let now = t + STALE * k;
        let due = b.due_probes(now);
        assert!(b.due_probes(now).is_empty(), "one probe in flight at a time");
        probes += due.len();
        b.refresh(now);
        assert_eq!(b.members()[0].presence, Presence::Online, "silent but answering at {k} × STALE");
        for s in due {
            b.on_probe(&s, ProbeResult::Answered(Some(1.0)), now);
        }
    }
    assert_eq!(probes, 20);
}

#[test]
fn a_frozen_or_disconnected_member_goes_offline() {
    let t = Instant::now();
    let mut b = bank(&[]);
    b.on_appeared(S5, &shunt(279, "", 1.0), t);
    let due = b.due_probes(t + STALE);
    assert_eq!(due, [S5]);
    b.refresh(t + STALE + Duration::from_secs(1));
    assert_eq!(b.members()[0].presence, Presence::Online, "a probe in flight is not an answer yet");
    b.on_probe(S5, ProbeResult::NoAnswer, t + STALE + Duration::from_secs(5));
    b.refresh(t + STALE + Duration::from_secs(5));
    assert_eq!(b.members()[0].presence, Presence::Held, "no answer: offline");
    // It is asked again each STALE_TIMEOUT (still offline while asked), and a late answer
    // brings it back.
    assert!(b.due_probes(t + STALE + Duration::from_secs(6)).is_empty());
    assert_eq!(b.due_probes(t + STALE * 2 + Duration::from_secs(1)), [S5]);
    b.refresh(t + STALE * 2 + Duration::from_secs(1));
    assert_eq!(b.members()[0].presence, Presence::Held, "a probe in flight does not bring it back");
    b.on_probe(S5, ProbeResult::Answered(Some(1.0)), t + STALE * 2 + Duration::from_secs(1));
    b.refresh(t + STALE * 2 + Duration::from_secs(1));
    assert_eq!(b.members()[0].presence, Presence::Online);
    // An answer of /Connected = 0 is offline, as the signal is.
    let t2 = t + STALE * 4;
    b.on_probe(S5, ProbeResult::Answered(Some(0.0)), t2);
    assert_eq!(b.due_probes(t2), [S5]);
    b.on_probe(S5, ProbeResult::Answered(Some(0.0)), t2);
    b.refresh(t2);
    assert_eq!(b.members()[0].presence, Presence::Held);
    b.on_changed(S5, &[("/Connected".into(), Ok(Value::Uint(1)))], t2);
    b.refresh(t2);
    assert_eq!(b.members()[0].presence, Presence::Online);
    b.on_changed(S5, &[("/Connected".into(), Ok(Value::Uint(0)))], t2);
    b.refresh(t2);
    assert_eq!(b.members()[0].presence, Presence::Held);
}

fn with_serial(instance: u32, serial: &str, current: f64) -> Vec<(String, Decoded)> {
    let mut items = shunt(instance, "", current);
    items.push(("/Serial".into(), Ok(Value::Text(serial.into()))));
    items
}

#[test]
fn a_battery_is_its_serial_whatever_its_port() {
    let t = Instant::now();
    let mut b = bank(&[]);
    b.on_appeared(S5, &with_serial(279, "HQA", 1.0), t);
    b.on_appeared(S6, &with_serial(280, "HQB", 2.0), t);
    b.set_capacity(S5, 279, Some(100.0));
    // The ports swap at boot: ttyS5 now carries HQB, ttyS6 carries HQA.
    b.on_vanished(S5);
    b.on_vanished(S6);
    b.on_appeared(S5, &with_serial(281, "HQB", 2.0), t);
    b.on_appeared(S6, &with_serial(282, "HQA", 1.0), t);
    b.refresh(t);
    assert_eq!(b.members().len(), 2, "never counted twice");
    let a = b.members().iter().find(|m| m.serial == "HQA").unwrap();
    assert_eq!((a.service.as_str(), a.instance, a.slot, a.capacity), (S6, 282, 0, Some(100.0)), "same record, capacity and slot");
    assert!(b.members().iter().all(|m| m.presence == Presence::Online));
    // A second service with a serial that is already a member on the bus is ignored.
    b.on_appeared("com.victronenergy.battery.ttyS7", &with_serial(283, "HQA", 1.0), t);
    assert_eq!(b.members().len(), 2);
    assert_eq!(b.members()[0].service, S6);
}

fn record(serial: &str, service: &str, instance: u32, capacity: Option<f64>) -> Record {
    Record { serial: serial.into(), service: service.into(), instance, name: String::new(), capacity, source: CapacitySource::Register }
}

#[test]
fn remembered_members_count_as_missing_until_they_return() {
    let t = Instant::now();
    let mut b = bank(&[("ttyS9", None)]);
    b.remember(
        vec![record("HQA", S5, 279, Some(100.0)), record("HQB", S6, 280, Some(300.0)), record("HQC", "com.victronenergy.battery.ttyS9", 290, None)],
        t,
    );
    assert_eq!(b.members().len(), 2, "an excluded remembered member is forgotten");
    b.on_appeared(S5, &with_serial(279, "HQA", 1.0), t);
    b.refresh(t + GRACE * 3);
    let view = b.view();
    assert_eq!(view[1].presence, Presence::Lost, "missing from the start, never held");
    assert_eq!(b.missing().count(), 1);
    assert!((crate::domain::bms::online_share(&view, None) - 0.25).abs() < 1e-9, "the remembered capacity sets the share");
    assert!(!b.capacity_pending(), "a remembered capacity weighs the SoC at once");
    // It comes back on another port: the same record.
    b.on_appeared("com.victronenergy.battery.ttyS7", &with_serial(300, "HQB", 1.0), t + GRACE * 3);
    b.refresh(t + GRACE * 3);
    assert_eq!(b.members().len(), 2);
    assert_eq!(b.missing().count(), 0);
    assert_eq!(b.members()[1].capacity, Some(300.0));
    assert_eq!(b.memory()[1].service, "com.victronenergy.battery.ttyS7", "the memory follows");
}

#[test]
fn forgetting_is_explicit_and_never_of_an_online_member() {
    let t = Instant::now();
    let mut b = bank(&[]);
    b.remember(vec![record("HQA", S5, 279, Some(100.0)), record("HQB", S6, 280, Some(100.0))], t);
    b.on_appeared(S5, &with_serial(279, "HQA", 1.0), t);
    b.refresh(t);
    assert!(b.forget("HQA").unwrap_err().contains("is online"));
    assert!(b.forget("279").unwrap_err().contains("is online"), "by instance too");
    assert!(b.forget("nobody").unwrap_err().contains("no member is called 'nobody'"));
    assert_eq!(b.forget("ttyS6").unwrap(), ["Shunt 280"], "by port");
    assert_eq!(b.members().len(), 1);
    assert_eq!(b.forget("all").unwrap(), Vec::<String>::new(), "all: only the offline ones");
    b.on_vanished(S5);
    b.refresh(t + Duration::from_secs(1));
    assert_eq!(b.forget("all").unwrap(), ["Shunt 279"]);
    assert!(b.members().is_empty());
}

#[test]
fn a_member_that_carries_no_current_leaves_the_circuit() {
    let t = Instant::now();
    let mut b = bank(&[]);
    b.on_appeared(S5, &shunt(279, "", 30.0), t);
    b.on_appeared(S6, &shunt(280, "", 30.0), t);
    b.set_capacity(S5, 279, Some(200.0));
    b.set_capacity(S6, 280, Some(200.0));
    let current = |b: &mut Bank, s: &str, a: f64, at: Instant| {
        b.on_changed(s, &[("/Dc/0/Current".into(), Ok(Value::Double(a)))], at);
        b.refresh(at)
    };
    b.refresh(t);
    // S6's protection opens: 0 A while S5 carries the bank's 60 A.
    current(&mut b, S6, 0.02, t);
    current(&mut b, S5, 60.0, t);
    assert!(!current(&mut b, S5, 60.0, t + Duration::from_secs(59)));
    assert_eq!(b.members()[1].circuit, Circuit::Suspect { since: t });
    assert!(current(&mut b, S5, 60.0, t + Duration::from_secs(60)), "out after OUT_OF_CIRCUIT_TIME");
    assert_eq!(b.members()[1].circuit, Circuit::Out);
    assert_eq!(b.members()[1].presence, Presence::Online, "still online: its numbers still count");
    assert!(!b.view()[1].in_circuit);
    // At rest nothing can be told: it stays out.
    current(&mut b, S5, 0.5, t + Duration::from_secs(70));
    assert_eq!(b.members()[1].circuit, Circuit::Out);
    // It carries its share again (more than half of 30 A): back in.
    current(&mut b, S5, 32.0, t + Duration::from_secs(80));
    assert!(current(&mut b, S6, 28.0, t + Duration::from_secs(80)));
    assert_eq!(b.members()[1].circuit, Circuit::In);
    // A short dip is not an opening; a bank current below 0.05 C is never judged.
    current(&mut b, S6, 0.0, t + Duration::from_secs(90));
    current(&mut b, S6, 29.0, t + Duration::from_secs(100));
    current(&mut b, S6, 0.0, t + Duration::from_secs(200));
    current(&mut b, S5, 19.0, t + Duration::from_secs(200));
    current(&mut b, S5, 19.0, t + Duration::from_secs(400));
    assert_eq!(b.members()[1].circuit, Circuit::In, "19 A < 0.05 C of 400 Ah");
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

#[test]
fn a_member_switched_off_is_listed_but_out_of_the_bank() {
    let now = Instant::now();
    let mut b = bank(&[]);
    b.on_appeared("com.victronenergy.battery.ttyS5", &shunt(288, "Port", 10.0), now);
    b.on_appeared("com.victronenergy.battery.ttyS6", &shunt(289, "Starboard", 20.0), now);
    let id = b.members()[0].id().to_owned();
    assert_eq!(b.switch(&[id.clone()].into()), ["Port"]);
    assert_eq!(b.members().len(), 2, "still listed, so it can be switched on again");
    assert_eq!(b.view().len(), 1);
    assert_eq!(b.online_count(), 1);
    // Its data keeps coming in, so switching it on again counts it at once.
    b.on_changed("com.victronenergy.battery.ttyS5", &[("/Dc/0/Current".into(), Ok(Value::Double(11.0)))], now);
    assert!(b.switch(&[id.clone()].into()).is_empty(), "no change, no log");
    assert_eq!(b.switch(&Default::default()), ["Port"]);
    assert_eq!(b.view().len(), 2);
    assert_eq!(b.members()[0].get(Q::Current), Some(11.0));
    // A remembered member that is switched off is not missing, and joins switched off.
    let mut b2 = bank(&[]);
    b2.switch(&[id].into());
    b2.remember(b.memory(), now);
    assert_eq!(b2.missing().count(), 1, "only the one that counts");
    b2.on_appeared("com.victronenergy.battery.ttyS5", &shunt(288, "Port", 10.0), now);
    assert!(b2.members().iter().find(|m| m.instance == 288).unwrap().switched_off);
}
