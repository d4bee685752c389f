//! The load tool against an in-process Podium, with small numbers: every scenario gets its
//! listeners joined through the Director and signaling, and media through ICE/DTLS/SRTP.
//! (The benchmark itself is `scripts/bench.sh`; these runs only prove the tool works.)

use clap::Parser;
use podium_loadtest::{run, LoadArgs, Summary};
use podium_server::{Config, ServeArgs};
use tokio::sync::oneshot;

const TOKEN: &str = "smoke-publish-token";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: LoadArgs,
}

async fn load(base: &str, flags: &str) -> Summary {
    let cmd = format!("loadtest --url {base} --token {TOKEN} --quiet --warmup 1 {flags}");
    let args = Cli::parse_from(cmd.split_whitespace()).args;
    run(args).await.expect("load run")
}

async fn server() -> (String, oneshot::Sender<()>) {
    let dir = tempfile::tempdir().unwrap().keep();
    let config = Config::resolve(ServeArgs {
        http_addr: Some("127.0.0.1:0".parse().unwrap()),
        udp_addr: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir),
        publish_token: Some(TOKEN.into()),
        rate_per_ip: Some(100_000),
        rate_per_token: Some(100_000),
        rate_global: Some(1_000_000),
        max_connections_per_ip: Some(0),
        max_pending_per_ip: Some(1_000_000),
        ..Default::default()
    })
    .unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let running = podium_server::start(config, async {
        let _ = rx.await;
    })
    .await
    .unwrap();
    (format!("http://{}", running.http_addr), tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_against_podium() {
    let (base, _stop) = server().await;

    let room = load(
        &base,
        "--scenario room --stream smoke-room --speakers 3 --listeners 12 --slots 3 --talk-ratio 0.6 --talk-ms 800 --duration 4",
    )
    .await;
    assert!(room.errors.is_empty(), "{:?}", room.errors);
    let w = &room.windows[0];
    assert_eq!(w.listeners, 12);
    assert_eq!(w.join_ms.count, 12, "every listener heard audio: {w:?}");
    assert!(w.rx_pps > 0.0 && w.latency_ms.count > 0, "{w:?}");
    assert!(w.loss_pct < 1.0, "{w:?}");
    // The fast listener mode (the default): a sample decrypted, every one of them opened.
    assert!(
        w.sampled > 0 && w.sampled * 2 < w.rx_pps as u64 * 4,
        "{w:?}"
    );
    assert_eq!(w.undecryptable, 0, "{w:?}");
    assert!(room.vad_events_total >= 12, "slots were announced");
    assert_eq!((w.join_failures, w.peer_failures), (0, 0));
    assert_eq!(w.listeners_connected, Some(12), "nobody was cut off");
    assert_eq!(
        w.starved_listener_seconds, 0.0,
        "everyone kept hearing audio"
    );
    // Three speakers into three slots: each listener gets at most what the speakers send.
    assert!(w.rx_pps <= w.tx_pps * 12.0 * 1.05 + 50.0, "{w:?}");

    let broadcast = load(
        &base,
        "--scenario broadcast --stream smoke-cast --listeners 5 --duration 3",
    )
    .await;
    let w = &broadcast.windows[0];
    assert!(broadcast.errors.is_empty(), "{:?}", broadcast.errors);
    // Every viewer gets every audio and video packet.
    let ratio = w.rx_pps / (w.tx_pps * 5.0);
    assert!((0.9..1.1).contains(&ratio), "fan-out ratio {ratio}: {w:?}");
    assert_eq!(w.replayed, 0, "no slots, no replay");

    // The same room with every listener through str0m, as a full client.
    let full = load(
        &base,
        "--scenario room --stream smoke-full --speakers 2 --listeners 4 --slots 2 --talk-ratio 0.6 --duration 3 --listener-mode str0m",
    )
    .await;
    let w = &full.windows[0];
    assert!(full.errors.is_empty(), "{:?}", full.errors);
    assert_eq!(w.join_ms.count, 4, "{w:?}");
    assert!(w.latency_ms.count > 0 && w.sampled == 0, "{w:?}");

    let churn = load(
        &base,
        "--scenario churn --stream smoke-churn --speakers 2 --listeners 6 --churn 3 --duration 3 --talk-ratio 0.8",
    )
    .await;
    let w = &churn.windows[0];
    assert!(churn.errors.is_empty(), "{:?}", churn.errors);
    assert_eq!(w.listeners, 6, "leaves were replaced by joins");
    assert!(
        w.join_ms.count >= 6 + 3,
        "ramp joins plus churned joins: {w:?}"
    );
}
