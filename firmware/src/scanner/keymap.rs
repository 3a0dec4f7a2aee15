//! Key codes of a keyboard-wedge scanner back to text, for the German (QWERTZ) and US layouts.
//!
//! A HID scanner "types" what it read as key presses of the layout it was configured for, so
//! the same `<` arrives as KEY_102ND on QWERTZ and as Shift+KEY_COMMA on US. [`KeyDecoder`] is
//! pure: it takes Linux `EV_KEY` events as `(code, value)` pairs (value 1 press, 0 release,
//! 2 autorepeat) and yields characters and Enter, so recorded or generated event streams test
//! it without a device. [`keystrokes`] is the inverse (a simulated scanner typing a text).
//!
//! Decisions:
//! - Autorepeat (value 2) is ignored: a scanner never holds a key on purpose, and a repeat
//!   only appears when USB reports stall, where typing the key again would corrupt the scan.
//! - Characters typed with Ctrl or (left) Alt held are dropped, except Alt+keypad digits,
//!   which some scanners use for characters the layout lacks (decimal code: ASCII, or
//!   Latin-1 with a leading 0 as on Windows).
//! - The keypad is read as with NumLock on (scanners use it for digits).
//! - German dead keys (`^`, `´`, `` ` ``) followed by space give the accent itself; followed
//!   by anything else the accent and that character (no composition: scanners send accent +
//!   space when they mean the accent).

use serde::{Deserialize, Serialize};

/// Linux input key codes (`linux/input-event-codes.h`) the decoder knows.
#[allow(missing_docs)]
pub mod codes {
    pub const KEY_1: u16 = 2;
    pub const KEY_0: u16 = 11;
    pub const KEY_MINUS: u16 = 12;
    pub const KEY_EQUAL: u16 = 13;
    pub const KEY_TAB: u16 = 15;
    pub const KEY_Q: u16 = 16;
    pub const KEY_E: u16 = 18;
    pub const KEY_Y: u16 = 21;
    pub const KEY_LEFTBRACE: u16 = 26;
    pub const KEY_RIGHTBRACE: u16 = 27;
    pub const KEY_ENTER: u16 = 28;
    pub const KEY_LEFTCTRL: u16 = 29;
    pub const KEY_SEMICOLON: u16 = 39;
    pub const KEY_APOSTROPHE: u16 = 40;
    pub const KEY_GRAVE: u16 = 41;
    pub const KEY_LEFTSHIFT: u16 = 42;
    pub const KEY_BACKSLASH: u16 = 43;
    pub const KEY_Z: u16 = 44;
    pub const KEY_COMMA: u16 = 51;
    pub const KEY_DOT: u16 = 52;
    pub const KEY_SLASH: u16 = 53;
    pub const KEY_RIGHTSHIFT: u16 = 54;
    pub const KEY_KPASTERISK: u16 = 55;
    pub const KEY_LEFTALT: u16 = 56;
    pub const KEY_SPACE: u16 = 57;
    pub const KEY_CAPSLOCK: u16 = 58;
    pub const KEY_KP7: u16 = 71;
    pub const KEY_KP8: u16 = 72;
    pub const KEY_KP9: u16 = 73;
    pub const KEY_KPMINUS: u16 = 74;
    pub const KEY_KP4: u16 = 75;
    pub const KEY_KP5: u16 = 76;
    pub const KEY_KP6: u16 = 77;
    pub const KEY_KPPLUS: u16 = 78;
    pub const KEY_KP1: u16 = 79;
    pub const KEY_KP2: u16 = 80;
    pub const KEY_KP3: u16 = 81;
    pub const KEY_KP0: u16 = 82;
    pub const KEY_KPDOT: u16 = 83;
    pub const KEY_102ND: u16 = 86;
    pub const KEY_KPENTER: u16 = 96;
    pub const KEY_RIGHTCTRL: u16 = 97;
    pub const KEY_KPSLASH: u16 = 98;
    pub const KEY_RIGHTALT: u16 = 100;
    pub const KEY_M: u16 = 50;
}

use codes::*;

/// The keyboard layout a scanner is configured to emulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// US English (QWERTY).
    Us,
    /// German (QWERTZ, with AltGr and dead keys).
    De,
}

impl Layout {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Us => "us",
            Layout::De => "de",
        }
    }

    /// Reads a configuration name (`us`, `de`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "us" => Some(Layout::Us),
            "de" => Some(Layout::De),
            _ => None,
        }
    }
}

/// What one key level produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sym {
    Char(char),
    /// A dead key: waits for the next key.
    Dead(char),
}

/// The letter row keys, in code order (`KEY_Q`..`KEY_P`, `KEY_A`..`KEY_L`, `KEY_Z`..`KEY_M`).
const LETTERS_US: [(u16, char); 26] = [
    (16, 'q'),
    (17, 'w'),
    (18, 'e'),
    (19, 'r'),
    (20, 't'),
    (21, 'y'),
    (22, 'u'),
    (23, 'i'),
    (24, 'o'),
    (25, 'p'),
    (30, 'a'),
    (31, 's'),
    (32, 'd'),
    (33, 'f'),
    (34, 'g'),
    (35, 'h'),
    (36, 'j'),
    (37, 'k'),
    (38, 'l'),
    (44, 'z'),
    (45, 'x'),
    (46, 'c'),
    (47, 'v'),
    (48, 'b'),
    (49, 'n'),
    (50, 'm'),
];

fn letter(layout: Layout, code: u16) -> Option<char> {
    let c = LETTERS_US
        .iter()
        .find(|(k, _)| *k == code)
        .map(|(_, c)| *c)?;
    Some(match (layout, c) {
        (Layout::De, 'y') => 'z',
        (Layout::De, 'z') => 'y',
        _ => c,
    })
}

/// Non-letter keys: (code, plain, shifted, AltGr).
type Row = (u16, Sym, Sym, Option<char>);

const fn c(ch: char) -> Sym {
    Sym::Char(ch)
}

const US: &[Row] = &[
    (2, c('1'), c('!'), None),
    (3, c('2'), c('@'), None),
    (4, c('3'), c('#'), None),
    (5, c('4'), c('$'), None),
    (6, c('5'), c('%'), None),
    (7, c('6'), c('^'), None),
    (8, c('7'), c('&'), None),
    (9, c('8'), c('*'), None),
    (10, c('9'), c('('), None),
    (11, c('0'), c(')'), None),
    (KEY_MINUS, c('-'), c('_'), None),
    (KEY_EQUAL, c('='), c('+'), None),
    (KEY_LEFTBRACE, c('['), c('{'), None),
    (KEY_RIGHTBRACE, c(']'), c('}'), None),
    (KEY_SEMICOLON, c(';'), c(':'), None),
    (KEY_APOSTROPHE, c('\''), c('"'), None),
    (KEY_GRAVE, c('`'), c('~'), None),
    (KEY_BACKSLASH, c('\\'), c('|'), None),
    (KEY_COMMA, c(','), c('<'), None),
    (KEY_DOT, c('.'), c('>'), None),
    (KEY_SLASH, c('/'), c('?'), None),
    (KEY_SPACE, c(' '), c(' '), None),
    (KEY_TAB, c('\t'), c('\t'), None),
    // The extra ISO key left of Z on a US-layout ISO keyboard.
    (KEY_102ND, c('\\'), c('|'), None),
];

const DE: &[Row] = &[
    (2, c('1'), c('!'), None),
    (3, c('2'), c('"'), Some('²')),
    (4, c('3'), c('§'), Some('³')),
    (5, c('4'), c('$'), None),
    (6, c('5'), c('%'), None),
    (7, c('6'), c('&'), None),
    (8, c('7'), c('/'), Some('{')),
    (9, c('8'), c('('), Some('[')),
    (10, c('9'), c(')'), Some(']')),
    (11, c('0'), c('='), Some('}')),
    (KEY_MINUS, c('ß'), c('?'), Some('\\')),
    (KEY_EQUAL, Sym::Dead('´'), Sym::Dead('`'), None),
    (KEY_LEFTBRACE, c('ü'), c('Ü'), None),
    (KEY_RIGHTBRACE, c('+'), c('*'), Some('~')),
    (KEY_SEMICOLON, c('ö'), c('Ö'), None),
    (KEY_APOSTROPHE, c('ä'), c('Ä'), None),
    (KEY_GRAVE, Sym::Dead('^'), c('°'), None),
    (KEY_BACKSLASH, c('#'), c('\''), None),
    (KEY_COMMA, c(','), c(';'), None),
    (KEY_DOT, c('.'), c(':'), None),
    (KEY_SLASH, c('-'), c('_'), None),
    (KEY_SPACE, c(' '), c(' '), None),
    (KEY_TAB, c('\t'), c('\t'), None),
    // The key left of Y on German keyboards: the MRZ filler `<`.
    (KEY_102ND, c('<'), c('>'), Some('|')),
];

/// AltGr on letter keys (German layout).
const DE_ALTGR_LETTERS: &[(u16, char)] = &[(KEY_Q, '@'), (KEY_E, '€'), (KEY_M, 'µ')];

fn keypad(layout: Layout, code: u16) -> Option<char> {
    Some(match code {
        KEY_KP7 => '7',
        KEY_KP8 => '8',
        KEY_KP9 => '9',
        KEY_KP4 => '4',
        KEY_KP5 => '5',
        KEY_KP6 => '6',
        KEY_KP1 => '1',
        KEY_KP2 => '2',
        KEY_KP3 => '3',
        KEY_KP0 => '0',
        KEY_KPMINUS => '-',
        KEY_KPPLUS => '+',
        KEY_KPASTERISK => '*',
        KEY_KPSLASH => '/',
        // The German keypad has a decimal comma.
        KEY_KPDOT if layout == Layout::De => ',',
        KEY_KPDOT => '.',
        _ => return None,
    })
}

fn keypad_digit(code: u16) -> Option<u32> {
    keypad(Layout::Us, code).and_then(|c| c.to_digit(10))
}

fn table(layout: Layout) -> &'static [Row] {
    match layout {
        Layout::Us => US,
        Layout::De => DE,
    }
}

/// The symbol a key gives at a level, if any.
fn lookup(layout: Layout, code: u16, shift: bool, altgr: bool, caps: bool) -> Option<Sym> {
    if let Some(l) = letter(layout, code) {
        if altgr {
            if layout == Layout::De {
                return DE_ALTGR_LETTERS
                    .iter()
                    .find(|(k, _)| *k == code)
                    .map(|(_, c)| Sym::Char(*c));
            }
            return None;
        }
        return Some(Sym::Char(if shift != caps {
            l.to_ascii_uppercase()
        } else {
            l
        }));
    }
    if let Some(k) = keypad(layout, code) {
        return Some(Sym::Char(k));
    }
    let (_, plain, shifted, alt) = table(layout).iter().find(|r| r.0 == code)?;
    if altgr {
        return alt.map(Sym::Char);
    }
    // Caps Lock also upper-cases the German umlauts, which sit on non-letter codes.
    let umlaut_caps = layout == Layout::De
        && caps
        && matches!(code, KEY_LEFTBRACE | KEY_SEMICOLON | KEY_APOSTROPHE);
    Some(if shift != umlaut_caps {
        *shifted
    } else {
        *plain
    })
}

/// What a key event contributes to the scan in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOutput {
    /// A typed character.
    Char(char),
    /// Enter (main or keypad): the end of a line.
    Enter,
}

/// Turns a stream of `EV_KEY` events into characters; one per device, it keeps modifier state.
#[derive(Clone, Debug)]
pub struct KeyDecoder {
    layout: Layout,
    shift_left: bool,
    shift_right: bool,
    ctrl: u8,
    alt: bool,
    altgr: bool,
    caps: bool,
    dead: Option<char>,
    /// Alt+keypad code being typed: (value, started with 0).
    alt_code: Option<(u32, bool)>,
}

impl KeyDecoder {
    /// A decoder with no keys held.
    pub fn new(layout: Layout) -> Self {
        KeyDecoder {
            layout,
            shift_left: false,
            shift_right: false,
            ctrl: 0,
            alt: false,
            altgr: false,
            caps: false,
            dead: None,
            alt_code: None,
        }
    }

    /// The layout this decoder reads.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Forgets held keys (after a device was re-opened: releases may have been lost).
    pub fn reset(&mut self) {
        *self = KeyDecoder::new(self.layout);
    }

    /// Feeds one `EV_KEY` event; every resulting output goes to `out` (at most two).
    pub fn feed(&mut self, code: u16, value: i32, mut out: impl FnMut(KeyOutput)) {
        let pressed = value == 1;
        match code {
            KEY_LEFTSHIFT if value != 2 => self.shift_left = pressed,
            KEY_RIGHTSHIFT if value != 2 => self.shift_right = pressed,
            KEY_LEFTCTRL if value != 2 => self.set_ctrl(1, pressed),
            KEY_RIGHTCTRL if value != 2 => self.set_ctrl(2, pressed),
            KEY_LEFTALT if value != 2 => {
                self.alt = pressed;
                if pressed {
                    self.alt_code = None;
                } else if let Some((v, leading_zero)) = self.alt_code.take()
                    && let Some(ch) = alt_code_char(v, leading_zero)
                {
                    self.emit(ch, &mut out);
                }
            }
            // On the US layout the right Alt is a plain Alt: characters with it are dropped.
            KEY_RIGHTALT if value != 2 => self.altgr = pressed,
            KEY_CAPSLOCK if value == 1 => self.caps = !self.caps,
            KEY_LEFTSHIFT | KEY_RIGHTSHIFT | KEY_LEFTCTRL | KEY_RIGHTCTRL | KEY_LEFTALT
            | KEY_RIGHTALT | KEY_CAPSLOCK => {}
            _ if !pressed => {}
            KEY_ENTER | KEY_KPENTER => {
                if let Some(d) = self.dead.take() {
                    out(KeyOutput::Char(d));
                }
                out(KeyOutput::Enter);
            }
            _ if self.alt => {
                if let Some(d) = keypad_digit(code) {
                    let (v, zero) = self.alt_code.unwrap_or((0, d == 0));
                    // Saturating: endless digits stay an invalid code (found by fuzzing).
                    self.alt_code = Some((v.saturating_mul(10).saturating_add(d), zero));
                }
            }
            _ if self.ctrl != 0 => {}
            _ => {
                let altgr = self.altgr;
                if altgr && self.layout == Layout::Us {
                    return;
                }
                let shift = self.shift_left || self.shift_right;
                match lookup(self.layout, code, shift, altgr, self.caps) {
                    Some(Sym::Char(ch)) => self.emit(ch, &mut out),
                    Some(Sym::Dead(accent)) => {
                        if let Some(d) = self.dead.replace(accent) {
                            out(KeyOutput::Char(d));
                        }
                    }
                    None => {}
                }
            }
        }
    }

    fn set_ctrl(&mut self, bit: u8, pressed: bool) {
        if pressed {
            self.ctrl |= bit;
        } else {
            self.ctrl &= !bit;
        }
    }

    fn emit(&mut self, ch: char, out: &mut impl FnMut(KeyOutput)) {
        match self.dead.take() {
            Some(d) if ch == ' ' => out(KeyOutput::Char(d)),
            Some(d) => {
                out(KeyOutput::Char(d));
                out(KeyOutput::Char(ch));
            }
            None => out(KeyOutput::Char(ch)),
        }
    }
}

fn alt_code_char(v: u32, leading_zero: bool) -> Option<char> {
    match v {
        32..=126 => char::from_u32(v),
        160..=255 if leading_zero => char::from_u32(v),
        _ => None,
    }
}

/// A key press the decoder needs to type `ch`: the key and whether Shift / AltGr are held.
fn key_for(layout: Layout, ch: char) -> Option<(u16, bool, bool)> {
    for code in 1..=127u16 {
        for (shift, altgr) in [(false, false), (true, false), (false, true)] {
            if lookup(layout, code, shift, altgr, false) == Some(Sym::Char(ch))
                && keypad(layout, code).is_none()
            {
                return Some((code, shift, altgr));
            }
        }
    }
    None
}

/// The events a scanner configured for `layout` sends to type `text` (`'\n'` as Enter),
/// or the first character the layout cannot type. Used by simulated scanners and tests.
pub fn keystrokes(layout: Layout, text: &str) -> Result<Vec<(u16, i32)>, char> {
    let mut ev = Vec::with_capacity(text.len() * 4);
    let tap = |ev: &mut Vec<(u16, i32)>, code: u16| {
        ev.push((code, 1));
        ev.push((code, 0));
    };
    for ch in text.chars() {
        if ch == '\n' {
            tap(&mut ev, KEY_ENTER);
            continue;
        }
        // German dead keys: accent, then space.
        let dead = match (layout, ch) {
            (Layout::De, '^') => Some((KEY_GRAVE, false)),
            (Layout::De, '´') => Some((KEY_EQUAL, false)),
            (Layout::De, '`') => Some((KEY_EQUAL, true)),
            _ => None,
        };
        let (code, shift, altgr) = match dead {
            Some((code, shift)) => (code, shift, false),
            None => key_for(layout, ch).ok_or(ch)?,
        };
        if shift {
            ev.push((KEY_LEFTSHIFT, 1));
        }
        if altgr {
            ev.push((KEY_RIGHTALT, 1));
        }
        tap(&mut ev, code);
        if altgr {
            ev.push((KEY_RIGHTALT, 0));
        }
        if shift {
            ev.push((KEY_LEFTSHIFT, 0));
        }
        if dead.is_some() {
            tap(&mut ev, KEY_SPACE);
        }
    }
    Ok(ev)
}

/// Decodes a whole event stream into text (`'\n'` for Enter); for tests and tools.
pub fn decode_events(layout: Layout, events: &[(u16, i32)]) -> String {
    let mut d = KeyDecoder::new(layout);
    let mut s = String::new();
    for &(code, value) in events {
        d.feed(code, value, |o| match o {
            KeyOutput::Char(c) => s.push(c),
            KeyOutput::Enter => s.push('\n'),
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIFT_DOWN: (u16, i32) = (KEY_LEFTSHIFT, 1);
    const SHIFT_UP: (u16, i32) = (KEY_LEFTSHIFT, 0);

    fn tap(code: u16) -> [(u16, i32); 2] {
        [(code, 1), (code, 0)]
    }

    /// A `LOTSE1.` payload: base64url uses `-` and `_`, parts are separated by `.`.
    const PAYLOAD: &str = "LOTSE1.eyJyZWYiOiJULTIwMjYtMDA0NzExIn0.Zm9v-YmFy_Ynl6";

    #[test]
    fn every_printable_ascii_character_round_trips_on_both_layouts() {
        let ascii: String = (32u8..127).map(char::from).collect();
        for layout in [Layout::Us, Layout::De] {
            let ev = keystrokes(layout, &ascii).unwrap();
            assert_eq!(decode_events(layout, &ev), ascii, "{layout:?}");
        }
        let german = "Grüße aus Köln: Äpfel, Öl, Übel – nein: ß § ° € µ ² ³";
        let ev = keystrokes(Layout::De, &german.replace('–', "-")).unwrap();
        assert_eq!(decode_events(Layout::De, &ev), german.replace('–', "-"));
        assert_eq!(keystrokes(Layout::Us, "ü"), Err('ü'));
    }

    #[test]
    fn recorded_qwertz_payload_with_symbols() {
        // What a QWERTZ scanner sends for "LOTSE1.ab-_Zy" + Enter, with Shift held across
        // capitals, an autorepeat of Shift, Y/Z swapped, `_` = Shift+KEY_SLASH.
        let mut ev = vec![SHIFT_DOWN, (KEY_LEFTSHIFT, 2)];
        for code in [38, 24, 20, 31, 18] {
            ev.extend(tap(code)); // L O T S E
        }
        ev.push(SHIFT_UP);
        ev.extend(tap(2)); // 1
        ev.extend(tap(KEY_DOT));
        ev.extend(tap(30)); // a
        ev.extend(tap(48)); // b
        ev.extend(tap(KEY_SLASH)); // -
        ev.extend([SHIFT_DOWN]);
        ev.extend(tap(KEY_SLASH)); // _
        ev.extend(tap(KEY_Y)); // Z on QWERTZ
        ev.push(SHIFT_UP);
        ev.extend(tap(KEY_Z)); // y on QWERTZ
        ev.extend(tap(KEY_ENTER));
        assert_eq!(decode_events(Layout::De, &ev), "LOTSE1.ab-_Zy\n");
        // The same keys read as US give a different text: the layout matters.
        assert_eq!(decode_events(Layout::Us, &ev), "LOTSE1.ab/?Yz\n");
    }

    #[test]
    fn recorded_us_payload_with_symbols() {
        let mut ev = Vec::new();
        ev.push(SHIFT_DOWN);
        for code in [38, 24, 20, 31, 18] {
            ev.extend(tap(code));
        }
        ev.push(SHIFT_UP);
        ev.extend(tap(2));
        ev.extend(tap(KEY_DOT));
        ev.extend(tap(KEY_MINUS)); // -
        ev.push((KEY_RIGHTSHIFT, 1));
        ev.extend(tap(KEY_MINUS)); // _
        ev.push((KEY_RIGHTSHIFT, 0));
        // An autorepeat of a character key is a stalled report, not a second character.
        ev.push((KEY_Z, 1));
        ev.push((KEY_Z, 2));
        ev.push((KEY_Z, 2));
        ev.push((KEY_Z, 0));
        ev.extend(tap(KEY_KPENTER));
        assert_eq!(decode_events(Layout::Us, &ev), "LOTSE1.-_z\n");
    }

    #[test]
    fn generated_payload_streams_decode_exactly() {
        for layout in [Layout::Us, Layout::De] {
            let text = format!("{PAYLOAD}\n");
            let ev = keystrokes(layout, &text).unwrap();
            assert_eq!(decode_events(layout, &ev), text);
        }
    }

    #[test]
    fn td1_mrz_typed_on_qwertz_uses_key_102nd() {
        // The ICAO 9303 TD1 specimen of shared/testdata/mrz/cases.json (icao-td1-utopia).
        let mrz = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<\n";
        let ev = keystrokes(Layout::De, mrz).unwrap();
        // `<` is the plain KEY_102ND on QWERTZ, never Shift+comma as on US.
        assert!(ev.contains(&(KEY_102ND, 1)));
        assert!(!ev.contains(&(KEY_COMMA, 1)));
        assert_eq!(decode_events(Layout::De, &ev), mrz);
        // Read with the wrong layout, the filler becomes `\` and Y/Z swap: the MRZ breaks.
        assert_ne!(decode_events(Layout::Us, &ev), mrz);
    }

    #[test]
    fn dead_keys_caps_lock_ctrl_and_alt_codes() {
        let mut ev = Vec::new();
        ev.extend(tap(KEY_GRAVE)); // dead ^
        ev.extend(tap(KEY_SPACE)); // → ^
        ev.extend(tap(KEY_GRAVE)); // dead ^
        ev.extend(tap(30)); // → ^a
        ev.extend(tap(KEY_CAPSLOCK));
        ev.extend(tap(30)); // A
        ev.extend(tap(KEY_SEMICOLON)); // Ö
        ev.extend(tap(KEY_CAPSLOCK));
        ev.push((KEY_LEFTCTRL, 1));
        ev.extend(tap(30)); // dropped
        ev.push((KEY_LEFTCTRL, 0));
        ev.push((KEY_LEFTALT, 1));
        ev.extend(tap(KEY_KP6));
        ev.extend(tap(KEY_KP4));
        ev.push((KEY_LEFTALT, 0)); // Alt+64 → @
        ev.push((KEY_LEFTALT, 1));
        ev.extend(tap(KEY_KP0));
        ev.extend(tap(KEY_KP2));
        ev.extend(tap(KEY_KP2));
        ev.extend(tap(KEY_KP8));
        ev.push((KEY_LEFTALT, 0)); // Alt+0228 → ä (Latin-1)
        ev.push((KEY_LEFTALT, 1));
        ev.extend(tap(KEY_KP7));
        ev.push((KEY_LEFTALT, 0)); // Alt+7 → nothing (a control code)
        ev.extend(tap(KEY_KPDOT)); // German keypad: decimal comma
        assert_eq!(decode_events(Layout::De, &ev), "^^aAÖ@ä,");
    }

    #[test]
    fn endless_alt_keypad_digits_are_no_character_and_no_overflow() {
        // Found by the hid_keys fuzz target: a digit counter overflowed after 255 digits.
        let mut ev = vec![(KEY_LEFTALT, 1)];
        for _ in 0..300 {
            ev.extend(tap(KEY_KP9));
        }
        ev.push((KEY_LEFTALT, 0));
        ev.extend(tap(30));
        assert_eq!(decode_events(Layout::Us, &ev), "a");
    }
}
