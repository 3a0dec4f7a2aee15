//! Draws the same [`Layout`] as a one-page PDF (80 mm wide, as long as the ticket).
//!
//! Text is not re-laid out by the PDF library: every glyph is placed by glyph id at the
//! position our shaper computed, with the embedded (subset) Noto fonts, so Arabic
//! joining and RTL order are exactly those of the thermal print. Each glyph carries
//! its source characters for the ToUnicode map, so the PDF stays searchable. The QR
//! code is drawn as vector squares and the logo as a grayscale image.

use printpdf::{
    Codepoint, Color, FontId, Greyscale, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument,
    PdfFontHandle, PdfPage, PdfParseErrorSeverity, PdfSaveOptions, Point, Polygon, PolygonRing, Pt,
    RawImage, RawImageData, RawImageFormat, TextItem, TextMatrix, WindingOrder, XObjectTransform,
};

use super::layout::{Item, Layout, layout_ticket};
use super::{Catalog, DPI, FaceId, Fonts, PaperWidth, TicketError, TicketView};

/// PDF points per printer dot.
const PT_PER_DOT: f32 = 72.0 / DPI;
/// Blank border above and below the content.
const MARGIN_Y_MM: f32 = 4.0;

/// Lays out the ticket for 80 mm paper and returns it as PDF bytes.
pub fn render_pdf(
    view: &TicketView<'_>,
    catalog: &Catalog,
    fonts: &Fonts,
) -> Result<Vec<u8>, TicketError> {
    let layout = layout_ticket(view, catalog, fonts, PaperWidth::Mm80)?;
    layout_to_pdf(&layout, fonts, &format!("Lotse {}", view.number.trim()))
}

/// Maps layout dots to PDF points (origin bottom-left).
struct Page {
    height: f32,
    margin_x: f32,
    margin_y: f32,
}

impl Page {
    fn x(&self, dots: f32) -> Pt {
        Pt(self.margin_x + dots * PT_PER_DOT)
    }
    fn y(&self, dots: f32) -> Pt {
        Pt(self.height - self.margin_y - dots * PT_PER_DOT)
    }
    /// A filled rectangle ring from layout dots (top-left origin).
    fn rect(&self, x: f32, y: f32, w: f32, h: f32) -> PolygonRing {
        let (x0, x1) = (self.x(x), self.x(x + w));
        let (y0, y1) = (self.y(y + h), self.y(y));
        let p = |x: Pt, y: Pt| LinePoint {
            p: Point { x, y },
            bezier: false,
        };
        PolygonRing {
            points: vec![p(x0, y0), p(x1, y0), p(x1, y1), p(x0, y1)],
        }
    }
}

fn fill(rings: Vec<PolygonRing>) -> Op {
    Op::DrawPolygon {
        polygon: Polygon {
            rings,
            mode: PaintMode::Fill,
            winding_order: WindingOrder::NonZero,
        },
    }
}

/// Draws an already computed layout into a PDF page as wide as its paper roll.
pub fn layout_to_pdf(layout: &Layout, fonts: &Fonts, title: &str) -> Result<Vec<u8>, TicketError> {
    let page_w_mm = layout.paper.roll_mm();
    let page_w = Mm(page_w_mm).into_pt().0;
    let margin_y = Mm(MARGIN_Y_MM).into_pt().0;
    let content_h = layout.height as f32 * PT_PER_DOT;
    let page = Page {
        height: content_h + 2.0 * margin_y,
        margin_x: (page_w - layout.width as f32 * PT_PER_DOT) / 2.0,
        margin_y,
    };

    let mut doc = PdfDocument::new(title);
    // Each used face is embedded as a subset of just the glyphs on this ticket: the
    // full Noto files are ~0.5 MB each and compressing them dominated the render time.
    let mut faces: Vec<(FaceId, subsetter::GlyphRemapper)> = Vec::new();
    for item in &layout.items {
        if let Item::Text { line, .. } = item {
            for g in &line.glyphs {
                match faces.iter_mut().find(|(f, _)| *f == g.face) {
                    Some((_, remapper)) => {
                        remapper.remap(g.glyph_id);
                    }
                    None => faces.push((
                        g.face,
                        subsetter::GlyphRemapper::new_from_glyphs(&[g.glyph_id]),
                    )),
                }
            }
        }
    }
    let mut font_ids: Vec<(FaceId, FontId, subsetter::GlyphRemapper)> = Vec::new();
    for (face, remapper) in faces {
        let font_error = |reason: String| TicketError::Font {
            name: face.file_name().to_string(),
            reason,
        };
        let subset = subsetter::subset(fonts.bytes(face), 0, &remapper)
            .map_err(|e| font_error(format!("cannot subset it: {e}")))?;
        let mut warnings = Vec::new();
        let parsed = ParsedFont::from_bytes(&subset, 0, &mut warnings)
            .ok_or_else(|| font_error("printpdf cannot parse its subset".into()))?;
        font_ids.push((face, doc.add_font(&parsed), remapper));
    }

    let black = Color::Greyscale(Greyscale::new(0.0, None));
    let mut ops = vec![
        Op::SaveGraphicsState,
        Op::SetFillColor { col: black.clone() },
    ];
    let mut rings = Vec::new();
    for item in &layout.items {
        match item {
            Item::Text { x, baseline, line } => {
                ops.push(Op::StartTextSection);
                let mut current: Option<FaceId> = None;
                for g in &line.glyphs {
                    let Some((_, font, remapper)) = font_ids.iter().find(|(f, _, _)| *f == g.face)
                    else {
                        continue;
                    };
                    let Some(gid) = remapper.get(g.glyph_id) else {
                        continue;
                    };
                    if current != Some(g.face) {
                        ops.push(Op::SetFont {
                            font: PdfFontHandle::External(font.clone()),
                            size: Pt(line.size * PT_PER_DOT),
                        });
                        current = Some(g.face);
                    }
                    ops.push(Op::SetTextMatrix {
                        matrix: TextMatrix::Translate(page.x(x + g.x), page.y(baseline - g.y)),
                    });
                    ops.push(Op::ShowText {
                        items: vec![TextItem::GlyphIds(vec![Codepoint {
                            gid,
                            offset: 0.0,
                            cid: g.text.clone(),
                        }])],
                    });
                }
                ops.push(Op::EndTextSection);
            }
            Item::Qr { x, y, module, qr } => {
                let m = *module as f32;
                for (mx, my, len) in qr.dark_runs() {
                    rings.push(page.rect(
                        *x as f32 + mx as f32 * m,
                        *y as f32 + my as f32 * m,
                        len as f32 * m,
                        m,
                    ));
                }
            }
            Item::Rule {
                x,
                y,
                width,
                height,
            } => rings.push(page.rect(*x as f32, *y as f32, *width as f32, *height as f32)),
            Item::Image { x, y, image } => {
                let raw = RawImage {
                    pixels: RawImageData::U8(image.as_raw().clone()),
                    width: image.width() as usize,
                    height: image.height() as usize,
                    data_format: RawImageFormat::R8,
                    tag: Vec::new(),
                };
                let id = doc.add_image(&raw);
                ops.push(Op::UseXobject {
                    id,
                    transform: XObjectTransform {
                        translate_x: Some(page.x(*x as f32)),
                        translate_y: Some(page.y((*y + image.height()) as f32)),
                        // The image is in printer dots, so it keeps its printed size.
                        dpi: Some(DPI),
                        ..Default::default()
                    },
                });
            }
        }
    }
    if !rings.is_empty() {
        // One path for all squares: adjacent QR modules then show no hairline seams.
        ops.push(fill(rings));
    }
    ops.push(Op::RestoreGraphicsState);

    doc.with_pages(vec![PdfPage::new(
        Mm(page_w_mm),
        Mm::from(Pt(page.height)),
        ops,
    )]);
    let mut warnings = Vec::new();
    let bytes = doc.save(&PdfSaveOptions::default(), &mut warnings);
    if let Some(err) = warnings
        .iter()
        .find(|w| w.severity == PdfParseErrorSeverity::Error)
    {
        return Err(TicketError::Pdf(err.msg.clone()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::test_support;
    use std::process::Command;

    fn pdf(lang: &str) -> Vec<u8> {
        let fonts = test_support::fonts();
        render_pdf(
            &test_support::view(lang),
            &test_support::catalog(lang),
            &fonts,
        )
        .expect("pdf renders")
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// Runs a poppler tool on `pdf`; `None` (test skips) when poppler-utils is missing.
    fn poppler(tool: &str, pdf: &[u8], args: &[&str], tag: &str) -> Option<Vec<u8>> {
        let dir = std::env::temp_dir().join(format!("lotse-ticket-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let input = dir.join("t.pdf");
        std::fs::write(&input, pdf).ok()?;
        let mut cmd = Command::new(tool);
        cmd.args(args).arg(&input);
        if tool == "pdftotext" {
            cmd.arg("-"); // pdftoppm writes to stdout when given no output root
        }
        let out = match cmd.output() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("skipped: {tool} not available ({e}); apt-get install poppler-utils");
                return None;
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(out.stdout)
    }

    #[test]
    fn pdf_is_a_pdf_with_embedded_fonts() {
        for lang in ["de", "ar"] {
            let bytes = pdf(lang);
            assert!(bytes.starts_with(b"%PDF-"), "{lang}");
            assert!(
                contains(&bytes, b"/FontFile2"),
                "{lang}: no embedded TrueType"
            );
        }
    }

    #[test]
    fn pdf_text_extracts() {
        let Some(text) = poppler("pdftotext", &pdf("de"), &["-enc", "UTF-8"], "de") else {
            return;
        };
        let text = String::from_utf8_lossy(&text);
        assert!(text.contains("A-007"), "pdftotext gave: {text}");
        assert!(text.contains("Wohnsitzanmeldung"), "pdftotext gave: {text}");
        assert!(text.contains("09.03.2026 08:05"), "pdftotext gave: {text}");
    }

    #[test]
    fn pdf_qr_decodes_after_rendering() {
        let Some(pgm) = poppler("pdftoppm", &pdf("fa"), &["-r", "203", "-gray"], "fa") else {
            return;
        };
        // Binary PGM: "P5\n<w> <h>\n255\n" followed by the pixels.
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 && i < pgm.len() {
            while i < pgm.len() && pgm[i].is_ascii_whitespace() {
                i += 1;
            }
            let start = i;
            while i < pgm.len() && !pgm[i].is_ascii_whitespace() {
                i += 1;
            }
            fields.push(String::from_utf8_lossy(&pgm[start..i]).to_string());
        }
        assert_eq!(fields.first().map(String::as_str), Some("P5"));
        let w: u32 = fields[1].parse().expect("width");
        let h: u32 = fields[2].parse().expect("height");
        let pixels = pgm[i + 1..].to_vec();
        assert_eq!(pixels.len(), (w * h) as usize);
        let text = crate::tickets::qr::tests::decode(pixels, w, h);
        assert_eq!(text.as_deref(), Some(test_support::STATUS_URL));
    }

    #[test]
    fn pdf_with_logo_embeds_an_image() {
        let fonts = test_support::fonts();
        let logo =
            image::GrayImage::from_fn(200, 80, |x, _| image::Luma([(x + 50).min(255) as u8]));
        let mut view = test_support::view("de");
        view.logo = Some(&logo);
        let bytes = render_pdf(&view, &test_support::catalog("de"), &fonts).expect("pdf");
        assert!(contains(&bytes, b"/Image"), "no image XObject");
        if let Ok(dir) = std::env::var("TICKETS_PNG_DIR") {
            std::fs::write(std::path::Path::new(&dir).join("logo-de.pdf"), &bytes)
                .expect("pdf written");
        }
    }

    #[test]
    fn write_pdfs_for_inspection() {
        let Ok(dir) = std::env::var("TICKETS_PNG_DIR") else {
            return;
        };
        for lang in ["de", "uk", "ar", "fa"] {
            let path = std::path::Path::new(&dir).join(format!("ticket-{lang}.pdf"));
            std::fs::write(path, pdf(lang)).expect("pdf written");
        }
    }
}
