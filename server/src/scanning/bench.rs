//! The barcode corpus (`shared/testdata/barcodes`) as test cases, decode counts per set, and
//! `lotse scan bench`: timings of [`super::decode`] next to the `zxing-cpp` Python wheel
//! (`bench_zxingcpp.py`), both fed the same luma buffers so only decoding is timed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::decode::{Decoder, Symbol};

/// One image of the corpus with what it must decode to.
#[derive(Debug, Clone)]
pub struct Case {
    pub image: PathBuf,
    /// Expected bytes: the `.txt` file (UTF-8) or the `.bin` file (raw bytes, compared with the
    /// ISO-8859-1 reading of the decoded text).
    pub expected: Vec<u8>,
    pub raw: bool,
}

impl Case {
    /// Whether any decoded symbol carries the expected content.
    pub fn matches(&self, symbols: &[Symbol]) -> bool {
        symbols.iter().any(|s| {
            if s.text.as_bytes() == self.expected.as_slice() {
                return true;
            }
            self.raw && latin1(&s.text).is_some_and(|b| b == self.expected)
        })
    }
}

fn latin1(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

/// A folder of the corpus, e.g. `zxing-cpp/qrcode-2`.
#[derive(Debug, Clone)]
pub struct Set {
    pub name: String,
    pub cases: Vec<Case>,
}

/// Every set under `root` (`<project>/<set>/NAME.{png,jpg,webp}` with `NAME.txt|bin`), sorted.
pub fn corpus(root: &Path) -> std::io::Result<Vec<Set>> {
    let mut sets = Vec::new();
    for project in sorted_dirs(root)? {
        for set in sorted_dirs(&project)? {
            let mut cases = Vec::new();
            let mut files: Vec<PathBuf> = std::fs::read_dir(&set)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            files.sort();
            for image in files {
                let ext = image
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                if !matches!(
                    ext.as_deref(),
                    Some("png" | "jpg" | "jpeg" | "webp" | "tif" | "tiff")
                ) {
                    continue;
                }
                let (txt, bin) = (image.with_extension("txt"), image.with_extension("bin"));
                let (expected, raw) = if let Ok(b) = std::fs::read(&bin) {
                    (b, true)
                } else if let Ok(t) = std::fs::read(&txt) {
                    (t, false)
                } else {
                    continue;
                };
                cases.push(Case {
                    image,
                    expected,
                    raw,
                });
            }
            let name = format!(
                "{}/{}",
                project.file_name().unwrap_or_default().to_string_lossy(),
                set.file_name().unwrap_or_default().to_string_lossy()
            );
            sets.push(Set { name, cases });
        }
    }
    Ok(sets)
}

fn sorted_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

/// Decode results of one set.
#[derive(Debug, Clone, Default)]
pub struct SetResult {
    pub name: String,
    pub correct: usize,
    pub total: usize,
    /// Decoding time only (images are loaded beforehand).
    pub decode_time: Duration,
    pub failed: Vec<PathBuf>,
}

/// Decodes every case of a set with [`Decoder::decode_image`].
pub fn run_set(decoder: &Decoder, set: &Set) -> SetResult {
    let mut r = SetResult {
        name: set.name.clone(),
        total: set.cases.len(),
        ..SetResult::default()
    };
    for case in &set.cases {
        let Ok(img) = super::decode::load_luma(&case.image) else {
            r.failed.push(case.image.clone());
            continue;
        };
        let t = Instant::now();
        let found = decoder
            .decode_image(img.as_raw(), img.width(), img.height())
            .unwrap_or_default();
        r.decode_time += t.elapsed();
        if case.matches(&found) {
            r.correct += 1;
        } else {
            r.failed.push(case.image.clone());
        }
    }
    r
}

/// A 1280×720 camera-like frame: mid-grey with soft gradients and, optionally, a QR code.
pub fn synthetic_frame(with_code: Option<&str>) -> Vec<u8> {
    let (w, h) = (1280usize, 720usize);
    let mut luma: Vec<u8> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            (90 + (x * 60 / w) + (y * 40 / h) + ((x ^ y) & 7)) as u8
        })
        .collect();
    if let Some(text) = with_code {
        use rxing::{BarcodeFormat, MultiFormatWriter, Writer};
        if let Ok(bits) = MultiFormatWriter.encode(text, &BarcodeFormat::QR_CODE, 260, 260) {
            let (x0, y0) = (500usize, 230usize);
            for y in 0..bits.height() {
                for x in 0..bits.width() {
                    let p = &mut luma[(y0 + y as usize) * w + x0 + x as usize];
                    *p = if bits.get(x, y) { 30 } else { 220 };
                }
            }
        }
    }
    luma
}

/// Median time per 1280×720 frame over `frames` runs and how many runs found a code.
fn time_frames(decoder: &Decoder, luma: &[u8], frames: usize) -> Timing {
    let mut times = Vec::with_capacity(frames.max(1));
    let mut hits = 0;
    for _ in 0..frames.max(1) {
        let t = Instant::now();
        let found = decoder.decode_frame(luma, 1280, 720);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if found.is_ok_and(|v| !v.is_empty()) {
            hits += 1;
        }
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], hits)
}

/// Median ms per frame and how many frames decoded.
type Timing = (f64, usize);

/// Frame timings of one side for empty/code × QR/all formats.
#[derive(Debug, Clone, Copy, Default)]
struct Frames {
    empty_qr: Timing,
    code_qr: Timing,
    empty_all: Timing,
    code_all: Timing,
}

/// Whether a set holds QR codes (the goal's sets).
pub fn is_qr_set(name: &str) -> bool {
    name.rsplit('/')
        .next()
        .is_some_and(|s| s.starts_with("qrcode"))
}

/// Runs the benchmark and, when `zxing_cpp_script` is given, the same measurements with the
/// zxing-cpp wheel (installed by the script when missing). Returns a printable report.
pub fn run(root: &Path, frames: usize, zxing_cpp_script: Option<&Path>) -> std::io::Result<String> {
    let decoder = Decoder::default();
    let camera = Decoder::new(&super::decode::CAMERA_FORMATS);
    let sets = corpus(root)?;
    let mut out = String::new();

    let ours: Vec<SetResult> = sets.iter().map(|s| run_set(&decoder, s)).collect();
    let empty = synthetic_frame(None);
    let code = synthetic_frame(Some("LOTSE1.eyJyZWYiOiJULTIwMjYtMDA0NzExIn0.sig"));
    let mine = Frames {
        empty_qr: time_frames(&camera, &empty, frames),
        code_qr: time_frames(&camera, &code, frames),
        empty_all: time_frames(&decoder, &empty, frames),
        code_all: time_frames(&decoder, &code, frames),
    };
    let theirs = match zxing_cpp_script {
        Some(script) => Some(run_zxing_cpp(script, &sets, &empty, &code, frames)?),
        None => None,
    };

    let _ = writeln!(
        out,
        "barcode decoding: lotse (rxing) vs {}, the same 8-bit luma buffers, decoding time only",
        theirs
            .as_ref()
            .map(|t| format!("zxing-cpp {}", t.version))
            .unwrap_or_else(|| "zxing-cpp (not run: pass --zxing-cpp SCRIPT)".into())
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<24} {:>6} {:>9} {:>10} {:>13} {:>15}",
        "set (all 5 formats)", "images", "lotse ok", "zxing ok", "lotse ms/img", "zxing ms/img"
    );
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let (mut qr_lotse, mut qr_zxing, mut qr_total, mut worse) = (0, 0, 0, Vec::new());
    let (mut t_lotse, mut t_zxing, mut n_images) = (0.0, 0.0, 0usize);
    for (i, r) in ours.iter().enumerate() {
        let ms = r.decode_time.as_secs_f64() * 1000.0 / r.total.max(1) as f64;
        let cpp = theirs.as_ref().and_then(|t| t.sets.get(i)).copied();
        t_lotse += r.decode_time.as_secs_f64() * 1000.0;
        n_images += r.total;
        if let Some((_, cms)) = cpp {
            t_zxing += cms * r.total as f64;
        }
        if is_qr_set(&r.name) {
            qr_lotse += r.correct;
            qr_total += r.total;
            if let Some((ok, _)) = cpp {
                qr_zxing += ok;
                if r.correct < ok {
                    worse.push(r.name.clone());
                }
            }
        }
        let _ = writeln!(
            out,
            "{:<24} {:>6} {:>9} {:>10} {:>13.2} {:>15}",
            r.name,
            r.total,
            r.correct,
            dash(cpp.map(|(ok, _)| ok.to_string())),
            ms,
            dash(cpp.map(|(_, ms)| format!("{ms:.2}")))
        );
    }
    let _ = writeln!(
        out,
        "{:<24} {:>6} {:>9} {:>10} {:>13.2} {:>15}",
        "QR sets / all sets",
        format!("{qr_total}"),
        qr_lotse,
        dash(theirs.as_ref().map(|_| qr_zxing.to_string())),
        t_lotse / n_images.max(1) as f64,
        dash(
            theirs
                .as_ref()
                .map(|_| format!("{:.2}", t_zxing / n_images.max(1) as f64))
        )
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<40} {:>9} {:>9} {:>16}",
        format!("1280x720 frame, median of {frames}"),
        "lotse ms",
        "zxing ms",
        "decoded l / z"
    );
    let rows: [(&str, Timing, Option<Timing>); 4] = [
        (
            "without code, QR (the kiosk camera)",
            mine.empty_qr,
            theirs.as_ref().map(|t| t.frames.empty_qr),
        ),
        (
            "with code, QR (the kiosk camera)",
            mine.code_qr,
            theirs.as_ref().map(|t| t.frames.code_qr),
        ),
        (
            "without code, all 5 formats",
            mine.empty_all,
            theirs.as_ref().map(|t| t.frames.empty_all),
        ),
        (
            "with code, all 5 formats",
            mine.code_all,
            theirs.as_ref().map(|t| t.frames.code_all),
        ),
    ];
    for (label, (ms, hits), cpp) in rows {
        let _ = writeln!(
            out,
            "{:<40} {:>9.3} {:>9} {:>16}",
            label,
            ms,
            dash(cpp.map(|(ms, _)| format!("{ms:.3}"))),
            format!(
                "{hits}/{frames} / {}",
                dash(cpp.map(|(_, h)| h.to_string()))
            )
        );
    }
    if let Some(t) = &theirs {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "goal, QR sets: as many correct as zxing-cpp on every set: {}",
            if worse.is_empty() {
                "met".to_string()
            } else {
                format!("NOT met ({})", worse.join(", "))
            }
        );
        let slower: Vec<&str> = [
            ("empty frame", mine.empty_qr.0, t.frames.empty_qr.0),
            ("frame with code", mine.code_qr.0, t.frames.code_qr.0),
        ]
        .into_iter()
        .filter(|(_, a, b)| a > b)
        .map(|(n, _, _)| n)
        .collect();
        let _ = writeln!(
            out,
            "goal, kiosk camera frames no slower than zxing-cpp: {}",
            if slower.is_empty() {
                "met".to_string()
            } else {
                format!("NOT met ({})", slower.join(", "))
            }
        );
    }
    if let Some(t) = &theirs {
        let missed: Vec<String> = ours
            .iter()
            .filter(|r| is_qr_set(&r.name))
            .flat_map(|r| r.failed.iter())
            .filter(|p| t.read.contains(*p))
            .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
            .collect();
        if !missed.is_empty() {
            let _ = writeln!(
                out,
                "QR images zxing-cpp reads and lotse does not: {}",
                missed.join(", ")
            );
        }
    }
    if mine.empty_qr.1 + mine.empty_all.1 > 0 {
        let _ = writeln!(out, "warning: false decodes on the empty frame");
    }
    Ok(out)
}

#[derive(Debug)]
struct ZxingCpp {
    /// Images zxing-cpp read correctly.
    read: std::collections::HashSet<PathBuf>,
    version: String,
    sets: Vec<(usize, f64)>,
    frames: Frames,
}

/// Writes the luma buffers and a manifest to a temp dir and runs the Python script on it.
fn run_zxing_cpp(
    script: &Path,
    sets: &[Set],
    empty: &[u8],
    code: &[u8],
    frames: usize,
) -> std::io::Result<ZxingCpp> {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "lotse-scan-bench-{}",
        uuid::Uuid::now_v7().simple()
    )));
    std::fs::create_dir_all(dir.path())?;
    let mut manifest = String::new();
    let mut n = 0usize;
    let mut images = std::collections::HashMap::new();
    for (si, set) in sets.iter().enumerate() {
        for case in &set.cases {
            let Ok(img) = super::decode::load_luma(&case.image) else {
                continue;
            };
            n += 1;
            let p = dir.path().join(format!("{n}.gray"));
            std::fs::write(&p, img.as_raw())?;
            images.insert(p.display().to_string(), case.image.clone());
            let hex: String = case.expected.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(
                manifest,
                "{si}\t{}\t{}\t{}\t{}\t{hex}",
                p.display(),
                img.width(),
                img.height(),
                u8::from(case.raw)
            );
        }
    }
    std::fs::write(dir.path().join("empty.gray"), empty)?;
    std::fs::write(dir.path().join("code.gray"), code)?;
    let mpath = dir.path().join("manifest.tsv");
    std::fs::write(&mpath, manifest)?;
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(&mpath)
        .arg(dir.path().join("empty.gray"))
        .arg(dir.path().join("code.gray"))
        .arg(frames.to_string())
        .output()?;
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "zxing-cpp script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| std::io::Error::other(format!("zxing-cpp script output: {e}")))?;
    let mut per_set = vec![(0usize, 0f64); sets.len()];
    if let Some(arr) = v["sets"].as_array() {
        for (i, s) in arr.iter().enumerate().take(sets.len()) {
            per_set[i] = (
                s["correct"].as_u64().unwrap_or(0) as usize,
                s["ms_per_image"].as_f64().unwrap_or(0.0),
            );
        }
    }
    let pair = |k: &str| {
        (
            v[format!("{k}_ms")].as_f64().unwrap_or(f64::NAN),
            v[format!("{k}_hits")].as_u64().unwrap_or(0) as usize,
        )
    };
    let read = v["read"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().and_then(|p| images.get(p)).cloned())
                .collect()
        })
        .unwrap_or_default();
    Ok(ZxingCpp {
        read,
        version: v["version"].as_str().unwrap_or("?").to_string(),
        sets: per_set,
        frames: Frames {
            empty_qr: pair("empty_qr"),
            code_qr: pair("code_qr"),
            empty_all: pair("empty_all"),
            code_all: pair("code_all"),
        },
    })
}

/// A directory removed on drop (the server has no `tempfile` outside tests).
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
