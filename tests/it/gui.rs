//! The bank from the GX display: gui-v2's `/SwitchableOutput` controls under its display rules,
//! the GUI's values over config.ini (bounded, persisted, restored), "Individual Battery Info",
//! writes as dbus-flashmq makes them for VRM, and the systemcalc settings we may change.

use std::collections::BTreeSet;

use aggregate_shunts::status::Items;
use aggregate_shunts::tools::sim::ShuntSpec;
use aggregate_shunts::value::Value;
use aggregate_shunts::venus::wire;
use zbus::zvariant::Value as Z;

use crate::harness::*;

const GUI: &str = "/Settings/Devices/aggregate_shunts/GuiSettings";
const SHOWN: &str = "HIDE_GUI_CONTROLS = false\n";

fn out(id: &str, field: &str) -> String {
    format!("/SwitchableOutput/{id}/{field}")
}

/// The controls gui-v2 shows (`iochannel.cpp`, `switchableoutput.cpp`): a non-empty `Name`,
/// `Settings/Type` 0..13 with its bit in `Settings/ValidTypes`, `Settings/ShowUIControl`
/// absent or not 0, and a valid `State` or `Dimming`. Each shown one also has a `Status`
/// (a missing one greys the card out).
fn shown(items: &Items) -> BTreeSet<String> {
    let ids: BTreeSet<String> =
        items.keys().filter_map(|p| p.strip_prefix("/SwitchableOutput/")?.split_once('/').map(|(id, _)| id.to_owned())).collect();
    ids.into_iter()
        .filter(|id| {
            let kind = num(items, &out(id, "Settings/Type"));
            let valid = num(items, &out(id, "Settings/ValidTypes")).unwrap_or(0.0) as u32;
            let show = items.get(&out(id, "Settings/ShowUIControl")).map_or(1.0, |(v, _)| v.as_f64().unwrap_or(0.0));
            let live = [out(id, "State"), out(id, "Dimming")].iter().any(|p| items.get(p).is_some_and(|(v, _)| v.is_valid()));
            let ok =
                !text(items, &out(id, "Name")).is_empty() && kind.is_some_and(|t| t <= 13.0 && valid & (1 << t as u32) != 0) && show != 0.0 && live;
            if ok {
                assert_eq!(num(items, &out(id, "Status")), Some(0.0), "{id} has a Status");
            }
            ok
        })
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

const PORT: &str = "member_HQSIM00279";
const STARBOARD: &str = "member_HQSIM00280";

fn two() -> [Member; 2] {
    [(spec("ttyS5", 279, "Port"), battery(200.0, 50.0, -2.0)), (spec("ttyS6", 280, "Starboard"), battery(200.0, 60.0, -3.0))]
}

#[test]
fn the_controls_shown_are_the_documented_set_in_each_mode() {
    run(async {
        let mut rig = Rig::new("gui-sets").await;
        let [port, starboard] = two();
        let mut warm = port.1.clone();
        warm.temperature = Some(21.0);
        let sensed = ShuntSpec { has_temperature: true, ..port.0 };
        let (_s, _d, _) = rig.bank([(sensed, warm), starboard], "").await;
        let items = rig.until(2 * SEC, "controls", |i| !shown(i).is_empty()).await;
        assert_eq!(shown(&items), set(&[PORT, STARBOARD, "temp_cold_danger", "temp_hot_danger", "forget_lost", "restore_config"]));
        assert_eq!(text(&items, &out(PORT, "Name")), "Port");
        assert_eq!(val(&items, &out(PORT, "State")), Value::Uint(1));
        assert_eq!(num(&items, &out("temp_cold_danger", "Dimming")), Some(5.0));
        assert_eq!(num(&items, &out("temp_hot_danger", "Measurement")), Some(21.0), "the bank's temperature beside it");
        assert_eq!(num(&items, &out("temp_cold_danger", "Settings/Type")), Some(3.0));
        assert_eq!(num(&items, &out("temp_hot_danger", "Settings/DimmingMax")), Some(100.0));
        drop(_d);

        // virtual-bms hides them by default; shown, it adds the current maxima and the float.
        let mut rig = Rig::new("gui-bms").await;
        let (_s, _d, items) = rig.bms_bank(two(), "").await;
        assert!(shown(&items).is_empty() && !items.keys().any(|p| p.starts_with("/SwitchableOutput/")), "HIDE_GUI_CONTROLS by default");
        drop(_d);
        let mut rig = Rig::new("gui-bms-shown").await;
        let (_s, _d, _) = rig.bms_bank(two(), &format!("{SHOWN}FLOAT_VOLTAGE = 13.5\n")).await;
        let items = rig.until(2 * SEC, "controls", |i| !shown(i).is_empty()).await;
        let all = [PORT, STARBOARD, "temp_cold_danger", "temp_hot_danger", "max_charge_current", "max_discharge_current", "float_voltage"];
        assert_eq!(shown(&items), set(&[&all[..], &["forget_lost", "restore_config"]].concat()));
        assert_eq!(num(&items, &out("max_charge_current", "Settings/DimmingMax")), Some(300.0));
        assert_eq!(text(&items, &out("max_charge_current", "Settings/Unit")), "A");
        assert_eq!(num(&items, &out("float_voltage", "Settings/DimmingMax")), Some(14.15));
    });
}

#[test]
fn a_member_switched_off_leaves_the_numbers_and_stays_off_after_a_restart() {
    run(async {
        let mut rig = Rig::with_settings("gui-switch").await;
        let (_s, mut d, _) = rig.bank(two(), "").await;
        rig.until(2 * SEC, "the toggles", |i| i.contains_key(&out(PORT, "State"))).await;
        assert_eq!(rig.set_value(&out(PORT, "State"), Value::Int(0)).await, 0);
        let items = rig.until(SEC, "Port out of the bank", |i| close(num(i, "/Dc/0/Current"), -3.0, 0.05)).await;
        assert_eq!(val(&items, &out(PORT, "State")), Value::Uint(0), "published back, still listed");
        assert_eq!(val(&items, "/System/NrOfModulesOnline"), Value::Uint(1));
        assert_eq!(val(&items, "/System/NrOfBatteries"), Value::Uint(1));
        let slot = (0..2).find(|s| text(&items, &format!("/Members/{s}/Serial")) == "HQSIM00279").expect("Port listed");
        assert_eq!(text(&items, &format!("/Members/{slot}/State")), "switched off in the GUI (not in the bank)");
        rig.until_setting(2 * SEC, GUI, "the toggle persisted", |v| v == Some(&Value::from("1;OFF=HQSIM00279"))).await;
        // A value that is no toggle state is refused with the Venus code.
        assert_eq!(rig.set_value(&out(PORT, "State"), Value::Int(5)).await, 2);
        assert_eq!(rig.set_value(&out(PORT, "State"), Value::from("on")).await, 1);
        assert_eq!(d.stop().await, Some(0));

        let _d = rig.daemon("");
        let items = rig
            .until(10 * SEC, "restarted, Port still off", |i| close(num(i, "/Dc/0/Current"), -3.0, 0.05) && i.contains_key(&out(PORT, "State")))
            .await;
        assert_eq!(val(&items, &out(PORT, "State")), Value::Uint(0));
        assert_eq!(rig.set_value(&out(PORT, "State"), Value::Double(1.0)).await, 0);
        rig.until(SEC, "Port back in the bank", |i| close(num(i, "/Dc/0/Current"), -5.0, 0.05)).await;
        rig.until_setting(2 * SEC, GUI, "nothing set in the GUI", |v| v == Some(&Value::from(""))).await;
    });
}

/// Runs the binary with `args` on the rig's bus; waits without blocking the stand-in
/// localsettings, which this process serves.
async fn command(rig: &Rig, args: &[&str]) -> std::process::Output {
    smol::process::Command::new(BIN).args(args).env("DBUS_SYSTEM_BUS_ADDRESS", &rig.bus.address).output().await.unwrap()
}

async fn status(rig: &Rig, config: &std::path::Path) -> String {
    String::from_utf8_lossy(&command(rig, &["--config", &config.to_string_lossy(), "status"]).await.stdout).into_owned()
}

#[test]
fn a_setpoint_is_bounded_published_persisted_shown_in_status_and_restored() {
    run(async {
        let mut rig = Rig::with_settings("gui-setpoint").await;
        let (_s, mut d, _) = rig.bms_bank(two(), SHOWN).await;
        let ccl = out("max_charge_current", "Dimming");
        rig.until(2 * SEC, "the controls", |i| i.contains_key(&ccl)).await;
        assert_eq!(rig.set_value(&ccl, Value::Double(301.0)).await, 2, "above config.ini's 300 A");
        assert_eq!(rig.set_value(&ccl, Value::Int(-1)).await, 2);
        assert_eq!(rig.set_value(&ccl, Value::Int(120)).await, 0);
        let items = rig.until(2 * SEC, "CCL 120 A", limits(120.0, 600.0)).await;
        assert_eq!(num(&items, &ccl), Some(120.0), "published back");
        assert_eq!(text(&items, "/Info/ChargeLimitation"), "Limit 120 A set in the GUI");
        assert_eq!(text(&items, "/Info/DischargeLimitation"), "Configured limit 600 A");
        // A cold limit above the hot one less the margins is refused; so is one that widens
        // the virtual BMS's window beyond config.ini's (5 °C).
        assert_eq!(rig.set_value(&out("temp_cold_danger", "Dimming"), Value::Double(42.0)).await, 2);
        assert_eq!(rig.set_value(&out("temp_cold_danger", "Dimming"), Value::Double(4.0)).await, 2);
        assert_eq!(rig.set_value(&out("temp_cold_danger", "Dimming"), Value::Double(8.0)).await, 0);
        rig.until(SEC, "the hot limit's floor follows", |i| num(i, &out("temp_hot_danger", "Settings/DimmingMin")) == Some(13.0)).await;
        rig.until_setting(2 * SEC, GUI, "the values persisted", |v| v == Some(&Value::from("1;TEMP_COLD_DANGER=8;MAX_CHARGE_CURRENT=120"))).await;
        let log = d.log_text();
        assert!(log.contains("refused a write to /SwitchableOutput/max_charge_current/Dimming: MAX_CHARGE_CURRENT = 301"), "{log}");
        assert_eq!(log.matches("refused a write to /SwitchableOutput/max_charge_current/Dimming").count(), 1, "logged once: {log}");
        let config = rig.bus.dir().join("config1.ini");
        let shown = status(&rig, &config).await;
        assert!(shown.contains("MAX_CHARGE_CURRENT = 120  # from GUI (the files say 300)"), "{shown}");
        assert!(shown.contains("MAX_DISCHARGE_CURRENT = 600  # from config1.ini"), "{shown}");
        assert!(shown.contains("TEMP_HOT_DANGER = 45  # from built-in"), "{shown}");
        assert_eq!(d.stop().await, Some(0));

        let _d = rig.bms_daemon(SHOWN);
        rig.until(10 * SEC, "restarted with the GUI's CCL", limits(120.0, 600.0)).await;
        assert_eq!(rig.set_value(&out("restore_config", "State"), Value::Int(1)).await, 0);
        assert_eq!(rig.set_value(&out("restore_config", "State"), Value::Int(0)).await, 0, "the button's release");
        let items = rig.until(5 * SEC, "config.ini's CCL again", limits(300.0, 600.0)).await;
        assert_eq!(num(&items, &out("temp_cold_danger", "Dimming")), Some(5.0));
        rig.until_setting(2 * SEC, GUI, "the GUI's values cleared", |v| v == Some(&Value::from(""))).await;
    });
}

#[test]
fn individual_battery_info_lists_the_members_and_forget_is_a_button() {
    run(async {
        let mut rig = Rig::new("gui-batteries").await;
        let ([_a, b], _d, _) = rig.bank(two(), "").await;
        let items = rig.until(2 * SEC, "the battery list", |i| i.contains_key("/Battery/2/Serial")).await;
        assert_eq!(val(&items, "/System/NrOfBatteries"), Value::Uint(2));
        assert_eq!(val(&items, "/Battery/Request/Id"), Value::Int(1));
        // In slot order, which is the order they joined in.
        let starboard = (1..=2).find(|n| text(&items, &format!("/Battery/{n}/Serial")) == "HQSIM00280").expect("Starboard listed");
        let port = 3 - starboard;
        assert_eq!(text(&items, &format!("/Battery/{port}/Serial")), "HQSIM00279");
        let at = |n: usize, f: &str| format!("/Battery/{n}/{f}");
        assert_eq!(num(&items, &at(starboard, "Capacity")), Some(200.0));
        // A number, as the Lynx BMS publishes it; gui-v2 and the text show v4.17.
        assert_eq!(items[&at(port, "FwVersion")], (Value::Uint(0x0417), "v4.17".to_owned()));
        assert_eq!(num(&items, &at(starboard, "Current")), Some(-3.0));
        assert_eq!(num(&items, &at(port, "Current")), Some(-2.0));
        assert_eq!(num(&items, &at(port, "Status")), Some(0.0));
        assert!(close(num(&items, &at(port, "Voltage")), num(&items, "/Dc/0/Voltage").unwrap(), 0.2));
        assert_eq!(text(&items, "/Measurement/Kind"), "derived");
        let mut tracked: Vec<String> = text(&items, "/Measurement/TracksServices").split(',').map(str::to_owned).collect();
        tracked.sort();
        assert_eq!(tracked, ["com.victronenergy.battery.ttyS5", "com.victronenergy.battery.ttyS6"]);
        assert_eq!(rig.set_value("/Battery/Request/Id", Value::Int(2)).await, 0);
        rig.until(SEC, "battery 2 chosen", |i| val(i, "/Battery/Request/Id") == Value::Int(2)).await;
        assert_eq!(rig.set_value("/Battery/Request/Id", Value::Int(3)).await, 2);
        assert_eq!(rig.set_value("/Battery/Request/Id", Value::Int(0)).await, 2);

        // Starboard leaves; once lost, the button forgets it and the list shrinks.
        b.stop().await.unwrap();
        let items = rig.until(2 * SEC, "Starboard offline", |i| val(i, "/System/NrOfModulesOffline") == Value::Uint(1)).await;
        assert_eq!(val(&items, "/System/NrOfBatteries"), Value::Uint(2), "an offline member is still part of the bank");
        assert_eq!(rig.set_value(&out("forget_lost", "State"), Value::Int(1)).await, 0);
        let items = rig.until(SEC, "forgotten", |i| val(i, "/System/NrOfBatteries") == Value::Uint(1)).await;
        assert!(text(&items, "/Members/ForgetResult").starts_with("forgotten: Starboard"), "{}", text(&items, "/Members/ForgetResult"));
        assert!(!items.contains_key("/Battery/2/Serial") && !items.contains_key(&out(STARBOARD, "State")));
        assert_eq!(val(&items, "/Battery/Request/Id"), Value::Int(1), "the choice follows the shorter list");
    });
}

#[test]
fn writes_as_dbus_flashmq_makes_them_from_vrm() {
    run(async {
        let mut rig = Rig::new("gui-mqtt").await;
        let (_s, _d, _) = rig.bms_bank(two(), SHOWN).await;
        let ccl = out("max_charge_current", "Dimming");
        rig.until(2 * SEC, "the controls", |i| i.contains_key(&ccl)).await;
        let mut changes = rig.items_changed().await;
        // dbus-flashmq turns a JSON integer into `i`, a float into `d`, a boolean into `b`, and
        // calls SetValue on the path's own object; it reads the answer from ItemsChanged.
        let write = |path: String, v: Z<'static>| {
            let rig = &rig;
            async move {
                let reply = rig.call(&path, "SetValue", &(v,)).await.expect("SetValue");
                reply.body().deserialize::<i32>().expect("SetValue returns i")
            }
        };
        assert_eq!(write(ccl.clone(), Z::I32(150)).await, 0);
        assert_eq!(write(ccl.clone(), Z::F64(99.0)).await, 0);
        assert_eq!(write(out(PORT, "State"), Z::Bool(false)).await, 0);
        assert_eq!(write(ccl.clone(), Z::from("150")).await, 1, "a string is the wrong type");
        rig.until(2 * SEC, "CCL 99 A from VRM, Port off", |i| {
            limits(99.0, 600.0)(i) && val(i, &out(PORT, "State")) == Value::Uint(0) && close(num(i, "/Dc/0/Current"), -3.0, 0.05)
        })
        .await;
        let seen = received_paths(&mut changes);
        assert!(seen.iter().any(|(p, v)| *p == ccl && *v == Value::Double(99.0)), "ItemsChanged carries the value back: {seen:?}");
        assert!(seen.iter().any(|(p, v)| *p == out(PORT, "State") && *v == Value::Uint(0)), "{seen:?}");
        assert!(seen.iter().any(|(p, _)| p == "/System/NrOfModulesOnline"), "{seen:?}");
    });
}

/// Every (path, value) the aggregate's `ItemsChanged` signals carried so far.
fn received_paths(stream: &mut zbus::MessageStream) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for msg in received(stream) {
        let body: WireItems = msg.body().deserialize().expect("ItemsChanged is a{sa{sv}}");
        out.extend(wire::items(body).into_iter().filter_map(|(p, v)| Some((p, v.ok()?))));
    }
    out
}

#[test]
fn hidden_member_shunts_and_the_battery_monitor_never_fight_the_user() {
    run(async {
        let mut rig = Rig::with_settings("gui-system").await;
        let enabled = |i: u32| format!("/Settings/SystemSetup/Batteries/Configuration/com_victronenergy_battery/{i}/Enabled");
        for i in [279, 280] {
            rig.settings().preset(&enabled(i), Value::Int(1)).await.unwrap();
        }
        rig.settings().preset("/Settings/SystemSetup/BatteryService", Value::from("default")).await.unwrap();
        let config = "HIDE_MEMBER_SHUNTS = true\nSELECT_BATTERY_MONITOR = true\nDEVICE_INSTANCE = 40\n";
        let (_s, mut d, _) = rig.bank(two(), config).await;
        for i in [279, 280] {
            rig.until_setting(3 * SEC, &enabled(i), "the member hidden", |v| v.and_then(Value::as_f64) == Some(0.0)).await;
        }
        rig.until_setting(3 * SEC, "/Settings/SystemSetup/BatteryService", "the aggregate selected", |v| {
            v == Some(&Value::from("com.victronenergy.battery/40"))
        })
        .await;
        // The user shows Port again and picks another battery monitor: left alone after a restart.
        rig.settings().preset(&enabled(279), Value::Int(1)).await.unwrap();
        rig.settings().preset("/Settings/SystemSetup/BatteryService", Value::from("com.victronenergy.battery/512")).await.unwrap();
        assert_eq!(d.stop().await, Some(0));
        let mut d = rig.daemon(config);
        rig.until(10 * SEC, "restarted", |i| val(i, "/System/NrOfModulesOnline") == Value::Uint(2)).await;
        let log = || d.log_text();
        let deadline = std::time::Instant::now() + 5 * SEC;
        while !log().contains("battery instance 279 was shown again by the user") {
            assert!(std::time::Instant::now() < deadline, "{}", log());
            smol::Timer::after(SEC / 10).await;
        }
        assert_eq!(rig.settings().value(&enabled(279)).await.and_then(|v| v.as_f64()), Some(1.0));
        assert_eq!(rig.settings().value("/Settings/SystemSetup/BatteryService").await, Some(Value::from("com.victronenergy.battery/512")));
        assert_eq!(d.stop().await, Some(0));
        drop(d);

        // The option turned off: the member it still hides (Starboard) is shown again.
        let mut d = rig.daemon("SELECT_BATTERY_MONITOR = true\nDEVICE_INSTANCE = 40\n");
        rig.until_setting(10 * SEC, &enabled(280), "Starboard shown again", |v| v.and_then(Value::as_f64) == Some(1.0)).await;
        rig.settings().preset(&enabled(280), Value::Int(0)).await.unwrap(); // the user hides it
        assert_eq!(d.stop().await, Some(0));

        // Removing the package: what is still ours goes back; nothing the user chose.
        let out = command(&rig, &["restore-system"]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "system settings restored");
        assert_eq!(rig.settings().value(&enabled(280)).await.and_then(|v| v.as_f64()), Some(0.0), "hidden by the user");
        assert_eq!(rig.settings().value("/Settings/SystemSetup/BatteryService").await, Some(Value::from("com.victronenergy.battery/512")));
        assert_eq!(rig.settings().value("/Settings/Devices/aggregate_shunts/SystemChanges").await, Some(Value::from("")));
    });
}

#[test]
fn a_virtual_bms_hides_the_controls_and_keeps_its_protections() {
    run(async {
        // Values once set in the GUI do not count while the controls are hidden (the default).
        let mut rig = Rig::with_settings("gui-hidden").await;
        rig.settings().preset(GUI, Value::from("1;MAX_CHARGE_CURRENT=50;OFF=HQSIM00280")).await.unwrap();
        let (_s, d, items) = rig.bms_bank(two(), "").await;
        assert!(limits(300.0, 600.0)(&items) && close(num(&items, "/Dc/0/Current"), -5.0, 0.05), "the files' values and both members");
        assert!(d.log_text().contains("are kept but not used"), "{}", d.log_text());
        assert_eq!(rig.settings().value(GUI).await, Some(Value::from("1;MAX_CHARGE_CURRENT=50;OFF=HQSIM00280")), "kept");
        drop(d);

        // Shown: a member whose alarm stops charging cannot be switched out of the BMS.
        let mut rig = Rig::new("gui-blocker").await;
        let ([port, _b], _d, _) = rig.bms_bank(two(), SHOWN).await;
        port.set([("/Alarms/HighVoltage", Value::Uint(2))]).await.unwrap();
        rig.until(2 * SEC, "charging stopped by Port", |i| close(num(i, "/Info/MaxChargeCurrent"), 0.0, 0.05)).await;
        assert_eq!(rig.set_value(&out(PORT, "State"), Value::Int(0)).await, 2);
        let items = rig.items().await.unwrap();
        assert_eq!(val(&items, &out(PORT, "State")), Value::Uint(1), "still in the bank");
        assert_eq!(rig.set_value(&out(STARBOARD, "State"), Value::Int(0)).await, 0, "one that blocks nothing can");
    });
}
