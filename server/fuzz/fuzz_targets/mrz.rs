//! MRZ text as an OCR reader or a keyboard-wedge scanner might deliver it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lotse_server::scanning::mrz;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let plain = mrz::parse(&text);
    let repaired = mrz::parse_with_repair(&text);
    if let Ok(m) = &plain {
        let _ = m.personal_data();
        let _ = format!("{m:?}");
        // Repair only changes what check digits confirm: a valid MRZ stays valid.
        if m.is_valid() {
            assert!(repaired.as_ref().is_ok_and(|r| r.is_valid()));
        }
    }
    if let Ok(m) = &repaired {
        let _ = m.personal_data();
    }
});
