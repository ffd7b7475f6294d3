//! Virtual-BMS mode on a private bus: simulated members overheat, freeze, raise each alarm, drop
//! out and return, go stale, and all go stale; the published limits, texts and flags are
//! checked after each step.

use std::cell::Cell;
use std::time::{Duration, Instant};

use aggregate_shunts::status::Items;
use aggregate_shunts::tools::sim::{ShuntSpec, SimShunt};
use aggregate_shunts::value::Value;
use aggregate_shunts::venus::wire;
use smol::stream::StreamExt;
use zbus::{MatchRule, MessageStream, message::Type};

use crate::harness::*;

/// Waits for `check` while keeping the `alive` members talking (their time-since-full-charge
/// counter ticks, as a real shunt's does), so only the silent ones go stale.
async fn wait(rig: &Rig, alive: &[&SimShunt], what: &str, check: impl Fn(&Items) -> bool) -> Items {
    thread_local!(static TICK: Cell<u32> = const { Cell::new(5000) });
    let deadline = Instant::now() + 6 * SEC;
    let mut last = None;
    while Instant::now() < deadline {
        let n = TICK.with(|t| {
            t.set(t.get() + 1);
            t.get()
        });
        for s in alive {
            s.set([("/History/TimeSinceLastFullCharge", Value::Uint(n))]).await.unwrap();
        }
        if let Ok(items) = rig.items().await {
            if check(&items) {
                return items;
            }
            last = Some(items);
        }
        smol::Timer::after(Duration::from_millis(50)).await;
    }
    panic!(
        "timed out waiting for {what}; last: {:?}",
        last.map(|i| sorted(&i)
            .into_iter()
            .filter(|(p, _)| p.starts_with("/Info") || p.starts_with("/Io") || p.starts_with("/System"))
            .collect::<Vec<_>>())
    );
}

/// (member, changes, expected CCL, DCL, words in the charge / discharge text)
type Hazard<'a> = (&'a SimShunt, Vec<(&'static str, Value)>, f64, f64, &'static str, &'static str);

/// A named member with a temperature sensor.
fn sensed(port: &str, instance: u32, name: &str) -> ShuntSpec {
    ShuntSpec { has_temperature: true, ..spec(port, instance, name) }
}

fn warm(capacity: f64) -> aggregate_shunts::tools::sim::Battery {
    let mut b = battery(capacity, 70.0, -5.0);
    b.temperature = Some(20.0);
    b
}

#[test]
fn every_hazard_on_the_bus() {
    run(async {
        let mut rig = Rig::with_settings("bms").await;
        let b1 = rig.shunt_spec(sensed("ttyS5", 279, "Battery 1"), &warm(200.0)).await;
        let b2 = rig.shunt_spec(sensed("ttyS6", 280, "Battery 2"), &warm(200.0)).await;
        let mut owners = rig.owner_changes().await;
        let mut d = rig.bms_daemon("STALE_TIMEOUT = 2\nOFFLINE_GRACE = 2\nBMS_HOLD_TIME = 0\nBMS_RAMP_TIME = 0\n");
        owners.next().await;
        let first = rig.items().await.unwrap();
        assert!(close(num(&first, "/Info/MaxChargeVoltage"), 14.2, 1e-9), "CVL valid in the first GetItems");
        assert_eq!(val(&first, "/ProductId"), Value::Uint(0xBA77));
        assert_eq!(val(&first, "/CustomName"), Value::from("Aggregate BMS"));
        let both = [&b1, &b2];

        let i = wait(&rig, &both, "full limits", limits(300.0, 600.0)).await;
        assert_eq!(val(&i, "/Io/AllowToCharge"), Value::Uint(1));
        assert_eq!(val(&i, "/Io/AllowToDischarge"), Value::Uint(1));
        assert_eq!(text(&i, "/Info/ChargeLimitation"), "Configured limit 300 A");

        // Read-only for other processes.
        assert_eq!(rig.set_value("/Info/MaxChargeCurrent", Value::Double(1000.0)).await, 1);
        assert_eq!(rig.set_value("/Info/MaxChargeVoltage", Value::Double(15.0)).await, 1);
        assert_eq!(rig.set_value("/Io/AllowToCharge", Value::Uint(1)).await, 1);

        let hazards: [Hazard; 7] = [
            (&b2, vec![("/Dc/0/Temperature", Value::Double(46.0))], 0.0, 600.0, "Battery 2 too hot to charge (46.0 °C > 45.0 °C)", "Configured"),
            (&b2, vec![("/Dc/0/Temperature", Value::Double(3.1))], 0.0, 600.0, "Battery 2 too cold to charge (3.1 °C < 5.0 °C)", "Configured"),
            (&b1, vec![("/Dc/0/Temperature", Value::Double(-25.0))], 0.0, 0.0, "Battery 1 too cold to charge", "Battery 1 too cold to discharge"),
            (&b1, vec![("/Alarms/HighVoltage", Value::Uint(2))], 0.0, 600.0, "Battery 1 high-voltage alarm", "Configured"),
            // The shunt's own high-temperature alarm stops both directions.
            (
                &b2,
                vec![("/Alarms/HighTemperature", Value::Uint(1))],
                0.0,
                0.0,
                "Battery 2 high-temperature alarm",
                "Battery 2 high-temperature alarm",
            ),
            (&b1, vec![("/Alarms/LowVoltage", Value::Uint(2))], 300.0, 0.0, "Configured", "Battery 1 low-voltage alarm"),
            (&b2, vec![("/Alarms/LowSoc", Value::Uint(2))], 300.0, 0.0, "Configured", "Battery 2 low-SoC alarm"),
        ];
        for (who, changes, ccl, dcl, ctext, dtext) in hazards {
            let restore: Vec<(&str, Value)> =
                changes.iter().map(|(p, _)| (*p, if p.starts_with("/Alarms") { Value::Uint(0) } else { Value::Double(20.0) })).collect();
            who.set(changes.clone()).await.unwrap();
            let i = wait(&rig, &both, ctext, limits(ccl, dcl)).await;
            assert!(text(&i, "/Info/ChargeLimitation").contains(ctext), "{}", text(&i, "/Info/ChargeLimitation"));
            assert!(text(&i, "/Info/DischargeLimitation").contains(dtext), "{}", text(&i, "/Info/DischargeLimitation"));
            assert_eq!(val(&i, "/Io/AllowToCharge"), Value::Uint(u32::from(ccl > 0.0)));
            assert_eq!(val(&i, "/Io/AllowToDischarge"), Value::Uint(u32::from(dcl > 0.0)));
            // CVL is the configured one while charging is allowed; while it is blocked (ESS
            // feed-in not known here) it is half a volt below the bank.
            let (cvl, bank) = (num(&i, "/Info/MaxChargeVoltage").unwrap(), num(&i, "/Dc/0/Voltage").unwrap());
            if ccl > 0.0 {
                assert!(close(Some(cvl), 14.2, 1e-9), "{cvl}");
            } else {
                assert!(cvl < bank - 0.4, "CVL {cvl} not below the bank's {bank} V");
            }
            if ccl == 0.0 {
                assert_eq!(val(&i, "/System/NrOfModulesBlockingCharge"), Value::Uint(1));
            }
            who.set(restore).await.unwrap();
            let latched = ctext == "Configured" && dtext.contains("low-");
            if latched {
                // A low-voltage or low-SoC stop stays until the bank charges (hazard 9).
                let still = |i: &Items| text(i, "/Info/DischargeLimitation").contains("kept until the bank charges");
                let i = wait(&rig, &both, "the alarm gone, the stop kept", still).await;
                assert!(limits(300.0, 0.0)(&i), "{:?}", num(&i, "/Info/MaxDischargeCurrent"));
                for b in both {
                    b.set([("/Dc/0/Current", Value::Double(2.0))]).await.unwrap();
                }
            }
            wait(&rig, &both, "recovery", limits(300.0, 600.0)).await;
            if latched {
                for b in both {
                    b.set([("/Dc/0/Current", Value::Double(-5.0))]).await.unwrap();
                }
            }
        }

        // Battery 2 drops out: half the current each way; it returns: full again.
        b2.stop().await.unwrap();
        let i = wait(&rig, &[&b1], "one of two", limits(150.0, 300.0)).await;
        assert!(text(&i, "/Info/ChargeLimitation").contains("1 of 2 members present"), "{}", text(&i, "/Info/ChargeLimitation"));
        let b2 = rig.shunt_spec(sensed("ttyS6", 280, "Battery 2"), &warm(200.0)).await;
        wait(&rig, &[&b1, &b2], "both back", limits(300.0, 600.0)).await;

        // A stop leaves charging stopped behind.
        let owner = rig.owner().await;
        let rule = MatchRule::builder().msg_type(Type::Signal).sender(owner.as_str()).unwrap().member("ItemsChanged").unwrap().build();
        let mut changes = MessageStream::for_match_rule(rule, &rig.client, Some(64)).await.unwrap();
        assert_eq!(d.stop().await, Some(0));
        let mut saw = false;
        for m in received(&mut changes) {
            let body: WireItems = m.body().deserialize().unwrap();
            if let Some(e) = body.get("/Info/MaxChargeCurrent") {
                saw |= wire::decode(&e["Value"]).unwrap() == Value::Double(0.0);
            }
        }
        assert!(saw, "CCL 0 published before exiting");
    });
}

/// Members whose drivers hang (SIGSTOP): one, then all. Quiet members that answer stay
/// online (membership.rs); frozen ones do not.
#[test]
fn frozen_members_stop_charging_first_and_discharging_after_the_grace() {
    run(async {
        let mut rig = Rig::with_settings("bms-frozen").await;
        let [b1, b2] = rig.shunt_processes(["ttyS5:279:200:-5", "ttyS6:280:200:-5"]).await;
        let _d = rig.bms_daemon("STALE_TIMEOUT = 2\nOFFLINE_GRACE = 3\nBMS_HOLD_TIME = 0\nBMS_RAMP_TIME = 0\n");
        wait(&rig, &[], "full limits", limits(300.0, 600.0)).await;

        // Battery 2's driver hangs while staying on the bus.
        b2.signal("STOP");
        wait(&rig, &[], "a frozen member", limits(150.0, 300.0)).await;
        b2.signal("CONT");
        wait(&rig, &[], "answering again", limits(300.0, 600.0)).await;

        // All freeze: charging stops at once; discharging after the grace period.
        b1.signal("STOP");
        b2.signal("STOP");
        let i = wait(&rig, &[], "no fresh data", |i| close(num(i, "/Info/MaxChargeCurrent"), 0.0, 0.05)).await;
        assert!(text(&i, "/Info/ChargeLimitation").contains("no fresh data from any member"));
        assert!(close(num(&i, "/Info/MaxDischargeCurrent"), 600.0, 0.05), "discharge held through the grace period");
        let i = wait(&rig, &[], "all lost", limits(0.0, 0.0)).await;
        assert!(text(&i, "/Info/DischargeLimitation").contains("every member lost"));
        assert!(num(&i, "/Info/MaxChargeVoltage").is_some(), "still a BMS");
        b1.signal("CONT");
        b2.signal("CONT");
        wait(&rig, &[], "back", limits(300.0, 600.0)).await;
    });
}

#[test]
fn a_reopened_direction_ramps_up() {
    run(async {
        let mut rig = Rig::new("ramp").await;
        let b1 = rig.shunt_spec(sensed("ttyS5", 279, "Battery 1"), &warm(200.0)).await;
        let _d = rig.bms_daemon("BMS_HOLD_TIME = 1\nBMS_RAMP_TIME = 4\n");
        wait(&rig, &[&b1], "full limits", limits(300.0, 600.0)).await;
        b1.set([("/Dc/0/Temperature", Value::Double(2.0))]).await.unwrap();
        wait(&rig, &[&b1], "blocked", |i| close(num(i, "/Info/MaxChargeCurrent"), 0.0, 0.05)).await;
        // Inside the margin (5 + 2 °C): still blocked.
        b1.set([("/Dc/0/Temperature", Value::Double(6.0))]).await.unwrap();
        smol::Timer::after(2 * SEC).await;
        assert!(close(num(&rig.items().await.unwrap(), "/Info/MaxChargeCurrent"), 0.0, 0.05));
        b1.set([("/Dc/0/Temperature", Value::Double(10.0))]).await.unwrap();
        let i = wait(&rig, &[&b1], "ramping", |i| num(i, "/Info/MaxChargeCurrent").is_some_and(|c| c > 10.0 && c < 290.0)).await;
        assert!(text(&i, "/Info/ChargeLimitation").starts_with("Ramping up"), "{}", text(&i, "/Info/ChargeLimitation"));
        wait(&rig, &[&b1], "full again", limits(300.0, 600.0)).await;
    });
}

#[test]
fn virtual_bms_refuses_to_start_without_a_charge_voltage() {
    run(async {
        let mut rig = Rig::new("nocvl").await;
        let mut d = rig.daemon("DEVICE_MODE = virtual-bms\nMAX_CHARGE_CURRENT = 300\nMAX_DISCHARGE_CURRENT = 600\n");
        assert_eq!(d.wait(5 * SEC).await, Some(1));
        assert!(d.log_text().contains("MAX_CHARGE_VOLTAGE"), "{}", d.log_text());
    });
}
