//! A refusal: an HTTP status and a message for the client, in the Millicast shape
//! `{status:"fail",data:{message}}`. Policy decides refusals; handlers only return them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use podium_proto::director::{DirectorReply, FailData};

/// Why a request was refused, and the status that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub StatusCode, pub String);

impl Refusal {
    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self(StatusCode::BAD_REQUEST, message.into())
    }

    /// 401 with `message`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self(StatusCode::UNAUTHORIZED, message.into())
    }

    /// 403 with `message`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self(StatusCode::FORBIDDEN, message.into())
    }

    /// 429 with `message`.
    pub fn too_many(message: impl Into<String>) -> Self {
        Self(StatusCode::TOO_MANY_REQUESTS, message.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = DirectorReply::Fail(FailData { message: self.1 });
        (self.0, Json(body)).into_response()
    }
}
