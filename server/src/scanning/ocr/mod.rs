//! Reading an ID document's machine-readable zone from an image: a scanned page, a camera
//! frame of a passport, a page of an office scanner's PDF. Pure Rust, no OCR engine.
//!
//! The MRZ is printed in OCR-B at a fixed pitch, in 2 lines of 44 or 36 or 3 lines of 30
//! characters of `A-Z0-9<`. [`read_mrz`] finds such a band (`detect.rs`: binarization,
//! connected components, chains of equally spaced glyphs, skew from their centres), reads
//! every character cell against templates rendered from the embedded OCR-B font
//! (`classify.rs`), restricts each position to its field's alphabet, and hands the text to
//! [`super::mrz::parse_with_repair`]. Only an MRZ whose check digits all agree is returned;
//! where they do not, the runner-up readings of the least certain positions are tried, so
//! the check digits decide between look-alikes such as O/0, I/1, S/5, B/8.
//!
//! Privacy (PAuswG §20): the result holds the document number; [`MrzRead`]'s `Debug` shows
//! neither it nor the lines, and nothing here logs.

pub mod bench;
mod classify;
mod detect;
mod font;
pub mod synth;

use std::fmt;
use std::path::Path;

use super::decode::{self, DecodeError};
use super::mrz::{self, Mrz};

/// Largest image read (as for barcode decoding).
pub const MAX_PIXELS: u64 = decode::MAX_PIXELS;

/// A borrowed 8-bit luma image.
#[derive(Clone, Copy)]
struct Gray<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
}

/// Why an image could not be searched. "No MRZ" is not an error: it is `Ok(None)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcrError {
    #[error("a {width}×{height} image needs {expected} bytes of luma, got {actual}")]
    FrameSize {
        width: u32,
        height: u32,
        expected: u64,
        actual: usize,
    },
    #[error("the image is larger than {MAX_PIXELS} pixels")]
    TooLarge,
}

/// An MRZ read from an image; every check digit matched.
#[derive(Clone)]
pub struct MrzRead {
    mrz: Mrz,
    confidence: f32,
}

impl MrzRead {
    /// The parsed MRZ (valid: every check digit matched).
    pub fn mrz(&self) -> &Mrz {
        &self.mrz
    }
    /// The parsed MRZ, to be reduced with [`Mrz::personal_data`].
    pub fn into_mrz(self) -> Mrz {
        self.mrz
    }
    /// Mean template similarity of the characters read, 0 to 1 (clean prints reach about
    /// 0.9, camera frames 0.8; below 0.6 nothing is returned).
    pub fn confidence(&self) -> f32 {
        self.confidence
    }
}

/// Only the format and the confidence; the text is personal data.
impl fmt::Debug for MrzRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MrzRead")
            .field("format", &self.mrz.format())
            .field("confidence", &self.confidence)
            .finish_non_exhaustive()
    }
}

/// Reads are not trusted below this mean similarity.
const MIN_CONFIDENCE: f32 = 0.6;

/// A runner-up is tried where it scores within this of the best reading.
const AMBIGUOUS: f32 = 0.15;

/// Where no check digit covers a position, the best reading must lead by this much.
const UNCHECKED_MARGIN: f32 = 0.04;

/// Finds and reads an MRZ in an 8-bit luma image (row-major, `width` × `height` bytes),
/// upright or upside down. `Ok(None)` when there is none or it cannot be read with every
/// check digit matching. Frames without an MRZ cost one binarization and a component pass.
///
/// # Errors
/// [`OcrError`] if the buffer does not match the size or the image is too large.
pub fn read_mrz(luma: &[u8], width: u32, height: u32) -> Result<Option<MrzRead>, OcrError> {
    let image = check(luma, width, height)?;
    Ok(read_both_ways(&image))
}

/// Like [`read_mrz`], and also tries the image turned by 90° both ways: office scanners
/// deliver ID cards and passports in any orientation. Costs up to twice as much.
///
/// # Errors
/// As [`read_mrz`].
pub fn read_mrz_any_orientation(
    luma: &[u8],
    width: u32,
    height: u32,
) -> Result<Option<MrzRead>, OcrError> {
    let image = check(luma, width, height)?;
    if let Some(read) = read_both_ways(&image) {
        return Ok(Some(read));
    }
    let turned = transpose(&image);
    Ok(read_both_ways(&Gray {
        data: &turned,
        width: image.height,
        height: image.width,
    }))
}

/// Reads the MRZ from an image file (PNG, JPEG, WebP, TIFF) or the first PDF page that has
/// one, in any orientation (office scanners, `lotse scan mrz --image`).
///
/// # Errors
/// [`DecodeError`] if the file cannot be read or is no image or PDF.
pub fn read_mrz_file(path: &Path) -> Result<Option<MrzRead>, DecodeError> {
    for page in decode::load_pages(path)? {
        match read_mrz_any_orientation(page.as_raw(), page.width(), page.height()) {
            Ok(Some(read)) => return Ok(Some(read)),
            Ok(None) => {}
            // Pages come from the image decoder, whose size checks are the same.
            Err(OcrError::TooLarge) => return Err(DecodeError::TooLarge),
            Err(OcrError::FrameSize { .. }) => {}
        }
    }
    Ok(None)
}

/// Validates the buffer against its size.
fn check(luma: &[u8], width: u32, height: u32) -> Result<Gray<'_>, OcrError> {
    let expected = u64::from(width) * u64::from(height);
    if expected > MAX_PIXELS {
        return Err(OcrError::TooLarge);
    }
    if luma.len() as u64 != expected {
        return Err(OcrError::FrameSize {
            width,
            height,
            expected,
            actual: luma.len(),
        });
    }
    Ok(Gray {
        data: luma,
        width: width as usize,
        height: height as usize,
    })
}

/// Upright, and turned by 180° when a band was found but not read.
fn read_both_ways(image: &Gray<'_>) -> Option<MrzRead> {
    let (read, bands_seen) = read_upright(image);
    if read.is_some() || !bands_seen {
        return read;
    }
    let turned: Vec<u8> = image.data.iter().rev().copied().collect();
    read_upright(&Gray {
        data: &turned,
        ..*image
    })
    .0
}

/// The image turned 90° clockwise; with the 180° attempt of [`read_both_ways`] this also
/// covers 90° anticlockwise.
fn transpose(image: &Gray<'_>) -> Vec<u8> {
    // Rotate 90° clockwise: new (x, y) = old (y, H - 1 - x).
    let (w, h) = (image.width, image.height);
    let mut out = Vec::with_capacity(w * h);
    for y in 0..w {
        for x in 0..h {
            out.push(image.data.get((h - 1 - x) * w + y).copied().unwrap_or(255));
        }
    }
    out
}

/// Reads the first band that yields a valid MRZ; also says whether any band was seen.
fn read_upright(image: &Gray<'_>) -> (Option<MrzRead>, bool) {
    if image.width < 64 || image.height < 16 {
        return (None, false);
    }
    let bands = detect::find_bands(image);
    let seen = !bands.is_empty();
    for band in bands.iter().take(4) {
        if let Some(read) = read_band(image, band) {
            return (Some(read), true);
        }
    }
    (None, seen)
}

/// What a position of a layout may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Letters and fillers: codes, states, names.
    Alpha,
    /// Digits only: dates, the composite check digit.
    Digit,
    /// A check digit that may also be a filler (long document numbers, empty personal number).
    Check,
    /// `M`, `F`, `X` or `<`.
    Sex,
    /// Document numbers, optional data: anything.
    Any,
}

impl Kind {
    fn allows(self, c: u8) -> bool {
        match self {
            Kind::Alpha => c.is_ascii_uppercase() || c == b'<',
            Kind::Digit => c.is_ascii_digit(),
            Kind::Check => c.is_ascii_digit() || c == b'<',
            Kind::Sex => matches!(c, b'M' | b'F' | b'X' | b'<'),
            Kind::Any => true,
        }
    }
}

/// The field type of a position (ICAO 9303 parts 4 to 7); `visa` for MRV-A/B.
fn kind(lines: usize, chars: usize, visa: bool, line: usize, col: usize) -> Kind {
    use Kind::*;
    if lines == 3 {
        return match (line, col) {
            (0, 0..5) => Alpha,
            (0, 14) => Check,
            (0, _) => Any,
            (1, 0..6 | 8..14) => Digit,
            (1, 6 | 14 | 29) => Digit,
            (1, 7) => Sex,
            (1, 15..18) => Alpha,
            (1, _) => Any,
            _ => Alpha,
        };
    }
    match (line, col) {
        (0, _) => Alpha,
        (_, 9) => Check,
        (_, 10..13) => Alpha,
        (_, 13..20 | 21..28) => Digit,
        (_, 20) => Sex,
        (_, 42) if chars == 44 && !visa => Check,
        (_, 43) if chars == 44 && !visa => Digit,
        (_, 35) if chars == 36 && !visa => Digit,
        _ => Any,
    }
}

/// The look-alike of a glyph in the other alphabet: the confusions of text repair, and
/// `D` and `Q`, which the OCR-B templates also mistake for `0`.
fn look_alike(c: u8) -> Option<u8> {
    if matches!(c, b'D' | b'Q') {
        return Some(b'0');
    }
    crate::scanning::mrz::CONFUSIONS
        .iter()
        .find_map(|&(l, d)| (l == c).then_some(d).or((d == c).then_some(l)))
}

/// Whether a check digit covers the position (or is one). Document codes, states, names,
/// sex and a visa's optional data are covered by none: a misread there would go unnoticed.
fn checked(lines: usize, visa: bool, line: usize, col: usize) -> bool {
    if lines == 3 {
        // Line 2 column 7 is the sex, 15..=17 the nationality.
        return matches!((line, col), (0, 5..) | (1, 0..=6 | 8..=14 | 18..));
    }
    // Line 2 columns 10..=12 are the nationality, 20 the sex.
    match (line, col) {
        (1, 0..=9 | 13..=19 | 21..=27) => true,
        (1, 28..) => !visa,
        _ => false,
    }
}

/// A position's readings allowed by its field type, best first. A glyph that looks most
/// like a character the field cannot hold (a letter in a date) is read as its look-alike,
/// as `mrz::parse_with_repair` would; the check digits still have to agree.
fn candidates(scores: &classify::Scores, kind: Kind) -> Vec<(u8, f32)> {
    let mut all: Vec<(u8, f32)> = classify::ALPHABET
        .iter()
        .copied()
        .zip(scores.iter().copied())
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut out: Vec<(u8, f32)> = Vec::with_capacity(3);
    if let Some(&(best, score)) = all.first()
        && !kind.allows(best)
        && let Some(alike) = look_alike(best).filter(|&c| kind.allows(c))
    {
        out.push((alike, score));
    }
    for &(c, score) in &all {
        if out.len() == 3 {
            break;
        }
        if kind.allows(c) && out.iter().all(|&(o, _)| o != c) {
            out.push((c, score));
        }
    }
    out
}

fn read_band(image: &Gray<'_>, band: &detect::Band) -> Option<MrzRead> {
    let scores: Vec<Vec<classify::Scores>> = band
        .lines
        .iter()
        .map(|line| {
            (0..band.chars)
                .map(|i| classify::classify(image, line, i))
                .collect()
        })
        .collect();
    // A visa's document code starts with V; that decides between TD2/TD3 and MRV-B/MRV-A.
    let visa = band.lines.len() == 2
        && scores
            .first()
            .and_then(|line| line.first())
            .and_then(|s| candidates(s, Kind::Alpha).first().copied())
            .is_some_and(|(c, _)| c == b'V');
    let mut text: Vec<Vec<u8>> = Vec::with_capacity(scores.len());
    let mut chosen = Vec::new();
    // (margin to the runner-up, line, column, runner-up) where a check digit can decide.
    let mut doubts: Vec<(f32, usize, usize, u8)> = Vec::new();
    for (l, line) in scores.iter().enumerate() {
        let mut row = Vec::with_capacity(line.len());
        for (col, s) in line.iter().enumerate() {
            let kind = kind(band.lines.len(), band.chars, visa, l, col);
            let options = candidates(s, kind);
            let (best, score) = options.first().copied()?;
            row.push(best);
            chosen.push(score);
            let checked = checked(band.lines.len(), visa, l, col);
            for &(alt, alt_score) in options.iter().skip(1) {
                let margin = score - alt_score;
                if !checked && margin < UNCHECKED_MARGIN {
                    // A name or a state that could as well read otherwise: nothing would
                    // notice, so it is not read at all.
                    return None;
                }
                if checked && margin < AMBIGUOUS {
                    doubts.push((margin, l, col, alt));
                }
            }
        }
        text.push(row);
    }
    let confidence = chosen.iter().sum::<f32>() / chosen.len().max(1) as f32;
    if confidence < MIN_CONFIDENCE {
        return None;
    }
    let parse = |lines: &[Vec<u8>]| -> Option<Mrz> {
        let joined = lines
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        mrz::parse_with_repair(&joined).ok().filter(Mrz::is_valid)
    };
    let done = |mrz: Mrz| Some(MrzRead { mrz, confidence });
    if let Some(mrz) = parse(&text) {
        return done(mrz);
    }
    // Runner-ups of the least certain positions, one at a time, then two at a time.
    doubts.sort_by(|a, b| a.0.total_cmp(&b.0));
    doubts.truncate(16);
    let with = |changes: &[&(f32, usize, usize, u8)]| {
        let mut lines = text.clone();
        for &&(_, l, col, c) in changes {
            if let Some(slot) = lines.get_mut(l).and_then(|row| row.get_mut(col)) {
                *slot = c;
            }
        }
        lines
    };
    for doubt in &doubts {
        if let Some(mrz) = parse(&with(&[doubt])) {
            return done(mrz);
        }
    }
    for (i, a) in doubts.iter().enumerate().take(10) {
        for b in doubts.iter().skip(i + 1).take(10) {
            if (a.1, a.2) != (b.1, b.2)
                && let Some(mrz) = parse(&with(&[a, b]))
            {
                return done(mrz);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
