//! `cargo fuzz run image`: the image loader on arbitrary bytes (seeds in `corpus/image/`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    aegpu::fuzzing::fuzz_one(aegpu::fuzzing::Loader::Image, data);
});
