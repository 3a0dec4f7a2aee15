//! `lotse scan bench --mrz DIR`: how long finding and reading an MRZ takes on the test images,
//! on 1280×720 camera frames with and without a passport, and on a 300 dpi A4 page.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::synth::{self, Scene};
use super::{read_mrz, read_mrz_any_orientation};

/// Times `read` over `runs` runs; returns the time per run and how many read `expected`.
fn time(
    runs: usize,
    expected: &[&str],
    mut read: impl FnMut() -> Option<Vec<String>>,
) -> (Duration, usize) {
    let runs = runs.max(1);
    let mut hits = 0;
    let start = Instant::now();
    for _ in 0..runs {
        if read().is_some_and(|lines| !expected.is_empty() && lines == expected) {
            hits += 1;
        }
    }
    (start.elapsed() / runs as u32, hits)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the MRZ benchmark: `frames` runs per measurement. Returns a printable report.
pub fn run(images: &Path, frames: usize) -> std::io::Result<String> {
    let mut out = String::new();
    let _ = writeln!(out, "MRZ reading (find + read), {frames} runs each");
    let mut files: Vec<PathBuf> = std::fs::read_dir(images)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "png" | "jpg" | "jpeg" | "webp" | "tif" | "tiff"))
        })
        .collect();
    files.sort();
    for file in &files {
        let Ok(expected) = std::fs::read_to_string(file.with_extension("txt")) else {
            continue;
        };
        let expected: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
        let img = super::decode::load_luma(file).map_err(std::io::Error::other)?;
        let (t, hits) = time(frames, &expected, || {
            read_mrz(img.as_raw(), img.width(), img.height())
                .ok()
                .flatten()
                .map(|r| r.mrz().lines().to_vec())
        });
        let _ = writeln!(
            out,
            "{:<24} {:>5}x{:<5} {:>8.2} ms  {hits}/{frames} exact",
            file.file_name().unwrap_or_default().to_string_lossy(),
            img.width(),
            img.height(),
            ms(t)
        );
    }

    let td3 = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ];
    let empty = super::super::bench::synthetic_frame(None);
    let (t, false_reads) = time(frames, &[], || {
        read_mrz(&empty, 1280, 720)
            .ok()
            .flatten()
            .map(|_| Vec::new())
    });
    let false_reads = frames - (frames - false_reads);
    let _ = writeln!(
        out,
        "{:<36} {:>8.2} ms",
        "1280x720 frame without MRZ",
        ms(t)
    );
    let camera = synth::render(&td3, &Scene::camera_720p());
    let (t, hits) = time(frames, &td3, || {
        read_mrz(&camera.luma, 1280, 720)
            .ok()
            .flatten()
            .map(|r| r.mrz().lines().to_vec())
    });
    let _ = writeln!(
        out,
        "{:<36} {:>8.2} ms  {hits}/{frames} exact",
        "1280x720 frame with a passport",
        ms(t)
    );
    let page = synth::render(
        &td3,
        &Scene {
            width: 2480,
            height: 3508,
            angle_deg: 1.0,
            blur: 0.8,
            noise: 4.0,
            jpeg_quality: Some(80),
            ..Scene::scan(11)
        },
    );
    let runs = frames.div_ceil(5);
    let (t, hits) = time(runs, &td3, || {
        read_mrz_any_orientation(&page.luma, page.width, page.height)
            .ok()
            .flatten()
            .map(|r| r.mrz().lines().to_vec())
    });
    let _ = writeln!(
        out,
        "{:<36} {:>8.2} ms  {hits}/{runs} exact",
        "A4 page at 300 dpi (2480x3508)",
        ms(t)
    );
    let blank = synth::render(
        &[],
        &Scene {
            width: 2480,
            height: 3508,
            ..Scene::scan(12)
        },
    );
    let (t, blank_reads) = time(runs, &[], || {
        read_mrz_any_orientation(&blank.luma, blank.width, blank.height)
            .ok()
            .flatten()
            .map(|_| Vec::new())
    });
    let _ = writeln!(
        out,
        "{:<36} {:>8.2} ms",
        "A4 page without MRZ, 4 orientations",
        ms(t)
    );
    if false_reads + blank_reads > 0 {
        let _ = writeln!(
            out,
            "warning: {false_reads} reads on the empty frame, {blank_reads} on the blank page"
        );
    }
    Ok(out)
}
