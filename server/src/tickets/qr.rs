//! The status-page QR code, encoded with rxing's QR encoder.
//!
//! We keep the bare module matrix (one bool per module) rather than a scaled bitmap,
//! so the raster back-end can snap modules to whole dots and the PDF can draw them
//! as exact vector squares.

use rxing::qrcode::common::ErrorCorrectionLevel;

use super::TicketError;

/// Modules of white border the QR specification requires around the symbol.
pub const QUIET_ZONE: u32 = 4;

/// A QR symbol as a square of dark/light modules, without the quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    size: u32,
    dark: Vec<bool>,
}

impl QrMatrix {
    /// Encodes `data` at error-correction level M (15 %): enough for creased or
    /// slightly faded thermal paper while keeping the symbol small.
    pub fn encode(data: &str) -> Result<Self, TicketError> {
        if data.is_empty() {
            return Err(TicketError::Qr("empty status URL".into()));
        }
        let code = rxing::qrcode::encoder::qrcode_encoder::encode(data, ErrorCorrectionLevel::M)
            .map_err(|e| TicketError::Qr(e.to_string()))?;
        let matrix = code
            .getMatrix()
            .as_ref()
            .ok_or_else(|| TicketError::Qr("encoder returned no matrix".into()))?;
        let (w, h) = (matrix.getWidth(), matrix.getHeight());
        if w != h || w == 0 {
            return Err(TicketError::Qr(format!("unexpected matrix {w}×{h}")));
        }
        let mut dark = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                dark.push(matrix.get(x, y) == 1);
            }
        }
        Ok(QrMatrix { size: w, dark })
    }

    /// Modules per side, without the quiet zone.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Whether module (`x`, `y`) is dark; outside the symbol is light.
    pub fn is_dark(&self, x: u32, y: u32) -> bool {
        x < self.size && y < self.size && self.dark[(y * self.size + x) as usize]
    }

    /// Horizontal runs of dark modules as `(x, y, length)`, so back-ends draw a
    /// handful of rectangles instead of one per module.
    pub fn dark_runs(&self) -> Vec<(u32, u32, u32)> {
        let mut runs = Vec::new();
        for y in 0..self.size {
            let mut x = 0;
            while x < self.size {
                if self.is_dark(x, y) {
                    let start = x;
                    while x < self.size && self.is_dark(x, y) {
                        x += 1;
                    }
                    runs.push((start, y, x - start));
                } else {
                    x += 1;
                }
            }
        }
        runs
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decodes a grayscale bitmap with rxing's QR reader.
    pub(crate) fn decode(luma: Vec<u8>, width: u32, height: u32) -> Option<String> {
        rxing::helpers::detect_in_luma(luma, width, height, Some(rxing::BarcodeFormat::QR_CODE))
            .ok()
            .map(|r| r.getText().to_string())
    }

    #[test]
    fn encoder_output_decodes() {
        let url = "http://lotse.local:8080/t/Zq3xR8kM2pVt7wLn";
        let qr = QrMatrix::encode(url).expect("encodes");
        assert!(qr.size() >= 21 && (qr.size() - 17).is_multiple_of(4));
        let scale = 4;
        let side = (qr.size() + 2 * QUIET_ZONE) * scale;
        let mut luma = vec![255u8; (side * side) as usize];
        for (x, y, len) in qr.dark_runs() {
            for py in 0..scale {
                for px in 0..len * scale {
                    let gx = (QUIET_ZONE + x) * scale + px;
                    let gy = (QUIET_ZONE + y) * scale + py;
                    luma[(gy * side + gx) as usize] = 0;
                }
            }
        }
        assert_eq!(decode(luma, side, side).as_deref(), Some(url));
    }

    #[test]
    fn empty_url_is_an_error() {
        assert!(matches!(QrMatrix::encode(""), Err(TicketError::Qr(_))));
    }
}
