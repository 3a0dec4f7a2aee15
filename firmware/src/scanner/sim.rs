//! A simulated scanner for tests and demo mode: scans are injected as text or as an image
//! file, and arrive like those of a real device.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use super::{ScanEvent, ScanSource, SourceHandle, SourceId, SourceStatus};

/// The source half: started like any other scanner.
#[derive(Debug)]
pub struct SimScanner {
    id: SourceId,
    shared: Arc<Shared>,
}

/// The injecting half: cheap to clone, usable from async code and threads alike.
#[derive(Debug, Clone)]
pub struct SimInjector {
    id: SourceId,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    tx: Mutex<Option<mpsc::Sender<ScanEvent>>>,
    stop: Arc<AtomicBool>,
}

/// Why an injected scan was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    #[error("the simulated scanner is not started or was stopped")]
    NotRunning,
    #[error("the scan queue is full")]
    Full,
}

impl SimScanner {
    /// A simulated scanner and its injector.
    pub fn new(id: SourceId) -> (SimScanner, SimInjector) {
        let shared = Arc::new(Shared::default());
        (
            SimScanner {
                id: id.clone(),
                shared: shared.clone(),
            },
            SimInjector { id, shared },
        )
    }
}

impl ScanSource for SimScanner {
    fn id(&self) -> &SourceId {
        &self.id
    }

    fn start(self: Box<Self>, tx: mpsc::Sender<ScanEvent>) -> SourceHandle {
        let connected = ScanEvent::Status {
            source: self.id.clone(),
            status: SourceStatus::Connected,
        };
        let _ = tx.try_send(connected);
        *self
            .shared
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(tx);
        SourceHandle::detached(self.id.clone(), self.shared.stop.clone())
    }
}

impl SimInjector {
    /// Injects one complete scan (a code's text, or MRZ lines joined by `'\n'`).
    pub fn text(&self, text: &str) -> Result<(), InjectError> {
        self.send(ScanEvent::Text {
            source: self.id.clone(),
            text: text.to_owned(),
        })
    }

    /// Injects an image file for the receiver to decode.
    pub fn image(&self, path: PathBuf) -> Result<(), InjectError> {
        self.send(ScanEvent::Image {
            source: self.id.clone(),
            path,
        })
    }

    fn send(&self, ev: ScanEvent) -> Result<(), InjectError> {
        if self.shared.stop.load(Ordering::SeqCst) {
            return Err(InjectError::NotRunning);
        }
        let guard = self
            .shared
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let tx = guard.as_ref().ok_or(InjectError::NotRunning)?;
        tx.try_send(ev).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => InjectError::Full,
            mpsc::error::TrySendError::Closed(_) => InjectError::NotRunning,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn injected_text_and_images_arrive_until_stopped() {
        let (scanner, inject) = SimScanner::new(SourceId::new("sim"));
        assert_eq!(inject.text("early"), Err(InjectError::NotRunning));
        let (tx, mut rx) = mpsc::channel(2);
        let handle = Box::new(scanner).start(tx);
        assert!(matches!(rx.recv().await, Some(ScanEvent::Status { .. })));
        inject.text("LOTSE1.a.b").unwrap();
        inject.image(PathBuf::from("/tmp/x.png")).unwrap();
        assert_eq!(inject.text("third"), Err(InjectError::Full));
        assert_eq!(
            rx.recv().await,
            Some(ScanEvent::Text {
                source: SourceId::new("sim"),
                text: "LOTSE1.a.b".into()
            })
        );
        assert!(matches!(rx.recv().await, Some(ScanEvent::Image { .. })));
        // Debug output never shows scanned text (it may be an MRZ).
        inject.text("P<UTOERIKSSON").unwrap();
        let ev = rx.recv().await.unwrap();
        assert!(!format!("{ev:?}").contains("ERIKSSON"));
        handle.stop();
        assert_eq!(inject.text("late"), Err(InjectError::NotRunning));
    }
}
