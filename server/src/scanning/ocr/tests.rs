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
            let img = super::super::decode::load_luma(&testdata(&format!("images/{file}"))).unwrap();
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
