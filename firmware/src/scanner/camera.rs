//! A camera as a scan source: frames are captured and decoded on the source's own thread,
//! never on the async runtime, and only decoded texts travel through the channel.
//!
//! - [`Camera`] delivers 8-bit luma frames into a buffer the source reuses (no allocation per
//!   frame); [`yuyv_to_luma`] takes the Y samples out of the YUYV 4:2:2 frames USB cameras
//!   send (the one copy is unavoidable: Y is interleaved with chroma), [`grey_to_luma`] drops
//!   the row padding of GREY frames.
//! - [`FrameDecoder`] is the barcode decoder; the server implements it with its rxing
//!   pipeline, so firmware stays free of decoding.
//! - [`CameraSource`] paces the loop to a modest rate (default 8 frames per second), and
//!   reports a code once while it stays in view (again only after it was gone for a while).
//! - [`choose_mode`] picks the pixel format and frame size a camera offers that suit
//!   decoding best (pure, so it is tested without a camera).
//! - [`SimCamera`] plays given frames (rendered codes, decoded image files).
//!
//! The V4L2 back-end is [`super::v4l2`].

use std::io;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{
    Presence, RETRY_ABSENT, ScanEvent, ScanSource, SourceHandle, SourceId, SourceStatus, Stop, send,
};

/// Width and height of a luma frame (row-major, one byte per pixel, no padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSize {
    pub width: u32,
    pub height: u32,
}

/// A camera that captures 8-bit luma frames.
pub trait Camera: Send {
    /// Captures the next frame into `luma` (resized as needed); `Ok(None)` when no frame came
    /// in time, an error when the camera is gone (the source re-opens it).
    fn capture(&mut self, luma: &mut Vec<u8>) -> io::Result<Option<FrameSize>>;
}

/// Decodes codes in a luma frame; called on the camera's thread, so it may take its time.
pub trait FrameDecoder: Send {
    /// The texts of the codes in the frame (usually none).
    fn decode(&mut self, luma: &[u8], size: FrameSize) -> Vec<String>;
}

/// Opens the camera; called again after it failed or was absent.
pub type CameraOpener = Box<dyn FnMut() -> io::Result<Box<dyn Camera>> + Send>;

/// Pacing and repeat suppression of a [`CameraSource`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CameraPacing {
    /// Minimum time between two decoded frames.
    pub frame_interval: Duration,
    /// The same text is reported again only after it was not seen for this long.
    pub repeat_after: Duration,
}

impl Default for CameraPacing {
    fn default() -> Self {
        CameraPacing {
            frame_interval: Duration::from_millis(125),
            repeat_after: Duration::from_secs(3),
        }
    }
}

/// A camera and a decoder as a [`ScanSource`].
pub struct CameraSource {
    id: SourceId,
    open: CameraOpener,
    decoder: Box<dyn FrameDecoder>,
    pacing: CameraPacing,
}

impl std::fmt::Debug for CameraSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraSource")
            .field("id", &self.id)
            .field("pacing", &self.pacing)
            .finish_non_exhaustive()
    }
}

impl CameraSource {
    /// A source that opens its camera with `open` and decodes every paced frame.
    pub fn new(
        id: SourceId,
        open: impl FnMut() -> io::Result<Box<dyn Camera>> + Send + 'static,
        decoder: Box<dyn FrameDecoder>,
        pacing: CameraPacing,
    ) -> Self {
        CameraSource {
            id,
            open: Box::new(open),
            decoder,
            pacing,
        }
    }
}

impl ScanSource for CameraSource {
    fn id(&self) -> &SourceId {
        &self.id
    }

    fn start(self: Box<Self>, tx: mpsc::Sender<ScanEvent>) -> SourceHandle {
        let id = self.id.clone();
        SourceHandle::spawn(id, move |stop| self.run(&tx, &stop))
    }
}

impl CameraSource {
    fn run(mut self, tx: &mpsc::Sender<ScanEvent>, stop: &Stop) {
        let mut presence = Presence::new(self.id.clone());
        let mut luma = Vec::new();
        // Texts in view and when they were last seen.
        let mut seen: Vec<(String, Instant)> = Vec::new();
        while !stop.is_set() {
            let mut cam = match (self.open)() {
                Ok(c) => c,
                Err(e) => {
                    if !presence.set(tx, SourceStatus::Absent(e.to_string()))
                        || !stop.sleep(RETRY_ABSENT)
                    {
                        return;
                    }
                    continue;
                }
            };
            if !presence.set(tx, SourceStatus::Connected) {
                return;
            }
            let failure = loop {
                let started = Instant::now();
                if stop.is_set() {
                    return;
                }
                let size = match cam.capture(&mut luma) {
                    Ok(size) => size,
                    Err(e) => break e,
                };
                if let Some(size) = size {
                    let expected = u64::from(size.width) * u64::from(size.height);
                    if luma.len() as u64 != expected {
                        break io::Error::new(
                            io::ErrorKind::InvalidData,
                            "frame of the wrong size",
                        );
                    }
                }
                let now = Instant::now();
                seen.retain(|(_, t)| now.duration_since(*t) < self.pacing.repeat_after);
                let texts = match size {
                    Some(size) => self.decoder.decode(&luma, size),
                    None => Vec::new(),
                };
                for text in texts {
                    if let Some(entry) = seen.iter_mut().find(|(t, _)| *t == text) {
                        entry.1 = now;
                        continue;
                    }
                    seen.push((text.clone(), now));
                    let ev = ScanEvent::Text {
                        source: self.id.clone(),
                        text,
                    };
                    if !send(tx, ev) {
                        return;
                    }
                }
                let spent = started.elapsed();
                if spent < self.pacing.frame_interval
                    && !stop.sleep(self.pacing.frame_interval - spent)
                {
                    return;
                }
            };
            if !presence.set(tx, SourceStatus::Absent(failure.to_string()))
                || !stop.sleep(RETRY_ABSENT)
            {
                return;
            }
        }
    }
}

/// Copies the Y samples of a YUYV (4:2:2, `Y0 U Y1 V`) frame into `luma`; `stride` is the
/// byte length of a row (at least `2 × width`). Returns `false` when the buffer is too short.
pub fn yuyv_to_luma(
    yuyv: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    luma: &mut Vec<u8>,
) -> bool {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 {
        luma.clear();
        return true;
    }
    let Some(row_bytes) = w.checked_mul(2) else {
        return false;
    };
    // The last row may end without its padding.
    let needed = (h - 1)
        .checked_mul(stride)
        .and_then(|n| n.checked_add(row_bytes));
    if stride < row_bytes || needed.is_none_or(|n| yuyv.len() < n) {
        return false;
    }
    luma.clear();
    luma.reserve(w * h);
    for row in yuyv.chunks(stride).take(h) {
        luma.extend(row[..row_bytes].iter().step_by(2));
    }
    true
}

/// Copies a GREY (Y8) frame whose rows are `stride` bytes apart into `luma` without the
/// padding. Returns `false` when the buffer is too short.
pub fn grey_to_luma(
    grey: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    luma: &mut Vec<u8>,
) -> bool {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 {
        luma.clear();
        return true;
    }
    let needed = (h - 1).checked_mul(stride).and_then(|n| n.checked_add(w));
    if stride < w || needed.is_none_or(|n| grey.len() < n) {
        return false;
    }
    luma.clear();
    if stride == w {
        luma.extend_from_slice(&grey[..w * h]);
    } else {
        luma.reserve(w * h);
        for row in grey.chunks(stride).take(h) {
            luma.extend_from_slice(&row[..w]);
        }
    }
    true
}

/// A pixel format a camera back-end turns into luma.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PixelKind {
    /// 8-bit grey (`GREY`): already luma.
    Grey,
    /// YUYV 4:2:2 (`YUYV`): the Y samples are taken.
    Yuyv,
    /// Motion JPEG (`MJPG`, `JPEG`): each frame is decoded; costs a few milliseconds per frame.
    Mjpeg,
}

impl PixelKind {
    /// The V4L2 four-character code.
    pub fn fourcc(self) -> &'static str {
        match self {
            PixelKind::Grey => "GREY",
            PixelKind::Yuyv => "YUYV",
            PixelKind::Mjpeg => "MJPG",
        }
    }

    /// How much worse than a grey frame of the same size this format is, in the units of
    /// [`choose_mode`]'s size distance: MJPEG costs a decode and blurs fine modules, so it wins
    /// only when the raw formats offer far smaller frames (less than about half the pixels).
    fn penalty(self) -> f64 {
        match self {
            PixelKind::Grey => 0.0,
            PixelKind::Yuyv => 0.05,
            PixelKind::Mjpeg => 0.7,
        }
    }
}

/// The frame sizes a camera offers for one pixel format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameSizes {
    /// A list of sizes (most USB cameras).
    Discrete(Vec<FrameSize>),
    /// Any size from `min` to `max` in steps (virtual and some CSI cameras).
    Stepwise {
        min: FrameSize,
        max: FrameSize,
        step: FrameSize,
    },
}

/// A pixel format and frame size to capture with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CameraMode {
    pub kind: PixelKind,
    pub size: FrameSize,
}

/// How far `size` is from `want`: the log of the pixel count ratio plus the log of the aspect
/// ratio ratio (so 1920×1080 and 640×360 are equally far from 1280×720 in area terms, and a
/// 4:3 frame is a little further than a 16:9 one of the same area).
fn size_distance(size: FrameSize, want: FrameSize) -> f64 {
    let area = |s: FrameSize| f64::from(s.width.max(1)) * f64::from(s.height.max(1));
    let aspect = |s: FrameSize| f64::from(s.width.max(1)) / f64::from(s.height.max(1));
    (area(size) / area(want)).ln().abs() + (aspect(size) / aspect(want)).ln().abs()
}

/// The nearest size to `want` that a stepwise range allows.
fn nearest_in_range(min: FrameSize, max: FrameSize, step: FrameSize, want: FrameSize) -> FrameSize {
    let fit = |lo: u32, hi: u32, st: u32, w: u32| -> u32 {
        let hi = hi.max(lo);
        let w = w.clamp(lo, hi);
        let st = st.max(1);
        let k = (w - lo + st / 2) / st;
        (lo + k * st).min(hi)
    };
    FrameSize {
        width: fit(min.width, max.width, step.width, want.width),
        height: fit(min.height, max.height, step.height, want.height),
    }
}

/// Picks the pixel format and size to capture with from what a camera offers: the size nearest
/// to `want` (by pixel count and aspect), GREY before YUYV before MJPEG at the same size, and
/// MJPEG only when `allow_mjpeg` (a JPEG decoder is at hand). `None` when nothing usable is
/// offered.
pub fn choose_mode(
    offered: &[(PixelKind, FrameSizes)],
    want: FrameSize,
    allow_mjpeg: bool,
) -> Option<CameraMode> {
    let mut best: Option<(f64, CameraMode)> = None;
    for (kind, sizes) in offered {
        if *kind == PixelKind::Mjpeg && !allow_mjpeg {
            continue;
        }
        let candidates: Vec<FrameSize> = match sizes {
            FrameSizes::Discrete(list) => list.clone(),
            FrameSizes::Stepwise { min, max, step } => {
                vec![nearest_in_range(*min, *max, *step, want)]
            }
        };
        for size in candidates {
            if size.width == 0 || size.height == 0 {
                continue;
            }
            let score = size_distance(size, want) + kind.penalty();
            let better = match &best {
                None => true,
                Some((s, m)) => score < *s - 1e-9 || (score - *s).abs() <= 1e-9 && *kind < m.kind,
            };
            if better {
                best = Some((score, CameraMode { kind: *kind, size }));
            }
        }
    }
    best.map(|(_, m)| m)
}

/// A simulated camera: plays its frames in a loop, then blank frames if `once`.
#[derive(Debug, Clone)]
pub struct SimCamera {
    frames: Vec<(Vec<u8>, FrameSize)>,
    next: usize,
    once: bool,
}

impl SimCamera {
    /// A camera showing `frames` over and over (luma, row-major).
    pub fn looping(frames: Vec<(Vec<u8>, FrameSize)>) -> Self {
        SimCamera {
            frames,
            next: 0,
            once: false,
        }
    }

    /// A camera showing `frames` once, then an empty grey scene.
    pub fn once(frames: Vec<(Vec<u8>, FrameSize)>) -> Self {
        SimCamera {
            frames,
            next: 0,
            once: true,
        }
    }
}

impl Camera for SimCamera {
    fn capture(&mut self, luma: &mut Vec<u8>) -> io::Result<Option<FrameSize>> {
        if self.frames.is_empty() {
            return Ok(None);
        }
        if self.next >= self.frames.len() {
            if self.once {
                let size = FrameSize {
                    width: 64,
                    height: 48,
                };
                luma.clear();
                luma.resize(64 * 48, 128);
                return Ok(Some(size));
            }
            self.next = 0;
        }
        let (data, size) = &self.frames[self.next];
        self.next += 1;
        luma.clear();
        luma.extend_from_slice(data);
        Ok(Some(*size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn yuyv_keeps_the_y_samples_and_honours_the_stride() {
        // 2×2 frame, rows padded to 6 bytes.
        let yuyv = [10, 1, 20, 2, 0xEE, 0xEE, 30, 3, 40, 4, 0xEE, 0xEE];
        let mut luma = Vec::new();
        assert!(yuyv_to_luma(&yuyv, 2, 2, 6, &mut luma));
        assert_eq!(luma, [10, 20, 30, 40]);
        // The last row may lack its padding.
        assert!(yuyv_to_luma(&yuyv[..10], 2, 2, 6, &mut luma));
        assert!(!yuyv_to_luma(&yuyv[..7], 2, 2, 6, &mut luma));
        assert!(!yuyv_to_luma(&yuyv, 4, 2, 6, &mut luma));
        let big = vec![0u8; 1280 * 2 * 720];
        assert!(yuyv_to_luma(&big, 1280, 720, 2560, &mut luma));
        assert_eq!(luma.len(), 1280 * 720);
    }

    #[test]
    fn grey_drops_the_row_padding() {
        let grey = [1, 2, 0xEE, 3, 4, 0xEE];
        let mut luma = Vec::new();
        assert!(grey_to_luma(&grey, 2, 2, 3, &mut luma));
        assert_eq!(luma, [1, 2, 3, 4]);
        assert!(grey_to_luma(&grey[..5], 2, 2, 3, &mut luma));
        assert!(!grey_to_luma(&grey[..4], 2, 2, 3, &mut luma));
        assert!(!grey_to_luma(&grey, 4, 2, 3, &mut luma));
        assert!(grey_to_luma(&[9, 8, 7, 6], 2, 2, 2, &mut luma));
        assert_eq!(luma, [9, 8, 7, 6]);
    }

    fn sz(width: u32, height: u32) -> FrameSize {
        FrameSize { width, height }
    }

    const HD: FrameSize = FrameSize {
        width: 1280,
        height: 720,
    };

    #[test]
    fn modes_prefer_720p_and_raw_formats() {
        // A typical USB webcam: YUYV up to 1280×720 (10 fps), MJPEG up to 1920×1080.
        let webcam = vec![
            (
                PixelKind::Yuyv,
                FrameSizes::Discrete(vec![sz(640, 480), sz(1280, 720), sz(320, 240)]),
            ),
            (
                PixelKind::Mjpeg,
                FrameSizes::Discrete(vec![sz(1920, 1080), sz(1280, 720), sz(640, 480)]),
            ),
        ];
        assert_eq!(
            choose_mode(&webcam, HD, true),
            Some(CameraMode {
                kind: PixelKind::Yuyv,
                size: HD
            })
        );
        // GREY wins over YUYV at the same size.
        let mut mono = webcam.clone();
        mono.push((PixelKind::Grey, FrameSizes::Discrete(vec![sz(1280, 720)])));
        assert_eq!(choose_mode(&mono, HD, true).unwrap().kind, PixelKind::Grey);
        // Raw only up to VGA: MJPEG at 720p is worth its decode, unless there is no decoder.
        let vga_raw = vec![
            (
                PixelKind::Yuyv,
                FrameSizes::Discrete(vec![sz(640, 480), sz(320, 240)]),
            ),
            (
                PixelKind::Mjpeg,
                FrameSizes::Discrete(vec![sz(1280, 720), sz(1920, 1080)]),
            ),
        ];
        assert_eq!(
            choose_mode(&vga_raw, HD, true),
            Some(CameraMode {
                kind: PixelKind::Mjpeg,
                size: HD
            })
        );
        assert_eq!(
            choose_mode(&vga_raw, HD, false),
            Some(CameraMode {
                kind: PixelKind::Yuyv,
                size: sz(640, 480)
            })
        );
        // The nearest size when 720p is not offered: 1024×576 rather than 1920×1080 or 640×480.
        let odd = vec![(
            PixelKind::Yuyv,
            FrameSizes::Discrete(vec![sz(1920, 1080), sz(1024, 576), sz(640, 480)]),
        )];
        assert_eq!(choose_mode(&odd, HD, true).unwrap().size, sz(1024, 576));
        // Nothing usable.
        assert_eq!(choose_mode(&[], HD, true), None);
        let only_mjpeg = vec![(PixelKind::Mjpeg, FrameSizes::Discrete(vec![HD]))];
        assert_eq!(choose_mode(&only_mjpeg, HD, false), None);
        let zero = vec![(PixelKind::Grey, FrameSizes::Discrete(vec![sz(0, 0)]))];
        assert_eq!(choose_mode(&zero, HD, true), None);
    }

    #[test]
    fn stepwise_sizes_are_rounded_to_their_steps() {
        // vivid offers 16×16 … 1920×1200 in steps of 2 (continuous in some versions).
        let vivid = vec![(
            PixelKind::Yuyv,
            FrameSizes::Stepwise {
                min: sz(16, 16),
                max: sz(1920, 1200),
                step: sz(2, 2),
            },
        )];
        assert_eq!(choose_mode(&vivid, HD, false).unwrap().size, HD);
        let coarse = vec![(
            PixelKind::Grey,
            FrameSizes::Stepwise {
                min: sz(100, 100),
                max: sz(1000, 700),
                step: sz(64, 64),
            },
        )];
        // Clamped to the maximum, then to the step grid inside the range.
        assert_eq!(choose_mode(&coarse, HD, false).unwrap().size, sz(996, 676));
    }

    /// "Decodes" a frame whose first pixel is not 128 into the text of that value.
    #[derive(Debug)]
    struct PixelDecoder(Arc<Mutex<u32>>);

    impl FrameDecoder for PixelDecoder {
        fn decode(&mut self, luma: &[u8], _size: FrameSize) -> Vec<String> {
            *self.0.lock().unwrap() += 1;
            match luma.first() {
                Some(&v) if v != 128 => vec![format!("code-{v}")],
                _ => Vec::new(),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_code_in_view_is_reported_once_and_frames_are_paced() {
        let frame = |v: u8| {
            (
                vec![v; 4 * 3],
                FrameSize {
                    width: 4,
                    height: 3,
                },
            )
        };
        let cam = SimCamera::once(vec![frame(7), frame(7), frame(7), frame(9)]);
        let calls = Arc::new(Mutex::new(0));
        let mut cam = Some(cam);
        let source = CameraSource::new(
            SourceId::new("cam"),
            move || match cam.take() {
                Some(c) => Ok(Box::new(c) as Box<dyn Camera>),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "no camera")),
            },
            Box::new(PixelDecoder(calls.clone())),
            CameraPacing {
                frame_interval: Duration::from_millis(20),
                repeat_after: Duration::from_secs(3),
            },
        );
        let (tx, mut rx) = mpsc::channel(16);
        let t = Instant::now();
        let handle = Box::new(source).start(tx);
        let mut texts = Vec::new();
        while texts.len() < 2 {
            let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap();
            if let ScanEvent::Text { text, .. } = ev {
                texts.push(text);
            }
        }
        assert_eq!(texts, ["code-7", "code-9"]);
        // Four frames at 20 ms intervals: paced, not a busy loop.
        assert!(t.elapsed() >= Duration::from_millis(60));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let n = *calls.lock().unwrap();
        assert!(n < 30, "{n} frames in about 300 ms");
        assert!(rx.try_recv().is_err(), "blank frames report nothing");
        tokio::task::spawn_blocking(move || handle.stop())
            .await
            .unwrap();
    }
}
