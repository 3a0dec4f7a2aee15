//! Statistics over HTTP (admin only): the report as JSON or CSV, the charts as SVG
//! and the `/admin/stats` page. The figures come from `crate::stats`.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Duration;
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{AppJson, AppPath, AppQuery, Result};
use crate::clock::service_day;
use crate::stats::export::{self, Separator};
use crate::stats::query::{self, StatsReport};
use crate::stats::{Granularity, Range, StatsError, charts};

#[derive(Debug, Deserialize, IntoParams)]
pub struct StatsParams {
    /// First Berlin day, `YYYY-MM-DD`.
    pub from: String,
    /// Last Berlin day (included), `YYYY-MM-DD`.
    pub to: String,
    /// `day` (default) or `hour`.
    pub granularity: Option<String>,
    /// `json` or `csv`; without it the `Accept` header decides (`text/csv`).
    pub format: Option<String>,
    /// CSV only: `comma` (default) or `semicolon` (with decimal commas, for German Excel).
    pub sep: Option<String>,
}

fn wants_csv(p: &StatsParams, headers: &HeaderMap) -> std::result::Result<bool, StatsError> {
    match p.format.as_deref() {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(StatsError::BadFormat(other.chars().take(20).collect())),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))),
    }
}

/// Aggregated figures for a date range; never names, birth dates or appointment
/// references (only counts and duration histograms are stored).
#[utoipa::path(get, path = "/api/v1/stats", tag = "admin", params(StatsParams),
    responses((status = 200, body = StatsReport, description = "JSON, or CSV (UTF-8 with BOM) with `format=csv` or `Accept: text/csv`"),
        (status = 400, body = super::error::Problem)))]
pub async fn report(
    State(st): State<AppState>,
    headers: HeaderMap,
    AppQuery(p): AppQuery<StatsParams>,
) -> Result<Response> {
    let g = Granularity::parse(p.granularity.as_deref().unwrap_or("day"))?;
    let range = Range::parse(&p.from, &p.to, g)?;
    let csv = wants_csv(&p, &headers)?;
    let sep = match p.sep.as_deref() {
        None => Separator::Comma,
        Some(s) => Separator::parse(s)
            .ok_or_else(|| StatsError::BadSeparator(s.chars().take(20).collect()))?,
    };
    let report = st
        .queue
        .db()
        .run(move |tx| query::report(tx.conn, range, g).map_err(StatsError::from))
        .await?;
    if !csv {
        return Ok(AppJson(report).into_response());
    }
    let name = format!(
        "attachment; filename=\"lotse-statistik-{}-{}-{}.csv\"",
        range.from,
        range.to,
        g.as_str()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        export::csv(&report, sep),
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RangeParams {
    /// First Berlin day, `YYYY-MM-DD` (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last Berlin day, `YYYY-MM-DD` (default: today).
    pub to: Option<String>,
}

fn page_range(st: &AppState, p: &RangeParams) -> std::result::Result<Range, StatsError> {
    let today = service_day(st.clock.now());
    let to = p.to.clone().unwrap_or_else(|| today.to_string());
    let from = match &p.from {
        Some(f) => f.clone(),
        None => {
            let end = Range::parse(&to, &to, Granularity::Day)?.to;
            (end - Duration::days(29)).to_string()
        }
    };
    Range::parse(&from, &to, Granularity::Day)
}

fn namer(st: &AppState) -> impl Fn(&str) -> String + use<> {
    let settings = st.settings.clone();
    move |id: &str| crate::printing::service_name(&settings, id, "de")
}

/// One chart of the stats page as SVG: `visits`, `waiting`, `heatmap`, `languages`.
#[utoipa::path(get, path = "/api/v1/stats/charts/{name}", tag = "admin",
    params(("name" = String, Path, description = "e.g. visits.svg"), RangeParams),
    responses((status = 200, content_type = "image/svg+xml", body = String),
        (status = 400, body = super::error::Problem), (status = 404, body = super::error::Problem)))]
pub async fn chart(
    State(st): State<AppState>,
    AppPath(name): AppPath<String>,
    AppQuery(p): AppQuery<RangeParams>,
) -> Result<Response> {
    let chart = name.strip_suffix(".svg").unwrap_or(&name).to_string();
    if !charts::CHARTS.contains(&chart.as_str()) {
        return Err(StatsError::UnknownChart(name.chars().take(40).collect()).into());
    }
    let range = page_range(&st, &p)?;
    let data = st
        .queue
        .db()
        .run(move |tx| query::chart_data(tx.conn, range).map_err(StatsError::from))
        .await?;
    let names = namer(&st);
    let svg = charts::chart(&chart, &data, &names).unwrap_or_default();
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        svg,
    )
        .into_response())
}

/// `/admin/stats`: the range form, a summary table and four charts, rendered here.
pub async fn page(
    State(st): State<AppState>,
    AppQuery(p): AppQuery<RangeParams>,
) -> Result<Response> {
    let range = page_range(&st, &p)?;
    let (report, data) = st
        .queue
        .db()
        .run(move |tx| {
            let r = query::report(tx.conn, range, Granularity::Day)?;
            let d = query::chart_data(tx.conn, range)?;
            Ok::<_, StatsError>((r, d))
        })
        .await?;
    let names = namer(&st);
    let settings = st.settings.clone();
    let counter = move |id: &str| {
        settings
            .counters
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| id.to_string(), |c| c.name.clone())
    };
    let html = charts::page(
        &st.settings.site_name,
        range,
        &report,
        &data,
        &names,
        &counter,
    );
    Ok(([(header::CACHE_CONTROL, "no-cache")], Html(html)).into_response())
}
