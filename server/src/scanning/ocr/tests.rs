//! Reading the test images and synthetic documents; frames without an MRZ.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use super::synth::{Scene, render};
use super::*;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/mrz")
        .join(rel)
}

#[test]
fn reads_the_specimen_images_exactly() {
    let mut failed = Vec::new();
    for name in ["passport-td2", "passport-td3"] {
        let expected = std::fs::read_to_string(testdata(&format!("images/{name}.txt"))).unwrap();
        let expected: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
        for ext in ["png", "jpg"] {
            let file = format!("{name}.{ext}");
            let img =
                super::super::decode::load_luma(&testdata(&format!("images/{file}"))).unwrap();
            match read_mrz(img.as_raw(), img.width(), img.height()).unwrap() {
                Some(read) if read.mrz().lines() == expected.as_slice() => {
                    println!("{file}: ok, confidence {:.3}", read.confidence());
                }
                Some(read) => failed.push(format!("{file}: read {:?}", read.mrz().lines())),
                None => failed.push(format!("{file}: nothing read")),
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

fn cases() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(testdata("cases.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A scan-like distortion that differs per case: ±3°, blur, noise, JPEG.
fn distorted(i: usize) -> Scene {
    let k = i as f32;
    Scene {
        angle_deg: ((k * 1.7) % 6.0) - 3.0,
        blur: 0.5 + (k * 0.37) % 0.8,
        noise: 3.0 + (k * 1.3) % 6.0,
        jpeg_quality: Some(55 + (i * 7 % 35) as u8),
        ..Scene::scan(0x5eed + i as u64)
    }
}

/// Every case of cases.json that is an MRZ (2 or 3 lines of a layout's length) is drawn on a
/// distorted page. Valid ones must be read exactly; the garbled one as its corrected lines
/// (names hold no digits, dates no letters); deliberately wrong check digits never read.
#[test]
fn reads_every_valid_case_rendered_on_a_distorted_page() {
    let mut failed = Vec::new();
    let mut read_ok = 0;
    for (i, case) in cases().iter().enumerate() {
        let lines = strings(&case["lines"]);
        let shape_ok = matches!(
            lines.iter().map(String::len).collect::<Vec<_>>().as_slice(),
            [30, 30, 30] | [36, 36] | [44, 44]
        ) && lines.iter().all(|l| {
            l.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<')
        });
        if !shape_ok {
            continue;
        }
        let id = case["id"].as_str().unwrap_or("?");
        let want: Option<Vec<String>> = if case["expected"]["valid"] == true {
            Some(lines.clone())
        } else if case["ocr_garbled"] == true {
            Some(strings(&case["corrected_lines"]))
        } else {
            None
        };
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let scene = distorted(i);
        let img = render(&refs, &scene);
        let got = read_mrz(&img.luma, img.width, img.height).unwrap();
        let got_lines = got.as_ref().map(|r| r.mrz().lines().to_vec());
        if got_lines == want {
            read_ok += 1;
        } else {
            failed.push(format!(
                "{id} ({scene:?}): expected {want:?}, got {got_lines:?}"
            ));
        }
    }
    println!("{read_ok} synthetic cases as expected");
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(read_ok, 19, "cases.json has 19 cases of an MRZ's shape");
}

#[test]
fn images_without_an_mrz_give_none() {
    let frame = super::super::bench::synthetic_frame(None);
    assert!(read_mrz(&frame, 1280, 720).unwrap().is_none());
    let with_qr = super::super::bench::synthetic_frame(Some("LOTSE1.eyJyZWYiOiJUIn0.sig"));
    assert!(read_mrz(&with_qr, 1280, 720).unwrap().is_none());
    // A document with text in the MRZ's font, but no MRZ.
    let page = render(&[], &distorted(3));
    assert!(
        read_mrz_any_orientation(&page.luma, page.width, page.height)
            .unwrap()
            .is_none()
    );
    // Flat, black, noise, tiny.
    assert!(read_mrz(&[255; 640 * 480], 640, 480).unwrap().is_none());
    assert!(read_mrz(&[0; 640 * 480], 640, 480).unwrap().is_none());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..640 * 480)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect();
    assert!(
        read_mrz_any_orientation(&noise, 640, 480)
            .unwrap()
            .is_none()
    );
    assert!(read_mrz(&[], 0, 0).unwrap().is_none());
    assert!(read_mrz(&[7; 3], 3, 1).unwrap().is_none());
}

#[test]
fn wrong_sizes_are_errors() {
    assert_eq!(
        read_mrz(&[0; 10], 4, 4).map(|_| ()),
        Err(OcrError::FrameSize {
            width: 4,
            height: 4,
            expected: 16,
            actual: 10
        })
    );
    assert_eq!(
        read_mrz(&[], 100_000, 100_000).map(|_| ()),
        Err(OcrError::TooLarge)
    );
}

const TD3: [&str; 2] = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
];

#[test]
fn reads_a_camera_frame_and_turned_pages() {
    let frame = render(&TD3, &Scene::camera_720p());
    let read = read_mrz(&frame.luma, 1280, 720).unwrap().unwrap();
    assert_eq!(read.mrz().lines(), TD3);

    // Upside down: read_mrz turns it; on its side: only read_mrz_any_orientation.
    let page = render(&TD3, &distorted(5));
    let upside_down: Vec<u8> = page.luma.iter().rev().copied().collect();
    let read = read_mrz(&upside_down, page.width, page.height)
        .unwrap()
        .unwrap();
    assert_eq!(read.mrz().lines(), TD3);
    let (w, h) = (page.width as usize, page.height as usize);
    // Turned 90° anticlockwise: new (x, y) = old (w - 1 - y, x).
    let mut side = Vec::with_capacity(w * h);
    for y in 0..w {
        for x in 0..h {
            side.push(page.luma[x * w + (w - 1 - y)]);
        }
    }
    assert!(read_mrz(&side, page.height, page.width).unwrap().is_none());
    let read = read_mrz_any_orientation(&side, page.height, page.width)
        .unwrap()
        .unwrap();
    assert_eq!(read.mrz().lines(), TD3);
}

#[test]
fn debug_shows_no_personal_data() {
    let page = render(&TD3, &Scene::scan(1));
    let read = read_mrz(&page.luma, page.width, page.height)
        .unwrap()
        .unwrap();
    let debug = format!("{read:?}");
    for secret in ["L898902C3", "ERIKSSON", "ANNA", "740812", "ZE184226B", "<<"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(debug.contains("Td3"), "{debug}");
}

/// A multifunction printer's PDF: the scan as an image on an A4 page, rasterized at 150 dpi
/// by `pdftoppm` like `lotse scan decode` does.
#[test]
fn reads_the_mrz_from_a_scanned_pdf() {
    use printpdf::{
        Mm, Op, PdfDocument, PdfPage, PdfSaveOptions, RawImage, RawImageData, RawImageFormat,
        XObjectTransform,
    };
    let td1 = [
        "IDD<<LZ6311T475<<<<<<<<<<<<<<<",
        "8308126<3110315D<<2108<<<<<<<9",
        "MUSTERMANN<<ERIKA<<<<<<<<<<<<<",
    ];
    let scan = render(
        &td1,
        &Scene {
            angle_deg: 1.5,
            blur: 0.7,
            noise: 4.0,
            ..Scene::scan(9)
        },
    );
    let mut doc = PdfDocument::new("scan");
    let id = doc.add_image(&RawImage {
        pixels: RawImageData::U8(scan.luma),
        width: scan.width as usize,
        height: scan.height as usize,
        data_format: RawImageFormat::R8,
        tag: Vec::new(),
    });
    let ops = vec![Op::UseXobject {
        id,
        transform: XObjectTransform {
            translate_x: Some(printpdf::Pt(36.0)),
            translate_y: Some(printpdf::Pt(200.0)),
            dpi: Some(300.0),
            ..Default::default()
        },
    }];
    doc.with_pages(vec![PdfPage::new(Mm(210.0), Mm(297.0), ops)]);
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("scan.pdf");
    std::fs::write(&pdf, doc.save(&PdfSaveOptions::default(), &mut Vec::new())).unwrap();

    let read = read_mrz_file(&pdf).unwrap().unwrap();
    assert_eq!(read.mrz().lines(), td1);
    assert_eq!(read.mrz().surname(), "MUSTERMANN");
    assert!(read_mrz_file(&dir.path().join("missing.png")).is_err());
}

/// Read rate over many random scenes, harsher than the tests above; run by hand with
/// `cargo test --release -p lotse-server --lib ocr::tests::stress -- --ignored --nocapture`.
#[test]
#[ignore = "slow: a read-rate survey, not a check"]
fn stress() {
    let cases: Vec<Vec<String>> = cases()
        .iter()
        .filter(|c| c["expected"]["valid"] == true)
        .map(|c| strings(&c["lines"]))
        .collect();
    let mut rng = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f32 / (1u64 << 53) as f32
    };
    for (label, pitch_range, blur_max, noise_max, angle_max) in [
        ("scan 300 dpi", (28.0, 32.0), 1.5, 10.0, 3.0),
        ("scan 150 dpi", (14.0, 16.0), 1.0, 8.0, 3.0),
        ("camera 720p", (16.0, 22.0), 2.0, 12.0, 5.0),
        ("small", (10.0, 13.0), 1.0, 6.0, 2.0),
    ] {
        let (mut ok, mut wrong, mut none, mut total) = (0, 0, 0, 0);
        let start = std::time::Instant::now();
        for i in 0..40 {
            let lines = &cases[i % cases.len()];
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let pitch = pitch_range.0 + next() * (pitch_range.1 - pitch_range.0);
            let scene = Scene {
                width: (50.0 * pitch) as u32,
                height: (37.0 * pitch) as u32,
                pitch,
                angle_deg: (next() * 2.0 - 1.0) * angle_max,
                blur: next() * blur_max,
                noise: next() * noise_max,
                jpeg_quality: Some(40 + (next() * 50.0) as u8),
                seed: i as u64 + 1,
            };
            let img = render(&refs, &scene);
            total += 1;
            match read_mrz(&img.luma, img.width, img.height).unwrap() {
                Some(r) if r.mrz().lines() == lines.as_slice() => ok += 1,
                Some(r) => {
                    wrong += 1;
                    println!(
                        "  WRONG ({:.3}): {:?} for {lines:?} in {scene:?}",
                        r.confidence(),
                        r.mrz().lines()
                    );
                }
                None => {
                    none += 1;
                    println!("  missed: {scene:?}");
                }
            }
        }
        println!(
            "{label}: {ok}/{total} read, {wrong} wrong, {none} none, {:.1} ms each",
            start.elapsed().as_secs_f64() * 1000.0 / total as f64
        );
    }
}
