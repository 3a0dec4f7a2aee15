//! An image searched for an MRZ: either raw luma bytes (first two bytes: the width), or a
//! synthetic document whose MRZ text, size, angle, blur, noise and JPEG quality come from the
//! input, so the fuzzer reaches band detection and character reading, not only binarization.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lotse_server::scanning::ocr::{self, synth};

const ALPHABET: &[u8; 37] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<";

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode % 2 == 0 => raw(rest),
        Some((_, rest)) => scene(rest),
        None => {}
    }
});

fn raw(data: &[u8]) {
    let [a, b, pixels @ ..] = data else { return };
    let width = (u32::from(*a) | (u32::from(*b) << 8)) % 2048 + 1;
    let height = pixels.len() as u32 / width;
    let luma = pixels.get(..(width * height) as usize).unwrap_or_default();
    let _ = ocr::read_mrz(luma, width, height);
    // A buffer that does not match its size is an error, never a panic.
    let _ = ocr::read_mrz(pixels, width, height + 1);
}

fn scene(data: &[u8]) {
    let [pitch, angle, blur, noise, jpeg, layout, text @ ..] = data else {
        return;
    };
    let (lines, chars) = match layout % 3 {
        0 => (3, 30),
        1 => (2, 36),
        _ => (2, 44),
    };
    let mut bytes = text.iter().map(|b| ALPHABET[usize::from(b % 37)]);
    let mrz: Vec<String> = (0..lines)
        .map(|_| {
            (0..chars)
                .map(|_| char::from(bytes.next().unwrap_or(b'<')))
                .collect()
        })
        .collect();
    let refs: Vec<&str> = mrz.iter().map(String::as_str).collect();
    let pitch = 8.0 + f32::from(pitch % 16);
    let image = synth::render(
        &refs,
        &synth::Scene {
            width: (50.0 * pitch) as u32,
            height: (37.0 * pitch) as u32,
            pitch,
            angle_deg: f32::from(*angle as i8) / 25.0,
            blur: f32::from(blur % 4) * 0.5,
            noise: f32::from(noise % 16),
            jpeg_quality: (jpeg % 2 == 1).then_some(30 + jpeg % 70),
            seed: u64::from(*noise) + 1,
        },
    );
    if let Ok(Some(read)) = ocr::read_mrz(&image.luma, image.width, image.height) {
        // Whatever is returned passed every check digit.
        assert!(read.mrz().is_valid());
        let _ = format!("{read:?}");
    }
}
