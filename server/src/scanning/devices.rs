//! The kiosk's scanner devices (`[scanning] hid`, `serial`, `camera`): each runs on its own
//! thread in `lotse_firmware::scanner`; what they read goes to the [`ScanHub`]. Scan text is
//! never logged: it may be an MRZ. Also `lotse scan camera`, the operator's camera check.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lotse_firmware::scanner::camera::{
    Camera, CameraPacing, CameraSource, FrameDecoder, FrameSize,
};
use lotse_firmware::scanner::v4l2::{V4l2Camera, V4l2Options};
use lotse_firmware::scanner::{
    Framing, HidScanner, ScanEvent, ScanSource, SerialScanner, SourceHandle, SourceId, SourceStatus,
};
use tokio::sync::mpsc;

use super::decode::{CAMERA_FORMATS, Decoder};
use super::hub::ScanHub;
use super::settings::{ScanSettings, ScannerDevice};

/// V4L2 options for a camera: the wanted size, the server's MJPEG decoder.
pub fn camera_options(width: u32, height: u32) -> V4l2Options {
    V4l2Options {
        size: FrameSize { width, height },
        mjpeg: Some(Box::new(super::decode::mjpeg_to_luma)),
        ..V4l2Options::default()
    }
}

/// A V4L2 camera as a kiosk scan source, re-opened when it was absent or failed.
fn camera_source(device: &Path, width: u32, height: u32, fps: u32, hub: &ScanHub) -> CameraSource {
    let id = SourceId::new(&format!("camera:{}", device.display()));
    let path = device.to_owned();
    CameraSource::new(
        id,
        move || {
            let cam = V4l2Camera::open(&path, camera_options(width, height))?;
            let i = cam.info();
            tracing::info!(
                device = %path.display(),
                "camera {} ({}): {} {}x{}",
                i.card,
                i.driver,
                i.fourcc,
                i.mode.size.width,
                i.mode.size.height
            );
            Ok(Box::new(cam) as Box<dyn Camera>)
        },
        Box::new(KioskFrames {
            decoder: Decoder::new(&CAMERA_FORMATS),
            hub: hub.clone(),
        }),
        CameraPacing {
            frame_interval: Duration::from_millis(1000 / u64::from(fps.max(1))),
            ..CameraPacing::default()
        },
    )
}

/// The kiosk camera's frames: QR codes, and while ID scanning is on, an ID document's MRZ
/// held up to the camera (read on the camera's thread, only in frames without a code).
struct KioskFrames {
    decoder: Decoder,
    hub: ScanHub,
}

impl FrameDecoder for KioskFrames {
    fn decode(&mut self, luma: &[u8], size: FrameSize) -> Vec<String> {
        let codes = FrameDecoder::decode(&mut self.decoder, luma, size);
        if !codes.is_empty() {
            return codes;
        }
        self.hub
            .read_mrz(luma, size.width, size.height, false)
            .into_iter()
            .collect()
    }
}

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
                ScannerDevice::Camera {
                    device,
                    width,
                    height,
                    frames_per_second,
                } => Box::new(camera_source(
                    device,
                    *width,
                    *height,
                    *frames_per_second,
                    hub,
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

/// Why `lotse scan camera` could not check a camera.
#[derive(Debug, thiserror::Error)]
pub enum CameraCheckError {
    #[error("cannot open the camera {}: {cause}", device.display())]
    Open {
        device: PathBuf,
        cause: std::io::Error,
    },
    #[error("the camera {} failed while capturing: {cause}", device.display())]
    Capture {
        device: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

/// `lotse scan camera --device DEV --frames N`: opens the camera as the appliance would,
/// captures `frames` frames, decodes each (all formats) and prints JSON lines: the negotiated
/// format, every code seen (`frame`, `format`, `text`), and a summary with the frame rate
/// achieved and the median decode time.
pub fn check_camera(
    device: &Path,
    frames: usize,
    width: u32,
    height: u32,
    out: &mut impl Write,
) -> Result<(), CameraCheckError> {
    let mut cam = V4l2Camera::open(device, camera_options(width, height)).map_err(|cause| {
        CameraCheckError::Open {
            device: device.to_owned(),
            cause,
        }
    })?;
    let info = cam.info().clone();
    writeln!(
        out,
        "{}",
        serde_json::json!({
            "device": info.device.display().to_string(),
            "driver": info.driver,
            "card": info.card,
            "pixel_format": info.fourcc,
            "width": info.mode.size.width,
            "height": info.mode.size.height,
        })
    )?;
    let decoder = Decoder::default();
    let mut luma = Vec::new();
    let (mut captured, mut timeouts, mut codes) = (0usize, 0usize, 0usize);
    let mut decode_ms = Vec::with_capacity(frames);
    let started = Instant::now();
    let mut capture_time = Duration::ZERO;
    for frame in 0..frames {
        let t = Instant::now();
        let size = cam
            .capture(&mut luma)
            .map_err(|cause| CameraCheckError::Capture {
                device: device.to_owned(),
                cause,
            })?;
        capture_time += t.elapsed();
        let Some(size) = size else {
            timeouts += 1;
            continue;
        };
        captured += 1;
        let t = Instant::now();
        let found = decoder
            .decode_frame(&luma, size.width, size.height)
            .unwrap_or_default();
        decode_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        for s in found {
            codes += 1;
            writeln!(
                out,
                "{}",
                serde_json::json!({"frame": frame, "format": s.format, "text": s.text})
            )?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    decode_ms.sort_by(f64::total_cmp);
    let median = decode_ms.get(decode_ms.len() / 2).copied();
    writeln!(
        out,
        "{}",
        serde_json::json!({
            "frames": captured,
            "timeouts": timeouts,
            "codes": codes,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            // Frames per second the camera delivered while we waited for them.
            "capture_fps": if capture_time.is_zero() { 0.0 } else {
                ((captured as f64 / capture_time.as_secs_f64()) * 10.0).round() / 10.0
            },
            "decode_ms_median": median.map(|m| (m * 100.0).round() / 100.0),
        })
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checking_an_absent_camera_names_it() {
        let mut out = Vec::new();
        let e = check_camera(
            Path::new("/dev/v4l/by-id/usb-none-video-index0"),
            3,
            1280,
            720,
            &mut out,
        )
        .unwrap_err();
        assert!(matches!(e, CameraCheckError::Open { .. }));
        assert!(e.to_string().contains("usb-none-video-index0"), "{e}");
        assert!(out.is_empty());
    }

    /// An absent camera is reported once and retried; the hub hears nothing else.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_absent_camera_is_reported_and_retried() {
        let hub = ScanHub::new(
            ScanSettings::default(),
            std::sync::Arc::new(crate::clock::SystemClock),
        );
        let source = camera_source(Path::new("/dev/v4l/by-id/absent"), 1280, 720, 8, &hub);
        let (tx, mut rx) = mpsc::channel(4);
        let handle = Box::new(source).start(tx);
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        match ev {
            ScanEvent::Status {
                source,
                status: SourceStatus::Absent(why),
            } => {
                assert_eq!(source.as_str(), "camera:/dev/v4l/by-id/absent");
                assert!(why.contains("No such file"), "{why}");
            }
            other => panic!("unexpected {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(rx.try_recv().is_err(), "absent is reported once");
        tokio::task::spawn_blocking(move || handle.stop())
            .await
            .unwrap();
    }
}
