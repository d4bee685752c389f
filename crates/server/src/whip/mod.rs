//! WHIP (RFC 9725) publishing and WHEP playback over plain HTTP.
//!
//! * `POST /whip/STREAM` (or `/api/whip/STREAM`), `Authorization: Bearer` publish API token,
//!   `Content-Type: application/sdp`, body = the offer → `201 Created` with the answer, the
//!   session's `Location` and `ETag`. Query: `sourceId` (none = the main source), `priority`
//!   (redundant ingest), `record=true` (when the token allows recording).
//! * `POST /whep/STREAM` (or `/api/whep/STREAM`): a viewer of the pinned source (query
//!   `pinnedSourceId`, none = the main source); a subscribe API token when the stream is private.
//! * The session resource (`Location`): `DELETE` ends it, `PATCH` takes trickle ICE fragments
//!   (ignored: Podium is ICE-lite and learns the client's addresses from its checks) and
//!   refuses ICE restarts with 422, `OPTIONS` and CORS everywhere.
//!
//! A session goes through the same policy as a signaling connection: the Director's checks of
//! the API token ([`crate::policy::access`]), a place in the connection caps of its client
//! ([`crate::policy::connections`], it holds no TCP connection of its own), the session
//! registry ([`crate::policy::sessions`]: kick, revocation, pending caps), then the media
//! workers' publish or view. Its media events have no channel to go to and are dropped; the
//! resource goes when its peer closes (DELETE, ICE consent lost, kick, revocation, shutdown).

mod resource;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use podium_auth::TokenType;
use podium_media::{MediaError, PublishParams, ViewParams};
use tokio::sync::mpsc;
use tower_http::cors::{Any, CorsLayer};

use crate::director::{requester, validate_stream_name};
use crate::policy::access::Requester;
use crate::policy::connections::Refused;
use crate::policy::sessions::{MediaState, SessionInfo, Sessions, NO_JWT};
use crate::policy::Refusal;
use crate::state::AppState;

pub use resource::Resources;

/// Largest SDP offer taken (the media core refuses larger ones anyway).
const MAX_OFFER: usize = 64 * 1024;

/// `Accept-Patch` (not among `http`'s constants).
const ACCEPT_PATCH: HeaderName = HeaderName::from_static("accept-patch");
/// `Accept-Post` (W3C LDP; RFC 9725 asks for it on OPTIONS).
const ACCEPT_POST: HeaderName = HeaderName::from_static("accept-post");

/// The WHIP and WHEP routes, with their CORS.
pub fn routes() -> Router<AppState> {
    let endpoints = Router::new()
        .route("/whip/{stream}", post(whip))
        .route("/api/whip/{stream}", post(whip))
        .route("/whep/{stream}", post(whep))
        .route("/api/whep/{stream}", post(whep))
        .layer(cors())
        .layer(axum::middleware::from_fn(endpoint_options));
    let sessions = Router::new()
        .route(
            "/whip/{stream}/{id}",
            axum::routing::patch(resource::patch).delete(resource::delete),
        )
        .route(
            "/api/whip/{stream}/{id}",
            axum::routing::patch(resource::patch).delete(resource::delete),
        )
        .route(
            "/whep/{stream}/{id}",
            axum::routing::patch(resource::patch).delete(resource::delete),
        )
        .route(
            "/api/whep/{stream}/{id}",
            axum::routing::patch(resource::patch).delete(resource::delete),
        )
        .layer(cors())
        .layer(axum::middleware::from_fn(session_options));
    endpoints.merge(sessions)
}

/// Browser WHIP/WHEP clients live on other origins: they send `Authorization`,
/// `Content-Type` and `If-Match`, and must read `Location`, `ETag` and `Link`. Every
/// `OPTIONS` is answered here (preflight or not).
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
        ])
        .expose_headers([header::LOCATION, header::ETAG, header::LINK, ACCEPT_PATCH])
        .max_age(std::time::Duration::from_secs(600))
}

/// `OPTIONS` on an endpoint says what it takes (`Accept-Post`, as RFC 9725 asks).
async fn endpoint_options(req: Request, next: Next) -> Response {
    with_options_headers(req, next, ACCEPT_POST, "application/sdp", "OPTIONS, POST").await
}

/// `OPTIONS` on a session says what `PATCH` takes (RFC 5789 §3.1: `Accept-Patch`).
async fn session_options(req: Request, next: Next) -> Response {
    let allow = "OPTIONS, PATCH, DELETE";
    with_options_headers(req, next, ACCEPT_PATCH, resource::TRICKLE, allow).await
}

async fn with_options_headers(
    req: Request,
    next: Next,
    name: HeaderName,
    accepts: &'static str,
    allow: &'static str,
) -> Response {
    let options = req.method() == Method::OPTIONS;
    let mut resp = next.run(req).await;
    if options {
        let headers = resp.headers_mut();
        headers.insert(name, HeaderValue::from_static(accepts));
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    resp
}

/// A refusal as WHIP and WHEP clients read it: the status and a line of plain text (OBS and
/// ffmpeg log the body; curl shows it).
#[derive(Debug)]
pub(crate) struct Failure(pub StatusCode, pub String);

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Self(r.0, r.1)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut resp = (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.1),
        )
            .into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: the scheme the client should use.
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"podium\""),
            );
        }
        resp
    }
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(status, message.into())
    }
}

/// What a POST asks the media core for.
enum Media {
    Publish {
        source: Option<String>,
        priority: Option<i32>,
        record: bool,
    },
    View {
        pinned: Option<String>,
    },
}

/// `POST /whip/STREAM`: publish.
async fn whip(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(stream): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let who = requester(&state, &headers, peer);
    let opened = async {
        let query = admitted(&state, &who, &stream, query)?;
        let source = query.get("sourceId").filter(|s| !s.is_empty()).cloned();
        let auth = state
            .access
            .authorize_publish_source(&who, &stream, source.as_deref())?;
        let priority = priority(&query)?;
        let record = record_wanted(&query, auth.record)?;
        let offer = read_offer(&headers, body).await?;
        let open = Open {
            role: TokenType::Publish,
            stream,
            token_id: auth.token_id,
            media: Media::Publish {
                source,
                priority,
                record,
            },
            offer,
        };
        open_session(&state, who.ip, uri.path(), open).await
    };
    opened.await.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /whep/STREAM`: view.
async fn whep(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(stream): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let who = requester(&state, &headers, peer);
    let opened = async {
        let query = admitted(&state, &who, &stream, query)?;
        let pinned = query
            .get("pinnedSourceId")
            .filter(|s| !s.is_empty())
            .cloned();
        if let Some(s) = &pinned {
            crate::policy::access::validate_source_id(s).map_err(Refusal::bad_request)?;
        }
        let auth = state.access.authorize_view(&who, &stream)?;
        let offer = read_offer(&headers, body).await?;
        let open = Open {
            role: TokenType::Subscribe,
            stream,
            token_id: auth.token_id,
            media: Media::View { pinned },
            offer,
        };
        open_session(&state, who.ip, uri.path(), open).await
    };
    opened.await.unwrap_or_else(IntoResponse::into_response)
}

/// What both POSTs check first: the address's request rate, the stream name, the query.
fn admitted(
    state: &AppState,
    who: &Requester<'_>,
    stream: &str,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, Failure> {
    state.access.check_ip_rate(who.ip, who.at)?;
    validate_stream_name(stream)?;
    query_params(query)
}

fn query_params(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, Failure> {
    query.map(|Query(q)| q).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            format!("Invalid query: {}", e.body_text()),
        )
    })
}

/// `priority` (redundant ingest): a 32-bit integer, as in Millicast's `publish`.
fn priority(query: &HashMap<String, String>) -> Result<Option<i32>, Failure> {
    query
        .get("priority")
        .map(|p| {
            p.trim().parse::<i32>().map_err(|_| {
                Failure::new(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid priority {p:?}: use an integer"),
                )
            })
        })
        .transpose()
}

/// `record=true`: record the publication, if the API token allows it (a publisher that asks
/// is told when it may not, rather than silently getting less).
fn record_wanted(query: &HashMap<String, String>, allowed: bool) -> Result<bool, Failure> {
    let wanted = match query
        .get("record")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(_) => {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "Invalid record: use true or false",
            ))
        }
    };
    if wanted && !allowed {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "Token does not allow recording",
        ));
    }
    Ok(wanted)
}

/// Whether the request's `Content-Type` is `media_type` (parameters and case aside).
pub(crate) fn content_type_is(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(media_type))
}

/// Reads a body of at most `limit` bytes of UTF-8 text.
pub(crate) async fn read_text(body: Body, limit: usize, what: &str) -> Result<String, Failure> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{what} too large (at most {} KiB)", limit / 1024),
        )
    })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, format!("{what} is not UTF-8 text")))
}

async fn read_offer(headers: &HeaderMap, body: Body) -> Result<String, Failure> {
    if !content_type_is(headers, "application/sdp") {
        return Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/sdp (the body is the SDP offer)",
        ));
    }
    let offer = read_text(body, MAX_OFFER, "SDP offer").await?;
    if offer.trim().is_empty() {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "Empty body: send the SDP offer",
        ));
    }
    Ok(offer)
}

/// An authorised request to open a session.
struct Open {
    role: TokenType,
    stream: String,
    token_id: Option<String>,
    media: Media,
    offer: String,
}

/// A registered session that is forgotten if the request goes no further (refused, or the
/// client hung up while the media core answered).
struct Registration {
    sessions: Arc<Sessions>,
    id: u64,
    kept: bool,
}

impl Registration {
    fn keep(mut self) -> u64 {
        self.kept = true;
        self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.kept {
            self.sessions.remove(self.id);
        }
    }
}

/// Admits, registers and opens a session; answers `201 Created` with its resource under
/// `endpoint` (the path the POST came to).
async fn open_session(
    state: &AppState,
    client_ip: IpAddr,
    endpoint: &str,
    open: Open,
) -> Result<Response, Failure> {
    // No TCP connection stays open for the session: it takes a connection's place instead.
    let permit = state.connections.admit(client_ip).map_err(|r| match r {
        Refused::PerClient => Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many connections and sessions from your address",
        ),
        Refused::Total => Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is full, try again later",
        ),
    })?;
    let Open {
        role,
        stream,
        token_id,
        media,
        offer,
    } = open;
    let (id, ended) = state.sessions.register(SessionInfo {
        stream: stream.clone(),
        role,
        source: None,
        peer: None,
        // No JWT: a fresh id (its own pending count), and nothing for a kick to ban (the API
        // token is not banned either, as with the Director).
        jti: format!("{}-{}", kind_of(role), random_hex(8)),
        jwt_exp: NO_JWT,
        token_id: token_id.clone(),
        client_ip,
        media: MediaState::None,
    });
    let registration = Registration {
        sessions: state.sessions.clone(),
        id,
        kept: false,
    };
    // A revocation between the checks and the registration would have found nothing to end.
    state
        .access
        .admit_session(role, &stream, token_id.as_deref())?;
    state
        .sessions
        .start_pending(id, state.pending_limits)
        .map_err(|m| Failure::new(StatusCode::TOO_MANY_REQUESTS, m))?;
    let ufrag = resource::ice_ufrag(&offer);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let mut record = false;
    let (reply, source) = match media {
        Media::Publish {
            source,
            priority,
            record: wants_recording,
        } => {
            record = wants_recording;
            crate::cluster::admit_publisher_here(state, &stream)
                .await
                .map_err(|m| Failure::new(StatusCode::CONFLICT, m))?;
            let params = PublishParams {
                stream: stream.clone(),
                source: source.clone(),
                offer,
                codec: None,
                priority,
            };
            (state.media.publish(params, events_tx).await, source)
        }
        Media::View { pinned } => {
            let params = ViewParams {
                stream: stream.clone(),
                pinned,
                offer,
                excluded: Vec::new(),
                max_slots: 0,
            };
            (state.media.view(params, events_tx).await, None)
        }
    };
    let accepted = reply
        .map_err(|_| Failure::new(StatusCode::SERVICE_UNAVAILABLE, "Server is shutting down"))?
        .map_err(media_failure)?;
    if record {
        // The publication stands whatever happens to its recording (logged, counted).
        let recording = state
            .recordings
            .record(
                &state.media,
                accepted.peer,
                &stream,
                source.as_deref(),
                None,
            )
            .await;
        if let Err(e) = recording {
            tracing::warn!(%stream, error = %e, "WHIP recording did not start");
        }
    }
    state.sessions.set_peer(id, accepted.peer, source);
    let resource_id = random_hex(16);
    let etag = format!("\"{}\"", random_hex(8));
    let location = format!("{endpoint}/{resource_id}");
    let deleted = state.whip.insert(
        &resource_id,
        resource::Resource::new(&location, accepted.peer, &etag, ufrag),
    );
    tracing::debug!(kind = kind_of(role), %stream, peer = %accepted.peer, "session opened");
    tokio::spawn(resource::follow(
        state.clone(),
        resource::Follow {
            id: resource_id,
            session: registration.keep(),
            peer: accepted.peer,
            events: events_rx,
            ended,
            deleted,
            _permit: permit,
        },
    ));
    Response::builder()
        .status(StatusCode::CREATED)
        .header(header::CONTENT_TYPE, "application/sdp")
        .header(header::LOCATION, location)
        .header(header::ETAG, etag)
        .body(Body::from(accepted.answer))
        .map_err(|_| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error"))
}

fn kind_of(role: TokenType) -> &'static str {
    match role {
        TokenType::Publish => "whip",
        TokenType::Subscribe => "whep",
    }
}

/// The media core's refusals as HTTP statuses (RFC 9725: an offer whose media cannot be
/// taken as a whole is refused with 406, never answered in part).
fn media_failure(e: MediaError) -> Failure {
    let status = match &e {
        MediaError::NoUsableMedia(_) | MediaError::UnsupportedCodec(_) => {
            StatusCode::NOT_ACCEPTABLE
        }
        MediaError::LimitReached(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    Failure::new(status, e.to_string())
}

/// `bytes` random bytes in hex: resource ids (128 bits: the URL is the session's key),
/// entity tags.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut buf);
    hex::encode(buf)
}
