//! Web Push (RFC 8030, payloads encrypted per RFC 8291, VAPID per RFC 8292): telling people
//! whose app is closed that someone they follow is live. The browser subscribes with the
//! server's VAPID public key and gives us its push service's endpoint and its keys; we encrypt
//! each message to those keys, sign a short VAPID token with our private key and POST it to
//! the endpoint. The key pair is made on first start and kept in the data directory.
//!
//! Endpoints are URLs users hand us, so the server refuses what could reach inside the
//! operator's network: only `https` to a host name or a public address, unless the operator
//! allows one `http` origin (`--push-insecure-origin`, for a local push server).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use podium_accounts::{PushStore, PushSubscription};
use serde::Serialize;
use web_push_native::jwt_simple::algorithms::{
    ECDSAP256KeyPairLike, ECDSAP256PublicKeyLike, ES256KeyPair,
};
use web_push_native::jwt_simple::claims::Claims;
use web_push_native::{p256, Auth, WebPushBuilder};

/// The private key's file in the data directory (base64url of the 32-byte scalar).
pub const VAPID_KEY_FILE: &str = "push-vapid.key";
/// How long a push service keeps a message for an offline browser: a live room is news for
/// a while, not for a day.
const TTL: Duration = Duration::from_secs(15 * 60);
/// How long a VAPID token is valid (RFC 8292: at most 24 hours).
const VAPID_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// One push request's time limit.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Push requests in flight at once (a popular host has many followers).
const IN_FLIGHT: usize = 16;
/// One follower is pushed about one person at most this often (on and off stage is not news).
pub const COOLDOWN: Duration = Duration::from_secs(10 * 60);
/// Most pairs remembered for the cooldown: past it the oldest are forgotten (their cooldown
/// ends early), so memory stays bounded whatever the number of followers.
const COOLDOWN_KEPT: usize = 100_000;

/// How the operator set Web Push up.
#[derive(Debug, Clone, Default)]
pub struct PushSettings {
    /// The VAPID `sub`: how a push service reaches the operator (`mailto:` or `https:`).
    pub contact: String,
    /// One `http://host:port` origin push endpoints may use (a local push server).
    pub insecure_origin: Option<String>,
}

/// What a notification says; the service worker shows it and opens `url` on a click.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// The notification's title.
    pub title: String,
    /// Its text.
    pub body: String,
    /// The app's address to open (a room).
    pub url: String,
    /// Replaces an earlier notification with the same tag.
    pub tag: String,
}

type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

/// The server's Web Push sender.
pub struct Push {
    key: ES256KeyPair,
    public_key: String,
    settings: PushSettings,
    client: HttpsClient,
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Who was last pushed about whom, and when.
    recent: Mutex<Recent>,
}

/// (follower, followed) → when, with the same pairs in time order to forget the oldest first.
#[derive(Default)]
struct Recent {
    at: HashMap<(String, String), Instant>,
    order: std::collections::VecDeque<(Instant, (String, String))>,
}

impl Push {
    /// Loads the VAPID key pair from `dir`, making and saving one on first start.
    pub fn load_or_create(dir: &Path, settings: PushSettings) -> anyhow::Result<Self> {
        let path = dir.join(VAPID_KEY_FILE);
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = URL_SAFE_NO_PAD
                    .decode(text.trim())
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                ES256KeyPair::from_bytes(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = ES256KeyPair::generate();
                crate::secrets::write_private(&path, &URL_SAFE_NO_PAD.encode(key.to_bytes()))?;
                key
            }
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        };
        let public_key =
            URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed());
        // Redirects are not followed (a push service does not redirect).
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config())
            .https_or_http()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(https);
        Ok(Self {
            key,
            public_key,
            settings,
            client,
            in_flight: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
            recent: Mutex::new(Recent::default()),
        })
    }

    /// The VAPID public key (base64url, uncompressed P-256 point): the browser's
    /// `applicationServerKey`.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// Checks a subscription a browser sent before it is stored: an endpoint we may call and
    /// keys that are what the protocol says.
    pub fn check(&self, sub: &PushSubscription) -> Result<(), String> {
        check_endpoint(&sub.endpoint, self.settings.insecure_origin.as_deref())?;
        decode_keys(sub).map(|_| ())
    }

    /// Pushes `notice` about `about` (an account) to each of `followers`' browsers, at most
    /// once per [`COOLDOWN`] per follower; in the background, bounded.
    pub fn notify(
        self: &Arc<Self>,
        store: Arc<dyn PushStore>,
        about: &str,
        followers: Vec<String>,
        notice: Notice,
        now: Instant,
    ) {
        let due: Vec<String> = followers
            .into_iter()
            .filter(|f| self.due(f, about, now))
            .collect();
        if due.is_empty() {
            return;
        }
        let push = self.clone();
        tokio::spawn(async move {
            let Ok(body) = serde_json::to_vec(&notice) else {
                return;
            };
            for follower in due {
                let read = {
                    let (store, follower) = (store.clone(), follower.clone());
                    tokio::task::spawn_blocking(move || store.pushes_of(&follower)).await
                };
                let Ok(Ok(subscriptions)) = read else {
                    tracing::warn!("push subscriptions not read");
                    continue;
                };
                for sub in subscriptions {
                    let Ok(permit) = push.in_flight.clone().acquire_owned().await else {
                        return;
                    };
                    let (push, store, body) = (push.clone(), store.clone(), body.clone());
                    let topic = notice_topic(&notice.tag);
                    tokio::spawn(async move {
                        push.send(&*store, &sub, body, &topic).await;
                        drop(permit);
                    });
                }
            }
        });
    }

    /// Whether `follower` may be told about `about` now (and counts it if so). The in-app
    /// notice uses it too, under its own key (`app:` + account).
    pub(crate) fn due(&self, follower: &str, about: &str, now: Instant) -> bool {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let Recent { at, order } = &mut *recent;
        // Forget what has cooled down, and the oldest past the cap (amortised O(1)).
        while let Some((when, key)) = order.front() {
            if now.duration_since(*when) < COOLDOWN && order.len() < COOLDOWN_KEPT {
                break;
            }
            if at.get(key) == Some(when) {
                at.remove(key);
            }
            order.pop_front();
        }
        let key = (follower.to_owned(), about.to_owned());
        if at
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < COOLDOWN)
        {
            return false;
        }
        at.insert(key.clone(), now);
        order.push_back((now, key));
        true
    }

    /// One push; a subscription its service says is gone is forgotten.
    async fn send(
        &self,
        store: &dyn PushStore,
        sub: &PushSubscription,
        body: Vec<u8>,
        topic: &str,
    ) {
        let request = match self.request(sub, body) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(error = %e, "push not encrypted; subscription dropped");
                let _ = store.drop_push_endpoint(&sub.endpoint);
                return;
            }
        };
        let (mut parts, body) = request.into_parts();
        parts
            .headers
            .insert("urgency", axum::http::HeaderValue::from_static("high"));
        if let Ok(value) = axum::http::HeaderValue::from_str(topic) {
            parts.headers.insert("topic", value);
        }
        let request = axum::http::Request::from_parts(parts, http_body_util::Full::from(body));
        let sent = tokio::time::timeout(SEND_TIMEOUT, self.client.request(request)).await;
        match sent {
            Ok(Ok(response)) => {
                let status = response.status();
                if status == 404 || status == 410 {
                    // The browser unsubscribed or the subscription expired.
                    let _ = store.drop_push_endpoint(&sub.endpoint);
                } else if !status.is_success() {
                    tracing::info!(%status, "push refused by the push service");
                }
            }
            Ok(Err(e)) => tracing::info!(error = %e, "push not delivered"),
            Err(_) => tracing::info!("push timed out"),
        }
    }

    /// The encrypted, VAPID-signed request for one subscription.
    pub fn request(
        &self,
        sub: &PushSubscription,
        body: Vec<u8>,
    ) -> Result<axum::http::Request<Vec<u8>>, String> {
        let (public, auth) = decode_keys(sub)?;
        let endpoint = sub.endpoint.parse().map_err(|e| format!("endpoint: {e}"))?;
        let mut request = WebPushBuilder::new(endpoint, public, auth)
            .with_valid_duration(TTL)
            .build(body)
            .map_err(|e| e.to_string())?;
        // Our own VAPID token: its audience is the endpoint's origin, port included (RFC 8292
        // §2), which a push service on a non-default port checks.
        let origin = url::Url::parse(&sub.endpoint)
            .map_err(|e| format!("endpoint: {e}"))?
            .origin()
            .ascii_serialization();
        let claims = Claims::create(VAPID_LIFETIME.into())
            .with_audience(origin)
            .with_subject(&self.settings.contact);
        let token = self.key.sign(claims).map_err(|e| e.to_string())?;
        let value = format!("vapid t={token}, k={}", self.public_key);
        request.headers_mut().insert(
            axum::http::header::AUTHORIZATION,
            value.parse().map_err(|_| "VAPID header".to_owned())?,
        );
        Ok(request)
    }
}

/// A push `Topic` (at most 32 base64url characters): a newer message with the same topic
/// replaces one the push service still holds.
fn notice_topic(seed: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(seed.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..24])
}

/// The browser's public key (a P-256 point) and its 16-byte auth secret.
fn decode_keys(sub: &PushSubscription) -> Result<(p256::PublicKey, Auth), String> {
    let bad = || "Invalid push subscription keys".to_owned();
    let point = URL_SAFE_NO_PAD
        .decode(sub.p256dh.trim_end_matches('='))
        .map_err(|_| bad())?;
    if point.len() != 65 {
        return Err(bad());
    }
    let public = p256::PublicKey::from_sec1_bytes(&point).map_err(|_| bad())?;
    let auth = URL_SAFE_NO_PAD
        .decode(sub.auth.trim_end_matches('='))
        .map_err(|_| bad())?;
    if auth.len() != 16 {
        return Err(bad());
    }
    Ok((public, Auth::clone_from_slice(&auth)))
}

/// Whether the server may POST to `endpoint`: `https` to a host name or a public address, or
/// the one `http` origin the operator allowed.
pub fn check_endpoint(endpoint: &str, insecure_origin: Option<&str>) -> Result<(), String> {
    let refuse = |why: &str| Err(format!("Push endpoint refused: {why}"));
    if endpoint.len() > 1024 {
        return refuse("too long");
    }
    let Ok(url) = url::Url::parse(endpoint) else {
        return refuse("not a URL");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("credentials in the URL");
    }
    let origin = url.origin().ascii_serialization();
    if url.scheme() == "http" && insecure_origin.is_some_and(|o| o.trim_end_matches('/') == origin)
    {
        return Ok(());
    }
    if url.scheme() != "https" {
        return refuse("push services use https");
    }
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") || !name.contains('.') {
                return refuse("not a public host");
            }
        }
        Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => {
            return refuse("a private address")
        }
        Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => {
            return refuse("a private address")
        }
        Some(_) => {}
        None => return refuse("no host"),
    }
    Ok(())
}

/// Whether an address is reachable on the public internet (not loopback, private, link-local,
/// unique-local, shared, documentation or unspecified).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            };
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            // Forms that carry an IPv4 address: IPv4-compatible, NAT64, 6to4.
            if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
                return embedded(s[6], s[7]);
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
            {
                return embedded(s[6], s[7]);
            }
            if s[0] == 0x2002 {
                return embedded(s[1], s[2]);
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0)
        }
    }
}

/// TLS for push services: the Mozilla roots, the same crypto provider as the rest.
fn tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("the provider supports the default versions")
    .with_root_certificates(roots)
    .with_no_client_auth()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_that_reach_inside_are_refused() {
        let ok = |e: &str| check_endpoint(e, None).is_ok();
        assert!(ok("https://fcm.googleapis.com/fcm/send/abc"));
        assert!(ok("https://updates.push.services.mozilla.com/wpush/v2/x"));
        assert!(ok("https://8.8.8.8/push"));
        for bad in [
            "http://push.example.com/x",
            "https://localhost/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://192.168.0.1/x",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[::127.0.0.1]/x",
            "https://[64:ff9b::10.0.0.1]/x",
            "https://[2002:c0a8:0101::1]/x",
            "https://[fec0::1]/x",
            "https://0.1.2.3/x",
            "https://198.18.0.1/x",
            "https://240.0.0.1/x",
            "https://2130706433/x",
            "https://0x7f.1/x",
            "https://intranet/x",
            "https://user:pw@push.example.com/x",
            "ftp://push.example.com/x",
            "not a url",
        ] {
            assert!(!ok(bad), "{bad}");
        }
        let local = Some("http://127.0.0.1:9999");
        assert!(check_endpoint("http://127.0.0.1:9999/p/1", local).is_ok());
        assert!(check_endpoint("http://127.0.0.1:9998/p/1", local).is_err());
    }

    #[test]
    fn the_key_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("podium-push-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = Push::load_or_create(&dir, PushSettings::default()).unwrap();
        let again = Push::load_or_create(&dir, PushSettings::default()).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(
            URL_SAFE_NO_PAD.decode(first.public_key()).unwrap().len(),
            65
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_follower_is_pushed_about_someone_once_per_cooldown() {
        let dir = std::env::temp_dir().join(format!("podium-push-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let push = Push::load_or_create(&dir, PushSettings::default()).unwrap();
        let t = Instant::now();
        assert!(push.due("ben", "ava", t));
        assert!(!push.due("ben", "ava", t + Duration::from_secs(60)));
        assert!(push.due("cy", "ava", t), "another follower");
        assert!(push.due("ben", "dot", t), "another host");
        assert!(push.due("ben", "ava", t + COOLDOWN));
        // Bounded: past the cap the oldest pairs are forgotten.
        for i in 0..COOLDOWN_KEPT + 10 {
            push.due(&format!("f{i}"), "ava", t + COOLDOWN);
        }
        let recent = push.recent.lock().unwrap();
        assert!(recent.at.len() <= COOLDOWN_KEPT && recent.order.len() <= COOLDOWN_KEPT);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("podium-push-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let push = Push::load_or_create(&dir, PushSettings::default()).unwrap();
        let browser = ES256KeyPair::generate();
        let good = PushSubscription {
            endpoint: "https://push.example.com/x".into(),
            p256dh: URL_SAFE_NO_PAD
                .encode(browser.public_key().public_key().to_bytes_uncompressed()),
            auth: URL_SAFE_NO_PAD.encode([7u8; 16]),
        };
        assert!(push.check(&good).is_ok());
        let request = push.request(&good, b"{}".to_vec()).unwrap();
        assert_eq!(request.headers()["content-encoding"], "aes128gcm");
        assert!(request.headers()["authorization"]
            .to_str()
            .unwrap()
            .starts_with("vapid t="));
        for bad in [
            PushSubscription {
                auth: URL_SAFE_NO_PAD.encode([7u8; 15]),
                ..good.clone()
            },
            PushSubscription {
                p256dh: URL_SAFE_NO_PAD.encode([4u8; 65]),
                ..good.clone()
            },
            PushSubscription {
                p256dh: "!!".into(),
                ..good.clone()
            },
        ] {
            assert!(push.check(&bad).is_err());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
