//! ICAO Doc 9303 machine-readable zone (MRZ) parser.
//!
//! The check-in desk reads a visitor's passport, ID card or visa with an OCR scanner and hands
//! the MRZ text to [`parse`] or [`parse_with_repair`]. All 9303 layouts are covered (TD1, TD2,
//! TD3, MRV-A, MRV-B, long document numbers included), and a result is only `valid` when every
//! check digit matches and both dates are plausible, so a misread never becomes a wrong identity.
//!
//! OCR repairs ([`parse_with_repair`]) are deliberately narrow: a look-alike (O/0, I/1, S/5,
//! Z/2, B/8, G/6; K or « for `<`) is only swapped where the field type rules out what was read,
//! and only when check digits confirm the result. Field conventions follow
//! `shared/testdata/mrz/README.md`.
//!
//! Privacy (PAuswG §20): the document number must not be stored or logged. [`Mrz`]'s `Debug`
//! redacts it together with optional data and personal number, error messages carry positions
//! only, and the rest of the application keeps just [`PersonalData`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// The filler character; it counts as 0 in check digits.
const FILLER: u8 = b'<';

/// MRZ layout (ICAO 9303 parts 4 to 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    /// Card, 3 lines of 30.
    #[serde(rename = "TD1")]
    Td1,
    /// Card, 2 lines of 36.
    #[serde(rename = "TD2")]
    Td2,
    /// Passport, 2 lines of 44.
    #[serde(rename = "TD3")]
    Td3,
    /// Visa, 2 lines of 44.
    #[serde(rename = "MRVA")]
    MrvA,
    /// Visa, 2 lines of 36.
    #[serde(rename = "MRVB")]
    MrvB,
}

impl Format {
    /// The name used in JSON and in the test data.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Td1 => "TD1",
            Format::Td2 => "TD2",
            Format::Td3 => "TD3",
            Format::MrvA => "MRVA",
            Format::MrvB => "MRVB",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed check in a structurally sound MRZ. The MRZ still parses, so staff can see what
/// is wrong instead of a bare "unreadable".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldError {
    /// Document number (or its extension) does not match its check digit.
    DocumentNumberCheck,
    /// Birth date does not match its check digit.
    BirthDateCheck,
    /// Expiry date does not match its check digit.
    ExpiryDateCheck,
    /// TD3 personal number does not match its check digit.
    PersonalNumberCheck,
    /// The composite check digit over the whole MRZ does not match.
    CompositeCheck,
    /// Birth date is not `YYMMDD` with month 1-12 and day 1-31.
    BirthDateInvalid,
    /// Expiry date is not `YYMMDD` with month 1-12 and day 1-31.
    ExpiryDateInvalid,
    /// Sex is not `M`, `F`, `X` or `<`.
    SexInvalid,
}

impl FieldError {
    /// Stable name shared with the test data and the API.
    pub fn code(self) -> &'static str {
        match self {
            FieldError::DocumentNumberCheck => "document_number_check",
            FieldError::BirthDateCheck => "birth_date_check",
            FieldError::ExpiryDateCheck => "expiry_date_check",
            FieldError::PersonalNumberCheck => "personal_number_check",
            FieldError::CompositeCheck => "composite_check",
            FieldError::BirthDateInvalid => "birth_date_invalid",
            FieldError::ExpiryDateInvalid => "expiry_date_invalid",
            FieldError::SexInvalid => "sex_invalid",
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The text is not an MRZ at all. Messages name positions, never characters, so they are safe
/// to log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MrzError {
    /// Not 2 or 3 non-blank lines.
    #[error("an MRZ has 2 or 3 lines, found {found}")]
    LineCount {
        /// Non-blank lines in the input.
        found: usize,
    },
    /// A line is not 30 (3 lines) or 36/44 (2 lines, both the same) characters long.
    #[error(
        "MRZ line {line} has {found} characters; lines are 30 long (3 lines) or 36 or 44 long (2 lines)"
    )]
    LineLength {
        /// 1-based line number.
        line: usize,
        /// Characters found on that line.
        found: usize,
    },
    /// A character outside `A-Z`, `0-9` and `<` (lowercase included).
    #[error("MRZ line {line}, column {column}: not an MRZ character (A-Z, 0-9, <)")]
    InvalidCharacter {
        /// 1-based line number.
        line: usize,
        /// 1-based column, counted in characters.
        column: usize,
    },
}

impl MrzError {
    /// Stable name shared with the test data and the API.
    pub fn code(&self) -> &'static str {
        match self {
            MrzError::LineCount { .. } => "line_count",
            MrzError::LineLength { .. } => "line_length",
            MrzError::InvalidCharacter { .. } => "invalid_character",
        }
    }
}

/// A parsed MRZ.
///
/// Serialising it (field names as in `cases.json`, plus `format`) includes the document number:
/// only do that towards the scanner UI, never into logs or storage; keep [`Mrz::personal_data`].
/// `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Mrz {
    format: Format,
    document_type: String,
    issuing_state: String,
    surname: String,
    given_names: String,
    nationality: String,
    birth_date: String,
    sex: char,
    expiry_date: String,
    document_number: String,
    document_number_check_digit: char,
    birth_date_check_digit: char,
    expiry_date_check_digit: char,
    #[serde(skip_serializing_if = "Option::is_none")]
    composite_check_digit: Option<char>,
    #[serde(skip_serializing_if = "Option::is_none")]
    optional_data_1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    optional_data_2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    personal_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    personal_number_check_digit: Option<char>,
    valid: bool,
    errors: Vec<FieldError>,
    #[serde(skip)]
    lines: Vec<String>,
    #[serde(skip)]
    repaired: bool,
}

impl Mrz {
    /// Layout of the document.
    pub fn format(&self) -> Format {
        self.format
    }
    /// Document code without fillers (`P`, `I`, `ID`, `V`, ...).
    pub fn document_type(&self) -> &str {
        &self.document_type
    }
    /// Issuing state without fillers (Germany is `D`); not validated against ISO 3166.
    pub fn issuing_state(&self) -> &str {
        &self.issuing_state
    }
    /// Primary identifier, words separated by single spaces.
    pub fn surname(&self) -> &str {
        &self.surname
    }
    /// Secondary identifier, words separated by single spaces.
    pub fn given_names(&self) -> &str {
        &self.given_names
    }
    /// Nationality without fillers.
    pub fn nationality(&self) -> &str {
        &self.nationality
    }
    /// Raw `YYMMDD`; see [`PersonalData::birth_date_iso`] for the century.
    pub fn birth_date(&self) -> &str {
        &self.birth_date
    }
    /// Raw `M`, `F`, `X` or `<` (German ID cards leave it unset).
    pub fn sex(&self) -> char {
        self.sex
    }
    /// Raw `YYMMDD`.
    pub fn expiry_date(&self) -> &str {
        &self.expiry_date
    }
    /// Full document number, extension included. PAuswG §20: never log or store it.
    pub fn document_number(&self) -> &str {
        &self.document_number
    }
    /// Optional data (TD1 line 1 after any number extension, TD2, MRV).
    pub fn optional_data_1(&self) -> Option<&str> {
        self.optional_data_1.as_deref()
    }
    /// TD1 line 2 optional data.
    pub fn optional_data_2(&self) -> Option<&str> {
        self.optional_data_2.as_deref()
    }
    /// TD3 personal number.
    pub fn personal_number(&self) -> Option<&str> {
        self.personal_number.as_deref()
    }
    /// Every check digit matches and both dates are plausible.
    pub fn is_valid(&self) -> bool {
        self.valid
    }
    /// Failed checks, in a fixed order.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }
    /// The normalised lines this result was decoded from (after repair, if any).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
    /// The corrected lines, if [`parse_with_repair`] changed anything.
    pub fn repaired_lines(&self) -> Option<&[String]> {
        self.repaired.then_some(self.lines.as_slice())
    }
    /// Whether [`parse_with_repair`] changed the OCR text; worth recording for audit.
    pub fn was_repaired(&self) -> bool {
        self.repaired
    }

    /// The part of the MRZ the application may keep.
    pub fn personal_data(&self) -> PersonalData {
        PersonalData {
            surname: self.surname.clone(),
            given_names: self.given_names.clone(),
            birth_date: self.birth_date.clone(),
            nationality: self.nationality.clone(),
        }
    }
}

/// Stands in for values that must not reach logs.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Hand-written so `{:?}` in a log line cannot leak the document number (PAuswG §20); the
/// composite check digit and the raw lines are withheld too, as they are derived from it.
impl fmt::Debug for Mrz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |present: bool| present.then_some(Redacted);
        f.debug_struct("Mrz")
            .field("format", &self.format)
            .field("document_type", &self.document_type)
            .field("issuing_state", &self.issuing_state)
            .field("surname", &self.surname)
            .field("given_names", &self.given_names)
            .field("nationality", &self.nationality)
            .field("birth_date", &self.birth_date)
            .field("birth_date_check_digit", &self.birth_date_check_digit)
            .field("sex", &self.sex)
            .field("expiry_date", &self.expiry_date)
            .field("expiry_date_check_digit", &self.expiry_date_check_digit)
            .field("document_number", &Redacted)
            .field("document_number_check_digit", &Redacted)
            .field(
                "composite_check_digit",
                &redact(self.composite_check_digit.is_some()),
            )
            .field("optional_data_1", &redact(self.optional_data_1.is_some()))
            .field("optional_data_2", &redact(self.optional_data_2.is_some()))
            .field("personal_number", &redact(self.personal_number.is_some()))
            .field(
                "personal_number_check_digit",
                &redact(self.personal_number_check_digit.is_some()),
            )
            .field("valid", &self.valid)
            .field("errors", &self.errors)
            .field("repaired", &self.repaired)
            .finish_non_exhaustive()
    }
}

/// What the application keeps of a visitor's document: no numbers, nothing PAuswG §20 forbids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalData {
    /// Surname as in the MRZ (transliterated, upper case).
    pub surname: String,
    /// Given names as in the MRZ, separated by single spaces.
    pub given_names: String,
    /// Raw `YYMMDD`, as the MRZ carries no century.
    pub birth_date: String,
    /// Nationality code without fillers (Germany is `D`).
    pub nationality: String,
}

impl PersonalData {
    /// Birth date as `YYYY-MM-DD`, or `None` if it is no calendar date. The MRZ has two-digit
    /// years and nobody is born in the future, so a year after `today_year` is read as the
    /// previous century. The caller passes the year so this stays testable and clock-free.
    pub fn birth_date_iso(&self, today_year: i32) -> Option<String> {
        let (yy, month, day) = date_parts(self.birth_date.as_bytes())?;
        let today = i64::from(today_year);
        let mut year = today.div_euclid(100) * 100 + i64::from(yy);
        if year > today {
            year -= 100;
        }
        if day > days_in_month(year, month) {
            return None;
        }
        Some(format!("{year:04}-{month:02}-{day:02}"))
    }
}

/// Parses MRZ text strictly: no character is changed.
///
/// Lines may be separated by `\n` or `\r\n`; surrounding whitespace and blank lines are ignored.
/// Structural problems are `Err`; check-digit, date and sex failures come back as an `Ok` result
/// with `valid == false` and the failures listed.
///
/// # Errors
/// [`MrzError`] if the text is not 2 or 3 lines of MRZ characters with one layout's length.
pub fn parse(text: &str) -> Result<Mrz, MrzError> {
    let (layout, lines, _) = read_lines(text, false)?;
    Ok(decode(layout, &lines, false))
}

/// Like [`parse`], but first undoes OCR confusions where the field type demands it and check
/// digits confirm it:
/// - `«`, `‹`, `＜` are read as fillers (`«` as `<<` if that makes the line length fit);
/// - letters in dates and check digits as the digits they resemble, kept only if the check
///   digit then matches (and the date is plausible);
/// - `K` at a check position as `<` (TD1/TD2 long-number marker, empty TD3 personal number),
///   kept only if the check digit behind it then matches;
/// - digits in names, state codes and the document code as letters, `K` inside a code's or the
///   name's padding as `<`, and `K` as sex as `<`; no check digit covers these fields, so this
///   step only runs once every check digit passes.
///
/// Document numbers, personal numbers and optional data are never changed: letters and digits
/// are both legal there, and `K`/`<` or `G`/`6` even weigh the same in a check digit. Anything
/// unconfirmed is left as read; [`Mrz::repaired_lines`] shows what was changed.
///
/// # Errors
/// As [`parse`], judged after filler look-alikes are substituted.
pub fn parse_with_repair(text: &str) -> Result<Mrz, MrzError> {
    let (layout, lines, substituted) = read_lines(text, true)?;
    let repaired = repair(layout, lines.clone());
    let changed = substituted || repaired != lines;
    Ok(decode(layout, &repaired, changed))
}

/// A field's place: line, start column, length (all 0-based, in bytes of validated ASCII).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    line: usize,
    start: usize,
    len: usize,
}

const fn span(line: usize, start: usize, len: usize) -> Span {
    Span { line, start, len }
}

/// Lets the repair helpers work on a check digit alone.
const NO_DATA: Span = span(0, 0, 0);

/// Where each field sits in one format.
struct Layout {
    format: Format,
    line_len: usize,
    document_type: Span,
    issuing_state: Span,
    name: Span,
    document_number: Span,
    document_number_check: Span,
    nationality: Span,
    birth_date: Span,
    birth_date_check: Span,
    sex: Span,
    expiry_date: Span,
    expiry_date_check: Span,
    optional_1: Option<Span>,
    optional_2: Option<Span>,
    /// Data and check digit.
    personal_number: Option<(Span, Span)>,
    /// Check digit and the spans it covers.
    composite: Option<(Span, &'static [Span])>,
    /// TD1/TD2 continue numbers over 9 characters in optional data 1 (9303-5/-6).
    extendable: bool,
}

/// Line 2 of every two-line format shares the first 28 columns.
const fn two_line(format: Format, line_len: usize) -> Layout {
    Layout {
        format,
        line_len,
        document_type: span(0, 0, 2),
        issuing_state: span(0, 2, 3),
        name: span(0, 5, line_len - 5),
        document_number: span(1, 0, 9),
        document_number_check: span(1, 9, 1),
        nationality: span(1, 10, 3),
        birth_date: span(1, 13, 6),
        birth_date_check: span(1, 19, 1),
        sex: span(1, 20, 1),
        expiry_date: span(1, 21, 6),
        expiry_date_check: span(1, 27, 1),
        optional_1: None,
        optional_2: None,
        personal_number: None,
        composite: None,
        extendable: false,
    }
}

static TD1: Layout = Layout {
    format: Format::Td1,
    line_len: 30,
    document_type: span(0, 0, 2),
    issuing_state: span(0, 2, 3),
    document_number: span(0, 5, 9),
    document_number_check: span(0, 14, 1),
    optional_1: Some(span(0, 15, 15)),
    birth_date: span(1, 0, 6),
    birth_date_check: span(1, 6, 1),
    sex: span(1, 7, 1),
    expiry_date: span(1, 8, 6),
    expiry_date_check: span(1, 14, 1),
    nationality: span(1, 15, 3),
    optional_2: Some(span(1, 18, 11)),
    composite: Some((
        span(1, 29, 1),
        &[
            span(0, 5, 25),
            span(1, 0, 7),
            span(1, 8, 7),
            span(1, 18, 11),
        ],
    )),
    name: span(2, 0, 30),
    personal_number: None,
    extendable: true,
};

static TD2: Layout = Layout {
    optional_1: Some(span(1, 28, 7)),
    composite: Some((
        span(1, 35, 1),
        &[span(1, 0, 10), span(1, 13, 7), span(1, 21, 14)],
    )),
    extendable: true,
    ..two_line(Format::Td2, 36)
};

static TD3: Layout = Layout {
    personal_number: Some((span(1, 28, 14), span(1, 42, 1))),
    composite: Some((
        span(1, 43, 1),
        &[span(1, 0, 10), span(1, 13, 7), span(1, 21, 22)],
    )),
    ..two_line(Format::Td3, 44)
};

static MRVA: Layout = Layout {
    optional_1: Some(span(1, 28, 16)),
    ..two_line(Format::MrvA, 44)
};

static MRVB: Layout = Layout {
    optional_1: Some(span(1, 28, 8)),
    ..two_line(Format::MrvB, 36)
};

/// Splits, trims and validates the text and picks the layout. With `substitute`, filler
/// look-alikes are read as `<` first (`«` as one or two, whichever fits the line length).
fn read_lines(
    text: &str,
    substitute: bool,
) -> Result<(&'static Layout, Vec<Vec<u8>>, bool), MrzError> {
    let raw: Vec<&str> = text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    if !(2..=3).contains(&raw.len()) {
        return Err(MrzError::LineCount { found: raw.len() });
    }
    let targets: &[usize] = if raw.len() == 3 { &[30] } else { &[36, 44] };

    let mut substituted = false;
    let mut lines = Vec::with_capacity(raw.len());
    for (index, line) in raw.iter().enumerate() {
        let owned;
        let line = if substitute && line.chars().any(is_filler_glyph) {
            substituted = true;
            owned = substitute_fillers(line, targets);
            owned.as_str()
        } else {
            line
        };
        let mut bytes = Vec::with_capacity(44);
        for (column, c) in line.chars().enumerate() {
            match u8::try_from(c) {
                Ok(b) if b.is_ascii_uppercase() || b.is_ascii_digit() || b == FILLER => {
                    bytes.push(b);
                }
                _ => {
                    return Err(MrzError::InvalidCharacter {
                        line: index + 1,
                        column: column + 1,
                    });
                }
            }
        }
        lines.push(bytes);
    }

    let first_len = lines.first().map_or(0, Vec::len);
    let first_char = lines.first().and_then(|line| line.first()).copied();
    let layout = match (lines.len(), first_len, first_char) {
        (3, 30, _) => &TD1,
        (2, 36, Some(b'V')) => &MRVB,
        (2, 36, _) => &TD2,
        (2, 44, Some(b'V')) => &MRVA,
        (2, 44, _) => &TD3,
        _ => {
            return Err(MrzError::LineLength {
                line: 1,
                found: first_len,
            });
        }
    };
    if let Some((index, line)) = lines
        .iter()
        .enumerate()
        .find(|(_, line)| line.len() != layout.line_len)
    {
        return Err(MrzError::LineLength {
            line: index + 1,
            found: line.len(),
        });
    }
    Ok((layout, lines, substituted))
}

/// Characters OCR engines produce for `<` that are never MRZ characters themselves.
fn is_filler_glyph(c: char) -> bool {
    matches!(c, '«' | '‹' | '＜')
}

/// `«` often stands for `<<`: read every one as a single or every one as a double filler,
/// whichever gives a valid line length (single if neither does, so the length error shows).
fn substitute_fillers(line: &str, targets: &[usize]) -> String {
    let expand = |double: bool| {
        let mut out = String::with_capacity(line.len());
        for c in line.chars() {
            match c {
                '«' if double => out.push_str("<<"),
                c if is_filler_glyph(c) => out.push('<'),
                c => out.push(c),
            }
        }
        out
    };
    let single = expand(false);
    if targets.contains(&single.chars().count()) {
        return single;
    }
    let double = expand(true);
    if targets.contains(&double.chars().count()) {
        double
    } else {
        single
    }
}

/// The bytes of a field; empty if the span is out of range (cannot happen after `read_lines`,
/// but parsing must never panic).
fn field(lines: &[Vec<u8>], at: Span) -> &[u8] {
    lines
        .get(at.line)
        .and_then(|line| line.get(at.start..at.start + at.len))
        .unwrap_or_default()
}

/// A single-character field such as a check digit.
fn byte(lines: &[Vec<u8>], at: Span) -> u8 {
    field(lines, at).first().copied().unwrap_or(FILLER)
}

fn put(lines: &mut [Vec<u8>], at: Span, data: &[u8]) {
    if let Some(target) = lines
        .get_mut(at.line)
        .and_then(|line| line.get_mut(at.start..at.start + at.len))
        && target.len() == data.len()
    {
        target.copy_from_slice(data);
    }
}

fn text(bytes: &[u8]) -> String {
    bytes.iter().copied().map(char::from).collect()
}

/// Field value with leading and trailing fillers removed, inner ones kept.
fn trimmed(bytes: &[u8]) -> String {
    text(bytes).trim_matches('<').to_owned()
}

/// ICAO 9303-3 check digit (weights 7-3-1, `<` = 0, A = 10 .. Z = 35) as an ASCII digit.
fn check_digit<'a>(data: impl IntoIterator<Item = &'a u8>) -> u8 {
    const WEIGHTS: [u32; 3] = [7, 3, 1];
    let sum: u32 = data
        .into_iter()
        .zip(WEIGHTS.iter().cycle())
        .map(|(&c, &weight)| {
            let value = match c {
                b'0'..=b'9' => u32::from(c - b'0'),
                b'A'..=b'Z' => u32::from(c - b'A') + 10,
                _ => 0,
            };
            value * weight
        })
        .sum();
    b'0' + (sum % 10) as u8
}

/// `(YY, MM, DD)` if the field is six digits with month 1-12 and day 1-31.
fn date_parts(date: &[u8]) -> Option<(u8, u8, u8)> {
    if date.len() != 6 || !date.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let pair = |i: usize| {
        let tens = date.get(i).map_or(0, |d| d - b'0');
        let ones = date.get(i + 1).map_or(0, |d| d - b'0');
        tens * 10 + ones
    };
    let (year, month, day) = (pair(0), pair(2), pair(4));
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some((year, month, day))
}

fn days_in_month(year: i64, month: u8) -> u8 {
    let leap = year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Splits at the first `<<`; single fillers become spaces.
fn split_name(name: &[u8]) -> (String, String) {
    let name = text(name);
    let (surname, given) = name.split_once("<<").unwrap_or((name.as_str(), ""));
    let words = |part: &str| {
        part.split('<')
            .filter(|word| !word.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    (words(surname), words(given))
}

/// The document number with its check digit, which moves into optional data when the number
/// is extended.
struct DocumentNumber {
    number: String,
    check: u8,
    check_at: Span,
    ok: bool,
    optional_1: Option<String>,
}

fn document_number(layout: &Layout, lines: &[Vec<u8>]) -> DocumentNumber {
    let head = field(lines, layout.document_number);
    let check = byte(lines, layout.document_number_check);
    let optional = layout.optional_1.map(|at| (at, field(lines, at)));
    if let (true, FILLER, Some((at, optional))) = (layout.extendable, check, optional) {
        let extension_len = optional
            .iter()
            .position(|&c| c == FILLER)
            .unwrap_or(optional.len());
        let extension = optional.get(..extension_len).and_then(<[u8]>::split_last);
        if let Some((&check, extension)) = extension {
            let strict = check_digit(head.iter().chain(extension));
            // Belgian cards compute it over the number as printed, filler included.
            let as_printed = check_digit(head.iter().chain([&FILLER]).chain(extension));
            return DocumentNumber {
                number: trimmed(head) + &text(extension),
                check,
                check_at: span(at.line, at.start + extension_len - 1, 1),
                ok: check == strict || check == as_printed,
                optional_1: Some(trimmed(optional.get(extension_len..).unwrap_or_default())),
            };
        }
    }
    DocumentNumber {
        number: trimmed(head),
        check,
        check_at: layout.document_number_check,
        ok: check == check_digit(head),
        optional_1: optional.map(|(_, data)| trimmed(data)),
    }
}

/// All failed checks, in the order of [`FieldError`].
fn failures(layout: &Layout, lines: &[Vec<u8>]) -> Vec<FieldError> {
    let pair_ok = |data: Span, check: Span| byte(lines, check) == check_digit(field(lines, data));
    let personal_number_ok = layout.personal_number.is_none_or(|(data, check)| {
        let data = field(lines, data);
        let check = byte(lines, check);
        if data.iter().all(|&c| c == FILLER) {
            check == FILLER || check == b'0'
        } else {
            check == check_digit(data)
        }
    });
    let composite_ok = layout.composite.is_none_or(|(check, covered)| {
        byte(lines, check) == check_digit(covered.iter().flat_map(|&at| field(lines, at)))
    });

    let results = [
        (
            document_number(layout, lines).ok,
            FieldError::DocumentNumberCheck,
        ),
        (
            pair_ok(layout.birth_date, layout.birth_date_check),
            FieldError::BirthDateCheck,
        ),
        (
            pair_ok(layout.expiry_date, layout.expiry_date_check),
            FieldError::ExpiryDateCheck,
        ),
        (personal_number_ok, FieldError::PersonalNumberCheck),
        (composite_ok, FieldError::CompositeCheck),
        (
            date_parts(field(lines, layout.birth_date)).is_some(),
            FieldError::BirthDateInvalid,
        ),
        (
            date_parts(field(lines, layout.expiry_date)).is_some(),
            FieldError::ExpiryDateInvalid,
        ),
        (
            matches!(byte(lines, layout.sex), b'M' | b'F' | b'X' | FILLER),
            FieldError::SexInvalid,
        ),
    ];
    results
        .into_iter()
        .filter_map(|(ok, error)| (!ok).then_some(error))
        .collect()
}

fn decode(layout: &Layout, lines: &[Vec<u8>], repaired: bool) -> Mrz {
    let document = document_number(layout, lines);
    let errors = failures(layout, lines);
    let (surname, given_names) = split_name(field(lines, layout.name));
    let char_at = |at: Span| char::from(byte(lines, at));
    Mrz {
        format: layout.format,
        document_type: trimmed(field(lines, layout.document_type)),
        issuing_state: trimmed(field(lines, layout.issuing_state)),
        surname,
        given_names,
        nationality: trimmed(field(lines, layout.nationality)),
        birth_date: text(field(lines, layout.birth_date)),
        sex: char_at(layout.sex),
        expiry_date: text(field(lines, layout.expiry_date)),
        document_number: document.number,
        document_number_check_digit: char::from(document.check),
        birth_date_check_digit: char_at(layout.birth_date_check),
        expiry_date_check_digit: char_at(layout.expiry_date_check),
        composite_check_digit: layout.composite.map(|(check, _)| char_at(check)),
        optional_data_1: document.optional_1,
        optional_data_2: layout.optional_2.map(|at| trimmed(field(lines, at))),
        personal_number: layout
            .personal_number
            .map(|(data, _)| trimmed(field(lines, data))),
        personal_number_check_digit: layout.personal_number.map(|(_, check)| char_at(check)),
        valid: errors.is_empty(),
        errors,
        lines: lines.iter().map(|line| text(line)).collect(),
        repaired,
    }
}

/// OCR reads of a digit-only field; `None` if some character has no digit look-alike.
fn as_digits(data: &[u8]) -> Option<Vec<u8>> {
    data.iter().map(|&c| as_digit(c)).collect()
}

/// The letter–digit pairs OCR confuses (ICAO 9303-3); repairs use them only where a
/// check digit confirms the result.
pub(crate) const CONFUSIONS: [(u8, u8); 6] = [
    (b'O', b'0'),
    (b'I', b'1'),
    (b'Z', b'2'),
    (b'S', b'5'),
    (b'G', b'6'),
    (b'B', b'8'),
];

fn as_digit(c: u8) -> Option<u8> {
    if c.is_ascii_digit() {
        return Some(c);
    }
    CONFUSIONS.iter().find(|(l, _)| *l == c).map(|&(_, d)| d)
}

fn as_letter(c: u8) -> u8 {
    CONFUSIONS
        .iter()
        .find(|(_, d)| *d == c)
        .map_or(c, |&(l, _)| l)
}

/// Fillers misread as `K` in a country code: once padding starts it does not stop.
fn code_padding(code: &mut [u8]) {
    let start = code.iter().position(|&c| c == FILLER).unwrap_or(code.len());
    for c in code.iter_mut().skip(start) {
        if *c == b'K' {
            *c = FILLER;
        }
    }
}

/// Fillers misread as `K` in the name's padding. Given names are separated by single fillers,
/// so a `K` behind a second `<<` in the trailing `K`/`<` run is padding, while an initial
/// (`SMITH<<K`, `ANNA<K`) is kept.
fn name_padding(name: &mut [u8]) {
    let given_start = name
        .windows(2)
        .position(|pair| pair == [FILLER, FILLER])
        .map_or(name.len(), |at| at + 2);
    let Some(given) = name.get_mut(given_start..) else {
        return;
    };
    let run_start = given
        .iter()
        .rposition(|&c| c != FILLER && c != b'K')
        .map_or(0, |at| at + 1);
    let Some(run) = given.get_mut(run_start..) else {
        return;
    };
    let Some(padding_start) = run.windows(2).position(|pair| pair == [FILLER, FILLER]) else {
        return;
    };
    for c in run.iter_mut().skip(padding_start) {
        if *c == b'K' {
            *c = FILLER;
        }
    }
}

/// Tries `readings` of the data together with each plausible reading of its check character
/// and keeps the first combination that clears every `target` without failing anything that
/// passed before: the check digit is what confirms the repair.
fn confirm(
    layout: &Layout,
    lines: &mut [Vec<u8>],
    data: Span,
    readings: &[Vec<u8>],
    check: Span,
    targets: &[FieldError],
) {
    let before = failures(layout, lines);
    if !targets.iter().any(|target| before.contains(target)) {
        return;
    }
    let read = byte(lines, check);
    let mut check_readings = vec![read];
    check_readings.extend(as_digit(read).filter(|&digit| digit != read));
    if read == b'K' {
        check_readings.push(FILLER);
    }
    let original = field(lines, data).to_vec();
    let data_readings =
        std::iter::once(&original).chain(readings.iter().filter(|&reading| *reading != original));
    for reading in data_readings {
        for &check_reading in &check_readings {
            if *reading == original && check_reading == read {
                continue;
            }
            let mut candidate = lines.to_vec();
            put(&mut candidate, data, reading);
            put(&mut candidate, check, &[check_reading]);
            let after = failures(layout, &candidate);
            if targets.iter().all(|target| !after.contains(target))
                && after.iter().all(|error| before.contains(error))
            {
                lines.clone_from_slice(&candidate);
                return;
            }
        }
    }
}

/// Field-type-aware OCR repair; see [`parse_with_repair`].
fn repair(layout: &Layout, mut lines: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    use FieldError as E;

    // Dates and their check digits hold digits only, so letters there are misread digits.
    for (data, check, targets) in [
        (
            layout.birth_date,
            layout.birth_date_check,
            [E::BirthDateCheck, E::BirthDateInvalid],
        ),
        (
            layout.expiry_date,
            layout.expiry_date_check,
            [E::ExpiryDateCheck, E::ExpiryDateInvalid],
        ),
    ] {
        let readings: Vec<_> = as_digits(field(&lines, data)).into_iter().collect();
        confirm(layout, &mut lines, data, &readings, check, &targets);
    }

    // A check position holds a digit, so a letter there is a misread digit, and a `K` may be a
    // misread filler: the TD1/TD2 extension marker or an all-filler TD3 personal number. The
    // extension's own check digit can only be looked at once the marker is known.
    confirm_check(
        layout,
        &mut lines,
        layout.document_number_check,
        E::DocumentNumberCheck,
    );
    let extension_check = document_number(layout, &lines).check_at;
    confirm_check(layout, &mut lines, extension_check, E::DocumentNumberCheck);
    if let Some((_, check)) = layout.personal_number {
        confirm_check(layout, &mut lines, check, E::PersonalNumberCheck);
    }
    if let Some((check, _)) = layout.composite {
        confirm_check(layout, &mut lines, check, E::CompositeCheck);
    }

    // Document and personal numbers and optional data are alphanumeric, so nothing in them is
    // repaired: `<` and `K` (0 and 20), like `6` and `G` (6 and 16), differ by a multiple of
    // 10, so no check digit could even notice that swap. Names, states, the document code and sex have a
    // field type but no check digit, so they are only repaired once everything that can be
    // checked passes.
    let remaining = failures(layout, &lines);
    if remaining.iter().all(|&error| error == E::SexInvalid) {
        for at in [
            layout.document_type,
            layout.issuing_state,
            layout.nationality,
            layout.name,
        ] {
            let mut letters: Vec<u8> = field(&lines, at).iter().map(|&c| as_letter(c)).collect();
            if at == layout.name {
                name_padding(&mut letters);
            } else if at != layout.document_type {
                code_padding(&mut letters);
            }
            put(&mut lines, at, &letters);
        }
        if byte(&lines, layout.sex) == b'K' {
            put(&mut lines, layout.sex, &[FILLER]);
        }
    }
    lines
}

fn confirm_check(layout: &Layout, lines: &mut [Vec<u8>], check: Span, target: FieldError) {
    confirm(layout, lines, NO_DATA, &[], check, &[target]);
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeSet;
    use std::error::Error;

    use serde_json::Value;

    type TestResult = Result<(), Box<dyn Error>>;

    const CASES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/mrz/cases.json"
    );
    const STRUCTURAL: [&str; 3] = ["line_count", "line_length", "invalid_character"];

    fn load_cases() -> Result<Vec<Value>, Box<dyn Error>> {
        let text = std::fs::read_to_string(CASES).map_err(|e| format!("{CASES}: {e}"))?;
        match serde_json::from_str(&text)? {
            Value::Array(cases) => Ok(cases),
            _ => Err("cases.json is not an array".into()),
        }
    }

    fn strings(value: &Value) -> Vec<&str> {
        value
            .as_array()
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    fn error_set(value: &Value) -> BTreeSet<&str> {
        strings(value).into_iter().collect()
    }

    /// Compares one case; `Err` describes the first mismatch.
    fn check_case(case: &Value) -> Result<(), String> {
        let text = strings(&case["lines"]).join("\n");
        let expected = &case["expected"];
        let expected_errors = error_set(&expected["errors"]);

        if let Some(code) = STRUCTURAL.iter().find(|c| expected_errors.contains(*c)) {
            return match parse(&text) {
                Err(e) if e.code() == *code => Ok(()),
                other => Err(format!("expected Err({code}), got {other:?}")),
            };
        }

        let mrz = parse(&text).map_err(|e| format!("unexpected error: {e}"))?;
        let actual = serde_json::to_value(&mrz).map_err(|e| e.to_string())?;
        let (Some(expected_map), Some(actual_map)) = (expected.as_object(), actual.as_object())
        else {
            return Err("expected/actual not objects".into());
        };
        for (key, want) in expected_map {
            let got = &actual[key.as_str()];
            let same = if key == "errors" {
                error_set(want) == error_set(got)
            } else {
                want == got
            };
            if !same {
                return Err(format!("{key}: expected {want}, got {got}"));
            }
        }
        if let Some(extra) = actual_map
            .keys()
            .find(|k| *k != "format" && !expected_map.contains_key(*k))
        {
            return Err(format!("unexpected field {extra}"));
        }
        if actual["format"] != case["format"] {
            return Err(format!("format: got {}", actual["format"]));
        }

        let repaired = parse_with_repair(&text).map_err(|e| e.to_string())?;
        if case["ocr_garbled"].as_bool() == Some(true) {
            if mrz.is_valid() {
                return Err("garbled case parsed valid strictly".into());
            }
            let want = strings(&case["corrected_lines"]);
            let got: Vec<&str> = repaired
                .repaired_lines()
                .unwrap_or_default()
                .iter()
                .map(String::as_str)
                .collect();
            if got != want || !repaired.is_valid() {
                return Err(format!(
                    "repair gave {got:?}, valid={}",
                    repaired.is_valid()
                ));
            }
        } else if repaired.was_repaired() || repaired != mrz {
            // Deliberate errors must not be "repaired" into validity, valid MRZs not touched.
            return Err("parse_with_repair changed a non-garbled case".into());
        }
        Ok(())
    }

    #[test]
    fn all_cases_in_shared_testdata() -> TestResult {
        let cases = load_cases()?;
        let mut failed = Vec::new();
        for case in &cases {
            if let Err(why) = check_case(case) {
                failed.push(format!("{}: {why}", case["id"]));
            }
        }
        println!(
            "{} of {} MRZ cases pass",
            cases.len() - failed.len(),
            cases.len()
        );
        assert!(failed.is_empty(), "failing cases:\n{}", failed.join("\n"));
        assert_eq!(cases.len(), 23, "README promises 23 cases");
        Ok(())
    }

    const TD3_UTOPIA: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n\
                              L898902C36UTO7408122F1204159ZE184226B<<<<<10";

    #[test]
    fn tolerates_crlf_whitespace_and_blank_lines() -> TestResult {
        let text = "\n  P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<< \r\n\r\n\t\
                    L898902C36UTO7408122F1204159ZE184226B<<<<<10  \r\n\n";
        assert_eq!(parse(text)?, parse(TD3_UTOPIA)?);
        assert!(parse(text)?.is_valid());
        Ok(())
    }

    #[test]
    fn visas() -> TestResult {
        // ICAO 9303-7 specimens.
        let mrva = parse(
            "VIUTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n\
             L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
        )?;
        assert_eq!(mrva.format(), Format::MrvA);
        assert!(mrva.is_valid(), "{:?}", mrva.errors());
        assert_eq!(mrva.document_type(), "VI");
        assert_eq!(mrva.document_number(), "L8988901C");
        assert_eq!(mrva.optional_data_1(), Some("6ZE184226B"));
        let json = serde_json::to_value(&mrva)?;
        assert_eq!(json["format"], "MRVA");
        assert!(json.get("composite_check_digit").is_none());
        assert!(json.get("personal_number").is_none());

        let mrvb = parse(
            "VIUTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\n\
             L8988901C4XXX4009078F9612109<<<<<<<<",
        )?;
        assert_eq!(mrvb.format(), Format::MrvB);
        assert!(mrvb.is_valid(), "{:?}", mrvb.errors());
        assert_eq!(mrvb.optional_data_1(), Some(""));
        assert_eq!(mrvb.expiry_date(), "961210");
        Ok(())
    }

    #[test]
    fn td2_long_document_number() -> TestResult {
        let mrz = parse(
            "I<UTOSTEVENSON<<PETER<JOHN<<<<<<<<<<\n\
             D23145890<UTO3407127M95071227349<<<8",
        )?;
        assert!(mrz.is_valid(), "{:?}", mrz.errors());
        assert_eq!(mrz.document_number(), "D23145890734");
        assert_eq!(mrz.optional_data_1(), Some(""));
        Ok(())
    }

    #[test]
    fn repairs_fillers_read_as_k_or_guillemet() -> TestResult {
        // `K` weighs like `<` in check digits, so this parses "valid" strictly, but a code
        // cannot resume after padding and given names are not separated by `<<`.
        let german = "IDD<KT220001293<<<<<<<<<<<<<<<\n\
                      6408125<2010315D<K<<<<<<<<<<<4\n\
                      MUSTERMANN<<ERIKA<<<K<<<<<<<<<";
        let strict = parse(german)?;
        assert_eq!(
            (strict.issuing_state(), strict.nationality()),
            ("D<K", "D<K")
        );
        assert_eq!(strict.given_names(), "ERIKA K");
        let fixed = parse_with_repair(german)?;
        assert!(fixed.is_valid() && fixed.was_repaired());
        assert_eq!((fixed.issuing_state(), fixed.nationality()), ("D", "D"));
        assert_eq!(fixed.given_names(), "ERIKA");
        // An initial stays.
        let initial = german.replace("ERIKA<<<K", "ERIKA<K<<");
        assert_eq!(parse_with_repair(&initial)?.given_names(), "ERIKA K");

        // All-filler personal number whose check position reads `K`.
        let passport = "P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<\n\
                        C01X00T478D<<6408125F2702283<<<<<<<<<<<<<<K4";
        assert_eq!(parse(passport)?.errors(), [FieldError::PersonalNumberCheck]);
        let fixed = parse_with_repair(passport)?;
        assert!(fixed.is_valid());
        assert_eq!(fixed.lines().get(1).map(|l| l.ends_with("<<4")), Some(true));

        // `«` for `<<` (the line is one character short) and `‹` for `<`; strictly both are
        // invalid characters.
        let guillemets = "P<UTOERIKSSON«ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n\
                          L898902C36UTO7408122F1204159ZE184226B‹<<<<10";
        assert_eq!(
            parse(guillemets).map_err(|e| e.code()),
            Err("invalid_character")
        );
        let fixed = parse_with_repair(guillemets)?;
        assert!(fixed.is_valid() && fixed.was_repaired());
        assert_eq!(fixed.lines(), parse(TD3_UTOPIA)?.lines());

        // TD1 extended number whose marker filler was read as K, confirmed by the extension's
        // check digit.
        let long = "I<UTOD23145890K7349<<<<<<<<<<<\n\
                    3407127M9507122UTO<<<<<<<<<<<2\n\
                    STEVENSON<<PETER<JOHN<<<<<<<<<";
        assert!(!parse(long)?.is_valid());
        let fixed = parse_with_repair(long)?;
        assert!(fixed.is_valid(), "{:?}", fixed.errors());
        assert_eq!(fixed.document_number(), "D23145890734");
        Ok(())
    }

    #[test]
    fn unconfirmed_repairs_are_not_applied() -> TestResult {
        // Looks like a confusable date, but the check digit (3) fits neither reading.
        let text = "P<UTO5M1TH<<J0HN<<<<<<<<<<<<<<<<<<<<<<<<<<<<\n\
                    L898902C36UTO74O8123F1204159ZE184226B<<<<<10";
        let mrz = parse_with_repair(text)?;
        assert!(!mrz.is_valid());
        assert!(!mrz.was_repaired());
        assert_eq!(mrz.birth_date(), "74O812");
        // Names stay as read while a check digit fails.
        assert_eq!(mrz.surname(), "5M1TH");
        Ok(())
    }

    #[test]
    fn debug_redacts_numbers() -> TestResult {
        let mrz = parse(TD3_UTOPIA)?;
        let debug = format!("{mrz:?}");
        for secret in ["L898902C3", "ZE184226B", "L898902C36"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("ERIKSSON") && debug.contains("<redacted>"));

        let td1 = parse(
            "IDD<<LZ6311T475<<<<<<<<<<<<<<<\n\
             8308126<3110315D<<2108<<<<<<<9\n\
             MUSTERMANN<<ERIKA<<<<<<<<<<<<<",
        )?;
        let debug = format!("{td1:?}");
        assert!(
            !debug.contains("LZ6311T47") && !debug.contains("2108"),
            "{debug}"
        );
        Ok(())
    }

    #[test]
    fn personal_data_and_century() -> TestResult {
        let data = parse(TD3_UTOPIA)?.personal_data();
        assert_eq!(
            data,
            PersonalData {
                surname: "ERIKSSON".into(),
                given_names: "ANNA MARIA".into(),
                birth_date: "740812".into(),
                nationality: "UTO".into(),
            }
        );
        assert_eq!(data.birth_date_iso(2025).as_deref(), Some("1974-08-12"));
        let born = |raw: &str, year| {
            PersonalData {
                birth_date: raw.into(),
                ..data.clone()
            }
            .birth_date_iso(year)
        };
        assert_eq!(born("250101", 2025).as_deref(), Some("2025-01-01"));
        assert_eq!(born("260101", 2025).as_deref(), Some("1926-01-01"));
        assert_eq!(born("000229", 2025).as_deref(), Some("2000-02-29"));
        assert_eq!(born("010229", 2025), None);
        assert_eq!(born("740931", 2025), None);
        assert_eq!(born("741312", 2025), None);
        assert_eq!(born("74O812", 2025), None);
        assert!(born("991231", i32::MAX).is_some());
        assert!(born("991231", i32::MIN).is_some());
        Ok(())
    }

    #[test]
    fn error_codes_and_messages() {
        let cases = [
            ("", "line_count"),
            ("P<UTO", "line_count"),
            ("A\nB\nC\nD", "line_count"),
            ("ABC\nDEF", "line_length"),
            ("P<UTO😀\nX", "invalid_character"),
        ];
        for (text, code) in cases {
            match parse(text) {
                Err(e) => {
                    assert_eq!(e.code(), code, "{text:?}");
                    assert!(!e.to_string().is_empty());
                }
                Ok(m) => panic!("{text:?} parsed: {m:?}"),
            }
        }
        let all = [
            FieldError::DocumentNumberCheck,
            FieldError::BirthDateCheck,
            FieldError::ExpiryDateCheck,
            FieldError::PersonalNumberCheck,
            FieldError::CompositeCheck,
            FieldError::BirthDateInvalid,
            FieldError::ExpiryDateInvalid,
            FieldError::SexInvalid,
        ];
        for error in all {
            assert_eq!(
                serde_json::to_value(error).ok(),
                Some(Value::from(error.code()))
            );
        }
    }

    /// Deterministic xorshift, so fuzz failures reproduce without a `rand` dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
        fn pick(&mut self, chars: &[char]) -> char {
            chars.get(self.below(chars.len())).copied().unwrap_or('<')
        }
    }

    fn exercise(text: &str) {
        let strict = parse(text);
        let repaired = parse_with_repair(text);
        for mrz in [&strict, &repaired].into_iter().flatten() {
            let _ = format!("{mrz:?}");
            let _ = serde_json::to_string(mrz);
            let data = mrz.personal_data();
            for year in [2025, 0, i32::MAX, i32::MIN] {
                let _ = data.birth_date_iso(year);
            }
        }
        // On an MRZ that is already valid, repair may only fix digits in unchecked letter
        // fields (names, states); everything check digits cover stays as read.
        if let (Ok(strict), Ok(repaired)) = (&strict, &repaired)
            && strict.is_valid()
        {
            assert!(repaired.is_valid(), "{text:?}");
            let covered = |m: &Mrz| {
                let mut json = serde_json::to_value(m).unwrap_or_default();
                for key in [
                    "surname",
                    "given_names",
                    "issuing_state",
                    "nationality",
                    "document_type",
                ] {
                    if let Some(map) = json.as_object_mut() {
                        map.remove(key);
                    }
                }
                json
            };
            assert_eq!(covered(strict), covered(repaired), "{text:?}");
        }
    }

    #[test]
    fn arbitrary_input_never_panics() -> TestResult {
        let long = "<".repeat(100_000);
        let fixed = [
            String::new(),
            "\n\r\n \t".into(),
            "😀".into(),
            "😀\n😀\n😀".into(),
            format!("{long}\n{long}"),
            "\n".repeat(10_000),
            "A\n".repeat(10_000),
            format!("{}\n{}", "A".repeat(44), "😀".repeat(44)),
            format!("{}\n{}\n{}", "é".repeat(30), "«".repeat(15), "K".repeat(30)),
            format!("{}\n{}", "«".repeat(22), "«".repeat(22)),
            format!("{}\n{}", "K".repeat(44), "K".repeat(44)),
            format!("{}\n{}", "V".repeat(36), "B".repeat(36)),
            "\u{0}\u{feff}\u{200b}".into(),
        ];
        for text in &fixed {
            exercise(text);
        }

        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        let wild: Vec<char> = "AZK09<«‹＜ \n\r\té😀ß\u{0}\u{301}".chars().collect();
        let mrz_like: Vec<char> = "ABCDIKOSZGLMFX0125689<<<<<<<«".chars().collect();
        for _ in 0..2000 {
            let len = rng.below(120);
            let text: String = (0..len).map(|_| rng.pick(&wild)).collect();
            exercise(&text);
        }
        for _ in 0..3000 {
            let (count, width) = match rng.below(4) {
                0 => (3, 30),
                1 => (2, 36),
                _ => (2, 44),
            };
            let text = (0..count)
                .map(|_| (0..width).map(|_| rng.pick(&mrz_like)).collect::<String>())
                .collect::<Vec<_>>()
                .join("\n");
            exercise(&text);
        }
        // Single-character mutations of real MRZs reach the deep repair paths.
        let cases = load_cases()?;
        for case in &cases {
            let original: Vec<char> = strings(&case["lines"]).join("\n").chars().collect();
            for _ in 0..150 {
                let mut chars = original.clone();
                let at = rng.below(chars.len());
                match rng.below(3) {
                    0 => {
                        if let Some(c) = chars.get_mut(at) {
                            *c = rng.pick(&mrz_like);
                        }
                    }
                    1 => chars.insert(at, rng.pick(&wild)),
                    _ => {
                        if at < chars.len() {
                            chars.remove(at);
                        }
                    }
                }
                exercise(&chars.into_iter().collect::<String>());
            }
        }
        Ok(())
    }
}
