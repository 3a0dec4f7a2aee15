//! Reading one character cell: the cell is resampled from the full image into a small grid
//! in the line's own frame (so skew costs nothing), centred on its ink, and compared by
//! normalised cross-correlation with OCR-B templates rendered from the embedded font in a
//! few stroke weights. Every class keeps its score, so the caller can restrict a position to
//! its field's alphabet and try runners-up where check digits disagree.

use std::sync::OnceLock;

use super::Gray;
use super::detect::Line;
use super::font;

/// The MRZ alphabet; scores are indexed like this.
pub(super) const ALPHABET: &[u8; 37] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<";

/// Grid size of a cell: the cap height (700 font units) is 24 rows; one pitch is 24.8 columns.
const ROWS: usize = 32;
const COLS: usize = 24;
/// Baseline row and the column the ink's centroid is put on.
const BASE_ROW: f32 = 29.0;
const CENTRE_COL: f32 = COLS as f32 / 2.0;
/// Font units per grid unit.
const UNITS_PER_GRID: f32 = 700.0 / 24.0;
/// The sampled patch is one grid unit larger on each side for the ±1 shift search.
const PATCH_COLS: usize = COLS + 2;
const PATCH_ROWS: usize = ROWS + 2;

/// One template: zero-mean, unit-norm, `ROWS * COLS`.
struct Template {
    class: usize,
    pixels: Vec<f32>,
}

/// How soft the templates are: one image pixel spans more grid units on a small print, so
/// its templates are blurred more.
const SOFTNESS_LEVELS: usize = 3;

/// Templates of every class in several renderings (sharp, blurred, bold, light), at the
/// softness that suits a pitch of `pitch` image pixels.
fn templates(pitch: f32) -> &'static [Template] {
    static TEMPLATES: [OnceLock<Vec<Template>>; SOFTNESS_LEVELS] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    // Grid units per image pixel: 1 at a pitch of 25 px (300 dpi), 2 at 12.
    let level = ((25.0 / pitch.max(1.0)).round() as usize).clamp(1, SOFTNESS_LEVELS) - 1;
    TEMPLATES[level].get_or_init(|| {
        let mut out = Vec::new();
        for (class, &c) in ALPHABET.iter().enumerate() {
            let mut sharp = render(char::from(c));
            for _ in 0..level {
                sharp = blur(&sharp);
            }
            let blurred = blur(&sharp);
            let bold: Vec<f32> = blurred.iter().map(|v| (v * 1.8).min(1.0)).collect();
            let light: Vec<f32> = blurred
                .iter()
                .map(|v| ((v - 0.45) * 2.2).max(0.0))
                .collect();
            for pixels in [sharp, blurred, bold, light] {
                if let Some(pixels) = normalise(pixels) {
                    out.push(Template { class, pixels });
                }
            }
        }
        out
    })
}

/// Renders `c` into the grid: baseline on [`BASE_ROW`], ink centroid on [`CENTRE_COL`].
fn render(c: char) -> Vec<f32> {
    let scale = 1.0 / UNITS_PER_GRID;
    let draw = |pen: f32| {
        let mut grid = vec![0.0f32; ROWS * COLS];
        font::fill(
            &font::outline(c, pen, BASE_ROW, scale, 0.0),
            &mut grid,
            COLS,
        );
        grid
    };
    let advance = font::advance(c) * scale;
    let first = draw(CENTRE_COL - advance / 2.0);
    let shift = centroid_x(&first, COLS).map_or(0.0, |x| CENTRE_COL - x);
    draw(CENTRE_COL - advance / 2.0 + shift)
}

/// The x centroid (in grid units, pixel centres at +0.5) of a row-major grid's weights.
fn centroid_x(grid: &[f32], cols: usize) -> Option<f32> {
    let (mut sum, mut moment) = (0.0f32, 0.0f32);
    for row in grid.chunks_exact(cols) {
        for (x, &v) in row.iter().enumerate() {
            sum += v;
            moment += v * (x as f32 + 0.5);
        }
    }
    (sum > 0.0).then(|| moment / sum)
}

/// 3×3 binomial blur: the softness of a print seen through a camera or a 150 dpi scan.
fn blur(grid: &[f32]) -> Vec<f32> {
    let at = |x: isize, y: isize| -> f32 {
        if x < 0 || y < 0 || x >= COLS as isize || y >= ROWS as isize {
            0.0
        } else {
            grid.get(y as usize * COLS + x as usize)
                .copied()
                .unwrap_or(0.0)
        }
    };
    let mut out = vec![0.0; ROWS * COLS];
    for y in 0..ROWS as isize {
        for x in 0..COLS as isize {
            let mut sum = 0.0;
            for (dy, wy) in [(-1, 1.0), (0, 2.0), (1, 1.0)] {
                for (dx, wx) in [(-1, 1.0), (0, 2.0), (1, 1.0)] {
                    sum += wy * wx * at(x + dx, y + dy);
                }
            }
            out[y as usize * COLS + x as usize] = sum / 16.0;
        }
    }
    out
}

/// Zero mean, unit norm; `None` for a blank grid.
fn normalise(mut pixels: Vec<f32>) -> Option<Vec<f32>> {
    let mean = pixels.iter().sum::<f32>() / pixels.len() as f32;
    let mut norm = 0.0;
    for p in &mut pixels {
        *p -= mean;
        norm += *p * *p;
    }
    let norm = norm.sqrt();
    if norm <= 1e-6 {
        return None;
    }
    for p in &mut pixels {
        *p /= norm;
    }
    Some(pixels)
}

/// Bilinear sample of darkness (255 − luma); outside the image is paper.
fn darkness(image: &Gray<'_>, x: f32, y: f32) -> f32 {
    let (w, h) = (image.width as isize, image.height as isize);
    let (fx, fy) = (x - 0.5, y - 0.5);
    let (x0, y0) = (fx.floor(), fy.floor());
    let (ax, ay) = (fx - x0, fy - y0);
    let (x0, y0) = (x0 as isize, y0 as isize);
    let px = |xx: isize, yy: isize| -> f32 {
        if xx < 0 || yy < 0 || xx >= w || yy >= h {
            0.0
        } else {
            255.0
                - image
                    .data
                    .get(yy as usize * image.width + xx as usize)
                    .map_or(255.0, |&v| f32::from(v))
        }
    };
    let top = px(x0, y0) * (1.0 - ax) + px(x0 + 1, y0) * ax;
    let bottom = px(x0, y0 + 1) * (1.0 - ax) + px(x0 + 1, y0 + 1) * ax;
    top * (1.0 - ay) + bottom * ay
}

/// A character cell on a line: where it is and how large a grid unit is, in image pixels.
struct Cell<'a> {
    image: &'a Gray<'a>,
    line: &'a Line,
    /// The baseline point under the cell's nominal centre.
    base: (f32, f32),
    /// Image pixels per grid unit.
    unit: f32,
}

impl Cell<'_> {
    /// Samples `cols`×`rows` grid units whose column `CENTRE_COL + col_offset` lies on the
    /// nominal centre and whose row [`BASE_ROW`] + `row_offset` lies on the baseline.
    fn sample(&self, cols: usize, rows: usize, col_offset: f32, row_offset: f32) -> Vec<f32> {
        let (ux, uy) = (self.line.dir.0 * self.unit, self.line.dir.1 * self.unit);
        let (nx, ny) = self.line.normal();
        let (nx, ny) = (nx * self.unit, ny * self.unit);
        let mut out = Vec::with_capacity(cols * rows);
        for r in 0..rows {
            let v = r as f32 + 0.5 - BASE_ROW - row_offset;
            for c in 0..cols {
                let u = c as f32 + 0.5 - CENTRE_COL - col_offset;
                out.push(darkness(
                    self.image,
                    self.base.0 + u * ux + v * nx,
                    self.base.1 + u * uy + v * ny,
                ));
            }
        }
        out
    }
}

/// Per class, the best score of any rendering and shift (−1 .. 1).
pub(super) type Scores = [f32; 37];

/// Reads the cell of character `index` on `line`.
pub(super) fn classify(image: &Gray<'_>, line: &Line, index: usize) -> Scores {
    let cell = Cell {
        image,
        line,
        base: line.base_point(index),
        unit: line.pitch * UNITS_PER_GRID / font::advance('0').max(1.0),
    };

    // Centre the cell on its ink: a window one pitch wide, re-centred once.
    const WIDE: usize = COLS + 12;
    let wide = cell.sample(WIDE, ROWS, 6.0, 0.0);
    let (lo, hi) = wide
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if hi - lo < 20.0 {
        return [0.0; 37];
    }
    let threshold = (lo + hi) / 2.0;
    let mut centre = CENTRE_COL + 6.0;
    for _ in 0..2 {
        let (mut sum, mut moment) = (0.0f32, 0.0f32);
        for row in wide.chunks_exact(WIDE) {
            for (x, &v) in row.iter().enumerate() {
                let xc = x as f32 + 0.5;
                if (xc - centre).abs() <= 12.0 && v > threshold {
                    sum += v - threshold;
                    moment += (v - threshold) * xc;
                }
            }
        }
        if sum <= 0.0 {
            break;
        }
        centre = (moment / sum).clamp(CENTRE_COL + 1.0, CENTRE_COL + 11.0);
    }
    let shift = centre - (CENTRE_COL + 6.0);

    let patch = cell.sample(PATCH_COLS, PATCH_ROWS, 1.0 - shift, 1.0);
    // Centred norms of the nine shifted windows.
    let patch: &[f32] = &patch;
    let window = |sx: usize, sy: usize| {
        (0..ROWS).map(move |r| {
            let start = (r + sy) * PATCH_COLS + sx;
            patch.get(start..start + COLS).unwrap_or_default()
        })
    };
    let mut norms = [[0.0f32; 3]; 3];
    for (sy, row) in norms.iter_mut().enumerate() {
        for (sx, norm) in row.iter_mut().enumerate() {
            let (mut sum, mut sq) = (0.0f32, 0.0f32);
            for slice in window(sx, sy) {
                for &v in slice {
                    sum += v;
                    sq += v * v;
                }
            }
            let n = (ROWS * COLS) as f32;
            *norm = (sq - sum * sum / n).max(0.0).sqrt();
        }
    }
    let score = |template: &Template, sx: usize, sy: usize| -> f32 {
        let norm = norms[sy][sx];
        if norm <= 1e-3 {
            return 0.0;
        }
        let mut dot = 0.0f32;
        for (t, slice) in template.pixels.chunks_exact(COLS).zip(window(sx, sy)) {
            dot += t.iter().zip(slice).map(|(a, b)| a * b).sum::<f32>();
        }
        dot / norm
    };

    let mut scores = [f32::MIN; 37];
    let all = templates(line.pitch);
    for template in all {
        if let Some(s) = scores.get_mut(template.class) {
            *s = s.max(score(template, 1, 1));
        }
    }
    // The shift search only for the classes that came close.
    let mut order: Vec<usize> = (0..37).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    for &class in order.iter().take(6) {
        for template in all.iter().filter(|t| t.class == class) {
            for sy in 0..3 {
                for sx in 0..3 {
                    if (sx, sy) != (1, 1) {
                        scores[class] = scores[class].max(score(template, sx, sy));
                    }
                }
            }
        }
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_templates_and_each_matches_itself_best() {
        let all = templates(25.0);
        assert_eq!(all.len(), 37 * 4);
        for t in all.iter().step_by(4) {
            let best = all
                .iter()
                .max_by(|a, b| {
                    let dot = |x: &Template| {
                        x.pixels
                            .iter()
                            .zip(&t.pixels)
                            .map(|(p, q)| p * q)
                            .sum::<f32>()
                    };
                    dot(a).total_cmp(&dot(b))
                })
                .map(|b| b.class);
            assert_eq!(best, Some(t.class));
        }
    }
}
