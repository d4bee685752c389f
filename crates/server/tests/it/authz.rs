//! Authorization holes a hostile client looks for: tokens used where they do not belong.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::client::{command, director, publish_url, server, Peer, Ws, TOKEN};

async fn open(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

#[tokio::test]
async fn a_jwt_bound_to_a_source_cannot_publish_as_the_main_source() {
    let srv = server().await;
    let url = publish_url(&srv.base, json!({"streamName":"s","sourceId":"alice"})).await;
    let peer = Peer::new(true).await;
    // Without sourceId, with an empty one, with null: all are the main source, not alice.
    for (i, source) in [None, Some(json!("")), Some(Value::Null)]
        .into_iter()
        .enumerate()
    {
        let mut ws = open(&url).await;
        let mut data = json!({"name":"s","sdp":peer.offer});
        if let Some(s) = source {
            data["sourceId"] = s;
        }
        let r = command(&mut ws, i as u64, "publish", data, &mut Vec::new()).await;
        assert_eq!(r["type"], "error", "{r}");
        assert_eq!(r["data"], "sourceId is not valid for token");
    }
    // The bound source itself is fine.
    let mut ws = open(&url).await;
    let r = command(
        &mut ws,
        9,
        "publish",
        json!({"name":"s","sdp":peer.offer,"sourceId":"alice"}),
        &mut Vec::new(),
    )
    .await;
    assert_eq!(r["type"], "response", "{r}");
}

#[tokio::test]
async fn the_director_refuses_source_ids_signaling_would_refuse() {
    let srv = server().await;
    for bad in ["x".repeat(10_000), "a\u{0}b".into(), "line\nbreak".into()] {
        let (s, b) = director(
            &srv.base,
            "publish",
            Some(TOKEN),
            json!({"streamName":"s","sourceId":bad}),
        )
        .await;
        assert_eq!(s, 400, "{b}");
        assert_eq!(b["status"], "fail");
        assert!(b["data"]["message"].as_str().unwrap().contains("sourceId"));
    }
    let (s, _) = director(
        &srv.base,
        "publish",
        Some(TOKEN),
        json!({"streamName":"s","sourceId":"guest-1 ✓"}),
    )
    .await;
    assert_eq!(s, 200);
}

/// Director subscribe with extra headers; returns (status, body).
async fn subscribe_with(base: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}/api/director/subscribe"))
        .json(&json!({"streamName":"s"}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn urls_and_client_addresses_come_from_configuration_not_from_any_client() {
    let forged = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-for", "1.2.3.4"),
    ];
    // Untrusted: the forwarding headers are ignored.
    let srv = crate::client::server_with(|a| a.rate_per_ip = Some(1)).await;
    let (_, b) = subscribe_with(&srv.base, &forged).await;
    let url = b["data"]["wsUrl"].as_str().unwrap();
    assert_eq!(url, format!("ws://{}/ws/v2/sub", srv.running.http_addr));
    // A forged X-Forwarded-For does not escape the per-address rate limit.
    let mut refused = 0;
    for i in 0..6 {
        let ip = format!("5.5.5.{i}");
        let (s, _) = subscribe_with(&srv.base, &[("x-forwarded-for", &ip)]).await;
        refused += usize::from(s == 429);
    }
    assert!(refused >= 3, "only {refused} of 6 refused");

    // A configured public URL wins over every header.
    let srv = crate::client::server_with(|a| {
        a.public_url = Some("https://live.example.com/podium".into());
    })
    .await;
    let (_, b) = subscribe_with(&srv.base, &forged).await;
    assert_eq!(
        b["data"]["wsUrl"],
        "wss://live.example.com/podium/ws/v2/sub"
    );

    // Behind a trusted proxy, its headers are believed.
    let srv = crate::client::server_with(|a| {
        a.trusted_proxies = Some(vec!["127.0.0.1".into()]);
        a.rate_per_ip = Some(1);
    })
    .await;
    let (_, b) = subscribe_with(&srv.base, &forged).await;
    assert_eq!(b["data"]["wsUrl"], "wss://evil.example/ws/v2/sub");
    for i in 0..6 {
        let ip = format!("5.5.5.{i}");
        let (s, b) = subscribe_with(&srv.base, &[("x-forwarded-for", &ip)]).await;
        assert_eq!(
            s, 200,
            "each client behind the proxy has its own limit: {b}"
        );
    }
}

#[tokio::test]
async fn every_page_carries_security_headers_and_the_admin_api_has_no_cors() {
    let srv = server().await;
    let http = reqwest::Client::new();
    for path in ["/", "/demo.html", "/app.js", "/nope.html", "/healthz"] {
        let r = http
            .get(format!("{}{path}", srv.base))
            .send()
            .await
            .unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
    let preflight = |path: &'static str| {
        http.request(reqwest::Method::OPTIONS, format!("{}{path}", srv.base))
            .header("origin", "https://elsewhere.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let director = preflight("/api/director/subscribe").await.unwrap();
    assert_eq!(director.headers()["access-control-allow-origin"], "*");
    let admin = preflight("/api/admin/tokens").await.unwrap();
    assert!(
        !admin.headers().contains_key("access-control-allow-origin"),
        "{:?}",
        admin.headers()
    );
}

#[tokio::test]
async fn wrong_admin_secrets_are_throttled() {
    let srv = server().await;
    let http = reqwest::Client::new();
    let tokens = |secret: &'static str| {
        http.get(format!("{}/api/admin/tokens", srv.base))
            .bearer_auth(secret)
            .send()
    };
    for _ in 0..6 {
        assert_eq!(tokens("wrong").await.unwrap().status(), 401);
    }
    // Now even the right secret waits: guesses are not compared while throttled.
    let r = tokens(crate::client::ADMIN).await.unwrap();
    assert_eq!(r.status(), 429);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(tokens(crate::client::ADMIN).await.unwrap().status(), 200);
    assert_eq!(
        tokens("wrong").await.unwrap().status(),
        401,
        "a success clears the record"
    );
}

/// The claims of a JWT (its payload, undecoded by any key).
fn claims_of(jwt: &str) -> Value {
    let payload = URL_SAFE_NO_PAD
        .decode(jwt.split('.').nth(1).unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// `millicast.record` of the JWT in a Director reply.
fn record_claim(reply: &Value) -> Value {
    claims_of(reply["data"]["jwt"].as_str().unwrap())["millicast"]["record"].clone()
}

#[tokio::test]
async fn a_client_cannot_grant_itself_recording() {
    let srv = server().await;
    let (plain, _) = crate::client::create_token(
        &srv.base,
        json!({"label":"p","action":"publish","streams":["*"]}),
    )
    .await;
    // Asking the Director for it in the body changes nothing: only the API token decides.
    for body in [
        json!({"streamName":"s","record":true}),
        json!({"streamName":"s","millicast":{"record":true}}),
    ] {
        let (s, b) = director(&srv.base, "publish", Some(&plain), body.clone()).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(record_claim(&b), false, "{body}");
        let (s, b) = director(&srv.base, "subscribe", None, body.clone()).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(record_claim(&b), false, "{body}");
    }
    // A JWT with record=true whose signature does not verify is refused like any other.
    let (_, b) = director(
        &srv.base,
        "publish",
        Some(&plain),
        json!({"streamName":"s"}),
    )
    .await;
    let jwt = b["data"]["jwt"].as_str().unwrap();
    let mut claims = claims_of(jwt);
    claims["millicast"]["record"] = json!(true);
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let forged = format!(
        "{}?token={}",
        b["data"]["urls"][0].as_str().unwrap(),
        parts.join(".")
    );
    let err = tokio_tungstenite::connect_async(&forged).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
}
