//! Membership over time, on private buses with the real binary: quiet members stay online,
//! frozen ones go offline, the bank is remembered across a restart (and forgotten only on
//! request), a battery whose protection opened leaves the limits, and a missing or corrupt
//! memory never stops the daemon.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use aggregate_shunts::publish::MEMBERS_SETTING;
use aggregate_shunts::status::Items;
use aggregate_shunts::tools::sim::ShuntSpec;
use aggregate_shunts::value::Value;
use aggregate_shunts::venus::wire;
use smol::stream::StreamExt;
use zbus::{MatchRule, MessageStream, message::Type};

use crate::harness::*;

/// A member's field by its name, whatever its slot.
fn member(i: &Items, name: &str, field: &str) -> Value {
    (0..8).find(|n| text(i, &format!("/Members/{n}/Name")) == name).map_or(Value::Invalid, |n| val(i, &format!("/Members/{n}/{field}")))
}

/// Battery `n` of a two-battery bank: ttyS5 and instance 279 for Battery 1, the next for
/// Battery 2; 200 Ah, 70 % full, drawing 5 A.
fn battery_n(n: u32) -> Member {
    (spec(&format!("ttyS{}", 4 + n), 278 + n, &format!("Battery {n}")), battery(200.0, 70.0, -5.0))
}

/// Waits, 3 s at most, until `check` holds for the bank as the stand-in localsettings
/// remembers it ("" if not at all).
async fn until_remembered(rig: &Rig, what: &str, check: impl Fn(&str) -> bool) {
    rig.until_setting(3 * SEC, MEMBERS_SETTING, what, |v| check(v.and_then(Value::as_str).unwrap_or_default())).await;
}

/// Counts liveness probes (`GetValue` on `/Connected`) per destination, through a bus monitor.
async fn probe_counter(rig: &Rig) -> (zbus::Connection, MessageStream) {
    let conn = bus_monitor(&rig.bus.address, "type='method_call',member='GetValue',path='/Connected'").await;
    let stream = MessageStream::from(&conn);
    (conn, stream)
}

fn drain(stream: &mut MessageStream, counts: &mut HashMap<String, usize>) {
    for m in received(stream) {
        if let Some(d) = m.header().destination() {
            *counts.entry(d.to_string()).or_default() += 1;
        }
    }
}

#[test]
fn quiet_members_stay_online_and_cost_one_probe_per_stale_timeout() {
    run(async {
        let mut rig = Rig::with_settings("quiet").await;
        let (_mon, mut probes) = probe_counter(&rig).await;
        let ([_a, _b], _d, _) =
            rig.bms_bank([battery_n(1), battery_n(2)], "BMS_HOLD_TIME = 0\nBMS_RAMP_TIME = 0\nSTALE_TIMEOUT = 2\nOFFLINE_GRACE = 2\n").await;
        // Nothing is sent for 20 × STALE_TIMEOUT: both stay online, values valid, full limits.
        let start = Instant::now();
        let mut counts = HashMap::new();
        while start.elapsed() < 40 * SEC {
            let i = rig.items().await.unwrap();
            assert_eq!(val(&i, "/System/NrOfModulesOnline"), Value::Uint(2), "after {:?}", start.elapsed());
            assert!(close(num(&i, "/Dc/0/Current"), -10.0, 0.05), "{:?}", val(&i, "/Dc/0/Current"));
            assert!(limits(300.0, 600.0)(&i), "{}", text(&i, "/Info/ChargeLimitation"));
            drain(&mut probes, &mut counts);
            smol::Timer::after(SEC / 2).await;
        }
        drain(&mut probes, &mut counts);
        for port in ["ttyS5", "ttyS6"] {
            let n = counts.get(&format!("com.victronenergy.battery.{port}")).copied().unwrap_or(0);
            // One per STALE_TIMEOUT at the most (20 in 40 s, +1 for the edges), and some.
            assert!((5..=21).contains(&n), "{port}: {n} probes in 40 s ({counts:?})");
            println!("{port}: {n} probes in 40 s at STALE_TIMEOUT = 2 s");
        }
    });
}

#[test]
fn a_frozen_member_goes_offline_and_comes_back() {
    run(async {
        let mut rig = Rig::new("frozen").await;
        let [a, b] = rig.shunt_processes(["ttyS5:279:200:-2", "ttyS6:280:200:-4"]).await;
        let _d = rig.daemon("STALE_TIMEOUT = 2\nOFFLINE_GRACE = 60\n");
        rig.until(10 * SEC, "both members", |i| close(num(i, "/Dc/0/Current"), -6.0, 0.05)).await;
        b.signal("STOP");
        let stopped = Instant::now();
        let mut slowest = Duration::ZERO;
        loop {
            let asked = Instant::now();
            let i = rig.items().await.expect("GetItems answers while a member is frozen");
            slowest = slowest.max(asked.elapsed());
            if val(&i, "/System/NrOfModulesOffline") == Value::Uint(1) {
                assert!(close(num(&i, "/Dc/0/Current"), -6.0, 0.05), "held values still count");
                break;
            }
            // STALE_TIMEOUT 2 s + probe 1 s + the 1 s tick + the simulator's last 1 s tick.
            assert!(stopped.elapsed() < 6 * SEC, "still online {:?} after SIGSTOP", stopped.elapsed());
            smol::Timer::after(SEC / 20).await;
        }
        println!("SIGSTOP to offline: {:?}; slowest GetItems meanwhile: {slowest:?}", stopped.elapsed());
        assert!(slowest < SEC / 2, "GetItems took {slowest:?}");
        b.signal("CONT");
        rig.until(4 * SEC, "online again after SIGCONT", |i| val(i, "/System/NrOfModulesOnline") == Value::Uint(2)).await;
        // /Connected = 0 is offline within a second.
        let zero = (wire::to_variant(&Value::Uint(0)),);
        rig.client
            .call_method(Some("com.victronenergy.battery.ttyS5"), "/Connected", Some("com.victronenergy.BusItem"), "SetValue", &zero)
            .await
            .unwrap();
        rig.until(SEC, "/Connected = 0 offline", |i| val(i, "/System/NrOfModulesOnline") == Value::Uint(1)).await;
        drop(a);
    });
}

/// Watches every value of CCL and DCL the aggregate publishes from the moment it takes its name.
struct Watch {
    owners: MessageStream,
    changes: MessageStream,
}

impl Watch {
    async fn new(rig: &Rig) -> Watch {
        let owners = rig.owner_changes().await;
        let ic = MatchRule::builder().msg_type(Type::Signal).member("ItemsChanged").unwrap().path("/").unwrap().build();
        let changes = MessageStream::for_match_rule(ic, &rig.client, Some(1024)).await.unwrap();
        Watch { owners, changes }
    }

    /// The highest CCL and DCL published in ItemsChanged so far.
    fn highest(&mut self) -> (f64, f64) {
        let mut top = (0.0f64, 0.0f64);
        for m in received(&mut self.changes) {
            let Ok(body) = m.body().deserialize::<WireItems>() else {
                continue;
            };
            let get = |p: &str| body.get(p).and_then(|e| wire::decode(&e["Value"]).ok()).and_then(|v| v.as_f64());
            top.0 = top.0.max(get("/Info/MaxChargeCurrent").unwrap_or(0.0));
            top.1 = top.1.max(get("/Info/MaxDischargeCurrent").unwrap_or(0.0));
        }
        top
    }
}

fn forget(rig: &Rig, target: &str) -> (bool, String) {
    let out = Command::new(BIN).args(["forget", target]).env("DBUS_SYSTEM_BUS_ADDRESS", &rig.bus.address).output().expect("run forget");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_bank_is_remembered_across_a_restart() {
    run(async {
        let mut rig = Rig::with_settings("remember").await;
        let cfg = "BMS_HOLD_TIME = 0\nBMS_RAMP_TIME = 3\nSTART_TIMEOUT = 2\n";
        let ([a, b], mut d, _) = rig.bms_bank([battery_n(1), battery_n(2)], cfg).await;
        until_remembered(&rig, "both remembered", |s| s.contains("HQSIM00279") && s.contains("HQSIM00280") && s.contains("capacity=200")).await;
        assert_eq!(d.stop().await, Some(0));

        // Battery 2 is gone while the daemon is down: from the first value on, half at most.
        b.stop().await.unwrap();
        let mut w = Watch::new(&rig).await;
        let d2 = rig.bms_daemon(cfg);
        w.owners.next().await;
        let first = rig.items().await.unwrap();
        assert!(num(&first, "/Info/MaxChargeCurrent").is_some_and(|c| c <= 150.0 + 1e-9), "first CCL {:?}", val(&first, "/Info/MaxChargeCurrent"));
        assert!(
            num(&first, "/Info/MaxDischargeCurrent").is_some_and(|c| c <= 300.0 + 1e-9),
            "first DCL {:?}",
            val(&first, "/Info/MaxDischargeCurrent")
        );
        assert_eq!(val(&first, "/System/NrOfModulesOffline"), Value::Uint(1));
        assert_eq!(val(&first, "/Alarms/MemberLost"), Value::Uint(1));
        println!(
            "first published after a restart with one of two missing: CCL {:?} DCL {:?}",
            val(&first, "/Info/MaxChargeCurrent"),
            val(&first, "/Info/MaxDischargeCurrent")
        );
        let i = rig.until(6 * SEC, "half limits", limits(150.0, 300.0)).await;
        assert!(text(&i, "/Info/ChargeLimitation").contains("1 of 2 members present"), "{}", text(&i, "/Info/ChargeLimitation"));
        assert_eq!(member(&i, "Battery 2", "State"), Value::from("missing since the start (remembered)"));
        assert!(
            d2.log_text()
                .contains("Battery 2 (serial 'HQSIM00280', last seen as com.victronenergy.battery.ttyS6) belongs to the bank but is not on the bus"),
            "{}",
            d2.log_text()
        );
        let (ccl, dcl) = w.highest();
        assert!(ccl <= 150.0 + 1e-9 && dcl <= 300.0 + 1e-9, "never a moment at the full value: {ccl} / {dcl}");

        // The same battery back on another port (its serial): one member, full after the ramp.
        let b2 = rig.shunt_spec(ShuntSpec { serial: "HQSIM00280".into(), ..spec("ttyS7", 281, "Battery 2") }, &battery(200.0, 70.0, -5.0)).await;
        let i = rig.until(2 * SEC, "ramping", |i| num(i, "/Info/MaxChargeCurrent").is_some_and(|c| c > 150.5 && c < 299.5)).await;
        assert!(text(&i, "/Info/ChargeLimitation").starts_with("Ramping up"), "{}", text(&i, "/Info/ChargeLimitation"));
        let i = rig.until(6 * SEC, "full limits again", limits(300.0, 600.0)).await;
        assert_eq!(val(&i, "/System/NrOfModulesOnline"), Value::Uint(2));
        assert_eq!(val(&i, "/System/NrOfModulesOffline"), Value::Uint(0));
        assert_eq!(member(&i, "Battery 2", "Service"), Value::from("com.victronenergy.battery.ttyS7"));
        assert_eq!(aggregate_shunts::status::listed(&i).len(), 2, "counted once");

        // Removed for good: forget it (refused while it is online), and a restart gives full limits.
        let (ok, out) = forget(&rig, "Battery 2");
        assert!(!ok && out.contains("Battery 2 is online"), "{out}");
        b2.stop().await.unwrap();
        rig.until(3 * SEC, "offline", |i| val(i, "/System/NrOfModulesOffline") == Value::Uint(1)).await;
        let (ok, out) = forget(&rig, "nobody");
        assert!(!ok && out.contains("no member is called 'nobody'"), "{out}");
        assert_eq!(rig.set_value("/Members/Forget", Value::from("Battery 1")).await, 2, "refused over the bus too");
        let (ok, out) = forget(&rig, "HQSIM00280");
        assert!(ok && out.contains("forgotten: Battery 2"), "{out}");
        rig.until(2 * SEC, "one member", |i| {
            aggregate_shunts::status::listed(i).len() == 1 && val(i, "/System/NrOfModulesOffline") == Value::Uint(0)
        })
        .await;
        until_remembered(&rig, "Battery 2 forgotten", |s| !s.contains("HQSIM00280")).await;
        drop(d2);
        let _d3 = rig.bms_daemon(cfg);
        let i = rig.until(10 * SEC, "full limits for the remaining member", limits(300.0, 600.0)).await;
        assert_eq!(val(&i, "/Alarms/MemberLost"), Value::Uint(0));
        drop(a);
    });
}

#[test]
fn excluding_a_remembered_member_forgets_it() {
    run(async {
        let mut rig = Rig::with_settings("exclude-remembered").await;
        rig.settings()
            .preset(
                MEMBERS_SETTING,
                Value::from("1;serial=HQOLD,service=com.victronenergy.battery.ttyS9,instance=290,name=Old,capacity=100,source=register"),
            )
            .await
            .unwrap();
        let ([_a], d, _) = rig.bms_bank([battery_n(1)], "BMS_HOLD_TIME = 0\nBMS_RAMP_TIME = 0\nEXCLUDE_SHUNTS = Old\nSTART_TIMEOUT = 2\n").await;
        assert!(d.log_text().contains("excluded by EXCLUDE_SHUNTS item 'Old': forgotten"), "{}", d.log_text());
        until_remembered(&rig, "the excluded member forgotten", |s| !s.contains("HQOLD")).await;
    });
}

#[test]
fn a_battery_whose_protection_opened_leaves_the_limits() {
    run(async {
        let mut rig = Rig::with_settings("circuit").await;
        let charging = [(spec("ttyS5", 279, "Battery 1"), battery(200.0, 60.0, 30.0)), (spec("ttyS6", 280, "Battery 2"), battery(200.0, 60.0, 30.0))];
        let ([a, b], d, _) = rig.bms_bank(charging, "BMS_HOLD_TIME = 0\nOUT_OF_CIRCUIT_TIME = 3\nBMS_RAMP_TIME = 3\n").await;
        // Battery 2's own protection opens: 0 A, its voltage follows the bank; Battery 1 takes it all.
        let v = a.value("/Dc/0/Voltage").unwrap();
        b.set([("/Dc/0/Current", Value::Double(0.0)), ("/Dc/0/Voltage", v.clone())]).await.unwrap();
        a.set([("/Dc/0/Current", Value::Double(60.0))]).await.unwrap();
        let opened = Instant::now();
        let i = rig.until(6 * SEC, "half limits", limits(150.0, 300.0)).await;
        assert!(opened.elapsed() >= 2 * SEC, "not before OUT_OF_CIRCUIT_TIME: {:?}", opened.elapsed());
        assert!(
            text(&i, "/Info/ChargeLimitation").contains("Battery 2 carries no current: out of the circuit"),
            "{}",
            text(&i, "/Info/ChargeLimitation")
        );
        assert_eq!(val(&i, "/System/NrOfModulesOnline"), Value::Uint(2), "still online on the bus");
        assert_eq!(member(&i, "Battery 2", "State"), Value::from("online, out of the circuit (carries no current)"));
        assert!(d.log_text().contains("Battery 2 is out of the circuit"), "{}", d.log_text());
        // It carries its share again: back, with the ramp.
        b.set([("/Dc/0/Current", Value::Double(30.0))]).await.unwrap();
        a.set([("/Dc/0/Current", Value::Double(30.0))]).await.unwrap();
        rig.until(2 * SEC, "ramping", |i| num(i, "/Info/MaxChargeCurrent").is_some_and(|c| c > 150.5 && c < 299.5)).await;
        rig.until(6 * SEC, "full limits again", limits(300.0, 600.0)).await;
    });
}

#[test]
fn a_missing_or_corrupt_memory_never_stops_the_daemon() {
    run(async {
        // No localsettings: the daemon runs, says once that it cannot remember, and says so in
        // the charge limitation.
        let mut rig = Rig::new("nomemory").await;
        let ([_a], d, i) = rig.bms_bank([battery_n(1)], "BMS_HOLD_TIME = 0\nBMS_RAMP_TIME = 0\n").await;
        assert_eq!(text(&i, "/Info/ChargeLimitation"), "Configured limit 300 A; bank members not remembered (localsettings unavailable)");
        assert_eq!(d.log_text().matches("will not be remembered across a restart").count(), 1, "{}", d.log_text());

        // A corrupt stored value: the bad record is ignored with a warning, the good one kept,
        // and the memory is written back clean.
        let mut rig = Rig::with_settings("corrupt").await;
        let good = "serial=HQGONE,service=com.victronenergy.battery.ttyS9,instance=290,name=Gone,capacity=200,source=register";
        rig.settings().preset(MEMBERS_SETTING, Value::from(format!("1;%%%;{good};instance=x"))).await.unwrap();
        let _a = rig.shunt_spec(spec("ttyS5", 279, "Battery 1"), &battery(200.0, 70.0, -5.0)).await;
        let d = rig.bms_daemon("BMS_HOLD_TIME = 0\nBMS_RAMP_TIME = 0\nSTART_TIMEOUT = 1\n");
        let i = rig.until(10 * SEC, "half limits: Gone is remembered", limits(150.0, 300.0)).await;
        assert_eq!(val(&i, "/System/NrOfModulesOffline"), Value::Uint(1));
        assert_eq!(d.log_text().matches("ignoring part of the remembered bank").count(), 2, "{}", d.log_text());
        until_remembered(&rig, "the memory rewritten clean", |s| s.contains("HQGONE") && s.contains("HQSIM00279") && !s.contains("%%%")).await;
        // A value of another kind altogether is refused whole, with a warning.
        let mut rig = Rig::with_settings("garbage").await;
        rig.settings().preset(MEMBERS_SETTING, Value::from("<xml>not ours</xml>")).await.unwrap();
        let ([_a], d, _) = rig.bms_bank([battery_n(1)], "BMS_HOLD_TIME = 0\nBMS_RAMP_TIME = 0\n").await;
        assert!(
            d.log_text().contains("ignoring part of the remembered bank in /Settings/Devices/aggregate_shunts/Members: unknown format"),
            "{}",
            d.log_text()
        );
    });
}
