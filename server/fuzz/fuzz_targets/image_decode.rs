//! Arbitrary bytes as an image file (the office-scanner inbox and `lotse scan decode`).
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lotse_server::scanning::decode::Decoder;

fuzz_target!(|data: &[u8]| {
    static DECODER: OnceLock<Decoder> = OnceLock::new();
    let decoder = DECODER.get_or_init(Decoder::default);
    let _ = decoder.decode_bytes(data, Path::new("fuzz-input"));
});
