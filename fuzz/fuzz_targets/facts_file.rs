//! A facts file (`lookout run --facts`, a test's `"facts"`): lookout events, Octopi
//! bodies and PortConnect items read by `rules::factsfile` (through
//! `lookout::fuzzing::facts_file`), then looked up as a rule looks them up.
//!
//! Properties, beyond "no panic": the same text gives the same events; every event can
//! be shown to a rule (`event_map`) and is found by each of its keys.
#![no_main]

use libfuzzer_sys::fuzz_target;

use lookout::rules::facts::{event_map, FactSource};

const RECEIVED_AT: i64 = 1_795_633_500_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(facts) = lookout::fuzzing::facts_file(text, RECEIVED_AT) else {
        return;
    };
    let again = lookout::fuzzing::facts_file(text, RECEIVED_AT).expect("parses again");
    assert_eq!(
        again.events, facts.events,
        "the same text gave other events"
    );
    for event in &facts.events {
        let _ = event_map(event);
        let _ = (event.sort_at(), event.stored_bytes());
        for key in event.keys() {
            let found = facts
                .events(&key, None, None, usize::MAX)
                .expect("memory facts answer");
            assert!(
                found.iter().any(|e| e == event),
                "an event is not found by its own key {key:?}"
            );
        }
    }
});
