//! `brink::normalize::normalize_path` under the four rule sets; see
//! `brink_fuzz::check_normalize_path` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brink_fuzz::check_normalize_path(data));
