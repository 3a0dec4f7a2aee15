//! Identification input: machine-readable zones of ID documents (`mrz`; read from images
//! by `ocr`), 2D barcodes in camera frames and files (`decode`, measured by `bench`), signed
//! QR payloads (`payload`), and the office-scanner inbox folder (`inbox`). Live devices
//! (hand scanners, MRZ readers, cameras) are `lotse_firmware::scanner` sources.
//!
//! Privacy (PAuswG §20, AufenthG §78): only [`mrz::Mrz::personal_data`] leaves this
//! module for storage; document numbers and raw lines are dropped in memory.

pub mod bench;
pub mod decode;
pub mod desk;
pub mod devices;
pub mod hub;
pub mod inbox;
pub mod mrz;
pub mod ocr;
pub mod payload;
pub mod settings;
