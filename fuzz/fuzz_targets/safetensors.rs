//! `cargo fuzz run safetensors`: the safetensors loader on arbitrary bytes (seeds in `corpus/safetensors/`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    aegpu::fuzzing::fuzz_one(aegpu::fuzzing::Loader::Safetensors, data);
});
