//! A network ESC/POS printer on loopback for tests: answers `DLE EOT n` status
//! queries like a real printer in a chosen state, keeps every job it receives, and
//! can "disappear" in the middle of a job.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the fake printer behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ready,
    PaperNearEnd,
    PaperOut,
    CoverOpen,
    /// Reports ready, then drops the connection as soon as job bytes arrive.
    VanishMidJob,
}

#[derive(Debug, Clone)]
pub struct FakePrinter {
    pub address: String,
    mode: Arc<Mutex<Mode>>,
    jobs: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn reply(mode: Mode, n: u8) -> u8 {
    let base = 0x12;
    match (n, mode) {
        (1, Mode::PaperOut | Mode::CoverOpen) => base | 0x08,
        (2, Mode::CoverOpen) => base | 0x04,
        (2, Mode::PaperOut) => base | 0x20,
        (4, Mode::PaperNearEnd) => base | 0x0C,
        (4, Mode::PaperOut) => base | 0x6C,
        _ => base,
    }
}

impl FakePrinter {
    pub fn start(mode: Mode) -> FakePrinter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().expect("address").to_string();
        let p = FakePrinter {
            address,
            mode: Arc::new(Mutex::new(mode)),
            jobs: Arc::new(Mutex::new(Vec::new())),
        };
        let (mode, jobs) = (p.mode.clone(), p.jobs.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mode = mode.clone();
                let jobs = jobs.clone();
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut job = Vec::new();
                    let mut buf = [0u8; 8192];
                    loop {
                        let n = match conn.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let mut data = &buf[..n];
                        let m = *mode.lock().unwrap_or_else(|e| e.into_inner());
                        // Status queries come before the job, each on its own.
                        while data.len() >= 3
                            && data[0] == 0x10
                            && data[1] == 0x04
                            && job.is_empty()
                        {
                            let _ = conn.write_all(&[reply(m, data[2])]);
                            data = &data[3..];
                        }
                        if !data.is_empty() && m == Mode::VanishMidJob {
                            let _ = conn.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        job.extend_from_slice(data);
                        // The status query after a job: real-time commands are
                        // answered wherever they appear in the stream.
                        let l = job.len();
                        if l >= 3
                            && job[l - 3] == 0x10
                            && job[l - 2] == 0x04
                            && (1..=4).contains(&job[l - 1])
                        {
                            let _ = conn.write_all(&[reply(m, job[l - 1])]);
                            job.truncate(l - 3);
                        }
                    }
                    if !job.is_empty() {
                        jobs.lock().unwrap_or_else(|e| e.into_inner()).push(job);
                    }
                });
            }
        });
        p
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    pub fn jobs(&self) -> Vec<Vec<u8>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Decodes the `GS v 0` raster images of an ESC/POS stream back into one 8-bit
/// luma bitmap (black = 0, white = 255): `(width, height, pixels)`.
pub fn escpos_raster(bytes: &[u8]) -> Option<(u32, u32, Vec<u8>)> {
    let mut width = None;
    let mut rows: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    while i + 8 <= bytes.len() {
        if bytes[i] == 0x1D && bytes[i + 1] == 0x76 && bytes[i + 2] == 0x30 {
            let xbytes = bytes[i + 4] as usize | (bytes[i + 5] as usize) << 8;
            let lines = bytes[i + 6] as usize | (bytes[i + 7] as usize) << 8;
            let start = i + 8;
            let end = start + xbytes * lines;
            let data = bytes.get(start..end)?;
            if *width.get_or_insert(xbytes * 8) != xbytes * 8 {
                return None;
            }
            for line in data.chunks(xbytes) {
                let mut row = Vec::with_capacity(xbytes * 8);
                for byte in line {
                    for bit in (0..8).rev() {
                        row.push(if byte & (1 << bit) != 0 { 0 } else { 255 });
                    }
                }
                rows.push(row);
            }
            i = end;
        } else {
            i += 1;
        }
    }
    let w = width?;
    let h = rows.len();
    Some((w as u32, h as u32, rows.concat()))
}
