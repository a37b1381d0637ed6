//! `cargo fuzz run npy`: the npy loader on arbitrary bytes (seeds in `corpus/npy/`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    aegpu::fuzzing::fuzz_one(aegpu::fuzzing::Loader::Npy, data);
});
