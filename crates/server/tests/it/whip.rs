//! WHIP publishing and WHEP playback over plain HTTP, with str0m peers on loopback UDP.

use std::time::Duration;

use reqwest::{header, Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::client::{
    admin, command, connect, create_token, server, server_with, wait_event, Peer, PeerReport, TOKEN,
};

/// One HTTP client (one keep-alive connection) against a server.
struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// POSTs an SDP offer to `path`.
    async fn post_sdp(&self, path: &str, bearer: Option<&str>, sdp: &str) -> Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/sdp")
            .body(sdp.to_owned());
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Status and body of a POST of `sdp` to `path`, and its `WWW-Authenticate`.
    async fn post(&self, path: &str, bearer: Option<&str>, sdp: &str) -> (u16, String, bool) {
        let resp = self.post_sdp(path, bearer, sdp).await;
        let challenge = resp.headers().contains_key(header::WWW_AUTHENTICATE);
        let (s, _, _, body) = parts(resp).await;
        (s.as_u16(), body, challenge)
    }

    /// A request to a session resource (or any path).
    async fn on(
        &self,
        method: Method,
        location: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, String, String, String) {
        let mut req = self
            .client
            .request(method, format!("{}{location}", self.base))
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        parts(req.send().await.unwrap()).await
    }

    async fn delete(&self, location: &str) -> StatusCode {
        self.on(Method::DELETE, location, &[], "").await.0
    }
}

/// Status, `Location`, `ETag` and body of a response.
async fn parts(resp: Response) -> (StatusCode, String, String, String) {
    let status = resp.status();
    let get = |name: header::HeaderName| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (location, etag) = (get(header::LOCATION), get(header::ETAG));
    (status, location, etag, resp.text().await.unwrap())
}

fn ufrag(sdp: &str) -> &str {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap()
        .trim()
}

async fn wait_connected(peer: &mut Peer) {
    while !matches!(peer.next_report().await, PeerReport::Connected) {}
}

/// Polls the admin API until `pred` holds for the live sessions (5 s at most).
async fn sessions_until(base: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..100 {
        let (_, b) = admin(base, Method::GET, "sessions", None).await;
        let list = b["data"]["sessions"].as_array().unwrap().clone();
        if pred(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("sessions never reached the expected state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whip_publication_reaches_millicast_and_whep_viewers_until_deleted() {
    let srv = server().await;
    let http = Http::new(&srv.base);
    let mut events = Vec::new();
    let mut view_ws = connect(&srv.base, false, "w").await;
    let ws_viewer = Peer::new(false).await;
    let r = command(
        &mut view_ws,
        0,
        "view",
        json!({"streamId":"w","sdp":ws_viewer.offer}),
        &mut events,
    )
    .await;
    assert_eq!(r["type"], "response", "{r}");

    let mut publisher = Peer::new(true).await;
    let resp = http
        .post_sdp("/whip/w", Some(TOKEN), &publisher.offer)
        .await;
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/sdp");
    let (status, location, etag, answer) = parts(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert!(location.starts_with("/whip/w/"), "{location}");
    assert!(
        location.len() >= "/whip/w/".len() + 32,
        "an unguessable id: {location}"
    );
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );
    assert!(answer.contains("a=ice-lite"), "{answer}");
    publisher.answer(&answer);

    let active = wait_event(&mut view_ws, "active", &mut events).await;
    assert_eq!(active["data"]["sourceId"], Value::Null, "{active}");
    assert_eq!(active["data"]["tracks"].as_array().unwrap().len(), 2);
    wait_connected(&mut publisher).await;

    // A WHEP viewer (on the Millicast-style path) receives the publication's media.
    let mut whep_viewer = Peer::new(false).await;
    let (status, whep_location, whep_etag, answer) =
        parts(http.post_sdp("/api/whep/w", None, &whep_viewer.offer).await).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert!(whep_location.starts_with("/api/whep/w/"), "{whep_location}");
    assert!(!whep_etag.is_empty());
    whep_viewer.answer(&answer);
    wait_connected(&mut whep_viewer).await;
    publisher.start_sending(5);
    let (mut audio, mut video) = (0, 0);
    while audio < 5 || video < 5 {
        if let PeerReport::Rtp {
            payload,
            audio_level,
            ..
        } = whep_viewer.next_report().await
        {
            assert_eq!(payload[0], 5);
            if audio_level.is_some() {
                audio += 1;
            } else {
                video += 1;
            }
        }
    }

    // Both sessions are registered like signaling ones.
    let list = sessions_until(&srv.base, |l| l.len() == 3).await;
    let viewers = list.iter().filter(|s| s["role"] == "Subscribe").count();
    assert_eq!(viewers, 2, "{list:?}");
    let metrics = reqwest::get(format!("{}/metrics", srv.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in ["podium_whip_sessions 2", "podium_signaling_sessions 3"] {
        assert!(metrics.lines().any(|l| l == line), "{line}: {metrics}");
    }

    // Trickle ICE: candidates are taken and dropped, under the conditions of RFC 9725 §4.3.
    let frag = format!(
        "a=ice-ufrag:{}\r\na=ice-pwd:whatever\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
         a=candidate:1 1 udp 2130706431 192.0.2.1 61764 typ host\r\na=end-of-candidates\r\n",
        ufrag(&publisher.offer)
    );
    let trickle = "application/trickle-ice-sdpfrag";
    let patch = |if_match: Option<&str>, content_type: &str, body: &str| {
        let mut headers = vec![("content-type", content_type.to_owned())];
        headers.extend(if_match.map(|m| ("if-match", m.to_owned())));
        let (http, location, body) = (&http, location.clone(), body.to_owned());
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (s, _, etag, body) = http.on(Method::PATCH, &location, &h, &body).await;
            (s.as_u16(), etag, body)
        }
    };
    let (s, etag_out, body) = patch(Some(&etag), trickle, &frag).await;
    assert_eq!((s, etag_out.as_str(), body.as_str()), (204, "", ""));
    assert_eq!(patch(Some("*"), trickle, &frag).await.0, 204);
    assert_eq!(patch(None, trickle, &frag).await.0, 428);
    assert_eq!(patch(Some("\"other\""), trickle, &frag).await.0, 412);
    let restart = "a=ice-ufrag:newu\r\na=ice-pwd:newpasswordnewpassword\r\n";
    let (s, _, body) = patch(Some("*"), trickle, restart).await;
    assert_eq!(s, 422, "ICE restart refused: {body}");
    assert!(body.contains("ICE restarts are not supported"), "{body}");
    assert_eq!(patch(Some(&etag), "application/sdp", &frag).await.0, 415);
    let (s, _, body) = patch(Some(&etag), trickle, "hello there").await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("Malformed SDP fragment"), "{body}");

    // The refused restart left the session alone: media still flows.
    let mut more = 0;
    while more < 5 {
        if let PeerReport::Rtp { .. } = whep_viewer.next_report().await {
            more += 1;
        }
    }

    // DELETE ends the publication: the Millicast viewer hears `inactive`.
    assert_eq!(http.delete(&location).await, StatusCode::OK);
    let inactive = wait_event(&mut view_ws, "inactive", &mut events).await;
    assert_eq!(inactive["data"]["sourceId"], Value::Null, "{inactive}");
    assert_eq!(http.delete(&location).await, StatusCode::NOT_FOUND);
    assert_eq!(patch(Some("*"), trickle, &frag).await.0, 404);

    // The WHEP resource answers under its own kind and stream only, under both paths.
    let id = whep_location.rsplit('/').next().unwrap();
    for wrong in [format!("/whip/w/{id}"), format!("/whep/other/{id}")] {
        assert_eq!(http.delete(&wrong).await, StatusCode::NOT_FOUND, "{wrong}");
    }
    assert_eq!(http.delete(&format!("/whep/w/{id}")).await, StatusCode::OK);
    let list = sessions_until(&srv.base, |l| l.len() == 1).await;
    assert_eq!(
        list[0]["role"], "Subscribe",
        "only the WebSocket viewer is left"
    );
}

#[tokio::test]
async fn whip_and_whep_refusals_carry_the_rfc_status_and_a_readable_reason() {
    let srv = server_with(|a| a.private_streams = Some(vec!["private-*".into()])).await;
    let http = Http::new(&srv.base);
    let offer = Peer::new(true).await.offer;

    let (s, body, challenge) = http.post("/whip/r", None, &offer).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("Missing token"), "{body}");
    assert!(challenge, "WWW-Authenticate on 401");
    assert_eq!(http.post("/whip/r", Some("nope"), &offer).await.0, 401);
    let (sub, _) = create_token(
        &srv.base,
        json!({"label":"v","action":"subscribe","streams":["*"]}),
    )
    .await;
    let (narrow, _) = create_token(
        &srv.base,
        json!({"label":"p","action":"publish","streams":["r"]}),
    )
    .await;
    assert_eq!(http.post("/whip/r", Some(&sub), &offer).await.0, 403);
    assert_eq!(http.post("/whip/other", Some(&narrow), &offer).await.0, 403);
    let (s, body, _) = http
        .post("/whip/r?sourceId=cam2", Some(&narrow), &offer)
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("multisource"), "{body}");
    let (s, body, _) = http.post("/whip/r?sourceId=%01", Some(TOKEN), &offer).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(
        http.post("/whip/bad%20name", Some(TOKEN), &offer).await.0,
        400
    );

    // Recording needs the token's permission (`narrow` has none).
    let (s, body, _) = http
        .post("/whip/r?record=true", Some(&narrow), &offer)
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("recording"), "{body}");
    // A priority is an integer.
    let (s, body, _) = http.post("/whip/r?priority=top", Some(TOKEN), &offer).await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("priority"), "{body}");
    let maybe = http.post("/whip/r?record=maybe", Some(TOKEN), &offer).await;
    assert_eq!(maybe.0, 400);
    let no = http.post("/whip/r?record=false", Some(TOKEN), &offer).await;
    assert_eq!(no.0, 201, "{}", no.1);

    // The body.
    let resp = reqwest::Client::new()
        .post(format!("{}/whip/r", srv.base))
        .bearer_auth(TOKEN)
        .header(header::CONTENT_TYPE, "application/json")
        .body(offer.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, body, _) = http.post("/whip/r", Some(TOKEN), "v=0\r\ngarbage").await;
    assert_eq!(s, 400);
    assert!(body.starts_with("Invalid SDP offer"), "{body}");
    assert_eq!(http.post("/whip/r", Some(TOKEN), "").await.0, 400);
    let huge = "a".repeat(70_000);
    assert_eq!(http.post("/whip/r", Some(TOKEN), &huge).await.0, 413);
    // A viewer's offer has nothing to publish: refused whole (406), not half answered.
    let recvonly = Peer::new(false).await.offer;
    let (s, body, _) = http.post("/whip/r", Some(TOKEN), &recvonly).await;
    assert_eq!(s, 406, "{body}");

    // WHEP on a private stream needs a subscribe token.
    let (s, body, _) = http.post("/whep/private-1", None, &recvonly).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("requires a subscribe token"), "{body}");
    let (s, body, _) = http.post("/whep/private-1", Some(&sub), &recvonly).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(http.post("/whep/public", None, &recvonly).await.0, 201);
    let pinned = http.post("/whep/public?pinnedSourceId=%07", None, &recvonly);
    assert_eq!(pinned.await.0, 400);

    // Unknown resources, and the methods the endpoints and resources reserve.
    let unknown = "/whip/r/0123456789abcdef0123456789abcdef";
    assert_eq!(http.delete(unknown).await, StatusCode::NOT_FOUND);
    let trickle = [("content-type", "application/trickle-ice-sdpfrag")];
    let (s, _, _, _) = http
        .on(Method::PATCH, unknown, &trickle, "a=end-of-candidates")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for path in ["/whip/r", unknown] {
        let (s, _, _, _) = http.on(Method::GET, path, &[], "").await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
}

#[tokio::test]
async fn browsers_on_other_origins_may_call_whip_and_read_its_headers() {
    let srv = server().await;
    let http = Http::new(&srv.base);
    for (path, accepts) in [
        ("/whip/c", ("accept-post", "application/sdp")),
        (
            "/api/whep/c/0123",
            ("accept-patch", "application/trickle-ice-sdpfrag"),
        ),
    ] {
        let preflight = [
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization,content-type,if-match",
            ),
        ];
        let mut req = http
            .client
            .request(Method::OPTIONS, format!("{}{path}", srv.base));
        for (k, v) in preflight {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "{path}: {resp:?}");
        let h = resp.headers();
        let get = |n: &str| h.get(n).map(|v| v.to_str().unwrap().to_lowercase());
        assert_eq!(get("access-control-allow-origin").as_deref(), Some("*"));
        let methods = get("access-control-allow-methods").unwrap();
        for m in ["post", "patch", "delete", "options"] {
            assert!(methods.contains(m), "{methods}");
        }
        let allowed = get("access-control-allow-headers").unwrap();
        for n in ["authorization", "content-type", "if-match"] {
            assert!(allowed.contains(n), "{allowed}");
        }
        assert_eq!(get(accepts.0).as_deref(), Some(accepts.1), "{path}");
    }
    let offer = Peer::new(true).await.offer;
    let resp = http
        .client
        .post(format!("{}/whip/c", srv.base))
        .header("origin", "https://app.example")
        .bearer_auth(TOKEN)
        .header(header::CONTENT_TYPE, "application/sdp")
        .body(offer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    let exposed = h["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for n in ["location", "etag", "link"] {
        assert!(exposed.contains(n), "{exposed}");
    }
    // No ICE servers are configured, so no Link header.
    assert!(h.get(header::LINK).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_and_revocation_end_whip_sessions_and_their_resources() {
    let srv = server().await;
    let http = Http::new(&srv.base);
    let mut events = Vec::new();
    let mut view_ws = connect(&srv.base, false, "k").await;
    let viewer = Peer::new(false).await;
    let r = command(
        &mut view_ws,
        0,
        "view",
        json!({"streamId":"k","sdp":viewer.offer}),
        &mut events,
    )
    .await;
    assert_eq!(r["type"], "response");

    // Kick by source.
    let guest = Peer::new(true).await;
    let resp = http
        .post_sdp("/whip/k?sourceId=guest", Some(TOKEN), &guest.offer)
        .await;
    let (s, location, _, body) = parts(resp).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let active = wait_event(&mut view_ws, "active", &mut events).await;
    assert_eq!(active["data"]["sourceId"], "guest");
    let (s, b) = admin(
        &srv.base,
        Method::POST,
        "kick",
        Some(json!({"streamName":"k","sourceId":"guest"})),
    )
    .await;
    assert_eq!(
        (s, b["data"]["sessionsEnded"].as_u64()),
        (200, Some(1)),
        "{b}"
    );
    let inactive = wait_event(&mut view_ws, "inactive", &mut events).await;
    assert_eq!(inactive["data"]["sourceId"], "guest");
    sessions_until(&srv.base, |l| l.len() == 1).await;
    assert_eq!(
        http.delete(&location).await,
        StatusCode::NOT_FOUND,
        "the kicked session's resource is gone"
    );

    // Revocation of the API token.
    let (secret, id) = create_token(
        &srv.base,
        json!({"label":"p","action":"publish","streams":["k"]}),
    )
    .await;
    let main = Peer::new(true).await;
    let resp = http.post_sdp("/whip/k", Some(&secret), &main.offer).await;
    let (s, location, _, body) = parts(resp).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let active = wait_event(&mut view_ws, "active", &mut events).await;
    assert_eq!(active["data"]["sourceId"], Value::Null);
    let (s, b) = admin(&srv.base, Method::DELETE, &format!("tokens/{id}"), None).await;
    assert_eq!(
        (s, b["data"]["sessionsEnded"].as_u64()),
        (200, Some(1)),
        "{b}"
    );
    let inactive = wait_event(&mut view_ws, "inactive", &mut events).await;
    assert_eq!(inactive["data"]["sourceId"], Value::Null);
    sessions_until(&srv.base, |l| l.len() == 1).await;
    assert_eq!(http.delete(&location).await, StatusCode::NOT_FOUND);
    let (s, body, _) = http.post("/whip/k", Some(&secret), &main.offer).await;
    assert_eq!(s, 401, "{body}");
}

#[tokio::test]
async fn sessions_that_never_connect_are_capped_and_forgotten() {
    let srv = server_with(|a| a.max_pending_per_ip = Some(2)).await;
    let http = Http::new(&srv.base);
    let offer = Peer::new(false).await.offer;
    let mut locations = Vec::new();
    for _ in 0..2 {
        let (s, location, _, body) = parts(http.post_sdp("/whep/p", None, &offer).await).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        locations.push(location);
    }
    let (s, body, _) = http.post("/whep/p", None, &offer).await;
    assert_eq!(s, 429, "{body}");
    assert!(body.contains("your address"), "{body}");
    // Nobody answers the server's ICE: the peers time out (10 s) and take their sessions and
    // resources with them.
    let mut gone = false;
    for _ in 0..60 {
        let (_, b) = admin(&srv.base, Method::GET, "sessions", None).await;
        if b["data"]["sessions"].as_array().unwrap().is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(gone, "the sessions ended with their peers");
    for location in &locations {
        assert_eq!(http.delete(location).await, StatusCode::NOT_FOUND);
    }
    let (s, body, _) = http.post("/whep/p", None, &offer).await;
    assert_eq!(s, 201, "{body}");
}

#[tokio::test]
async fn whip_sessions_take_places_in_the_per_address_connection_cap() {
    let srv = server_with(|a| a.max_connections_per_ip = Some(4)).await;
    // One client: one keep-alive connection, the first of the 4 places.
    let http = Http::new(&srv.base);
    let offer = Peer::new(false).await.offer;
    let mut locations = Vec::new();
    let refusal = loop {
        let (s, location, _, body) = parts(http.post_sdp("/whep/c", None, &offer).await).await;
        if s != StatusCode::CREATED {
            break (s, body);
        }
        locations.push(location);
        assert!(locations.len() < 4, "the cap was never met");
    };
    assert_eq!(locations.len(), 3, "the connection + 3 sessions");
    assert_eq!(refusal.0, StatusCode::TOO_MANY_REQUESTS, "{}", refusal.1);
    assert!(
        refusal.1.contains("sessions from your address"),
        "{}",
        refusal.1
    );
    // Deleting one gives its place back.
    assert_eq!(http.delete(&locations[0]).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, body, _) = http.post("/whep/c", None, &offer).await;
    assert_eq!(s, 201, "{body}");
}
