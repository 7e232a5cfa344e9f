//! Static files served at `/` (the demo web client): from a directory or compiled in.

use crate::state::AppState;
use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use std::path::PathBuf;

/// One compiled-in file: URL path (`/index.html`), MIME type, bytes.
pub type EmbeddedFile = (&'static str, &'static str, &'static [u8]);

#[derive(Debug, Clone, Default)]
pub enum WebAssets {
    #[default]
    None,
    /// Files read from a directory at request time (development).
    Dir(PathBuf),
    /// Files compiled into the binary; `/` serves `/index.html`.
    Embedded(&'static [EmbeddedFile]),
}

impl WebAssets {
    pub(crate) fn mount(&self, router: Router<AppState>) -> Router<AppState> {
        match self {
            Self::None => router,
            Self::Dir(dir) => {
                let dir = dir.clone();
                router
                    .route(
                        "/",
                        axum::routing::get(move |uri: Uri| serve_dir(dir.clone(), uri)),
                    )
                    .route(
                        "/static/{*path}",
                        axum::routing::get({
                            let dir = self.clone();
                            move |uri: Uri| {
                                let dir = dir.clone();
                                async move {
                                    if let WebAssets::Dir(d) = dir {
                                        serve_dir(d, uri).await
                                    } else {
                                        StatusCode::NOT_FOUND.into_response()
                                    }
                                }
                            }
                        }),
                    )
            }
            Self::Embedded(files) => {
                let files: &'static [EmbeddedFile] = files;
                let handler = move |uri: Uri| async move { serve_embedded(files, &uri) };
                router
                    .route("/", axum::routing::get(handler))
                    .route("/static/{*path}", axum::routing::get(handler))
            }
        }
    }
}

fn wanted(uri: &Uri) -> &str {
    match uri.path() {
        "/" => "/index.html",
        path => path.strip_prefix("/static").unwrap_or(path),
    }
}

fn serve_embedded(files: &'static [EmbeddedFile], uri: &Uri) -> Response {
    let path = wanted(uri);
    match files.iter().find(|(name, _, _)| *name == path) {
        Some((_, mime, bytes)) => ([(header::CONTENT_TYPE, *mime)], *bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn mime_of(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

async fn serve_dir(dir: PathBuf, uri: Uri) -> Response {
    let path = wanted(&uri).trim_start_matches('/').to_owned();
    // Only plain relative names: no `..`, no absolute paths.
    if path
        .split('/')
        .any(|part| part.is_empty() || part == ".." || part.starts_with('.'))
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    match tokio::fs::read(dir.join(&path)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, mime_of(&path))], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
