//! A Janus VideoRoom client over Janus's plain HTTP REST API, for side-by-side benchmarks.
//!
//! One [`JanusClient`] is one Janus session. Every publisher or subscriber peer connection
//! is a handle (`attach`) of that session, and one long-poll task (`GET /janus/SID?maxev=N`)
//! carries the events of all of them. It also keeps the session alive (Janus drops a
//! session 60 s after its last request).
//!
//! Events are routed by `transaction` first: Janus tags the plugin's asynchronous reply
//! (`joined`, `attached`, `started`, errors) with the transaction of the message it answers,
//! so several requests may be in flight on one handle. Events without a pending
//! transaction (`webrtcup`, `media`, `slowlink`, `hangup`, `detached`, unsolicited
//! VideoRoom events) go to the handle named by `sender`; see [`JanusHandle::next_event`].
//! The waiter is registered before the POST: the event can arrive before the HTTP ack.
//!
//! Janus answers a publisher's offer, and offers to a subscriber: the subscriber answers
//! with [`JanusClient::start`]. Candidates are inline (half-trickle), so no `trickle`
//! messages are needed; the offers sent to Janus must carry their candidates too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// The VideoRoom plugin's package name.
pub const VIDEOROOM: &str = "janus.plugin.videoroom";
/// Events per long-poll reply.
const MAXEV: usize = 64;
/// How long a request waits for its asynchronous event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
/// Timeout of one POST.
const POST_TIMEOUT: Duration = Duration::from_secs(20);
/// Janus holds a long-poll for up to 30 s.
const POLL_TIMEOUT: Duration = Duration::from_secs(45);
/// At most this many POSTs in flight per client (bounds the connection pool).
const MAX_IN_FLIGHT: usize = 64;
/// VideoRoom's "room already exists".
const ERR_ROOM_EXISTS: i64 = 427;
/// Janus core's "no such session".
const ERR_SESSION_NOT_FOUND: i64 = 458;

/// One Janus session shared by many handles. Cheap to clone.
#[derive(Clone)]
pub struct JanusClient {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// A handle for synchronous room requests (create, destroy, listparticipants).
    control: u64,
    poll: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.poll.abort();
    }
}

struct Shared {
    http: reqwest::Client,
    /// "http://127.0.0.1:PORT/janus/SID".
    session_url: String,
    session: u64,
    next_tx: AtomicU64,
    permits: Semaphore,
    /// Requests waiting for their asynchronous event, by transaction.
    waiters: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// Other events, by handle id.
    handles: Mutex<HashMap<u64, mpsc::UnboundedSender<Value>>>,
    /// Why the long-poll loop ended, once it has.
    dead: Mutex<Option<String>>,
}

/// One Janus handle (one peer connection), with its unsolicited events.
pub struct JanusHandle {
    pub id: u64,
    events: mpsc::UnboundedReceiver<Value>,
}

impl std::fmt::Debug for JanusHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JanusHandle").field("id", &self.id).finish()
    }
}

impl JanusHandle {
    /// The next event for this handle that answered no request (`webrtcup`, `media`,
    /// `slowlink`, `hangup`, `detached`, VideoRoom notifications), if one comes within
    /// `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        tokio::time::timeout(timeout, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    /// An already received event, if any.
    pub fn try_event(&mut self) -> Option<Value> {
        self.events.try_recv().ok()
    }

    /// Waits for the event `janus == kind` (e.g. "webrtcup"), skipping others; fails on
    /// `hangup`/`detached` or after `timeout`.
    pub async fn wait_for(&mut self, kind: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| anyhow!("janus handle {}: no {kind:?} within {timeout:?}", self.id))?
                .ok_or_else(|| anyhow!("janus handle {}: session gone", self.id))?;
            let janus = ev["janus"].as_str().unwrap_or("");
            if janus == kind {
                return Ok(ev);
            }
            if janus == "hangup" || janus == "detached" {
                bail!(
                    "janus handle {}: {janus} ({}) while waiting for {kind:?}",
                    self.id,
                    ev["reason"].as_str().unwrap_or("no reason")
                );
            }
        }
    }
}

impl JanusClient {
    /// Creates a session at `http_base` ("http://127.0.0.1:8088/janus") and starts its
    /// long-poll loop.
    pub async fn connect(http_base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        let base = http_base.trim_end_matches('/').to_owned();
        let reply = post_json(
            &http,
            &base,
            json!({"janus": "create", "transaction": "c0"}),
        )
        .await
        .with_context(|| format!("janus: creating a session at {base}"))?;
        let session = data_id(&reply).context("janus: create")?;
        let shared = Arc::new(Shared {
            http,
            session_url: format!("{base}/{session}"),
            session,
            next_tx: AtomicU64::new(1),
            permits: Semaphore::new(MAX_IN_FLIGHT),
            waiters: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            dead: Mutex::new(None),
        });
        let poll = tokio::spawn(poll_loop(shared.clone()));
        let control = match shared.attach().await {
            Ok(h) => h.id,
            Err(e) => {
                poll.abort();
                return Err(e.context("janus: attaching the control handle"));
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                control,
                poll,
            }),
        })
    }

    /// The Janus session id.
    pub fn session_id(&self) -> u64 {
        self.inner.shared.session
    }

    /// Creates VideoRoom `room` (Opus + VP8, `bitrate` as the publishers' REMB cap in
    /// bit/s, 0 = none). An existing room of that id is destroyed and created again, so
    /// the settings always apply. `audio_only` rooms get no video settings (no bitrate
    /// cap, no periodic FIR): VideoRoom has no audio-only mode, publishers simply offer no
    /// video.
    pub async fn create_room(
        &self,
        room: u64,
        publishers: u32,
        bitrate: u32,
        audio_only: bool,
    ) -> anyhow::Result<()> {
        let mut body = json!({
            "request": "create",
            "room": room,
            "description": format!("podium-loadtest {room}"),
            "publishers": publishers,
            "audiocodec": "opus",
            "videocodec": "vp8",
            "notify_joining": false,
            "audiolevel_event": false,
        });
        if !audio_only {
            body["bitrate"] = json!(bitrate);
            body["fir_freq"] = json!(10);
        }
        let control = self.inner.control;
        let shared = &self.inner.shared;
        let created = match shared.request_sync(control, body.clone()).await {
            Err(e) if plugin_error_code(&e) == Some(ERR_ROOM_EXISTS) => {
                self.destroy_room(room).await?;
                shared.request_sync(control, body).await
            }
            other => other,
        };
        created.with_context(|| format!("janus: creating room {room}"))?;
        Ok(())
    }

    /// Destroys VideoRoom `room`.
    pub async fn destroy_room(&self, room: u64) -> anyhow::Result<()> {
        let body = json!({"request": "destroy", "room": room});
        self.inner
            .shared
            .request_sync(self.inner.control, body)
            .await
            .with_context(|| format!("janus: destroying room {room}"))?;
        Ok(())
    }

    /// The ids of the room's current publishers.
    pub async fn publishers(&self, room: u64) -> anyhow::Result<Vec<u64>> {
        let body = json!({"request": "listparticipants", "room": room});
        let data = self
            .inner
            .shared
            .request_sync(self.inner.control, body)
            .await?;
        Ok(data["participants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["publisher"].as_bool().unwrap_or(false))
            .filter_map(|p| p["id"].as_u64())
            .collect())
    }

    /// Attaches a handle and joins `room` as a publisher with `offer_sdp` (candidates
    /// inline); returns the handle, the feed id and Janus's answer.
    pub async fn publish(
        &self,
        room: u64,
        display: &str,
        offer_sdp: &str,
    ) -> anyhow::Result<(JanusHandle, u64, String)> {
        let shared = &self.inner.shared;
        let handle = shared.attach().await.context("janus: attach (publisher)")?;
        let body = json!({
            "request": "joinandconfigure",
            "room": room,
            "ptype": "publisher",
            "display": display,
        });
        let jsep = json!({"type": "offer", "sdp": offer_sdp});
        let result = async {
            let (data, jsep) = shared.request_async(handle.id, body, Some(jsep)).await?;
            if data["videoroom"] != "joined" {
                bail!("expected videoroom \"joined\", got {data}");
            }
            let feed = data["id"]
                .as_u64()
                .ok_or_else(|| anyhow!("joined without a numeric id: {data}"))?;
            let answer = jsep_sdp(jsep.as_ref(), "answer")?;
            Ok((feed, answer))
        }
        .await;
        match result {
            Ok((feed, answer)) => Ok((handle, feed, answer)),
            Err(e) => {
                let _ = shared.detach(handle.id).await;
                Err(e.context(format!("janus: publishing {display:?} in room {room}")))
            }
        }
    }

    /// Attaches a handle and joins `room` as a subscriber of `feeds` (all in one peer
    /// connection: one audio and one video m-line per feed, as published); returns the
    /// handle and Janus's offer. Answer it with [`start`](Self::start).
    pub async fn subscribe(
        &self,
        room: u64,
        feeds: &[u64],
    ) -> anyhow::Result<(JanusHandle, String)> {
        let shared = &self.inner.shared;
        let handle = shared
            .attach()
            .await
            .context("janus: attach (subscriber)")?;
        let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
        let body = json!({
            "request": "join",
            "room": room,
            "ptype": "subscriber",
            "streams": streams,
        });
        let result = async {
            let (data, jsep) = shared.request_async(handle.id, body, None).await?;
            if data["videoroom"] != "attached" {
                bail!("expected videoroom \"attached\", got {data}");
            }
            jsep_sdp(jsep.as_ref(), "offer")
        }
        .await;
        match result {
            Ok(offer) => Ok((handle, offer)),
            Err(e) => {
                let _ = shared.detach(handle.id).await;
                Err(e.context(format!("janus: subscribing to {feeds:?} in room {room}")))
            }
        }
    }

    /// Sends the subscriber's answer (`start`) and waits for `started`.
    pub async fn start(&self, handle: &JanusHandle, answer_sdp: &str) -> anyhow::Result<()> {
        let jsep = json!({"type": "answer", "sdp": answer_sdp});
        let (data, _) = self
            .inner
            .shared
            .request_async(handle.id, json!({"request": "start"}), Some(jsep))
            .await
            .with_context(|| format!("janus: start on handle {}", handle.id))?;
        if data["started"] != "ok" {
            bail!(
                "janus: start on handle {}: expected started ok, got {data}",
                handle.id
            );
        }
        Ok(())
    }

    /// Detaches the handle (closes its peer connection in Janus).
    pub async fn detach(&self, handle: JanusHandle) -> anyhow::Result<()> {
        self.inner.shared.detach(handle.id).await
    }

    /// Destroys the session (and with it every handle) and stops the long-poll loop.
    pub async fn destroy(&self) -> anyhow::Result<()> {
        let shared = &self.inner.shared;
        let r = shared
            .post(&shared.session_url, json!({"janus": "destroy"}))
            .await
            .context("janus: destroying the session");
        self.inner.poll.abort();
        r.map(|_| ())
    }
}

impl Shared {
    fn transaction(&self) -> String {
        format!("t{}", self.next_tx.fetch_add(1, Ordering::Relaxed))
    }

    /// POSTs `body` plus a transaction; fails on `janus: "error"`.
    async fn post(&self, url: &str, mut body: Value) -> anyhow::Result<Value> {
        if body.get("transaction").is_none() {
            body["transaction"] = json!(self.transaction());
        }
        let _permit = self.permits.acquire().await?;
        post_json(&self.http, url, body).await
    }

    async fn attach(&self) -> anyhow::Result<JanusHandle> {
        let body = json!({"janus": "attach", "plugin": VIDEOROOM});
        let reply = self.post(&self.session_url, body).await?;
        let id = data_id(&reply)?;
        let (tx, events) = mpsc::unbounded_channel();
        lock(&self.handles).insert(id, tx);
        Ok(JanusHandle { id, events })
    }

    async fn detach(&self, id: u64) -> anyhow::Result<()> {
        let url = format!("{}/{id}", self.session_url);
        let r = self.post(&url, json!({"janus": "detach"})).await;
        lock(&self.handles).remove(&id);
        r.with_context(|| format!("janus: detaching handle {id}"))?;
        Ok(())
    }

    /// A plugin request answered in the HTTP reply (`success` + plugindata); returns the
    /// plugin's data, or its `error_code`/`error` as an error.
    async fn request_sync(&self, handle: u64, body: Value) -> anyhow::Result<Value> {
        let url = format!("{}/{handle}", self.session_url);
        let reply = self
            .post(&url, json!({"janus": "message", "body": body}))
            .await?;
        if reply["janus"] != "success" {
            bail!("janus: expected a synchronous reply, got {reply}");
        }
        plugin_data(&reply)
    }

    /// A plugin request answered by an event: registers the waiter, POSTs, waits.
    /// Returns the plugin's data and the event's jsep.
    async fn request_async(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<(Value, Option<Value>)> {
        if let Some(why) = lock(&self.dead).clone() {
            bail!("janus: the session's event loop has ended: {why}");
        }
        let transaction = self.transaction();
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).insert(transaction.clone(), tx);
        let mut msg = json!({"janus": "message", "body": body, "transaction": transaction});
        if let Some(j) = jsep {
            msg["jsep"] = j;
        }
        let url = format!("{}/{handle}", self.session_url);
        let reply = match self.post(&url, msg).await {
            Ok(r) => r,
            Err(e) => {
                lock(&self.waiters).remove(&transaction);
                return Err(e);
            }
        };
        let event = if reply["janus"] == "ack" {
            match tokio::time::timeout(EVENT_TIMEOUT, rx).await {
                Ok(Ok(ev)) => ev,
                Ok(Err(_)) => {
                    let why = lock(&self.dead).clone().unwrap_or_default();
                    bail!("janus: event loop ended before the reply to {transaction}: {why}");
                }
                Err(_) => {
                    lock(&self.waiters).remove(&transaction);
                    bail!("janus: no event for handle {handle} within {EVENT_TIMEOUT:?}");
                }
            }
        } else {
            // Answered synchronously (or an unexpected reply): no event will come.
            lock(&self.waiters).remove(&transaction);
            reply
        };
        if event["janus"] == "error" {
            bail!(core_error(&event));
        }
        let data = plugin_data(&event)?;
        Ok((data, event.get("jsep").cloned()))
    }

    /// Hands one long-poll event to its waiter or handle.
    fn route(&self, ev: Value) {
        if ev["janus"] == "keepalive" {
            return;
        }
        if let Some(t) = ev["transaction"].as_str() {
            if let Some(w) = lock(&self.waiters).remove(t) {
                let _ = w.send(ev);
                return;
            }
        }
        let Some(sender) = ev["sender"].as_u64() else {
            return;
        };
        let mut handles = lock(&self.handles);
        if ev["janus"] == "detached" {
            if let Some(tx) = handles.remove(&sender) {
                let _ = tx.send(ev);
            }
        } else if let Some(tx) = handles.get(&sender) {
            let _ = tx.send(ev);
        }
    }

    /// Ends the loop: records why and fails every waiter.
    fn die(&self, why: String) {
        tracing::warn!(session = self.session, "janus long-poll ended: {why}");
        *lock(&self.dead) = Some(why);
        lock(&self.waiters).clear();
        lock(&self.handles).clear();
    }
}

/// The long-poll loop: `GET /janus/SID?maxev=N`, route, repeat.
async fn poll_loop(shared: Arc<Shared>) {
    let url = format!("{}?maxev={MAXEV}", shared.session_url);
    let mut failures = 0u32;
    loop {
        let reply = async {
            let resp = shared.http.get(&url).timeout(POLL_TIMEOUT).send().await?;
            let status = resp.status();
            let text = resp.text().await?;
            serde_json::from_str::<Value>(&text)
                .with_context(|| format!("HTTP {status}, not JSON: {text:.200}"))
        }
        .await;
        match reply {
            Ok(Value::Array(events)) => {
                failures = 0;
                for ev in events {
                    shared.route(ev);
                }
            }
            Ok(ev) if ev["janus"] == "error" => {
                if ev["error"]["code"].as_i64() == Some(ERR_SESSION_NOT_FOUND) {
                    shared.die(core_error(&ev));
                    return;
                }
                failures += 1;
                tracing::warn!("janus long-poll: {}", core_error(&ev));
            }
            Ok(ev) => {
                failures = 0;
                shared.route(ev);
            }
            Err(e) => {
                failures += 1;
                tracing::warn!("janus long-poll failed ({failures}): {e:#}");
            }
        }
        if failures >= 5 {
            shared.die(format!("{failures} long-poll failures in a row"));
            return;
        }
        if failures > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// POSTs JSON and parses the reply; fails on `janus: "error"`.
async fn post_json(http: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let resp = http
        .post(url)
        .timeout(POST_TIMEOUT)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let text = resp.text().await.with_context(|| format!("POST {url}"))?;
    let reply: Value = serde_json::from_str(&text)
        .with_context(|| format!("POST {url}: HTTP {status}, not JSON: {text:.300}"))?;
    if reply["janus"] == "error" {
        bail!(core_error(&reply));
    }
    Ok(reply)
}

/// "janus error CODE: REASON".
fn core_error(reply: &Value) -> String {
    format!(
        "janus error {}: {}",
        reply["error"]["code"],
        reply["error"]["reason"].as_str().unwrap_or("(no reason)")
    )
}

/// The `data.id` of a create/attach reply.
fn data_id(reply: &Value) -> anyhow::Result<u64> {
    reply["data"]["id"]
        .as_u64()
        .ok_or_else(|| anyhow!("janus: expected data.id in {reply}"))
}

/// A plugin error, kept typed so callers can react to its code.
#[derive(Debug)]
pub struct PluginError {
    pub code: i64,
    pub message: String,
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "videoroom error {}: {}", self.code, self.message)
    }
}

impl std::error::Error for PluginError {}

fn plugin_error_code(e: &anyhow::Error) -> Option<i64> {
    e.downcast_ref::<PluginError>().map(|p| p.code)
}

/// `plugindata.data` of a reply or event; a VideoRoom `error_code` becomes a
/// [`PluginError`].
fn plugin_data(reply: &Value) -> anyhow::Result<Value> {
    let data = reply["plugindata"]["data"].clone();
    if data.is_null() {
        bail!("janus: no plugindata in {reply}");
    }
    if let Some(code) = data["error_code"].as_i64() {
        return Err(PluginError {
            code,
            message: data["error"].as_str().unwrap_or("(no text)").to_owned(),
        }
        .into());
    }
    Ok(data)
}

/// The SDP of a jsep of the expected type.
fn jsep_sdp(jsep: Option<&Value>, kind: &str) -> anyhow::Result<String> {
    let jsep = jsep.ok_or_else(|| anyhow!("janus: the event carries no jsep ({kind} expected)"))?;
    if jsep["type"] != kind {
        bail!("janus: expected a jsep {kind}, got {}", jsep["type"]);
    }
    jsep["sdp"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("janus: jsep without sdp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_errors_keep_their_code() {
        let ev = json!({"janus": "event", "plugindata": {"plugin": VIDEOROOM,
            "data": {"videoroom": "event", "error_code": 427, "error": "Room 1 already exists"}}});
        let e = plugin_data(&ev).unwrap_err();
        assert_eq!(plugin_error_code(&e), Some(427));
        assert_eq!(e.to_string(), "videoroom error 427: Room 1 already exists");
        let e = e.context("janus: creating room 1");
        assert_eq!(plugin_error_code(&e), Some(427));
    }

    #[test]
    fn core_errors_read_well() {
        let r = json!({"janus": "error", "error": {"code": 458, "reason": "No such session 1"}});
        assert_eq!(core_error(&r), "janus error 458: No such session 1");
    }

    #[test]
    fn jsep_type_is_checked() {
        let j = json!({"type": "offer", "sdp": "v=0"});
        assert_eq!(jsep_sdp(Some(&j), "offer").unwrap(), "v=0");
        assert!(jsep_sdp(Some(&j), "answer").is_err());
        assert!(jsep_sdp(None, "answer").is_err());
    }
}
