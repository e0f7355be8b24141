//! `Cache-Control`, `CDN-Cache-Control` and `Surrogate-Control` parsing
//! (`brink::cache::directives`); see `brink_fuzz::check_cache_control`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brink_fuzz::check_cache_control(data));
