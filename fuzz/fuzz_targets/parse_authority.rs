//! `brink::normalize::parse_authority` with default ports 80 and 443; see
//! `brink_fuzz::check_parse_authority` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brink_fuzz::check_parse_authority(data));
