//! The web app and client library, embedded in the binary from `web/`.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "../../web/"]
#[include = "*.html"]
#[include = "*.js"]
#[include = "*.css"]
#[include = "*.svg"]
#[exclude = "e2e/*"]
#[exclude = "node_modules/*"]
#[exclude = "*/*"]
struct Assets;

/// `GET /`.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    serve(&file)
}

fn serve(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            (
                [
                    (header::CONTENT_TYPE, mime.as_ref().to_owned()),
                    (header::CACHE_CONTROL, "no-cache".to_owned()),
                ],
                file.data,
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}
