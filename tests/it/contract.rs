//! The `com.victronenergy.BusItem` contract of the published service, checked from a client on
//! a private bus (shared/docs/venus-platform.md §1).

use aggregate_shunts::publish::SERVICE_NAME;
use aggregate_shunts::value::Value;
use aggregate_shunts::venus::wire;
use smol::stream::StreamExt;
use zbus::zvariant::OwnedValue;
use zbus::{MatchRule, MessageStream, message::Type};

use crate::harness::*;

#[test]
fn device_instance_is_in_the_very_first_get_items() {
    run(async {
        let mut rig = Rig::new("first").await;
        let _a = rig.shunt("ttyS5", 279, Some(100), &battery(100.0, 50.0, -2.0)).await;
        let mut owners = rig.owner_changes().await;
        let _d = rig.daemon("");
        let appeared = async {
            owners.next().await;
            true
        };
        let timeout = async {
            smol::Timer::after(10 * SEC).await;
            false
        };
        assert!(smol::future::or(appeared, timeout).await, "the service never appeared");
        // Straight away, as dbusmonitor does on NameOwnerChanged.
        let items = rig.items().await.unwrap();
        assert!(matches!(val(&items, "/DeviceInstance"), Value::Uint(_)), "{:?}", sorted(&items));
        assert!(close(num(&items, "/Dc/0/Current"), -2.0, 0.05), "first member's data is in before the name");
        for p in [
            "/Mgmt/ProcessName",
            "/Mgmt/ProcessVersion",
            "/Mgmt/Connection",
            "/ProductId",
            "/ProductName",
            "/FirmwareVersion",
            "/HardwareVersion",
            "/Serial",
            "/Connected",
            "/CustomName",
        ] {
            assert!(items.contains_key(p), "{p} missing");
        }
        assert_eq!(val(&items, "/ProductId"), Value::Uint(0xA389));
        assert_eq!(items["/ProductId"].1, "0xA389");
        assert_eq!(val(&items, "/Connected"), Value::Uint(1));
        assert_eq!(val(&items, "/Mgmt/ProcessVersion"), Value::from(env!("CARGO_PKG_VERSION")));
        assert_eq!(val(&items, "/CustomName"), Value::from("SmartShunt Aggregate"));
        assert!(!items.contains_key("/Info/MaxChargeVoltage"), "monitor mode is no BMS");
    });
}

#[test]
fn leaves_nodes_and_root_answer_like_velib() {
    run(async {
        let mut rig = Rig::new("contract").await;
        let ([_a], _d, items) = rig.bank([plain()], "DEVICE_NAME = \"House\"\n").await;

        // Types as a real SmartShunt uses them; invalid is an empty array.
        let r = &rig;
        let raw = |path: &'static str| async move {
            let reply = r.call(path, "GetValue", &()).await.unwrap();
            reply.body().deserialize::<OwnedValue>().unwrap()
        };
        assert_eq!(raw("/Dc/0/Voltage").await.value_signature().to_string(), "d");
        assert_eq!(raw("/Dc/0/Current").await.value_signature().to_string(), "d");
        assert_eq!(raw("/DeviceInstance").await.value_signature().to_string(), "u");
        assert_eq!(raw("/Alarms/LowVoltage").await.value_signature().to_string(), "u");
        assert_eq!(raw("/System/NrOfModulesOnline").await.value_signature().to_string(), "u");
        assert_eq!(raw("/TimeToGo").await.value_signature().to_string(), "d", "discharging: valid");
        assert_eq!(raw("/Dc/0/Temperature").await.value_signature().to_string(), "ai", "no sensor: invalid");
        assert_eq!(raw("/CustomName").await.value_signature().to_string(), "s");

        // Leaf texts with units.
        let text = rig.call("/Dc/0/Current", "GetText", &()).await.unwrap().body().deserialize::<String>().unwrap();
        assert_eq!(text, "-2.0A");
        assert_eq!(items["/Soc"].1, "50.0%");
        assert_eq!(items["/Dc/0/Temperature"].1, "");
        let desc = rig.call("/Soc", "GetDescription", &("en", 0i32)).await.unwrap().body().deserialize::<String>().unwrap();
        assert!(!desc.is_empty());

        // An intermediate node: a dict of the leaves below, keys relative to it.
        let node = dict(&rig.call("/Dc/0", "GetValue", &()).await.unwrap());
        assert!(node.contains_key("Current") && node.contains_key("Voltage"), "{:?}", node.keys());
        assert!(!node.keys().any(|k| k.starts_with('/')));
        let dc = dict(&rig.call("/Dc", "GetText", &()).await.unwrap());
        assert_eq!(wire::decode(&dc["0/Current"]).unwrap(), Value::from("-2.0A"));

        // The root: GetValue with relative keys, and every GetItems path.
        let root = dict(&rig.call("/", "GetValue", &()).await.unwrap());
        assert!(root.contains_key("Dc/0/Voltage") && root.contains_key("DeviceInstance"));
        assert_eq!(root.len(), items.len());
        let texts = dict(&rig.call("/", "GetText", &()).await.unwrap());
        assert_eq!(wire::decode(&texts["Soc"]).unwrap(), Value::from("50.0%"));

        // Introspection lists the children of a node and the BusItem methods of a leaf.
        let intro = |path: &'static str| async move {
            r.client
                .call_method(Some(SERVICE_NAME), path, Some("org.freedesktop.DBus.Introspectable"), "Introspect", &())
                .await
                .unwrap()
                .body()
                .deserialize::<String>()
                .unwrap()
        };
        assert!(intro("/Dc").await.contains("<node name=\"0\""));
        let leaf = intro("/Soc").await;
        for m in ["GetValue", "GetText", "SetValue", "GetDescription"] {
            assert!(leaf.contains(&format!("name=\"{m}\"")), "{m} in {leaf}");
        }

        // SetValue: read-only and wrong type → 1, rejected → 2, accepted → 0.
        assert_eq!(rig.set_value("/Dc/0/Voltage", Value::Double(1.0)).await, 1);
        assert_eq!(rig.set_value("/DeviceInstance", Value::Uint(1)).await, 1);
        assert_eq!(rig.set_value("/CustomName", Value::Uint(1)).await, 1);
        assert_eq!(rig.set_value("/CustomName", Value::from("x".repeat(200))).await, 2);
        assert_eq!(rig.set_value("/CustomName", Value::from("Port bank")).await, 0);
        rig.until(SEC, "the new name", |i| val(i, "/CustomName") == Value::from("Port bank")).await;
        assert!(close(num(&rig.items().await.unwrap(), "/Dc/0/Voltage"), num(&items, "/Dc/0/Voltage").unwrap(), 1e-9), "voltage not overwritten");
    });
}

#[test]
fn one_items_changed_per_pass_with_only_what_changed() {
    run(async {
        let mut rig = Rig::new("signals").await;
        let ([a], _d, _) = rig.bank([plain()], "").await;
        let owner = rig.owner().await;
        let rule = MatchRule::builder().msg_type(Type::Signal).sender(owner.as_str()).unwrap().build();
        let mut signals = MessageStream::for_match_rule(rule, &rig.client, Some(1024)).await.unwrap();
        smol::Timer::after(SEC / 2).await;
        received(&mut signals);

        // Noise below the published resolution: nothing at all.
        a.set([("/Dc/0/Current", Value::Double(-2.004))]).await.unwrap();
        smol::Timer::after(SEC * 3 / 2).await;
        let noise = received(&mut signals);
        let noisy: Vec<Vec<String>> =
            noise.iter().map(|m| m.body().deserialize::<WireItems>().map(|b| b.into_keys().collect()).unwrap_or_default()).collect();
        assert!(noise.is_empty(), "noise emitted {} signal(s): {noisy:?}", noise.len());

        // A real change: one ItemsChanged, holding the changed paths only.
        a.set([("/Dc/0/Current", Value::Double(-4.0)), ("/Dc/0/Power", Value::Double(-52.0))]).await.unwrap();
        smol::Timer::after(SEC).await;
        let got = received(&mut signals);
        assert_eq!(got.len(), 1, "expected one signal, got {:?}", got.iter().map(|m| m.header().member().map(|m| m.to_string())).collect::<Vec<_>>());
        let msg = &got[0];
        assert_eq!(msg.header().member().unwrap().as_str(), "ItemsChanged");
        assert_eq!(msg.header().path().unwrap().as_str(), "/");
        let body: WireItems = msg.body().deserialize().unwrap();
        let mut paths: Vec<&str> = body.keys().map(String::as_str).collect();
        paths.sort();
        assert!(paths.contains(&"/Dc/0/Current") && paths.contains(&"/Dc/0/Power"), "{paths:?}");
        assert!(!paths.contains(&"/Dc/0/Voltage") && !paths.contains(&"/Soc"), "unchanged paths sent: {paths:?}");
        let current = &body["/Dc/0/Current"];
        assert_eq!(wire::decode(&current["Value"]).unwrap(), Value::Double(-4.0));
        assert_eq!(wire::decode(&current["Text"]).unwrap(), Value::from("-4.0A"));
    });
}
