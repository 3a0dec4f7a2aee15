//! Glyph outlines to ink coverage, shared by the printed ticket (`tickets::raster`) and the
//! MRZ reader's OCR-B templates and test pages (`scanning::ocr`), so letters are drawn one
//! way: outlines from `ttf-parser` (via rustybuzz), coverage from `ab_glyph_rasterizer`.

use ab_glyph_rasterizer::{Point, Rasterizer, point};
use rustybuzz::ttf_parser::{self, GlyphId, OutlineBuilder};

/// A glyph's outline as segments in pixel coordinates (y down).
#[derive(Debug, Default, Clone)]
pub struct Outline {
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

impl Outline {
    /// The outline of `glyph`, each point in font units (y up) mapped to pixels by `map`;
    /// empty for blank glyphs (spaces) and glyphs the face lacks.
    pub fn of_glyph(
        face: &ttf_parser::Face<'_>,
        glyph: GlyphId,
        map: impl Fn(f32, f32) -> Point,
    ) -> Outline {
        let mut builder = Builder {
            map,
            start: point(0.0, 0.0),
            last: point(0.0, 0.0),
            out: Vec::new(),
        };
        if face.outline_glyph(glyph, &mut builder).is_none() {
            return Outline::default();
        }
        Outline {
            segments: builder.out,
        }
    }

    /// Rasterizes the outline and hands every inked pixel `(x, y, coverage 0..1)` to `ink`,
    /// in canvas coordinates (possibly outside the canvas: the caller clips). A broken
    /// outline larger than 4096 pixels is never worth the allocation and draws nothing.
    pub fn rasterize(&self, mut ink: impl FnMut(i64, i64, f32)) {
        if self.segments.is_empty() {
            return;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        let mut grow = |p: &Point| {
            x0 = x0.min(p.x);
            y0 = y0.min(p.y);
            x1 = x1.max(p.x);
            y1 = y1.max(p.y);
        };
        for s in &self.segments {
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
        let local = |p: &Point| point(p.x - ox, p.y - oy);
        let mut r = Rasterizer::new(w as usize, h as usize);
        for s in &self.segments {
            match s {
                Segment::Line(a, b) => r.draw_line(local(a), local(b)),
                Segment::Quad(a, b, c) => r.draw_quad(local(a), local(b), local(c)),
                Segment::Cubic(a, b, c, d) => r.draw_cubic(local(a), local(b), local(c), local(d)),
            }
        }
        r.for_each_pixel_2d(|px, py, a| {
            if a > 0.0 {
                ink(ox as i64 + i64::from(px), oy as i64 + i64::from(py), a);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filled square of 10×10 pixels inks its 100 pixels fully and nothing else.
    #[test]
    fn a_square_is_inked_exactly() {
        let mut o = Outline::default();
        let c = [
            point(2.0, 3.0),
            point(12.0, 3.0),
            point(12.0, 13.0),
            point(2.0, 13.0),
        ];
        for i in 0..4 {
            o.segments.push(Segment::Line(c[i], c[(i + 1) % 4]));
        }
        let mut inked = Vec::new();
        o.rasterize(|x, y, a| inked.push((x, y, a)));
        assert_eq!(inked.len(), 100);
        assert!(inked.iter().all(|&(x, y, a)| {
            (2..12).contains(&x) && (3..13).contains(&y) && (a - 1.0).abs() < 1e-3
        }));
        Outline::default().rasterize(|_, _, _| panic!("an empty outline inks nothing"));
    }
}
