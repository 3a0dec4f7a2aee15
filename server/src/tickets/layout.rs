//! The one ticket layout that both the raster and the PDF back-end draw.
//!
//! Everything is positioned here, once, in printer dots (203 dpi) from the top-left
//! corner of the printable area; the back-ends only translate items to pixels or PDF
//! points. Keeping decisions (wrapping, alignment, sizes) out of the back-ends is what
//! makes the PDF a faithful preview of the thermal print.

use image::GrayImage;
use image::imageops::FilterType;

use super::qr::{QUIET_ZONE, QrMatrix};
use super::text::{BaseDir, ShapedLine, Shaper, Weight};
use super::{Catalog, Fonts, PaperWidth, TicketError, TicketView};

/// Something drawn on the ticket, positioned in dots.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A shaped line; `x` is the left end of the pen, `baseline` its baseline.
    Text {
        x: f32,
        baseline: f32,
        line: ShapedLine,
    },
    /// The QR symbol's top-left dark-module corner (quiet zone is outside) and the
    /// module size in whole dots.
    Qr {
        x: u32,
        y: u32,
        module: u32,
        qr: QrMatrix,
    },
    /// A grayscale image already scaled to dots (the logo); back-ends decide how to
    /// turn gray into ink.
    Image { x: u32, y: u32, image: GrayImage },
    /// A filled black rectangle (separator rules).
    Rule {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
    },
}

/// A complete ticket: width is the printable width of the paper, height what the
/// content needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub paper: PaperWidth,
    pub width: u32,
    pub height: u32,
    pub items: Vec<Item>,
}

/// Sizes in dots for one paper width.
#[derive(Debug, Clone, Copy)]
struct Metrics {
    margin: f32,
    body: f32,
    small: f32,
    heading: f32,
    concern: f32,
    number_max: f32,
    qr_target: u32,
    logo_max_height: u32,
    gap: f32,
}

impl Metrics {
    fn for_paper(paper: PaperWidth) -> Self {
        match paper {
            // 24 dots ≈ 3 mm ≈ 8.5 pt: the smallest that stays crisp on thermal paper.
            PaperWidth::Mm58 => Metrics {
                margin: 6.0,
                body: 24.0,
                small: 20.0,
                heading: 26.0,
                concern: 28.0,
                number_max: 170.0,
                qr_target: 200,
                logo_max_height: 80,
                gap: 14.0,
            },
            PaperWidth::Mm80 => Metrics {
                margin: 10.0,
                body: 28.0,
                small: 22.0,
                heading: 30.0,
                concern: 34.0,
                number_max: 210.0,
                qr_target: 240,
                logo_max_height: 110,
                gap: 18.0,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    /// Left on LTR tickets, right on RTL ones (also for LTR runs such as the date,
    /// so the column edge stays the same).
    Start,
    Center,
}

struct Builder<'s, 'f> {
    shaper: &'s Shaper<'f>,
    ticket_dir: BaseDir,
    width: f32,
    m: Metrics,
    y: f32,
    items: Vec<Item>,
}

impl Builder<'_, '_> {
    fn usable(&self) -> f32 {
        self.width - 2.0 * self.m.margin
    }

    fn place(&mut self, line: ShapedLine, align: Align) {
        let x = match align {
            Align::Center => (self.width - line.width) / 2.0,
            Align::Start if self.ticket_dir == BaseDir::Rtl => {
                self.width - self.m.margin - line.width
            }
            Align::Start => self.m.margin,
        };
        let baseline = self.y + line.ascent;
        self.y += line.height();
        self.items.push(Item::Text { x, baseline, line });
    }

    fn text(&mut self, text: &str, weight: Weight, size: f32, dir: BaseDir, align: Align) {
        let lines = self.shaper.wrap(text, weight, size, dir, self.usable());
        for line in lines {
            self.place(line, align);
        }
    }

    fn gap(&mut self, factor: f32) {
        self.y += self.m.gap * factor;
    }

    fn rule(&mut self) {
        self.gap(0.5);
        let y = self.y.round() as u32;
        self.items.push(Item::Rule {
            x: self.m.margin as u32,
            y,
            width: self.usable() as u32,
            height: 2,
        });
        self.y = (y + 2) as f32;
        self.gap(0.5);
    }

    /// The queue number: as large as fits, centred, boxed by its cap height so the
    /// generous font ascent does not push everything down.
    fn number(&mut self, number: &str) {
        let mut size = self.m.number_max;
        let mut line = self.shaper.line(number, Weight::Bold, size, BaseDir::Ltr);
        if line.width > self.usable() && line.width > 0.0 {
            size *= self.usable() / line.width;
            line = self.shaper.line(number, Weight::Bold, size, BaseDir::Ltr);
        }
        let cap = self.shaper.cap_height(Weight::Bold, size);
        let x = (self.width - line.width) / 2.0;
        let baseline = self.y + cap;
        self.y = baseline + size * 0.12;
        self.items.push(Item::Text { x, baseline, line });
    }

    fn logo(&mut self, logo: &GrayImage) {
        let (w, h) = logo.dimensions();
        if w == 0 || h == 0 {
            return;
        }
        let max_w = self.usable() * 0.7;
        let max_h = self.m.logo_max_height as f32;
        let scale = (max_w / w as f32).min(max_h / h as f32);
        let (tw, th) = (
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        );
        let image = image::imageops::resize(logo, tw, th, FilterType::Triangle);
        let x = ((self.width - tw as f32) / 2.0).round() as u32;
        let y = self.y.round() as u32;
        self.items.push(Item::Image { x, y, image });
        self.y = (y + th) as f32;
        self.gap(0.6);
    }

    fn qr(&mut self, qr: QrMatrix) {
        let total_modules = qr.size() + 2 * QUIET_ZONE;
        let max_side = self.m.qr_target.min(self.width as u32);
        // Whole dots per module keep every module the same size on the print head.
        let module = (max_side / total_modules).max(2);
        let side = qr.size() * module;
        let x = ((self.width - side as f32) / 2.0).round().max(0.0) as u32;
        let y = (self.y + (QUIET_ZONE * module) as f32).round() as u32;
        self.items.push(Item::Qr { x, y, module, qr });
        self.y = (y + side + QUIET_ZONE * module) as f32;
    }
}

/// Computes the ticket layout for one paper width.
pub fn layout_ticket(
    view: &TicketView<'_>,
    catalog: &Catalog,
    fonts: &Fonts,
    paper: PaperWidth,
) -> Result<Layout, TicketError> {
    let number = view.number.trim();
    if number.is_empty() {
        return Err(TicketError::Input("ticket number is empty".into()));
    }
    if number.chars().any(char::is_control) {
        return Err(TicketError::Input(
            "ticket number contains control characters".into(),
        ));
    }
    let qr = QrMatrix::encode(view.status_url)?;
    let shaper = Shaper::new(fonts, view.language)?;
    let m = Metrics::for_paper(paper);
    let dir = if view.is_rtl() {
        BaseDir::Rtl
    } else {
        BaseDir::Ltr
    };
    // Arabic letters look about a tenth smaller than Latin ones at the same em size.
    let local = |size: f32| {
        if dir == BaseDir::Rtl {
            size * 1.1
        } else {
            size
        }
    };
    let width = paper.dots();
    let mut b = Builder {
        shaper: &shaper,
        ticket_dir: dir,
        width: width as f32,
        m,
        y: m.margin,
        items: Vec::new(),
    };

    if let Some(logo) = view.logo {
        b.logo(logo);
    }
    let site = view.site_name.trim();
    if !site.is_empty() {
        b.text(site, Weight::Bold, m.body, BaseDir::Ltr, Align::Center);
    }
    b.rule();

    b.text(
        &catalog.text("ticket.heading", &[]),
        Weight::Regular,
        local(m.heading),
        dir,
        Align::Center,
    );
    b.gap(0.6);
    b.number(number);
    b.gap(0.3);

    let concern = view.service_name_local.trim();
    let german = view.service_name_de.trim();
    if !concern.is_empty() {
        b.text(concern, Weight::Bold, local(m.concern), dir, Align::Center);
    }
    if !german.is_empty() && german != concern {
        b.text(german, Weight::Regular, m.body, BaseDir::Ltr, Align::Center);
    }
    b.rule();

    let issued = view
        .issued_at
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%d.%m.%Y %H:%M")
        .to_string();
    // Digits only: always left to right, but on the ticket's start edge.
    b.text(&issued, Weight::Regular, m.body, BaseDir::Ltr, Align::Start);
    let n = view.people_ahead.to_string();
    b.text(
        &catalog.text("ticket.people_ahead", &[("n", &n)]),
        Weight::Bold,
        local(m.body),
        dir,
        Align::Start,
    );
    let minutes = view.estimated_wait_minutes.to_string();
    b.text(
        &catalog.text("ticket.estimated_wait", &[("minutes", &minutes)]),
        Weight::Regular,
        local(m.body),
        dir,
        Align::Start,
    );
    b.gap(0.4);
    b.text(
        &catalog.text("ticket.please_wait", &[]),
        Weight::Regular,
        local(m.body),
        dir,
        Align::Start,
    );

    b.qr(qr);
    b.text(
        &catalog.text("ticket.scan_for_status", &[]),
        Weight::Regular,
        local(m.small),
        dir,
        Align::Center,
    );
    b.gap(0.5);
    b.text(
        &catalog.text("ticket.privacy_note", &[]),
        Weight::Regular,
        local(m.small),
        dir,
        Align::Center,
    );
    b.gap(1.0);

    let height = b.y.ceil() as u32;
    Ok(Layout {
        paper,
        width,
        height,
        items: b.items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::test_support;

    #[test]
    fn every_item_stays_inside_the_paper() {
        let fonts = test_support::fonts();
        for lang in ["de", "uk", "ar", "fa"] {
            for paper in [PaperWidth::Mm58, PaperWidth::Mm80] {
                let cat = test_support::catalog(lang);
                let layout =
                    layout_ticket(&test_support::view(lang), &cat, &fonts, paper).expect("layout");
                let w = layout.width as f32;
                for item in &layout.items {
                    match item {
                        Item::Text { x, line, .. } => {
                            assert!(*x >= 0.0 && x + line.width <= w + 0.5, "{lang}: {item:?}")
                        }
                        Item::Qr { x, module, qr, .. } => {
                            assert!(x + qr.size() * module <= layout.width)
                        }
                        Item::Image { x, image, .. } => assert!(x + image.width() <= layout.width),
                        Item::Rule { x, width, .. } => assert!(x + width <= layout.width),
                    }
                }
            }
        }
    }

    #[test]
    fn every_language_has_all_its_glyphs() {
        let fonts = test_support::fonts();
        for lang in ["de", "en", "uk", "ru", "ar", "fa", "tr", "ro", "bg"] {
            let catalogs = [
                Some(test_support::catalog(lang)),
                test_support::kiosk_catalog(lang),
            ];
            for cat in catalogs.iter().flatten() {
                let layout =
                    layout_ticket(&test_support::view(lang), cat, &fonts, PaperWidth::Mm58)
                        .expect("layout");
                for item in &layout.items {
                    if let Item::Text { line, .. } = item {
                        let missing: Vec<_> = line
                            .glyphs
                            .iter()
                            .filter(|g| g.glyph_id == 0)
                            .map(|g| g.text.clone())
                            .collect();
                        assert!(missing.is_empty(), "{lang}: no glyph for {missing:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn empty_number_is_rejected() {
        let fonts = test_support::fonts();
        let mut view = test_support::view("de");
        view.number = "  ";
        let err = layout_ticket(
            &view,
            &test_support::catalog("de"),
            &fonts,
            PaperWidth::Mm58,
        );
        assert!(matches!(err, Err(TicketError::Input(_))));
    }

    #[test]
    fn logo_is_scaled_to_fit() {
        let fonts = test_support::fonts();
        let logo = GrayImage::from_pixel(2000, 500, image::Luma([0]));
        let mut view = test_support::view("de");
        view.logo = Some(&logo);
        let layout = layout_ticket(
            &view,
            &test_support::catalog("de"),
            &fonts,
            PaperWidth::Mm58,
        )
        .expect("layout");
        let img = layout.items.iter().find_map(|i| match i {
            Item::Image { image, .. } => Some(image),
            _ => None,
        });
        let img = img.expect("logo placed");
        assert!(img.width() <= 384 && img.height() <= 80);
    }
}
