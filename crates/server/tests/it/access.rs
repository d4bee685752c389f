//! Access control end to end: stored tokens, private streams, revocation, kick, rotation.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Method;
use serde_json::json;

use crate::client::{
    admin, closed_reason, command, connect, connect_with, create_token, director, server,
    server_with, wait_event, Peer,
};

#[tokio::test]
async fn admin_api_needs_the_admin_secret() {
    let srv = server().await;
    let resp = reqwest::Client::new()
        .get(format!("{}/api/admin/tokens", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = reqwest::Client::new()
        .get(format!("{}/api/admin/tokens", srv.base))
        .bearer_auth("wrong-wrong-wrong-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["data"]["message"],
        "Unauthorized: Invalid admin secret"
    );
    let (s, b) = admin(
        &srv.base,
        Method::POST,
        "tokens",
        Some(json!({"label":"x","action":"publish","streams":["bad name"]})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = admin(
        &srv.base,
        Method::POST,
        "tokens",
        Some(json!({"label":"x"})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
}

#[tokio::test]
async fn stored_tokens_are_enforced_by_the_director() {
    let srv = server().await;
    let (publish, _) = create_token(
        &srv.base,
        json!({"label":"rooms","action":"publish","streams":["room-*"]}),
    )
    .await;
    let (view, _) = create_token(
        &srv.base,
        json!({"label":"viewer","action":"subscribe","streams":["*"]}),
    )
    .await;
    let (ip_bound, _) = create_token(
        &srv.base,
        json!({"label":"lan","action":"publish","streams":["*"],"allowedIps":["10.0.0.0/8"]}),
    )
    .await;
    let (origin_bound, _) = create_token(&srv.base, json!({"label":"web","action":"publish","streams":["*"],"allowedOrigins":["https://app.example"]})).await;

    let ok = |s: u16, b: &serde_json::Value| assert_eq!(s, 200, "{b}");
    let (s, b) = director(
        &srv.base,
        "publish",
        Some(&publish),
        json!({"streamName":"room-1"}),
    )
    .await;
    ok(s, &b);
    let fail = |s: u16, b: &serde_json::Value, status: u16, msg: &str| {
        assert_eq!(
            (s, b["status"].as_str(), b["data"]["message"].as_str()),
            (status, Some("fail"), Some(msg)),
            "{b}"
        );
    };
    let (s, b) = director(
        &srv.base,
        "publish",
        Some(&publish),
        json!({"streamName":"lobby"}),
    )
    .await;
    fail(s, &b, 403, "StreamName is not valid for token");
    let (s, b) = director(
        &srv.base,
        "publish",
        Some(&publish),
        json!({"streamName":"room-1","sourceId":"cam"}),
    )
    .await;
    fail(
        s,
        &b,
        403,
        "Token does not allow multisource publishing (sourceId)",
    );
    let (s, b) = director(
        &srv.base,
        "publish",
        Some(&view),
        json!({"streamName":"room-1"}),
    )
    .await;
    fail(s, &b, 403, "Token does not allow publishing");
    let (s, b) = director(
        &srv.base,
        "publish",
        Some(&ip_bound),
        json!({"streamName":"a"}),
    )
    .await;
    fail(s, &b, 403, "IP address is not allowed for token");
    let (s, b) = director(
        &srv.base,
        "publish",
        Some(&origin_bound),
        json!({"streamName":"a"}),
    )
    .await;
    fail(s, &b, 403, "Origin is not allowed for token");
    let (s, b) = director(
        &srv.base,
        "publish",
        Some("tok_0123456789abcdef.nope"),
        json!({"streamName":"a"}),
    )
    .await;
    fail(s, &b, 401, "Unauthorized: Invalid token");
    // A token with an Origin allow-list works from that origin.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/director/publish", srv.base))
        .bearer_auth(&origin_bound)
        .header("Origin", "https://app.example")
        .json(&json!({"streamName":"a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn private_streams_need_a_subscribe_token() {
    let srv = server_with(|a| a.private_streams = Some(vec!["private-*".into()])).await;
    let (s, b) = director(
        &srv.base,
        "subscribe",
        None,
        json!({"streamName":"private-1"}),
    )
    .await;
    assert_eq!(
        (s, b["data"]["message"].as_str()),
        (
            401,
            Some("Unauthorized: This stream requires a subscribe token")
        )
    );
    let (s, _) = director(&srv.base, "subscribe", None, json!({"streamName":"public"})).await;
    assert_eq!(s, 200);
    let (view, _) = create_token(
        &srv.base,
        json!({"label":"v","action":"subscribe","streams":["private-*"]}),
    )
    .await;
    let (s, b) = director(
        &srv.base,
        "subscribe",
        Some(&view),
        json!({"streamName":"private-1"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = director(
        &srv.base,
        "publish",
        Some(crate::client::TOKEN),
        json!({"streamName":"private-1"}),
    )
    .await;
    assert_eq!(b["data"]["subscribeRequiresAuth"], true);
    let (_, b) = director(
        &srv.base,
        "publish",
        Some(crate::client::TOKEN),
        json!({"streamName":"public"}),
    )
    .await;
    assert_eq!(b["data"]["subscribeRequiresAuth"], false);
}

#[tokio::test]
async fn revoking_a_token_refuses_it_and_ends_its_sessions() {
    let srv = server().await;
    let (secret, id) = create_token(
        &srv.base,
        json!({"label":"p","action":"publish","streams":["*"],"multisource":true}),
    )
    .await;
    let (url_live, mut live) = connect_with(&srv.base, true, "s", Some(&secret)).await;
    // A second JWT minted before revocation but not used yet.
    let (s, b) = director(
        &srv.base,
        "publish",
        Some(&secret),
        json!({"streamName":"s"}),
    )
    .await;
    assert_eq!(s, 200);
    let unused = format!(
        "{}?token={}",
        b["data"]["urls"][0].as_str().unwrap(),
        b["data"]["jwt"].as_str().unwrap()
    );

    let (s, b) = admin(&srv.base, Method::DELETE, &format!("tokens/{id}"), None).await;
    assert_eq!(
        (s, b["data"]["sessionsEnded"].as_u64()),
        (200, Some(1)),
        "{b}"
    );
    assert_eq!(
        closed_reason(&mut live).await.as_deref(),
        Some("Token revoked")
    );
    for url in [unused, url_live] {
        let err = tokio_tungstenite::connect_async(&url).await.unwrap_err();
        assert!(err.to_string().contains("401"), "{err}");
    }
    let (s, b) = director(
        &srv.base,
        "publish",
        Some(&secret),
        json!({"streamName":"s"}),
    )
    .await;
    assert_eq!(
        (s, b["data"]["message"].as_str()),
        (401, Some("Unauthorized: Token revoked"))
    );
    let (s, _) = admin(
        &srv.base,
        Method::DELETE,
        "tokens/tok_ffffffffffffffff",
        None,
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kicked_publisher_goes_inactive_and_cannot_return_with_its_jwt() {
    let srv = server().await;
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

    let (url, mut pub_ws) = connect_with(&srv.base, true, "k", Some(crate::client::TOKEN)).await;
    let mut publisher = Peer::new(true).await;
    let r = command(
        &mut pub_ws,
        1,
        "publish",
        json!({"name":"k","sdp":publisher.offer,"sourceId":"guest"}),
        &mut Vec::new(),
    )
    .await;
    assert_eq!(r["type"], "response", "{r}");
    publisher.answer(r["data"]["sdp"].as_str().unwrap());
    let active = wait_event(&mut view_ws, "active", &mut events).await;
    assert_eq!(active["data"]["sourceId"], "guest");

    // Nothing matches a source that is not published.
    let (s, _) = admin(
        &srv.base,
        Method::POST,
        "kick",
        Some(json!({"streamName":"k","sourceId":null})),
    )
    .await;
    assert_eq!(s, 404);
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
    assert_eq!(closed_reason(&mut pub_ws).await.as_deref(), Some("Kicked"));
    let inactive = wait_event(&mut view_ws, "inactive", &mut events).await;
    assert_eq!(inactive["data"]["sourceId"], "guest");
    let err = tokio_tungstenite::connect_async(&url).await.unwrap_err();
    assert!(err.to_string().contains("401"), "old JWT refused: {err}");

    // A viewer can be kicked by its subscriberId.
    let (s, b) = admin(&srv.base, Method::GET, "sessions", None).await;
    assert_eq!(s, 200);
    let viewer_peer = b["data"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["role"] == "Subscribe")
        .unwrap()["peerId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = admin(
        &srv.base,
        Method::POST,
        "kick",
        Some(json!({"streamName":"k","subscriberId":viewer_peer})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(closed_reason(&mut view_ws).await.as_deref(), Some("Kicked"));
}

#[tokio::test]
async fn expired_jwts_and_sources_outside_the_binding_are_refused() {
    let srv = server_with(|a| a.jwt_ttl = Some(1)).await;
    let (s, b) = director(&srv.base, "subscribe", None, json!({"streamName":"s"})).await;
    assert_eq!(s, 200);
    let url = format!(
        "{}?token={}",
        b["data"]["urls"][0].as_str().unwrap(),
        b["data"]["jwt"].as_str().unwrap()
    );
    let (_, mut open_ws) = connect_with(&srv.base, false, "s", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let err = tokio_tungstenite::connect_async(&url).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    // A connection opened before expiry is not cut.
    let e =
        crate::client::send_raw(&mut open_ws, r#"{"type":"cmd","transId":1,"name":"nope"}"#).await;
    assert_eq!(e["type"], "error");

    // A JWT bound to a sourceId cannot publish another one.
    let srv = server().await;
    let (s, b) = director(
        &srv.base,
        "publish",
        Some(crate::client::TOKEN),
        json!({"streamName":"s","sourceId":"alice"}),
    )
    .await;
    assert_eq!(s, 200);
    let url = format!(
        "{}?token={}",
        b["data"]["urls"][0].as_str().unwrap(),
        b["data"]["jwt"].as_str().unwrap()
    );
    let mut ws = tokio_tungstenite::connect_async(&url).await.unwrap().0;
    let peer = Peer::new(true).await;
    let r = command(
        &mut ws,
        1,
        "publish",
        json!({"name":"s","sdp":peer.offer,"sourceId":"bob"}),
        &mut Vec::new(),
    )
    .await;
    assert_eq!(r["data"], "sourceId is not valid for token");
}

#[tokio::test]
async fn the_director_rate_limits_per_ip() {
    let srv = server_with(|a| a.rate_per_ip = Some(2)).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            director(&srv.base, "subscribe", None, json!({"streamName":"s"}))
                .await
                .0,
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let (s, b) = director(&srv.base, "subscribe", None, json!({"streamName":"s"})).await;
    assert_eq!(
        (s, b["data"]["message"].as_str()),
        (429, Some("Too many requests, slow down"))
    );
}

#[tokio::test]
async fn rotated_keys_are_picked_up_and_old_jwts_work_during_the_grace_period() {
    let srv = server().await;
    let (_, b) = director(&srv.base, "subscribe", None, json!({"streamName":"s"})).await;
    let old_url = format!(
        "{}?token={}",
        b["data"]["urls"][0].as_str().unwrap(),
        b["data"]["jwt"].as_str().unwrap()
    );
    let kid = podium_server::secrets::rotate_keys(&srv.dir, podium_server::state::unix_now(), 600)
        .unwrap();
    assert_eq!(kid, "k2");
    let mut new_kid = None;
    for _ in 0..50 {
        let (_, b) = director(&srv.base, "subscribe", None, json!({"streamName":"s"})).await;
        let jwt = b["data"]["jwt"].as_str().unwrap();
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwt.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        if header["kid"] == "k2" {
            new_kid = Some(jwt.to_owned());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        new_kid.is_some(),
        "the server signs with the new key within seconds"
    );
    assert!(
        tokio_tungstenite::connect_async(&old_url).await.is_ok(),
        "old key still verifies"
    );
}

#[tokio::test]
async fn the_director_rate_limits_per_token() {
    let srv = server_with(|a| {
        a.rate_per_token = Some(1);
        a.rate_per_ip = Some(1000);
    })
    .await;
    let (secret, _) = create_token(
        &srv.base,
        json!({"label":"p","action":"publish","streams":["*"]}),
    )
    .await;
    let mut last = (0, serde_json::Value::Null);
    for _ in 0..6 {
        last = director(
            &srv.base,
            "publish",
            Some(&secret),
            json!({"streamName":"s"}),
        )
        .await;
    }
    assert_eq!(
        (last.0, last.1["data"]["message"].as_str()),
        (429, Some("Too many requests for this token, slow down"))
    );
    // Another token is not affected.
    let (other, _) = create_token(
        &srv.base,
        json!({"label":"q","action":"publish","streams":["*"]}),
    )
    .await;
    let (s, _) = director(
        &srv.base,
        "publish",
        Some(&other),
        json!({"streamName":"s"}),
    )
    .await;
    assert_eq!(s, 200);
}

/// The claims of a Director reply's JWT, decoded the way the Millicast SDKs do (`jwtDecode`:
/// the payload's base64url, no signature check).
fn jwt_claims(reply: &serde_json::Value) -> serde_json::Value {
    let jwt = reply["data"]["jwt"].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn the_record_permission_of_a_token_reaches_the_publish_jwt() {
    let srv = server().await;
    // Created through the admin API, shown in its reply and in the listing.
    let (s, b) = admin(
        &srv.base,
        Method::POST,
        "tokens",
        Some(json!({"label":"rec","action":"publish","streams":["*"],"record":true})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["token"]["record"], true);
    let recording = b["data"]["secret"].as_str().unwrap().to_owned();
    let recording_id = b["data"]["token"]["id"].as_str().unwrap().to_owned();
    let (s, b) = admin(
        &srv.base,
        Method::POST,
        "tokens",
        Some(json!({"label":"plain","action":"publish","streams":["*"],"multisource":true})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["token"]["record"], false, "off unless asked for");
    let plain = b["data"]["secret"].as_str().unwrap().to_owned();
    let (view, view_id) = create_token(
        &srv.base,
        json!({"label":"v","action":"subscribe","streams":["*"],"record":false}),
    )
    .await;
    // A subscribe token cannot record.
    let (s, b) = admin(
        &srv.base,
        Method::POST,
        "tokens",
        Some(json!({"label":"v2","action":"subscribe","streams":["*"],"record":true})),
    )
    .await;
    assert_eq!(
        (s, b["status"].as_str(), b["data"]["message"].as_str()),
        (
            400,
            Some("fail"),
            Some("record is only allowed on publish tokens: a subscribe token cannot record")
        ),
        "{b}"
    );
    let (s, b) = admin(
        &srv.base,
        Method::POST,
        "tokens",
        Some(json!({"label":"p","action":"publish","streams":["*"],"record":"yes"})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = admin(&srv.base, Method::GET, "tokens", None).await;
    assert_eq!(s, 200, "{b}");
    let listed = b["data"]["tokens"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "the refused ones were not stored: {b}");
    for t in listed {
        let expected = t["id"] == recording_id.as_str();
        assert_eq!(t["record"], expected, "{t}");
    }

    // The publish JWT's `millicast.record` is the token's permission.
    let publish_record = |bearer: String| {
        let base = srv.base.clone();
        async move {
            let (s, b) = director(
                &base,
                "publish",
                Some(&bearer),
                json!({"streamName":"rec-1"}),
            )
            .await;
            assert_eq!(s, 200, "{b}");
            let claims = jwt_claims(&b);
            assert_eq!(claims["millicast"]["type"], "Publish", "{claims}");
            claims["millicast"]["record"].clone()
        }
    };
    assert_eq!(publish_record(recording.clone()).await, true);
    assert_eq!(publish_record(plain).await, false);
    assert_eq!(
        publish_record(crate::client::TOKEN.into()).await,
        true,
        "the bootstrap token may record"
    );
    // With a sourceId too (the bootstrap token is multisource).
    let (s, b) = director(
        &srv.base,
        "publish",
        Some(crate::client::TOKEN),
        json!({"streamName":"rec-1","sourceId":"cam"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(jwt_claims(&b)["millicast"]["record"], true);

    // Viewers never record: open viewing and a subscribe token.
    for bearer in [None, Some(view.as_str())] {
        let (s, b) = director(
            &srv.base,
            "subscribe",
            bearer,
            json!({"streamName":"rec-1"}),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let claims = jwt_claims(&b);
        assert_eq!(claims["millicast"]["type"], "Subscribe", "{claims}");
        assert_eq!(claims["millicast"]["record"], false, "{claims}");
    }
    let (s, b) = director(
        &srv.base,
        "subscribe",
        Some(&view),
        json!({"streamName":"rec-1"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(jwt_claims(&b)["millicast"]["tokenId"], view_id.as_str());

    // A JWT allowed to record opens signaling like any other.
    let (_, _ws) = connect_with(&srv.base, true, "rec-1", Some(&recording)).await;
}
