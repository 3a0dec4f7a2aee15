//! Where one scan ends: lines from a keyboard-wedge or serial reader grouped into scans.
//!
//! A barcode scanner sends its text and Enter (CR, LF or CRLF on serial); an MRZ reader sends
//! two or three lines in quick succession. [`Framer`] collects lines and ends a scan
//! - at once when the lines form a complete MRZ (3×30, 2×36 or 2×44 MRZ characters);
//! - otherwise after an idle gap (default 80 ms) after the last line end, so a code whose text
//!   itself has line breaks stays one scan (a person cannot scan twice within 80 ms);
//! - and after a longer timeout when a line was never ended (a scanner without an Enter suffix,
//!   or a lost key): the partial text is emitted too, since the receiver validates every scan
//!   (signature, check digits) and tells the visitor kindly when it is incomplete.
//!
//! Time is passed in, so the framing is pure and tested without sleeping.

use std::time::{Duration, Instant};

/// Timing and size limits of the framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    /// Quiet time after a line end that completes a scan.
    pub idle_gap: Duration,
    /// Quiet time after which an unterminated line counts as a complete scan.
    pub partial_timeout: Duration,
    /// Scans longer than this many bytes (UTF-8) are dropped: a stuck key or a device that
    /// is not a scanner.
    pub max_chars: usize,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            idle_gap: Duration::from_millis(80),
            partial_timeout: Duration::from_millis(500),
            max_chars: 4096,
        }
    }
}

/// Groups characters and line ends into complete scans.
#[derive(Clone, Debug)]
pub struct Framer {
    cfg: Framing,
    lines: Vec<String>,
    current: Vec<u8>,
    chars: usize,
    overflow: bool,
    last: Option<Instant>,
}

/// The outcome of a completed scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framed {
    /// One scan's text, lines joined by `'\n'`.
    Scan(String),
    /// Input beyond [`Framing::max_chars`]; nothing is emitted (the count is for the log).
    TooLong(usize),
}

impl Framer {
    /// An empty framer.
    pub fn new(cfg: Framing) -> Self {
        Framer {
            cfg,
            lines: Vec::new(),
            current: Vec::new(),
            chars: 0,
            overflow: false,
            last: None,
        }
    }

    /// Drops whatever was pending (the device went away mid-scan).
    pub fn reset(&mut self) {
        self.lines.clear();
        self.current.clear();
        self.chars = 0;
        self.overflow = false;
        self.last = None;
    }

    /// Whether part of a scan is pending.
    pub fn is_idle(&self) -> bool {
        self.last.is_none()
    }

    /// Adds one typed character; control characters other than tab are dropped.
    pub fn push_char(&mut self, c: char, now: Instant) {
        if c.is_control() && c != '\t' {
            return;
        }
        let mut buf = [0u8; 4];
        self.push_bytes(c.encode_utf8(&mut buf).as_bytes(), now);
    }

    /// Adds raw bytes of a line (no line ends); decoded as UTF-8 (lossy) at the line end.
    pub fn push_bytes(&mut self, bytes: &[u8], now: Instant) {
        self.last = Some(now);
        self.chars += bytes.len();
        if self.chars > self.cfg.max_chars {
            self.overflow = true;
            return;
        }
        self.current.extend_from_slice(bytes);
    }

    /// A line end (Enter, CR or LF). Returns a scan when the lines form a complete MRZ.
    /// Blank lines are skipped, which also makes CRLF one line end.
    pub fn end_line(&mut self, now: Instant) -> Option<Framed> {
        self.last?;
        self.last = Some(now);
        self.close_line();
        if !self.overflow && mrz_complete(&self.lines) {
            return self.take();
        }
        None
    }

    /// When [`Framer::poll`] should be called next, if a scan is pending.
    pub fn deadline(&self) -> Option<Instant> {
        let last = self.last?;
        Some(if self.current.is_empty() {
            last + self.cfg.idle_gap
        } else {
            last + self.cfg.partial_timeout
        })
    }

    /// Completes the pending scan if its quiet time has passed.
    pub fn poll(&mut self, now: Instant) -> Option<Framed> {
        if now < self.deadline()? {
            return None;
        }
        self.close_line();
        self.take()
    }

    fn close_line(&mut self) {
        if self.current.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.current);
        let line: String = text
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect();
        self.current.clear();
        let line = line.trim();
        if !line.is_empty() {
            self.lines.push(line.to_owned());
        }
    }

    fn take(&mut self) -> Option<Framed> {
        let overflow = self.overflow;
        let chars = self.chars;
        let text = self.lines.join("\n");
        self.reset();
        // Line breaks and replacement characters can make the text longer than its input.
        if overflow || text.len() > self.cfg.max_chars {
            Some(Framed::TooLong(chars.max(text.len())))
        } else if text.is_empty() {
            None
        } else {
            Some(Framed::Scan(text))
        }
    }
}

/// The ICAO 9303 shapes: 3 lines of 30 or 2 lines of 36 or 44 characters `A-Z0-9<`.
fn mrz_complete(lines: &[String]) -> bool {
    let Some(first) = lines.first() else {
        return false;
    };
    let len = first.len();
    let count = match len {
        30 => 3,
        36 | 44 => 2,
        _ => return false,
    };
    lines.len() == count
        && lines.iter().all(|l| {
            l.len() == len
                && l.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn push_str(f: &mut Framer, s: &str, now: Instant) {
        for c in s.chars() {
            f.push_char(c, now);
        }
    }

    #[test]
    fn a_line_is_a_scan_after_the_idle_gap() {
        let t0 = Instant::now();
        let mut f = Framer::new(Framing::default());
        assert!(f.is_idle());
        push_str(&mut f, "LOTSE1.abc", t0);
        assert_eq!(f.end_line(t0 + ms(5)), None);
        assert_eq!(f.deadline(), Some(t0 + ms(85)));
        assert_eq!(f.poll(t0 + ms(84)), None);
        assert_eq!(f.poll(t0 + ms(85)), Some(Framed::Scan("LOTSE1.abc".into())));
        assert!(f.is_idle());
        assert_eq!(f.deadline(), None);
    }

    #[test]
    fn multi_line_codes_stay_together_and_crlf_is_one_line_end() {
        let t0 = Instant::now();
        let mut f = Framer::new(Framing::default());
        push_str(&mut f, "BEGIN:VCARD", t0);
        f.end_line(t0);
        f.end_line(t0); // CR LF
        push_str(&mut f, "END:VCARD", t0 + ms(10));
        f.end_line(t0 + ms(10));
        assert_eq!(f.poll(t0 + ms(60)), None);
        assert_eq!(
            f.poll(t0 + ms(90)),
            Some(Framed::Scan("BEGIN:VCARD\nEND:VCARD".into()))
        );
    }

    #[test]
    fn a_complete_mrz_ends_at_once() {
        let t0 = Instant::now();
        let mut f = Framer::new(Framing::default());
        let lines = [
            "I<UTOD231458907<<<<<<<<<<<<<<<",
            "7408122F1204159UTO<<<<<<<<<<<6",
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
        ];
        for (i, l) in lines.iter().enumerate() {
            push_str(&mut f, l, t0);
            let got = f.end_line(t0);
            if i < 2 {
                assert_eq!(got, None);
            } else {
                assert_eq!(got, Some(Framed::Scan(lines.join("\n"))));
            }
        }
        // Two TD3 lines.
        let td3 = [
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
        ];
        push_str(&mut f, td3[0], t0);
        assert_eq!(f.end_line(t0), None);
        push_str(&mut f, td3[1], t0);
        assert_eq!(f.end_line(t0), Some(Framed::Scan(td3.join("\n"))));
    }

    #[test]
    fn two_mrz_lines_of_a_td1_wait_for_the_gap() {
        // A reader that dropped the third line: the two lines are still handed on after the
        // gap, and the MRZ parser reports what is wrong.
        let t0 = Instant::now();
        let mut f = Framer::new(Framing::default());
        push_str(&mut f, "I<UTOD231458907<<<<<<<<<<<<<<<", t0);
        assert_eq!(f.end_line(t0), None);
        push_str(&mut f, "7408122F1204159UTO<<<<<<<<<<<6", t0);
        assert_eq!(f.end_line(t0), None);
        assert!(matches!(f.poll(t0 + ms(80)), Some(Framed::Scan(s)) if s.lines().count() == 2));
    }

    #[test]
    fn partial_input_times_out_and_overflow_is_dropped() {
        let t0 = Instant::now();
        let cfg = Framing {
            max_chars: 16,
            ..Framing::default()
        };
        let mut f = Framer::new(cfg);
        push_str(&mut f, "no suffix", t0);
        assert_eq!(f.poll(t0 + ms(100)), None);
        assert_eq!(f.poll(t0 + ms(500)), Some(Framed::Scan("no suffix".into())));
        push_str(&mut f, &"x".repeat(40), t0);
        f.end_line(t0);
        assert_eq!(f.poll(t0 + ms(80)), Some(Framed::TooLong(40)));
        assert!(f.is_idle());
        // 16 bytes of input, 17 with the line break: still too long.
        for _ in 0..2 {
            push_str(&mut f, "abcdefgh", t0);
            f.end_line(t0);
        }
        assert_eq!(f.poll(t0 + ms(80)), Some(Framed::TooLong(17)));
        // Control characters never reach a scan; a lone line end is nothing.
        assert_eq!(f.end_line(t0), None);
        f.push_char('\u{1b}', t0);
        f.push_char('a', t0);
        f.push_bytes(b"\x07b\xff", t0);
        f.end_line(t0);
        assert_eq!(f.poll(t0 + ms(80)), Some(Framed::Scan("ab\u{fffd}".into())));
    }
}
