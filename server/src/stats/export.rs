//! CSV of a report that opens correctly in Excel: UTF-8 with a byte-order mark, and
//! for German Excel a `;` separator with decimal commas.

use super::query::{StatsReport, StatsRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    /// `,` and decimal points.
    Comma,
    /// `;` and decimal commas (German Excel).
    Semicolon,
}

impl Separator {
    pub fn parse(s: &str) -> Option<Separator> {
        match s {
            "comma" | "," => Some(Separator::Comma),
            "semicolon" | ";" => Some(Separator::Semicolon),
            _ => None,
        }
    }

    fn char(self) -> char {
        match self {
            Separator::Comma => ',',
            Separator::Semicolon => ';',
        }
    }
}

const HEADER: [&str; 27] = [
    "period",
    "day",
    "hour",
    "dimension",
    "key",
    "checkins",
    "calls",
    "served",
    "no_shows",
    "cancellations",
    "transfers",
    "no_show_rate",
    "cancellation_rate",
    "transfer_rate",
    "print_fallbacks",
    "wait_count",
    "wait_median_min",
    "wait_p90_min",
    "wait_max_min",
    "service_count",
    "service_median_min",
    "service_p90_min",
    "service_max_min",
    "delivery_count",
    "delivery_median_min",
    "delivery_p90_min",
    "delivery_max_min",
];

/// A text field, quoted when it holds the separator, a quote or a line break; a
/// leading `=`, `+`, `-` or `@` is defused so a spreadsheet never runs it as a formula.
fn text(s: &str, sep: Separator) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([sep.char(), '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn num<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn dec(v: Option<f64>, sep: Separator) -> String {
    let s = num(v);
    match sep {
        Separator::Comma => s,
        Separator::Semicolon => s.replace('.', ","),
    }
}

fn line(r: &StatsRow, sep: Separator) -> Vec<String> {
    vec![
        text(&r.period, sep),
        text(r.day.as_deref().unwrap_or(""), sep),
        num(r.hour),
        text(&r.dimension, sep),
        text(&r.key, sep),
        num(r.checkins),
        num(r.calls),
        num(r.served),
        num(r.no_shows),
        num(r.cancellations),
        num(r.transfers),
        dec(r.no_show_rate, sep),
        dec(r.cancellation_rate, sep),
        dec(r.transfer_rate, sep),
        num(r.print_fallbacks),
        num(r.wait_count),
        num(r.wait_median_min),
        num(r.wait_p90_min),
        dec(r.wait_max_min, sep),
        num(r.service_count),
        num(r.service_median_min),
        num(r.service_p90_min),
        dec(r.service_max_min, sep),
        num(r.delivery_count),
        num(r.delivery_median_min),
        num(r.delivery_p90_min),
        dec(r.delivery_max_min, sep),
    ]
}

/// The report's rows, then its totals, as CSV with a BOM and CRLF line ends.
pub fn csv(report: &StatsReport, sep: Separator) -> String {
    let s = sep.char().to_string();
    let mut out = String::from("\u{feff}");
    out.push_str(&HEADER.join(&s));
    out.push_str("\r\n");
    for r in report.rows.iter().chain(&report.totals) {
        out.push_str(&line(r, sep).join(&s));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_defused() {
        assert_eq!(text("plain", Separator::Comma), "plain");
        assert_eq!(text("a,b", Separator::Comma), "\"a,b\"");
        assert_eq!(text("a,b", Separator::Semicolon), "a,b");
        assert_eq!(text("a;b", Separator::Semicolon), "\"a;b\"");
        assert_eq!(text("say \"hi\"", Separator::Comma), "\"say \"\"hi\"\"\"");
        assert_eq!(text("=1+1", Separator::Comma), "'=1+1");
        assert_eq!(text("two\nlines", Separator::Comma), "\"two\nlines\"");
    }

    #[test]
    fn german_excel_gets_semicolons_and_decimal_commas() {
        let report = StatsReport {
            from: "2026-01-01".into(),
            to: "2026-01-01".into(),
            granularity: super::super::Granularity::Day,
            timezone: "Europe/Berlin".into(),
            rows: vec![StatsRow {
                period: "2026-01-01".into(),
                day: Some("2026-01-01".into()),
                dimension: "site".into(),
                key: "all".into(),
                checkins: Some(3),
                no_show_rate: Some(0.333),
                wait_max_min: Some(12.5),
                ..StatsRow::default()
            }],
            totals: vec![],
        };
        let de = csv(&report, Separator::Semicolon);
        assert!(de.starts_with("\u{feff}period;day;hour;dimension;key;checkins;"));
        let row = de.lines().nth(1).unwrap();
        assert!(
            row.starts_with("2026-01-01;2026-01-01;;site;all;3;"),
            "{row}"
        );
        assert!(row.contains(";0,333;"), "{row}");
        assert!(row.contains(";12,5;"), "{row}");
        let en = csv(&report, Separator::Comma);
        assert!(en.lines().nth(1).unwrap().contains(",0.333,"));
        assert!(en.ends_with("\r\n"));
        assert_eq!(
            de.lines().next().unwrap().split(';').count(),
            row.split(';').count()
        );
    }
}
