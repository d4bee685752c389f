//! Podium's server shell: binds the sockets, runs the media worker and serves HTTP
//! (Director API, WebSocket signaling, WHIP/WHEP, web app) and RTMP ingest. All media and protocol logic
//! lives in the sans-IO crates; this crate only moves bytes and reads the clock.

pub mod account;
pub mod admin;
pub mod cluster;
pub mod config;
pub mod director;
pub mod http_server;
pub mod media_handle;
mod media_loop;
pub mod metrics;
pub mod policy;
pub mod push;
pub mod recordings;
pub mod replays;
pub mod rooms_server;
pub mod rtmp;
pub mod secrets;
pub mod signal;
pub mod state;
pub mod stats;
pub mod udp;
pub mod viewer_requests;
pub mod web;
pub mod whip;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::http::{header, Method};
use axum::routing::{get, post};
use axum::Router;
use podium_auth::JwtKeys;
use tokio::net::TcpListener;
use tower_http::cors::{Any, CorsLayer};

pub use config::{Config, ServeArgs};
use state::AppState;

/// Largest request body of the Director and admin APIs (their JSON is a few hundred bytes).
const API_BODY_LIMIT: usize = 64 * 1024;

/// A Director or admin request, body included, may take this many connection timeouts.
const API_TIMEOUT_FACTOR: u32 = 3;

/// File of the API token database in the data directory.
pub const TOKEN_DB_FILE: &str = "podium.db";

/// The HTTP routes; `/metrics` among them unless it has a listener of its own.
pub fn app(state: AppState, with_metrics: bool, rooms: rooms_server::RoomsSettings) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    // The Director is called from other origins (apps using the Millicast SDKs); the admin
    // API is not, so it gets no CORS: a page elsewhere cannot script it from a browser.
    let director = Router::new()
        .route("/api/director/publish", post(director::publish))
        .route("/api/director/subscribe", post(director::subscribe))
        .route("/api/{*rest}", axum::routing::any(director::not_found))
        .layer(cors);
    let api = Router::new()
        .merge(director)
        .merge(admin::routes())
        .merge(cluster::admin::routes())
        .merge(recordings::admin::routes())
        .merge(account::routes())
        .merge(whip::routes())
        .layer(axum::extract::DefaultBodyLimit::max(API_BODY_LIMIT))
        // A body sent a byte at a time must not hold a connection for ever.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.connection_timeout * API_TIMEOUT_FACTOR,
        ));
    let mut router = Router::new()
        .merge(api)
        .route("/ws/v2/pub", get(signal::publisher))
        .route("/ws/v2/sub", get(signal::subscriber))
        .route("/healthz", get(metrics::healthz));
    if with_metrics {
        router = router.route("/metrics", get(metrics::metrics));
    }
    let router = router
        .route("/", get(web::index))
        .route("/{file}", get(web::asset))
        .fallback(web::not_found)
        .layer(rooms_server::layer(state.clone(), rooms))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cluster::csp_for_nodes,
        ));
    web::with_security_headers(router).with_state(state)
}

/// A started server.
pub struct Running {
    /// Where HTTP listens.
    pub http_addr: SocketAddr,
    /// Where the first media worker's socket listens.
    pub udp_addr: SocketAddr,
    /// Where `/metrics` listens, when it has a listener of its own.
    pub metrics_addr: Option<SocketAddr>,
    /// Every media worker's socket, in worker order.
    pub udp_addrs: Vec<SocketAddr>,
    /// Where RTMP ingest listens, if it does.
    pub rtmp_addr: Option<SocketAddr>,
    /// The publish token in effect.
    pub publish_token: String,
    /// True when the token was generated on this start.
    pub publish_token_generated: bool,
    /// The admin API secret in effect.
    pub admin_secret: String,
    /// True when the admin secret was generated on this start.
    pub admin_secret_generated: bool,
    /// Resolves when the server has stopped.
    pub done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Binds everything and starts serving until `shutdown` resolves.
pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let secrets = secrets::load_or_create(
        &config.data_dir,
        config.publish_token.clone(),
        config.admin_secret.clone(),
        state::unix_now(),
    )?;
    let store = podium_tokens::TokenStore::open(config.data_dir.join(TOKEN_DB_FILE)).with_context(
        || {
            format!(
                "opening the token database in {}",
                config.data_dir.display()
            )
        },
    )?;
    // A node of a cluster signs with the cluster's keys, so every node accepts its JWTs, and
    // reads the cluster's API tokens.
    let joined = match &config.cluster {
        Some(settings) => Some(
            cluster::join(
                settings.clone(),
                &config.data_dir,
                secrets.key_ring.clone(),
                store.export().context("reading this node's API tokens")?,
            )
            .await?,
        ),
        None => None,
    };
    let store: Arc<dyn podium_tokens::Tokens> = match &joined {
        Some(joined) => joined.tokens(),
        None => Arc::new(store),
    };
    let ring = joined.as_ref().map_or(&secrets.key_ring, |j| j.key_ring());
    let keys =
        JwtKeys::new(ring, config.key_grace).map_err(|e| anyhow::anyhow!("signing keys: {e}"))?;
    let keys = Arc::new(std::sync::RwLock::new(Arc::new(keys)));
    let (recordings, recording_tap) =
        recordings::Recordings::start(&config.data_dir).context("starting the recorder")?;
    let sockets = bind_media_sockets(config.udp_addr, config.media_workers)?;
    let udp_addrs = sockets
        .iter()
        .map(std::net::UdpSocket::local_addr)
        .collect::<std::io::Result<Vec<_>>>()?;
    let udp_addr = udp_addrs[0];
    let listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding HTTP {}", config.http_addr))?;
    let http_addr = listener.local_addr()?;
    let rtmp_listener = bind_rtmp(config.rtmp_addr).await?;
    let rtmp_addr = rtmp_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let specs = sockets
        .into_iter()
        .zip(&udp_addrs)
        .map(|(socket, local)| {
            // Each worker's candidate is its own port: its core only sees its own socket.
            let candidate_addr = SocketAddr::new(config.public_ip, local.port());
            let mut sfu_config = podium_media::SfuConfig::new(candidate_addr);
            sfu_config.max_viewers_per_stream = config.max_viewers_per_stream;
            sfu_config.max_sources_per_stream = config.max_sources_per_stream;
            media_handle::WorkerSpec {
                socket,
                config: sfu_config,
                recording: Some(recording_tap.clone()),
            }
        })
        .collect();
    let (media, media_join) =
        media_handle::spawn(specs, config.spread_viewers_from, stop_rx.clone()).await?;
    let access = policy::access::Access::new(
        store,
        secrets.publish_token.clone(),
        config.private_streams.clone(),
        (
            policy::access::RateLimits {
                per_ip: config.rate_per_ip,
                per_token: config.rate_per_token,
                global: config.rate_global,
            },
            std::time::Instant::now(),
        ),
        policy::forwarded::Forwarding::new(
            config.trusted_proxies.clone(),
            config.public_url.as_deref(),
        )?,
    );
    let fd_limit = raise_open_files_limit();
    let admission = policy::connections::Admission::new(policy::connections::ConnectionLimits {
        per_client: config.max_connections_per_ip,
        total: config
            .max_connections
            .unwrap_or_else(|| connections_for(fd_limit)),
        exempt: config.trusted_proxies.clone(),
    });
    let account_store =
        podium_accounts::AccountStore::open(config.data_dir.join(account::ACCOUNTS_DB_FILE))
            .context("opening the accounts database")?;
    let push = push::Push::load_or_create(&config.data_dir, config.push.clone())
        .context("loading the Web Push key")?;
    let stores = account::Stores::sqlite(Arc::new(account_store));
    let replays = Arc::new(replays::RoomRecorder::new(stores.replays.clone()));
    let accounts = Arc::new(account::AccountService::new(
        stores,
        Arc::new(push),
        std::time::Instant::now(),
    ));
    let sessions = Arc::new(policy::sessions::Sessions::default());
    let cluster = match joined {
        Some(joined) => Some(
            cluster::Cluster::start(
                joined,
                http_addr,
                media.clone(),
                sessions.clone(),
                keys.clone(),
                config.data_dir.clone(),
                stop_rx.clone(),
            )
            .await?,
        ),
        None => None,
    };
    let state = AppState {
        accounts: accounts.clone(),
        replays,
        cluster,
        snapshots: Arc::default(),
        metrics_auth: config.metrics_auth,
        rooms_overflow: Arc::default(),
        connections: admission.clone(),
        pending_limits: policy::sessions::PendingLimits {
            per_token: config.max_pending_per_token,
            per_ip: config.max_pending_per_ip,
        },
        connection_timeout: config.connection_timeout,
        keys: keys.clone(),
        access: Arc::new(access),
        sessions,
        whip: Arc::default(),
        rtmp: Arc::default(),
        recordings: recordings.clone(),
        admin_secret: Arc::from(secrets.admin_secret.as_str()),
        admin_guard: Arc::default(),
        revoke_ends_sessions: config.revoke_ends_sessions,
        account_id: config.account_id.clone(),
        jwt_ttl: config.jwt_ttl,
        http_addr,
        media,
        shutdown: stop_rx.clone(),
    };
    let access = state.access.clone();
    tokio::spawn(every(FORGET_IDLE_EVERY, stop_rx.clone(), move || {
        access.forget_idle(std::time::Instant::now());
        accounts.forget_idle(std::time::Instant::now());
    }));
    tokio::spawn(reload_keys_on_change(
        config.data_dir.clone(),
        config.key_grace,
        keys,
        stop_rx.clone(),
    ));
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener {addr}"))?,
        ),
        None => None,
    };
    let metrics_addr = metrics_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;
    if let Some(l) = metrics_listener {
        let router = Router::new()
            .route("/metrics", get(metrics::metrics))
            .route("/healthz", get(metrics::healthz))
            .with_state(state.clone());
        let limits = policy::connections::ConnectionLimits {
            per_client: None,
            total: 64,
            exempt: vec![],
        };
        tokio::spawn(http_server::serve(
            l,
            router,
            policy::connections::Admission::new(limits),
            config.connection_timeout,
            stop_rx.clone(),
        ));
    }
    if let Some(l) = rtmp_listener {
        tokio::spawn(rtmp::serve(l, state.clone(), stop_rx.clone()));
    }
    let replays = state.replays.clone();
    let server = http_server::serve(
        listener,
        app(state, metrics_addr.is_none(), config.rooms),
        admission,
        config.connection_timeout,
        stop_rx,
    );
    let done = tokio::spawn(async move {
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        // The media worker stops first and closes every peer, which closes the WebSockets,
        // so the HTTP server's graceful shutdown does not wait on live connections.
        let http = tokio::spawn(server);
        media_join.wait().await?;
        // The workers closed every publication: their recordings' ends are in the queue.
        recordings.shutdown().await;
        // Their files are complete: the replays being recorded end with them.
        replays.shutdown().await;
        http.await.context("http server panicked")?;
        Ok(())
    });
    Ok(Running {
        http_addr,
        udp_addr,
        metrics_addr,
        udp_addrs,
        rtmp_addr,
        publish_token: secrets.publish_token,
        publish_token_generated: secrets.publish_token_generated,
        admin_secret: secrets.admin_secret,
        admin_secret_generated: secrets.admin_secret_generated,
        done,
    })
}

/// The RTMP listener: none when off; the default port only if it is free (another RTMP
/// server there turns Podium's off with a warning); an explicit address must bind.
async fn bind_rtmp(addr: config::RtmpAddr) -> anyhow::Result<Option<TcpListener>> {
    match addr {
        config::RtmpAddr::Off => Ok(None),
        config::RtmpAddr::At(a) => TcpListener::bind(a)
            .await
            .map(Some)
            .with_context(|| format!("binding RTMP {a}")),
        config::RtmpAddr::Default => match TcpListener::bind(config::RtmpAddr::DEFAULT).await {
            Ok(l) => Ok(Some(l)),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "RTMP ingest is off: {} is taken (use --rtmp-addr to pick another)",
                    config::RtmpAddr::DEFAULT
                );
                Ok(None)
            }
        },
    }
}

/// Raises the soft limit of open files to the hard limit (the usual soft limit, 1024, is a
/// few hundred clients); returns the limit in effect, if known.
fn raise_open_files_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
        if soft < hard {
            match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                Ok(()) => return Some(hard),
                Err(e) => {
                    tracing::warn!(error = %e, soft, hard, "could not raise the open-files limit")
                }
            }
        }
        Some(soft)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The default cap on HTTP connections: the open-files limit less a reserve for everything
/// else the process opens (sockets of the media workers, the database, key files).
fn connections_for(fd_limit: Option<u64>) -> usize {
    const RESERVE: u64 = 256;
    let limit = fd_limit.unwrap_or(1024).min(1 << 20);
    usize::try_from(limit.saturating_sub(RESERVE).max(64)).unwrap_or(usize::MAX)
}

/// One socket per media worker: `addr`'s port, then the ports after it (port 0: any free
/// port for each).
fn bind_media_sockets(
    addr: SocketAddr,
    workers: usize,
) -> anyhow::Result<Vec<std::net::UdpSocket>> {
    (0..workers)
        .map(|i| {
            let mut a = addr;
            if addr.port() != 0 {
                let port = u16::try_from(usize::from(addr.port()) + i)
                    .context("media worker port past 65535")?;
                a.set_port(port);
            }
            std::net::UdpSocket::bind(a)
                .with_context(|| format!("binding UDP {a} (media worker {i})"))
        })
        .collect()
}

/// How often rate limiters drop the state of callers that went quiet.
pub(crate) const FORGET_IDLE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `tick` every `period` until the server stops.
pub(crate) async fn every(
    period: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut tick: impl FnMut(),
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => tick(),
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Picks up `podium keys rotate` run while the server is up: the key ring file is checked
/// every two seconds and reloaded when it changed. A broken file is logged and ignored.
async fn reload_keys_on_change(
    dir: std::path::PathBuf,
    grace: u64,
    keys: Arc<std::sync::RwLock<Arc<JwtKeys>>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let path = secrets::key_ring_path(&dir);
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = modified(&path);
        if now == seen {
            continue;
        }
        seen = now;
        let loaded = secrets::read_key_ring(&dir)
            .and_then(|ring| JwtKeys::new(&ring, grace).map_err(|e| anyhow::anyhow!(e)));
        match loaded {
            Ok(new_keys) => {
                *keys
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(new_keys);
                tracing::info!("signing keys reloaded");
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "key ring not reloaded"),
        }
    }
}
