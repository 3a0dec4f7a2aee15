//! Synthetic document images for tests and `lotse scan bench --mrz`: MRZ lines (and other
//! text) drawn with the embedded OCR-B font onto a page, then turned, blurred, made noisy
//! and JPEG-compressed like a scan or a camera frame. Deterministic for a given seed.

use super::font;

/// How a synthetic image is made.
#[derive(Debug, Clone)]
pub struct Scene {
    /// Image size; the document is centred in it.
    pub width: u32,
    pub height: u32,
    /// MRZ character pitch in pixels (300 dpi: 30; a passport filling a 720p frame: ~20).
    pub pitch: f32,
    /// Clockwise rotation of the document, in degrees.
    pub angle_deg: f32,
    /// Gaussian blur sigma in pixels (0: none).
    pub blur: f32,
    /// Standard deviation of pixel noise in grey levels.
    pub noise: f32,
    /// JPEG quality for a compression round trip (`None`: none).
    pub jpeg_quality: Option<u8>,
    /// Seed of the pseudo-random texts and noise.
    pub seed: u64,
}

impl Scene {
    /// A 300 dpi-like scan (pitch 30 px): the document fills most of the image.
    pub fn scan(seed: u64) -> Self {
        let pitch = 30.0;
        Scene {
            width: (50.0 * pitch) as u32,
            height: (37.0 * pitch) as u32,
            pitch,
            angle_deg: 0.0,
            blur: 0.0,
            noise: 0.0,
            jpeg_quality: None,
            seed,
        }
    }
}

/// An 8-bit luma image.
#[derive(Debug, Clone)]
pub struct Image {
    pub luma: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Deterministic xorshift, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Roughly normal, mean 0, standard deviation 1.
    fn normal(&mut self) -> f32 {
        (0..6).map(|_| self.unit()).sum::<f32>() * std::f32::consts::SQRT_2 - 6.0 * 0.5 * 1.414
    }
}

/// Ink coverage canvas.
struct Canvas {
    ink: Vec<f32>,
    width: usize,
}

impl Canvas {
    fn text(&mut self, text: &str, x: f32, baseline: f32, pitch: f32) {
        let scale = pitch / font::advance('0').max(1.0);
        for (i, c) in text.chars().enumerate() {
            let outline = font::outline(c, x + i as f32 * pitch, baseline, scale, 0.0);
            font::fill(&outline, &mut self.ink, self.width);
        }
    }
}

/// Renders `mrz` (2 or 3 lines) at the bottom of an ID document with a photo and other text,
/// or a document without MRZ when `mrz` is empty.
pub fn render(mrz: &[&str], scene: &Scene) -> Image {
    let mut rng = Rng(scene.seed.max(1));
    let (w, h) = (scene.width as usize, scene.height as usize);
    let pitch = scene.pitch;
    // The document: 46 pitches by 33 (a passport page's proportions), centred.
    let (doc_w, doc_h) = (46.0 * pitch, 33.0 * pitch);
    let (left, top) = ((w as f32 - doc_w) / 2.0, (h as f32 - doc_h) / 2.0);
    let mut canvas = Canvas {
        ink: vec![0.0; w * h],
        width: w,
    };
    // Headings and fields in the same font at other sizes: text that must not be taken for
    // an MRZ.
    let words = [
        "PASSPORT", "UTOPIA", "SURNAME", "GIVEN NAMES", "DATE OF BIRTH", "12 AUG 74",
        "AUTHORITY", "PLACE OF BIRTH", "ZENITH", "15 APR 12", "NATIONALITY", "F",
    ];
    let text_left = left + 16.0 * pitch;
    let mut baseline = top + 3.0 * pitch;
    for (i, word) in words.iter().enumerate() {
        let size = if i == 0 { 1.6 } else { 0.7 + 0.3 * rng.unit() };
        let x = text_left + (rng.unit() * 8.0).floor() * pitch;
        canvas.text(word, x, baseline, pitch * size);
        baseline += pitch * (1.2 + 0.4 * size);
        if baseline > top + doc_h - 9.0 * pitch {
            break;
        }
    }
    // The MRZ: lines 1.7 pitches apart, two pitches above the bottom edge.
    let count = mrz.len() as f32;
    for (i, line) in mrz.iter().enumerate() {
        let baseline = top + doc_h - 2.0 * pitch - (count - 1.0 - i as f32) * 1.7 * pitch;
        canvas.text(line, left + 1.0 * pitch, baseline, pitch);
    }

    // Paper with a gentle gradient, a photo, a frame around the document.
    let mut luma = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32, y as f32);
            let inside = fx >= left && fx < left + doc_w && fy >= top && fy < top + doc_h;
            let photo = fx >= left + 2.0 * pitch
                && fx < left + 13.0 * pitch
                && fy >= top + 3.0 * pitch
                && fy < top + 19.0 * pitch;
            let paper = if photo {
                120.0 + 60.0 * ((fx * 0.05).sin() * (fy * 0.03).cos())
            } else if inside {
                238.0 - 18.0 * fx / w as f32 - 10.0 * fy / h as f32
            } else {
                70.0 + 20.0 * fy / h as f32
            };
            let ink = canvas.ink[y * w + x];
            luma[y * w + x] = paper * (1.0 - ink) + 25.0 * ink;
        }
    }
    let mut luma = rotate(&luma, w, h, scene.angle_deg.to_radians());
    if scene.blur > 0.0 {
        luma = gaussian(&luma, w, h, scene.blur);
    }
    let mut bytes: Vec<u8> = luma
        .iter()
        .map(|&v| (v + scene.noise * rng.normal()).clamp(0.0, 255.0) as u8)
        .collect();
    if let Some(quality) = scene.jpeg_quality {
        bytes = jpeg_round_trip(bytes, scene.width, scene.height, quality);
    }
    Image {
        luma: bytes,
        width: scene.width,
        height: scene.height,
    }
}

/// Rotates about the centre (bilinear); corners come in dark, like a scanner lid.
fn rotate(src: &[f32], w: usize, h: usize, angle: f32) -> Vec<f32> {
    if angle == 0.0 {
        return src.to_vec();
    }
    let (sin, cos) = angle.sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let at = |x: isize, y: isize| -> f32 {
        if x < 0 || y < 0 || x >= w as isize || y >= h as isize {
            60.0
        } else {
            src[y as usize * w + x as usize]
        }
    };
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            // Inverse mapping: destination pixel centre back into the source.
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let sx = cos * dx + sin * dy + cx - 0.5;
            let sy = -sin * dx + cos * dy + cy - 0.5;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (ax, ay) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let top = at(x0, y0) * (1.0 - ax) + at(x0 + 1, y0) * ax;
            let bottom = at(x0, y0 + 1) * (1.0 - ax) + at(x0 + 1, y0 + 1) * ax;
            out[y * w + x] = top * (1.0 - ay) + bottom * ay;
        }
    }
    out
}

/// Separable Gaussian blur.
fn gaussian(src: &[f32], w: usize, h: usize, sigma: f32) -> Vec<f32> {
    let radius = (sigma * 3.0).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut sum = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let d = k as isize - radius;
                    let (sx, sy) = if horizontal {
                        ((x as isize + d).clamp(0, w as isize - 1), y as isize)
                    } else {
                        (x as isize, (y as isize + d).clamp(0, h as isize - 1))
                    };
                    sum += weight * src[sy as usize * w + sx as usize];
                }
                out[y * w + x] = sum / total;
            }
        }
        out
    };
    pass(&pass(src, true), false)
}

fn jpeg_round_trip(luma: Vec<u8>, width: u32, height: u32, quality: u8) -> Vec<u8> {
    let mut encoded = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, quality);
    if image::ImageEncoder::write_image(
        encoder,
        &luma,
        width,
        height,
        image::ExtendedColorType::L8,
    )
    .is_err()
    {
        return luma;
    }
    match image::load_from_memory_with_format(&encoded, image::ImageFormat::Jpeg) {
        Ok(img) => img.to_luma8().into_raw(),
        Err(_) => luma,
    }
}
