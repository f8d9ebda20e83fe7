//! A rule set's `ruleset.toml`: the text step of `ruleset::load_settings` (unknown keys
//! dropped with a "did you mean", or refused when they look like `api_keys`; the typed
//! parse; an error's line and column), through `lookout::fuzzing::ruleset_toml`.
//!
//! Properties, beyond "no panic": the answer does not depend on anything but the text
//! (the same text twice gives the same answer).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // load_settings refuses a ruleset.toml that is not UTF-8 before parsing it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = lookout::fuzzing::ruleset_toml(text);
    let again = lookout::fuzzing::ruleset_toml(text);
    assert_eq!(
        first, again,
        "the same text read twice gave different answers"
    );
});
