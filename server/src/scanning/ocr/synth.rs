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

    /// A passport held in front of a 720p camera: small, soft, tilted, JPEG-compressed.
    pub fn camera_720p() -> Self {
        Scene {
            width: 1280,
            height: 720,
            pitch: 20.0,
            angle_deg: -2.0,
            blur: 1.0,
            noise: 6.0,
            jpeg_quality: Some(70),
            seed: 7,
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
    /// Roughly normal (a sum of four uniforms), mean 0, standard deviation 1.
    fn normal(&mut self) -> f32 {
        let bits = self.next();
        let sum: f32 = (0..4)
            .map(|i| ((bits >> (16 * i)) & 0xffff) as f32 / 65536.0)
            .sum();
        (sum - 2.0) * 1.732
    }
}

/// Ink coverage canvas; text is drawn through the document's rotation.
struct Canvas {
    ink: Vec<f32>,
    width: usize,
    /// Document point to image point.
    place: Placement,
}

/// Rotation by `angle` about `centre`.
#[derive(Clone, Copy)]
struct Placement {
    sin: f32,
    cos: f32,
    centre: (f32, f32),
}

impl Placement {
    fn forward(&self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.centre.0, y - self.centre.1);
        (
            self.centre.0 + dx * self.cos - dy * self.sin,
            self.centre.1 + dx * self.sin + dy * self.cos,
        )
    }
    fn back(&self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.centre.0, y - self.centre.1);
        (
            self.centre.0 + dx * self.cos + dy * self.sin,
            self.centre.1 - dx * self.sin + dy * self.cos,
        )
    }
}

impl Canvas {
    fn text(&mut self, text: &str, x: f32, baseline: f32, pitch: f32) {
        let scale = pitch / font::advance('0').max(1.0);
        let angle = self.place.sin.atan2(self.place.cos);
        for (i, c) in text.chars().enumerate() {
            let (px, py) = self.place.forward(x + i as f32 * pitch, baseline);
            let outline = font::outline(c, px, py, scale, angle);
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
    let (sin, cos) = scene.angle_deg.to_radians().sin_cos();
    let place = Placement {
        sin,
        cos,
        centre: (w as f32 / 2.0, h as f32 / 2.0),
    };
    let mut canvas = Canvas {
        ink: vec![0.0; w * h],
        width: w,
        place,
    };
    // Headings and fields in the same font at other sizes: text that must not be taken for
    // an MRZ.
    let words = [
        "PASSPORT",
        "UTOPIA",
        "SURNAME",
        "GIVEN NAMES",
        "DATE OF BIRTH",
        "12 AUG 74",
        "AUTHORITY",
        "PLACE OF BIRTH",
        "ZENITH",
        "15 APR 12",
        "NATIONALITY",
        "F",
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
        canvas.text(line, left + pitch, baseline, pitch);
    }

    // Paper with a gentle gradient, a photo, dark surroundings.
    let mut luma = Vec::with_capacity(w * h);
    for (y, row) in canvas.ink.chunks_exact(w.max(1)).enumerate() {
        for (x, &ink) in row.iter().enumerate() {
            let (fx, fy) = place.back(x as f32 + 0.5, y as f32 + 0.5);
            let (dx, dy) = (fx - left, fy - top);
            let paper = if dx < 0.0 || dy < 0.0 || dx >= doc_w || dy >= doc_h {
                70.0 + 20.0 * fy / h as f32
            } else if dx >= 2.0 * pitch
                && dx < 13.0 * pitch
                && dy >= 3.0 * pitch
                && dy < 19.0 * pitch
            {
                // A photo: soft stripes.
                let phase = ((dx * 0.7 + dy) / pitch * 0.9).rem_euclid(2.0);
                110.0 + 70.0 * (phase - 1.0).abs()
            } else {
                238.0 - 18.0 * dx / doc_w - 10.0 * dy / doc_h
            };
            luma.push((paper * (1.0 - ink) + 25.0 * ink) as u8);
        }
    }
    let mut bytes = luma;
    if scene.blur > 0.0 {
        bytes = blur(&bytes, w, h, scene.blur);
    }
    if scene.noise > 0.0 {
        // A table of normal samples keeps this cheap in unoptimised test builds.
        let table: Vec<f32> = (0..1024).map(|_| scene.noise * rng.normal()).collect();
        for v in &mut bytes {
            let noise = table[(rng.next() >> 54) as usize];
            *v = (f32::from(*v) + noise).clamp(0.0, 255.0) as u8;
        }
    }
    if let Some(quality) = scene.jpeg_quality {
        bytes = jpeg_round_trip(bytes, scene.width, scene.height, quality);
    }
    Image {
        luma: bytes,
        width: scene.width,
        height: scene.height,
    }
}

/// Two box blurs of radius about `sigma`: close enough to a Gaussian for a soft print.
fn blur(src: &[u8], w: usize, h: usize, sigma: f32) -> Vec<u8> {
    let radius = (sigma.round() as usize).max(1);
    let mut data: Vec<u32> = src.iter().map(|&v| u32::from(v)).collect();
    let mut line = Vec::new();
    for _ in 0..2 {
        // Rows, then columns, each a running sum over 2 * radius + 1 pixels (edges clamped).
        for (len, count, step, stride) in [(w, h, 1, w), (h, w, w, 1)] {
            for i in 0..count {
                let at = |k: usize| i * stride + k * step;
                line.clear();
                line.extend((0..len).map(|k| data[at(k)]));
                let get = |k: isize| line[k.clamp(0, len as isize - 1) as usize];
                let r = radius as isize;
                let mut sum: u32 = (-r..=r).map(get).sum();
                let div = 2 * radius as u32 + 1;
                for k in 0..len {
                    data[at(k)] = sum / div;
                    let k = k as isize;
                    sum = sum + get(k + r + 1) - get(k - r);
                }
            }
        }
    }
    data.into_iter().map(|v| v.min(255) as u8).collect()
}

fn jpeg_round_trip(luma: Vec<u8>, width: u32, height: u32, quality: u8) -> Vec<u8> {
    let mut encoded = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, quality);
    if image::ImageEncoder::write_image(encoder, &luma, width, height, image::ExtendedColorType::L8)
        .is_err()
    {
        return luma;
    }
    match image::load_from_memory_with_format(&encoded, image::ImageFormat::Jpeg) {
        Ok(img) => img.to_luma8().into_raw(),
        Err(_) => luma,
    }
}
