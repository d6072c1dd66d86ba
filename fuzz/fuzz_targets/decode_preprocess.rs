//! Any bytes through sniffing, decoding, orientation, resize and normalisation (pg_clip_core's
//! `preprocess`), with limits small enough that an allocation over libFuzzer's -malloc_limit_mb is a
//! missing bound. A panic inside a third-party decoder is caught by `preprocess` and becomes that image's
//! error, as in the server; libFuzzer's panic hook would abort on it first, so it is silenced unless
//! PG_CLIP_FUZZ_STRICT=1 (then every decoder panic is reported, for upstream bug reports). A panic that
//! escapes `preprocess`, or a failed property, still aborts and is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        if std::env::var_os("PG_CLIP_FUZZ_STRICT").is_none() {
            let escaped = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // Only panics from inside the decoders are caught; report the ones that are not.
                let inside_decoder = std::backtrace::Backtrace::force_capture().to_string().contains("preprocess_into");
                if !inside_decoder {
                    escaped(info);
                }
            }));
        }
    },
    |data: &[u8]| pg_clip_core::fuzz_checks::decode_preprocess(data)
);
