//! Server-side SVG charts and the `/admin/stats` page: no script, no chart library,
//! so the page works offline and prints well. Staff text is German; language names
//! are isolated (`direction`, `unicode-bidi: isolate`) so Arabic and Farsi names
//! neither reorder nor drag neighbouring labels with them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::Datelike;

use super::hist::MINUTES;
use super::query::{ChartData, Range, StatsReport, StatsRow};

/// The charts the page shows (also `GET /api/v1/stats/charts/{name}.svg`).
pub const CHARTS: [&str; 4] = ["visits", "waiting", "heatmap", "languages"];

const PALETTE: [&str; 8] = [
    "#1f5fa8", "#e07b00", "#2e8b57", "#b8336a", "#6a4c93", "#8c6d1f", "#0f8b8d", "#5c5c5c",
];
const FONT: &str = "font-family=\"'Noto Sans', 'DejaVu Sans', sans-serif\"";
const WEEKDAYS: [&str; 7] = ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"];

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// German name of a visitor language (the staff UI is German).
pub fn language_de(code: &str) -> &str {
    match code {
        "de" => "Deutsch",
        "en" => "Englisch",
        "uk" => "Ukrainisch",
        "ru" => "Russisch",
        "ar" => "Arabisch",
        "fa" => "Persisch",
        "tr" => "Türkisch",
        "ro" => "Rumänisch",
        "bg" => "Bulgarisch",
        other => other,
    }
}

/// The language's own name from its kiosk catalog.
pub fn language_native(code: &str) -> String {
    crate::assets::catalog_map(code)
        .and_then(|m| m.get("_name").cloned())
        .unwrap_or_else(|| code.to_string())
}

fn is_rtl(code: &str) -> bool {
    matches!(code, "ar" | "fa")
}

/// A round step for about `ticks` axis divisions up to `max`.
fn nice_step(max: u64, ticks: u64) -> u64 {
    let raw = (max.max(1)).div_ceil(ticks.max(1));
    let mag = 10u64.pow((raw as f64).log10().floor().max(0.0) as u32);
    for m in [1, 2, 5, 10] {
        if m * mag >= raw {
            return m * mag;
        }
    }
    10 * mag
}

fn svg_open(w: u32, h: u32, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\" {FONT} font-size=\"13\"><title>{t}</title>",
        t = esc(title)
    )
}

fn no_data(svg: &mut String, w: u32, h: u32) {
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\" font-size=\"16\">Keine Daten im gewählten Zeitraum</text>",
        w / 2,
        h / 2
    );
}

/// Visits (check-ins) per day, stacked by service.
pub fn visits(d: &ChartData, service_name: &dyn Fn(&str) -> String) -> String {
    let (w, h) = (960u32, 360u32);
    let (left, right, top, bottom) = (56.0, 16.0, 60.0, 40.0);
    let mut s = svg_open(w, h, "Besuche pro Tag nach Anliegen");
    let max = d
        .days
        .iter()
        .map(|(_, m)| m.values().sum::<u64>())
        .max()
        .unwrap_or(0);
    if max == 0 {
        no_data(&mut s, w, h);
        s.push_str("</svg>");
        return s;
    }
    let step = nice_step(max, 5);
    let top_val = max.div_ceil(step) * step;
    let plot_w = f64::from(w) - left - right;
    let plot_h = f64::from(h) - top - bottom;
    let y = |v: u64| top + plot_h - (v as f64 / top_val as f64) * plot_h;
    let mut v = 0;
    while v <= top_val {
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{x2}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"#444\">{v}</text>",
            x2 = left + plot_w,
            yy = y(v),
            tx = left - 6.0,
            ty = y(v) + 4.0
        );
        v += step;
    }
    let n = d.days.len().max(1) as f64;
    let band = plot_w / n;
    let bar = (band * 0.8).max(0.6);
    let label_every = ((n / 12.0).ceil() as usize).max(1);
    for (i, (day, per)) in d.days.iter().enumerate() {
        let x = left + i as f64 * band + (band - bar) / 2.0;
        let mut acc = 0u64;
        for (si, svc) in d.services.iter().enumerate() {
            let c = per.get(svc).copied().unwrap_or(0);
            if c == 0 {
                continue;
            }
            let (y1, y0) = (y(acc + c), y(acc));
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{bar:.1}\" height=\"{hh:.1}\" fill=\"{col}\"><title>{day}: {name} {c}</title></rect>",
                hh = y0 - y1,
                col = PALETTE[si % PALETTE.len()],
                name = esc(&service_name(svc)),
                day = day.format("%d.%m.%Y"),
            );
            acc += c;
        }
        if i % label_every == 0 {
            let _ = write!(
                s,
                "<text x=\"{cx:.1}\" y=\"{ly}\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
                day.format("%d.%m."),
                cx = left + i as f64 * band + band / 2.0,
                ly = f64::from(h) - bottom + 18.0
            );
        }
    }
    // The legend wraps onto a second line (above the plot) when names are long.
    let (mut lx, mut ly) = (left, 4.0);
    for (si, svc) in d.services.iter().enumerate() {
        let name = service_name(svc);
        let width = 30.0 + name.chars().count() as f64 * 7.6;
        if lx + width > f64::from(w) - right && lx > left {
            lx = left;
            ly += 20.0;
        }
        let _ = write!(
            s,
            "<rect x=\"{lx:.1}\" y=\"{ly:.1}\" width=\"14\" height=\"14\" fill=\"{}\"/><text x=\"{tx:.1}\" y=\"{ty:.1}\" fill=\"#222\">{}</text>",
            PALETTE[si % PALETTE.len()],
            esc(&name),
            tx = lx + 19.0,
            ty = ly + 12.0
        );
        lx += width;
    }
    s.push_str("</svg>");
    s
}

/// Distribution of waiting times in 5-minute classes, 90 minutes and more together.
pub fn waiting(d: &ChartData) -> String {
    let (w, h) = (960u32, 300u32);
    let (left, right, top, bottom) = (56.0, 16.0, 40.0, 44.0);
    let mut s = svg_open(w, h, "Verteilung der Wartezeiten");
    if d.wait.n == 0 {
        no_data(&mut s, w, h);
        s.push_str("</svg>");
        return s;
    }
    let mut classes = [0u64; 19];
    for (i, c) in d.wait.buckets.iter().enumerate() {
        classes[(i / 5).min(18)] += u64::from(*c);
    }
    let max = classes.iter().copied().max().unwrap_or(1).max(1);
    let step = nice_step(max, 5);
    let top_val = max.div_ceil(step) * step;
    let plot_w = f64::from(w) - left - right;
    let plot_h = f64::from(h) - top - bottom;
    let y = |v: u64| top + plot_h - (v as f64 / top_val as f64) * plot_h;
    let mut v = 0;
    while v <= top_val {
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{x2}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"#444\">{v}</text>",
            x2 = left + plot_w,
            yy = y(v),
            tx = left - 6.0,
            ty = y(v) + 4.0
        );
        v += step;
    }
    let band = plot_w / classes.len() as f64;
    for (i, c) in classes.iter().enumerate() {
        let x = left + i as f64 * band + 2.0;
        let label = if i == 18 {
            "≥ 90".to_string()
        } else {
            format!("{}–{}", i * 5, i * 5 + 5)
        };
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{yy:.1}\" width=\"{bw:.1}\" height=\"{hh:.1}\" fill=\"#1f5fa8\"><title>{label} Min.: {c}</title></rect><text x=\"{cx:.1}\" y=\"{ly}\" text-anchor=\"middle\" fill=\"#444\" font-size=\"12\">{label}</text>",
            yy = y(*c),
            bw = band - 4.0,
            hh = y(0) - y(*c),
            cx = x + (band - 4.0) / 2.0,
            ly = f64::from(h) - bottom + 16.0,
        );
    }
    let _ = write!(
        s,
        "<text x=\"{cx:.1}\" y=\"{ly}\" text-anchor=\"middle\" fill=\"#444\">Wartezeit in Minuten</text>",
        cx = left + plot_w / 2.0,
        ly = f64::from(h) - 8.0
    );
    let med = d.wait.quantile_minutes(0.5).unwrap_or(0);
    let p90 = d.wait.quantile_minutes(0.9).unwrap_or(0);
    let over = if p90 as usize >= MINUTES { "≥ " } else { "" };
    let _ = write!(
        s,
        "<text x=\"{left}\" y=\"24\" fill=\"#222\" font-size=\"14\">{n} Aufrufe · Median {med} Min. · 90 % bis {over}{p90} Min. · längste {max:.0} Min.</text>",
        n = d.wait.n,
        max = d.wait.max_s as f64 / 60.0
    );
    s.push_str("</svg>");
    s
}

/// Check-ins per weekday and hour: when it is busiest.
pub fn heatmap(d: &ChartData) -> String {
    let used: Vec<usize> = (0..24)
        .filter(|h| d.heat.iter().any(|row| row[*h] > 0))
        .collect();
    let (first, last) = match (used.first(), used.last()) {
        (Some(a), Some(b)) => ((*a).min(8), (*b).max(17)),
        _ => (8, 17),
    };
    let hours = last - first + 1;
    let cell_w = (880.0 / hours as f64).min(60.0);
    let cell_h: f64 = 30.0;
    let (left, top): (f64, f64) = (48.0, 40.0);
    let w = (left + cell_w * hours as f64 + 16.0).ceil() as u32;
    let h = (top + cell_h * 7.0 + 16.0).ceil() as u32;
    let mut s = svg_open(w, h, "Stoßzeiten: Ankünfte nach Wochentag und Stunde");
    let max = d.heat.iter().flatten().copied().max().unwrap_or(0);
    for hr in first..=last {
        let _ = write!(
            s,
            "<text x=\"{cx:.1}\" y=\"{ty}\" text-anchor=\"middle\" fill=\"#444\" font-size=\"12\">{hr}–{}</text>",
            hr + 1,
            cx = left + (hr - first) as f64 * cell_w + cell_w / 2.0,
            ty = top - 8.0
        );
    }
    for (wd, row) in d.heat.iter().enumerate() {
        let y = top + wd as f64 * cell_h;
        let _ = write!(
            s,
            "<text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"#444\">{}</text>",
            WEEKDAYS[wd],
            tx = left - 8.0,
            ty = y + cell_h / 2.0 + 5.0
        );
        for (hr, &v) in row.iter().enumerate().take(last + 1).skip(first) {
            let t = if max == 0 { 0.0 } else { v as f64 / max as f64 };
            let x = left + (hr - first) as f64 * cell_w;
            let fill = if v == 0 {
                "#f3f5f8".to_string()
            } else {
                // from light blue to dark blue
                let l = 92.0 - 62.0 * t;
                format!("hsl(212, 65%, {l:.0}%)")
            };
            let ink = if t > 0.5 { "#fff" } else { "#222" };
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cw:.1}\" height=\"{ch:.1}\" fill=\"{fill}\" stroke=\"#fff\"><title>{} {hr}–{} Uhr: {v}</title></rect>",
                WEEKDAYS[wd],
                hr + 1,
                cw = cell_w,
                ch = cell_h
            );
            if v > 0 {
                let _ = write!(
                    s,
                    "<text x=\"{cx:.1}\" y=\"{cy:.1}\" text-anchor=\"middle\" fill=\"{ink}\" font-size=\"11\">{v}</text>",
                    cx = x + cell_w / 2.0,
                    cy = y + cell_h / 2.0 + 4.0
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// Check-ins per language, with the German and the language's own name.
pub fn languages(d: &ChartData) -> String {
    let rows = d.languages.len().max(1);
    let (w, h) = (960u32, (30 + rows * 30) as u32);
    let (name_x, native_x, bar_x) = (120.0, 260.0, 276.0);
    let mut s = svg_open(w, h, "Sprachen der Besucherinnen und Besucher");
    let total: u64 = d.languages.iter().map(|(_, n)| n).sum();
    if total == 0 {
        no_data(&mut s, w, h);
        s.push_str("</svg>");
        return s;
    }
    let max = d.languages.first().map_or(1, |x| x.1).max(1);
    let bar_w = f64::from(w) - bar_x - 110.0;
    for (i, (code, n)) in d.languages.iter().enumerate() {
        let y = 16.0 + i as f64 * 30.0;
        let native = language_native(code);
        let dir = if is_rtl(code) { "rtl" } else { "ltr" };
        let anchor = if is_rtl(code) { "start" } else { "end" };
        let len = *n as f64 / max as f64 * bar_w;
        let _ = write!(
            s,
            "<text x=\"{name_x}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"#222\">{de}</text>\
             <text x=\"{native_x}\" y=\"{ty:.1}\" text-anchor=\"{anchor}\" direction=\"{dir}\" style=\"direction:{dir};unicode-bidi:isolate\" lang=\"{code}\" fill=\"#555\">{native}</text>\
             <rect x=\"{bar_x}\" y=\"{y:.1}\" width=\"{len:.1}\" height=\"20\" fill=\"#2e8b57\"><title>{de}: {n}</title></rect>\
             <text x=\"{vx:.1}\" y=\"{ty:.1}\" fill=\"#222\">{n} ({pct:.0} %)</text>",
            de = esc(language_de(code)),
            native = esc(&native),
            code = esc(code),
            ty = y + 15.0,
            vx = bar_x + len + 8.0,
            pct = *n as f64 * 100.0 / total as f64,
        );
    }
    s.push_str("</svg>");
    s
}

/// One chart by name.
pub fn chart(name: &str, d: &ChartData, service_name: &dyn Fn(&str) -> String) -> Option<String> {
    Some(match name {
        "visits" => visits(d, service_name),
        "waiting" => waiting(d),
        "heatmap" => heatmap(d),
        "languages" => languages(d),
        _ => return None,
    })
}

fn fmt_opt<T: std::fmt::Display>(v: Option<T>, unit: &str) -> String {
    v.map_or("–".into(), |x| format!("{x}{unit}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| {
        format!("{:.1} %", x * 100.0).replace('.', ",")
    })
}

fn dec(v: Option<f64>, unit: &str) -> String {
    v.map_or("–".into(), |x| {
        format!("{}{unit}", format!("{x:.1}").replace('.', ","))
    })
}

fn summary_row(r: &StatsRow, label: &str) -> String {
    format!(
        "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(label),
        fmt_opt(r.checkins, ""),
        fmt_opt(r.served, ""),
        fmt_opt(r.wait_median_min, " Min."),
        fmt_opt(r.wait_p90_min, " Min."),
        dec(r.wait_max_min, " Min."),
        fmt_opt(r.service_median_min, " Min."),
        pct(r.no_show_rate),
        pct(r.cancellation_rate),
        pct(r.transfer_rate),
        fmt_opt(r.print_fallbacks, ""),
    )
}

/// The whole `/admin/stats` page for a range.
pub fn page(
    site_name: &str,
    range: Range,
    report: &StatsReport,
    data: &ChartData,
    service_name: &dyn Fn(&str) -> String,
    counter_name: &dyn Fn(&str) -> String,
) -> String {
    let (from, to) = (range.from.to_string(), range.to.to_string());
    let site = report.totals.iter().find(|r| r.dimension == "site");
    let mut table = String::new();
    if let Some(r) = site {
        table.push_str(&summary_row(r, "Alle Anliegen"));
    }
    for r in report.totals.iter().filter(|r| r.dimension == "service") {
        table.push_str(&summary_row(r, &service_name(&r.key)));
    }
    let mut dims = BTreeMap::<&str, Vec<String>>::new();
    for r in report.totals.iter() {
        let label = match r.dimension.as_str() {
            "identification" => match r.key.as_str() {
                "none" => "ohne".to_string(),
                "qr" => "QR-Code (Termin)".to_string(),
                "id_document" => "Ausweis".to_string(),
                k => esc(k),
            },
            "counter" => esc(&counter_name(&r.key)),
            _ => continue,
        };
        let n = r.checkins.or(r.calls).unwrap_or(0);
        dims.entry(r.dimension.as_str())
            .or_default()
            .push(format!("<li>{label}: <strong>{n}</strong></li>"));
    }
    let delivery = site.map_or("–".into(), |r| {
        format!(
            "{} Ereignisse · Median {} · 90 % bis {} · längste {}",
            r.delivery_count.unwrap_or(0),
            fmt_opt(r.delivery_median_min, " Min."),
            fmt_opt(r.delivery_p90_min, " Min."),
            dec(r.delivery_max_min, " Min.")
        )
    });
    let q = format!("from={from}&amp;to={to}");
    let weekday = |d: chrono::NaiveDate| WEEKDAYS[d.weekday().num_days_from_monday() as usize];
    format!(
        r#"<!doctype html>
<html lang="de" dir="ltr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Lotse – Statistik</title>
<link rel="stylesheet" href="/css/common.css">
<style>
body {{ margin: 0; background: #f6f7f9; color: #1b1f24; font-family: 'Noto Sans', 'DejaVu Sans', sans-serif; }}
header {{ background: #1f3a5f; color: #fff; padding: 12px 24px; display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap; }}
header h1 {{ font-size: 1.4rem; margin: 0; }}
main {{ padding: 16px 24px 40px; max-width: 1300px; }}
form.range {{ display: flex; gap: 16px; align-items: end; flex-wrap: wrap; margin-bottom: 16px; }}
form.range label {{ display: flex; flex-direction: column; font-size: .9rem; gap: 4px; }}
form.range input, form.range button {{ font: inherit; padding: 6px 10px; }}
section.card {{ background: #fff; border: 1px solid #d9dde3; border-radius: 8px; padding: 12px 16px; margin: 0 0 16px; overflow-x: auto; }}
section.card h2 {{ font-size: 1.1rem; margin: 0 0 8px; }}
table.sum {{ border-collapse: collapse; font-size: .9rem; width: 100%; }}
table.sum thead th {{ white-space: normal; vertical-align: bottom; }}
table.sum th, table.sum td {{ padding: 4px 8px; border-bottom: 1px solid #e5e7eb; text-align: end; white-space: nowrap; }}
table.sum th[scope=row], table.sum thead th:first-child {{ text-align: start; }}
ul.dims {{ display: flex; gap: 24px; list-style: none; padding: 0; margin: 4px 0; flex-wrap: wrap; }}
svg {{ max-width: 100%; height: auto; }}
.exports a {{ margin-inline-end: 12px; }}
</style>
</head>
<body>
<header><h1>Statistik</h1><span>{site}</span><span data-testid="stats-range">{wf}, {fd} – {wt}, {td}</span></header>
<main>
<form class="range" method="get" action="/admin/stats">
<label>Von <input type="date" name="from" value="{from}" required data-testid="stats-from"></label>
<label>Bis <input type="date" name="to" value="{to}" required data-testid="stats-to"></label>
<button type="submit">Anzeigen</button>
<span class="exports">Export: <a href="/api/v1/stats?{q}&amp;granularity=day&amp;format=csv&amp;sep=semicolon">CSV (Excel)</a><a href="/api/v1/stats?{q}&amp;granularity=hour&amp;format=csv&amp;sep=semicolon">CSV stündlich</a><a href="/api/v1/stats?{q}&amp;granularity=day">JSON</a></span>
</form>
<section class="card" data-testid="stats-summary"><h2>Überblick</h2>
<table class="sum"><thead><tr><th>Anliegen</th><th>Ankünfte</th><th>Beraten</th><th>Wartezeit Median</th><th>90 %</th><th>längste</th><th>Beratung Median</th><th>nicht erschienen</th><th>storniert</th><th>weitergeleitet</th><th>ohne Ausdruck</th></tr></thead>
<tbody>{table}</tbody></table>
<ul class="dims"><li><strong>Identifikation:</strong></li>{ident}</ul>
<ul class="dims"><li><strong>Aufrufe je Schalter:</strong></li>{counters}</ul>
<p>Weitergabe an das Fachverfahren: {delivery}</p>
</section>
<section class="card" data-testid="stats-chart-visits"><h2>Besuche pro Tag nach Anliegen</h2>{visits}</section>
<section class="card" data-testid="stats-chart-waiting"><h2>Wartezeiten</h2>{waiting}</section>
<section class="card" data-testid="stats-chart-heatmap"><h2>Stoßzeiten (Ankünfte nach Wochentag und Uhrzeit)</h2>{heat}</section>
<section class="card" data-testid="stats-chart-languages"><h2>Sprachen</h2>{langs}</section>
<p>Alle Zahlen sind Summen ohne personenbezogene Daten; Zeiten in Europe/Berlin, jede Zahl zählt zur Stunde der Ankunft.</p>
</main>
</body>
</html>
"#,
        site = esc(site_name),
        wf = weekday(range.from),
        wt = weekday(range.to),
        fd = range.from.format("%d.%m.%Y"),
        td = range.to.format("%d.%m.%Y"),
        ident = dims
            .get("identification")
            .map(|v| v.join(""))
            .unwrap_or_default(),
        counters = dims.get("counter").map(|v| v.join("")).unwrap_or_default(),
        visits = visits(data, service_name),
        waiting = waiting(data),
        heat = heatmap(data),
        langs = languages(data),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(7, 5), 2);
        assert_eq!(nice_step(100, 5), 20);
        assert_eq!(nice_step(0, 5), 1);
        assert_eq!(nice_step(1234, 5), 500);
    }

    #[test]
    fn labels_are_escaped_and_rtl_names_isolated() {
        let d = ChartData {
            languages: vec![("ar".into(), 3), ("de".into(), 1)],
            ..ChartData::default()
        };
        let svg = languages(&d);
        assert!(svg.contains("direction:rtl;unicode-bidi:isolate"));
        assert!(svg.contains("Arabisch"));
        let d2 = ChartData {
            services: vec!["<x>".into()],
            days: vec![(
                chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
                [("<x>".to_string(), 2u64)].into_iter().collect(),
            )],
            ..ChartData::default()
        };
        let svg = visits(&d2, &|s| s.to_string());
        assert!(svg.contains("&lt;x&gt;") && !svg.contains("<x>"));
        assert!(chart("nope", &d2, &|s| s.to_string()).is_none());
        assert!(heatmap(&ChartData::default()).starts_with("<svg"));
    }
}
