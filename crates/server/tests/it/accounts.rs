//! Accounts over HTTP against a running server: sign-up and sign-in with the session cookie,
//! and each hostile case refused cleanly — CSRF, session fixation, username enumeration,
//! sign-in from a foreign page, password guessing, avatars that are not images or too big —
//! and a restart keeps accounts, sessions and follows.

use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::client::{server, server_with};

const PASSWORD: &str = "violet-kettle-41-drums";

/// A browser-like client without a cookie jar: cookies are passed by hand so the tests see
/// exactly what is sent.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

impl Browser {
    fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            cookie: None,
            csrf: None,
        }
    }

    async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        extra: HeaderMap,
    ) -> (StatusCode, Value, HeaderMap) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .headers(extra);
        if let Some(cookie) = &self.cookie {
            req = req.header(COOKIE, format!("podium_session={cookie}"));
        }
        if let Some(csrf) = &self.csrf {
            req = req.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        let body = r.json().await.unwrap_or(Value::Null);
        if let Some(set) = headers.get(SET_COOKIE).and_then(|h| h.to_str().ok()) {
            let value = set
                .split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .map(|(_, v)| v.to_owned());
            self.cookie = value.filter(|v| !v.starts_with("0000"));
        }
        if let Some(csrf) = body["data"]["csrf"].as_str() {
            self.csrf = Some(csrf.to_owned());
        }
        (status, body, headers)
    }

    async fn post(&mut self, path: &str, body: Value) -> (StatusCode, Value, HeaderMap) {
        self.send(reqwest::Method::POST, path, Some(body), HeaderMap::new())
            .await
    }

    async fn get(&mut self, path: &str) -> (StatusCode, Value) {
        let (s, b, _) = self
            .send(reqwest::Method::GET, path, None, HeaderMap::new())
            .await;
        (s, b)
    }

    async fn sign_up(&mut self, name: &str) -> Value {
        let (status, body, _) = self
            .post(
                "/api/account/sign-up",
                json!({"username": name, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["account"].clone()
    }
}

#[tokio::test]
async fn sign_up_sign_in_and_the_session_cookie() {
    let srv = server().await;
    let mut ann = Browser::new(&srv.base);
    let (status, body, headers) = ann
        .post(
            "/api/account/sign-up",
            json!({"username": "Ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let cookie = headers[SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains(PASSWORD));
    assert_eq!(body["data"]["account"]["username"], "Ann");
    assert!(body["data"]["account"].get("passwordHash").is_none());
    let (status, me) = ann.get("/api/account/me").await;
    assert_eq!(
        (status, &me["data"]["account"]["username"]),
        (StatusCode::OK, &json!("Ann"))
    );

    let mut anon = Browser::new(&srv.base);
    assert_eq!(
        anon.get("/api/account/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body, _) = anon
        .post(
            "/api/account/sign-up",
            json!({"username": "ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "look-alike names are taken: {body}"
    );
    let (status, body, _) = anon
        .post(
            "/api/account/sign-up",
            json!({"username": "Bob", "password": "password"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["status"], "fail");
    let (status, body, _) = anon
        .post(
            "/api/account/sign-up",
            json!({"username": "Bob", "pass": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Sign out: the cookie is cleared and the session is over for good.
    let old = ann.cookie.clone();
    let (status, _, headers) = ann.post("/api/account/sign-out", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    ann.cookie = old;
    assert_eq!(ann.get("/api/account/me").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn changes_need_the_csrf_token_and_sign_in_needs_our_own_origin() {
    let srv = server().await;
    let mut ann = Browser::new(&srv.base);
    let ann_account = ann.sign_up("Ann").await;
    let mut bob = Browser::new(&srv.base);
    let bob_account = bob.sign_up("Bob").await;
    let follow = format!("/api/users/{}/follow", ann_account["id"].as_str().unwrap());

    // A foreign page can make the browser send the cookie, not the header.
    let csrf = bob.csrf.take();
    let (status, body, _) = bob.post(&follow, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    bob.csrf = Some("0".repeat(64));
    assert_eq!(bob.post(&follow, json!({})).await.0, StatusCode::FORBIDDEN);
    bob.csrf = csrf;
    let (status, body, _) = bob.post(&follow, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, profile) = bob.get("/api/users/ann").await;
    assert_eq!(profile["data"]["followers"], 1);
    assert_eq!(profile["data"]["followedByMe"], true);

    // Sign-in from a page of another origin is refused (login CSRF); from ours it works.
    let mut foreign = HeaderMap::new();
    foreign.insert("origin", "https://evil.example".parse().unwrap());
    let mut other = Browser::new(&srv.base);
    let creds = json!({"username": "Bob", "password": PASSWORD});
    let (status, _, _) = other
        .send(
            reqwest::Method::POST,
            "/api/account/sign-in",
            Some(creds.clone()),
            foreign,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut own = HeaderMap::new();
    own.insert("origin", srv.base.parse().unwrap());
    let (status, body, _) = other
        .send(
            reqwest::Method::POST,
            "/api/account/sign-in",
            Some(creds),
            own,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["account"]["id"], bob_account["id"]);
}

#[tokio::test]
async fn a_planted_session_token_never_becomes_an_accounts_and_sign_in_does_not_tell_names_apart() {
    let srv = server().await;
    let mut ann = Browser::new(&srv.base);
    ann.sign_up("Ann").await;

    // Session fixation: the attacker plants a token, the victim signs in with it.
    let planted = "ab".repeat(32);
    let mut victim = Browser::new(&srv.base);
    victim.cookie = Some(planted.clone());
    let (status, _, _) = victim
        .post(
            "/api/account/sign-in",
            json!({"username": "Ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(
        victim.cookie.as_deref(),
        Some(planted.as_str()),
        "a new token is issued"
    );
    let mut attacker = Browser::new(&srv.base);
    attacker.cookie = Some(planted);
    assert_eq!(
        attacker.get("/api/account/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    // A session stolen before sign-in is ended by it, too.
    let before = ann.cookie.clone();
    let mut again = Browser::new(&srv.base);
    again.cookie = before.clone();
    again
        .post(
            "/api/account/sign-in",
            json!({"username": "Ann", "password": PASSWORD}),
        )
        .await;
    let mut thief = Browser::new(&srv.base);
    thief.cookie = before;
    assert_eq!(
        thief.get("/api/account/me").await.0,
        StatusCode::UNAUTHORIZED
    );

    // Unknown name and wrong password: the same status and message.
    let mut guess = Browser::new(&srv.base);
    let (s1, b1, _) = guess
        .post(
            "/api/account/sign-in",
            json!({"username": "Ann", "password": "wrong-password-1"}),
        )
        .await;
    let (s2, b2, _) = guess
        .post(
            "/api/account/sign-in",
            json!({"username": "Nobody", "password": "wrong-password-1"}),
        )
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(b1, b2);
}

#[tokio::test]
async fn password_guessing_is_slowed_per_name() {
    let srv = server().await;
    Browser::new(&srv.base).sign_up("Ann").await;
    let mut guess = Browser::new(&srv.base);
    let mut refused_at = None;
    for attempt in 1..=15 {
        let (status, body, _) = guess
            .post(
                "/api/account/sign-in",
                json!({"username": "ann", "password": format!("guess-{attempt}")}),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                body["data"]["message"].as_str().unwrap().contains("wait"),
                "{body}"
            );
            refused_at = Some(attempt);
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(refused_at, Some(11), "10 sign-ins per name per minute");
    // The right password is refused too while the name is limited: guessing gains nothing.
    let (status, _, _) = guess
        .post(
            "/api/account/sign-in",
            json!({"username": "Ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn avatars_must_be_images_of_bounded_size_and_are_served_re_encoded() {
    let srv = server().await;
    let mut ann = Browser::new(&srv.base);
    let account = ann.sign_up("Ann").await;
    let id = account["id"].as_str().unwrap().to_owned();
    let upload = |ann: &Browser, bytes: Vec<u8>, content_type: &str| {
        ann.http
            .put(format!("{}/api/account/avatar", ann.base))
            .header(
                COOKIE,
                format!("podium_session={}", ann.cookie.clone().unwrap()),
            )
            .header("x-csrf-token", ann.csrf.clone().unwrap())
            .header("content-type", content_type.to_owned())
            .body(bytes)
            .send()
    };
    let html = b"<html><script>alert(1)</script></html>".to_vec();
    let r = upload(&ann, html.clone(), "image/png").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = upload(&ann, html, "text/html").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = upload(&ann, vec![0x89; 3 * 1024 * 1024], "image/png")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "fail", "a JSON refusal: {body}");
    assert_eq!(
        ann.get(&format!("/api/users/{id}/avatar")).await.0,
        StatusCode::NOT_FOUND,
        "nothing was stored"
    );

    // A photo-sized upload (noise: about 1 MiB as PNG) passes the API's small body limit.
    let mut png = std::io::Cursor::new(Vec::new());
    let mut seed = 7u32;
    image::RgbImage::from_fn(600, 600, |_, _| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let [a, b, c, _] = seed.to_le_bytes();
        image::Rgb([a, b, c])
    })
    .write_to(&mut png, image::ImageFormat::Png)
    .unwrap();
    let png = png.into_inner();
    assert!(png.len() > 1_000_000, "{}", png.len());
    let r = upload(&ann, png, "image/png").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = reqwest::get(format!("{}/api/users/{id}/avatar", srv.base))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let served = image::load_from_memory(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((served.width(), served.height()), (256, 256));
    let (_, me) = ann.get("/api/account/me").await;
    assert_eq!(me["data"]["account"]["avatarVersion"], 1);
}

#[tokio::test]
async fn a_restart_keeps_accounts_sessions_and_follows() {
    let mut first = server().await;
    let dir = first.dir.clone();
    let mut ann = Browser::new(&first.base);
    let ann_id = ann.sign_up("Ann").await["id"].as_str().unwrap().to_owned();
    let mut bob = Browser::new(&first.base);
    bob.sign_up("Bob").await;
    let (status, _, _) = bob
        .post(&format!("/api/users/{ann_id}/follow"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let starts = podium_server::state::unix_now() + 3600;
    let (status, scheduled, _) = ann
        .post(
            "/api/schedules",
            json!({"title": "Friday talk", "startsAt": starts}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{scheduled}");
    let schedule = scheduled["data"]["schedule"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = bob
        .post(&format!("/api/schedules/{schedule}/remind"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    first.stop();
    first.keep_dir = true;
    drop(first);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let second = server_with(|args| args.data_dir = Some(dir)).await;
    bob.base = second.base.clone();
    let (status, me) = bob.get("/api/account/me").await;
    assert_eq!(status, StatusCode::OK, "the session survived: {me}");
    assert_eq!(me["data"]["following"], 1);
    let mut again = Browser::new(&second.base);
    let (status, _, _) = again
        .post(
            "/api/account/sign-in",
            json!({"username": "Ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, followers) = again.get(&format!("/api/users/{ann_id}/followers")).await;
    assert_eq!(followers["data"][0]["username"], "Bob");
    let (_, upcoming) = bob.get("/api/schedules").await;
    let kept = &upcoming["data"]["schedules"][0];
    assert_eq!(
        (&kept["title"], &kept["remindMe"], &kept["startsAt"]),
        (&json!("Friday talk"), &json!(true), &json!(starts)),
        "the schedule and the reminder survived: {upcoming}"
    );
}

/// `DELETE /api/account` with `password`.
async fn delete(b: &mut Browser, password: &str) -> StatusCode {
    let body = json!({ "password": password });
    b.send(
        reqwest::Method::DELETE,
        "/api/account",
        Some(body),
        HeaderMap::new(),
    )
    .await
    .0
}

#[tokio::test]
async fn an_account_is_deleted_with_its_password_and_everything_it_keeps_goes() {
    let srv = server().await;
    let mut ann = Browser::new(&srv.base);
    let ann_account = ann.sign_up("Ann").await;
    let mut bob = Browser::new(&srv.base);
    bob.sign_up("Bob").await;
    let follow = format!("/api/users/{}/follow", ann_account["id"].as_str().unwrap());
    assert_eq!(bob.post(&follow, json!({})).await.0, StatusCode::OK);

    // Without the page's CSRF token, or with a wrong password: refused, nothing changes.
    let csrf = ann.csrf.take();
    assert_eq!(delete(&mut ann, PASSWORD).await, StatusCode::FORBIDDEN);
    ann.csrf = csrf;
    assert_eq!(
        delete(&mut ann, "guessing-42-again").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(ann.get("/api/account/me").await.0, StatusCode::OK);

    let old_cookie = ann.cookie.clone();
    assert_eq!(delete(&mut ann, PASSWORD).await, StatusCode::OK);
    assert_eq!(ann.cookie, None, "the cookie is cleared");
    ann.cookie = old_cookie;
    assert_eq!(
        ann.get("/api/account/me").await.0,
        StatusCode::UNAUTHORIZED,
        "its sessions went with it"
    );
    assert_eq!(bob.get("/api/users/ann").await.0, StatusCode::NOT_FOUND);
    let (_, me) = bob.get("/api/account/me").await;
    assert_eq!(me["data"]["following"], 0, "{me}");
    let mut again = Browser::new(&srv.base);
    let (status, _, _) = again
        .post(
            "/api/account/sign-in",
            json!({"username": "Ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    again.sign_up("Ann").await;
}
