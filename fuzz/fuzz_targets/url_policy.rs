//! Any allowlist entries and URL through URL parsing, the allowlist prefixes and the address rules.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pg_clip_core::fuzz_checks::url_policy(data));
