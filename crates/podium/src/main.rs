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
    /// Manage the keys that sign signaling JWTs.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PODIUM_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(*args).await,
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
    println!("  Web app and demo:  http://{}/", running.http_addr);
    println!(
        "  Director API:      http://{}/api/director/{{publish,subscribe}}",
        running.http_addr
    );
    println!(
        "  Media (UDP):       {} (advertised as {}:{})",
        running.udp_addr,
        public_ip,
        running.udp_addr.port()
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
