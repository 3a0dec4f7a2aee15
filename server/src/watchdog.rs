//! systemd's notification protocol: `READY=1` once the appliance serves, and
//! `WATCHDOG=1` only while the database and the event loop answer, so systemd restarts
//! a hung appliance. Without `NOTIFY_SOCKET` (not under systemd) nothing is sent.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use crate::storage::{Db, StorageError};

/// Where systemd listens: a path, or an abstract socket written `@name`.
#[derive(Debug, Clone)]
pub struct Notifier {
    socket: PathBuf,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`; `None` when not started by systemd.
    pub fn from_env() -> Option<Notifier> {
        std::env::var_os("NOTIFY_SOCKET")
            .filter(|s| !s.is_empty())
            .map(|s| Notifier { socket: s.into() })
    }

    pub fn new(socket: PathBuf) -> Notifier {
        Notifier { socket }
    }

    pub fn notify(&self, message: &str) -> io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        let path = self.socket.to_string_lossy();
        if let Some(name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(message.as_bytes(), &addr)?;
        } else {
            sock.send_to(message.as_bytes(), &self.socket)?;
        }
        Ok(())
    }
}

/// The feeding interval systemd asks for (half of `WATCHDOG_USEC`), if any.
pub fn interval_from_env() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Whether the database answers a trivial query within `timeout`.
pub async fn database_answers(db: &Db, timeout: Duration) -> bool {
    let probe = db.run(|tx| -> Result<i64, StorageError> {
        Ok(tx.conn.query_row("SELECT 1", [], |r| r.get(0))?)
    });
    matches!(tokio::time::timeout(timeout, probe).await, Ok(Ok(1)))
}

/// Feeds the watchdog every `every` while the database answers. That this task runs
/// at all shows the event loop is alive.
pub async fn feed(notifier: Notifier, db: Db, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if database_answers(&db, every).await {
            if let Err(e) = notifier.notify("WATCHDOG=1") {
                tracing::warn!("cannot notify systemd: {e}");
            }
        } else {
            tracing::error!("the database does not answer; not feeding the watchdog");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use std::sync::Arc;
    use std::time::Instant;

    fn received(sock: &UnixDatagram) -> Vec<String> {
        let mut out = vec![];
        let mut buf = [0u8; 64];
        while let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_watchdog_starves_while_the_database_stalls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_nonblocking(true).unwrap();
        let db = Db::open(&dir.path().join("lotse.db"), Arc::new(SystemClock), |_| {}).unwrap();
        let notifier = Notifier::new(path);
        notifier.notify("READY=1").unwrap();
        let feeder = tokio::spawn(feed(notifier, db.clone(), Duration::from_millis(50)));

        tokio::time::sleep(Duration::from_millis(400)).await;
        let before = received(&sock);
        assert_eq!(before.first().map(String::as_str), Some("READY=1"));
        assert!(
            before.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2,
            "{before:?}"
        );

        // A job that holds the database thread, as a hung disk would.
        let stalling = db.clone();
        let stalled_at = Instant::now();
        let stall = tokio::spawn(async move {
            stalling
                .run(|_| -> Result<(), StorageError> {
                    std::thread::sleep(Duration::from_millis(1500));
                    Ok(())
                })
                .await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = received(&sock); // feeds from before the stall began
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(stalled_at.elapsed() < Duration::from_millis(1500));
        assert_eq!(
            received(&sock),
            Vec::<String>::new(),
            "fed during the stall"
        );

        stall.await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            received(&sock).contains(&"WATCHDOG=1".to_string()),
            "fed again"
        );
        feeder.abort();
    }
}
