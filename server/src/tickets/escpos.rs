//! ESC/POS bytes for a rendered ticket, and the printer's `DLE EOT` status replies.
//!
//! The bitmap goes out as `GS v 0` raster bands rather than text commands: the
//! printer's built-in fonts have no Arabic shaping and patchy Cyrillic, a bitmap
//! prints the same on every model. Bands of 128 lines keep each command well inside
//! the receive buffers of cheap printers (the command itself allows up to 2303 lines
//! on most models, but several clones stall on large single images).

use image::GrayImage;
use lotse_firmware::printer::PrinterState;

use super::TicketError;

/// `ESC @`: initialise the printer (clears modes left by a previous job).
pub const INIT: [u8; 2] = [0x1B, 0x40];
/// `GS V 66 0`: feed to the cutter position, then partial cut (leaves a hinge).
pub const PARTIAL_CUT: [u8; 4] = [0x1D, 0x56, 0x42, 0x00];
/// Raster lines per `GS v 0` command.
pub const BAND_LINES: u32 = 128;
/// Lines fed after the image, so the tear-off or cut edge clears the last text line.
pub const FEED_LINES: u8 = 3;

/// Encodes a black/white bitmap as a complete print job: init, raster bands, feed,
/// and optionally a partial cut. Pixels darker than mid-gray print.
pub fn encode(image: &GrayImage, cut: bool) -> Vec<u8> {
    let (width, height) = image.dimensions();
    let bytes_per_row = width.div_ceil(8);
    let mut out = Vec::with_capacity(16 + (bytes_per_row * height) as usize + height as usize);
    out.extend_from_slice(&INIT);
    if width > 0 && bytes_per_row <= 0xFFFF {
        let mut top = 0;
        while top < height {
            let lines = BAND_LINES.min(height - top);
            // GS v 0 m xL xH yL yH: m = 0 (normal density), x in bytes, y in dots.
            out.extend_from_slice(&[0x1D, 0x76, 0x30, 0x00]);
            out.extend_from_slice(&(bytes_per_row as u16).to_le_bytes());
            out.extend_from_slice(&(lines as u16).to_le_bytes());
            for y in top..top + lines {
                for byte_x in 0..bytes_per_row {
                    let mut byte = 0u8;
                    for bit in 0..8 {
                        let x = byte_x * 8 + bit;
                        // Most significant bit is the leftmost dot; 1 = black.
                        if x < width && image.get_pixel(x, y).0[0] < 128 {
                            byte |= 0x80 >> bit;
                        }
                    }
                    out.push(byte);
                }
            }
            top += lines;
        }
    }
    // ESC d n: print and feed n lines, so the last line clears the tear bar.
    out.extend_from_slice(&[0x1B, 0x64, FEED_LINES]);
    if cut {
        out.extend_from_slice(&PARTIAL_CUT);
    }
    out
}

/// Which real-time status `DLE EOT n` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusQuery {
    /// n = 1: online/offline.
    Printer = 1,
    /// n = 2: why offline (cover open, paper end, error).
    OfflineCause = 2,
    /// n = 3: error cause (cutter, unrecoverable).
    ErrorCause = 3,
    /// n = 4: roll paper sensors (near end, end).
    PaperSensor = 4,
}

impl StatusQuery {
    /// The queries a back-end sends to learn the full state, in order.
    pub const ALL: [StatusQuery; 4] = [
        StatusQuery::Printer,
        StatusQuery::OfflineCause,
        StatusQuery::ErrorCause,
        StatusQuery::PaperSensor,
    ];

    /// Request bytes `DLE EOT n`.
    pub fn request(self) -> [u8; 3] {
        [0x10, 0x04, self as u8]
    }
}

/// Status bits gathered from one or more `DLE EOT` replies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrinterStatus {
    pub offline: bool,
    pub cover_open: bool,
    pub paper_near_end: bool,
    pub paper_out: bool,
    /// Cutter or unrecoverable error: the printer will not print until serviced.
    pub error: bool,
}

impl PrinterStatus {
    /// Folds another reply into this one (flags only ever add up).
    pub fn merge(self, other: PrinterStatus) -> PrinterStatus {
        PrinterStatus {
            offline: self.offline || other.offline,
            cover_open: self.cover_open || other.cover_open,
            paper_near_end: self.paper_near_end || other.paper_near_end,
            paper_out: self.paper_out || other.paper_out,
            error: self.error || other.error,
        }
    }

    /// The single state the appliance reports, most actionable cause first: an open
    /// cover or missing paper tells staff what to do, plain "offline" does not.
    pub fn state(self) -> PrinterState {
        if self.cover_open {
            PrinterState::CoverOpen
        } else if self.paper_out {
            PrinterState::PaperOut
        } else if self.offline || self.error {
            PrinterState::Offline
        } else if self.paper_near_end {
            PrinterState::PaperNearEnd
        } else {
            PrinterState::Ready
        }
    }
}

/// Decodes the reply byte to `DLE EOT n`. Every reply has bit 1 and bit 4 set and
/// bits 0 and 7 clear; anything else is not a status reply (e.g. stray data or a
/// printer that does not speak real-time status) and is rejected.
pub fn parse_status(query: StatusQuery, byte: u8) -> Result<PrinterStatus, TicketError> {
    if byte & 0b1001_0011 != 0b0001_0010 {
        return Err(TicketError::Status {
            query: query as u8,
            byte,
        });
    }
    let bit = |n: u8| byte & (1 << n) != 0;
    let mut s = PrinterStatus::default();
    match query {
        StatusQuery::Printer => s.offline = bit(3),
        StatusQuery::OfflineCause => {
            s.cover_open = bit(2);
            s.paper_out = bit(5);
            s.error = bit(6);
        }
        StatusQuery::ErrorCause => s.error = bit(3) || bit(5) || bit(6),
        StatusQuery::PaperSensor => {
            // Each sensor is reported on two bits; printers set both or just one.
            s.paper_near_end = byte & 0b0000_1100 != 0;
            s.paper_out = byte & 0b0110_0000 != 0;
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(hay: &[u8], needle: &[u8]) -> Vec<usize> {
        hay.windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn encodes_bands_with_the_right_header() {
        for (width, xl, xh) in [(384u32, 48u8, 0u8), (576, 72, 0)] {
            let mut img = GrayImage::from_pixel(width, 300, image::Luma([255]));
            img.put_pixel(0, 0, image::Luma([0]));
            img.put_pixel(9, 0, image::Luma([0]));
            let bytes = encode(&img, true);
            assert_eq!(&bytes[..2], &INIT);
            assert!(bytes.ends_with(&PARTIAL_CUT));
            assert!(bytes[..bytes.len() - 4].ends_with(&[0x1B, 0x64, FEED_LINES]));
            let bands = find(&bytes, &[0x1D, 0x76, 0x30, 0x00]);
            assert_eq!(bands.len(), 3, "300 lines = 128 + 128 + 44");
            let h = |i: usize| &bytes[bands[i] + 4..bands[i] + 8];
            assert_eq!(h(0), &[xl, xh, 128, 0]);
            assert_eq!(h(1), &[xl, xh, 128, 0]);
            assert_eq!(h(2), &[xl, xh, 44, 0]);
            // First row: dot 0 → MSB of byte 0; dot 9 → bit 6 of byte 1.
            assert_eq!(bytes[bands[0] + 8], 0x80);
            assert_eq!(bytes[bands[0] + 9], 0x40);
            let expected = 2 + 3 * 8 + (width as usize / 8) * 300 + 3 + PARTIAL_CUT.len();
            assert_eq!(bytes.len(), expected);
        }
    }

    #[test]
    fn width_not_multiple_of_eight_is_padded() {
        let img = GrayImage::from_pixel(10, 1, image::Luma([0]));
        let bytes = encode(&img, false);
        assert_eq!(&bytes[2..8], &[0x1D, 0x76, 0x30, 0x00, 2, 0]);
        assert_eq!(&bytes[10..12], &[0xFF, 0xC0]);
        assert!(bytes.ends_with(&[0x1B, 0x64, FEED_LINES]));
    }

    #[test]
    fn status_requests() {
        assert_eq!(StatusQuery::Printer.request(), [0x10, 0x04, 1]);
        assert_eq!(StatusQuery::OfflineCause.request(), [0x10, 0x04, 2]);
        assert_eq!(StatusQuery::ErrorCause.request(), [0x10, 0x04, 3]);
        assert_eq!(StatusQuery::PaperSensor.request(), [0x10, 0x04, 4]);
    }

    #[test]
    fn status_truth_table() {
        use PrinterState::*;
        use StatusQuery::*;
        let cases: [(StatusQuery, u8, PrinterState); 14] = [
            (Printer, 0x12, Ready),
            (Printer, 0x16, Ready), // drawer pin high: irrelevant
            (Printer, 0x1A, Offline),
            (OfflineCause, 0x12, Ready),
            (OfflineCause, 0x16, CoverOpen),
            (OfflineCause, 0x32, PaperOut),
            (OfflineCause, 0x52, Offline),
            (OfflineCause, 0x76, CoverOpen), // cover wins over paper and error
            (ErrorCause, 0x12, Ready),
            (ErrorCause, 0x1A, Offline), // auto-cutter error
            (PaperSensor, 0x12, Ready),
            (PaperSensor, 0x1E, PaperNearEnd),
            (PaperSensor, 0x72, PaperOut),
            (PaperSensor, 0x7E, PaperOut),
        ];
        for (q, byte, want) in cases {
            let got = parse_status(q, byte).expect("valid reply").state();
            assert_eq!(got, want, "{q:?} {byte:#04x}");
        }
        for bad in [0x00, 0xFF, 0x13, 0x92, 0x02, 0x10] {
            assert!(parse_status(Printer, bad).is_err(), "{bad:#04x}");
        }
    }

    #[test]
    fn merged_replies_pick_the_most_actionable_state() {
        let online = parse_status(StatusQuery::Printer, 0x1A).expect("reply");
        let paper = parse_status(StatusQuery::PaperSensor, 0x72).expect("reply");
        assert_eq!(online.merge(paper).state(), PrinterState::PaperOut);
        let near = parse_status(StatusQuery::PaperSensor, 0x1E).expect("reply");
        assert_eq!(
            PrinterStatus::default().merge(near).state(),
            PrinterState::PaperNearEnd
        );
    }
}
