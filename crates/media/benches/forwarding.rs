//! Hot paths of the media core.
//!
//! * `mux_tick`: one multiplexer tick (rank 10 sources once, apply slot rules per viewer).
//! * `forward_slot_audio`: one publisher audio packet in (SRTP decrypt, level observed),
//!   written into a slot of every viewer (rewrite, SRTP encrypt) and drained out, plus the
//!   20 ms of timers that go with it. Includes the publishing client's own send (one SRTP
//!   encryption), which is small next to the per-viewer work.
//!
//! * `forward_video`: one publisher video packet (1 frame, delta) to every viewer, `pinned`
//!   (the viewers' default transceiver carries the source) or `projected` (the viewers pin
//!   another source and `project` this one onto a transceiver of their own): what a
//!   projected track costs against a pinned one. Only the SFU's handling is timed (the
//!   simulated clients' work is left out).
//!
//! * `srtp_protect`: the cipher work of protecting one RTP packet (160 B Opus, 1200 B video)
//!   with each SRTP profile str0m 0.25 supports, through str0m's own crypto provider
//!   (aws-lc-rs): AES-GCM seal for the AEAD profiles, AES-CTR plus HMAC-SHA1 for
//!   AES-CM-SHA1-80. Key derivation and packet framing are not included.
//!
//! Run: `cargo bench -p podium-media --bench forwarding`.
#![allow(clippy::disallowed_methods)] // benchmarks need a real clock origin

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use podium_media::audio::mux::{Mux, TICK};
use podium_media::audio::slots::SlotConfig;
use podium_media::audio::speaker::SpeakerConfig;
use podium_media::registry::{SourceId, StreamId};
use podium_media::PeerId;
use podium_testkit::Net;

fn mux_tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("mux_tick");
    for viewers in [100usize, 1000] {
        let t0 = Instant::now();
        let mut mux = Mux::new(SpeakerConfig::default(), SlotConfig::default());
        // Sources s0..s9 are ids 0..9; the viewers pin the main source (id 10).
        let room = StreamId(0);
        for v in 0..viewers {
            mux.add_viewer(
                t0,
                room,
                PeerId(v as u64),
                SourceId(10),
                vec![format!("s{}", v % 10)],
                3,
            );
        }
        let sources: Vec<_> = (0..10u32)
            .map(|i| (SourceId(i), Some(format!("s{i}"))))
            .collect();
        let mut now = t0;
        group.throughput(Throughput::Elements(viewers as u64));
        group.bench_with_input(BenchmarkId::from_parameter(viewers), &viewers, |b, _| {
            b.iter(|| {
                now += TICK;
                // Four talkers whose loudness keeps changing, so the ranking moves.
                for (i, (id, key)) in sources.iter().enumerate().take(4) {
                    let level = -20 - ((now - t0).as_millis() as i8 % 7) - i as i8;
                    mux.observe(room, *id, key, now, Some(level), Some(true));
                }
                black_box(mux.tick(now));
            })
        });
    }
    group.finish();
}

/// A room of 10 audio publishers and `viewers` listeners with 3 slots, s0..s2 in the slots.
fn audio_room(viewers: usize) -> (Net, Vec<usize>) {
    let mut net = Net::with_config(|c| c.idle_timeout = Duration::from_secs(3600));
    let pubs: Vec<usize> = (0..10)
        .map(|i| net.publish("room", Some(&format!("s{i}")), false))
        .collect();
    for _ in 0..viewers {
        net.view_with_slots("room", None, 3, &[]);
    }
    net.connect_all();
    for _ in 0..50 {
        net.audio_tick(&pubs, |i| (i < 3).then_some(Some(-25)));
    }
    (net, pubs)
}

/// Steps one simulated net can take before its (mostly muted) clients' ICE gives up.
const STEPS_PER_NET: u64 = 1000;

fn forward_slot_audio(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_slot_audio");
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(20);
    for viewers in [10usize, 100] {
        let (mut net, mut pubs) = audio_room(viewers);
        let mut age = 0;
        group.throughput(Throughput::Elements(viewers as u64));
        group.bench_with_input(BenchmarkId::from_parameter(viewers), &viewers, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    if age >= STEPS_PER_NET {
                        (net, pubs) = audio_room(viewers);
                        age = 0;
                    }
                    let n = (iters - done).min(STEPS_PER_NET - age);
                    let start = Instant::now();
                    for _ in 0..n {
                        let sent = net.sfu_only_audio_step(pubs[0], -25);
                        assert!(sent >= viewers, "every viewer got the packet ({sent})");
                        black_box(sent);
                    }
                    total += start.elapsed();
                    done += n;
                    age += n;
                }
                total
            })
        });
    }
    group.finish();
}

/// Sources main and "b" with video; `viewers` viewers get "b"'s video: `projected` onto a
/// second video transceiver while pinned to main, or pinned to "b".
fn video_room(viewers: usize, projected: bool) -> (Net, usize) {
    use str0m::media::MediaKind::{Audio, Video};
    let mut net = Net::with_config(|c| c.idle_timeout = Duration::from_secs(3600));
    let a = net.publish("v", None, true);
    let b = net.publish("v", Some("b"), true);
    let vs: Vec<usize> = (0..viewers)
        .map(|_| {
            if projected {
                net.view_with("v", None, &[Video, Audio, Video])
            } else {
                net.view("v", Some("b"))
            }
        })
        .collect();
    net.connect_all();
    if projected {
        for v in vs {
            let mid = net.clients[v].mids_of(Video)[1].to_string();
            let p = podium_media::ProjectParams {
                source: Some("b".into()),
                mappings: vec![podium_media::Projection {
                    track_id: Some("video0".into()),
                    mid: Some(mid),
                    ..Default::default()
                }],
            };
            net.project(v, p).expect("projected");
        }
    }
    net.frames(&[(a, 1), (b, 2)], 3, |n| n == 0);
    (net, b)
}

fn forward_video(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_video");
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(20);
    for projected in [false, true] {
        let viewers = 100;
        let name = if projected { "projected" } else { "pinned" };
        let (mut net, mut p) = video_room(viewers, projected);
        let mut age = 0;
        group.throughput(Throughput::Elements(viewers as u64));
        group.bench_with_input(BenchmarkId::new(name, viewers), &viewers, |bench, _| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    if age >= STEPS_PER_NET {
                        (net, p) = video_room(viewers, projected);
                        age = 0;
                    }
                    let n = (iters - done).min(STEPS_PER_NET - age);
                    for _ in 0..n {
                        // The clients' side (the sender, and every viewer's timers once a
                        // simulated second) is not timed: only the SFU's work.
                        let datagrams = net.bench_client_send_frame(p, 2, false);
                        let start = Instant::now();
                        let sent = net.bench_sfu_input(p, &datagrams);
                        total += start.elapsed();
                        assert!(sent >= viewers, "every viewer got the packet ({sent})");
                        black_box(sent);
                    }
                    done += n;
                    age += n;
                }
                total
            })
        });
    }
    group.finish();
}

fn srtp_protect(c: &mut Criterion) {
    let provider = str0m::crypto::from_feature_flags();
    let srtp = provider.srtp_provider;
    let hmac = provider.sha1_hmac_provider;
    let mut group = c.benchmark_group("srtp_protect");
    for size in [160usize, 1200] {
        let header = [0x90u8; 12];
        let payload = vec![0x5au8; size];
        // Output room: payload + 16-byte tag (GCM) or + 15 bytes of CTR padding (aws-lc).
        let mut out = vec![0u8; size + 16];
        group.throughput(Throughput::Bytes(size as u64));
        let mut gcm128 = srtp.aead_aes_128_gcm().create_cipher([7; 16], true);
        group.bench_with_input(BenchmarkId::new("aead_aes_128_gcm", size), &size, |b, _| {
            b.iter(|| {
                gcm128
                    .encrypt(&[1; 12], &header, black_box(&payload), &mut out)
                    .expect("seal");
                black_box(&out);
            })
        });
        let mut gcm256 = srtp.aead_aes_256_gcm().create_cipher([7; 32], true);
        group.bench_with_input(BenchmarkId::new("aead_aes_256_gcm", size), &size, |b, _| {
            b.iter(|| {
                gcm256
                    .encrypt(&[1; 12], &header, black_box(&payload), &mut out)
                    .expect("seal");
                black_box(&out);
            })
        });
        let mut ctr = srtp.aes_128_cm_sha1_80().create_cipher([7; 16], true);
        let auth_key = [9u8; 20];
        group.bench_with_input(
            BenchmarkId::new("aes128_cm_sha1_80", size),
            &size,
            |b, _| {
                b.iter(|| {
                    ctr.encrypt(&[1; 16], black_box(&payload), &mut out)
                        .expect("encrypt");
                    let roc = 0u32.to_be_bytes();
                    let tag = hmac.sha1_hmac(&auth_key, &[&header, &out[..size], &roc]);
                    black_box((&out, tag));
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    mux_tick,
    forward_slot_audio,
    forward_video,
    srtp_protect
);
criterion_main!(benches);
