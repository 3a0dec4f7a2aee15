//! Text shaping, bidi reordering and word wrapping.
//!
//! A paragraph is wrapped in logical order (greedy, at spaces), then each line is
//! reordered with the Unicode bidi algorithm (`unicode-bidi`), split into runs of one
//! direction and one font, and shaped with `rustybuzz`. The result is a list of glyphs
//! in visual order with pen positions in dots, which both back-ends draw unchanged;
//! that is what keeps "A-007" readable inside an Arabic sentence.

use std::ops::Range;

use rustybuzz::{Direction, Face, Language, UnicodeBuffer};
use unicode_bidi::{BidiInfo, Level};

use super::{FaceId, Fonts, TicketError};

/// Weight of a text line; each maps to a Latin and an Arabic face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    Regular,
    Bold,
}

impl Weight {
    fn faces(self) -> (FaceId, FaceId) {
        match self {
            Weight::Regular => (FaceId::Regular, FaceId::ArabicRegular),
            Weight::Bold => (FaceId::Bold, FaceId::ArabicBold),
        }
    }
}

/// Paragraph base direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseDir {
    Ltr,
    Rtl,
}

/// One glyph placed on a line, in visual order.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedGlyph {
    pub face: FaceId,
    pub glyph_id: u16,
    /// Pen position from the line's left edge, in dots.
    pub x: f32,
    /// Vertical offset from the baseline, in dots, positive upwards (marks).
    pub y: f32,
    /// Advance in dots.
    pub advance: f32,
    /// The characters this glyph stands for (first glyph of a cluster only), so the
    /// PDF stays searchable and copyable.
    pub text: Option<String>,
}

/// A shaped, visually ordered line of text.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapedLine {
    pub glyphs: Vec<PlacedGlyph>,
    /// Em size in dots.
    pub size: f32,
    /// Advance width of the whole line in dots.
    pub width: f32,
    /// Distance from the top of the line box to the baseline, in dots.
    pub ascent: f32,
    /// Distance from the baseline to the bottom of the line box, in dots.
    pub descent: f32,
    pub dir: BaseDir,
}

impl ShapedLine {
    /// Height of the line box.
    pub fn height(&self) -> f32 {
        self.ascent + self.descent
    }
}

/// The four faces parsed once for one rendering.
pub struct Shaper<'a> {
    faces: [Face<'a>; 4],
    language: Option<Language>,
}

impl std::fmt::Debug for Shaper<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shaper")
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// Arabic-script blocks: these always take the Arabic face.
fn is_arabic(c: char) -> bool {
    matches!(c as u32,
        0x0600..=0x06FF | 0x0750..=0x077F | 0x0870..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF)
}

/// Characters that take the face of their neighbours (spaces, digits, punctuation).
fn is_neutral(c: char) -> bool {
    !c.is_alphabetic() && !is_arabic(c)
}

impl<'a> Shaper<'a> {
    /// Parses the faces; `language` (a BCP 47 tag such as `fa`) selects
    /// language-specific forms, e.g. Persian digits and letter shapes.
    pub fn new(fonts: &'a Fonts, language: &str) -> Result<Self, TicketError> {
        let face = |id: FaceId| {
            Face::from_slice(fonts.bytes(id), 0).ok_or_else(|| TicketError::Font {
                name: id.file_name().to_string(),
                reason: "cannot be parsed".into(),
            })
        };
        Ok(Shaper {
            faces: [
                face(FaceId::Regular)?,
                face(FaceId::Bold)?,
                face(FaceId::ArabicRegular)?,
                face(FaceId::ArabicBold)?,
            ],
            language: language.parse().ok(),
        })
    }

    fn face(&self, id: FaceId) -> &Face<'a> {
        match id {
            FaceId::Regular => &self.faces[0],
            FaceId::Bold => &self.faces[1],
            FaceId::ArabicRegular => &self.faces[2],
            FaceId::ArabicBold => &self.faces[3],
        }
    }

    fn has_glyph(&self, id: FaceId, c: char) -> bool {
        self.face(id).glyph_index(c).is_some()
    }

    /// Picks a face for every char of `text`: Arabic script → Arabic face, other
    /// letters → Latin face, neutrals follow the preceding letter (so the space and
    /// comma inside an Arabic phrase do not break the run), when that face has them.
    fn assign_faces(&self, text: &str, weight: Weight) -> Vec<FaceId> {
        let (latin, arabic) = weight.faces();
        let strong = |c: char| {
            if is_arabic(c) || (!self.has_glyph(latin, c) && self.has_glyph(arabic, c)) {
                arabic
            } else {
                latin
            }
        };
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::with_capacity(chars.len());
        let mut prev: Option<FaceId> = None;
        for (i, &c) in chars.iter().enumerate() {
            let id = if is_neutral(c) {
                let next_strong = chars[i + 1..]
                    .iter()
                    .find(|&&n| !is_neutral(n))
                    .map(|&n| strong(n));
                let pick = prev.or(next_strong).unwrap_or(latin);
                if self.has_glyph(pick, c) {
                    pick
                } else if self.has_glyph(latin, c) {
                    latin
                } else {
                    arabic
                }
            } else {
                strong(c)
            };
            if !is_neutral(c) {
                prev = Some(id);
            }
            out.push(id);
        }
        out
    }

    /// Shapes one visual run (single direction) and appends its glyphs at `pen`.
    /// Returns the new pen position.
    #[allow(clippy::too_many_arguments)]
    fn shape_run(
        &self,
        line: &str,
        run: Range<usize>,
        rtl: bool,
        weight: Weight,
        size: f32,
        mut pen: f32,
        out: &mut Vec<PlacedGlyph>,
        used: &mut Vec<FaceId>,
    ) -> f32 {
        let text = &line[run.clone()];
        let faces = self.assign_faces(text, weight);
        // Split into same-face pieces (byte ranges within `line`), in logical order.
        let mut pieces: Vec<(FaceId, Range<usize>)> = Vec::new();
        for ((off, c), id) in text.char_indices().zip(faces) {
            let (at, end) = (run.start + off, run.start + off + c.len_utf8());
            match pieces.last_mut() {
                Some((last, r)) if *last == id => r.end = end,
                _ => pieces.push((id, at..end)),
            }
        }
        if rtl {
            pieces.reverse();
        }
        for (id, range) in pieces {
            let face = self.face(id);
            if !used.contains(&id) {
                used.push(id);
            }
            let mut buf = UnicodeBuffer::new();
            buf.push_str(&line[range.clone()]);
            // Context lets letters join across a face change or run boundary.
            buf.set_pre_context(&line[..range.start]);
            buf.set_post_context(&line[range.end..]);
            buf.set_direction(if rtl {
                Direction::RightToLeft
            } else {
                Direction::LeftToRight
            });
            if let Some(lang) = &self.language {
                buf.set_language(lang.clone());
            }
            buf.guess_segment_properties();
            let shaped = rustybuzz::shape(face, &[], buf);
            let scale = size / face.units_per_em() as f32;
            let piece = &line[range];
            // Cluster values are byte offsets into `piece`; each cluster's text runs
            // to the next larger cluster start.
            let mut starts: Vec<usize> = shaped
                .glyph_infos()
                .iter()
                .map(|g| g.cluster as usize)
                .collect();
            starts.sort_unstable();
            starts.dedup();
            let mut seen = Vec::new();
            for (info, pos) in shaped.glyph_infos().iter().zip(shaped.glyph_positions()) {
                let cluster = info.cluster as usize;
                let text = if seen.contains(&cluster) {
                    None
                } else {
                    seen.push(cluster);
                    let end = starts
                        .iter()
                        .copied()
                        .find(|&s| s > cluster)
                        .unwrap_or(piece.len());
                    piece.get(cluster..end).map(str::to_string)
                };
                out.push(PlacedGlyph {
                    face: id,
                    glyph_id: u16::try_from(info.glyph_id).unwrap_or(0),
                    x: pen + pos.x_offset as f32 * scale,
                    y: pos.y_offset as f32 * scale,
                    advance: pos.x_advance as f32 * scale,
                    text,
                });
                pen += pos.x_advance as f32 * scale;
            }
        }
        pen
    }

    /// Shapes `para[range]` as one visual line.
    fn shape_line(
        &self,
        bidi: &BidiInfo<'_>,
        range: Range<usize>,
        weight: Weight,
        size: f32,
        dir: BaseDir,
    ) -> ShapedLine {
        let mut glyphs = Vec::new();
        let mut used = Vec::new();
        let mut pen = 0.0;
        if let Some(para) = bidi.paragraphs.first() {
            let (levels, runs) = bidi.visual_runs(para, range);
            for run in runs {
                let rtl = levels.get(run.start).is_some_and(|l| l.is_rtl());
                pen = self.shape_run(
                    bidi.text,
                    run,
                    rtl,
                    weight,
                    size,
                    pen,
                    &mut glyphs,
                    &mut used,
                );
            }
        }
        let (latin, arabic) = weight.faces();
        if used.is_empty() {
            used.push(if dir == BaseDir::Rtl { arabic } else { latin });
        }
        let (mut ascent, mut descent) = (0.0f32, 0.0f32);
        for id in used {
            let face = self.face(id);
            let scale = size / face.units_per_em() as f32;
            let (mut a, mut d) = (
                f32::from(face.ascender()) * scale,
                -f32::from(face.descender()) * scale,
            );
            if matches!(id, FaceId::ArabicRegular | FaceId::ArabicBold) {
                // Noto Sans Arabic's line metrics (1.37 + 0.74 em) reserve room for
                // stacked marks that ticket texts never use; 1.5 em keeps paragraphs
                // compact while dots and marks of adjacent lines still clear.
                a = a.min(size);
                d = d.min(size * 0.5);
            }
            ascent = ascent.max(a);
            descent = descent.max(d);
        }
        ShapedLine {
            glyphs,
            size,
            width: pen,
            ascent,
            descent,
            dir,
        }
    }

    /// Shapes `text` and wraps it to `max_width` dots. Newlines start new paragraphs;
    /// a word wider than the line is broken between characters.
    pub fn wrap(
        &self,
        text: &str,
        weight: Weight,
        size: f32,
        dir: BaseDir,
        max_width: f32,
    ) -> Vec<ShapedLine> {
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let para = para.trim_end_matches('\r');
            let level = match dir {
                BaseDir::Ltr => Level::ltr(),
                BaseDir::Rtl => Level::rtl(),
            };
            let bidi = BidiInfo::new(para, Some(level));
            let shape = |r: Range<usize>| self.shape_line(&bidi, r, weight, size, dir);
            let mut start = skip_spaces(para, 0);
            if start >= para.len() {
                lines.push(shape(0..0));
                continue;
            }
            while start < para.len() {
                let mut chosen: Option<(usize, ShapedLine)> = None;
                for end in break_points(para, start) {
                    let line = shape(start..end);
                    let fits = line.width <= max_width;
                    if fits || chosen.is_none() {
                        chosen = Some((end, line));
                    }
                    if !fits {
                        break;
                    }
                }
                let Some((mut end, mut line)) = chosen else {
                    break;
                };
                if line.width > max_width {
                    // A single over-long word: take as many characters as fit, at
                    // least one so the loop always advances.
                    let first = para[start..].chars().next().map_or(1, char::len_utf8);
                    end = start + first;
                    line = shape(start..end);
                    for (off, _) in para[start..].char_indices().skip(2) {
                        let candidate = shape(start..start + off);
                        if candidate.width > max_width || start + off > end_of_word(para, start) {
                            break;
                        }
                        end = start + off;
                        line = candidate;
                    }
                }
                lines.push(line);
                start = skip_spaces(para, end);
            }
        }
        lines
    }

    /// Shapes `text` as a single line without wrapping (numbers, dates).
    pub fn line(&self, text: &str, weight: Weight, size: f32, dir: BaseDir) -> ShapedLine {
        let level = match dir {
            BaseDir::Ltr => Level::ltr(),
            BaseDir::Rtl => Level::rtl(),
        };
        let bidi = BidiInfo::new(text, Some(level));
        self.shape_line(&bidi, 0..text.len(), weight, size, dir)
    }

    /// Cap height of the Latin face in dots at `size`, for sizing the big number.
    pub fn cap_height(&self, weight: Weight, size: f32) -> f32 {
        let face = self.face(weight.faces().0);
        let units = face
            .capital_height()
            .map_or(face.units_per_em() as f32 * 0.714, f32::from);
        units * size / face.units_per_em() as f32
    }
}

/// End of the word starting at `start`.
fn end_of_word(s: &str, start: usize) -> usize {
    s[start..]
        .char_indices()
        .find(|(_, c)| c.is_whitespace())
        .map_or(s.len(), |(i, _)| start + i)
}

fn skip_spaces(s: &str, mut at: usize) -> usize {
    while let Some(c) = s[at..].chars().next() {
        if !c.is_whitespace() {
            break;
        }
        at += c.len_utf8();
    }
    at
}

/// Line-end candidates after `start`: before each space run, and the paragraph end.
fn break_points(s: &str, start: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut prev_space = true;
    for (i, c) in s[start..].char_indices() {
        let space = c.is_whitespace();
        if space && !prev_space {
            out.push(start + i);
        }
        prev_space = space;
    }
    if !prev_space {
        out.push(s.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::test_support;

    #[test]
    fn latin_wraps_within_width() {
        let fonts = test_support::fonts();
        let shaper = Shaper::new(&fonts, "de").expect("fonts parse");
        let text = "Bitte warten Sie, bis Ihre Nummer auf dem Bildschirm aufgerufen wird.";
        let lines = shaper.wrap(text, Weight::Regular, 24.0, BaseDir::Ltr, 300.0);
        assert!(lines.len() >= 2, "{} lines", lines.len());
        for l in &lines {
            assert!(l.width <= 300.0, "line {} too wide", l.width);
        }
        let rejoined: Vec<String> = lines
            .iter()
            .map(|l| l.glyphs.iter().filter_map(|g| g.text.clone()).collect())
            .collect();
        assert_eq!(rejoined.join(" "), text);
    }

    #[test]
    fn overlong_word_is_broken() {
        let fonts = test_support::fonts();
        let shaper = Shaper::new(&fonts, "de").expect("fonts parse");
        let lines = shaper.wrap(
            "Aufenthaltserlaubnisverlängerungsantrag",
            Weight::Bold,
            40.0,
            BaseDir::Ltr,
            200.0,
        );
        assert!(lines.len() >= 2);
        assert!(lines.iter().all(|l| l.width <= 200.0));
    }

    #[test]
    fn arabic_uses_arabic_face_and_joins() {
        let fonts = test_support::fonts();
        let shaper = Shaper::new(&fonts, "ar").expect("fonts parse");
        let line = shaper.line("رقم", Weight::Regular, 30.0, BaseDir::Rtl);
        assert!(line.glyphs.iter().all(|g| g.face == FaceId::ArabicRegular));
        // Joined forms differ from the isolated forms of the same letters.
        let isolated: Vec<u16> = ["ر", "ق", "م"]
            .iter()
            .map(|c| shaper.line(c, Weight::Regular, 30.0, BaseDir::Rtl).glyphs[0].glyph_id)
            .collect();
        let joined: Vec<u16> = line.glyphs.iter().map(|g| g.glyph_id).collect();
        assert_ne!(joined, isolated);
        // Visual order is right to left: the first logical letter (ر) comes last.
        assert_eq!(
            line.glyphs.last().and_then(|g| g.text.clone()).as_deref(),
            Some("ر")
        );
    }

    #[test]
    fn latin_number_inside_arabic_keeps_its_order() {
        let fonts = test_support::fonts();
        let shaper = Shaper::new(&fonts, "ar").expect("fonts parse");
        let line = shaper.line("رقمك A-007 الآن", Weight::Regular, 30.0, BaseDir::Rtl);
        let visual: String = line.glyphs.iter().filter_map(|g| g.text.clone()).collect();
        assert!(visual.contains("A-007"), "visual order: {visual}");
        // The logically first Arabic letter (ر of رقمك) is the rightmost glyph.
        let last = line.glyphs.last().and_then(|g| g.text.clone());
        assert_eq!(last.as_deref(), Some("ر"), "visual order: {visual}");
        let a = line
            .glyphs
            .iter()
            .find(|g| g.text.as_deref() == Some("A"))
            .expect("A shaped");
        assert_eq!(a.face, FaceId::Regular);
    }

    #[test]
    fn empty_text_gives_one_empty_line() {
        let fonts = test_support::fonts();
        let shaper = Shaper::new(&fonts, "de").expect("fonts parse");
        let lines = shaper.wrap("", Weight::Regular, 20.0, BaseDir::Ltr, 100.0);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].glyphs.is_empty());
        assert!(lines[0].height() > 0.0);
    }
}
