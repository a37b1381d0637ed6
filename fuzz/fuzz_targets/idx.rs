//! `cargo fuzz run idx`: the idx loader on arbitrary bytes (seeds in `corpus/idx/`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    aegpu::fuzzing::fuzz_one(aegpu::fuzzing::Loader::Idx, data);
});
