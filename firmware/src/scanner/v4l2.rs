//! The V4L2 back-end of [`Camera`]: a USB (UVC) or CSI camera read with mmap streaming.
//! The only file that names `linuxvideo`.
//!
//! Decisions:
//! - **`linuxvideo`** (pure Rust over `libc` ioctls, bindings written by hand) rather than `v4l`,
//!   whose `v4l2-sys` runs bindgen and so needs libclang and kernel headers at build time, also
//!   for the arm64 cross build. `linuxvideo` encapsulates the `unsafe` (ioctls, mmap) and
//!   builds like any pure-Rust crate for any target.
//! - **Format**: [`choose_mode`] over what the camera enumerates, nearest to the wanted size
//!   (default 1280×720), GREY before YUYV before MJPEG; MJPEG only when the caller supplies a
//!   JPEG decoder ([`V4l2Options::mjpeg`]: the server's, as firmware knows no image codecs).
//! - **Capture timeout**: the device is polled before each dequeue, so a stalled camera never
//!   blocks the source thread longer than [`V4l2Options::timeout`]; a run of timeouts, an
//!   error flag on frames, or a vanished device (`ENODEV` after unplugging) is an error, and
//!   [`super::CameraSource`] opens the camera again once it is back.
//! - **Latest frame**: frames that queued up while the previous one was being decoded are
//!   skipped, so a code is decoded from the newest picture, not one from half a second ago.
//! - `linuxvideo` asserts a few driver invariants; every call into it runs under
//!   `catch_unwind`, so a misbehaving driver is an error, never a panic on this thread.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use linuxvideo::format::{FrameSizes as LvFrameSizes, PixFormat, PixelFormat};
use linuxvideo::stream::ReadStream;
use linuxvideo::{BufType, CapabilityFlags, Device};

use super::camera::{
    Camera, CameraMode, FrameSize, FrameSizes, PixelKind, choose_mode, grey_to_luma, yuyv_to_luma,
};

/// Turns one MJPEG frame into luma (resizing the buffer) and returns its size.
pub type MjpegDecoder = Box<dyn FnMut(&[u8], &mut Vec<u8>) -> io::Result<FrameSize> + Send>;

/// What to ask the camera for.
pub struct V4l2Options {
    /// The wanted frame size; the nearest one offered is used.
    pub size: FrameSize,
    /// How long one capture waits for a frame before it reports none.
    pub timeout: Duration,
    /// After this many timeouts in a row the camera counts as gone and is re-opened.
    pub max_timeouts: u32,
    /// Decodes MJPEG frames; without it, MJPEG is never chosen.
    pub mjpeg: Option<MjpegDecoder>,
}

impl std::fmt::Debug for V4l2Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V4l2Options")
            .field("size", &self.size)
            .field("timeout", &self.timeout)
            .field("max_timeouts", &self.max_timeouts)
            .field("mjpeg", &self.mjpeg.is_some())
            .finish()
    }
}

impl Default for V4l2Options {
    fn default() -> Self {
        V4l2Options {
            size: FrameSize {
                width: 1280,
                height: 720,
            },
            timeout: Duration::from_secs(2),
            max_timeouts: 3,
            mjpeg: None,
        }
    }
}

/// What was negotiated with the camera (for logs and `lotse scan camera`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraInfo {
    pub device: PathBuf,
    /// The driver (`uvcvideo`, `vivid`, …) and the camera's name.
    pub driver: String,
    pub card: String,
    /// The pixel format's four-character code as the driver set it (`YUYV`, `GREY`, `MJPG`).
    pub fourcc: String,
    pub mode: CameraMode,
    /// Bytes per row of a raw frame (0 for MJPEG).
    pub bytes_per_line: u32,
}

/// An open V4L2 camera that is streaming.
pub struct V4l2Camera {
    stream: ReadStream,
    info: CameraInfo,
    timeout: Duration,
    max_timeouts: u32,
    timeouts: u32,
    mjpeg: Option<MjpegDecoder>,
}

impl std::fmt::Debug for V4l2Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V4l2Camera")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Runs a call into `linuxvideo`, turning a panic into an error.
fn guarded<T>(what: &str, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(io::Error::other(format!(
            "the camera driver answered {what} unexpectedly"
        )))
    })
}

fn kind_of(pf: PixelFormat) -> Option<PixelKind> {
    match &pf.as_fourcc() {
        b"GREY" => Some(PixelKind::Grey),
        b"YUYV" => Some(PixelKind::Yuyv),
        b"MJPG" | b"JPEG" => Some(PixelKind::Mjpeg),
        _ => None,
    }
}

fn fourcc_text(pf: PixelFormat) -> String {
    String::from_utf8_lossy(&pf.as_fourcc()).trim().to_string()
}

fn sizes_of(device: &Device, pf: PixelFormat) -> io::Result<FrameSizes> {
    Ok(match device.frame_sizes(pf)? {
        LvFrameSizes::Discrete(list) => FrameSizes::Discrete(
            list.iter()
                .map(|s| FrameSize {
                    width: s.width(),
                    height: s.height(),
                })
                .collect(),
        ),
        LvFrameSizes::Stepwise(s) | LvFrameSizes::Continuous(s) => FrameSizes::Stepwise {
            min: FrameSize {
                width: s.min_width(),
                height: s.min_height(),
            },
            max: FrameSize {
                width: s.max_width(),
                height: s.max_height(),
            },
            step: FrameSize {
                width: s.step_width().max(1),
                height: s.step_height().max(1),
            },
        },
    })
}

impl V4l2Camera {
    /// Opens `path`, picks a format and size, maps the buffers and starts streaming.
    ///
    /// Errors: the device is missing (`NotFound`), not accessible (`PermissionDenied`: the
    /// `video` group), not a video capture device, or offers no format Lotse can read.
    pub fn open(path: &Path, mut opts: V4l2Options) -> io::Result<V4l2Camera> {
        let allow_mjpeg = opts.mjpeg.is_some();
        let (stream, info) = guarded("opening", || {
            let device = Device::open(path)?;
            let caps = device.capabilities()?;
            if !caps
                .device_capabilities()
                .contains(CapabilityFlags::VIDEO_CAPTURE | CapabilityFlags::STREAMING)
            {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "{} is not a streaming video capture device (a metadata node of the camera?)",
                        path.display()
                    ),
                ));
            }
            let mut offered = Vec::new();
            let mut codes = Vec::new();
            let mut formats = Vec::new();
            for desc in device.formats(BufType::VIDEO_CAPTURE) {
                let pf = desc?.pixel_format();
                formats.push(fourcc_text(pf));
                if let Some(kind) = kind_of(pf) {
                    // A format whose sizes cannot be listed is skipped, not fatal.
                    if let Ok(sizes) = sizes_of(&device, pf) {
                        offered.push((kind, sizes));
                        codes.push((kind, pf));
                    }
                }
            }
            let mode = choose_mode(&offered, opts.size, allow_mjpeg).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "the camera offers no format Lotse reads (GREY, YUYV{}); it offers: {}",
                        if allow_mjpeg { ", MJPEG" } else { "" },
                        if formats.is_empty() {
                            "none".to_string()
                        } else {
                            formats.join(", ")
                        }
                    ),
                )
            })?;
            let wanted = codes
                .iter()
                .find(|(k, _)| *k == mode.kind)
                .map_or(PixelFormat::YUYV, |(_, pf)| *pf);
            let capture =
                device.video_capture(PixFormat::new(mode.size.width, mode.size.height, wanted))?;
            let got = capture.format();
            // The driver may adjust what was asked for; read what it set.
            let kind = kind_of(got.pixel_format()).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "the camera switched to {}, which Lotse does not read",
                        fourcc_text(got.pixel_format())
                    ),
                )
            })?;
            if kind == PixelKind::Mjpeg && !allow_mjpeg {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the camera insists on MJPEG and no JPEG decoder is configured",
                ));
            }
            let info = CameraInfo {
                device: path.to_owned(),
                driver: caps.driver().to_string(),
                card: caps.card().to_string(),
                fourcc: fourcc_text(got.pixel_format()),
                mode: CameraMode {
                    kind,
                    size: FrameSize {
                        width: got.width(),
                        height: got.height(),
                    },
                },
                bytes_per_line: got.bytes_per_line(),
            };
            let stream = capture.into_stream()?;
            Ok((stream, info))
        })?;
        Ok(V4l2Camera {
            stream,
            info,
            timeout: opts.timeout,
            max_timeouts: opts.max_timeouts.max(1),
            timeouts: 0,
            mjpeg: opts.mjpeg.take(),
        })
    }

    /// What was negotiated.
    pub fn info(&self) -> &CameraInfo {
        &self.info
    }

    /// Converts one dequeued buffer into luma.
    fn convert(
        info: &CameraInfo,
        mjpeg: &mut Option<MjpegDecoder>,
        data: &[u8],
        luma: &mut Vec<u8>,
    ) -> io::Result<FrameSize> {
        let FrameSize { width, height } = info.mode.size;
        let short = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the camera sent a short frame ({} bytes)", data.len()),
            )
        };
        match info.mode.kind {
            PixelKind::Grey => {
                let stride = (info.bytes_per_line as usize).max(width as usize);
                grey_to_luma(data, width, height, stride, luma)
                    .then_some(info.mode.size)
                    .ok_or_else(short)
            }
            PixelKind::Yuyv => {
                let stride = (info.bytes_per_line as usize).max(width as usize * 2);
                yuyv_to_luma(data, width, height, stride, luma)
                    .then_some(info.mode.size)
                    .ok_or_else(short)
            }
            PixelKind::Mjpeg => match mjpeg {
                Some(decode) => decode(data, luma),
                None => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "MJPEG frame without a decoder",
                )),
            },
        }
    }
}

impl Camera for V4l2Camera {
    fn capture(&mut self, luma: &mut Vec<u8>) -> io::Result<Option<FrameSize>> {
        let deadline = Instant::now() + self.timeout;
        if !super::hid::wait_readable(&self.stream, self.timeout)? {
            self.timeouts += 1;
            if self.timeouts >= self.max_timeouts {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no frame for {} s",
                        (self.timeout * self.max_timeouts).as_secs()
                    ),
                ));
            }
            return Ok(None);
        }
        let mut size = None;
        // Take the newest frame: dequeue while more are ready (at most the buffer count, plus
        // a bound in case the driver keeps signalling).
        for _ in 0..4 {
            let (info, mjpeg) = (&self.info, &mut self.mjpeg);
            let got = guarded("a capture", || {
                self.stream.dequeue(|buf| {
                    if buf.is_error() {
                        // A damaged frame (USB bandwidth): skip it, not the camera.
                        return Ok(None);
                    }
                    Self::convert(info, mjpeg, &buf, luma).map(Some)
                })
            });
            match got {
                Ok(Some(s)) => size = Some(s),
                Ok(None) => {}
                // A frame that does not convert is skipped; a vanished device is an error.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::InvalidData | io::ErrorKind::Unsupported
                    ) =>
                {
                    size = None;
                }
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline
                || !super::hid::wait_readable(&self.stream, Duration::ZERO)?
            {
                break;
            }
        }
        // Only damaged or unconvertible frames count like a timeout: a camera that never
        // delivers a usable frame is re-opened too.
        if size.is_some() {
            self.timeouts = 0;
        } else {
            self.timeouts += 1;
            if self.timeouts >= self.max_timeouts {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the camera delivers no usable frames",
                ));
            }
        }
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_is_not_found() {
        let e = V4l2Camera::open(
            Path::new("/dev/v4l/by-id/no-such-camera"),
            V4l2Options::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn files_that_are_not_cameras_are_refused() {
        // /dev/null and a regular file answer the capability ioctl with ENOTTY.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("video0");
        std::fs::write(&file, b"not a camera").unwrap();
        for p in [Path::new("/dev/null"), file.as_path()] {
            let e = V4l2Camera::open(p, V4l2Options::default()).unwrap_err();
            assert_ne!(e.kind(), io::ErrorKind::NotFound, "{p:?}: {e}");
        }
    }
}
