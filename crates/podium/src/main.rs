//! The `podium` binary.

use clap::{Parser, Subcommand};
use podium_server::{Config, ServeArgs};

#[derive(Parser)]
#[command(
    name = "podium",
    version,
    about = "Realtime interactive streaming server (Millicast-compatible)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the media server, Director API, signaling and web app.
    Serve(Box<ServeArgs>),
    /// Manage API tokens (stored in the data directory; a running server sees changes at once).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Load a server with many WebRTC clients and report packets, loss, latency and joins.
    Loadtest(Box<podium_loadtest::LoadArgs>),
    /// Manage the keys that sign signaling JWTs.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Look at a cluster of nodes (`podium serve --cluster`).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Empty a node of a cluster: the Director stops placing on it, its viewers are asked to
    /// move (`migrate`) and, after a grace period, disconnected so they reconnect elsewhere.
    Drain {
        #[command(flatten)]
        redis: ClusterUrl,
        /// The node's name (`--node-name`)
        node: String,
        /// Serve again instead
        #[arg(long)]
        undo: bool,
    },
}

#[derive(clap::Args)]
struct ClusterUrl {
    /// The cluster's Redis (`redis://HOST:PORT[/DB]`)
    #[arg(long, env = "PODIUM_CLUSTER")]
    cluster: String,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// The nodes with their load, and the streams with their origin and edges.
    Status {
        #[command(flatten)]
        redis: ClusterUrl,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct DataDir {
    /// Data directory of the server [default: ./podium-data]
    #[arg(long, env = "PODIUM_DATA_DIR", default_value = "podium-data")]
    data_dir: std::path::PathBuf,
    /// The tokens of this cluster (its Redis URL) instead of the data directory's
    #[arg(long, env = "PODIUM_CLUSTER")]
    cluster: Option<String>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; its secret is printed once.
    Create {
        #[command(flatten)]
        dir: DataDir,
        /// A name to recognise it by
        #[arg(long)]
        label: String,
        /// `publish` or `subscribe`
        #[arg(long)]
        action: podium_tokens::Action,
        /// Stream names it covers: exact names, `prefix-*` or `*` (repeat or comma-separate)
        #[arg(long = "stream", required = true, value_delimiter = ',')]
        streams: Vec<String>,
        /// Allow publishing with a sourceId (multisource)
        #[arg(long)]
        multisource: bool,
        /// Allow the publisher to record (publish tokens only)
        #[arg(long)]
        record: bool,
        /// Only from these browser origins, e.g. https://app.example (repeatable)
        #[arg(long = "origin", value_delimiter = ',')]
        origins: Vec<String>,
        /// Only from these IPs or CIDR ranges (repeatable)
        #[arg(long = "ip", value_delimiter = ',')]
        ips: Vec<String>,
        /// Expire after this many seconds
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: new connections with it are refused. To also end its live sessions,
    /// use the admin API (DELETE /api/admin/tokens/{id}).
    Revoke {
        #[command(flatten)]
        dir: DataDir,
        /// The token id (tok_…)
        id: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key; the previous one still verifies for the grace period. A running
    /// server picks the change up within seconds.
    Rotate {
        /// Data directory of the server [default: ./podium-data]
        #[arg(long, env = "PODIUM_DATA_DIR", default_value = "podium-data")]
        data_dir: std::path::PathBuf,
        /// Seconds the previous key keeps verifying (match the server's --key-grace)
        #[arg(long, env = "PODIUM_KEY_GRACE", default_value_t = 600)]
        key_grace: u64,
    },
}

fn main() -> std::process::ExitCode {
    // Errors are for people: one line with its causes, never a backtrace.
    let runtime = tokio::runtime::Runtime::new().expect("starting the tokio runtime");
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PODIUM_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: logs piped to files and collectors stay plain.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(*args).await,
        Command::Token { command } => token(command).await,
        Command::Loadtest(args) => loadtest(*args).await,
        Command::Cluster {
            command: ClusterCommand::Status { redis, json },
        } => {
            let status = podium_server::cluster::status::read(&redis.cluster).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", status.render());
            }
            Ok(())
        }
        Command::Drain { redis, node, undo } => {
            podium_server::cluster::status::request_drain(&redis.cluster, &node, !undo).await?;
            if undo {
                println!("{node} serves again");
            } else {
                println!("{node} drains: see `podium cluster status`");
            }
            Ok(())
        }
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    data_dir,
                    key_grace,
                },
        } => {
            let kid = podium_server::secrets::rotate_keys(
                &data_dir,
                podium_server::state::unix_now(),
                key_grace,
            )?;
            println!("New signing key {kid}; the previous key verifies for {key_grace} s more.");
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::resolve(args)?;
    let public_ip = config.public_ip;
    let data_dir = config.data_dir.clone();
    let token_configured = config.publish_token.is_some();
    let admin_configured = config.admin_secret.is_some();
    let running = podium_server::start(config, async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await?;
    println!("Podium is running.");
    println!("  Rooms app:         http://{}/", running.http_addr);
    println!(
        "  Publish/view demo: http://{}/demo.html",
        running.http_addr
    );
    println!(
        "  Director API:      http://{}/api/director/{{publish,subscribe}}",
        running.http_addr
    );
    let ports: Vec<String> = running
        .udp_addrs
        .iter()
        .map(|a| a.port().to_string())
        .collect();
    println!(
        "  Media (UDP):       {} ({} worker{}, port{} {} advertised on {})",
        running.udp_addr.ip(),
        ports.len(),
        if ports.len() == 1 { "" } else { "s" },
        if ports.len() == 1 { "" } else { "s" },
        ports.join(", "),
        public_ip,
    );
    let token_file = data_dir.join("publish-token");
    match (token_configured, running.publish_token_generated) {
        (true, _) => println!("  Publish token:     as configured (--publish-token)"),
        (false, true) => println!(
            "  Publish token:     {} (generated, stored in {})",
            running.publish_token,
            token_file.display()
        ),
        (false, false) => println!(
            "  Publish token:     {} (from {})",
            running.publish_token,
            token_file.display()
        ),
    }
    let admin_file = data_dir.join("admin-secret");
    match (admin_configured, running.admin_secret_generated) {
        (true, _) => println!("  Admin secret:      as configured (--admin-secret)"),
        (false, true) => println!(
            "  Admin secret:      {} (generated, stored in {})",
            running.admin_secret,
            admin_file.display()
        ),
        (false, false) => println!("  Admin secret:      stored in {}", admin_file.display()),
    }
    running.done.await??;
    Ok(())
}

/// The token store: the cluster's (`--cluster`) or the data directory's.
async fn open_store(dir: &DataDir) -> anyhow::Result<Box<dyn podium_tokens::Tokens>> {
    if let Some(url) = &dir.cluster {
        let tokens = podium_server::cluster::tokens::ClusterTokens::new(url)?;
        let client = redis::Client::open(url.as_str())?;
        let mut redis = redis::aio::ConnectionManager::new(client).await?;
        tokens.refresh(&mut redis).await?;
        return Ok(Box::new(tokens));
    }
    std::fs::create_dir_all(&dir.data_dir)?;
    Ok(Box::new(podium_tokens::TokenStore::open(
        dir.data_dir.join(podium_server::TOKEN_DB_FILE),
    )?))
}

async fn token(command: TokenCommand) -> anyhow::Result<()> {
    let now = podium_server::state::unix_now();
    match command {
        TokenCommand::Create {
            dir,
            label,
            action,
            streams,
            multisource,
            record,
            origins,
            ips,
            expires_in,
        } => {
            let mut new = podium_tokens::NewToken::new(label, action, streams);
            new.multisource = multisource;
            new.record = record;
            new.allowed_origins = origins;
            new.allowed_ips = ips;
            new.expires_at = expires_in.map(|s| now + s);
            let (record, secret) = open_store(&dir).await?.create(new, now)?;
            println!("Created {} ({}).", record.id, record.label);
            println!("Secret (shown only now): {secret}");
        }
        TokenCommand::List { dir, json } => {
            let tokens = open_store(&dir).await?.list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
                return Ok(());
            }
            println!(
                "{:<22} {:<10} {:<9} {:<18} {:<30} LABEL",
                "ID", "ACTION", "STATE", "ALLOWS", "STREAMS"
            );
            for t in tokens {
                let state = if t.revoked {
                    "revoked"
                } else if t.is_expired(now) {
                    "expired"
                } else {
                    "active"
                };
                let allows: Vec<&str> = [(t.multisource, "multisource"), (t.record, "record")]
                    .into_iter()
                    .filter_map(|(on, name)| on.then_some(name))
                    .collect();
                let allows = if allows.is_empty() {
                    "-".to_owned()
                } else {
                    allows.join(",")
                };
                println!(
                    "{:<22} {:<10} {:<9} {:<18} {:<30} {}",
                    t.id,
                    t.action.as_str(),
                    state,
                    allows,
                    t.streams.join(","),
                    t.label
                );
            }
        }
        TokenCommand::Revoke { dir, id } => {
            if open_store(&dir).await?.revoke(&id, now)? {
                println!("Revoked {id}.");
            } else {
                anyhow::bail!("no token with id {id}");
            }
        }
    }
    Ok(())
}

async fn loadtest(args: podium_loadtest::LoadArgs) -> anyhow::Result<()> {
    let json_path = args.json.clone();
    let summary = podium_loadtest::run(args).await?;
    let text = serde_json::to_string_pretty(&summary)?;
    if let Some(path) = json_path {
        std::fs::write(&path, &text)?;
    }
    println!("{text}");
    if summary.windows.iter().any(|w| w.rx_pps == 0.0) {
        anyhow::bail!("no media reached the listeners");
    }
    Ok(())
}
