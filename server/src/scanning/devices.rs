//! The kiosk's scanner devices (`[scanning] hid`, `serial`): each runs on its own thread
//! in `lotse_firmware::scanner`; what they read goes to the [`ScanHub`]. Scan text is
//! never logged: it may be an MRZ.

use lotse_firmware::scanner::{
    Framing, HidScanner, ScanEvent, ScanSource, SerialScanner, SourceHandle, SourceId, SourceStatus,
};
use tokio::sync::mpsc;

use super::hub::ScanHub;
use super::settings::{ScanSettings, ScannerDevice};

/// Starts every configured device and the task that hands their scans to `hub`. An absent
/// device is reported once and picked up when it is plugged in (the firmware retries).
pub fn start(settings: &ScanSettings, hub: &ScanHub) -> Vec<SourceHandle> {
    if settings.devices.is_empty() {
        return Vec::new();
    }
    let (tx, rx) = mpsc::channel(16);
    let handles = settings
        .devices
        .iter()
        .map(|d| {
            let source: Box<dyn ScanSource> = match d {
                ScannerDevice::Hid { device, layout } => Box::new(HidScanner::evdev(
                    SourceId::new(&format!("hid:{}", device.display())),
                    device.clone(),
                    *layout,
                    Framing::default(),
                )),
                ScannerDevice::Serial { device, baud } => Box::new(SerialScanner::new(
                    SourceId::new(&format!("serial:{}", device.display())),
                    device.clone(),
                    *baud,
                    Framing::default(),
                )),
            };
            source.start(tx.clone())
        })
        .collect();
    tokio::spawn(forward(rx, hub.clone()));
    handles
}

async fn forward(mut rx: mpsc::Receiver<ScanEvent>, hub: ScanHub) {
    while let Some(ev) = rx.recv().await {
        match ev {
            ScanEvent::Text { source, text } => {
                let r = hub.submit_text(&text);
                tracing::info!("scan from {source}: {}", r.kind);
            }
            ScanEvent::Image { source, path } => {
                let hub = hub.clone();
                let done = tokio::task::spawn_blocking(move || {
                    let img = super::decode::load_luma(&path)?;
                    let (w, h) = img.dimensions();
                    Ok::<_, super::decode::DecodeError>(hub.submit_image(img.as_raw(), w, h))
                })
                .await;
                if let Ok(Err(e)) = done {
                    tracing::warn!("image from {source} could not be read: {e}");
                }
            }
            ScanEvent::Status { source, status } => match status {
                SourceStatus::Connected => tracing::info!("scanner {source} connected"),
                SourceStatus::Absent(why) => tracing::warn!("scanner {source} absent: {why}"),
            },
        }
    }
}
