//! Finding the MRZ band: adaptive binarization, connected components, chains of
//! glyph-sized components (text lines), and groups of 2 or 3 parallel lines of equal length
//! with a character count of an MRZ layout (30, 36 or 44).
//!
//! Detection runs on a box-filtered copy of at most [`DETECT_PIXELS`] pixels, so a 300 dpi
//! page costs about as much as a camera frame; the geometry found is mapped back to the full
//! image, from which `classify.rs` reads the characters.

use super::Gray;

/// Detection works on images of at most this many pixels (a 300 dpi A4 page is halved).
const DETECT_PIXELS: usize = 2_600_000;

/// Smallest component height (detection pixels) that can be a glyph.
const MIN_GLYPH_HEIGHT: usize = 6;

/// One MRZ text line in full-image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Line {
    /// The centre of the first character's cell, at the height of the line's centre.
    pub origin: (f32, f32),
    /// Unit vector along the line (reading direction).
    pub dir: (f32, f32),
    /// Distance between character centres.
    pub pitch: f32,
    /// Distance from the line's centre to the baseline (along the normal, downwards).
    pub baseline: f32,
}

impl Line {
    /// Unit normal pointing down the page.
    pub fn normal(&self) -> (f32, f32) {
        (-self.dir.1, self.dir.0)
    }

    /// The point on the baseline under character `index`'s centre.
    pub fn base_point(&self, index: usize) -> (f32, f32) {
        let t = index as f32 * self.pitch;
        let (nx, ny) = self.normal();
        (
            self.origin.0 + t * self.dir.0 + self.baseline * nx,
            self.origin.1 + t * self.dir.1 + self.baseline * ny,
        )
    }
}

/// A candidate MRZ: its lines top to bottom, all `chars` long.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Band {
    pub lines: Vec<Line>,
    pub chars: usize,
}

/// A connected component's box (inclusive) and pixel count, in detection pixels.
#[derive(Debug, Clone, Copy)]
struct Component {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    area: usize,
}

impl Component {
    fn width(&self) -> usize {
        self.x1 - self.x0 + 1
    }
    fn height(&self) -> usize {
        self.y1 - self.y0 + 1
    }
    fn cx(&self) -> f32 {
        (self.x0 + self.x1) as f32 / 2.0
    }
    fn cy(&self) -> f32 {
        (self.y0 + self.y1) as f32 / 2.0
    }
}

/// Candidate bands, most plausible first (lowest on the page first among equals, as the MRZ
/// sits at the bottom of a document).
pub(super) fn find_bands(image: &Gray<'_>) -> Vec<Band> {
    let owned = downscale(image);
    let (small, factor) = match &owned {
        Some((data, width, height, factor)) => (
            Gray {
                data,
                width: *width,
                height: *height,
            },
            *factor,
        ),
        None => (*image, 1),
    };
    let ink = binarize(&small);
    let components = components(&ink, small.width, small.height);
    let lines = text_lines(&components, small.height);
    let mut bands = group_lines(&lines);
    // Back to full-image pixels: detection pixel x covers full pixels x*f .. x*f+f-1.
    let f = factor as f32;
    let offset = (f - 1.0) / 2.0;
    for band in &mut bands {
        for line in &mut band.lines {
            line.origin = (line.origin.0 * f + offset, line.origin.1 * f + offset);
            line.pitch *= f;
            line.baseline *= f;
        }
    }
    bands
}

/// Box-filters by the smallest integer factor that brings the image under [`DETECT_PIXELS`]:
/// `(pixels, width, height, factor)`, or `None` if it is small enough already.
fn downscale(image: &Gray<'_>) -> Option<(Vec<u8>, usize, usize, usize)> {
    let pixels = image.width * image.height;
    let mut factor = 1;
    while pixels / (factor * factor) > DETECT_PIXELS {
        factor += 1;
    }
    if factor == 1 {
        return None;
    }
    let (w, h) = (image.width / factor, image.height / factor);
    let mut data = Vec::with_capacity(w * h);
    let area = (factor * factor) as u32;
    for y in 0..h {
        for x in 0..w {
            let mut sum = 0u32;
            for row in image
                .data
                .chunks_exact(image.width)
                .skip(y * factor)
                .take(factor)
            {
                sum += row
                    .iter()
                    .skip(x * factor)
                    .take(factor)
                    .map(|&p| u32::from(p))
                    .sum::<u32>();
            }
            data.push((sum / area) as u8);
        }
    }
    Some((data, w, h, factor))
}

/// Local-mean (Bradley) thresholding: ink is clearly darker than its neighbourhood, which
/// copes with the uneven light of camera frames and with tinted document backgrounds.
fn binarize(image: &Gray<'_>) -> Vec<bool> {
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 {
        return Vec::new();
    }
    // Integral image with a zero row and column in front.
    let stride = w + 1;
    let mut integral = vec![0u32; stride * (h + 1)];
    for y in 0..h {
        let mut row_sum = 0u32;
        for x in 0..w {
            row_sum += u32::from(image.data[y * w + x]);
            integral[(y + 1) * stride + x + 1] = integral[y * stride + x + 1] + row_sum;
        }
    }
    let radius = (w.min(h) / 40).clamp(7, 40);
    let mut ink = vec![false; w * h];
    for y in 0..h {
        let (ya, yb) = (y.saturating_sub(radius), (y + radius + 1).min(h));
        for x in 0..w {
            let (xa, xb) = (x.saturating_sub(radius), (x + radius + 1).min(w));
            let sum = u64::from(integral[yb * stride + xb]) + u64::from(integral[ya * stride + xa])
                - u64::from(integral[ya * stride + xb])
                - u64::from(integral[yb * stride + xa]);
            let count = ((yb - ya) * (xb - xa)) as u64;
            let p = u64::from(image.data[y * w + x]);
            // Darker than 85 % of the local mean and by at least 12 grey levels.
            ink[y * w + x] = p * 100 * count < sum * 85 && p * count + 12 * count < sum;
        }
    }
    ink
}

/// 8-connected components of ink, via runs per row and union-find.
fn components(ink: &[bool], w: usize, h: usize) -> Vec<Component> {
    #[derive(Clone, Copy)]
    struct Run {
        x0: usize,
        x1: usize,
        y: usize,
    }
    let mut runs: Vec<Run> = Vec::new();
    let mut row_start = Vec::with_capacity(h + 1);
    for (y, row) in ink.chunks_exact(w.max(1)).enumerate().take(h) {
        row_start.push(runs.len());
        let mut x = 0;
        while x < w {
            if row[x] {
                let x0 = x;
                while x < w && row[x] {
                    x += 1;
                }
                runs.push(Run { x0, x1: x - 1, y });
            } else {
                x += 1;
            }
        }
    }
    row_start.push(runs.len());

    let mut parent: Vec<usize> = (0..runs.len()).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for y in 1..h {
        let (prev, cur) = (
            row_start[y - 1]..row_start[y],
            row_start[y]..row_start[y + 1],
        );
        let mut j = prev.start;
        for i in cur {
            let run = runs[i];
            // Skip previous-row runs that end left of this run (8-connectivity: touching diagonally).
            while j < prev.end && runs[j].x1 + 1 < run.x0 {
                j += 1;
            }
            let mut k = j;
            while k < prev.end && runs[k].x0 <= run.x1 + 1 {
                let (a, b) = (find(&mut parent, i), find(&mut parent, k));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
                k += 1;
            }
        }
    }
    let mut index = vec![usize::MAX; runs.len()];
    let mut out: Vec<Component> = Vec::new();
    for (i, &run) in runs.iter().enumerate() {
        let root = find(&mut parent, i);
        let len = run.x1 - run.x0 + 1;
        if index[root] == usize::MAX {
            index[root] = out.len();
            out.push(Component {
                x0: run.x0,
                y0: run.y,
                x1: run.x1,
                y1: run.y,
                area: len,
            });
        } else if let Some(c) = out.get_mut(index[root]) {
            c.x0 = c.x0.min(run.x0);
            c.x1 = c.x1.max(run.x1);
            c.y0 = c.y0.min(run.y);
            c.y1 = c.y1.max(run.y);
            c.area += len;
        }
    }
    out
}

/// A text line found in the detection image.
#[derive(Debug, Clone)]
struct TextLine {
    /// Point on the line through the glyph centres at `t = 0`.
    origin: (f32, f32),
    dir: (f32, f32),
    pitch: f32,
    /// Position (along `dir`) of the first and last character centres.
    first: f32,
    last: f32,
    /// Glyph height and the baseline's distance below the centre line.
    height: f32,
    baseline: f32,
}

impl TextLine {
    fn count(&self) -> f32 {
        (self.last - self.first) / self.pitch + 1.0
    }
    /// Signed distance of a point from the centre line (down is positive).
    fn offset(&self, p: (f32, f32)) -> f32 {
        (p.0 - self.origin.0) * -self.dir.1 + (p.1 - self.origin.1) * self.dir.0
    }
    fn along(&self, p: (f32, f32)) -> f32 {
        (p.0 - self.origin.0) * self.dir.0 + (p.1 - self.origin.1) * self.dir.1
    }
}

/// Links glyph-sized components left to right into chains and fits a line to each long one.
fn text_lines(all: &[Component], image_height: usize) -> Vec<TextLine> {
    let max_height = (image_height / 4).max(MIN_GLYPH_HEIGHT);
    let mut glyphs: Vec<Component> = all
        .iter()
        .copied()
        .filter(|c| {
            let (w, h) = (c.width(), c.height());
            (MIN_GLYPH_HEIGHT..=max_height).contains(&h)
                && w * 4 <= h * 9
                && c.area * 100 >= w * h * 5
                && c.area * 100 <= w * h * 98
        })
        .collect();
    // Pages full of noise: the longest lines are what matters; cap the work.
    if glyphs.len() > 60_000 {
        return Vec::new();
    }
    glyphs.sort_by(|a, b| a.cx().total_cmp(&b.cx()));

    // Each glyph's nearest plausible right neighbour; conflicts go to the closer left glyph.
    let n = glyphs.len();
    let mut right = vec![usize::MAX; n];
    let mut left = vec![usize::MAX; n];
    let mut left_dist = vec![f32::MAX; n];
    for i in 0..n {
        let a = glyphs[i];
        let ha = a.height() as f32;
        let mut best = (usize::MAX, f32::MAX);
        for (j, b) in glyphs.iter().enumerate().skip(i + 1) {
            let gap = b.x0 as f32 - a.x1 as f32;
            if b.cx() - a.cx() > 2.5 * ha {
                break;
            }
            let hb = b.height() as f32;
            let ratio = ha / hb;
            if b.cx() <= a.cx() + 0.3 * ha
                || gap > 1.1 * ha
                || !(0.6..=1.67).contains(&ratio)
                || (b.cy() - a.cy()).abs() > 0.3 * ha.max(hb)
            {
                continue;
            }
            let dist = b.cx() - a.cx();
            if dist < best.1 {
                best = (j, dist);
            }
        }
        let (j, dist) = best;
        if j != usize::MAX && dist < left_dist[j] {
            if left[j] != usize::MAX {
                right[left[j]] = usize::MAX;
            }
            left[j] = i;
            left_dist[j] = dist;
            right[i] = j;
        }
    }

    let mut lines = Vec::new();
    for start in 0..n {
        if left[start] != usize::MAX || right[start] == usize::MAX {
            continue;
        }
        let mut chain = vec![glyphs[start]];
        let mut at = start;
        while right[at] != usize::MAX && chain.len() <= 200 {
            at = right[at];
            chain.push(glyphs[at]);
        }
        // Pieces of a line are joined below; a TD1 line has 30 characters.
        if chain.len() >= 8
            && let Some(line) = fit_line(&chain)
        {
            lines.push(line);
        }
    }
    merge_pieces(lines)
}

/// Joins collinear pieces of one text line: a smudge, a fold or a run of fillers printed
/// into one blot breaks a chain, but the pieces keep the line's direction, height and pitch.
fn merge_pieces(mut pieces: Vec<TextLine>) -> Vec<TextLine> {
    pieces.sort_by(|a, b| {
        line_point(a, a.first)
            .0
            .total_cmp(&line_point(b, b.first).0)
    });
    let mut lines: Vec<TextLine> = Vec::new();
    'pieces: for piece in pieces {
        let start = line_point(&piece, piece.first);
        for line in &mut lines {
            let gap = line.along(start) - line.last;
            if line.offset(start).abs() < 0.3 * line.height
                && (piece.height / line.height - 1.0).abs() < 0.25
                && (piece.pitch / line.pitch - 1.0).abs() < 0.1
                && gap > 0.5 * line.pitch
                && gap < 8.0 * line.pitch
            {
                line.last = line.along(line_point(&piece, piece.last));
                continue 'pieces;
            }
        }
        lines.push(piece);
    }
    lines
}

fn median(values: &mut [f32]) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f32::total_cmp);
    values.get(values.len() / 2).copied()
}

fn percentile(values: &mut [f32], p: usize) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f32::total_cmp);
    values.get((values.len() - 1) * p / 100).copied()
}

/// Least-squares line through the chain's glyph centres, then the character pitch fitted to
/// the centres' positions (glyphs lost or merged by binarization leave gaps, not errors).
fn fit_line(chain: &[Component]) -> Option<TextLine> {
    let mut heights: Vec<f32> = chain.iter().map(|c| c.height() as f32).collect();
    let height = median(&mut heights)?;
    let points: Vec<(f32, f32)> = chain
        .iter()
        .filter(|c| (c.height() as f32) > 0.75 * height && (c.width() as f32) < 1.2 * height)
        .map(|c| (c.cx(), c.cy()))
        .collect();
    if points.len() < 12 {
        return None;
    }
    let count = points.len() as f32;
    let mx = points.iter().map(|p| p.0).sum::<f32>() / count;
    let my = points.iter().map(|p| p.1).sum::<f32>() / count;
    let sxx: f32 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f32 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    // MRZs are read up to about 10° off horizontal; the rest is another orientation.
    if slope.abs() > 0.18 {
        return None;
    }
    let norm = (1.0 + slope * slope).sqrt();
    let mut line = TextLine {
        origin: (mx, my),
        dir: (1.0 / norm, slope / norm),
        pitch: 0.0,
        first: 0.0,
        last: 0.0,
        height,
        baseline: 0.0,
    };

    // Pitch: median spacing of neighbours, then a least-squares fit of t = t0 + k * pitch.
    let along: Vec<f32> = points.iter().map(|&p| line.along(p)).collect();
    let mut steps: Vec<f32> = along.windows(2).map(|w| w[1] - w[0]).collect();
    let step = median(&mut steps)?;
    if step <= 0.0 {
        return None;
    }
    let first = *along.first()?;
    let ks: Vec<f32> = along
        .iter()
        .map(|&t| ((t - first) / step).round())
        .collect();
    let (mk, mt) = (
        ks.iter().sum::<f32>() / count,
        along.iter().sum::<f32>() / count,
    );
    let skk: f32 = ks.iter().map(|k| (k - mk) * (k - mk)).sum();
    let skt: f32 = ks
        .iter()
        .zip(&along)
        .map(|(k, t)| (k - mk) * (t - mt))
        .sum();
    if skk <= 0.0 {
        return None;
    }
    line.pitch = skt / skk;
    let t0 = mt - line.pitch * mk;
    if !(line.pitch > 0.5 * step && line.pitch < 1.5 * step) {
        return None;
    }
    // Every glyph of the chain (merged ones too) bounds the line's extent.
    let all: Vec<f32> = chain.iter().map(|c| line.along((c.cx(), c.cy()))).collect();
    let k_of = |t: f32| ((t - t0) / line.pitch).round();
    let k_first = all.iter().map(|&t| k_of(t)).fold(f32::MAX, f32::min);
    let k_last = all.iter().map(|&t| k_of(t)).fold(f32::MIN, f32::max);
    line.first = t0 + k_first * line.pitch;
    line.last = t0 + k_last * line.pitch;

    let mut bottoms: Vec<f32> = chain
        .iter()
        .filter(|c| (c.height() as f32) > 0.75 * height)
        .map(|c| line.offset((c.cx(), c.y1 as f32 + 0.5)))
        .collect();
    line.baseline = percentile(&mut bottoms, 75)?;
    Some(line)
}

/// Groups parallel, left-aligned lines of a common MRZ length into bands.
fn group_lines(lines: &[TextLine]) -> Vec<Band> {
    let mut sorted: Vec<&TextLine> = lines.iter().filter(|l| l.count() >= 24.0).collect();
    sorted.sort_by(|a, b| a.origin.1.total_cmp(&b.origin.1));
    let mut bands = Vec::new();
    for (i, top) in sorted.iter().enumerate() {
        let mut group = vec![*top];
        for next in sorted.iter().skip(i + 1) {
            let Some(prev) = group.last() else { break };
            if group.len() == 3 {
                break;
            }
            let spacing = prev.offset(line_point(next, next.first));
            let height = prev.height.max(next.height);
            let aligned = (prev.along(line_point(next, next.first)) - prev.first).abs()
                < 1.5 * prev.pitch
                || (prev.along(line_point(next, next.last)) - prev.last).abs() < 1.5 * prev.pitch;
            let angle = (prev.dir.0 * next.dir.1 - prev.dir.1 * next.dir.0).abs();
            if spacing > 1.1 * height
                && spacing < 3.2 * height
                && aligned
                && angle < 0.04
                && (next.pitch / prev.pitch - 1.0).abs() < 0.1
            {
                group.push(next);
            } else if spacing >= 3.2 * height {
                break;
            }
        }
        for size in [3usize, 2] {
            if let Some(lines) = group.get(..size)
                && let Some(band) = make_band(lines)
            {
                bands.push(band);
            }
        }
    }
    // Longer bands and bands lower on the page first.
    bands.sort_by(|a, b| {
        (b.lines.len() * b.chars)
            .cmp(&(a.lines.len() * a.chars))
            .then(b.lines[0].origin.1.total_cmp(&a.lines[0].origin.1))
    });
    bands.dedup();
    bands
}

fn line_point(line: &TextLine, t: f32) -> (f32, f32) {
    (
        line.origin.0 + t * line.dir.0,
        line.origin.1 + t * line.dir.1,
    )
}

/// A band if the lines agree on an MRZ length: every line of a layout starts in the same
/// column, so a line that lost its first or last glyph takes the start of the others.
fn make_band(lines: &[&TextLine]) -> Option<Band> {
    let target: &[usize] = if lines.len() == 3 { &[30] } else { &[36, 44] };
    let longest = lines.iter().map(|l| l.count()).fold(0.0, f32::max);
    let chars = *target
        .iter()
        .find(|&&n| (longest - n as f32).abs() <= 1.5_f32.max(n as f32 * 0.04))?;
    // The pitch: from the span of the lines that have the right length (the first and last
    // centres are measured), else the fitted pitches.
    let spans: Vec<f32> = lines
        .iter()
        .filter(|l| (l.count() - chars as f32).abs() < 0.5)
        .map(|l| (l.last - l.first) / (chars - 1) as f32)
        .collect();
    let pitch = if spans.is_empty() {
        lines.iter().map(|l| l.pitch).sum::<f32>() / lines.len() as f32
    } else {
        spans.iter().sum::<f32>() / spans.len() as f32
    };
    let top = lines.first()?;
    // Start column: from the lines whose length is right, projected onto the first line.
    let starts: Vec<f32> = lines
        .iter()
        .filter(|l| (l.count() - chars as f32).abs() < 0.5)
        .map(|l| top.along(line_point(l, l.first)))
        .collect();
    let start = if starts.is_empty() {
        // No line has exactly the right length; keep the longest line's start.
        let l = lines
            .iter()
            .max_by(|a, b| a.count().total_cmp(&b.count()))?;
        top.along(line_point(l, l.first))
    } else {
        starts.iter().sum::<f32>() / starts.len() as f32
    };
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let t = line.along(line_point(top, start));
        let origin = line_point(line, t);
        out.push(Line {
            origin,
            dir: line.dir,
            pitch,
            baseline: line.baseline,
        });
    }
    Some(Band { lines: out, chars })
}
