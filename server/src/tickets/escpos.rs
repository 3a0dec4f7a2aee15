//! ESC/POS bytes for a rendered ticket, and (re-exported) `DLE EOT` status parsing.
//!
//! The bitmap goes out as `GS v 0` raster bands rather than text commands: the
//! printer's built-in fonts have no Arabic shaping and patchy Cyrillic, a bitmap
//! prints the same on every model. Bands of 128 lines keep each command well inside
//! the receive buffers of cheap printers (the command itself allows up to 2303 lines
//! on most models, but several clones stall on large single images).

use image::GrayImage;

/// Real-time status (`DLE EOT n` requests, reply parsing, mapping to
/// [`lotse_firmware::printer::PrinterState`]) lives in the firmware, where the
/// device back-ends need it; re-exported here beside the encoder.
pub use lotse_firmware::printer::escpos::{
    InvalidStatus, PrinterStatus, StatusQuery, parse_status, query_status,
};

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
    fn status_parsing_is_the_firmware_one() {
        use lotse_firmware::printer::PrinterState;
        assert_eq!(StatusQuery::PaperSensor.request(), [0x10, 0x04, 4]);
        let near_end = parse_status(StatusQuery::PaperSensor, 0x1E).map(PrinterStatus::state);
        assert_eq!(near_end, Ok(PrinterState::PaperNearEnd));
        let cover = parse_status(StatusQuery::OfflineCause, 0x16).map(PrinterStatus::state);
        assert_eq!(cover, Ok(PrinterState::CoverOpen));
        assert!(parse_status(StatusQuery::Printer, 0xFF).is_err());
    }
}
