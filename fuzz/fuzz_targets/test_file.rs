//! A rule test file (`rules/<set>/tests/*.json`): read as `rules::testrun::load_test` reads
//! it, then its inline estimate (with `set` and `remove` pointers applied to it) and
//! inline facts built as `lookout test` builds them, through
//! `lookout::fuzzing::test_file`. Paths to other files are not followed.
//!
//! Property, beyond "no panic" (and no stack overflow on deep JSON): the same text
//! twice gives the same answer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // load_test reads the file with read_to_string: text that is not UTF-8 stops there.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = lookout::fuzzing::test_file(text);
    if first.is_ok() {
        assert_eq!(first, lookout::fuzzing::test_file(text));
    }
});
