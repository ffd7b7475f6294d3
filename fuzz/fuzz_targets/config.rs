//! `Config::from_str` on arbitrary text, and the `describe()` round trip.
//!
//! Checks: loading never panics or hangs, whatever the bytes; a configuration that loads
//! describes itself as a file that loads again to an equal `Config`, with no warnings
//! (the contract in `src/config/mod.rs`).
#![no_main]

use aggregate_shunts::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Valid UTF-8 is taken as is; anything else as `from_utf8_lossy` makes it (the daemon
    // refuses non-UTF-8 files before parsing, so this only widens what the parser sees).
    let text = String::from_utf8_lossy(data);
    let Ok(loaded) = Config::from_str(&text, "fuzz.ini") else {
        return;
    };
    let described = loaded.config.describe();
    let again = match Config::from_str(&described, "again.ini") {
        Ok(again) => again,
        Err(errors) => panic!(
            "describe() gave a file that does not load:\n{described}\nerrors: {errors:?}\ninput: {text:?}"
        ),
    };
    assert_eq!(
        again.config, loaded.config,
        "round trip changed the config:\n{described}\ninput: {text:?}"
    );
    assert!(
        again.warnings.is_empty(),
        "describe() gave a file with warnings: {:?}\n{described}",
        again.warnings
    );
    // describe() of the reloaded config is a fixed point.
    assert_eq!(again.config.describe(), described);
});
