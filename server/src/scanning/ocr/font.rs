//! The embedded OCR-B font (ISO 1073-2, the MRZ typeface) and a small outline rasterizer:
//! glyph templates for matching (`glyphs.rs`) and the synthetic test pages (`synth.rs`) are
//! drawn from the same outlines.
//!
//! `OCRB.otf` is Matthew Skala's OCR-B (public domain) built from Norbert Schwarz's
//! METAFONT sources (free to use without limitation), as packaged by Debian
//! (`fonts-ocr-b` 0.3~dfsg1-1); see `LICENSE-OCR-B.txt` beside it.

use std::sync::OnceLock;

use ab_glyph_rasterizer::point;
use rustybuzz::ttf_parser;

pub(crate) use crate::glyph::Outline;

/// The font file, 18 KB.
pub(crate) const OCR_B: &[u8] = include_bytes!("OCRB.otf");

/// The parsed face; parsing the embedded file cannot fail in practice, `None` if it did.
pub(crate) fn face() -> Option<&'static ttf_parser::Face<'static>> {
    static FACE: OnceLock<Option<ttf_parser::Face<'static>>> = OnceLock::new();
    FACE.get_or_init(|| ttf_parser::Face::parse(OCR_B, 0).ok())
        .as_ref()
}

/// The outline of `c` with the pen at `(x, baseline)` in pixels, `px_per_unit` pixels per
/// font unit, optionally rotated by `angle` (radians, clockwise on screen) about the pen.
pub(crate) fn outline(c: char, x: f32, baseline: f32, px_per_unit: f32, angle: f32) -> Outline {
    let Some(face) = face() else {
        return Outline::default();
    };
    let Some(glyph) = face.glyph_index(c) else {
        return Outline::default();
    };
    let (sin, cos) = angle.sin_cos();
    Outline::of_glyph(face, glyph, |fx: f32, fy: f32| {
        let (dx, dy) = (fx * px_per_unit, -fy * px_per_unit);
        point(x + dx * cos - dy * sin, baseline + dx * sin + dy * cos)
    })
}

/// The horizontal advance of `c` in font units (OCR-B is fixed pitch).
pub(crate) fn advance(c: char) -> f32 {
    face()
        .and_then(|face| face.glyph_hor_advance(face.glyph_index(c)?))
        .map_or(0.0, f32::from)
}

/// The ink box of `c` in font units (x0, y0, x1, y1), y up.
#[cfg(test)]
pub(crate) fn ink_box(c: char) -> Option<(f32, f32, f32, f32)> {
    let face = face()?;
    let rect = face.glyph_bounding_box(face.glyph_index(c)?)?;
    Some((
        f32::from(rect.x_min),
        f32::from(rect.y_min),
        f32::from(rect.x_max),
        f32::from(rect.y_max),
    ))
}

/// Adds the outline's coverage (0..1) into `canvas` (`width` columns, row-major), clipped.
pub(crate) fn fill(outline: &Outline, canvas: &mut [f32], width: usize) {
    if width == 0 {
        return;
    }
    let height = canvas.len() / width;
    outline.rasterize(|x, y, a| {
        if x >= 0 && y >= 0 && (x as usize) < width && (y as usize) < height {
            let cell = &mut canvas[y as usize * width + x as usize];
            *cell = (*cell + a).min(1.0);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_has_every_mrz_character_at_one_pitch() {
        assert!(face().is_some());
        let pitch = advance('0');
        assert!(pitch > 0.0);
        for c in ('A'..='Z').chain('0'..='9').chain(['<']) {
            assert_eq!(advance(c), pitch, "{c}");
            assert!(ink_box(c).is_some(), "{c}");
        }
    }
}
