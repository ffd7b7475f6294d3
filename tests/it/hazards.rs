//! The virtual-BMS hazards of the safety review (issue 13), each on a private bus with the
//! real binary: the README's safety table names these tests.

use std::process::Command;
use std::time::{Duration, Instant};

use aggregate_shunts::status::Items;
use aggregate_shunts::tools::sim::{Battery, ShuntSpec, SimShunt};
use aggregate_shunts::value::Value;
use aggregate_shunts::venus::wire;
use smol::stream::StreamExt;
use zbus::{MatchRule, MessageStream, message::Type};

use crate::harness::*;

/// Fast gates so each step shows at once.
const FAST: &str = "STALE_TIMEOUT = 2\nOFFLINE_GRACE = 2\nBMS_HOLD_TIME = 0\nBMS_RAMP_TIME = 0\n";

fn sensed(port: &str, instance: u32, name: &str) -> ShuntSpec {
    ShuntSpec { has_temperature: true, ..spec(port, instance, name) }
}

fn at(temperature: f64) -> Battery {
    let mut b = battery(200.0, 70.0, -5.0);
    b.temperature = Some(temperature);
    b
}

fn charge_text(i: &Items) -> String {
    text(i, "/Info/ChargeLimitation")
}

fn has(path: &'static str, words: &'static str) -> impl Fn(&Items) -> bool {
    move |i| text(i, path).contains(words)
}

async fn two_warm(rig: &mut Rig, extra: &str) -> (SimShunt, SimShunt, Daemon) {
    let b1 = rig.shunt_spec(sensed("ttyS5", 279, "Battery 1"), &at(20.0)).await;
    let b2 = rig.shunt_spec(sensed("ttyS6", 280, "Battery 2"), &at(20.0)).await;
    let d = rig.bms_daemon(&format!("{FAST}{extra}"));
    rig.until(10 * SEC, "full limits", limits(300.0, 600.0)).await;
    (b1, b2, d)
}

#[test]
fn h1_temperature_sensors_a_fault_blocks_and_no_sensor_needs_consent() {
    run(async {
        let mut rig = Rig::with_settings("h1").await;
        let (_b1, b2, _d) = two_warm(&mut rig, "ACCEPT_NO_TEMPERATURE_SENSOR = false\n").await;
        // Unplugged sensor: HasTemperature stays 1, the reading goes invalid.
        b2.set([("/Dc/0/Temperature", Value::Invalid)]).await.unwrap();
        let i = rig.until(5 * SEC, "a sensor fault", limits(0.0, 600.0)).await;
        assert!(charge_text(&i).contains("Battery 2 temperature sensor fault"), "{}", charge_text(&i));
        assert_eq!(val(&i, "/System/NrOfModulesBlockingCharge"), Value::Uint(1));
        let status = Command::new(BIN).arg("status").env("DBUS_SYSTEM_BUS_ADDRESS", &rig.bus.address).output().unwrap();
        let out = String::from_utf8_lossy(&status.stdout);
        assert!(out.contains("active protections:") && out.contains("charge: Battery 2 temperature sensor fault"), "{out}");

        // A bank without any sensor: refused unless the risk is accepted.
        let mut rig = Rig::with_settings("h1-none").await;
        let _s = rig.shunt_spec(spec("ttyS5", 279, "Bare"), &battery(200.0, 70.0, -5.0)).await;
        let _d = rig.bms_daemon(&format!("{FAST}ACCEPT_NO_TEMPERATURE_SENSOR = false\n"));
        let i = rig.until(10 * SEC, "no sensor", |i| val(i, "/System/NrOfModulesOnline") == Value::Uint(1) && limits(0.0, 600.0)(i)).await;
        assert!(charge_text(&i).contains("no temperature sensor in the bank"), "{}", charge_text(&i));
        let mut rig = Rig::with_settings("h1-accepted").await;
        let _s = rig.shunt_spec(spec("ttyS5", 279, "Bare"), &battery(200.0, 70.0, -5.0)).await;
        let d = rig.bms_daemon(FAST);
        let i = rig.until(10 * SEC, "accepted", limits(300.0, 600.0)).await;
        assert!(text(&i, "/Bms/AcceptedRisks").contains("ACCEPT_NO_TEMPERATURE_SENSOR = true"), "{}", text(&i, "/Bms/AcceptedRisks"));
        assert!(d.log_text().contains("risk accepted: ACCEPT_NO_TEMPERATURE_SENSOR = true"), "{}", d.log_text());
    });
}

#[test]
fn h2_with_feed_in_a_charge_block_brings_cvl_below_the_bank() {
    run(async {
        for (feed_in, lowered) in [(1u32, true), (0, false)] {
            let mut rig = Rig::with_settings("h2").await;
            rig.settings().preset("/Settings/CGwacs/OvervoltageFeedIn", Value::Uint(feed_in)).await.unwrap();
            let (_b1, b2, _d) = two_warm(&mut rig, "").await;
            // The setting is read within a second or two of the start.
            let known =
                |i: &Items| text(i, "/Bms/AcceptedRisks").contains("ESS feeds") == lowered && !text(i, "/Bms/AcceptedRisks").contains("unknown");
            rig.until(5 * SEC, "the feed-in setting read", known).await;
            b2.set([("/Dc/0/Temperature", Value::Double(0.0))]).await.unwrap();
            let i = rig.until(5 * SEC, "a cold member", limits(0.0, 600.0)).await;
            let (cvl, bank) = (num(&i, "/Info/MaxChargeVoltage").unwrap(), num(&i, "/Dc/0/Voltage").unwrap());
            if lowered {
                assert!(close(Some(cvl), bank - 0.5, 0.011), "feed-in on: CVL {cvl} for a bank at {bank} V");
                assert!(charge_text(&i).contains("CVL lowered to"), "{}", charge_text(&i));
                assert!(text(&i, "/Bms/AcceptedRisks").contains("ESS feeds excess DC-coupled PV"), "{}", text(&i, "/Bms/AcceptedRisks"));
            } else {
                assert!(close(Some(cvl), 14.2, 1e-9), "feed-in off: CVL {cvl}");
                assert_eq!(text(&i, "/Bms/AcceptedRisks"), "");
            }
            b2.set([("/Dc/0/Temperature", Value::Double(20.0))]).await.unwrap();
            let i = rig.until(5 * SEC, "warm again", limits(300.0, 600.0)).await;
            assert!(close(num(&i, "/Info/MaxChargeVoltage"), 14.2, 1e-9));
            if !lowered {
                // Switched on in the GUI: followed at once (localsettings' PropertiesChanged),
                // not at the next poll a minute later.
                let path = "/Settings/CGwacs/OvervoltageFeedIn";
                let body = (wire::to_variant(&Value::Uint(1)),);
                rig.client.call_method(Some("com.victronenergy.settings"), path, Some("com.victronenergy.BusItem"), "SetValue", &body).await.unwrap();
                rig.until(3 * SEC, "feed-in followed", |i| text(i, "/Bms/AcceptedRisks").contains("ESS feeds")).await;
            }
        }
    });
}

#[test]
fn h3_a_member_lost_while_blocking_keeps_its_block_until_forgotten() {
    run(async {
        let mut rig = Rig::with_settings("h3").await;
        let (_b1, b2, _d) = two_warm(&mut rig, "").await;
        b2.set([("/Dc/0/Temperature", Value::Double(0.0))]).await.unwrap();
        rig.until(5 * SEC, "a cold member", limits(0.0, 600.0)).await;
        b2.stop().await.unwrap();
        // Lost after OFFLINE_GRACE: its values are gone, its block is not.
        let i = rig.until(10 * SEC, "lost", |i| val(i, "/Alarms/MemberLost") == Value::Uint(1)).await;
        smol::Timer::after(2 * SEC).await;
        let i2 = rig.items().await.unwrap();
        for i in [&i, &i2] {
            assert!(limits(0.0, 300.0)(i), "{:?} {:?}", num(i, "/Info/MaxChargeCurrent"), num(i, "/Info/MaxDischargeCurrent"));
            assert!(charge_text(i).contains("Battery 2 too cold to charge (0.0 °C < 5.0 °C) (kept while it is offline)"), "{}", charge_text(i));
        }
        assert_eq!(rig.set_value("/Members/Forget", Value::from("Battery 2")).await, 0);
        rig.until(5 * SEC, "forgotten", limits(300.0, 600.0)).await;
    });
}

#[test]
fn h4_a_held_members_frozen_voltage_never_sets_the_bank_voltage() {
    run(async {
        let mut rig = Rig::with_settings("h4").await;
        let b1 = rig.shunt_spec(spec("ttyS5", 279, "Low"), &battery(200.0, 70.0, -5.0)).await;
        let b2 = rig.shunt_spec(spec("ttyS6", 280, "High"), &battery(200.0, 70.0, -5.0)).await;
        b1.set([("/Dc/0/Voltage", Value::Double(13.30))]).await.unwrap();
        b2.set([("/Dc/0/Voltage", Value::Double(14.20))]).await.unwrap();
        // Monitor mode: the aggregate is the battery monitor systemcalc passes to the chargers.
        let _d = rig.daemon("OFFLINE_GRACE = 60\n");
        rig.until(10 * SEC, "both", |i| close(num(i, "/Dc/0/Voltage"), 13.75, 0.005)).await;
        // Charging: never below the highest member.
        for b in [&b1, &b2] {
            b.set([("/Dc/0/Current", Value::Double(10.0))]).await.unwrap();
        }
        rig.until(5 * SEC, "charging", |i| close(num(i, "/Dc/0/Voltage"), 14.20, 0.005)).await;
        for b in [&b1, &b2] {
            b.set([("/Dc/0/Current", Value::Double(-5.0))]).await.unwrap();
        }
        rig.until(5 * SEC, "discharging", |i| close(num(i, "/Dc/0/Voltage"), 13.75, 0.005)).await;
        // Low leaves the bus: held, but its 13.30 V no longer counts.
        b1.stop().await.unwrap();
        let i = rig.until(5 * SEC, "one held", |i| val(i, "/System/NrOfModulesOnline") == Value::Uint(1)).await;
        assert!(close(num(&i, "/Dc/0/Voltage"), 14.20, 0.005), "{:?}", num(&i, "/Dc/0/Voltage"));
        assert!(close(num(&i, "/Dc/0/Current"), -10.0, 0.05), "the held member's current still counts");
    });
}

#[test]
fn h5_a_start_gets_full_limits_at_once_and_a_stop_keeps_the_name_after_ccl_0() {
    run(async {
        let mut rig = Rig::with_settings("h5").await;
        let _b1 = rig.shunt_spec(sensed("ttyS5", 279, "Battery 1"), &at(20.0)).await;
        let mut owners = rig.owner_changes().await;
        // Default hold and ramp (60 s): neither may apply at a start.
        let mut d = rig.bms_daemon("");
        owners.next().await;
        let first = rig.items().await.unwrap();
        assert!(limits(300.0, 600.0)(&first), "{:?} {:?}", num(&first, "/Info/MaxChargeCurrent"), num(&first, "/Info/MaxDischargeCurrent"));
        let owner = rig.owner().await;
        let rule = MatchRule::builder().msg_type(Type::Signal).sender(owner.as_str()).unwrap().member("ItemsChanged").unwrap().build();
        let mut changes = MessageStream::for_match_rule(rule, &rig.client, Some(64)).await.unwrap();
        let asked = Instant::now();
        assert!(d.child_signal("TERM"));
        let mut ccl0 = None;
        while ccl0.is_none() {
            if let Some(Ok(m)) = changes.next().await {
                let body: WireItems = m.body().deserialize().unwrap();
                if body.contains_key("/Info/MaxChargeCurrent") {
                    ccl0 = Some(Instant::now());
                }
            }
        }
        owners.next().await;
        let gone = Instant::now();
        let held = gone - ccl0.unwrap();
        assert!(held >= Duration::from_secs(6), "the name went {held:?} after CCL 0: DVCC writes every 3 s");
        assert_eq!(d.wait(5 * SEC).await, Some(0));
        assert!(gone - asked < Duration::from_secs(10));
    });
}

#[test]
fn h6_heat_stops_discharging_and_the_shunts_own_alarms_stop_charging() {
    run(async {
        let mut rig = Rig::with_settings("h6").await;
        let (_b1, b2, _d) = two_warm(&mut rig, "").await;
        let rows: [(&str, Value, Value, f64, f64, &'static str); 3] = [
            ("/Dc/0/Temperature", Value::Double(61.0), Value::Double(20.0), 0.0, 0.0, "too hot to discharge (61.0 °C > 60.0 °C)"),
            ("/Alarms/LowTemperature", Value::Uint(1), Value::Uint(0), 0.0, 600.0, "low-temperature alarm"),
            ("/Alarms/MidVoltage", Value::Uint(1), Value::Uint(0), 0.0, 600.0, "midpoint alarm"),
        ];
        for (path, bad, good, ccl, dcl, words) in rows {
            b2.set([(path, bad)]).await.unwrap();
            let i = rig.until(5 * SEC, words, |i| limits(ccl, dcl)(i) && text(i, "/Bms/ActiveProtections").contains(words)).await;
            assert_eq!(val(&i, "/Io/AllowToDischarge"), Value::Uint(u32::from(dcl > 0.0)));
            b2.set([(path, good)]).await.unwrap();
            rig.until(5 * SEC, "clear", limits(300.0, 600.0)).await;
        }
    });
}

#[test]
fn h7_an_unknown_capacity_never_enlarges_the_survivors_share() {
    run(async {
        let mut rig = Rig::with_settings("h7").await;
        let _small = rig.shunt_spec(ShuntSpec { has_temperature: true, ..ShuntSpec::new("ttyS5", 279, Some(100)) }, &at(20.0)).await;
        // No capacity register, and a SoC outside 10-90 %, so its capacity stays unknown.
        let mut full = at(20.0);
        full.soc = 95.0;
        let big = rig.shunt_spec(ShuntSpec { has_temperature: true, ..ShuntSpec::new("ttyS6", 280, None) }, &full).await;
        let _d = rig.bms_daemon(&format!("{FAST}TOTAL_CAPACITY = 400\n"));
        rig.until(10 * SEC, "both", limits(300.0, 600.0)).await;
        big.stop().await.unwrap();
        // 100 of 400 Ah: a quarter, not half (by count) and not all.
        rig.until(10 * SEC, "the big one gone", limits(75.0, 150.0)).await;
    });
}

#[test]
fn h8_the_bank_voltage_guards_what_the_shunts_alarms_might_not() {
    run(async {
        let mut rig = Rig::with_settings("h8").await;
        let (b1, b2, _d) = two_warm(&mut rig, "").await;
        let volts = |v: f64| [("/Dc/0/Voltage", Value::Double(v))];
        b1.set(volts(14.45)).await.unwrap();
        let i = rig.until(5 * SEC, "over-voltage", limits(0.0, 600.0)).await;
        assert!(charge_text(&i).contains("above 14.40 V (CVL 14.20 V)"), "{}", charge_text(&i));
        b1.set(volts(13.3)).await.unwrap();
        rig.until(5 * SEC, "normal", limits(300.0, 600.0)).await;
        b1.set(volts(11.1)).await.unwrap();
        rig.until(5 * SEC, "under-voltage", limits(300.0, 0.0)).await;
        b1.set(volts(13.3)).await.unwrap();
        rig.until(5 * SEC, "recovered, still stopped", has("/Info/DischargeLimitation", "kept until the bank charges")).await;
        for b in [&b1, &b2] {
            b.set([("/Dc/0/Current", Value::Double(2.0))]).await.unwrap();
        }
        rig.until(5 * SEC, "charging releases it", limits(300.0, 600.0)).await;

        // A CVL for a 24 V bank on a 12 V bank: charging refused, and the log says why.
        let mut rig = Rig::with_settings("h8-cvl").await;
        let _s = rig.shunt_spec(sensed("ttyS5", 279, "Battery 1"), &at(20.0)).await;
        let d = rig
            .daemon(&format!("DEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 28.4\nMAX_CHARGE_CURRENT = 300\nMAX_DISCHARGE_CURRENT = 600\n{FAST}"));
        let i = rig.until(10 * SEC, "refused", has("/Info/ChargeLimitation", "is for a 24 V bank")).await;
        // (Discharging stops too: the per-cell tables read a 12 V bank as 8 empty cells.)
        assert!(close(num(&i, "/Info/MaxChargeCurrent"), 0.0, 0.05));
        assert!(d.log_text().contains("MAX_CHARGE_VOLTAGE 28.40 V is for a 24 V bank, but the bank measures"), "{}", d.log_text());
    });
}

#[test]
fn h10_bands_the_margin_cannot_clear_and_old_data_are_refused() {
    run(async {
        let mut rig = Rig::new("h10").await;
        let mut d = rig.bms_daemon("TEMP_COLD_DANGER = 20\nTEMP_HOT_DANGER = 30\nBMS_TEMP_MARGIN = 5\nOFFLINE_GRACE = 86400\n");
        assert_eq!(d.wait(5 * SEC).await, Some(1));
        let log = d.log_text();
        assert!(
            log.contains("TEMP_COLD_DANGER (20 °C, ") && log.contains("+ BMS_TEMP_MARGIN (5 °C, ") && log.contains("TEMP_HOT_DANGER (30 °C, "),
            "{log}"
        );
        assert!(log.contains("OFFLINE_GRACE (86400 s, ") && log.contains("at most 3600 s"), "{log}");
    });
}
