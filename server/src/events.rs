//! Live queue events: committed changes fan out to every SSE subscriber, and a
//! reconnecting client catches up from the event log by `Last-Event-ID`.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::storage::CommittedEvent;

/// How many events a slow subscriber may lag before it is dropped; it then
/// reconnects and replays from the log, so nothing is lost.
const CAPACITY: usize = 4096;

#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<CommittedEvent>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self { sender }
    }

    /// Called by the database thread with each committed batch, in commit order.
    pub fn publish(&self, events: Vec<CommittedEvent>) {
        for e in events {
            // No subscribers is fine: the log keeps the event for later replay.
            let _ = self.sender.send(Arc::new(e));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CommittedEvent>> {
        self.sender.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// The JSON an SSE client receives: the stored payload plus id, kind and time.
pub fn to_json(e: &CommittedEvent) -> serde_json::Value {
    let mut v = match &e.data {
        serde_json::Value::Object(m) => serde_json::Value::Object(m.clone()),
        other => serde_json::json!({ "data": other }),
    };
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("id".into(), e.id.into());
        m.insert("kind".into(), e.kind.clone().into());
        m.insert(
            "at".into(),
            crate::clock::from_ms(e.at)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into(),
        );
    }
    v
}
