//! Draws a [`Layout`] into a 1-bit (pure black/white) bitmap for thermal printers.
//!
//! Glyph outlines come from the fonts via `ttf-parser` (re-exported by rustybuzz) and
//! are rasterized to coverage with `ab_glyph_rasterizer`; coverage is summed into one
//! canvas and thresholded at 50 %, so joined Arabic letters whose strokes meet at a
//! pixel edge do not leave hairline gaps. The logo is Floyd–Steinberg dithered.

use ab_glyph_rasterizer::point;
use image::{GrayImage, Luma};
use rustybuzz::ttf_parser::{self, GlyphId};

use crate::glyph::Outline;

use super::layout::{Item, Layout, layout_ticket};
use super::text::ShapedLine;
use super::{Catalog, FaceId, Fonts, PaperWidth, TicketError, TicketView};

/// Pixel value of ink in the returned bitmap.
pub const BLACK: u8 = 0;
/// Pixel value of bare paper.
pub const WHITE: u8 = 255;

/// Lays out and rasterizes the ticket: `paper.dots()` wide, pure black/white.
pub fn render_raster(
    view: &TicketView<'_>,
    catalog: &Catalog,
    fonts: &Fonts,
    paper: PaperWidth,
) -> Result<GrayImage, TicketError> {
    let layout = layout_ticket(view, catalog, fonts, paper)?;
    rasterize(&layout, fonts)
}

/// Encodes a rendered ticket as PNG (the preview shown to staff and written by the
/// simulated printer).
pub fn to_png(image: &GrayImage) -> Result<Vec<u8>, TicketError> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| TicketError::Png(e.to_string()))?;
    Ok(out.into_inner())
}

/// Coverage canvas, 0.0 = paper, 1.0 = ink.
struct Canvas {
    width: u32,
    height: u32,
    cov: Vec<f32>,
}

impl Canvas {
    fn add(&mut self, x: i64, y: i64, a: f32) {
        if x >= 0 && y >= 0 && (x as u32) < self.width && (y as u32) < self.height {
            let i = y as usize * self.width as usize + x as usize;
            self.cov[i] = (self.cov[i] + a).min(1.0);
        }
    }

    fn fill(&mut self, x: u32, y: u32, w: u32, h: u32) {
        for yy in y..y.saturating_add(h).min(self.height) {
            for xx in x..x.saturating_add(w).min(self.width) {
                self.cov[yy as usize * self.width as usize + xx as usize] = 1.0;
            }
        }
    }
}

fn draw_glyph(
    canvas: &mut Canvas,
    face: &ttf_parser::Face<'_>,
    glyph: u16,
    origin: (f32, f32),
    size: f32,
) {
    let scale = size / f32::from(face.units_per_em());
    // Font units are y-up; the canvas is y-down.
    let outline = Outline::of_glyph(face, GlyphId(glyph), |x, y| {
        point(origin.0 + x * scale, origin.1 - y * scale)
    });
    outline.rasterize(|x, y, a| canvas.add(x, y, a));
}

fn draw_line(
    canvas: &mut Canvas,
    faces: &[(FaceId, ttf_parser::Face<'_>)],
    x: f32,
    baseline: f32,
    line: &ShapedLine,
) {
    for g in &line.glyphs {
        if let Some((_, face)) = faces.iter().find(|(id, _)| *id == g.face) {
            draw_glyph(
                canvas,
                face,
                g.glyph_id,
                (x + g.x, baseline - g.y),
                line.size,
            );
        }
    }
}

/// Floyd–Steinberg: keeps gray logos recognisable on a printer that only knows ink
/// or no ink.
fn dither_into(canvas: &mut Canvas, image: &GrayImage, x0: u32, y0: u32) {
    let (w, h) = image.dimensions();
    let mut buf: Vec<f32> = image.pixels().map(|p| f32::from(p.0[0])).collect();
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) as usize;
            let old = buf[i];
            let ink = old < 128.0;
            let err = old - if ink { 0.0 } else { 255.0 };
            if ink {
                canvas.fill(x0 + x, y0 + y, 1, 1);
            }
            let mut spread = |dx: i64, dy: i64, f: f32| {
                let (nx, ny) = (i64::from(x) + dx, i64::from(y) + dy);
                if nx >= 0 && nx < i64::from(w) && ny < i64::from(h) {
                    buf[(ny as u32 * w + nx as u32) as usize] += err * f;
                }
            };
            spread(1, 0, 7.0 / 16.0);
            spread(-1, 1, 3.0 / 16.0);
            spread(0, 1, 5.0 / 16.0);
            spread(1, 1, 1.0 / 16.0);
        }
    }
}

/// Draws an already computed layout; exposed so callers can reuse one layout.
pub fn rasterize(layout: &Layout, fonts: &Fonts) -> Result<GrayImage, TicketError> {
    let mut faces = Vec::with_capacity(4);
    for id in FaceId::ALL {
        let face = ttf_parser::Face::parse(fonts.bytes(id), 0).map_err(|e| TicketError::Font {
            name: id.file_name().to_string(),
            reason: e.to_string(),
        })?;
        faces.push((id, face));
    }
    let (width, height) = (layout.width, layout.height.max(1));
    let mut canvas = Canvas {
        width,
        height,
        cov: vec![0.0; width as usize * height as usize],
    };
    for item in &layout.items {
        match item {
            Item::Text { x, baseline, line } => draw_line(&mut canvas, &faces, *x, *baseline, line),
            // The layout already keeps the quiet zone around the symbol blank.
            Item::Qr { x, y, module, qr } => {
                for (mx, my, len) in qr.dark_runs() {
                    canvas.fill(x + mx * module, y + my * module, len * module, *module);
                }
            }
            Item::Image { x, y, image } => dither_into(&mut canvas, image, *x, *y),
            Item::Rule {
                x,
                y,
                width,
                height,
            } => canvas.fill(*x, *y, *width, *height),
        }
    }
    Ok(GrayImage::from_fn(width, height, |x, y| {
        let c = canvas.cov[y as usize * width as usize + x as usize];
        Luma([if c >= 0.5 { BLACK } else { WHITE }])
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::test_support;

    fn render(lang: &str, paper: PaperWidth) -> GrayImage {
        let fonts = test_support::fonts();
        render_raster(
            &test_support::view(lang),
            &test_support::catalog(lang),
            &fonts,
            paper,
        )
        .expect("renders")
    }

    /// Rows containing ink, as (first, last) inclusive ranges.
    fn ink_bands(img: &GrayImage) -> Vec<(u32, u32)> {
        let mut bands = Vec::new();
        let mut start = None;
        for y in 0..img.height() {
            let ink = (0..img.width()).any(|x| img.get_pixel(x, y).0[0] == BLACK);
            match (ink, start) {
                (true, None) => start = Some(y),
                (false, Some(s)) => {
                    bands.push((s, y - 1));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            bands.push((s, img.height() - 1));
        }
        bands
    }

    fn ink_columns(img: &GrayImage, rows: (u32, u32)) -> Option<(u32, u32)> {
        let cols: Vec<u32> = (0..img.width())
            .filter(|&x| (rows.0..=rows.1).any(|y| img.get_pixel(x, y).0[0] == BLACK))
            .collect();
        Some((*cols.first()?, *cols.last()?))
    }

    #[test]
    fn width_matches_paper_and_pixels_are_binary() {
        for (paper, w) in [(PaperWidth::Mm58, 384), (PaperWidth::Mm80, 576)] {
            let img = render("de", paper);
            assert_eq!(img.width(), w);
            assert!(img.height() > 400);
            assert!(img.pixels().all(|p| p.0[0] == BLACK || p.0[0] == WHITE));
        }
    }

    #[test]
    fn number_is_very_large() {
        for paper in [PaperWidth::Mm58, PaperWidth::Mm80] {
            let img = render("de", paper);
            let tallest = ink_bands(&img)
                .iter()
                .map(|(a, b)| b - a + 1)
                .max()
                .unwrap_or(0);
            // The QR is the tallest band; the number is the tallest text band.
            let bands = ink_bands(&img);
            let text_max = bands
                .iter()
                .map(|(a, b)| b - a + 1)
                .filter(|&h| h < tallest)
                .max()
                .unwrap_or(0);
            assert!(text_max >= 80, "{paper:?}: number only {text_max} px tall");
        }
    }

    #[test]
    fn arabic_body_lines_are_right_aligned() {
        for lang in ["ar", "fa"] {
            let img = render(lang, PaperWidth::Mm80);
            let fonts = test_support::fonts();
            let layout = layout_ticket(
                &test_support::view(lang),
                &test_support::catalog(lang),
                &fonts,
                PaperWidth::Mm80,
            )
            .expect("layout");
            // The "people ahead" line is start-aligned: for RTL that is the right.
            let line = layout
                .items
                .iter()
                .find_map(|i| match i {
                    Item::Text { baseline, line, .. }
                        if line.glyphs.iter().any(|g| g.text.as_deref() == Some("3")) =>
                    {
                        Some((*baseline, line.clone()))
                    }
                    _ => None,
                })
                .expect("people-ahead line");
            let rows = (
                (line.0 - line.1.ascent * 0.6) as u32,
                (line.0 + line.1.descent * 0.3) as u32,
            );
            let (left, right) = ink_columns(&img, rows).expect("ink");
            let right_gap = img.width() - 1 - right;
            assert!(right_gap < 20, "{lang}: right gap {right_gap}");
            assert!(
                left > right_gap * 3,
                "{lang}: left {left}, right gap {right_gap}"
            );
        }
    }

    #[test]
    fn qr_in_the_raster_decodes() {
        for lang in ["de", "ar"] {
            for paper in [PaperWidth::Mm58, PaperWidth::Mm80] {
                let img = render(lang, paper);
                let text = crate::tickets::qr::tests::decode(
                    img.as_raw().clone(),
                    img.width(),
                    img.height(),
                );
                assert_eq!(
                    text.as_deref(),
                    Some(test_support::STATUS_URL),
                    "{lang} {paper:?}"
                );
            }
        }
    }

    #[test]
    fn write_pngs_for_inspection() {
        let Ok(dir) = std::env::var("TICKETS_PNG_DIR") else {
            return;
        };
        let fonts = test_support::fonts();
        for lang in ["de", "uk", "ar", "fa"] {
            for (paper, tag) in [(PaperWidth::Mm58, "58"), (PaperWidth::Mm80, "80")] {
                let img = render(lang, paper);
                let path = std::path::Path::new(&dir).join(format!("ticket-{lang}-{tag}.png"));
                img.save(&path).expect("png written");
                // The same with the kiosk's real texts, when the catalogs are there.
                if let Some(cat) = test_support::kiosk_catalog(lang) {
                    let img = render_raster(&test_support::view(lang), &cat, &fonts, paper)
                        .expect("renders");
                    let path = std::path::Path::new(&dir).join(format!("kiosk-{lang}-{tag}.png"));
                    img.save(&path).expect("png written");
                }
            }
        }
        // A gray, round logo shows the dithering.
        let logo = GrayImage::from_fn(300, 120, |x, y| {
            let (dx, dy) = (x as f32 - 60.0, y as f32 - 60.0);
            let inside = dx * dx + dy * dy < 55.0 * 55.0;
            Luma([if inside {
                (x * 2).min(200) as u8
            } else if x > 130 && (40..80).contains(&y) {
                0
            } else {
                255
            }])
        });
        let mut view = test_support::view("de");
        view.logo = Some(&logo);
        let img = render_raster(
            &view,
            &test_support::catalog("de"),
            &fonts,
            PaperWidth::Mm58,
        )
        .expect("renders");
        img.save(std::path::Path::new(&dir).join("logo-de-58.png"))
            .expect("png written");
    }
}
