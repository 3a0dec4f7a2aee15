//! The embedded OCR-B font (ISO 1073-2, the MRZ typeface) and a small outline rasterizer:
//! glyph templates for matching (`glyphs.rs`) and the synthetic test pages (`synth.rs`) are
//! drawn from the same outlines.
//!
//! `OCRB.otf` is Matthew Skala's OCR-B (public domain) built from Norbert Schwarz's
//! METAFONT sources (free to use without limitation), as packaged by Debian
//! (`fonts-ocr-b` 0.3~dfsg1-1); see `LICENSE-OCR-B.txt` beside it.

use std::sync::OnceLock;

use ab_glyph_rasterizer::{Point, Rasterizer, point};
use rustybuzz::ttf_parser::{self, OutlineBuilder};

/// The font file, 18 KB.
pub(crate) const OCR_B: &[u8] = include_bytes!("OCRB.otf");

/// The parsed face; parsing the embedded file cannot fail in practice, `None` if it did.
pub(crate) fn face() -> Option<&'static ttf_parser::Face<'static>> {
    static FACE: OnceLock<Option<ttf_parser::Face<'static>>> = OnceLock::new();
    FACE.get_or_init(|| ttf_parser::Face::parse(OCR_B, 0).ok())
        .as_ref()
}

/// An outline as segments in pixel coordinates (y down).
#[derive(Debug, Default, Clone)]
pub(crate) struct Outline {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, Copy)]
enum Segment {
    Line(Point, Point),
    Quad(Point, Point, Point),
    Cubic(Point, Point, Point, Point),
}

/// Collects an outline, mapping font units (y up) through `map` to pixels.
struct Builder<F: Fn(f32, f32) -> Point> {
    map: F,
    start: Point,
    last: Point,
    out: Vec<Segment>,
}

impl<F: Fn(f32, f32) -> Point> OutlineBuilder for Builder<F> {
    fn move_to(&mut self, x: f32, y: f32) {
        self.start = (self.map)(x, y);
        self.last = self.start;
    }
    fn line_to(&mut self, x: f32, y: f32) {
        let p = (self.map)(x, y);
        self.out.push(Segment::Line(self.last, p));
        self.last = p;
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (c, p) = ((self.map)(x1, y1), (self.map)(x, y));
        self.out.push(Segment::Quad(self.last, c, p));
        self.last = p;
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (c1, c2, p) = ((self.map)(x1, y1), (self.map)(x2, y2), (self.map)(x, y));
        self.out.push(Segment::Cubic(self.last, c1, c2, p));
        self.last = p;
    }
    fn close(&mut self) {
        if self.last != self.start {
            self.out.push(Segment::Line(self.last, self.start));
        }
        self.last = self.start;
    }
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
    let mut builder = Builder {
        map: |fx: f32, fy: f32| {
            let (dx, dy) = (fx * px_per_unit, -fy * px_per_unit);
            point(x + dx * cos - dy * sin, baseline + dx * sin + dy * cos)
        },
        start: point(0.0, 0.0),
        last: point(0.0, 0.0),
        out: Vec::new(),
    };
    face.outline_glyph(glyph, &mut builder);
    Outline {
        segments: builder.out,
    }
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
    if outline.segments.is_empty() || width == 0 {
        return;
    }
    let height = canvas.len() / width;
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    let mut grow = |p: &Point| {
        x0 = x0.min(p.x);
        y0 = y0.min(p.y);
        x1 = x1.max(p.x);
        y1 = y1.max(p.y);
    };
    for s in &outline.segments {
        match s {
            Segment::Line(a, b) => [a, b].into_iter().for_each(&mut grow),
            Segment::Quad(a, b, c) => [a, b, c].into_iter().for_each(&mut grow),
            Segment::Cubic(a, b, c, d) => [a, b, c, d].into_iter().for_each(&mut grow),
        }
    }
    let (ox, oy) = (x0.floor(), y0.floor());
    let (w, h) = ((x1 - ox).ceil() + 1.0, (y1 - oy).ceil() + 1.0);
    if !(w.is_finite() && h.is_finite()) || w > 4096.0 || h > 4096.0 {
        return;
    }
    let (w, h) = (w as usize, h as usize);
    let local = |p: &Point| point(p.x - ox, p.y - oy);
    let mut r = Rasterizer::new(w, h);
    for s in &outline.segments {
        match s {
            Segment::Line(a, b) => r.draw_line(local(a), local(b)),
            Segment::Quad(a, b, c) => r.draw_quad(local(a), local(b), local(c)),
            Segment::Cubic(a, b, c, d) => r.draw_cubic(local(a), local(b), local(c), local(d)),
        }
    }
    r.for_each_pixel_2d(|px, py, a| {
        let (cx, cy) = (ox as i64 + i64::from(px), oy as i64 + i64::from(py));
        if a > 0.0 && cx >= 0 && cy >= 0 && (cx as usize) < width && (cy as usize) < height {
            let cell = &mut canvas[cy as usize * width + cx as usize];
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
