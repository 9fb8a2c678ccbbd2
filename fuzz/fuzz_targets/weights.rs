#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| strata::fuzzing::run(strata::fuzzing::Target::Weights, data));
