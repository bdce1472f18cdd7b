//! The page's static files from `[https] assets` (the built `web-terminal/dist`): `/` is
//! `index.html`, other paths map to files inside that directory only — no `..`, no hidden
//! files, no symlinks out. Without `assets` the root says where the API is. A path under
//! `/api/` that reaches here (`/api/v1/` with its trailing slash, another version) is no
//! page: it gets the API's JSON 404.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The fallback of every path outside `/api/v1`.
pub async fn serve(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        let mut resp = super::error::no_such_endpoint().await.into_response();
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        return resp;
    }
    let Some(dir) = state.https.assets.as_ref() else {
        if path == "/" {
            return (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "menwei: no page is configured ([https] assets); the API is at /api/v1 (see /api/v1/openapi.json)\n",
            )
                .into_response();
        }
        return StatusCode::NOT_FOUND.into_response();
    };
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let safe = rel.split('/').all(|seg| {
        !seg.is_empty()
            && !seg.starts_with('.')
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    });
    if !safe {
        return StatusCode::NOT_FOUND.into_response();
    }
    let file = dir.join(rel);
    let inside = match (
        tokio::fs::canonicalize(&file).await,
        tokio::fs::canonicalize(dir).await,
    ) {
        (Ok(f), Ok(d)) => f.starts_with(d),
        _ => false,
    };
    if !inside {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(&file).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(rel))], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
