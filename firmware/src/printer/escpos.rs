//! ESC/POS real-time status: `DLE EOT n` requests and their one-byte replies.
//!
//! Lives in the firmware so the device back-ends can ask the printer before sending
//! a job; the server re-exports it next to its ESC/POS encoder.

use std::io::{Read, Write};

use super::PrinterState;

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

/// A byte that is not a valid reply to `DLE EOT n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("status byte {byte:#04x} is not a reply to DLE EOT {query}")]
pub struct InvalidStatus {
    pub query: u8,
    pub byte: u8,
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

/// Decodes the reply byte to `DLE EOT n`. Every reply has bits 1 and 4 set and bits
/// 0 and 7 clear; anything else is not a status reply (stray data, or a printer that
/// does not speak real-time status) and is rejected rather than guessed at.
pub fn parse_status(query: StatusQuery, byte: u8) -> Result<PrinterStatus, InvalidStatus> {
    if byte & 0b1001_0011 != 0b0001_0010 {
        return Err(InvalidStatus {
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

/// Sends all four `DLE EOT` queries over `io` and folds the replies into one status.
/// The caller bounds the time (socket timeouts or [`super::with_timeout`]).
pub fn query_status<S: Read + Write>(io: &mut S) -> std::io::Result<PrinterStatus> {
    let mut status = PrinterStatus::default();
    for query in StatusQuery::ALL {
        io.write_all(&query.request())?;
        io.flush()?;
        let mut reply = [0u8; 1];
        io.read_exact(&mut reply)?;
        let part = parse_status(query, reply[0])
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        status = status.merge(part);
    }
    Ok(status)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a printer answers to `DLE EOT n` in the given state.
    pub(crate) fn reply_for(state: PrinterState, n: u8) -> u8 {
        use PrinterState::*;
        let base = 0x12;
        match (n, state) {
            (1, Ready | PaperNearEnd) => base,
            (1, _) => base | 0x08,
            (2, CoverOpen) => base | 0x04,
            (2, PaperOut) => base | 0x20,
            (2, Offline) => base | 0x40,
            (4, PaperNearEnd) => base | 0x0C,
            (4, PaperOut) => base | 0x6C,
            _ => base,
        }
    }

    #[test]
    fn requests() {
        assert_eq!(StatusQuery::Printer.request(), [0x10, 0x04, 1]);
        assert_eq!(StatusQuery::OfflineCause.request(), [0x10, 0x04, 2]);
        assert_eq!(StatusQuery::ErrorCause.request(), [0x10, 0x04, 3]);
        assert_eq!(StatusQuery::PaperSensor.request(), [0x10, 0x04, 4]);
    }

    #[test]
    fn truth_table() {
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
            let got = parse_status(q, byte).map(PrinterStatus::state);
            assert_eq!(got, Ok(want), "{q:?} {byte:#04x}");
        }
        for bad in [0x00, 0xFF, 0x13, 0x92, 0x02, 0x10] {
            assert_eq!(
                parse_status(Printer, bad),
                Err(InvalidStatus {
                    query: 1,
                    byte: bad
                })
            );
        }
    }

    #[test]
    fn merged_replies_pick_the_most_actionable_state() {
        let offline = parse_status(StatusQuery::Printer, 0x1A).unwrap_or_default();
        let paper = parse_status(StatusQuery::PaperSensor, 0x72).unwrap_or_default();
        assert_eq!(offline.merge(paper).state(), PrinterState::PaperOut);
    }

    /// A fake duplex device: replies come from a script, writes are recorded.
    struct Fake {
        replies: std::io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }
    impl Read for Fake {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.replies.read(buf)
        }
    }
    impl Write for Fake {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn query_status_round_trip() {
        for state in [
            PrinterState::Ready,
            PrinterState::PaperNearEnd,
            PrinterState::PaperOut,
            PrinterState::CoverOpen,
            PrinterState::Offline,
        ] {
            let replies = (1..=4).map(|n| reply_for(state, n)).collect();
            let mut fake = Fake {
                replies: std::io::Cursor::new(replies),
                written: Vec::new(),
            };
            let got = query_status(&mut fake).map(PrinterStatus::state).ok();
            assert_eq!(got, Some(state));
            assert_eq!(
                fake.written,
                [16, 4, 1, 16, 4, 2, 16, 4, 3, 16, 4, 4].to_vec()
            );
        }
        let mut silent = Fake {
            replies: std::io::Cursor::new(Vec::new()),
            written: Vec::new(),
        };
        assert!(query_status(&mut silent).is_err());
    }
}
