//! The charge stages on a private bus: bulk → absorption → float → re-bulk with short times,
//! a restart in float, and a member of unknown capacity that keeps absorption to the cap.

use aggregate_shunts::status::Items;
use aggregate_shunts::tools::sim::{ShuntSpec, SimShunt};
use aggregate_shunts::value::Value;

use crate::harness::*;

const STAGES: &str = "FLOAT_VOLTAGE = 13.5\nTAIL_TIME = 2\nMIN_ABSORPTION_TIME = 3\nMAX_ABSORPTION_TIME = 30\nBMS_HOLD_TIME = 0\nBMS_RAMP_TIME = 0\n";

fn mode(i: &Items) -> String {
    text(i, "/Info/ChargeMode")
}

fn cvl(i: &Items) -> f64 {
    num(i, "/Info/MaxChargeVoltage").unwrap_or(f64::NAN)
}

async fn state(shunt: &SimShunt, volts: f64, amps: f64, soc: f64) {
    shunt.set([("/Dc/0/Voltage", Value::Double(volts)), ("/Dc/0/Current", Value::Double(amps)), ("/Soc", Value::Double(soc))]).await.unwrap();
}

fn sensed(capacity: Option<u16>) -> ShuntSpec {
    ShuntSpec { has_temperature: true, ..ShuntSpec::new("ttyS5", 279, capacity) }
}

fn warm() -> aggregate_shunts::tools::sim::Battery {
    let mut b = battery(200.0, 70.0, 50.0);
    b.temperature = Some(20.0);
    b
}

#[test]
fn bulk_absorption_float_and_re_bulk_on_the_bus() {
    run(async {
        let mut rig = Rig::with_settings("stages").await;
        let s = rig.shunt_spec(sensed(Some(200)), &warm()).await;
        state(&s, 13.6, 50.0, 70.0).await;
        let _d = rig.bms_daemon(STAGES);
        let i = rig.until(10 * SEC, "bulk", |i| mode(i) == "Bulk").await;
        assert!(close(Some(cvl(&i)), 14.2, 1e-9));
        state(&s, 14.15, 10.0, 97.0).await;
        let i = rig.until(5 * SEC, "absorption", |i| mode(i).starts_with("Absorption")).await;
        assert!(close(Some(cvl(&i)), 14.2, 1e-9));
        // Near full the SoC taper cuts the current, and says so.
        assert!(text(&i, "/Info/ChargeLimitation").contains("(SoC 97 %)"), "{}", text(&i, "/Info/ChargeLimitation"));
        assert!(num(&i, "/Info/MaxChargeCurrent").is_some_and(|c| (8.0..300.0).contains(&c)), "never below twice the tail current");
        // The tail: 1 A is below 2 % of 200 Ah, for TAIL_TIME after MIN_ABSORPTION_TIME.
        state(&s, 14.2, 1.0, 99.0).await;
        let i = rig.until(10 * SEC, "float", |i| mode(i).starts_with("Float")).await;
        assert!(cvl(&i) <= 14.2);
        assert_eq!(
            rig.settings().value("/Settings/Devices/aggregate_shunts/ChargeState").await.and_then(|v| v.as_str().map(|s| s.starts_with("float;"))),
            Some(true)
        );
        // The CVL steps down (4 mV/s), never below the bank minus 0.1 V.
        state(&s, 13.6, 0.0, 99.0).await;
        let i = rig.until(10 * SEC, "stepping down", |i| cvl(i) < 14.19).await;
        assert!(cvl(&i) >= 13.5 && mode(&i).starts_with("Float (lowering CVL"), "{} {}", cvl(&i), mode(&i));
        // Re-bulk on SoC.
        state(&s, 13.3, -20.0, 84.0).await;
        let i = rig.until(5 * SEC, "re-bulk", |i| mode(i) == "Re-bulk: SoC 84 % ≤ 85 %").await;
        assert!(close(Some(cvl(&i)), 14.2, 1e-9));
    });
}

#[test]
fn a_restart_in_float_stays_in_float() {
    run(async {
        let mut rig = Rig::with_settings("float-restart").await;
        let s = rig.shunt_spec(sensed(Some(200)), &warm()).await;
        state(&s, 14.15, 1.0, 99.0).await;
        let mut d = rig.bms_daemon(STAGES);
        rig.until(15 * SEC, "float", |i| mode(i).starts_with("Float")).await;
        state(&s, 13.4, 0.0, 99.0).await;
        assert_eq!(d.stop().await, Some(0));
        let _d = rig.bms_daemon(STAGES);
        let i = rig.until(10 * SEC, "back", |i| val(i, "/System/NrOfModulesOnline") == Value::Uint(1)).await;
        assert_eq!(mode(&i), "Float", "no re-absorption after a restart");
        assert!(close(Some(cvl(&i)), 13.5, 1e-9), "{}", cvl(&i));
    });
}

#[test]
fn a_member_of_unknown_capacity_keeps_absorption_until_the_cap() {
    run(async {
        let mut rig = Rig::with_settings("unknown-cap").await;
        // No capacity register and SoC above 90 %: the capacity stays unknown.
        let s = rig.shunt_spec(sensed(None), &warm()).await;
        state(&s, 14.2, 0.5, 99.0).await;
        let started = std::time::Instant::now();
        let d = rig.bms_daemon(&STAGES.replace("MAX_ABSORPTION_TIME = 30", "MAX_ABSORPTION_TIME = 8"));
        rig.until(10 * SEC, "absorption", |i| mode(i).starts_with("Absorption")).await;
        // Tail and minimum time are long met, but only the cap ends it.
        let i = rig.until(15 * SEC, "float", |i| mode(i).starts_with("Float")).await;
        assert!(started.elapsed() >= 8 * SEC, "float after {:?}", started.elapsed());
        assert!(cvl(&i) <= 14.2);
        assert!(d.log_text().contains("capacity is unknown: the tail-current test cannot end absorption"), "{}", d.log_text());
    });
}
