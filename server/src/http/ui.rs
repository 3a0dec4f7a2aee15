//! The kiosk, display and desk screens: static files from `kiosk-ui/`, embedded in
//! the binary so an appliance update is one file.

use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

use crate::assets;

fn serve(path: &str) -> Response {
    match assets::file(path) {
        Some((data, mime)) => {
            let cache = if path.starts_with("fonts/") || path.starts_with("sounds/") {
                "public, max-age=86400"
            } else {
                "no-cache"
            };
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, cache.to_string()),
                ],
                data,
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

pub async fn kiosk() -> Response {
    serve("kiosk.html")
}

pub async fn display() -> Response {
    serve("display.html")
}

pub async fn desk() -> Response {
    serve("desk.html")
}

pub async fn admin() -> Response {
    serve("admin.html")
}

pub async fn index() -> Html<&'static str> {
    Html(
        "<!doctype html><html lang=\"de\"><meta charset=\"utf-8\"><title>Lotse</title>\
         <h1>Lotse</h1><ul><li><a href=\"/kiosk\">Kiosk</a></li>\
         <li><a href=\"/display\">Aufrufanzeige / Display</a></li>\
         <li><a href=\"/desk\">Empfang / Desk</a></li>\
         <li><a href=\"/admin\">Verwaltung / Admin</a></li>\
         <li><a href=\"/admin/stats\">Statistik</a></li></ul></html>",
    )
}

/// Any other path: a file of `kiosk-ui/`, or 404.
pub async fn asset(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.contains("..") {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    serve(path)
}
