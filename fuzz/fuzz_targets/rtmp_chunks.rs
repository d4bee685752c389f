#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    // rml_rtmp panics caught by Podium's guard are refusals, not crashes; set
    // PODIUM_FUZZ_STRICT_PANICS=1 to stop on them too.
    init: podium_fuzzing::tolerate_caught_panics(),
    |data: &[u8]| {
        podium_fuzzing::rtmp_chunks(data);
    }
);
