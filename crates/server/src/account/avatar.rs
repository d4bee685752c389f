//! Avatars: an uploaded image is checked (its bytes must be the PNG, JPEG, WebP or GIF its
//! type says, at most 2 MiB and 4096 × 4096), cropped to a square, resized to 256 × 256 and
//! stored as a JPEG; what is served is only ever that re-encoded image.

use std::io::Cursor;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use image::{ImageFormat, ImageReader, Limits};
use serde_json::{json, Value};

use super::handlers::success;
use super::{refusal, session};
use crate::policy::Refusal;
use crate::state::AppState;

/// Largest upload.
pub const MAX_UPLOAD: usize = 2 * 1024 * 1024;
/// Side of the stored square.
const SIDE: u32 = 256;
/// Largest width or height decoded (a small file can claim a huge canvas).
const MAX_SIDE: u32 = 4096;

/// The formats accepted, by their media type.
fn format_of(content_type: &str) -> Option<ImageFormat> {
    match content_type.split(';').next()?.trim() {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/webp" => Some(ImageFormat::WebP),
        "image/gif" => Some(ImageFormat::Gif),
        _ => None,
    }
}

/// The stored JPEG of an upload, or why it is refused.
pub(crate) fn process(bytes: &[u8], claimed: ImageFormat) -> Result<Vec<u8>, Refusal> {
    let unsupported = || {
        Refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "That file is not a PNG, JPEG, WebP or GIF image".into(),
        )
    };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| unsupported())?;
    if reader.format() != Some(claimed) {
        return Err(unsupported());
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(80 * 1024 * 1024);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Images up to {MAX_SIDE} × {MAX_SIDE} pixels"),
        ),
        _ => Refusal(
            StatusCode::BAD_REQUEST,
            "That image could not be read (damaged or incomplete?)".into(),
        ),
    })?;
    let square = image.resize_to_fill(SIDE, SIDE, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&square.to_rgb8())
        .map_err(|_| Refusal(StatusCode::INTERNAL_SERVER_ERROR, "Image not stored".into()))?;
    Ok(out)
}

pub(super) async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Refusal> {
    let signed = session::for_change(&state, &headers)?;
    let body = body.map_err(|_| {
        Refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Images up to {} MiB", MAX_UPLOAD / (1024 * 1024)),
        )
    })?;
    let claimed = headers
        .get(CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .and_then(format_of)
        .ok_or_else(|| {
            Refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send a PNG, JPEG, WebP or GIF image (Content-Type image/…)".into(),
            )
        })?;
    // Decoding and resizing take CPU and memory: bounded, off the async workers.
    let jpeg = super::heavy(&state, "Image", move || process(&body, claimed)).await?;
    let version = state
        .accounts
        .store
        .set_avatar(signed.id(), Some((jpeg, "image/jpeg".into())))
        .map_err(refusal)?;
    Ok(success(json!({ "avatarVersion": version })))
}

pub(super) async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let signed = session::for_change(&state, &headers)?;
    state
        .accounts
        .store
        .set_avatar(signed.id(), None)
        .map_err(refusal)?;
    Ok(success(json!({ "avatarVersion": 0 })))
}

pub(super) async fn serve(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let avatar = state
        .accounts
        .store
        .avatar(&id)
        .map_err(refusal)?
        .ok_or_else(|| Refusal(StatusCode::NOT_FOUND, "No avatar".into()))?;
    Ok((
        [
            (CONTENT_TYPE, avatar.content_type),
            // Pages ask for `?v=<version>`: a new avatar is a new URL.
            (CACHE_CONTROL, "public, max-age=86400".to_owned()),
        ],
        avatar.bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 90]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn images_are_squared_and_re_encoded_and_lies_are_refused() {
        let jpeg = process(&png(640, 480), ImageFormat::Png).unwrap();
        let stored = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((stored.width(), stored.height()), (SIDE, SIDE));
        assert_eq!(image::guess_format(&jpeg).unwrap(), ImageFormat::Jpeg);
        let refused = |bytes: &[u8], format| process(bytes, format).unwrap_err().0;
        assert_eq!(
            refused(&png(8, 8), ImageFormat::Jpeg),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the type must match the bytes"
        );
        assert_eq!(
            refused(b"<script>alert(1)</script>", ImageFormat::Png),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let mut cut = png(64, 64);
        cut.truncate(cut.len() / 2);
        assert_eq!(refused(&cut, ImageFormat::Png), StatusCode::BAD_REQUEST);
        assert_eq!(
            refused(&png(MAX_SIDE + 1, 2), ImageFormat::Png),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(format_of("image/png; charset=x"), Some(ImageFormat::Png));
        assert_eq!(format_of("text/html"), None);
    }
}
