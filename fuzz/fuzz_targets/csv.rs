//! `cargo fuzz run csv`: the csv loader on arbitrary bytes (seeds in `corpus/csv/`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    aegpu::fuzzing::fuzz_one(aegpu::fuzzing::Loader::Csv, data);
});
