//! Discovery and membership on a private bus: appear, vanish, reappear, exclusion, bad values,
//! stale members, and an empty bank.

use std::time::Instant;

use aggregate_shunts::tools::sim::ShuntSpec;
use aggregate_shunts::value::Value;

use crate::harness::*;

#[test]
fn members_join_and_leave_within_a_second() {
    run(async {
        let mut rig = Rig::new("join").await;
        let a = rig.shunt("ttyS5", 279, Some(200), &battery(200.0, 80.0, -10.0)).await;
        let _b = rig.shunt("ttyS6", 280, Some(100), &battery(100.0, 60.0, -5.0)).await;
        let _d = rig.daemon("OFFLINE_GRACE = 2\n");
        let items =
            rig.until(10 * SEC, "two members", |i| close(num(i, "/Dc/0/Current"), -15.0, 0.05) && num(i, "/InstalledCapacity").is_some()).await;
        assert_eq!(val(&items, "/System/NrOfModulesOnline"), Value::Uint(2));
        assert!(close(num(&items, "/InstalledCapacity"), 300.0, 0.01));
        // Capacity-weighted: (200*80 + 100*60) / 300.
        assert!(close(num(&items, "/Soc"), 73.3, 0.05));

        let t = Instant::now();
        let c = rig.shunt("ttyS7", 281, Some(100), &battery(100.0, 50.0, -3.0)).await;
        rig.until(SEC, "the third member", |i| close(num(i, "/Dc/0/Current"), -18.0, 0.05)).await;
        eprintln!("join took {:?}", t.elapsed());

        let t = Instant::now();
        c.stop().await.unwrap();
        let items = rig.until(SEC, "the third member offline", |i| val(i, "/System/NrOfModulesOnline") == Value::Uint(2)).await;
        eprintln!("leave took {:?}", t.elapsed());
        assert_eq!(val(&items, "/System/NrOfModulesOffline"), Value::Uint(1));
        // Held during the grace period: its last current still counts.
        assert!(close(num(&items, "/Dc/0/Current"), -18.0, 0.05));
        let items = rig.until(4 * SEC, "the third member lost", |i| val(i, "/Alarms/MemberLost") == Value::Uint(1)).await;
        assert!(close(num(&items, "/Dc/0/Current"), -15.0, 0.05));
        assert!(close(num(&items, "/InstalledCapacity"), 300.0, 0.01));

        let _c = rig.shunt("ttyS7", 281, Some(100), &battery(100.0, 50.0, -3.0)).await;
        let items = rig
            .until(SEC, "the third member back", |i| val(i, "/Alarms/MemberLost") == Value::Uint(0) && close(num(i, "/Dc/0/Current"), -18.0, 0.05))
            .await;
        assert_eq!(val(&items, "/System/NrOfModulesOnline"), Value::Uint(3));

        // The first member vanishing shows in its member slot.
        a.stop().await.unwrap();
        rig.until(SEC, "member state", |i| {
            (0..3).any(|k| {
                val(i, &format!("/Members/{k}/Service")) == Value::from("com.victronenergy.battery.ttyS5")
                    && val(i, &format!("/Members/{k}/State")) == Value::from("offline (values held)")
            })
        })
        .await;
    });
}

#[test]
fn exclusion_by_name_instance_and_port() {
    run(async {
        let mut rig = Rig::new("exclude").await;
        let named = ShuntSpec { custom_name: "House Battery".into(), ..ShuntSpec::new("ttyS5", 279, Some(100)) };
        let _a = rig.shunt_spec(named, &battery(100.0, 50.0, -1.0)).await;
        let _b = rig.shunt("ttyS6", 281, Some(100), &battery(100.0, 50.0, -2.0)).await;
        let _c = rig.shunt("ttyS7", 282, Some(100), &battery(100.0, 50.0, -4.0)).await;
        let _m = rig.shunt("ttyS8", 283, Some(100), &battery(100.0, 50.0, -8.0)).await;
        let bmv = ShuntSpec { product_id: 0x0204, ..ShuntSpec::new("ttyS9", 284, Some(100)) };
        let _n = rig.shunt_spec(bmv, &battery(100.0, 50.0, -16.0)).await;
        let d = rig.daemon("EXCLUDE_SHUNTS = \"House Battery\", 281, ttyS7\n");
        let items = rig.until(10 * SEC, "the one member", |i| close(num(i, "/Dc/0/Current"), -8.0, 0.05)).await;
        smol::Timer::after(SEC / 2).await;
        let items2 = rig.items().await.unwrap();
        assert_eq!(val(&items, "/System/NrOfModulesOnline"), Value::Uint(1));
        assert!(close(num(&items2, "/Dc/0/Current"), -8.0, 0.05), "{:?}", num(&items2, "/Dc/0/Current"));
        let log = d.log_text();
        assert!(log.contains("excluded by EXCLUDE_SHUNTS item 'House Battery'"), "{log}");
        assert!(log.contains("excluded by EXCLUDE_SHUNTS item '281'"), "{log}");
        assert!(log.contains("excluded by EXCLUDE_SHUNTS item 'ttyS7'"), "{log}");
        assert!(log.contains("ttyS9 ignored: not a SmartShunt"), "{log}");
    });
}

#[test]
fn bad_member_values_are_ignored_and_logged_once() {
    run(async {
        let mut rig = Rig::new("badvalues").await;
        let ([a], d, _) = rig.bank([plain()], "").await;
        for _ in 0..3 {
            a.set([("/Dc/0/Current", Value::Text("lots".into()))]).await.unwrap();
            a.set([("/Dc/0/Current", Value::Double(-2.0))]).await.unwrap();
        }
        // NaN, infinities and a huge array, sent raw as a broken driver would.
        let conn = a.connection();
        for bad in
            [zbus::zvariant::Value::F64(f64::NAN), zbus::zvariant::Value::F64(f64::INFINITY), zbus::zvariant::Value::from(vec![1.0f64; 10_000])]
        {
            let entry = std::collections::HashMap::from([("Value", bad), ("Text", zbus::zvariant::Value::from("x"))]);
            let body = std::collections::HashMap::from([("/Soc", entry)]);
            conn.emit_signal(None::<()>, "/", "com.victronenergy.BusItem", "ItemsChanged", &body).await.unwrap();
        }
        a.set([("/Dc/0/Current", Value::Double(-3.0))]).await.unwrap();
        let items = rig.until(2 * SEC, "the next good value", |i| close(num(i, "/Dc/0/Current"), -3.0, 0.05)).await;
        assert!(close(num(&items, "/Soc"), 50.0, 0.05), "SoC kept its last good value");
        let log = d.log_text();
        assert_eq!(log.matches("bad value on /Dc/0/Current").count(), 1, "{log}");
        assert_eq!(log.matches("bad value on /Soc").count(), 1, "{log}");
        all_valid(&items);
    });
}

#[test]
fn frozen_and_disconnected_members_go_offline() {
    run(async {
        let mut rig = Rig::new("stale").await;
        // a runs in a process of its own, so it can freeze as a hung driver does (SIGSTOP);
        // a member that is only quiet stays online (membership.rs).
        let [a] = rig.shunt_processes(["ttyS5:279:100:-2"]).await;
        let b = rig.shunt("ttyS6", 280, Some(100), &battery(100.0, 50.0, -4.0)).await;
        let _d = rig.daemon("STALE_TIMEOUT = 2\nOFFLINE_GRACE = 2\n");
        rig.until(10 * SEC, "the members", |i| close(num(i, "/Dc/0/Current"), -6.0, 0.05)).await;
        a.signal("STOP");
        rig.until(6 * SEC, "a offline", |i| val(i, "/System/NrOfModulesOffline") == Value::Uint(1)).await;
        rig.until(4 * SEC, "a lost", |i| val(i, "/Alarms/MemberLost") == Value::Uint(1) && close(num(i, "/Dc/0/Current"), -4.0, 0.05)).await;
        // /Connected = 0 is offline at once.
        b.set([("/Connected", Value::Uint(0))]).await.unwrap();
        let items = rig.until(SEC, "no member online", |i| val(i, "/System/NrOfModulesOnline") == Value::Uint(0)).await;
        assert_eq!(val(&items, "/Dc/0/Voltage"), Value::Invalid, "no member online: invalid, never 0 V");
        assert_eq!(val(&items, "/Soc"), Value::Invalid, "no member online: invalid, never 50 %");
    });
}

#[test]
fn an_empty_bank_registers_with_invalid_values() {
    run(async {
        let mut rig = Rig::new("empty").await;
        let _d = rig.daemon("START_TIMEOUT = 1\n");
        let items = rig.until(5 * SEC, "the service", |_| true).await;
        for p in ["/Dc/0/Voltage", "/Dc/0/Current", "/Soc", "/TimeToGo", "/Dc/0/Power", "/ConsumedAmphours", "/Capacity"] {
            assert_eq!(val(&items, p), Value::Invalid, "{p}");
        }
        assert_eq!(val(&items, "/System/NrOfModulesOnline"), Value::Uint(0));
        assert_eq!(val(&items, "/Connected"), Value::Uint(1));
        // A shunt that arrives later joins.
        let _a = rig.shunt("ttyS5", 279, None, &battery(100.0, 50.0, -2.0)).await;
        rig.until(SEC, "the late member", |i| close(num(i, "/Dc/0/Current"), -2.0, 0.05)).await;
    });
}
