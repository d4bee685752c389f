//! `podium serve` settings: command-line flags, `PODIUM_*` environment variables and an
//! optional TOML file, in that order of precedence, over built-in defaults.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// Flags of `podium serve` (every one also readable from the environment).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// HTTP address for the Director API, WebSocket signaling and web app [default: 127.0.0.1:8080]
    #[arg(long, env = "PODIUM_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// UDP address of the first media worker's socket; worker N listens on the port + N
    /// (port 0: each picks a free one) [default: 127.0.0.1:5004]
    #[arg(long, env = "PODIUM_UDP_ADDR")]
    pub udp_addr: Option<SocketAddr>,
    /// Media worker threads, each with its own UDP socket; streams are spread over them
    /// [default: one per CPU core]
    #[arg(long, env = "PODIUM_MEDIA_WORKERS")]
    pub media_workers: Option<usize>,
    /// A stream's viewers join its home media worker until it has this many there, then
    /// spread over every worker (0: always spread) [default: 64]
    #[arg(long, env = "PODIUM_SPREAD_VIEWERS_FROM")]
    pub spread_viewers_from: Option<usize>,
    /// Address put in ICE candidates; defaults to the UDP address's IP (127.0.0.1 if unspecified)
    #[arg(long, env = "PODIUM_PUBLIC_IP")]
    pub public_ip: Option<IpAddr>,
    /// Directory for the signing key and the generated publish token [default: ./podium-data]
    #[arg(long, env = "PODIUM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// API token accepted for publishing to any stream; generated and stored if not given
    #[arg(long, env = "PODIUM_PUBLISH_TOKEN", hide_env_values = true)]
    pub publish_token: Option<String>,
    /// Account id reported to clients [default: podium]
    #[arg(long, env = "PODIUM_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Lifetime in seconds of the JWTs that open a signaling connection [default: 60]
    #[arg(long, env = "PODIUM_JWT_TTL")]
    pub jwt_ttl: Option<u64>,
    /// Secret of the admin API (Bearer); generated and stored if not given
    #[arg(long, env = "PODIUM_ADMIN_SECRET", hide_env_values = true)]
    pub admin_secret: Option<String>,
    /// Seconds a rotated-out signing key still verifies JWTs [default: 600]
    #[arg(long, env = "PODIUM_KEY_GRACE")]
    pub key_grace: Option<u64>,
    /// Stream-name patterns (`name`, `prefix-*`, `*`) that need a subscribe token to view;
    /// comma separated. Other streams are open, as in Millicast
    #[arg(long, env = "PODIUM_PRIVATE_STREAMS", value_delimiter = ',')]
    pub private_streams: Option<Vec<String>>,
    /// Director requests per second per client IP [default: 20]
    #[arg(long, env = "PODIUM_RATE_PER_IP")]
    pub rate_per_ip: Option<u32>,
    /// Director requests per second per API token [default: 50]
    #[arg(long, env = "PODIUM_RATE_PER_TOKEN")]
    pub rate_per_token: Option<u32>,
    /// Director requests per second from everyone together [default: 1000]
    #[arg(long, env = "PODIUM_RATE_GLOBAL")]
    pub rate_global: Option<u32>,
    /// Whether revoking an API token also ends the sessions it opened [default: true]
    #[arg(long, env = "PODIUM_REVOKE_ENDS_SESSIONS")]
    pub revoke_ends_sessions: Option<bool>,
    /// Most viewers of one stream (0 = no limit) [default: 0]
    #[arg(long, env = "PODIUM_MAX_VIEWERS_PER_STREAM")]
    pub max_viewers_per_stream: Option<usize>,
    /// Most media connections still being set up (ICE/DTLS not up) with one JWT [default: 4]
    #[arg(long, env = "PODIUM_MAX_PENDING_PER_TOKEN")]
    pub max_pending_per_token: Option<usize>,
    /// Most media connections still being set up from one client address [default: 32]
    #[arg(long, env = "PODIUM_MAX_PENDING_PER_IP")]
    pub max_pending_per_ip: Option<usize>,
    /// Most live sources of one stream (0 = no limit) [default: 0]
    #[arg(long, env = "PODIUM_MAX_SOURCES_PER_STREAM")]
    pub max_sources_per_stream: Option<usize>,
    /// Most open HTTP/WebSocket connections from one client address (IPv6: per /64);
    /// trusted proxies are exempt (0 = no limit) [default: 128]
    #[arg(long, env = "PODIUM_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Most open HTTP/WebSocket connections in all [default: from the open-files limit,
    /// leaving room for everything else]
    #[arg(long, env = "PODIUM_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a connection gets to send its request headers (and an idle keep-alive
    /// connection stays open), and a signaling WebSocket to send its first command
    /// [default: 10]
    #[arg(long, env = "PODIUM_CONNECTION_TIMEOUT")]
    pub connection_timeout: Option<u64>,
    /// Reverse proxies (addresses or CIDRs, comma separated) whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed; they are exempt from the per-address connection cap
    #[arg(long, env = "PODIUM_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    /// The URL clients reach this server at (e.g. `https://live.example.com`); the Director
    /// builds signaling URLs from it. Without it they follow the request's `Host` (and
    /// `X-Forwarded-Host`/`-Proto` from trusted proxies)
    #[arg(long, env = "PODIUM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Require the admin secret (`Authorization: Bearer`) on `/metrics` [default: false]
    #[arg(long, env = "PODIUM_METRICS_AUTH")]
    pub metrics_auth: Option<bool>,
    /// Serve `/metrics` on this address only (a private port for Prometheus) instead of
    /// the HTTP port
    #[arg(long, env = "PODIUM_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// RTMP ingest address (OBS, ffmpeg: `rtmp://HOST:PORT/live`), or `off`
    /// [default: 127.0.0.1:1935]
    #[arg(long, env = "PODIUM_RTMP_ADDR")]
    pub rtmp_addr: Option<RtmpAddr>,
    /// Rooms protocol commands per second per connection [default: 10]
    #[arg(long, env = "PODIUM_ROOMS_RATE_PER_USER")]
    pub rooms_rate_per_user: Option<u32>,
    /// Rooms protocol commands per second per client address [default: 100]
    #[arg(long, env = "PODIUM_ROOMS_RATE_PER_IP")]
    pub rooms_rate_per_ip: Option<u32>,
    /// Rooms one user may host at once [default: 3]
    #[arg(long, env = "PODIUM_ROOMS_PER_USER")]
    pub rooms_per_user: Option<usize>,
    /// Live rooms on the server [default: 10000]
    #[arg(long, env = "PODIUM_MAX_ROOMS")]
    pub max_rooms: Option<usize>,
    /// Join a cluster whose shared state is in this Redis (`redis://HOST:PORT[/DB]`,
    /// `redis+unix:///path`); without it this server is a cluster of one
    #[arg(long, env = "PODIUM_CLUSTER")]
    pub cluster: Option<String>,
    /// This node's name in the cluster (letters, digits, `-`, `_`, `.`) [default: the host name]
    #[arg(long, env = "PODIUM_NODE_NAME")]
    pub node_name: Option<String>,
    /// The HTTP/WebSocket URL clients reach this node at, for the Director of every node
    /// [default: from --public-url, else http://--http-addr]
    #[arg(long, env = "PODIUM_NODE_PUBLIC_URL")]
    pub node_public_url: Option<String>,
    /// Where other nodes send this node media and control (TCP and UDP, one port; a
    /// private address) [default: --http-addr's IP, port 7000]
    #[arg(long, env = "PODIUM_RELAY_ADDR")]
    pub relay_addr: Option<SocketAddr>,
    /// Viewers a stream's origin keeps before the Director sends them to edges (0: every
    /// viewer to an edge) [default: 500]
    #[arg(long, env = "PODIUM_ORIGIN_MAX_VIEWERS")]
    pub origin_max_viewers: Option<u32>,
    /// Viewers this node takes in all, for the Director's placement [default: 10000]
    #[arg(long, env = "PODIUM_NODE_MAX_VIEWERS")]
    pub node_max_viewers: Option<u32>,
    /// Seconds the clients of a draining node get to move (`migrate`) before they are
    /// disconnected [default: 30]
    #[arg(long, env = "PODIUM_DRAIN_GRACE")]
    pub drain_grace: Option<u64>,
    /// Web Push contact for push services (VAPID `sub`: `mailto:you@example.com` or an
    /// `https:` URL) [default: --public-url when it is https, else a placeholder]
    #[arg(long, env = "PODIUM_PUSH_CONTACT")]
    pub push_contact: Option<String>,
    /// One `http://host:port` origin Web Push endpoints may use besides public `https` ones (a
    /// local push server for tests; never a push service)
    #[arg(long, env = "PODIUM_PUSH_INSECURE_ORIGIN")]
    pub push_insecure_origin: Option<String>,
    /// TOML file with any of the settings above (snake_case keys)
    #[arg(long, env = "PODIUM_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Keys accepted in the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    http_addr: Option<SocketAddr>,
    udp_addr: Option<SocketAddr>,
    media_workers: Option<usize>,
    spread_viewers_from: Option<usize>,
    public_ip: Option<IpAddr>,
    data_dir: Option<PathBuf>,
    publish_token: Option<String>,
    account_id: Option<String>,
    jwt_ttl: Option<u64>,
    admin_secret: Option<String>,
    key_grace: Option<u64>,
    private_streams: Option<Vec<String>>,
    rate_per_ip: Option<u32>,
    rate_per_token: Option<u32>,
    rate_global: Option<u32>,
    revoke_ends_sessions: Option<bool>,
    max_viewers_per_stream: Option<usize>,
    max_sources_per_stream: Option<usize>,
    max_pending_per_token: Option<usize>,
    max_pending_per_ip: Option<usize>,
    max_connections_per_ip: Option<usize>,
    max_connections: Option<usize>,
    connection_timeout: Option<u64>,
    trusted_proxies: Option<Vec<String>>,
    metrics_auth: Option<bool>,
    metrics_addr: Option<SocketAddr>,
    rtmp_addr: Option<RtmpAddr>,
    public_url: Option<String>,
    rooms_rate_per_user: Option<u32>,
    rooms_rate_per_ip: Option<u32>,
    rooms_per_user: Option<usize>,
    max_rooms: Option<usize>,
    cluster: Option<String>,
    node_name: Option<String>,
    node_public_url: Option<String>,
    relay_addr: Option<SocketAddr>,
    origin_max_viewers: Option<u32>,
    node_max_viewers: Option<u32>,
    drain_grace: Option<u64>,
    push_contact: Option<String>,
    push_insecure_origin: Option<String>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address (port 0 picks a free one).
    pub http_addr: SocketAddr,
    /// UDP listen address of the first media worker (port 0 picks a free one per worker).
    pub udp_addr: SocketAddr,
    /// Media worker threads; worker N binds `udp_addr`'s port + N.
    pub media_workers: usize,
    /// Viewers a stream's home worker takes before they spread over every worker.
    pub spread_viewers_from: usize,
    /// IP advertised in ICE candidates.
    pub public_ip: IpAddr,
    /// Where persistent secrets live.
    pub data_dir: PathBuf,
    /// Bootstrap publish token, if configured (otherwise read or generated in `data_dir`).
    pub publish_token: Option<String>,
    /// Account id of every stream.
    pub account_id: String,
    /// JWT lifetime in seconds.
    pub jwt_ttl: u64,
    /// Admin API secret, if configured (otherwise read or generated in `data_dir`).
    pub admin_secret: Option<String>,
    /// Grace period of a rotated-out signing key, in seconds.
    pub key_grace: u64,
    /// Patterns of streams that need a subscribe token to view.
    pub private_streams: Vec<String>,
    /// Director rate limits.
    pub rate_per_ip: u32,
    /// Director rate limit per API token.
    pub rate_per_token: u32,
    /// Director rate limit for everyone together.
    pub rate_global: u32,
    /// Whether revoking an API token ends its sessions.
    pub revoke_ends_sessions: bool,
    /// Viewer cap per stream (`None` = unlimited).
    pub max_viewers_per_stream: Option<usize>,
    /// Source cap per stream (`None` = unlimited).
    pub max_sources_per_stream: Option<usize>,
    /// Pending media connections per JWT.
    pub max_pending_per_token: usize,
    /// Pending media connections per client address.
    pub max_pending_per_ip: usize,
    /// Connection cap per client address (`None` = unlimited).
    pub max_connections_per_ip: Option<usize>,
    /// Connection cap in all (`None` = derived from the open-files limit at start).
    pub max_connections: Option<usize>,
    /// Header, keep-alive idle and first-command timeout.
    pub connection_timeout: std::time::Duration,
    /// Reverse proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Whether `/metrics` needs the admin secret.
    pub metrics_auth: bool,
    /// A separate listener for `/metrics`.
    pub metrics_addr: Option<SocketAddr>,
    /// The RTMP ingest listener.
    pub rtmp_addr: RtmpAddr,
    /// The URL clients reach this server at.
    pub public_url: Option<String>,
    /// Rooms server quotas and rates.
    pub rooms: crate::rooms_server::RoomsSettings,
    /// The cluster this node joins, if any.
    pub cluster: Option<crate::cluster::ClusterSettings>,
    /// Web Push.
    pub push: crate::push::PushSettings,
}

impl Config {
    /// Merges flags/env over the file over defaults.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let udp_addr = args
            .udp_addr
            .or(file.udp_addr)
            .unwrap_or_else(|| "127.0.0.1:5004".parse().expect("valid literal"));
        let public_ip = match args.public_ip.or(file.public_ip) {
            Some(ip) => ip,
            None if udp_addr.ip().is_unspecified() => "127.0.0.1".parse().expect("valid literal"),
            None => udp_addr.ip(),
        };
        let media_workers = args
            .media_workers
            .or(file.media_workers)
            .unwrap_or_else(default_media_workers);
        if media_workers == 0 {
            bail!("--media-workers must be at least 1");
        }
        if udp_addr.port() != 0 && usize::from(udp_addr.port()) + media_workers - 1 > 65535 {
            bail!(
                "--udp-addr port {} + {media_workers} media workers goes past port 65535",
                udp_addr.port()
            );
        }
        if public_ip.is_unspecified() {
            bail!("--public-ip must be an address clients can reach, not {public_ip}");
        }
        let private_streams = args
            .private_streams
            .or(file.private_streams)
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>();
        if let Some(bad) = private_streams
            .iter()
            .find(|p| !podium_tokens::is_valid_pattern(p))
        {
            bail!("--private-streams: invalid stream pattern {bad:?}");
        }
        let publish_token = args.publish_token.or(file.publish_token);
        if publish_token.as_deref().is_some_and(|t| t.len() < 8) {
            bail!("--publish-token must be at least 8 characters");
        }
        if let Some(secret) = args
            .admin_secret
            .as_deref()
            .or(file.admin_secret.as_deref())
        {
            check_admin_secret(secret)?;
        }
        let trusted_proxies = args
            .trusted_proxies
            .or(file.trusted_proxies)
            .unwrap_or_default()
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(parse_net)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let defaults = podium_rooms::Limits::default();
        let max_connections_per_ip = Some(
            args.max_connections_per_ip
                .or(file.max_connections_per_ip)
                .unwrap_or(128),
        )
        .filter(|n| *n > 0);
        let connection_timeout = args
            .connection_timeout
            .or(file.connection_timeout)
            .unwrap_or(10);
        if connection_timeout == 0 {
            bail!("--connection-timeout must be at least 1 second");
        }
        let http_addr = args
            .http_addr
            .or(file.http_addr)
            .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("valid literal"));
        let public_url = args.public_url.or(file.public_url);
        let cluster = match args.cluster.or(file.cluster) {
            None => None,
            Some(redis) => Some(crate::cluster::ClusterSettings::resolve(
                crate::cluster::ClusterArgs {
                    redis,
                    node_name: args.node_name.or(file.node_name),
                    node_public_url: args
                        .node_public_url
                        .or(file.node_public_url)
                        .or(public_url.clone()),
                    relay_addr: args.relay_addr.or(file.relay_addr),
                    origin_max_viewers: args.origin_max_viewers.or(file.origin_max_viewers),
                    node_max_viewers: args.node_max_viewers.or(file.node_max_viewers),
                    drain_grace: args.drain_grace.or(file.drain_grace),
                },
                http_addr,
            )?),
        };
        Ok(Self {
            http_addr,
            cluster,
            udp_addr,
            media_workers,
            spread_viewers_from: args
                .spread_viewers_from
                .or(file.spread_viewers_from)
                .unwrap_or(64),
            public_ip,
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("podium-data")),
            publish_token,
            account_id: args
                .account_id
                .or(file.account_id)
                .unwrap_or_else(|| "podium".into()),
            jwt_ttl: args.jwt_ttl.or(file.jwt_ttl).unwrap_or(60).max(1),
            admin_secret: args.admin_secret.or(file.admin_secret),
            key_grace: args.key_grace.or(file.key_grace).unwrap_or(600),
            private_streams,
            rate_per_ip: args.rate_per_ip.or(file.rate_per_ip).unwrap_or(20).max(1),
            rate_per_token: args
                .rate_per_token
                .or(file.rate_per_token)
                .unwrap_or(50)
                .max(1),
            rate_global: args.rate_global.or(file.rate_global).unwrap_or(1000).max(1),
            revoke_ends_sessions: args
                .revoke_ends_sessions
                .or(file.revoke_ends_sessions)
                .unwrap_or(true),
            max_viewers_per_stream: args
                .max_viewers_per_stream
                .or(file.max_viewers_per_stream)
                .filter(|n| *n > 0),
            max_sources_per_stream: args
                .max_sources_per_stream
                .or(file.max_sources_per_stream)
                .filter(|n| *n > 0),
            max_pending_per_token: args
                .max_pending_per_token
                .or(file.max_pending_per_token)
                .unwrap_or(4)
                .max(1),
            max_pending_per_ip: args
                .max_pending_per_ip
                .or(file.max_pending_per_ip)
                .unwrap_or(32)
                .max(1),
            max_connections_per_ip,
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .filter(|n| *n > 0),
            connection_timeout: std::time::Duration::from_secs(connection_timeout),
            trusted_proxies,
            metrics_auth: args.metrics_auth.or(file.metrics_auth).unwrap_or(false),
            metrics_addr: args.metrics_addr.or(file.metrics_addr),
            rtmp_addr: args.rtmp_addr.or(file.rtmp_addr).unwrap_or_default(),
            push: crate::push::PushSettings {
                contact: args
                    .push_contact
                    .or(file.push_contact)
                    .or_else(|| public_url.clone().filter(|u| u.starts_with("https://")))
                    .unwrap_or_else(|| "mailto:operator@podium.invalid".to_owned()),
                insecure_origin: args.push_insecure_origin.or(file.push_insecure_origin),
            },
            public_url,
            rooms: crate::rooms_server::RoomsSettings {
                limits: podium_rooms::Limits {
                    max_owned_rooms: args
                        .rooms_per_user
                        .or(file.rooms_per_user)
                        .unwrap_or(defaults.max_owned_rooms)
                        .max(1),
                    max_live_rooms: args
                        .max_rooms
                        .or(file.max_rooms)
                        .unwrap_or(defaults.max_live_rooms)
                        .max(1),
                    ..defaults
                },
                max_sockets_per_ip: max_connections_per_ip,
                rates: crate::rooms_server::throttle::CommandRates {
                    per_user: args
                        .rooms_rate_per_user
                        .or(file.rooms_rate_per_user)
                        .unwrap_or(10)
                        .max(1),
                    per_ip: args
                        .rooms_rate_per_ip
                        .or(file.rooms_rate_per_ip)
                        .unwrap_or(100)
                        .max(1),
                },
            },
        })
    }
}

/// The admin secret opens everything: it must be long and hard to guess (zxcvbn's top
/// score, about 10^10 guesses or more), not a word with a few digits.
fn check_admin_secret(secret: &str) -> anyhow::Result<()> {
    const MIN_LEN: usize = 24;
    if secret.chars().count() < MIN_LEN {
        bail!("--admin-secret must be at least {MIN_LEN} characters (leave it out to have a random one generated)");
    }
    if zxcvbn::zxcvbn(secret, &[]).score() < zxcvbn::Score::Four {
        bail!("--admin-secret is too easy to guess: use a random string (e.g. `openssl rand -hex 24`), or leave it out to have one generated");
    }
    Ok(())
}

/// An address (a network of one) or a CIDR network.
fn parse_net(text: &str) -> anyhow::Result<ipnet::IpNet> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(ipnet::IpNet::from(ip));
    }
    text.parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .with_context(|| format!("--trusted-proxies: {text:?} is not an address or CIDR network"))
}

/// Where RTMP ingest listens: `off`, or an address. The default (`127.0.0.1:1935`, the
/// RTMP port) is taken only if free: another RTMP server on the machine only turns Podium's
/// off, with a warning; an address given explicitly must bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum RtmpAddr {
    /// The default address, if free.
    #[default]
    Default,
    /// No RTMP listener.
    Off,
    /// This address.
    At(SocketAddr),
}

impl RtmpAddr {
    /// The default address.
    pub const DEFAULT: &'static str = "127.0.0.1:1935";
}

impl std::str::FromStr for RtmpAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" | "false" | "none" => Ok(Self::Off),
            other => other
                .parse()
                .map(Self::At)
                .map_err(|_| format!("{other:?} is not an address (HOST:PORT) or `off`")),
        }
    }
}

impl TryFrom<String> for RtmpAddr {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// One media worker per CPU core.
pub fn default_media_workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_defaults_fill_the_rest() {
        let dir = std::env::temp_dir().join(format!("podium-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("podium.toml");
        std::fs::write(
            &path,
            "udp_addr = \"0.0.0.0:6000\"\naccount_id = \"acme\"\n",
        )
        .unwrap();
        let cfg = Config::resolve(ServeArgs {
            account_id: Some("cli".into()),
            config: Some(path),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(cfg.account_id, "cli");
        assert_eq!(cfg.udp_addr.port(), 6000);
        assert_eq!(
            cfg.public_ip.to_string(),
            "127.0.0.1",
            "unspecified bind advertises loopback"
        );
        assert_eq!(cfg.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(cfg.jwt_ttl, 60);
        assert_eq!(cfg.media_workers, default_media_workers());
        assert_eq!(cfg.rtmp_addr, RtmpAddr::Default);
    }

    #[test]
    fn rtmp_addr_is_an_address_or_off() {
        assert_eq!("off".parse::<RtmpAddr>(), Ok(RtmpAddr::Off));
        assert_eq!(
            "0.0.0.0:1935".parse::<RtmpAddr>(),
            Ok(RtmpAddr::At("0.0.0.0:1935".parse().unwrap()))
        );
        assert!("1935".parse::<RtmpAddr>().unwrap_err().contains("off"));
        let file: FileConfig = toml::from_str("rtmp_addr = \"off\"").unwrap();
        assert_eq!(file.rtmp_addr, Some(RtmpAddr::Off));
        assert!(toml::from_str::<FileConfig>("rtmp_addr = \"x\"").is_err());
    }

    #[test]
    fn media_workers_are_checked() {
        let cfg = Config::resolve(ServeArgs {
            media_workers: Some(3),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(cfg.media_workers, 3);
        let err = Config::resolve(ServeArgs {
            media_workers: Some(0),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("at least 1"), "{err}");
        let err = Config::resolve(ServeArgs {
            udp_addr: Some("127.0.0.1:65535".parse().unwrap()),
            media_workers: Some(2),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("65535"), "{err}");
    }

    #[test]
    fn weak_admin_secrets_are_refused() {
        for weak in [
            "short-secret",
            "adminadminadminadminadmin",
            "passwordpasswordpassword",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "password1234567890123456",
        ] {
            let err = Config::resolve(ServeArgs {
                admin_secret: Some(weak.into()),
                ..Default::default()
            })
            .unwrap_err();
            assert!(err.to_string().contains("--admin-secret"), "{weak}: {err}");
        }
        let ok = Config::resolve(ServeArgs {
            admin_secret: Some("5f0c2e9a7b41d8e3c6a92f17b0d4e58a".into()),
            ..Default::default()
        });
        assert!(ok.is_ok());
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("podium-cfg-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("podium.toml");
        std::fs::write(&path, "no_such_key = 1\n").unwrap();
        let err = Config::resolve(ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("no_such_key"));
    }
}
