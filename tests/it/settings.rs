//! Device instance and custom name through a stand-in localsettings, and the fallbacks when it
//! is absent.

use aggregate_shunts::tools::sim::ShuntSpec;
use aggregate_shunts::value::Value;

use crate::harness::*;

const NAME: &str = "/Settings/Devices/aggregate_shunts/CustomName";
const CLASS: &str = "/Settings/Devices/aggregate_shunts/ClassAndVrmInstance";

#[test]
fn custom_name_and_instance_persist_in_localsettings() {
    run(async {
        let mut rig = Rig::with_settings("settings").await;
        let ([_a], mut d, items) = rig.bank([plain()], "DEVICE_INSTANCE = 42\nDEVICE_NAME = \"From config\"\n").await;
        assert_eq!(val(&items, "/DeviceInstance"), Value::Uint(42));
        assert_eq!(rig.settings().value(CLASS).await, Some(Value::from("battery:42")));
        assert_eq!(val(&items, "/CustomName"), Value::from("From config"));

        assert_eq!(rig.set_value("/CustomName", Value::from("Port bank")).await, 0);
        rig.until_setting(2 * SEC, NAME, "the name persisted", |v| v == Some(&Value::from("Port bank"))).await;
        assert_eq!(d.stop().await, Some(0));

        // A restart keeps the name set from the GUI, and the instance.
        let _d2 = rig.daemon("DEVICE_INSTANCE = 42\nDEVICE_NAME = \"From config\"\n");
        let items = rig.until(10 * SEC, "the restarted service", |i| close(num(i, "/Dc/0/Current"), -2.0, 0.05)).await;
        assert_eq!(val(&items, "/CustomName"), Value::from("Port bank"));
        assert_eq!(val(&items, "/DeviceInstance"), Value::Uint(42));
        // Clearing it returns to DEVICE_NAME.
        assert_eq!(rig.set_value("/CustomName", Value::from("")).await, 0);
        rig.until(2 * SEC, "the config name again", |i| val(i, "/CustomName") == Value::from("From config")).await;
    });
}

#[test]
fn without_localsettings_a_free_instance_is_used() {
    run(async {
        let mut rig = Rig::new("nosettings").await;
        let ([_a], d, items) = rig.bank([(ShuntSpec::new("ttyS5", 100, Some(100)), battery(100.0, 50.0, -2.0))], "").await;
        assert_eq!(val(&items, "/DeviceInstance"), Value::Uint(101), "100 is taken by the shunt");
        let log = d.log_text();
        assert!(log.contains("using free device instance 101"), "{log}");
        // The name can still be changed for this run.
        assert_eq!(rig.set_value("/CustomName", Value::from("Bank")).await, 0);
        rig.until(SEC, "the name", |i| val(i, "/CustomName") == Value::from("Bank")).await;
    });
}

/// check-config on a broken file: every error in line order, then the count as the last line.
#[test]
fn check_config_ends_with_the_error_count() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.ini");
    let check = |text: &str| {
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new(BIN).arg("check-config").arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).lines().map(str::to_string).collect::<Vec<_>>()
    };
    let lines = check("DEVICE_MOD = virtual-bms\nno equals\nMAX_CHARGE_VOLTAGE = 14.2 V\n");
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[0].contains(":1: DEVICE_MOD: unknown setting (did you mean DEVICE_MODE?)"), "{lines:?}");
    assert!(lines[1].contains(":2: expected KEY = value"), "{lines:?}");
    assert!(lines[2].contains(":3: MAX_CHARGE_VOLTAGE:") && lines[2].ends_with("without its unit"), "{lines:?}");
    assert_eq!(lines[3], "3 errors");

    let lines = check("DEVICE_NAME = \"House Bank\n");
    assert!(lines[0].ends_with("the closing quote is missing"), "{lines:?}");
    assert_eq!(lines.last().map(String::as_str), Some("1 error"), "{lines:?}");
}

/// `status` says in words what to do when there is no aggregate, and that it is starting
/// while its process runs but has not taken its name yet; no D-Bus error names.
#[test]
fn status_without_a_service_and_while_starting() {
    run(async {
        let mut rig = Rig::new("status-words").await;
        let status = |rig: &Rig| {
            let out = std::process::Command::new(BIN).arg("status").env("DBUS_SYSTEM_BUS_ADDRESS", &rig.bus.address).output().unwrap();
            (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
        };
        let (code, text) = status(&rig);
        assert_eq!(code, Some(1));
        assert!(text.contains("the aggregate is not running") && text.contains("svstat /service/dbus-aggregate-smartshunts"), "{text}");
        assert!(!text.contains("org.freedesktop"), "{text}");
        // No member: the daemon waits START_TIMEOUT before it takes its name.
        let mut d = rig.daemon("START_TIMEOUT = 8\n");
        smol::Timer::after(SEC).await;
        let (code, text) = status(&rig);
        assert_eq!(code, Some(1));
        assert!(text.contains("the aggregate is starting"), "{text}");
        assert_eq!(d.stop().await, Some(0));
    });
}

/// Coming from the original Python program: its device instance (in localsettings) becomes
/// ours on the first start, so VRM keeps the same device.
#[test]
fn the_original_programs_device_instance_is_kept() {
    run(async {
        let mut rig = Rig::with_settings("original-instance").await;
        let original = "/Settings/Devices/aggregateshunts_AGGREGATE01/ClassAndVrmInstance";
        rig.settings().preset(original, Value::from("battery:123")).await.unwrap();
        let (_s, d, items) = rig.bank([plain()], "").await;
        assert_eq!(val(&items, "/DeviceInstance"), Value::Uint(123));
        assert!(d.log_text().contains("device instance 123: the original Python program's"), "{}", d.log_text());
        rig.until_setting(5 * SEC, "/Settings/Devices/aggregate_shunts/ClassAndVrmInstance", "ours", |v| v == Some(&Value::from("battery:123")))
            .await;
    });
}
