//! An ESC/POS printer on the network, raw TCP port 9100 ("JetDirect").
//!
//! Each call opens its own connection (most printers take one client at a time and
//! drop idle ones), with connect and read/write timeouts so a printer that was
//! unplugged reads as offline within seconds instead of hanging a kiosk request.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::escpos::query_status;
use super::{PrintJob, Printer, PrinterError, PrinterState, Result};

/// The conventional raw printing port.
pub const DEFAULT_PORT: u16 = 9100;

/// ESC/POS printer reached over TCP.
#[derive(Debug, Clone)]
pub struct EscPosTcp {
    address: String,
    connect_timeout: Duration,
    io_timeout: Duration,
}

impl EscPosTcp {
    /// `address` is `host:port` or a bare host (port 9100). Timeouts default to 2 s
    /// for connecting and 5 s for each read or write.
    pub fn new(address: impl Into<String>) -> Self {
        EscPosTcp {
            address: address.into(),
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(5),
        }
    }

    pub fn with_timeouts(mut self, connect: Duration, io: Duration) -> Self {
        self.connect_timeout = connect;
        self.io_timeout = io;
        self
    }

    fn resolve(&self) -> Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = match self.address.to_socket_addrs() {
            Ok(a) => a.collect(),
            // No port given: try the raw printing port.
            Err(_) => (self.address.as_str(), DEFAULT_PORT)
                .to_socket_addrs()?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(PrinterError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} resolves to no address", self.address),
            )));
        }
        Ok(addrs)
    }

    fn connect(&self) -> Result<TcpStream> {
        let mut last = None;
        for addr in self.resolve()? {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(self.io_timeout))?;
                    stream.set_write_timeout(Some(self.io_timeout))?;
                    stream.set_nodelay(true)?;
                    return Ok(stream);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or(
            PrinterError::Timeout(self.connect_timeout),
            PrinterError::Io,
        ))
    }

    fn query(&self, stream: &mut TcpStream) -> PrinterState {
        query_status(stream).map_or(PrinterState::Offline, |s| s.state())
    }
}

impl Printer for EscPosTcp {
    fn state(&self) -> PrinterState {
        match self.connect() {
            Ok(mut stream) => {
                let state = self.query(&mut stream);
                let _ = stream.shutdown(Shutdown::Both);
                state
            }
            Err(_) => PrinterState::Offline,
        }
    }

    fn print(&self, job: &PrintJob) -> Result<()> {
        let mut stream = self.connect()?;
        // Ask on the same connection: the printer may serve one client at a time.
        let state = self.query(&mut stream);
        if !state.can_print() {
            return Err(PrinterError::NotReady(state));
        }
        stream.write_all(&job.escpos)?;
        stream.flush()?;
        // A printer that vanished mid-job still lets the kernel buffer the bytes, so
        // the writes above succeed. Asking for the status again after the job proves
        // the printer took it all; its answer also catches paper running out.
        let after = query_status(&mut stream).map_err(|e| {
            PrinterError::Io(std::io::Error::new(
                e.kind(),
                format!("the printer did not confirm the job: {e}"),
            ))
        })?;
        // Half-close so the printer sees the end of the job.
        let _ = stream.shutdown(Shutdown::Write);
        match after.state() {
            PrinterState::PaperOut | PrinterState::CoverOpen | PrinterState::Offline => {
                Err(PrinterError::NotReady(after.state()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::escpos::tests::reply_for;
    use std::io::Read;
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread;

    /// A fake printer: answers `DLE EOT n` as a printer in `state` would and sends
    /// everything else it receives (the job) back through the channel.
    fn fake_printer(state: PrinterState, connections: usize) -> (String, mpsc::Receiver<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr").to_string();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for _ in 0..connections {
                let Ok((mut conn, _)) = listener.accept() else {
                    return;
                };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut received = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    received.extend_from_slice(&buf[..n]);
                    // Answer every complete status request seen so far.
                    while let Some(pos) = received.windows(2).position(|w| w == [0x10, 0x04]) {
                        if received.len() < pos + 3 {
                            break;
                        }
                        let n = received[pos + 2];
                        received.drain(pos..pos + 3);
                        if conn.write_all(&[reply_for(state, n)]).is_err() {
                            break;
                        }
                    }
                }
                let _ = tx.send(received);
            }
        });
        (addr, rx)
    }

    fn job() -> PrintJob {
        PrintJob {
            escpos: vec![
                0x1B, 0x40, 0x1D, 0x76, 0x30, 0x00, 1, 0, 1, 0, 0xFF, 0x1D, 0x56, 0x42, 0x00,
            ],
            name: "A-007".into(),
            ..PrintJob::default()
        }
    }

    #[test]
    fn reports_each_state() {
        for state in [
            PrinterState::Ready,
            PrinterState::PaperNearEnd,
            PrinterState::PaperOut,
            PrinterState::CoverOpen,
            PrinterState::Offline,
        ] {
            let (addr, _rx) = fake_printer(state, 1);
            assert_eq!(EscPosTcp::new(addr).state(), state);
        }
    }

    #[test]
    fn prints_when_ready() {
        let (addr, rx) = fake_printer(PrinterState::PaperNearEnd, 1);
        EscPosTcp::new(addr).print(&job()).expect("prints");
        let received = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("job arrives");
        assert_eq!(received, job().escpos);
    }

    #[test]
    fn refuses_to_print_without_paper() {
        let (addr, rx) = fake_printer(PrinterState::PaperOut, 1);
        let err = EscPosTcp::new(addr).print(&job());
        assert!(matches!(
            err,
            Err(PrinterError::NotReady(PrinterState::PaperOut))
        ));
        let received = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("connection closed");
        assert!(received.is_empty(), "no job bytes were sent");
    }

    #[test]
    fn closed_port_is_offline() {
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
            l.local_addr().expect("local addr").to_string()
        };
        let printer = EscPosTcp::new(addr);
        assert_eq!(printer.state(), PrinterState::Offline);
        assert!(printer.print(&job()).is_err());
    }

    #[test]
    fn silent_printer_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr").to_string();
        // Accepts (via the backlog) but never answers.
        let printer = EscPosTcp::new(addr)
            .with_timeouts(Duration::from_millis(500), Duration::from_millis(200));
        let started = std::time::Instant::now();
        assert_eq!(printer.state(), PrinterState::Offline);
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
    }

    #[test]
    fn bare_host_uses_port_9100() {
        let printer = EscPosTcp::new("127.0.0.1");
        let addrs = printer.resolve().expect("resolves");
        assert_eq!(addrs[0].port(), DEFAULT_PORT);
    }
}
