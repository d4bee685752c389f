//! WHIP/WHEP session resources (the `Location` of a `201 Created`): the table of live ones,
//! the task that follows each session's media, and `DELETE` / `PATCH` on them.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use podium_media::{MediaEvent, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::{content_type_is, read_text, Failure};
use crate::policy::connections::Permit;
use crate::policy::sessions::{EndReason, MediaState};
use crate::state::AppState;

/// The media type of trickle ICE fragments (RFC 8840).
pub(super) const TRICKLE: &str = "application/trickle-ice-sdpfrag";

/// Largest trickle ICE fragment taken (a few candidates are a few hundred bytes).
const MAX_FRAGMENT: usize = 16 * 1024;

/// One live session resource.
pub(super) struct Resource {
    /// Its path without the `/api` prefix (`/whip/STREAM/ID`): the resource answers under
    /// both, and only under its own kind and stream.
    path: String,
    peer: PeerId,
    etag: String,
    /// The client's ICE username fragment, from its offer: another one in a PATCH is an ICE
    /// restart.
    ufrag: Option<String>,
    /// Dropped with the resource: its follower then ends the session.
    _deleted: oneshot::Sender<()>,
}

impl Resource {
    /// A resource at `location` (either form), for `peer`; the receiver of the returned
    /// pair fires when it is deleted.
    pub(super) fn new(
        location: &str,
        peer: PeerId,
        etag: &str,
        ufrag: Option<String>,
    ) -> (Self, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let resource = Self {
            path: canonical(location).to_owned(),
            peer,
            etag: etag.to_owned(),
            ufrag,
            _deleted: tx,
        };
        (resource, rx)
    }
}

/// The live WHIP and WHEP sessions, by resource id. Bounded: each holds a place in its
/// client's connection cap (`--max-connections-per-ip`, `--max-connections`), and leaves the
/// table when its media peer closes.
#[derive(Default)]
pub struct Resources {
    live: Mutex<HashMap<String, Resource>>,
}

impl Resources {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Resource>> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a resource; returns the receiver that fires when it is deleted.
    pub(super) fn insert(
        &self,
        id: &str,
        (resource, deleted): (Resource, oneshot::Receiver<()>),
    ) -> oneshot::Receiver<()> {
        self.lock().insert(id.to_owned(), resource);
        deleted
    }

    /// Takes resource `id` out if `path` names it.
    fn take(&self, id: &str, path: &str) -> Option<Resource> {
        let mut live = self.lock();
        if live.get(id)?.path != canonical(path) {
            return None;
        }
        live.remove(id)
    }

    /// The entity tag and the client's ICE ufrag of resource `id`, if `path` names it.
    fn ice(&self, id: &str, path: &str) -> Option<(String, Option<String>)> {
        let live = self.lock();
        let r = live.get(id).filter(|r| r.path == canonical(path))?;
        Some((r.etag.clone(), r.ufrag.clone()))
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// `/api/whip/…` and `/whip/…` name the same resource.
fn canonical(path: &str) -> &str {
    match path.strip_prefix("/api") {
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// What the follower of one session holds.
pub(super) struct Follow {
    /// The resource id.
    pub id: String,
    /// The id in the session registry.
    pub session: u64,
    /// The media peer.
    pub peer: PeerId,
    /// The peer's media events.
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
    /// Fires when a kick or revocation ends the session.
    pub ended: oneshot::Receiver<EndReason>,
    /// Fires when the resource is deleted.
    pub deleted: oneshot::Receiver<()>,
    /// The session's place in the connection caps.
    pub _permit: Permit,
}

/// Follows a session until its peer closes, the resource is deleted, the server ends it
/// (kick, revocation) or shuts down; then closes the peer and forgets the resource and the
/// session. Events other than `Connected` and `PeerClosed` have no channel and are dropped
/// as they come, so nothing piles up.
pub(super) async fn follow(state: AppState, mut f: Follow) {
    let mut shutdown = state.shutdown.clone();
    let mut peer_open = true;
    loop {
        tokio::select! {
            biased;
            _ = &mut f.ended => break,
            _ = &mut f.deleted => break,
            _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => break,
            event = f.events.recv() => match event {
                Some(MediaEvent::Connected { .. }) => {
                    state.sessions.set_media(f.session, MediaState::Connected);
                }
                Some(MediaEvent::PeerClosed { reason, .. }) => {
                    tracing::debug!(?reason, peer = %f.peer, "WHIP/WHEP peer closed");
                    peer_open = false;
                    break;
                }
                Some(_) => {}
                None => {
                    peer_open = false;
                    break;
                }
            },
        }
    }
    if peer_open {
        state.media.close(f.peer);
    }
    state.whip.remove(&f.id);
    state.sessions.remove(f.session);
}

/// `DELETE` on a session: ends it (its viewers get `inactive`, or the viewer leaves) → 200.
pub(super) async fn delete(
    State(state): State<AppState>,
    Path((_stream, id)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    match state.whip.take(&id, uri.path()) {
        Some(resource) => {
            // At once, rather than when the follower wakes: the publication is over when the
            // client reads the 200.
            state.media.close(resource.peer);
            StatusCode::OK.into_response()
        }
        None => unknown().into_response(),
    }
}

fn unknown() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "No such session: it ended or never existed",
    )
}

/// `PATCH` on a session with a trickle ICE fragment (RFC 9725 §4.3). Podium's ICE-lite agent
/// learns the client's addresses from its connectivity checks, so candidates are accepted and
/// dropped (204, "silently discard", §4.3.2). ICE restarts are not supported: a fragment with
/// another ufrag is refused with 422 (§4.3.1) and the session keeps its ICE session.
/// Conditional requests as §4.3.1 asks: no `If-Match` → 428, another entity tag → 412.
pub(super) async fn patch(
    State(state): State<AppState>,
    Path((_stream, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let (etag, ufrag) = state.whip.ice(&id, uri.path()).ok_or_else(unknown)?;
        if !content_type_is(&headers, TRICKLE) {
            return Err(Failure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type must be {TRICKLE}"),
            ));
        }
        let text = read_text(body, MAX_FRAGMENT, "SDP fragment").await?;
        let fragment =
            parse_fragment(&text).map_err(|m| Failure::new(StatusCode::BAD_REQUEST, m))?;
        check_if_match(&headers, &etag)?;
        if let Some(theirs) = &ufrag {
            if fragment.ufrags.iter().any(|u| u != theirs) {
                return Err(Failure::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "ICE restarts are not supported; the session keeps its ICE session \
                     (DELETE it and POST a new offer to reconnect)",
                ));
            }
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// RFC 9110 §13.1.1 strong comparison against the session's entity tag; `*` matches.
fn check_if_match(headers: &HeaderMap, etag: &str) -> Result<(), Failure> {
    let mut values = headers
        .get_all(header::IF_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .peekable();
    if values.peek().is_none() {
        return Err(Failure::new(
            StatusCode::PRECONDITION_REQUIRED,
            "PATCH needs If-Match with the session's ETag",
        ));
    }
    let matches = values
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag);
    if matches {
        Ok(())
    } else {
        Err(Failure::new(
            StatusCode::PRECONDITION_FAILED,
            "If-Match does not match the session's ETag",
        ))
    }
}

/// What Podium reads of a trickle ICE fragment.
#[derive(Debug, Default, PartialEq, Eq)]
struct Fragment {
    /// Every `a=ice-ufrag` in it.
    ufrags: Vec<String>,
}

/// Parses an SDP fragment: lines of `<letter>=<value>`, at least one.
fn parse_fragment(text: &str) -> Result<Fragment, String> {
    let mut fragment = Fragment::default();
    let mut lines = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let b = line.as_bytes();
        if b.len() < 2 || !b[0].is_ascii_lowercase() || b[1] != b'=' {
            return Err(format!(
                "Malformed SDP fragment: line {} is not <type>=<value>",
                n + 1
            ));
        }
        if let Some(ufrag) = line.strip_prefix("a=ice-ufrag:") {
            fragment.ufrags.push(ufrag.trim().to_owned());
        }
        lines += 1;
    }
    if lines == 0 {
        return Err("Empty SDP fragment".into());
    }
    Ok(fragment)
}

/// The client's ICE username fragment in an SDP offer (the first; bundled m-lines share it).
pub(super) fn ice_ufrag(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
        .map(|u| u.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn fragments_are_lines_of_type_and_value() {
        let f = parse_fragment(
            "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uY\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
             a=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host\r\na=end-of-candidates\r\n",
        )
        .unwrap();
        assert_eq!(f.ufrags, vec!["EsAw".to_owned()]);
        assert!(parse_fragment("").is_err());
        assert!(parse_fragment("\r\n\r\n").is_err());
        let err = parse_fragment("a=mid:0\nnot sdp at all").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(parse_fragment("A=x").is_err());
    }

    #[test]
    fn if_match_needs_the_strong_tag_or_a_star() {
        let etag = "\"abc\"";
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_MATCH, HeaderValue::from_static(v));
            h
        };
        let status = |r: Result<(), Failure>| r.err().map(|f| f.0);
        assert_eq!(
            status(check_if_match(&HeaderMap::new(), etag)),
            Some(StatusCode::PRECONDITION_REQUIRED)
        );
        assert_eq!(status(check_if_match(&with("\"abc\""), etag)), None);
        assert_eq!(status(check_if_match(&with("\"x\", \"abc\""), etag)), None);
        assert_eq!(status(check_if_match(&with("*"), etag)), None);
        assert_eq!(
            status(check_if_match(&with("W/\"abc\""), etag)),
            Some(StatusCode::PRECONDITION_FAILED)
        );
    }

    #[test]
    fn resources_answer_under_both_paths_of_their_own_kind_and_stream() {
        let table = Resources::default();
        let deleted = table.insert(
            "id1",
            Resource::new("/api/whip/s/id1", PeerId(1), "\"e\"", None),
        );
        assert!(table.ice("id1", "/whip/s/id1").is_some());
        assert!(table.ice("id1", "/whep/s/id1").is_none());
        assert!(table.take("id1", "/whip/other/id1").is_none());
        assert!(table.take("id1", "/api/whip/s/id1").is_some());
        assert!(table.is_empty());
        drop(deleted);
        assert_eq!(canonical("/apiwhip/x"), "/apiwhip/x");
    }
}
