//! Key events of a keyboard-wedge scanner: arbitrary event streams through the key decoder
//! and the framer, and the typing round trip of arbitrary text.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use lotse_firmware::scanner::framing::{Framed, Framer, Framing};
use lotse_firmware::scanner::keymap::{KeyDecoder, KeyOutput, Layout, decode_events, keystrokes};

fn check(framed: Option<Framed>, cfg: &Framing) {
    if let Some(Framed::Scan(text)) = framed {
        assert!(!text.is_empty());
        assert!(text.len() <= cfg.max_chars);
        assert!(text.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'));
        assert!(!text.starts_with('\n') && !text.ends_with('\n'));
    }
}

fuzz_target!(|data: &[u8]| {
    let layout = if data.first().is_some_and(|b| b & 1 == 1) {
        Layout::De
    } else {
        Layout::Us
    };
    let cfg = Framing {
        max_chars: 256,
        ..Framing::default()
    };
    let mut decoder = KeyDecoder::new(layout);
    let mut framer = Framer::new(cfg);
    let mut t = Instant::now();
    for ev in data.chunks_exact(4) {
        let code = u16::from_le_bytes([ev[0], ev[1] & 0x01]);
        let value = i32::from(ev[2] % 3);
        t += Duration::from_millis(u64::from(ev[3] >> 3) * 5);
        let mut done = Vec::new();
        decoder.feed(code, value, |o| match o {
            KeyOutput::Char(c) => framer.push_char(c, t),
            KeyOutput::Enter => done.push(framer.end_line(t)),
        });
        for f in done {
            check(f, &cfg);
        }
        check(framer.poll(t), &cfg);
    }
    check(framer.poll(t + Duration::from_secs(1)), &cfg);
    assert!(framer.is_idle());

    // Whatever a layout can type decodes back exactly.
    let text: String = String::from_utf8_lossy(data)
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect();
    if let Ok(events) = keystrokes(layout, &text) {
        assert_eq!(decode_events(layout, &events), text);
    }
});
