//! Arbitrary bytes as an image file (the office-scanner inbox and `lotse scan decode`).
#![no_main]

use std::path::Path;
use std::sync::{Once, OnceLock};

use libfuzzer_sys::fuzz_target;
use lotse_server::scanning::decode::Decoder;

fuzz_target!(|data: &[u8]| {
    static HOOK: Once = Once::new();
    // libfuzzer-sys's panic hook aborts even on panics the decoder catches on purpose (from
    // rxing and the image crate); the default hook lets those be, and a panic that escapes
    // still aborts in libfuzzer-sys's wrapper.
    HOOK.call_once(|| drop(std::panic::take_hook()));
    static DECODER: OnceLock<Decoder> = OnceLock::new();
    let decoder = DECODER.get_or_init(Decoder::default);
    let _ = decoder.decode_bytes(data, Path::new("fuzz-input"));
});
