//! `sim::Recording::parse` on arbitrary text, then `state_at` at a few times.
//!
//! Checks: parsing never panics or hangs; a parsed recording answers `state_at` for any
//! time (including before the start, between events, after the end, and non-finite times)
//! with a state that holds every initial path.
#![no_main]

use aggregate_shunts::tools::sim::Recording;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(rec) = Recording::parse(&text) else {
        return;
    };
    assert!(
        !rec.service.is_empty(),
        "a parsed recording has a service name"
    );
    let mut times = vec![
        f64::NEG_INFINITY,
        -1.0,
        0.0,
        0.5,
        1.0,
        10.0,
        600.0,
        f64::INFINITY,
        f64::NAN,
    ];
    // The event times themselves (first, middle, last) hit the "up to and including" edge.
    if let (Some(first), Some(last)) = (rec.events.first(), rec.events.last()) {
        times.extend([first.0, rec.events[rec.events.len() / 2].0, last.0]);
    }
    for t in times {
        let state = rec.state_at(t);
        for (path, _, _) in &rec.initial {
            assert!(
                state.contains_key(path),
                "state_at({t}) lost initial path {path}"
            );
        }
        assert!(state.len() <= rec.initial.len() + rec.events.len());
    }
});
