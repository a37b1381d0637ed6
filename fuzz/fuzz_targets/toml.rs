//! `cargo fuzz run toml`: the toml loader on arbitrary bytes (seeds in `corpus/toml/`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    aegpu::fuzzing::fuzz_one(aegpu::fuzzing::Loader::Toml, data);
});
