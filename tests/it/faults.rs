//! Fault injection on a private bus. After each fault the daemon still answers GetItems,
//! publishes only valid numbers, and its log says what happened once. (Strings, NaN,
//! infinities and huge arrays on numeric paths: `discovery.rs`.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aggregate_shunts::tools::sim::{self, SettingsMode, ShuntSpec};
use aggregate_shunts::value::Value;
use aggregate_shunts::venus::wire;
use zbus::interface;

use crate::harness::*;

#[test]
fn a_member_vanishing_mid_burst() {
    run(async {
        let mut rig = Rig::new("midburst").await;
        let ([a, _b], d, _) = rig.bank([plain(), (ShuntSpec::new("ttyS6", 280, Some(100)), battery(100.0, 50.0, -4.0))], "").await;
        for k in 0..300 {
            a.set([("/Dc/0/Current", Value::Double(-2.0 - f64::from(k % 7)))]).await.unwrap();
        }
        a.stop().await.unwrap();
        let items = rig.until(2 * SEC, "one member offline", |i| val(i, "/System/NrOfModulesOffline") == Value::Uint(1)).await;
        all_valid(&items);
        assert_eq!(d.log_text().matches("is offline: it left the bus").count(), 1, "{}", d.log_text());
    });
}

#[test]
fn a_member_returning_under_a_new_device_instance() {
    run(async {
        let mut rig = Rig::new("renumber").await;
        // A shunt without a serial is known by port and instance: the same port under a new
        // instance is the same battery renumbered (with a serial, the serial decides; see
        // membership.rs).
        let no_serial = |instance| ShuntSpec { serial: String::new(), ..ShuntSpec::new("ttyS5", instance, Some(100)) };
        let ([a], d, _) = rig.bank([(no_serial(279), battery(100.0, 50.0, -2.0))], "").await;
        a.stop().await.unwrap();
        let _a2 = rig.shunt_spec(no_serial(300), &battery(100.0, 50.0, -3.0)).await;
        let items = rig
            .until(2 * SEC, "the renumbered member", |i| {
                val(i, "/Members/0/DeviceInstance") == Value::Uint(300) && close(num(i, "/Dc/0/Current"), -3.0, 0.05)
            })
            .await;
        assert_eq!(val(&items, "/System/NrOfModulesOffline"), Value::Uint(0), "the old record is gone");
        assert!(!items.contains_key("/Members/1/Service"));
        all_valid(&items);
        assert_eq!(d.log_text().matches("came back as instance 300 (was 279)").count(), 1, "{}", d.log_text());
    });
}

/// A SmartShunt whose GetItems answers only after 10 s.
struct SlowRoot;

#[interface(name = "com.victronenergy.BusItem")]
impl SlowRoot {
    async fn get_items(&self) -> WireItems {
        smol::Timer::after(10 * SEC).await;
        let item = |v: Value| {
            HashMap::from([("Value".to_owned(), wire::to_owned_variant(&v)), ("Text".to_owned(), wire::to_owned_variant(&Value::from("")))])
        };
        HashMap::from([
            ("/DeviceInstance".to_owned(), item(Value::Uint(301))),
            ("/ProductId".to_owned(), item(Value::Uint(0xA389))),
            ("/ProductName".to_owned(), item(Value::from("SmartShunt 500A/50mV"))),
            ("/Connected".to_owned(), item(Value::Uint(1))),
            ("/Dc/0/Current".to_owned(), item(Value::Double(-7.0))),
        ])
    }
}

#[test]
fn a_member_answering_get_items_after_ten_seconds() {
    run(async {
        let mut rig = Rig::new("slowscan").await;
        let slow = sim::connect(&rig.bus.address).await.unwrap();
        slow.object_server().at("/", SlowRoot).await.unwrap();
        slow.request_name("com.victronenergy.battery.slow").await.unwrap();
        let _a = rig.shunt("ttyS5", 279, Some(100), &battery(100.0, 50.0, -2.0)).await;
        let t = Instant::now();
        let _d = rig.daemon("");
        // The slow one does not hold up the others...
        let items = rig.until(5 * SEC, "the prompt member", |i| close(num(i, "/Dc/0/Current"), -2.0, 0.05)).await;
        assert!(t.elapsed() < 5 * SEC);
        all_valid(&items);
        // ...and joins when it finally answers.
        let items = rig.until(15 * SEC, "the slow member", |i| close(num(i, "/Dc/0/Current"), -9.0, 0.05)).await;
        assert!(t.elapsed() >= 9 * SEC);
        all_valid(&items);
    });
}

#[test]
fn a_flood_of_a_thousand_changes_a_second() {
    run(async {
        let mut rig = Rig::new("flood").await;
        let ([a], d, _) = rig.bank([plain()], "").await;
        let flood = async {
            let start = Instant::now();
            let mut next = start;
            for k in 0..3000u32 {
                next += Duration::from_millis(1);
                a.set([("/Dc/0/Current", Value::Double(-10.0 - f64::from(k % 50)))]).await.unwrap();
                if next > Instant::now() {
                    smol::Timer::at(next).await;
                }
            }
            a.set([("/Dc/0/Current", Value::Double(-3.0))]).await.unwrap();
            start.elapsed()
        };
        let probe = async {
            let mut worst = Duration::ZERO;
            for _ in 0..10 {
                smol::Timer::after(SEC / 4).await;
                let t = Instant::now();
                rig.items().await.expect("GetItems during the flood");
                worst = worst.max(t.elapsed());
            }
            worst
        };
        let (took, worst) = smol::future::zip(flood, probe).await;
        eprintln!("flood of 3000 changes took {took:?}; slowest GetItems during it {worst:?}");
        let items = rig.until(2 * SEC, "the last value", |i| close(num(i, "/Dc/0/Current"), -3.0, 0.05)).await;
        all_valid(&items);
        assert!(!d.log_text().contains("ERROR"), "{}", d.log_text());
    });
}

#[test]
fn localsettings_slow_or_failing() {
    run(async {
        for (mode, words) in [(SettingsMode::Slow(8 * SEC), "did not answer in time"), (SettingsMode::Failing, "refused")] {
            let mut rig = Rig::with_settings_mode("badsettings", mode).await;
            let _a = rig.shunt("ttyS5", 279, Some(100), &battery(100.0, 50.0, -2.0)).await;
            let d = rig.daemon("");
            let items = rig.until(15 * SEC, "the service", |i| close(num(i, "/Dc/0/Current"), -2.0, 0.05)).await;
            assert_eq!(val(&items, "/DeviceInstance"), Value::Uint(100), "{mode:?}: a free instance");
            all_valid(&items);
            let log = d.log_text();
            assert_eq!(log.matches(words).count(), 1, "{mode:?}: {log}");
        }
    });
}

#[test]
fn a_second_daemon_exits_with_a_clear_message() {
    run(async {
        let mut rig = Rig::new("second").await;
        let ([_a], _first, _) = rig.bank([plain()], "").await;
        let mut second = rig.daemon("");
        assert_eq!(second.wait(15 * SEC).await, Some(2), "{}", second.log_text());
        assert!(second.log_text().contains("already owned by another process"), "{}", second.log_text());
        let items = rig.items().await.expect("the first one still answers");
        all_valid(&items);
    });
}

#[test]
fn the_bus_going_away_ends_the_daemon_quickly() {
    run(async {
        let mut rig = Rig::new("busgone").await;
        let ([_a], mut d, _) = rig.bank([plain()], "").await;
        let t = Instant::now();
        rig.bus.kill();
        let code = d.wait(5 * SEC).await;
        eprintln!("exited {code:?} {:?} after the bus went away", t.elapsed());
        assert_eq!(code, Some(1), "{}", d.log_text());
        assert!(d.log_text().contains("exiting so the supervisor restarts us"), "{}", d.log_text());
    });
}
