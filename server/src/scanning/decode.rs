//! 2D barcode decoding (QR, Micro QR, Data Matrix, PDF417, Aztec) with `rxing`, from camera
//! frames and from image files.
//!
//! The kiosk camera delivers 8-bit luma frames many times a second and almost all of them show
//! no code, so [`Decoder::decode_frame`] is built to be cheap on empty frames: it borrows the
//! frame (no copy: `rxing::Luma8Source::new_with_slice`), restricts the formats (the camera:
//! QR only), looks at a half-size copy of large frames, binarizes once and searches finder
//! patterns in both polarities, and runs the decoder only where patterns are; only when
//! patterns were seen but did not decode is the full-size frame looked at. (rxing's own
//! `MultiFormatReader` runs two QR detectors per polarity, so the QR path calls the C++-port
//! reader directly.)
//! Files ([`Decoder::decode_file`]) always get the thorough passes when the fast one finds
//! nothing: several binarizers, `TryHarder`, a half-size copy for large photos, and 90° turns.
//!
//! rxing is a port of Java/C++ code with index arithmetic on untrusted geometry; every call into
//! it runs under `catch_unwind`, so arbitrary input yields an error or nothing, never a panic.

use std::collections::HashSet;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rxing::common::{GlobalHistogramBinarizer, HybridBinarizer};
use rxing::multi::{GenericMultipleBarcodeReader, MultipleBarcodeReader};
use rxing::{
    BarcodeFormat, Binarizer, BinaryBitmap, DecodeHints, Exceptions, Luma8Source,
    MultiFormatReader, RXingResult, Reader,
};
use serde::Serialize;

/// A 2D symbology Lotse reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    QrCode,
    MicroQrCode,
    DataMatrix,
    Pdf417,
    Aztec,
}

impl Format {
    /// Every format, in the order the CLI lists them.
    pub const ALL: [Format; 5] = [
        Format::QrCode,
        Format::MicroQrCode,
        Format::DataMatrix,
        Format::Pdf417,
        Format::Aztec,
    ];

    /// The name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::QrCode => "qr_code",
            Format::MicroQrCode => "micro_qr_code",
            Format::DataMatrix => "data_matrix",
            Format::Pdf417 => "pdf417",
            Format::Aztec => "aztec",
        }
    }

    fn from_rxing(f: BarcodeFormat) -> Option<Self> {
        Some(match f {
            BarcodeFormat::QR_CODE => Format::QrCode,
            BarcodeFormat::MICRO_QR_CODE | BarcodeFormat::RECTANGULAR_MICRO_QR_CODE => {
                Format::MicroQrCode
            }
            BarcodeFormat::DATA_MATRIX => Format::DataMatrix,
            BarcodeFormat::PDF_417 => Format::Pdf417,
            BarcodeFormat::AZTEC => Format::Aztec,
            _ => return None,
        })
    }

    fn to_rxing(self) -> &'static [BarcodeFormat] {
        match self {
            Format::QrCode => &[BarcodeFormat::QR_CODE],
            Format::MicroQrCode => &[
                BarcodeFormat::MICRO_QR_CODE,
                BarcodeFormat::RECTANGULAR_MICRO_QR_CODE,
            ],
            Format::DataMatrix => &[BarcodeFormat::DATA_MATRIX],
            Format::Pdf417 => &[BarcodeFormat::PDF_417],
            Format::Aztec => &[BarcodeFormat::AZTEC],
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One decoded symbol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Symbol {
    pub format: Format,
    /// The decoded text; byte-mode content without an ECI is ISO-8859-1 per the standards.
    pub text: String,
}

/// Why an image could not be decoded. "No symbol" is not an error: it is an empty result.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("a {width}×{height} frame needs {expected} bytes, got {actual}")]
    FrameSize {
        width: u32,
        height: u32,
        expected: u64,
        actual: usize,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a readable image: {source}", path.display())]
    Image {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("cannot rasterize PDF {}: {message}", path.display())]
    Pdf { path: PathBuf, message: String },
    #[error("the image is larger than {MAX_PIXELS} pixels")]
    TooLarge,
}

/// What the kiosk camera looks for: appointment codes and visitor cards are QR codes, and
/// fewer formats keep frames without a code cheap.
pub const CAMERA_FORMATS: [Format; 1] = [Format::QrCode];

/// Larger images are refused before decoding (a 40-megapixel photo is about 40 MB of luma).
pub const MAX_PIXELS: u64 = 40_000_000;

/// Photos beyond this longer side get an extra pass at half size: rxing's detectors are tuned
/// for modules of a few pixels, and high-resolution photos with soft edges often decode only
/// after downscaling.
const DOWNSCALE_ABOVE: u32 = 1200;

/// Frames larger than VGA get the fast pass at half size.
const FAST_HALF_ABOVE_PIXELS: u64 = 640 * 480;

/// A reusable decoder: hints are built once, not per frame.
pub struct Decoder {
    formats: Vec<Format>,
    fast: DecodeHints,
    thorough: DecodeHints,
    /// Only QR and Micro QR: frames take the finder-pattern path ([`qr_frame_pass`]).
    qr_only: bool,
    /// Finder patterns a frame needs before it is decoded: 3 for QR, 1 with Micro QR.
    min_patterns: usize,
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("formats", &self.formats)
            .finish_non_exhaustive()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(&Format::ALL)
    }
}

/// How a pass ended when it found nothing: "looked like a code" decides on a second pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Miss {
    NotFound,
    Unreadable,
}

impl Decoder {
    /// A decoder for the given formats (all five when empty).
    pub fn new(formats: &[Format]) -> Self {
        let formats: Vec<Format> = if formats.is_empty() {
            Format::ALL.to_vec()
        } else {
            formats.to_vec()
        };
        let possible: HashSet<BarcodeFormat> = formats
            .iter()
            .flat_map(|f| f.to_rxing().iter().copied())
            .collect();
        // rxing's helpers turn an unset TryHarder into true; set every hint explicitly.
        let fast = DecodeHints {
            PossibleFormats: Some(possible.clone()),
            TryHarder: Some(false),
            AlsoInverted: Some(true),
            PureBarcode: Some(false),
            ..DecodeHints::default()
        };
        let thorough = DecodeHints {
            TryHarder: Some(true),
            ..fast.clone()
        };
        let qr_only = formats
            .iter()
            .all(|f| matches!(f, Format::QrCode | Format::MicroQrCode));
        let min_patterns = if formats.contains(&Format::MicroQrCode) {
            1
        } else {
            3
        };
        Self {
            formats,
            fast,
            thorough,
            qr_only,
            min_patterns,
        }
    }

    /// The formats this decoder looks for.
    pub fn formats(&self) -> &[Format] {
        &self.formats
    }

    /// Decodes one camera frame (8-bit luma, row-major, no padding), borrowing it.
    ///
    /// Returns at most one symbol: a kiosk acts on the first code it sees.
    pub fn decode_frame(
        &self,
        luma: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Vec<Symbol>, DecodeError> {
        check_size(luma, width, height)?;
        if width == 0 || height == 0 {
            return Ok(Vec::new());
        }
        let large = u64::from(width) * u64::from(height) > FAST_HALF_ABOVE_PIXELS;
        if self.qr_only {
            // Large frames are looked at in half size first (a quarter of the pixels; the box
            // filter also smooths sensor noise that looks like finder patterns). The full
            // frame is looked at only when finder patterns were seen but did not decode.
            let first = if large {
                let (half, hw, hh) = downscale_half(luma, width, height);
                qr_frame_pass(&half, hw, hh, &self.fast, self.min_patterns)
            } else {
                qr_frame_pass(luma, width, height, &self.fast, self.min_patterns)
            };
            return Ok(match first {
                Ok(found) => found,
                Err(Miss::Unreadable) if large => {
                    qr_frame_pass(luma, width, height, &self.fast, self.min_patterns)
                        .unwrap_or_default()
                }
                Err(_) => Vec::new(),
            });
        }
        let fast = if large {
            let (half, hw, hh) = downscale_half(luma, width, height);
            self.pass_hybrid(&half, hw, hh, &self.fast, false)
        } else {
            self.pass_hybrid(luma, width, height, &self.fast, false)
        };
        match fast {
            Ok(found) => Ok(found),
            Err(Miss::NotFound) => Ok(Vec::new()),
            // One TryHarder pass only: texture and noise often look "code-like", and the
            // camera delivers the next frame a few milliseconds later anyway.
            Err(Miss::Unreadable) => Ok(self
                .pass_hybrid(luma, width, height, &self.thorough, false)
                .unwrap_or_default()),
        }
    }

    /// Decodes a still image (8-bit luma) as thoroughly as reasonable, every symbol in it.
    pub fn decode_image(
        &self,
        luma: &[u8],
        width: u32,
        height: u32,
    ) -> Result<Vec<Symbol>, DecodeError> {
        check_size(luma, width, height)?;
        if width == 0 || height == 0 {
            return Ok(Vec::new());
        }
        if let Ok(found) = self.pass_hybrid(luma, width, height, &self.fast, true) {
            return Ok(found);
        }
        Ok(self
            .thorough_passes(luma, width, height, true)
            .unwrap_or_default())
    }

    /// Decodes an image file (PNG, JPEG, WebP, TIFF) or every page of a PDF (with `pdftoppm`).
    pub fn decode_file(&self, path: &Path) -> Result<Vec<Symbol>, DecodeError> {
        let mut all = Vec::new();
        for page in load_pages(path)? {
            for s in self.decode_image(page.as_raw(), page.width(), page.height())? {
                if !all.contains(&s) {
                    all.push(s);
                }
            }
        }
        Ok(all)
    }

    /// Decodes an image file's bytes (PNG, JPEG, WebP, TIFF; not PDF); `name` is for errors.
    pub fn decode_bytes(&self, bytes: &[u8], name: &Path) -> Result<Vec<Symbol>, DecodeError> {
        let img = luma_from_bytes(bytes, name)?;
        self.decode_image(img.as_raw(), img.width(), img.height())
    }

    fn thorough_passes(
        &self,
        luma: &[u8],
        width: u32,
        height: u32,
        multi: bool,
    ) -> Option<Vec<Symbol>> {
        let h = &self.thorough;
        if let Ok(found) = self.pass_hybrid(luma, width, height, h, multi) {
            return Some(found);
        }
        if let Ok(found) = self.pass_global(luma, width, height, h, multi) {
            return Some(found);
        }
        if width.max(height) > DOWNSCALE_ABOVE {
            let (half, hw, hh) = downscale_half(luma, width, height);
            if let Ok(found) = self.pass_hybrid(&half, hw, hh, h, multi) {
                return Some(found);
            }
            if let Ok(found) = self.pass_global(&half, hw, hh, h, multi) {
                return Some(found);
            }
        }
        // Data Matrix, Aztec and PDF417 finders are not fully rotation invariant in rxing.
        let (rot, rw, rh) = rotate_90(luma, width, height);
        if let Ok(found) = self.pass_hybrid(&rot, rw, rh, h, multi) {
            return Some(found);
        }
        None
    }

    fn pass_hybrid(
        &self,
        luma: &[u8],
        width: u32,
        height: u32,
        hints: &DecodeHints,
        multi: bool,
    ) -> Result<Vec<Symbol>, Miss> {
        pass(luma, width, height, hints, multi, HybridBinarizer::new)
    }

    fn pass_global(
        &self,
        luma: &[u8],
        width: u32,
        height: u32,
        hints: &DecodeHints,
        multi: bool,
    ) -> Result<Vec<Symbol>, Miss> {
        pass(
            luma,
            width,
            height,
            hints,
            multi,
            GlobalHistogramBinarizer::new,
        )
    }
}

/// The camera's QR pass: binarizes once, looks for finder patterns in the normal and then the
/// inverted picture (dark-mode screens), and runs the decoder only on a polarity with enough
/// patterns. A frame without a code costs one binarization and two pattern scans; `Unreadable`
/// means patterns were seen but nothing decoded (worth a look at full resolution).
fn qr_frame_pass(
    luma: &[u8],
    width: u32,
    height: u32,
    hints: &DecodeHints,
    min_patterns: usize,
) -> Result<Vec<Symbol>, Miss> {
    use rxing::qrcode::cpp_port::QrReader;
    use rxing::qrcode::cpp_port::detector::FindFinderPatterns;
    let source = Luma8Source::new_with_slice(luma, width, height).map_err(|_| Miss::NotFound)?;
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut seen = false;
        for inverted in [false, true] {
            if inverted {
                bitmap.invert();
            }
            let patterns = FindFinderPatterns(bitmap.get_black_matrix(), false, 0);
            if patterns.len() < min_patterns {
                continue;
            }
            seen = true;
            if let Ok(r) = QrReader.decode_with_hints(&mut bitmap, hints) {
                return Ok(vec![r]);
            }
        }
        Err(if seen {
            Miss::Unreadable
        } else {
            Miss::NotFound
        })
    }));
    match outcome {
        Ok(Ok(results)) => found(results),
        Ok(Err(miss)) => Err(miss),
        Err(_) => {
            tracing::warn!("the QR detector panicked on a frame; treated as unreadable");
            Err(Miss::NotFound)
        }
    }
}

/// One decoding pass over the borrowed luma buffer with the given binarizer.
fn pass<'a, B: Binarizer>(
    luma: &'a [u8],
    width: u32,
    height: u32,
    hints: &DecodeHints,
    multi: bool,
    binarizer: impl FnOnce(Luma8Source<'a>) -> B,
) -> Result<Vec<Symbol>, Miss> {
    let source = Luma8Source::new_with_slice(luma, width, height).map_err(|_| Miss::NotFound)?;
    let mut bitmap = BinaryBitmap::new(binarizer(source));
    run(&mut bitmap, hints, multi)
}

/// `lotse scan decode FILE...`: one JSON line per symbol (`file`, `format`, `text`) or per
/// failed file (`file`, `error`). Returns whether every file gave at least one symbol.
pub fn decode_files_to_json(
    decoder: &Decoder,
    files: &[PathBuf],
    out: &mut impl std::io::Write,
) -> std::io::Result<bool> {
    let mut all_ok = true;
    for file in files {
        let name = file.display().to_string();
        match decoder.decode_file(file) {
            Ok(symbols) if !symbols.is_empty() => {
                for s in symbols {
                    let line =
                        serde_json::json!({"file": name, "format": s.format, "text": s.text});
                    writeln!(out, "{line}")?;
                }
            }
            Ok(_) => {
                all_ok = false;
                let line = serde_json::json!({"file": name, "error": "no barcode found"});
                writeln!(out, "{line}")?;
            }
            Err(e) => {
                all_ok = false;
                let line = serde_json::json!({"file": name, "error": e.to_string()});
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(all_ok)
}

/// One rxing attempt, under `catch_unwind`.
fn run<B: Binarizer>(
    bitmap: &mut BinaryBitmap<B>,
    hints: &DecodeHints,
    multi: bool,
) -> Result<Vec<Symbol>, Miss> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if multi {
            let mut reader = GenericMultipleBarcodeReader::new(MultiFormatReader::default());
            reader.decode_multiple_with_hints(bitmap, hints)
        } else {
            let mut reader = MultiFormatReader::default();
            reader.decode_with_hints(bitmap, hints).map(|r| vec![r])
        }
    }));
    match outcome {
        Ok(Ok(results)) => found(results),
        Ok(Err(Exceptions::NotFoundException(_))) => Err(Miss::NotFound),
        Ok(Err(_)) => Err(Miss::Unreadable),
        Err(_) => {
            tracing::warn!("the barcode decoder panicked on an image; treated as unreadable");
            Err(Miss::Unreadable)
        }
    }
}

/// The symbols of known formats among `results`; `NotFound` when none is left.
fn found(results: Vec<RXingResult>) -> Result<Vec<Symbol>, Miss> {
    let symbols = to_symbols(results);
    if symbols.is_empty() {
        Err(Miss::NotFound)
    } else {
        Ok(symbols)
    }
}

fn to_symbols(results: Vec<RXingResult>) -> Vec<Symbol> {
    let mut out: Vec<Symbol> = Vec::with_capacity(results.len());
    for r in results {
        let Some(format) = Format::from_rxing(*r.getBarcodeFormat()) else {
            continue;
        };
        let s = Symbol {
            format,
            text: r.getText().to_owned(),
        };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn check_size(luma: &[u8], width: u32, height: u32) -> Result<(), DecodeError> {
    let expected = u64::from(width) * u64::from(height);
    if expected > MAX_PIXELS {
        return Err(DecodeError::TooLarge);
    }
    if expected != luma.len() as u64 {
        return Err(DecodeError::FrameSize {
            width,
            height,
            expected,
            actual: luma.len(),
        });
    }
    Ok(())
}

/// Box-filtered half-size copy (a quarter of the pixels). Written over exact chunks so the
/// compiler vectorizes it: on a 1280×720 frame it is a small part of the frame's budget.
fn downscale_half(luma: &[u8], width: u32, height: u32) -> (Vec<u8>, u32, u32) {
    let (w, h) = (width as usize, height as usize);
    let (hw, hh) = (w / 2, h / 2);
    if hw == 0 || hh == 0 {
        return (Vec::new(), hw as u32, hh as u32);
    }
    let mut out = vec![0u8; hw * hh];
    for (y, dst) in out.chunks_exact_mut(hw).enumerate() {
        let r0 = &luma[2 * y * w..2 * y * w + 2 * hw];
        let r1 = &luma[(2 * y + 1) * w..(2 * y + 1) * w + 2 * hw];
        for ((d, a), b) in dst
            .iter_mut()
            .zip(r0.chunks_exact(2))
            .zip(r1.chunks_exact(2))
        {
            let sum = u16::from(a[0]) + u16::from(a[1]) + u16::from(b[0]) + u16::from(b[1]);
            *d = (sum / 4) as u8;
        }
    }
    (out, hw as u32, hh as u32)
}

/// A 90° clockwise turn (thorough path only).
fn rotate_90(luma: &[u8], width: u32, height: u32) -> (Vec<u8>, u32, u32) {
    let (w, h) = (width as usize, height as usize);
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            out[x * h + (h - 1 - y)] = luma[y * w + x];
        }
    }
    (out, height, width)
}

/// Reads an image file (PNG, JPEG, WebP, TIFF) or every page of a PDF (with `pdftoppm`, as
/// [`Decoder::decode_file`] does) into 8-bit luma, one image per page.
pub fn load_pages(path: &Path) -> Result<Vec<image::GrayImage>, DecodeError> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pdf"))
    {
        rasterize_pdf(path)
    } else {
        Ok(vec![load_luma(path)?])
    }
}

/// Reads an image file into 8-bit luma; transparent pixels become white (codes rendered on a
/// transparent background would otherwise turn into black on black).
pub fn load_luma(path: &Path) -> Result<image::GrayImage, DecodeError> {
    let bytes = std::fs::read(path).map_err(|source| DecodeError::Read {
        path: path.to_owned(),
        source,
    })?;
    luma_from_bytes(&bytes, path)
}

/// Decodes image bytes (PNG, JPEG, WebP, TIFF) into 8-bit luma; `path` names them in errors.
///
/// The header's size is checked against [`MAX_PIXELS`] before any pixel is decoded, and the
/// decoder's allocations are capped, so a small file claiming a huge image cannot exhaust
/// memory.
pub fn luma_from_bytes(bytes: &[u8], path: &Path) -> Result<image::GrayImage, DecodeError> {
    let image_err = |source| DecodeError::Image {
        path: path.to_owned(),
        source,
    };
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| DecodeError::Read {
            path: path.to_owned(),
            source,
        })?;
    let (w, h) = reader.into_dimensions().map_err(image_err)?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(DecodeError::TooLarge);
    }
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| DecodeError::Read {
            path: path.to_owned(),
            source,
        })?;
    reader.limits(limits_for(w, h));
    let img = decode_guarded(reader).map_err(image_err)?;
    if u64::from(img.width()) * u64::from(img.height()) > MAX_PIXELS {
        return Err(DecodeError::TooLarge);
    }
    if img.color().has_alpha() {
        let rgba = img.to_luma_alpha8();
        let (w, h) = rgba.dimensions();
        let data = rgba
            .pixels()
            .map(|p| {
                let [l, a] = p.0;
                let (l, a) = (u32::from(l), u32::from(a));
                ((l * a + 255 * (255 - a)) / 255) as u8
            })
            .collect();
        return image::GrayImage::from_raw(w, h, data).ok_or(DecodeError::TooLarge);
    }
    Ok(img.to_luma8())
}

/// Decodes under `catch_unwind`: the image crate's decoders have panicked on damaged files
/// (png 0.18.1 on a damaged palette, found by the `image_decode` fuzz target).
fn decode_guarded(
    reader: image::ImageReader<std::io::Cursor<&[u8]>>,
) -> image::ImageResult<image::DynamicImage> {
    catch_unwind(AssertUnwindSafe(|| reader.decode())).unwrap_or_else(|_| {
        Err(image::ImageError::Decoding(
            image::error::DecodingError::new(
                image::error::ImageFormatHint::Unknown,
                "the picture's data is damaged",
            ),
        ))
    })
}

/// Decoder limits for an image whose header said `w`×`h`.
fn limits_for(w: u32, h: u32) -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    // 16-bit RGBA of the largest accepted image, plus the decoders' working buffers.
    limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
    limits
}

/// The camera source's decoder: frames arrive on the camera thread, so decoding there never
/// blocks the async runtime.
impl lotse_firmware::scanner::FrameDecoder for Decoder {
    fn decode(
        &mut self,
        luma: &[u8],
        size: lotse_firmware::scanner::camera::FrameSize,
    ) -> Vec<String> {
        match self.decode_frame(luma, size.width, size.height) {
            Ok(symbols) => symbols.into_iter().map(|s| s.text).collect(),
            Err(e) => {
                tracing::warn!("camera frame not decodable: {e}");
                Vec::new()
            }
        }
    }
}

/// Decodes one MJPEG camera frame into luma (the V4L2 camera's [`MjpegDecoder`]).
///
/// UVC cameras leave out the Huffman tables (DHT) and rely on the standard ones; the JPEG
/// decoder fills those in for frames marked as Motion JPEG (an `AVI1` APP0 segment), so a
/// frame without DHT and without that mark gets the mark inserted after its SOI.
///
/// [`MjpegDecoder`]: lotse_firmware::scanner::v4l2::MjpegDecoder
pub fn mjpeg_to_luma(
    frame: &[u8],
    luma: &mut Vec<u8>,
) -> std::io::Result<lotse_firmware::scanner::camera::FrameSize> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    if frame.len() < 4 || frame[..2] != [0xFF, 0xD8] {
        return Err(bad("not a JPEG frame".into()));
    }
    let fixed;
    let bytes = if needs_mjpeg_mark(frame) {
        let mut v = Vec::with_capacity(frame.len() + 16);
        v.extend_from_slice(&frame[..2]);
        // APP0, length 16: "AVI1", then the fields zune-jpeg skips.
        v.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
        v.extend_from_slice(b"AVI1\0\0\0\0\0\0\0\0\0\0");
        v.extend_from_slice(&frame[2..]);
        fixed = v;
        &fixed[..]
    } else {
        frame
    };
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::Jpeg);
    reader.limits(limits_for(8192, 8192));
    let img = decode_guarded(reader).map_err(|e| bad(format!("MJPEG frame: {e}")))?;
    if u64::from(img.width()) * u64::from(img.height()) > MAX_PIXELS {
        return Err(bad("MJPEG frame too large".into()));
    }
    let gray = img.into_luma8();
    let size = lotse_firmware::scanner::camera::FrameSize {
        width: gray.width(),
        height: gray.height(),
    };
    luma.clear();
    luma.extend_from_slice(gray.as_raw());
    Ok(size)
}

/// Whether a JPEG has no Huffman tables before its scan and no `AVI1` mark.
fn needs_mjpeg_mark(jpeg: &[u8]) -> bool {
    let mut i = 2;
    while i + 4 <= jpeg.len() {
        if jpeg[i] != 0xFF {
            return false;
        }
        let marker = jpeg[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        match marker {
            0xC4 => return false,
            0xE0 if jpeg.get(i + 4..i + 8) == Some(b"AVI1") => return false,
            0xDA => return true,
            _ => {}
        }
        i += 2 + len;
    }
    false
}

/// Renders every page of a PDF at 150 dpi with `pdftoppm` (poppler-utils) into a temp dir.
fn rasterize_pdf(path: &Path) -> Result<Vec<image::GrayImage>, DecodeError> {
    let pdf_err = |message: String| DecodeError::Pdf {
        path: path.to_owned(),
        message,
    };
    let dir = std::env::temp_dir().join(format!(
        "lotse-pdf-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| pdf_err(e.to_string()))?;
    let result = (|| {
        let status = std::process::Command::new("pdftoppm")
            .args(["-r", "150", "-gray", "-png"])
            .arg(path)
            .arg(dir.join("page"))
            .status()
            .map_err(|e| pdf_err(format!("cannot run pdftoppm (poppler-utils): {e}")))?;
        if !status.success() {
            return Err(pdf_err(format!("pdftoppm failed ({status})")));
        }
        let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| pdf_err(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        pages.sort();
        pages.iter().map(|p| load_luma(p)).collect()
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rxing::{MultiFormatWriter, Writer};

    /// Found by the `image_decode` fuzz target: png 0.18.1 panicked on this palette.
    #[test]
    fn a_png_whose_decoder_panics_is_an_image_error() {
        let hex: String = [
            "89504e470d0a1a0a0000000d4948445200000013000000130103000000489ea48f00000038504c54",
            "45ff86735e00000008000046544c5000100c5e59d8982d3be3365ddbba53b5d0c42b6e6b39606790",
            "a235a43b6e866c3bd387ff0fffff00000055c2d37e000000574944415408d7014c00b3ff0008b900",
            "00137640003020c0007fffe0007001600017fd6003b4050000b5f540009515e00055554000f51560",
            "0057f520006c0aa00057fda000900140001fffa000883a40008a5fd5001bb7c084f819023b1a42da",
            "000000f149004e44ae426082",
        ]
        .concat();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let err = luma_from_bytes(&bytes, Path::new("palette.png")).unwrap_err();
        assert!(matches!(err, DecodeError::Image { .. }), "{err}");
        let d = Decoder::default();
        assert!(d.decode_bytes(&bytes, Path::new("palette.png")).is_err());
    }

    fn render(text: &str, format: BarcodeFormat, w: u32, h: u32) -> (Vec<u8>, u32, u32) {
        let bits = MultiFormatWriter
            .encode(text, &format, w as i32, h as i32)
            .unwrap();
        let (bw, bh) = (bits.width(), bits.height());
        // Place the symbol in a larger, grey frame, as a camera would see it.
        let (fw, fh) = (bw + 200, bh + 160);
        let mut luma = vec![180u8; (fw * fh) as usize];
        for y in 0..bh {
            for x in 0..bw {
                luma[((y + 80) * fw + x + 100) as usize] = if bits.get(x, y) { 20 } else { 235 };
            }
        }
        (luma, fw, fh)
    }

    #[test]
    fn decodes_a_rendered_qr_code_from_a_borrowed_frame() {
        let (luma, w, h) = render("LOTSE1.test", BarcodeFormat::QR_CODE, 300, 300);
        let found = Decoder::default().decode_frame(&luma, w, h).unwrap();
        assert_eq!(
            found,
            vec![Symbol {
                format: Format::QrCode,
                text: "LOTSE1.test".into()
            }]
        );
    }

    #[test]
    fn downscaling_averages_two_by_two_blocks() {
        // 5×3: the odd last column and row are dropped.
        let luma = [
            0, 4, 8, 8, 99, //
            4, 8, 0, 4, 99, //
            99, 99, 99, 99, 99,
        ];
        assert_eq!(downscale_half(&luma, 5, 3), (vec![4, 5], 2, 1));
        assert_eq!(downscale_half(&[7], 1, 1), (vec![], 0, 0));
    }

    #[test]
    fn inverted_codes_are_read() {
        let (mut luma, w, h) = render("dark mode", BarcodeFormat::QR_CODE, 300, 300);
        for p in &mut luma {
            *p = 255 - *p;
        }
        let found = Decoder::new(&[Format::QrCode])
            .decode_frame(&luma, w, h)
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].text, "dark mode");
    }

    #[test]
    fn empty_and_odd_frames_are_not_errors() {
        let d = Decoder::default();
        assert!(d.decode_frame(&[], 0, 0).unwrap().is_empty());
        assert!(d.decode_frame(&[0; 1], 1, 1).unwrap().is_empty());
        assert!(d.decode_frame(&[255; 7 * 3], 7, 3).unwrap().is_empty());
        assert!(
            d.decode_frame(&vec![128; 1280 * 720], 1280, 720)
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            d.decode_frame(&[0; 10], 4, 4),
            Err(DecodeError::FrameSize { .. })
        ));
    }

    #[test]
    fn random_noise_never_panics() {
        // xorshift: deterministic noise without a dev-dependency.
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let d = Decoder::default();
        for (w, h) in [(64u32, 64u32), (320, 240), (97, 33)] {
            let luma: Vec<u8> = (0..w * h)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    if s & 1 == 0 { 0 } else { 255 }
                })
                .collect();
            let _ = d.decode_image(&luma, w, h).unwrap();
        }
    }

    /// The firmware camera source with this decoder: frames decoded on the camera's thread,
    /// one event per code in view.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn camera_source_reports_a_code_seen_in_frames() {
        use lotse_firmware::scanner::camera::{CameraPacing, FrameSize};
        use lotse_firmware::scanner::{
            Camera, CameraSource, ScanEvent, ScanSource, SimCamera, SourceId,
        };
        let (luma, width, height) = render("LOTSE1.cam", BarcodeFormat::QR_CODE, 300, 300);
        let size = FrameSize { width, height };
        let blank = (vec![128u8; (width * height) as usize], size);
        let cam = SimCamera::once(vec![
            blank.clone(),
            (luma.clone(), size),
            (luma, size),
            blank,
        ]);
        let mut cam = Some(cam);
        let source = CameraSource::new(
            SourceId::new("kiosk-camera"),
            move || {
                cam.take()
                    .map(|c| Box::new(c) as Box<dyn Camera>)
                    .ok_or_else(|| std::io::Error::other("no camera"))
            },
            Box::new(Decoder::new(&[Format::QrCode])),
            CameraPacing {
                frame_interval: std::time::Duration::from_millis(10),
                ..CameraPacing::default()
            },
        );
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let handle = Box::new(source).start(tx);
        let text = loop {
            let ev = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap();
            if let ScanEvent::Text { text, .. } = ev {
                break text;
            }
        };
        assert_eq!(text, "LOTSE1.cam");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(rx.try_recv().is_err(), "two frames with the code, one scan");
        tokio::task::spawn_blocking(move || handle.stop())
            .await
            .unwrap();
    }

    /// Removes the DHT segments from a JPEG, as UVC cameras send MJPEG frames.
    fn strip_dht(jpeg: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        let mut i = 2;
        while i + 4 <= jpeg.len() {
            let marker = jpeg[i + 1];
            let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
            if marker == 0xDA {
                out.extend_from_slice(&jpeg[i..]);
                break;
            }
            if marker != 0xC4 {
                out.extend_from_slice(&jpeg[i..i + 2 + len]);
            }
            i += 2 + len;
        }
        out
    }

    #[test]
    fn mjpeg_frames_without_huffman_tables_decode() {
        let (luma, w, h) = render("LOTSE1.mjpeg", BarcodeFormat::QR_CODE, 300, 300);
        let mut jpeg = Vec::new();
        image::GrayImage::from_raw(w, h, luma)
            .unwrap()
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        let mjpeg = strip_dht(&jpeg);
        assert!(mjpeg.len() < jpeg.len(), "the encoder wrote DHT segments");
        assert!(needs_mjpeg_mark(&mjpeg));
        assert!(!needs_mjpeg_mark(&jpeg));
        let mut out = Vec::new();
        for frame in [&jpeg, &mjpeg] {
            let size = mjpeg_to_luma(frame, &mut out).unwrap();
            assert_eq!((size.width, size.height), (w, h));
            let found = Decoder::new(&[Format::QrCode])
                .decode_frame(&out, w, h)
                .unwrap();
            assert_eq!(found[0].text, "LOTSE1.mjpeg");
        }
        assert!(mjpeg_to_luma(b"\xFF\xD8garbage", &mut out).is_err());
        assert!(mjpeg_to_luma(b"", &mut out).is_err());
    }

    #[test]
    fn image_headers_claiming_huge_sizes_are_refused_before_decoding() {
        // A valid PNG header of 100000×100000 pixels and nothing else.
        let mut png = Vec::new();
        let img = image::GrayImage::new(1, 1);
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        // IHDR width/height at bytes 16..24; the CRC no longer matches, which the header
        // read does not check.
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let got = Decoder::default().decode_bytes(&png, Path::new("huge.png"));
        assert!(
            matches!(
                got,
                Err(DecodeError::TooLarge) | Err(DecodeError::Image { .. })
            ),
            "{got:?}"
        );
    }

    #[test]
    fn unreadable_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("not-an-image.png");
        std::fs::write(&p, b"\x89PNG garbage").unwrap();
        assert!(matches!(
            Decoder::default().decode_file(&p),
            Err(DecodeError::Image { .. })
        ));
        assert!(matches!(
            Decoder::default().decode_file(&dir.path().join("missing.png")),
            Err(DecodeError::Read { .. })
        ));
    }
}
