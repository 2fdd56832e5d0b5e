//! Fuzz target: the input is split into Ethernet frames (format in
//! `src/lib.rs`); the first byte selects the configuration and options, and
//! the frames run through a `Pipeline` with timer ticks. Any panic — in the
//! engine or in the harness's oracle — is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xrelay_engine_fuzz::run(data);
});
