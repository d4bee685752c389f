#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    // str0m panics caught by Podium's catch_unwind are refusals, not crashes; set
    // PODIUM_FUZZ_STRICT_PANICS=1 to stop on them too.
    init: podium_fuzzing::tolerate_caught_panics(),
    |data: &[u8]| {
        podium_fuzzing::sdp_view(data);
    }
);
