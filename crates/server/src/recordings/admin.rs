//! The recordings part of the admin API (Bearer admin secret):
//!
//! * `GET    /api/admin/recordings` — every recording, newest first (`recording: true` while
//!   it is being written).
//! * `GET    /api/admin/recordings/{stream}/{file}` — download (`Content-Disposition:
//!   attachment`); a file being written can be downloaded as far as it is.
//! * `DELETE /api/admin/recordings/{stream}/{file}` — delete; `409` while it is being written
//!   (stop the recording first).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::files;
use crate::director::validate_stream_name;
use crate::policy::Refusal;
use crate::state::AppState;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/recordings", get(list))
        .route(
            "/api/admin/recordings/{stream}/{file}",
            get(download).delete(remove),
        )
}

async fn list(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Refusal> {
    crate::admin::authorize(&state, peer, &headers)?;
    let recordings = state.recordings.list();
    Ok(Json(
        json!({"status": "success", "data": {"recordings": recordings}}),
    ))
}

/// The path of `stream`/`file`, if both are names this server writes.
fn path_of(state: &AppState, stream: &str, file: &str) -> Result<std::path::PathBuf, Refusal> {
    validate_stream_name(stream)?;
    if !files::valid_file_name(file) {
        return Err(Refusal::bad_request("Invalid recording file name"));
    }
    Ok(state.recordings.root().join(stream).join(file))
}

fn not_found() -> Refusal {
    Refusal(StatusCode::NOT_FOUND, "No such recording".into())
}

async fn download(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((stream, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    crate::admin::authorize(&state, peer, &headers)?;
    let path = path_of(&state, &stream, &file)?;
    let f = tokio::fs::File::open(&path)
        .await
        .map_err(|_| not_found())?;
    let len = f.metadata().await.map(|m| m.len()).ok();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(f));
    let mut resp = (
        [
            (header::CONTENT_TYPE, files::media_type(&file).to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(len) = len.filter(|_| !state.recordings.is_active(&path)) {
        resp.headers_mut().insert(
            header::CONTENT_LENGTH,
            len.to_string().parse().expect("digits"),
        );
    }
    Ok(resp)
}

async fn remove(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((stream, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, Refusal> {
    crate::admin::authorize(&state, peer, &headers)?;
    let path = path_of(&state, &stream, &file)?;
    if state.recordings.is_active(&path) {
        return Err(Refusal(
            StatusCode::CONFLICT,
            "The recording is still being written: stop it first".into(),
        ));
    }
    match tokio::fs::remove_file(&path).await {
        Ok(()) => Ok(Json(
            json!({"status": "success", "data": {"deleted": file}}),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "deleting a recording failed");
            Err(Refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Deleting failed".into(),
            ))
        }
    }
}
