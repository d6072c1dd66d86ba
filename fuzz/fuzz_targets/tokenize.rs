//! Any text (lossy UTF-8) through ftfy-style cleaning, html.unescape, pre-tokenisation and BPE.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pg_clip_core::fuzz_checks::tokenize(data));
