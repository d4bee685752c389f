//! Local publications (an in-process source such as an RTMP ingest) through `MediaHandle`:
//! the workers are started the way `podium_server::start` does, since the HTTP server does
//! not expose its handle; a str0m viewer on loopback UDP watches the stream.

use std::sync::Arc;
use std::time::Duration;

use podium_media::{LocalPacket, LocalTrack, MediaEvent, PeerId, SfuConfig, ViewParams};
use podium_server::media_handle::{self, shard_of, MediaHandle, WorkerSpec};
use tokio::sync::{mpsc, watch};

use crate::client::{Peer, PeerReport};

const WORKERS: usize = 2;

/// `WORKERS` media workers on loopback sockets; keep the sender alive to keep them running.
async fn workers() -> (MediaHandle, watch::Sender<bool>) {
    let specs = (0..WORKERS)
        .map(|_| {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let config = SfuConfig::new(socket.local_addr().unwrap());
            WorkerSpec {
                socket,
                config,
                recording: None,
            }
        })
        .collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (media, _join) = media_handle::spawn(specs, 64, stop_rx).await.unwrap();
    (media, stop_tx)
}

/// A stream name owned by the last worker, so global and core peer ids differ.
fn stream_on_last_worker() -> String {
    (0..)
        .map(|i| format!("local-{i}"))
        .find(|s| shard_of(s, WORKERS) == WORKERS - 1)
        .unwrap()
}

/// The next event on `rx` matching `want`, within 10 s.
async fn next_event(
    rx: &mut mpsc::UnboundedReceiver<MediaEvent>,
    what: &str,
    want: impl Fn(&MediaEvent) -> bool,
) -> MediaEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = rx.recv().await.expect("event channel open");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within 10 s"))
}

fn opus_packet(n: u32) -> LocalPacket {
    LocalPacket {
        captured: None,
        rtp_timestamp: n * 960,
        marker: false,
        audio_level: Some(-30),
        voice_activity: Some(true),
        payload: Arc::from(vec![0xfc, 0x51, n as u8]),
    }
}

#[tokio::test]
async fn local_publication_reaches_a_viewer_and_ends_with_inactive() {
    let (media, _stop) = workers().await;
    let stream = stream_on_last_worker();

    let (local, mut local_events) = media
        .publish_local(
            stream.clone(),
            None,
            None,
            vec![LocalTrack::opus(), LocalTrack::h264(None)],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(local.0 % WORKERS as u64, (WORKERS - 1) as u64, "{local:?}");

    let mut viewer = Peer::new(false).await;
    let (viewer_tx, mut viewer_events) = mpsc::unbounded_channel();
    let accepted = media
        .view(
            ViewParams {
                stream: stream.clone(),
                pinned: None,
                offer: viewer.offer.clone(),
                excluded: vec![],
                max_slots: 0,
            },
            viewer_tx,
        )
        .await
        .unwrap()
        .unwrap();
    viewer.answer(&accepted.answer);
    let active = next_event(&mut viewer_events, "active", |e| {
        matches!(e, MediaEvent::SourceActive { .. })
    })
    .await;
    let MediaEvent::SourceActive { to, source, .. } = active else {
        unreachable!()
    };
    assert_eq!((to, source), (accepted.peer, None));

    // The publication hears about its viewer, and the viewer connecting asks it for a
    // keyframe (it has a video track), on its own channel and with its global id.
    let count = next_event(&mut local_events, "viewer count", |e| {
        matches!(e, MediaEvent::ViewerCount { .. })
    })
    .await;
    assert_eq!(count.recipient(), local);

    // Packets flow once the viewer is connected; push until one arrives.
    while !matches!(viewer.next_report().await, PeerReport::Connected) {}
    let keyframe = next_event(&mut local_events, "keyframe request", |e| {
        matches!(e, MediaEvent::KeyframeRequested { .. })
    })
    .await;
    assert_eq!(keyframe.recipient(), local);

    let mut n = 0u32;
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    n += 1;
                    media.push_local(local, 0, opus_packet(n)).unwrap();
                }
                r = viewer.reports.recv() => {
                    if let Some(PeerReport::Rtp { payload, audio_level, .. }) = r {
                        return (payload, audio_level);
                    }
                }
            }
        }
    })
    .await
    .expect("an Opus packet at the viewer within 10 s");
    assert_eq!(&received.0[..2], &[0xfc, 0x51]);
    assert_eq!(received.1, Some(-30));
    assert_eq!(media.local_packets_dropped(), 0);

    // Pushing to an unknown track or peer is harmless.
    media.push_local(local, 7, opus_packet(1)).unwrap();
    media
        .push_local(PeerId(local.0 + WORKERS as u64 * 1000), 0, opus_packet(1))
        .unwrap();

    media.close(local);
    let inactive = next_event(&mut viewer_events, "inactive", |e| {
        matches!(e, MediaEvent::SourceInactive { .. })
    })
    .await;
    assert_eq!(inactive.recipient(), accepted.peer);
    let closed = next_event(&mut local_events, "peer closed", |e| {
        matches!(e, MediaEvent::PeerClosed { .. })
    })
    .await;
    assert_eq!(closed.recipient(), local);
    // The route is gone with the peer: the channel ends.
    assert!(
        tokio::time::timeout(Duration::from_secs(5), local_events.recv())
            .await
            .unwrap()
            .is_none()
    );
}
