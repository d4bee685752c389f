//! Reports to the server's operator: a signed-in person reports a person or a room (the
//! operator reads them with the admin API, `GET /api/admin/reports`).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use podium_accounts::NewReport;
use serde::Deserialize;
use serde_json::{json, Value};

use super::handlers::success;
use super::{refusal, session};
use crate::policy::Refusal;
use crate::state::{unix_now, AppState};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct File {
    kind: String,
    target: String,
    #[serde(default)]
    target_name: String,
    #[serde(default)]
    room_id: Option<String>,
    reason: String,
    #[serde(default)]
    details: String,
}

/// `POST /api/reports`: `{kind: "user"|"room", target, targetName?, roomId?, reason, details?}`.
pub(super) async fn file(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<File>,
) -> Result<Json<Value>, Refusal> {
    let me = session::for_change(&state, &headers)?;
    let new = NewReport {
        kind: body.kind,
        target: body.target,
        target_name: body.target_name,
        room_id: body.room_id,
        reason: body.reason,
        details: body.details,
    };
    let filed = state
        .accounts
        .reports
        .report(me.id(), new, unix_now())
        .map_err(refusal)?;
    tracing::info!(report = filed.id, kind = %filed.kind, "report filed");
    Ok(success(json!({ "report": { "id": filed.id } })))
}
